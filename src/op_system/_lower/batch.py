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

When the directions are the identity (every column of the Jacobian its own
color: `Identity`, `lower_model(mode="jacobian")`), a state block's tangent is a
known slice of it: each position selects one column. The rules then keep the
few entries that are not zero apart instead of carrying `n` dense columns
(`_identity_runtime`): a contraction of such a tangent with a primal array
(`sum_over(j, C[a, j] * I[j])`) places the primal's entries into their columns
(`_bplace`, O(size) work where the matrix product is O(size * n)); the tangent
times a primal is a diagonal (`_bdiag`); the sum of such a tangent
(`sum_state()`) is the 0/1 indicator of its columns, and a primal times the
indicator of all columns that primal repeated (`_bfill`, the rank-one term of a
dependence on the total). Primal factors scale the placed entries or the
repeated primal, and a sum adds placed or diagonal entries into the other
operand when that is a new array (`_baddplace`, `_badddiag`). Each gives the
value of the dense product wherever every value is finite.
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
    Span,
    StackScalars,
    Sum,
    Take,
    Var,
    VecSum,
    Where,
    Zeros,
)

__all__ = ["Batch", "Identity", "batch_op", "runtime"]


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


@dataclass(frozen=True)
class Identity:
    """Directions that are the identity of `n` columns: `cols` maps a variable
    holding a tangent of such directions to the column each of its positions
    selects (an integer array of the variable's primal shape)."""

    n: int
    cols: dict[str, Any]

    def of(self, op: Op) -> Any:
        """The columns `op`'s positions select, if `op` is a view of a variable
        in `cols` (reshaped, sliced, permuted or broadcast), else None."""
        if isinstance(op, Var):
            return self.cols.get(op.name)
        if not isinstance(op, (Reshape, Index, Permute, Broadcast)):
            return None
        inner = self.of(op.a)
        if inner is None:
            return None
        if isinstance(op, Reshape):
            return inner.reshape(op.shape)
        if isinstance(op, Permute):
            return inner.transpose(op.axes)
        if isinstance(op, Broadcast):
            return np.broadcast_to(inner, op.shape)
        items: list[slice | int] = []
        for x in op.items:
            if isinstance(x, Span):
                items.append(slice(x.start, x.stop, x.step))
            elif isinstance(x, int):
                items.append(x)
            else:
                return None  # an index array
        return inner[tuple(items)]

    def placement(self, op: Op, axis: int) -> tuple[int, int, tuple[int, ...]] | None:
        """`(start, size, rest)` when the columns of `op` run `start, start + 1,
        ...` along `axis` (counted from the end) and do not change along its other
        axes (of shape `rest`): a contraction over `axis` then places its other
        operand's entries into those columns."""
        cols = self.of(op)
        if cols is None or not cols.size or axis >= 0 or cols.ndim < -axis:
            return None
        moved = np.moveaxis(cols, axis, -1)
        first = moved.reshape(-1, moved.shape[-1])[0]
        start, size = int(first[0]), first.size
        if not np.array_equal(first, np.arange(start, start + size)):
            return None
        if not np.all(moved == first):
            return None
        return start, size, moved.shape[:-1]

    def start_of(self, op: Op) -> int | None:
        """`start` when `op` selects the columns `start, start + 1, ...` in the
        order of its positions (a block's own tangent, or a slice of it)."""
        cols = self.of(op)
        if cols is None or not cols.size:
            return None
        flat = cols.reshape(-1)
        start = int(flat[0])
        return (
            start if np.array_equal(flat, np.arange(start, start + flat.size)) else None
        )

    def span(self, op: Op) -> tuple[int, int] | None:
        """`(start, stop)` when `op` selects the columns `start:stop`, each once."""
        cols = self.of(op)
        if cols is None or not cols.size:
            return None
        flat = np.sort(cols.reshape(-1))
        start = int(flat[0])
        if not np.array_equal(flat, np.arange(start, start + flat.size)):
            return None
        return start, start + flat.size


def _ex(op: Op, batched: bool) -> Op:
    """A primal operand next to a tangent: its arrays get the trailing axis."""
    if batched or isinstance(op, (Lit, Int)):
        return op
    return Batch("ex", (op,))


def _shift(axis: int) -> int:
    """An axis counted from the end moves one further left past the batch axis."""
    return axis - 1 if axis < 0 else axis


def batch_op(
    op: Op,
    is_batched: Callable[[str], bool],
    memo: dict[int, tuple[Op, Op, bool]],
    eye: Identity | None = None,
) -> tuple[Op, bool]:
    """`op` rewritten for batched tangents, and whether its value is batched
    (`eye`: the directions are the identity, see `Identity`)."""
    hit = memo.get(id(op))
    if hit is not None and hit[0] is op:
        return hit[1], hit[2]
    got = _rule(op, is_batched, memo, eye)
    memo[id(op)] = (op, *got)  # the op itself is kept, so its id is not reused
    return got


