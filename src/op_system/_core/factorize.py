"""`factorize_axes:` — the axes a model is declared independent along (op-system 0.9.0's).

Declaring an axis says the model splits into one independent block per
coordinate of it (an engine may solve the blocks apart). 0.9.0 checks the
claim on the spec's structure and refuses one that does not hold, with
`UnsupportedFeatureError`: no operator acts along the axis, every templated
state ranges over it, and no expression couples its coordinates (`sum_state()`,
a reduction over the axis, or a read pinned to one of its coordinates). The
same checks, with the same messages, run here on the built model; the
declaration is then kept as data (it never changes the right-hand side).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._lang.ir import Call, Node, Reduce, Ref, walk
from .._support.errors import UnsupportedFeatureError
from .model import Model

__all__ = ["check_factorizable"]


def _refuse(axis: str, detail: str) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(
        f"Feature \"factorize_axes='{axis}'\" is not supported. Detail: {detail}",
        path="factorize_axes",
        token=axis,
    )


def _check_expr(expr: Node, axis: str, label: str, coords: frozenset[str]) -> None:
    for node in walk(expr):
        if isinstance(node, Call) and node.func == "sum_state":
            raise _refuse(
                axis,
                f"{label!r} uses sum_state(), which totals all declared state buffers "
                f"across axis {axis!r}; use a local reduction when the intended model "
                "is independent.",
            )
        if isinstance(node, Reduce) and node.axis == axis:
            raise _refuse(
                axis,
                f"{label!r} reduces over axis {axis!r} (kind={node.kind!r}).  "
                "Block-factorizable axes must not appear in any sum_over / "
                "apply_along / integrate_over binding.",
            )
        if isinstance(node, Ref):
            for item in node.items:
                if item.axis == axis and item.value in coords:
                    raise _refuse(
                        axis,
                        f"{label!r}: subscript {node.base!r} pins block axis {axis!r} "
                        f"to literal coord {item.value!r}.  Block-factorizable axes "
                        "must not be pinned to a specific coordinate inside an "
                        "expression.",
                    )


def _endpoint_var(text: object, axis: str) -> str | None:
    """The variable or coordinate an endpoint (`X[loc, imm:i]`) binds `axis` to."""
    if not isinstance(text, str):
        return None
    m = re.search(rf"[\[,]\s*{re.escape(axis)}\s*[:=]\s*([\w.+-]+)", text)
    return m.group(1) if m else None


def _check_transitions(transitions: object, axis: str) -> None:
    """A transition that moves between coordinates of `axis` couples them (0.9.0
    lowers it to a reduction over the axis)."""
    for i, tr in enumerate(transitions if isinstance(transitions, list) else ()):
        if not isinstance(tr, Mapping):
            continue
        src, dst = (
            _endpoint_var(tr.get("from"), axis),
            _endpoint_var(tr.get("to"), axis),
        )
        shift = tr.get("coord_shift")
        shifted = isinstance(shift, Mapping) and (
            shift.get("axis") == axis or (axis in shift and "axis" not in shift)
        )
        if shifted or (src is not None and dst is not None and src != dst):
            raise _refuse(
                axis,
                f"'transitions[{i}]' moves between coordinates of axis {axis!r} "
                "(kind='apply_along').  Block-factorizable axes must not appear in any "
                "sum_over / apply_along / integrate_over binding.",
            )


def check_factorizable(
    axes: Sequence[str],
    model: Model,
    operators: object,
    exprs: Iterable[tuple[Node, Any, str]],
    transitions: object = None,
) -> None:
    """Refuse a `factorize_axes` declaration the model's structure contradicts."""
    listed = list(exprs)
    for axis in axes:
        for op in operators if isinstance(operators, list) else ():
            if isinstance(op, Mapping) and op.get("axis") == axis:
                raise _refuse(
                    axis,
                    f"Operator kind={op.get('kind', '<unknown>')!r} acts on axis "
                    f"{axis!r}.  Block-factorizable axes must not have spatial "
                    "operators that couple adjacent elements.",
                )
        for blk in model.blocks:
            names = tuple(ax.name for ax in blk.axes)
            if names and axis not in names:
                raise _refuse(
                    axis,
                    f"State template {blk.base!r} has axes {names!r} which does not "
                    f"include block axis {axis!r}.  All non-scalar (axis-indexed) "
                    "state templates must carry every declared factorize_axis.",
                )
        _check_transitions(transitions, axis)
        coords = frozenset(model.axes[axis].coords)
        for expr, _dims, path in listed:
            _check_expr(expr, axis, path, coords)
