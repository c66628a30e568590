"""Axes: categorical coordinates and continuous grids, and expanded-name fragments.

An axis is normalized into the same mapping op-system 0.1.2 keeps in
`meta["axes"]` (`name`, `type`, `coords`, `size`, `deltas` for continuous axes,
`domain`, `spacing`, `units`), and into an `Axis` object used by the compiler.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .._support.errors import SpecError, did_you_mean

__all__ = ["Axis", "fragment", "normalize_axes"]

_FRAG_RE = re.compile(r"[^0-9A-Za-z]+")


def fragment(coord: object) -> str:
    """Identifier-safe fragment of a coordinate (`"0-5"` → `"0_5"`, `0.0` → `"0_0"`)."""
    return _FRAG_RE.sub("_", str(coord)).strip("_") or "_"


@dataclass(frozen=True, eq=False)
class Axis:
    """A normalized axis.

    Attributes:
        name: Axis name.
        kind: `"categorical"` (ordinal axes too) or `"continuous"`.
        coords: Coordinates as strings (how they appear in expanded names).
        values: Numeric coordinates (continuous axes only).
        deltas: Trapezoidal integration weights (continuous axes only).
    """

    name: str
    kind: Literal["categorical", "continuous"]
    coords: tuple[str, ...]
    values: tuple[float, ...] = ()
    deltas: tuple[float, ...] = ()
    index: Mapping[str, int] = field(default_factory=dict, repr=False)
    frag_index: Mapping[str, int] = field(default_factory=dict, repr=False)
    #: an ordinal axis (op-system 0.9.0's `type: ordinal`): categorical, its
    #: coordinates in order
    ordered: bool = False

    @property
    def size(self) -> int:
        return len(self.coords)

    @property
    def parts(self) -> tuple[str, ...]:
        """Name fragments `axis_coord` of each coordinate, as used in expanded names."""
        cached = self.__dict__.get("_parts")
        if cached is None:
            cached = tuple(f"{self.name}_{fragment(c)}" for c in self.coords)
            object.__setattr__(self, "_parts", cached)
        return cached

    def lookup(self, value: str, *, is_number: bool = False) -> int | None:
        """Position of a coordinate given as text (`"u"`, `"0.5"`), or None."""
        if value in self.index:
            return self.index[value]
        if self.kind == "continuous":
            try:
                num = float(value)
            except ValueError:
                return None
            for i, v in enumerate(self.values):
                if v == num:
                    return i
        return None

    def suggest(self, value: str) -> str:
        return did_you_mean(value, self.coords)


def _as_number(x: object, *, path: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise SpecError(f"{path} must be a number", path=path, token=repr(x))
    return float(x)


def trapezoid(coords: Sequence[float]) -> list[float]:
    """Trapezoid weights of increasing coordinates (one point: weight 0)."""
    if len(coords) == 1:
        return [0.0]
    return _deltas(coords, 0)


def _deltas(coords: Sequence[float], idx: int, one_point: bool = False) -> list[float]:
    if len(coords) == 1 and one_point:
        return [0.0]  # a time axis of one point: a constant table, no integral
    if len(coords) < 2:
        raise SpecError(
            f"axes[{idx}] continuous requires >=2 coords", path=f"axes[{idx}].coords"
        )
    out = []
    n = len(coords)
    for i in range(n):
        if i == 0:
            width = (coords[1] - coords[0]) / 2.0
        elif i == n - 1:
            width = (coords[-1] - coords[-2]) / 2.0
        else:
            width = (coords[i + 1] - coords[i - 1]) / 2.0
        if width <= 0.0:
            bad = coords[i] if i == 0 else coords[min(i + 1, n - 1)]
            raise SpecError(
                f"axes[{idx}] coords must be strictly increasing for integration (repeated coord {bad!r})",
                path=f"axes[{idx}].coords",
                token=repr(bad),
            )
        out.append(width)
    return out


def _generate(ax: Mapping[str, Any], idx: int, spacing: str) -> list[float]:
    domain = ax.get("domain")
    if domain is not None and not isinstance(domain, dict):
        raise SpecError(
            f"axes[{idx}].domain must be a mapping", path=f"axes[{idx}].domain"
        )
    if not domain or domain.get("lb") is None or domain.get("ub") is None:
        raise SpecError(
            f"axes[{idx}] continuous requires domain.lb and domain.ub when coords are absent",
            path=f"axes[{idx}].domain",
        )
    lb = _as_number(domain.get("lb"), path=f"axes[{idx}].domain.lb")
    ub = _as_number(domain.get("ub"), path=f"axes[{idx}].domain.ub")
    if ub <= lb:
        raise SpecError(
            f"axes[{idx}].domain.ub must be greater than lb", path=f"axes[{idx}].domain"
        )
    size_obj = ax.get("size")
    if not isinstance(size_obj, (int, float)) or isinstance(size_obj, bool):
        raise SpecError(
            f"axes[{idx}].size must be an integer >= 2, got {size_obj!r}",
            path=f"axes[{idx}].size",
            token=repr(size_obj),
        )
    size = int(size_obj)
    if size < 2:
        raise SpecError(
            f"axes[{idx}].size must be >= 2, got {size}",
            path=f"axes[{idx}].size",
            token=str(size),
        )
    if spacing not in ("linear", "log", "geom"):
        raise SpecError(
            f"axes[{idx}].spacing must be one of ['geom', 'linear', 'log']",
            path=f"axes[{idx}].spacing",
            token=spacing,
        )
    if spacing == "linear":
        step = (ub - lb) / (size - 1)
        return [lb + step * i for i in range(size)]
    if lb <= 0 or ub <= 0:
        raise SpecError(
            f"axes[{idx}] log/geom spacing requires positive lb/ub",
            path=f"axes[{idx}].domain",
        )
    ratio = (ub / lb) ** (1.0 / (size - 1))
    return [lb * (ratio**i) for i in range(size)]


def _normalize_axis(
    ax: object, idx: int, seen: set[str], one_point: str | None = None
) -> dict[str, Any]:
    if not isinstance(ax, dict):
        raise SpecError(f"axes[{idx}] must be a mapping", path=f"axes[{idx}]")
    name = ax.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError(
            f"axes[{idx}].name must be a non-empty string", path=f"axes[{idx}].name"
        )
    name = name.strip()
    if not name.isidentifier() or name.startswith("__"):
        raise SpecError(
            f"axes[{idx}].name {name!r} must be an identifier",
            path=f"axes[{idx}].name",
            token=name,
        )
    if name in seen:
        raise SpecError(
            f"duplicate axis name: {name!r}", path=f"axes[{idx}].name", token=name
        )
    seen.add(name)
    written = str(ax.get("type", "categorical")).strip().lower()
    if written not in ("categorical", "ordinal", "continuous"):
        raise SpecError(
            f"axes[{idx}].type must be 'categorical', 'ordinal' or 'continuous'"
            f"{did_you_mean(written, ('categorical', 'ordinal', 'continuous'))}",
            path=f"axes[{idx}].type",
            token=written,
        )
    # an ordinal axis (op-system 0.9.0's) is categorical with ordered coordinates
    kind = "continuous" if written == "continuous" else "categorical"
    spacing = str(ax.get("spacing", "linear")).strip().lower()
    coords_obj = ax.get("coords")
    coords: list[Any]
    if coords_obj is not None:
        if not isinstance(coords_obj, (list, tuple)) or not coords_obj:
            raise SpecError(
                f"axes[{idx}].coords must be a non-empty list",
                path=f"axes[{idx}].coords",
            )
        coords = list(coords_obj)
        if kind == "categorical":
            for j, v in enumerate(coords):
                if not isinstance(v, str) or not v.strip():
                    number = isinstance(v, (int, float)) and not isinstance(v, bool)
                    raise SpecError(
                        f"axes[{idx}].coords[{j}] must be a non-empty string"
                        + (
                            f", got the number {v!r}: write a label in quotes "
                            '(in YAML `"06037"` keeps its leading zero, which '
                            "an unquoted 06037 loses)"
                            if number
                            else ""
                        ),
                        path=f"axes[{idx}].coords[{j}]",
                        token=repr(v),
                    )
                coords[j] = v.strip()
            if len(set(coords)) != len(coords):
                dup = next(c for c in coords if coords.count(c) > 1)
                raise SpecError(
                    f"axes[{idx}].coords contains duplicate coord {dup!r}",
                    path=f"axes[{idx}].coords",
                    token=dup,
                )
        else:
            coords = [
                _as_number(v, path=f"axes[{idx}].coords[{j}]")
                for j, v in enumerate(coords)
            ]
            for j in range(1, len(coords)):
                if coords[j] < coords[j - 1]:
                    raise SpecError(
                        f"axes[{idx}].coords must be non-decreasing for continuous axes "
                        f"(coords[{j}]={coords[j]!r} < coords[{j - 1}]={coords[j - 1]!r})",
                        path=f"axes[{idx}].coords",
                        token=repr(coords[j]),
                    )
    elif kind == "categorical":
        raise SpecError(
            f"axes[{idx}] categorical requires coords", path=f"axes[{idx}].coords"
        )
    else:
        coords = _generate(ax, idx, spacing)
    out: dict[str, Any] = {
        "name": name,
        "type": written,
        "coords": coords,
        "size": len(coords),
    }
    if kind == "continuous":
        out["deltas"] = _deltas(coords, idx, name == one_point)
    if ax.get("domain") is not None:
        out["domain"] = ax.get("domain")
    if spacing:
        out["spacing"] = spacing
    units = ax.get("units")
    if units is not None:
        if not isinstance(units, str) or not units.strip():
            raise SpecError(
                f"axes[{idx}].units must be a non-empty string if provided",
                path=f"axes[{idx}].units",
            )
        out["units"] = units.strip()
    return out


def _fragments(coords: tuple[str, ...], idx: int, labels: bool) -> dict[str, int]:
    """Each coordinate's position by its name fragment (the first one's). Two
    labels with one fragment (`0-17` and `0_17`; `65+` and `65`) would give two
    cells one expanded name: an error."""
    out: dict[str, int] = {}
    for i, c in enumerate(coords):
        frag = fragment(c)
        j = out.setdefault(frag, i)
        if j != i and labels:
            raise SpecError(
                f"axes[{idx}].coords {coords[j]!r} and {c!r} give one expanded "
                f"name fragment {frag!r} (every run of characters other than "
                "letters and digits becomes '_', and leading and trailing ones are "
                "dropped); rename one of them",
                path=f"axes[{idx}].coords[{i}]",
                token=c,
            )
    return out


def normalize_axes(
    raw: object, one_point: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, Axis]]:
    """Validate `spec["axes"]`; return the 0.1.2-style metadata list and `Axis` objects.

    `one_point` names a continuous axis that may have a single coordinate
    (op-system 0.9.0's time axis of one point: a constant table)."""
    if raw is None:
        return [], {}
    if not isinstance(raw, list):
        raise SpecError("axes must be a list of axis definitions", path="axes")
    seen: set[str] = set()
    meta = [_normalize_axis(ax, i, seen, one_point) for i, ax in enumerate(raw)]
    axes: dict[str, Axis] = {}
    for idx, m in enumerate(meta):
        coords = tuple(str(c) for c in m["coords"])
        # (a continuous axis's repeated fragment, `-0.5` and `0.5`, is reported
        # where it gives two states one name)
        frag_index = _fragments(coords, idx, m["type"] != "continuous")
        if m["type"] == "continuous":
            axes[m["name"]] = Axis(
                m["name"],
                "continuous",
                coords,
                tuple(float(c) for c in m["coords"]),
                tuple(m["deltas"]),
                {c: i for i, c in enumerate(coords)},
                frag_index,
            )
        else:
            axes[m["name"]] = Axis(
                m["name"],
                "categorical",
                coords,
                (),
                (),
                {c: i for i, c in enumerate(coords)},
                frag_index,
                ordered=m["type"] == "ordinal",
            )
    return meta, axes