def _rule(
    op: Op,
    is_batched: Callable[[str], bool],
    memo: dict[int, tuple[Op, Op, bool]],
    eye: Identity | None,
) -> tuple[Op, bool]:
    def go(x: Op) -> tuple[Op, bool]:
        return batch_op(x, is_batched, memo, eye)

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
        if eye is not None and ba != bb and op.op in ("*", "/"):
            got = _identity_product(op, (a, b) if ba else (b, a), ba, eye)
            if got is not None:
                return got, True
        if eye is not None and ba and bb and op.op in ("+", "-"):
            got = _add_sparse(op.op, a, b)
            if got is not None:
                return got, True
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
        # a contraction (`sum_over(j, C[age, j] * dI[j])`): one matrix product,
        # or with identity directions a placement of the primal operand
        (a, ba), (b, bb) = go(op.a.a), go(op.a.b)
        if ba != bb:
            place = (
                None
                if eye is None
                else eye.placement(op.a.a if ba else op.a.b, op.axis)
            )
            if place is not None:
                start, size, rest = place
                spec = (op.axis, start, size, eye.n, rest)  # type: ignore[union-attr]
                return Batch("place", (b if ba else a,), spec), True
            return Batch("dot", (a, b) if ba else (b, a), op.axis), True
    if (
        eye is not None
        and (isinstance(op, VecSum) or (isinstance(op, Sum) and op.axis is None))
        and not getattr(op, "keepdims", False)
    ):
        # the sum of an identity tangent: the indicator of its columns
        span = eye.span(op.a)
        if span is not None:
            return Batch("indicator", (), (*span, eye.n)), True
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


def _identity_product(
    op: Bin, pair: tuple[Op, Op], left: bool, eye: Identity
) -> Op | None:
    """`op` (`*` or `/`) of a batch `x` and a primal `p` (`pair`; `left`: `x` is
    the left operand) where identity directions give `x` a structure to keep: the
    primal factor is applied to the few entries that are not zero (exactly what
    the full product gives, where every value is finite)."""
    x, p = pair
    if not left and op.op == "/":
        return None
    if isinstance(x, Batch) and x.fn == "place" and x.arg[0] == -1:
        # a placement: scale the placed entries
        scaled = Bin(op.op, x.args[0], _ex(p, False))
        return Batch("place", (scaled,), x.arg)
    if isinstance(x, Batch) and x.fn == "fill":  # scale the repeated primal
        q = x.args[0]
        return Batch("fill", (Bin(op.op, q, p) if left else Bin(op.op, p, q),), x.arg)
    if isinstance(x, Batch) and x.fn == "indicator" and op.op == "*":
        return _times_indicator(p, x)
    if (
        isinstance(x, Bin)
        and x.op == "*"
        and (_is_indicator(x.a) or _is_indicator(x.b))
    ):
        # a primal times an indicator (a tangent: the other factor is primal):
        # scale the primal
        q, ind = (x.b, x.a) if _is_indicator(x.a) else (x.a, x.b)
        assert isinstance(ind, Batch)
        q = q.args[0] if isinstance(q, Batch) and q.fn == "ex" else q
        return _times_indicator(Bin(op.op, q, p) if left else Bin(op.op, p, q), ind)
    if op.op == "*":
        start = eye.start_of(op.a if left else op.b)
        if start is not None:  # an identity tangent times a primal: a diagonal
            return Batch("diag", (x, p), (start, eye.n))
    return None


#: helpers that return a new array (which a sum may overwrite)
_NEW = ("fill", "place", "diag", "addplace", "adddiag")


def _add_sparse(sign: str, a: Op, b: Op) -> Op | None:
    """`a + b` or `a - b` of two batches, one of them placed or diagonal entries
    (`_bplace`, `_bdiag`): those entries added into the other, dense one, when
    that is a new array (an arithmetic result) the sum may overwrite."""
    b_sparse = isinstance(b, Batch) and b.fn in ("place", "diag")
    if not b_sparse and not (isinstance(a, Batch) and a.fn in ("place", "diag")):
        return None
    x, s = (a, b) if b_sparse else (b, a)
    assert isinstance(s, Batch)
    if not b_sparse and sign == "-":  # s - x: -x is new
        if isinstance(x, Batch) and x.fn == "fill":
            x = Batch("fill", (Neg(x.args[0]),), x.arg)
        else:
            x = Neg(x)
        sign = "+"
    elif not (
        isinstance(x, Neg)
        or (isinstance(x, Bin) and x.op in ("+", "-", "*", "/"))
        or (isinstance(x, Batch) and x.fn in _NEW)
    ):
        return None
    return Batch(f"add{s.fn}", (x, *s.args), (*s.arg, sign == "+"))


