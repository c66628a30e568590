"""A batch of tangents in one program: the rules that give every op a trailing axis.

The jvp program computes `J @ v` for one direction `v`. The Jacobian needs one
direction per color of its columns; rather than call the program once per color,
`batch_op` rewrites its values so that every tangent carries a trailing batch
axis (`v` of shape `(n, k)` gives `(n, k)`: `J @ v` for `k` directions at once).
Primal values are unchanged. NumPy broadcasting aligns shapes from the right, so
elementwise ops need only a trailing axis on their primal array operands; ops
that name axes (reductions, reshapes, broadcasts, transposes, diagonals,
gathers, matrix products, concatenation) have one rule each. A tangent of rank
`r` is an array of rank `r + 1`; the batch size is read from the arrays at run
time (`_b*` helpers of the NumPy runtime), never fixed in the source.

An op without a rule raises `NotImplementedError`; the caller then keeps the
one-direction-per-call Jacobian.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .ops import (
    AsArray,
    AsFloat,
    Bin,
    BoolToFloat,
    Broadcast,
    Concat,
    Diagonal,
    Fn,
    Index,
    Int,
    Lit,
    Matmul,
    Neg,
    Op,
    Permute,
    Pos,
    Reshape,
    StackScalars,
    Sum,
    Take,
    Var,
    VecSum,
    Where,
    Zeros,
)

__all__ = ["Batch", "batch_op", "runtime"]


@dataclass(frozen=True)
class Batch(Op):
    """A runtime helper of batched tangents: `_b<fn>(args..., arg)`."""

    fn: str
    args: tuple[Op, ...]
    arg: Any = None

    def emit(self, write: Callable[[Op], str]) -> str:
        parts = [write(a) for a in self.args]
        if self.arg is not None:
            parts.append(repr(self.arg))
        return f"_b{self.fn}({', '.join(parts)})"


def _ex(op: Op, batched: bool) -> Op:
    """A primal operand next to a tangent: its arrays get the trailing axis."""
    if batched or isinstance(op, (Lit, Int)):
        return op
    return Batch("ex", (op,))


def _shift(axis: int) -> int:
    """An axis counted from the end moves one further left past the batch axis."""
    return axis - 1 if axis < 0 else axis


def batch_op(
    op: Op, is_batched: Callable[[str], bool], memo: dict[int, tuple[Op, Op, bool]]
) -> tuple[Op, bool]:
    """`op` rewritten for batched tangents, and whether its value is batched."""
    hit = memo.get(id(op))
    if hit is not None and hit[0] is op:
        return hit[1], hit[2]
    got = _rule(op, is_batched, memo)
    memo[id(op)] = (op, *got)  # the op itself is kept, so its id is not reused
    return got


def _rule(
    op: Op, is_batched: Callable[[str], bool], memo: dict[int, tuple[Op, Op, bool]]
) -> tuple[Op, bool]:
    def go(x: Op) -> tuple[Op, bool]:
        return batch_op(x, is_batched, memo)

    if isinstance(op, Var):
        return op, is_batched(op.name)
    if isinstance(op, (Lit, Int, Zeros)):
        return op, False
    if isinstance(op, Batch):
        return op, True
    if isinstance(op, Bin):
        (a, ba), (b, bb) = go(op.a), go(op.b)
        if not (ba or bb):
            return (
                (op, False) if (a is op.a and b is op.b) else (Bin(op.op, a, b), False)
            )
        return Bin(op.op, _ex(a, ba), _ex(b, bb)), True
    if isinstance(op, (Neg, Pos, AsArray, AsFloat, BoolToFloat)):
        a, ba = go(op.a)
        return _same(op, a), ba
    if isinstance(op, Fn):  # elementwise
        kids = [go(x) for x in op.args]
        if not any(b for _, b in kids):
            return Fn(op.name, tuple(x for x, _ in kids)), False
        return Fn(op.name, tuple(_ex(x, b) for x, b in kids)), True
    if isinstance(op, Where):
        kids = [go(x) for x in (op.cond, op.a, op.b)]
        if not any(b for _, b in kids):
            (c, _), (a, _), (b, _) = kids
            return Where(c, a, b, scalars=op.scalars), False
        cond, a, b = (_ex(x, bx) for x, bx in kids)
        return Where(cond, a, b), True
    if (
        isinstance(op, Sum)
        and isinstance(op.a, Bin)
        and op.a.op == "*"
        and isinstance(op.axis, int)
        and not op.keepdims
    ):
        # a contraction (`sum_over(j, C[age, j] * dI[j])`): one matrix product
        (a, ba), (b, bb) = go(op.a.a), go(op.a.b)
        if ba != bb:
            return Batch("dot", (a, b) if ba else (b, a), op.axis), True
    # ops that name axes: only their array operand may be batched
    if isinstance(
        op, (Index, Take, Reshape, Broadcast, Permute, Diagonal, Sum, VecSum)
    ):
        a, ba = go(op.a)
        if isinstance(op, Take):
            idx, bi = go(op.idx)
            if bi:
                raise NotImplementedError("a gather at tangent positions")
            if not ba:
                return Take(a, idx, op.axis), False
            if op.axis is None:
                return Batch("take", (a, idx)), True
            return Take(a, idx, _shift(op.axis)), True
        if not ba:
            return _same(op, a), False
        return _batched_axes(op, a), True
    if isinstance(op, Matmul):
        (a, ba), (b, bb) = go(op.a), go(op.b)
        if ba and bb:
            raise NotImplementedError("a product of two tangents")
        if not (ba or bb):
            return Matmul(a, b), False
        return Batch("matmul_a" if ba else "matmul_b", (a, b)), True
    if isinstance(op, Concat):
        kids = [go(x) for x in op.parts]
        if not any(b for _, b in kids):
            return Concat(tuple(x for x, _ in kids)), False
        return Batch(
            "concat", tuple(x for x, _ in kids), tuple(b for _, b in kids)
        ), True
    if isinstance(op, StackScalars):
        kids = [go(x) for x in op.parts]
        if not any(b for _, b in kids):
            return StackScalars(tuple(x for x, _ in kids), op.state_dtype), False
        return Batch("stack", tuple(x for x, _ in kids)), True
    raise NotImplementedError(f"no batching rule for {type(op).__name__}")


def _same(op: Op, a: Op) -> Op:
    """`op` with its operand `a` (rewritten, unbatched)."""
    return op if a is op.a else replace(op, a=a)  # type: ignore[attr-defined, call-arg]


def _batched_axes(op: Op, a: Op) -> Op:
    """`op` of a batched operand `a`: the batch axis stays last."""
    if isinstance(op, Index):  # basic indexing of the leading axes
        return Index(a, op.items)
    if isinstance(op, Reshape):
        return Reshape(a, (*op.shape, -1))
    if isinstance(op, Broadcast):
        return Batch("bcast", (a,), op.shape)
    if isinstance(op, Permute):
        return Permute(a, (*op.axes, len(op.axes)))
    if isinstance(op, Diagonal):
        return Batch("diagonal", (a,), (_shift(op.axis1), _shift(op.axis2)))
    if isinstance(op, VecSum):
        return Sum(a, 0)
    assert isinstance(op, Sum)
    if op.axis is None:
        if op.keepdims:
            raise NotImplementedError("a full sum with keepdims")
        return Batch("sumall", (a,))
    axis = (
        tuple(_shift(x) for x in op.axis)
        if isinstance(op.axis, tuple)
        else _shift(op.axis)
    )
    return Sum(a, axis, op.keepdims)


def runtime() -> dict[str, Callable[..., Any]]:
    """The `_b*` helpers a batched NumPy program calls (see `Batch`)."""

    def _bex(x: Any) -> Any:
        return x[..., None] if getattr(x, "ndim", 0) else x

    def _bbcast(x: Any, shape: tuple[int, ...]) -> Any:
        return np.broadcast_to(x, (*shape, x.shape[-1]))

    def _bdiagonal(x: Any, axes: tuple[int, int]) -> Any:
        return np.swapaxes(np.diagonal(x, 0, *axes), -1, -2)

    def _bsumall(x: Any) -> Any:
        return x.reshape(-1, x.shape[-1]).sum(axis=0)

    def _btake(x: Any, idx: Any) -> Any:
        return x.reshape(-1, x.shape[-1])[idx]

    def _bmatmul_b(a: Any, b: Any) -> Any:  # a primal, b a batch of tangents
        if b.ndim == 2:
            return a @ b
        return np.moveaxis(a @ np.moveaxis(b, -1, 0), 0, -1)

    def _bmatmul_a(a: Any, b: Any) -> Any:  # a a batch of tangents, b primal
        return np.moveaxis(np.moveaxis(a, -1, 0) @ b, 0, -1)

    def _bdot(a: Any, b: Any, axis: int) -> Any:
        # the sum over primal `axis` of a * b: a a batch (trailing axis), b primal
        b = np.asarray(b)
        r = max(a.ndim - 1, b.ndim)
        a = a.reshape((1,) * (r + 1 - a.ndim) + a.shape)
        b = b.reshape((1,) * (r - b.ndim) + b.shape)
        ax = axis % r
        a = np.moveaxis(a, ax, -2)  # (..., j, k)
        b = np.moveaxis(b, ax, -1)  # (..., j)
        if all(d == 1 for d in a.shape[:-2]):  # one matrix product
            out = b @ a.reshape(a.shape[-2:])
            lead = np.broadcast_shapes(b.shape[:-1], a.shape[:-2])
            return out.reshape((*lead, out.shape[-1]))
        return (b[..., None, :] @ a)[..., 0, :]

    def _bconcat(*args: Any) -> Any:
        *parts, flags = args
        k = next(p.shape[-1] for p, f in zip(parts, flags) if f)
        return np.concatenate(
            [
                p
                if f
                else np.broadcast_to(
                    np.asarray(p, dtype=np.float64)[..., None], (*np.shape(p), k)
                )
                for p, f in zip(parts, flags)
            ]
        )

    def _bstack(*parts: Any) -> Any:
        k = next(np.shape(p)[-1] for p in parts if np.ndim(p))
        return np.stack([np.broadcast_to(p, (k,)) for p in parts]).astype(
            np.float64, copy=False
        )

    return {
        "_bex": _bex,
        "_bbcast": _bbcast,
        "_bdiagonal": _bdiagonal,
        "_bsumall": _bsumall,
        "_btake": _btake,
        "_bmatmul_a": _bmatmul_a,
        "_bmatmul_b": _bmatmul_b,
        "_bconcat": _bconcat,
        "_bdot": _bdot,
        "_bstack": _bstack,
    }
