"""Names in, names out: a state vector from named blocks and cells (`pack`), and
named block arrays from state vectors (`unpack`).

Both are written once over an array namespace (NumPy, or `jax.numpy` when a
value is a JAX array or tracer), with no Python casts of the values, so they
trace under `jax.jit`. The layout comes from the model (`layout.py`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .._support.errors import StateShapeError
from .layout import Layout
from .select import Selection, select

__all__ = ["namespace", "pack", "unpack"]


def _is_jax(x: object) -> bool:
    mod = type(x).__module__
    return mod.startswith("jax") or mod.startswith("jaxlib")


def namespace(values: Iterable[object]) -> Any:
    """`jax.numpy` when any value is a JAX array or tracer, else NumPy."""
    if any(_is_jax(v) for v in values):
        return sys.modules.get("jax.numpy") or __import__("jax.numpy").numpy
    return np


def _float_dtype(xp: Any) -> Any:
    # JAX's default float: float64 with x64 enabled, float32 otherwise
    return np.float64 if xp is np else xp.zeros(()).dtype


def _order(sel: Selection) -> int:
    """Apply whole blocks first, then partial selections, then single cells:
    the more specific key wins where two overlap."""
    return sum(1 for i in sel.index if not isinstance(i, slice))


def pack(layout: Layout, entries: Mapping[str, Any], fill: Any = 0.0) -> Any:
    """The state vector (1-D, `layout.state_names` order) holding `entries`
    (block arrays, cell keys, expanded names) and `fill` elsewhere."""
    sels = sorted(
        ((select(layout, k), v) for k, v in entries.items()),
        key=lambda sv: _order(sv[0]),
    )
    xp = namespace([fill, *entries.values()])
    dtype = _float_dtype(xp)
    by_part: dict[int, list[tuple[Selection, Any]]] = {}
    for sel, value in sels:
        by_part.setdefault(id(sel.part), []).append((sel, value))
    pieces = []
    for part in layout.parts:
        arr = xp.full(part.shape, fill, dtype=dtype)
        given = by_part.get(id(part), [])
        taken = np.zeros(part.shape, dtype=np.int8)  # which key set each cell
        for sel, value in given:
            arr = _assign(arr, sel, value, xp, dtype, taken)
        pieces.append(xp.reshape(arr, (part.size,)))
    if not pieces:
        return xp.zeros((0,), dtype=dtype)
    return xp.concatenate(pieces)


def _assign(
    arr: Any, sel: Selection, value: Any, xp: Any, dtype: Any, taken: Any
) -> Any:
    """`arr` with `value` (broadcast) at `sel.index`; two keys of the same
    specificity that set one cell are an error."""
    target = np.empty(sel.part.shape, dtype=np.int8)[sel.index].shape
    v = xp.asarray(value, dtype=dtype)
    try:
        shape = np.broadcast_shapes(tuple(v.shape), target)
    except ValueError:
        shape = None
    if shape != target:
        dims = ", ".join(sel.dims) or "a scalar"
        raise StateShapeError(
            f"{sel.key!r} takes an array of shape {target} (dims: {dims}) or one "
            f"that broadcasts to it, got shape {tuple(v.shape)}",
            token=sel.key,
        )
    rank = 1 + sum(1 for i in sel.index if not isinstance(i, slice))
    clash = taken[sel.index] == rank
    if np.any(clash):
        raise StateShapeError(
            f"{sel.key!r} sets cells another key of {sel.part.base!r} sets too",
            token=sel.key,
        )
    taken[sel.index] = rank
    if xp is np:
        arr[sel.index] = v
        return arr
    return arr.at[sel.index].set(v)


def unpack(layout: Layout, y: Any) -> dict[str, Any]:
    """`{block: array(*lead, *block axes)}` from `y` of shape `(*lead, n_state)`."""
    if not hasattr(y, "shape"):
        y = np.asarray(y, dtype=np.float64)
    shape = tuple(y.shape)
    if not shape or shape[-1] != layout.n_state:
        raise StateShapeError(
            f"unpack needs states of shape (..., {layout.n_state}), got {shape}"
        )
    lead = shape[:-1]
    xp = namespace([y])
    return {
        p.base: xp.reshape(y[..., p.slice], (*lead, *p.shape)) for p in layout.parts
    }