def _times_indicator(q: Op, ind: Batch) -> Op:
    """The primal `q` times the indicator `ind` of some columns: with all `n`
    columns, `q` repeated along the batch axis."""
    start, stop, n = ind.arg
    if (start, stop) == (0, n):
        return Batch("fill", (q,), n)
    return Bin("*", _ex(q, False), ind)


def _is_indicator(op: Op) -> bool:
    return isinstance(op, Batch) and op.fn == "indicator"


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
        j = max(a.shape[-2], b.shape[-1])  # one of them may not vary along j
        if b.shape[-1] != j:
            b = np.broadcast_to(b, (*b.shape[:-1], j))
        if a.shape[-2] != j:
            a = np.broadcast_to(a, (*a.shape[:-2], j, a.shape[-1]))
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
        **_identity_runtime(),
    }


def _summed_last(b: Any, axis: int) -> Any:
    """`b` as float64 with the summed `axis` (negative) moved last, leading
    axes of length one added where it has fewer."""
    b = np.asarray(b, dtype=np.float64)
    if b.ndim < -axis:
        b = b.reshape((1,) * (-axis - b.ndim) + b.shape)
    return b if axis == -1 else np.moveaxis(b, axis, -1)


def _identity_runtime() -> dict[str, Callable[..., Any]]:
    """The helpers of a program for identity directions (see `Identity`): the
    tangents' few entries that are not zero written into zeros, or into a new
    array holding the rest of a sum."""

    def _bplace(b: Any, spec: tuple[Any, ...]) -> Any:
        # the sum over `axis` of b times identity tangents selecting columns
        # `start:start + size` along it (see `Identity.placement`)
        axis, start, size, n, rest = spec
        b = _summed_last(b, axis)
        lead = b.shape[:-1]
        if len(lead) < len(rest) or rest.count(1) != len(rest):
            lead = np.broadcast_shapes(lead, rest)
        out = np.zeros((*lead, n))
        out[..., start : start + size] = b
        return out

    def _bdiag(x: Any, p: Any, spec: tuple[int, int]) -> Any:
        # `x * p[..., None]` for `x` the identity tangents of columns `start, ...`
        # (one per position of x, in order): p on those entries, zeros elsewhere
        start, n = spec
        shape = x.shape[:-1]
        if np.ndim(p):
            if p.shape != shape:
                if np.broadcast_shapes(p.shape, shape) != shape:
                    return x * p[..., None]
                p = np.broadcast_to(p, shape)
            p = p.reshape(-1)
        out = np.zeros(x.shape)
        size = out.size // n
        out.reshape(-1)[start : start + size * (n + 1) : n + 1] = p  # the diagonal
        return out

    def _badddiag(x: Any, t: Any, p: Any, spec: tuple[int, int, bool]) -> Any:
        # `x ± _bdiag(t, p)`, written into x (a new array) where shapes allow
        start, n, plus = spec
        if (
            x.shape != t.shape
            or not x.flags.c_contiguous  # its diagonal is then no flat view
            or (np.ndim(p) and p.shape != x.shape[:-1])
        ):
            d = _bdiag(t, p, (start, n))
            return x + d if plus else x - d
        diagonal = x.reshape(-1)[start : start + (x.size // n) * (n + 1) : n + 1]
        p = p.reshape(-1) if np.ndim(p) else p
        if plus:
            diagonal += p
        else:
            diagonal -= p
        return x

    def _baddplace(x: Any, b: Any, spec: tuple[Any, ...]) -> Any:
        # `x ± _bplace(b)`, written into x (a new array) where shapes allow
        *place, plus = spec
        axis, start, size, n, rest = place
        b = _summed_last(b, axis)
        if (
            b.ndim > x.ndim
            or len(rest) >= x.ndim
            or rest.count(1) != len(rest)
            or x.shape[-1] != n
        ):
            d = _bplace(b, (-1, start, size, n, rest))
            return x + d if plus else x - d
        block = x[..., start : start + size]
        try:  # in place, unless b would make the sum larger than x
            if plus:
                block += b
            else:
                block -= b
        except ValueError:
            d = _bplace(b, (-1, start, size, n, rest))
            return x + d if plus else x - d
        return x

    def _bfill(q: Any, n: int) -> Any:
        # q repeated along a batch axis of n entries (a new array)
        q = np.asarray(q, dtype=np.float64)
        out = np.empty((*q.shape, n))
        out[...] = q[..., None]
        return out

    def _bindicator(spec: tuple[int, int, int]) -> Any:
        start, stop, n = spec
        out = np.zeros(n)
        out[start:stop] = 1.0
        return out

    return {
        "_bplace": _bplace,
        "_bindicator": _bindicator,
        "_bdiag": _bdiag,
        "_bfill": _bfill,
        "_badddiag": _badddiag,
        "_baddplace": _baddplace,
    }
