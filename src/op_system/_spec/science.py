"""Scientific declarations: an axis's `measure` and the `state_metadata:` block.

They say what a state *is* (counts, a density, a cumulative counter; its units)
and what an axis's cells weigh; they never change the right-hand side. The
rules and messages are op-system 0.9.0's (`_scientific_meta.py` there).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from numbers import Real

from .._support.errors import SpecError, did_you_mean

__all__ = [
    "AxisMeasure",
    "StateDeclaration",
    "axis_measure",
    "optional_text",
    "state_declarations",
]

_MEASURE_KINDS = ("counting", "cell", "quadrature")
_REPRESENTATIONS = ("counts", "cell_mass", "density", "concentration", "cumulative")
_EXTENSIVE = frozenset({"counts", "cell_mass", "cumulative"})
_STATE_FIELDS = ("representation", "units", "description", "measure_axes", "scale")


@dataclass(frozen=True)
class AxisMeasure:
    """The physical measure of an axis, one weight per coordinate, in order.

    Attributes:
        kind: `counting` (unit weights), `cell` (widths/volumes) or `quadrature`.
        weights: Finite positive weights.
        units: The measure's units, or `None`.
    """

    kind: str
    weights: tuple[float, ...]
    units: str | None = None


@dataclass(frozen=True)
class StateDeclaration:
    """One entry of `state_metadata:`.

    Attributes:
        representation: `counts`, `cell_mass`, `cumulative` (extensive) or
            `density`, `concentration` (intensive); `None` when unknown.
        units: The state's units, or `None`.
        description: Free text, or `None`.
        measure_axes: The axes whose measures an integral of the state needs
            (`None`: undeclared; `()`: none).
        scale: `identity` or `log`: the coordinate a coordinate view should use.
    """

    representation: str | None = None
    units: str | None = None
    description: str | None = None
    measure_axes: tuple[str, ...] | None = None
    scale: str = "identity"

    @property
    def intensive(self) -> bool:
        """Whether the state is a density or a concentration."""
        return self.representation in ("density", "concentration")


def optional_text(
    value: Mapping[str, object], name: str, path: str, what: str = "scientific metadata"
) -> str | None:
    """A declaration's optional text field (`units`, `description`), nonempty."""
    if name not in value:
        return None
    text = value[name]
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{what} {name} must be nonempty text", path=f"{path}.{name}")
    return text


def _weight(value: object, path: str) -> float:
    ok = not isinstance(value, bool) and isinstance(value, Real)
    try:
        weight = float(value) if ok else math.nan  # type: ignore[arg-type]
    except OverflowError:
        weight = math.inf
    if not math.isfinite(weight) or weight <= 0:
        raise SpecError(
            "axis measure weights must be finite positive numbers",
            path=path,
            token=repr(value),
        )
    return weight


def axis_measure(value: object, size: int, path: str) -> AxisMeasure:
    """An axis's `measure:` over its `size` coordinates."""
    if not isinstance(value, Mapping) or set(value) - {"kind", "weights", "units"}:
        raise SpecError(
            "axis measure must contain kind, weights and/or units", path=path
        )
    kind = value.get("kind")
    if not isinstance(kind, str) or kind not in _MEASURE_KINDS:
        hint = did_you_mean(kind, _MEASURE_KINDS) if isinstance(kind, str) else ""
        raise SpecError(
            f"axis measure kind must be counting, cell or quadrature{hint}",
            path=f"{path}.kind",
        )
    if kind == "counting":
        if "weights" in value:
            raise SpecError(
                "counting measure has unit weights; omit weights",
                path=f"{path}.weights",
            )
        weights = (1.0,) * size
    else:
        raw = value.get("weights")
        if not isinstance(raw, (list, tuple)) or len(raw) != size:
            raise SpecError(
                "axis measure weights must match the coordinate count",
                path=f"{path}.weights",
            )
        weights = tuple(_weight(w, f"{path}.weights[{i}]") for i, w in enumerate(raw))
    return AxisMeasure(kind, weights, optional_text(value, "units", path))


def _state_declaration(value: object, path: str) -> StateDeclaration:
    if not isinstance(value, Mapping) or set(value) - set(_STATE_FIELDS):
        bad = (
            next((k for k in value if k not in _STATE_FIELDS), None)
            if isinstance(value, Mapping)
            else None
        )
        hint = did_you_mean(bad, _STATE_FIELDS) if isinstance(bad, str) else ""
        raise SpecError(
            f"state metadata contains unknown fields or is not a mapping{hint}",
            path=path,
            token=bad if isinstance(bad, str) else None,
        )
    scale = value.get("scale", "identity")
    if not isinstance(scale, str) or scale not in ("identity", "log"):
        raise SpecError("state scale must be identity or log", path=f"{path}.scale")
    rep = value.get("representation")
    if "representation" in value and (
        not isinstance(rep, str) or rep not in _REPRESENTATIONS
    ):
        hint = did_you_mean(rep, _REPRESENTATIONS) if isinstance(rep, str) else ""
        raise SpecError(
            "state representation must be counts, cell_mass, density, "
            f"concentration or cumulative{hint}",
            path=f"{path}.representation",
        )
    measure_axes: tuple[str, ...] | None = None
    if "measure_axes" in value:
        axes = value["measure_axes"]
        if (
            not isinstance(axes, (list, tuple))
            or any(not isinstance(a, str) or not a.strip() for a in axes)
            or len(set(axes)) != len(axes)
        ):
            raise SpecError(
                "state measure_axes must list unique nonempty axis names",
                path=f"{path}.measure_axes",
            )
        measure_axes = tuple(axes)
        if rep in _EXTENSIVE and measure_axes:
            raise SpecError(
                "extensive states do not require measure weights",
                path=f"{path}.measure_axes",
            )
    return StateDeclaration(
        rep if isinstance(rep, str) else None,
        optional_text(value, "units", path),
        optional_text(value, "description", path),
        measure_axes,
        scale,
    )


def state_declarations(
    value: object,
    state_axes: Mapping[str, Collection[str]],
    measured: Collection[str],
) -> dict[str, StateDeclaration]:
    """Read `state_metadata:`.

    Arguments:
        value: the block.
        state_axes: each state base -> the axes it ranges over (its template's
            axes and its `state_axes:` entry).
        measured: the axes that declare a `measure`.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(
            "state_metadata must be a declaration mapping", path="state_metadata"
        )
    out: dict[str, StateDeclaration] = {}
    for name, raw in value.items():
        path = f"state_metadata[{name!r}]"
        if not isinstance(name, str) or name not in state_axes:
            hint = did_you_mean(name, state_axes) if isinstance(name, str) else ""
            raise SpecError(
                f"state metadata {name!r} is not a declared state base{hint}",
                path=path,
                token=name if isinstance(name, str) else None,
            )
        decl = _state_declaration(raw, path)
        for axis in decl.measure_axes or ():
            if axis not in state_axes[name]:
                raise SpecError(
                    f"state {name!r} measure axis {axis!r} is not a state axis"
                    f"{did_you_mean(axis, state_axes[name])}",
                    path=f"{path}.measure_axes",
                    token=axis,
                )
            if axis not in measured:
                raise SpecError(
                    f"state {name!r} requires a measure for axis {axis!r}",
                    path=f"{path}.measure_axes",
                    token=axis,
                )
        out[name] = decl
    return out
