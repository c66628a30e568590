"""op-system 0.9.0's axis-wide `coord_shift`: every bin of an axis moves `step`
bins along it (ageing), at the rate read at the bin it leaves.

    {name: aging, coord_shift: {axis: age, step: 1, rate: "r[age]",
     boundary: absorb}, apply_to: [S, I]}

Each bin `k` flows to `k + step`; what would leave the axis is removed
(`boundary: absorb`, a sink) or stays in its end bin (`stay`, no flow). The
shift becomes one scalar flow per cell of each state, whose rate reads every
axis at that cell; the lowering re-rolls flows of one shape into one vector
(`_lower/flows.py`), so the program does not grow with the bins.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from .._lang.ir import IndexItem, Node, Reduce, Ref, children, rebuild
from .._spec.axes import Axis
from .._spec.dialect import check_fields
from .._spec.numbers import expression_text
from .._support.errors import SpecError
from .builder import Builder
from .defs import Flow

__all__ = ["applied_to", "axis_shift", "read_at"]

_FIELDS = frozenset({"axis", "step", "rate", "boundary"})
_BOUNDARIES = ("absorb", "stay")


def axis_shift(b: Builder, tr: Mapping[str, Any], path: str) -> list[Flow]:
    """The flows of an axis-wide `coord_shift` transition (see the module doc)."""
    where = f"{path}.coord_shift"
    shift: Mapping[str, Any] = tr["coord_shift"]
    check_fields(shift, _FIELDS, where)
    axis_name = shift["axis"]
    axis = b.axes.get(axis_name) if isinstance(axis_name, str) else None
    if axis is None:
        raise SpecError(
            f"coord_shift axis {axis_name!r} is not defined",
            path=where,
            token=str(axis_name),
        )
    step = shift.get("step", 1)
    if isinstance(step, bool) or not isinstance(step, int) or step == 0:
        raise SpecError(
            f"coord_shift step must be a non-zero integer, got {step!r}",
            path=f"{where}.step",
            token=repr(step),
        )
    if abs(step) >= axis.size:
        raise SpecError(
            f"coord_shift step {step} moves every bin off axis {axis.name!r} "
            f"({axis.size} coordinates)",
            path=f"{where}.step",
            token=repr(step),
        )
    boundary = shift.get("boundary")
    if boundary not in _BOUNDARIES:
        raise SpecError(
            f"coord_shift boundary must be one of {list(_BOUNDARIES)} (what happens to "
            f"what a step moves off axis {axis.name!r}), got {boundary!r}",
            path=f"{where}.boundary",
            token=repr(boundary),
        )
    inner, outer = shift.get("rate"), tr.get("rate")
    if (inner is None) == (outer is None):
        raise SpecError(
            "coord_shift needs one 'rate': in the coord_shift mapping or in the transition",
            path=f"{path}.rate",
        )
    text = expression_text(inner if inner is not None else outer)
    if not isinstance(text, str) or not text.strip():
        raise SpecError("coord_shift requires a 'rate' string", path=f"{path}.rate")
    rate = b.parse(text.strip(), f"{path}.rate")
    out: list[Flow] = []
    raw = {"from": None, "to": None, "rate": text.strip()}
    for base in applied_to(tr, path):
        blk = next((x for x in b.blocks if x.base == base and axis in x.axes), None)
        if blk is None:
            raise SpecError(
                f"coord_shift apply_to state {base!r} is not a state over axis {axis.name!r}",
                path=f"{path}.apply_to",
                token=base,
            )
        # One scalar flow per cell: the lowering re-rolls flows of one shape into
        # one vector, so neither the program nor the work grows with the pairs.
        for cell in itertools.product(*(range(ax.size) for ax in blk.axes)):
            k = cell[blk.axes.index(axis)]
            target = k + step
            if not 0 <= target < axis.size and boundary == "stay":
                continue  # it stays in its end bin
            at = dict(zip(blk.axes, cell, strict=True))
            rate_at = rate
            for ax, i in at.items():
                rate_at = read_at(rate_at, ax, i)
            dst = None  # absorbed: it leaves the axis
            if 0 <= target < axis.size:
                dst = _cell(base, blk.axes, {**at, axis: target})
            out.append(
                Flow((), _cell(base, blk.axes, at), dst, rate_at, path, raw, None)
            )
    return out


def applied_to(tr: Mapping[str, Any], path: str) -> list[str]:
    """The states a `coord_shift` transition moves (`apply_to`, either form)."""
    apply_to = tr.get("apply_to")
    if not isinstance(apply_to, list) or not apply_to:
        raise SpecError(
            "coord_shift requires a non-empty 'apply_to' list", path=f"{path}.apply_to"
        )
    return [str(base).strip() for base in apply_to]


def _cell(base: str, axes: tuple[Axis, ...], at: Mapping[Axis, int]) -> Ref:
    """The reference to one cell of a state block."""
    return Ref(
        base,
        tuple(
            IndexItem(ax.name, ax.coords[at[ax]], ax.kind == "continuous")
            for ax in axes
        ),
    )


def read_at(node: Node, axis: Axis, k: int) -> Node:
    """`node` with each reference's free placeholder of `axis` read at bin `k`
    (0.9.0 reads a shift's rate at the bin it leaves)."""
    if isinstance(node, Ref):
        items = tuple(
            IndexItem(axis.name, axis.coords[k], axis.kind == "continuous", it.pos)
            if it.axis is None and it.value == axis.name and it.is_name
            else it
            for it in node.items
        )
        return node if items == node.items else Ref(node.base, items, node.pos)
    if isinstance(node, Reduce) and node.var == axis.name:
        return node  # the name is the loop's own there
    kids = children(node)
    if not kids:
        return node
    return rebuild(node, [read_at(kid, axis, k) for kid in kids])
