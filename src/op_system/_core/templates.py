"""Names of the spec language: identifiers, `S[age,vax]` templates and loop headers.

Shared by the builder (`_core/build.py`), the observables (`_core/observables.py`) and the
per-cell evaluator (`_core/cells.py`), which read templates and loops the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .._lang.ir import Reduce
from .._spec.axes import Axis
from .._spec.labels import split_items, split_pin
from .._support.errors import SpecError, did_you_mean
from .model import Block, Dim, cell_name

__all__ = ["RESERVED_NAMES", "cell_key", "equation_keys", "reduce_dim"]

_TEMPLATE_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\[(.+)\]\s*")
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Names that cannot be used for states, aliases or parameters.
RESERVED_NAMES = frozenset(
    {"np", "xp", "sum_state", "sum_prefix", "sum_over", "integrate_over"}
)


def _check_ident(name: str, path: str, what: str) -> None:
    if not IDENT_RE.fullmatch(name) or name.startswith("__"):
        raise SpecError(
            f"{what} {name!r} is not a valid identifier", path=path, token=name
        )
    if name in RESERVED_NAMES:
        raise SpecError(
            f"{what} {name!r} shadows a built-in helper or namespace",
            path=path,
            token=name,
        )
    if name == "t" and what in ("state", "chain stage", "alias"):
        # 0.1.2 lets such a name silently shadow time in every expression
        raise SpecError(
            f"{what} name 't' is reserved for time; rename it", path=path, token=name
        )
    if what == "parameter" and name == "y":
        raise SpecError(
            "parameter name 'y' clashes with the state argument of eval_fn(t, y, **params); rename it",
            path=path,
            token=name,
        )


def _parse_template(
    entry: str, axes: dict[str, Axis], path: str, what: str
) -> tuple[str, tuple[Axis, ...]]:
    """`"S[age,vax]"` → `("S", (age, vax))`; `"S"` → `("S", ())`."""
    if "[" not in entry or "]" not in entry:
        _check_ident(entry, path, what)
        return entry, ()
    m = _TEMPLATE_RE.fullmatch(entry)
    if not m:
        raise SpecError(f"invalid {what} template: {entry!r}", path=path, token=entry)
    base = m.group(1)
    _check_ident(base, path, what)
    placeholders = [p.strip() for p in m.group(2).split(",")]
    if not all(placeholders):
        raise SpecError(
            f"invalid {what} template axes in {entry!r}", path=path, token=entry
        )
    out = []
    for ph in placeholders:
        if ph not in axes:
            raise SpecError(
                f"{what} template axis {ph!r} not defined{did_you_mean(ph, axes)}",
                path=path,
                token=ph,
            )
        if axes[ph] in out:
            raise SpecError(
                f"{what} template {entry!r} repeats axis {ph!r}", path=path, token=ph
            )
        out.append(axes[ph])
    return base, tuple(out)


def equation_keys(
    raw: Mapping[object, object], blocks: list[Block], normalize: Callable[[str], str]
) -> dict[str, tuple[object, str]]:
    """The `equations:` entries by key (`normalize`d), with their paths; a key
    that names one cell by its labels as the cell's expanded name (`cell_key`).
    Two keys that name one equation are an error (neither is dropped)."""
    out: dict[str, tuple[object, str]] = {}
    for k, v in raw.items():
        if not isinstance(k, str):
            raise SpecError(
                "equations keys must be strings", path="equations", token=repr(k)
            )
        path = f"equations[{k!r}]"
        key = cell_key(normalize(k), blocks, path)
        if key in out:
            raise SpecError(
                f"{path} and {out[key][1]} are both the equation of {key!r}",
                path=path,
                token=k,
            )
        out[key] = (v, path)
    return out


def cell_key(key: str, blocks: list[Block], path: str) -> str:
    """A key that pins every axis of a templated state to a label
    (`S[age='0-17', vax=u]`, 0.9.0's `S[age:'0-17', vax:u]`) as the cell's
    expanded name (`S__age_0_17__vax_u`); any other key as it is.

    A key that pins some axes and leaves others is refused: a cell's own
    equation pins every axis, a template none."""
    m = _TEMPLATE_RE.fullmatch(key) if "[" in key else None
    if m is None:
        return key
    pins = [split_pin(item) for item in split_items(m.group(2))]
    if all(label is None for _, label, _ in pins):
        return key  # a template key, `S[age,vax]`
    base = m.group(1)
    blk = next((x for x in blocks if x.base == base and x.axes), None)
    if blk is None:
        return key  # reported with the unknown keys
    given: dict[str, str] = {}
    for name, label, _ in pins:
        if label is None:
            raise SpecError(
                f"equation key {key!r} pins some axes of {base!r} but not "
                f"{name!r}: a cell's own equation pins every axis "
                f"({base}[{', '.join(f'{ax.name}=...' for ax in blk.axes)}]), a "
                "template none",
                path=path,
                token=name,
            )
        axis = next((ax for ax in blk.axes if ax.name == name), None)
        if axis is None or name in given:
            why = "repeats" if name in given else "has no"
            raise SpecError(
                f"equation key {key!r}: {base!r} {why} axis {name!r} (its axes are "
                f"{', '.join(ax.name for ax in blk.axes)})"
                f"{did_you_mean(name, [ax.name for ax in blk.axes])}",
                path=path,
                token=name,
            )
        if axis.lookup(label) is None:
            raise SpecError(
                f"equation key {key!r}: {label!r} is not a coordinate of axis "
                f"{name!r}{did_you_mean(label, axis.coords)}",
                path=path,
                token=label,
            )
        given[name] = label
    missing = [ax.name for ax in blk.axes if ax.name not in given]
    if missing:
        raise SpecError(
            f"equation key {key!r} does not pin axis {missing[0]!r} of {base!r}: a "
            "cell's own equation pins every axis",
            path=path,
            token=key,
        )
    idx = []
    for ax in blk.axes:
        at = ax.lookup(given[ax.name])
        assert at is not None
        idx.append(at)
    return cell_name(base, blk.axes, tuple(idx))


def reduce_dim(node: Reduce, axes: dict[str, Axis], path: str) -> Dim:
    """Validate a `sum_over`/`integrate_over` header and return its loop dimension."""
    axis = axes.get(node.axis)
    if axis is None:
        raise SpecError(
            f"{node.kind} axis {node.axis!r} not found{did_you_mean(node.axis, axes)}",
            path=path,
            pos=node.pos,
            token=node.axis,
        )
    inner = node.body
    if (
        node.kind == "apply_along"
        and isinstance(inner, Reduce)
        and inner.kind == "apply_along"
        and inner.pos == node.pos
        and inner.axis in axes
        and axes[inner.axis].kind != axis.kind
    ):  # one call binding axes of both types: 0.9.0 wants the kernel said
        kinds = sorted({axis.kind, axes[inner.axis].kind})
        raise SpecError(
            f"apply_along(...) cannot infer kernel for mixed/unknown axis types "
            f"({kinds}); pass kernel=sum or kernel=integrate",
            path=path,
            pos=node.pos,
            token="apply_along",
        )
    # "sum": 0.9.0's observable reduction, a unit-weight sum over any axis;
    # "apply_along": a sum or an integral by the axis's type (`_core/bind.py`)
    if node.kind == "sum_over" and axis.kind != "categorical":
        raise SpecError(
            f"sum_over axis {node.axis!r} must be categorical",
            path=path,
            pos=node.pos,
            token=node.axis,
        )
    if node.kind == "integrate_over" and axis.kind != "continuous":
        raise SpecError(
            f"integrate_over axis {node.axis!r} must be continuous",
            path=path,
            pos=node.pos,
            token=node.axis,
        )
    subset = None
    if node.coords is not None and axis.kind == "continuous":
        # only 0.9.0's bindings reach here
        subset = _sub_interval(node, axis, path)
    elif node.coords is not None:
        if not node.coords:
            raise SpecError(
                f"sum_over IN filter for axis {node.axis!r} is empty",
                path=path,
                pos=node.pos,
                token=node.axis,
            )
        if axis.kind == "continuous" and len(node.coords) != 2:
            raise SpecError(
                f"apply_along axis {node.axis!r} continuous filter must be a 2-element "
                f"[lo, hi] interval (got {len(node.coords)} entries)",
                path=path,
                pos=node.pos,
                token=node.axis,
            )
        seen: list[int] = []
        for c in node.coords:
            i = axis.lookup(c)
            if c in [axis.coords[j] for j in seen]:
                raise SpecError(
                    f"sum_over IN filter for axis {node.axis!r} contains duplicate coord {c!r}",
                    path=path,
                    pos=node.pos,
                    token=c,
                )
            if i is None:
                raise SpecError(
                    f"sum_over IN filter references unknown coord {c!r} for axis {node.axis!r} "
                    f"(valid: {list(axis.coords)}){axis.suggest(c)}",
                    path=path,
                    pos=node.pos,
                    token=c,
                )
            seen.append(i)
        subset = tuple(seen)
        if axis.ordered:  # 0.9.0: `[lo, hi]` is an inclusive range of an ordinal axis
            if len(seen) != 2 or seen[0] > seen[1]:
                raise SpecError(
                    f"a filter of ordinal axis {node.axis!r} is a range [first, last] "
                    "in the axis's order",
                    path=path,
                    pos=node.pos,
                    token=node.axis,
                )
            subset = tuple(range(seen[0], seen[1] + 1))
    return Dim(node.var, axis, subset)


def _sub_interval(node: Reduce, axis: Axis, path: str) -> tuple[int, ...]:
    """The coordinates of a continuous axis in a filter's closed interval
    `[lo, hi]` (0.9.0's filtered binding: an integral over the sub-interval,
    with the trapezoid weights of its coordinates, `Dim.weights`)."""
    assert node.coords is not None
    where = f"a filter of continuous axis {node.axis!r}"
    if len(node.coords) != 2:
        raise SpecError(
            f"{where} is a 2-element [lo, hi] interval (got {len(node.coords)} entries)",
            path=path,
            pos=node.pos,
            token=node.axis,
        )
    try:
        lo, hi = (float(c) for c in node.coords)
    except ValueError:
        raise SpecError(
            f"{where} has numeric endpoints (got {list(node.coords)})",
            path=path,
            pos=node.pos,
            token=node.axis,
        ) from None
    if lo > hi:
        raise SpecError(
            f"{where} needs lo <= hi (got [{lo}, {hi}])",
            path=path,
            pos=node.pos,
            token=node.axis,
        )
    inside = tuple(i for i, v in enumerate(axis.values) if lo <= v <= hi)
    if not inside:
        raise SpecError(
            f"{where} [{lo}, {hi}] selects no coordinate of the axis "
            f"{list(axis.values)}",
            path=path,
            pos=node.pos,
            token=node.axis,
        )
    return inside
