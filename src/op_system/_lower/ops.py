"""Array operations: the typed IR between the bound expressions and source text.

The lowering (`_lower/lowerer.py`, `_lower/tangent.py`) builds values as trees of these
nodes; an `Emitter` turns a tree into source text for one namespace family.
The nodes are the operations the generated code performs: variables and
literals, elementwise arithmetic, comparisons and functions, `where`, casts,
basic indexing (slices), gathers (`take`), reshapes, broadcasts, transposes,
diagonals, reductions, matrix products, concatenation and stacking.

Rewrites that only need the tree live in the constructors below (`reshape`
skips no-op and chained reshapes; `gather` turns evenly spaced indices into a
slice). What differs between namespaces is decided by the emitter, never by
the lowering: NumPy reduces vectors with its ufunc and turns booleans into
floats with `where`; the Array API family (JAX, and any namespace following
the standard) uses `sum` and `astype`.

>>> e = NUMPY
>>> x = Var("x")
>>> e.text(Bin("*", Lit(2.0), reshape(x, (3, 1), before=(3,))))
'(2.0 * _reshape(x, (3, 1)))'
>>> e.text(VecSum(x)), ARRAY_API.text(VecSum(x))
('_add_reduce(x)', '_sum(x)')
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "ARRAY_API",
    "NUMPY",
    "AsArray",
    "AsFloat",
    "AtAdd",
    "Attr",
    "Bin",
    "BoolToFloat",
    "Broadcast",
    "Concat",
    "Const",
    "Diagonal",
    "Emitter",
    "Fn",
    "Index",
    "Int",
    "Key",
    "Lit",
    "Matmul",
    "Neg",
    "Op",
    "Permute",
    "Pos",
    "Reshape",
    "Span",
    "StackScalars",
    "Sum",
    "Take",
    "Tup",
    "Var",
    "VecSum",
    "Where",
    "Zeros",
    "emitter_for",
    "gather",
    "implicit_reads",
    "index_of",
    "is_atom",
    "permute",
    "reshape",
]

#: binary operators: arithmetic and comparisons, emitted infix and parenthesized
BinOpName = Literal["+", "-", "*", "/", "**", "%", "<", "<=", ">", ">=", "==", "!="]


@dataclass(frozen=True)
class Op:
    """A node of the array-op IR (immutable; its source text is cached per family)."""

    _memo: Any = field(default=None, init=False, repr=False, compare=False)


@dataclass(frozen=True)
class Var(Op):
    """A variable of the generated function: an input (`t`, `y`, a tangent `v`),
    a parameter, a constant table or a temporary."""

    name: str


@dataclass(frozen=True)
class Lit(Op):
    """A numeric or boolean literal (numbers are always written as floats)."""

    value: float | int | bool


@dataclass(frozen=True)
class Int(Op):
    """An integer literal written as one (compared with, not computed with)."""

    value: int


@dataclass(frozen=True)
class Neg(Op):
    a: Op


@dataclass(frozen=True)
class Pos(Op):
    a: Op


@dataclass(frozen=True)
class Bin(Op):
    """An elementwise binary operator (arithmetic or comparison), broadcasting."""

    op: BinOpName | str
    a: Op
    b: Op


@dataclass(frozen=True)
class Fn(Op):
    """An elementwise function of the namespace (`exp`, `maximum`, `logical_and`, ...)."""

    name: str
    args: tuple[Op, ...]


@dataclass(frozen=True)
class Where(Op):
    """`a` where `cond`, else `b`; `scalars`: both branches are Python scalars."""

    cond: Op
    a: Op
    b: Op
    scalars: bool = False


@dataclass(frozen=True)
class AsArray(Op):
    """A Python scalar as an array of the state's dtype (the Array API forbids
    `where` with two scalar branches)."""

    a: Op


@dataclass(frozen=True)
class AsFloat(Op):
    """A value cast to the state's dtype."""

    a: Op


@dataclass(frozen=True)
class BoolToFloat(Op):
    """A boolean array as 0.0 / 1.0."""

    a: Op


@dataclass(frozen=True)
class Span:
    """A slice `start:stop:step` of basic indexing (None: omitted)."""

    start: int | None = None
    stop: int | None = None
    step: int | None = None

    def text(self) -> str:
        s = f"{'' if self.start is None else self.start}:{'' if self.stop is None else self.stop}"
        return s if self.step is None else f"{s}:{self.step}"


@dataclass(frozen=True)
class Index(Op):
    """Indexing `a[i, j:k, ...]`: integers and slices (a view, no copy), or an
    index array (a gather, or where a statement stores)."""

    a: Op
    items: tuple[int | Span | Op, ...]


@dataclass(frozen=True)
class Take(Op):
    """A gather along one axis (all of a flattened array when `axis` is None)."""

    a: Op
    idx: Op
    axis: int | None = None


@dataclass(frozen=True)
class Reshape(Op):
    """`a` reshaped to `shape`; `before` is `a`'s shape when known (for `reshape`)."""

    a: Op
    shape: tuple[int, ...]
    before: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Broadcast(Op):
    a: Op
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Permute(Op):
    a: Op
    axes: tuple[int, ...]


@dataclass(frozen=True)
class Diagonal(Op):
    """The diagonal of axes `axis1` and `axis2`, which becomes the last axis."""

    a: Op
    axis1: int
    axis2: int


@dataclass(frozen=True)
class Sum(Op):
    """A sum over an axis (or several), or over everything when `axis` is None."""

    a: Op
    axis: int | tuple[int, ...] | None = None
    keepdims: bool = False


@dataclass(frozen=True)
class VecSum(Op):
    """The sum of a vector (NumPy: its ufunc reduction, without `np.sum`'s wrapper)."""

    a: Op


@dataclass(frozen=True)
class Matmul(Op):
    a: Op
    b: Op


@dataclass(frozen=True)
class Concat(Op):
    parts: tuple[Op, ...]


@dataclass(frozen=True)
class Zeros(Op):
    """An array of zeros of the state's dtype."""

    shape: tuple[int, ...]


@dataclass(frozen=True)
class StackScalars(Op):
    """Scalars stacked into a vector, of the state's dtype (`state_dtype`) or as they are."""

    parts: tuple[Op, ...]
    state_dtype: bool = True


# -- the program around the values (reads, checks, helper calls) -------------------


@dataclass(frozen=True)
class Const(Op):
    """A Python constant written as its `repr` (a shape, a name, a tuple of names,
    None): an argument of a runtime helper, never an array value."""

    value: object


@dataclass(frozen=True)
class Key(Op):
    """A mapping read by key: `params['beta']`."""

    a: Op
    key: str


@dataclass(frozen=True)
class Attr(Op):
    """An attribute: `y.shape`, `y.dtype`, `x.__class__`."""

    a: Op
    name: str


@dataclass(frozen=True)
class Tup(Op):
    """A tuple of values (what `prep` returns)."""

    parts: tuple[Op, ...]


@dataclass(frozen=True)
class AtAdd(Op):
    """`a` with `value` added at `index` (JAX's functional `a.at[index].add(value)`)."""

    a: Op
    index: Op | Span | int
    value: Op


# -- rewrites ---------------------------------------------------------------------


def reshape(
    a: Op,
    new: tuple[int, ...],
    cur: tuple[int, ...] | None = None,
    *,
    before: tuple[int, ...] | None = None,
) -> Op:
    """`a` reshaped to `new`: nothing when `cur == new`, and a reshape of a
    reshape reshapes the original (whose shape `before` records) once."""
    if cur is not None and cur == new:
        return a
    if isinstance(a, Reshape) and a.before is not None:
        return a.a if a.before == new else Reshape(a.a, new)
    return Reshape(a, new, before)


def permute(a: Op, axes: tuple[int, ...]) -> Op:
    """`a` with its axes in the order `axes`: a permutation of a permutation is
    one, and the identity is nothing."""
    if isinstance(a, Permute):
        inner = a
        a, axes = inner.a, tuple(inner.axes[i] for i in axes)
    return a if axes == tuple(range(len(axes))) else Permute(a, axes)


def index_of(idx: list[int], table: Callable[[list[int]], Op]) -> int | Span | Op:
    """An index for positions `idx` of a vector: one integer, a slice when evenly
    spaced, else the index array `table(idx)` (a constant of the function)."""
    if len(idx) == 1:
        return idx[0]
    step = idx[1] - idx[0]
    if step > 0 and all(b - a == step for a, b in itertools.pairwise(idx)):
        return Span(idx[0], idx[-1] + 1, step if step != 1 else None)
    return table(idx)


def gather(vec: Op, idx: list[int], table: Callable[[list[int]], Op]) -> Op:
    """Positions `idx` of vector `vec`: a slice (a view) where the indices are affine."""
    got = index_of(idx, table)
    if isinstance(got, Op):
        return Take(vec, got)
    return Index(vec, (got,))


def is_atom(text: str) -> bool:
    """Whether emitted text is a name or an unsigned decimal (never worth a temporary)."""
    return text.isidentifier() or text.replace(".", "", 1).isdigit()


#: comparison operators (Python's, which bind tighter than `and`/`or`)
_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!=", "is", "is not"})

# -- emitters ---------------------------------------------------------------------


def _num_text(value: float | int | bool) -> str:
    """A literal: booleans as `True`/`False`; numbers always as floats (integer
    literals would switch NumPy functions to integer arithmetic), parenthesized
    when negative."""
    if isinstance(value, bool):
        return repr(value)
    v = float(value)
    if math.isnan(v):
        return "_NAN"
    if math.isinf(v):
        return "_INF" if v > 0 else "(-_INF)"
    return repr(v) if v >= 0 else f"({v!r})"


class Emitter:
    """Source text of op trees for the Array API family (JAX, array-api-strict, ...).

    The text of every node is cached on the node, so a tree shared by several
    statements is written out once.
    """

    family: ClassVar[str] = "array_api"

    def text(self, op: Op) -> str:
        memo = op._memo
        if memo is not None and memo[0] == self.family:
            return str(memo[1])
        got = self._text(op)
        object.__setattr__(op, "_memo", (self.family, got))
        return got

    def _args(self, *ops: Op) -> str:
        return ", ".join(self.text(o) for o in ops)

    def _text(self, op: Op) -> str:
        t = self.text
        if isinstance(op, Var):
            return op.name
        if isinstance(op, Lit):
            return _num_text(op.value)
        if isinstance(op, Bin) and op.op in ("and", "or"):
            # comparisons bind tighter than `and`/`or`: no parentheses needed
            return f"({self._operand(op.a)} {op.op} {self._operand(op.b)})"
        if isinstance(op, Bin):
            return f"({t(op.a)} {op.op} {t(op.b)})"
        if isinstance(op, Neg):
            return f"(-{t(op.a)})"
        if isinstance(op, Pos):
            return f"(+{t(op.a)})"
        if isinstance(op, Fn):
            return f"_{op.name}({self._args(*op.args)})"
        if isinstance(op, Int):
            return str(op.value)
        if isinstance(op, Where):
            return self.where(op)
        if isinstance(op, AsArray):
            return f"_asarray({t(op.a)}, dtype=y.dtype)"
        if isinstance(op, AsFloat):
            return f"_astype({t(op.a)}, y.dtype)"
        if isinstance(op, BoolToFloat):
            return self.bool_to_float(op)
        if isinstance(op, Index):
            return f"{t(op.a)}[{', '.join(self.item(i) for i in op.items)}]"
        if isinstance(op, Take):
            axis = "" if op.axis is None else f", axis={op.axis}"
            return f"_take({t(op.a)}, {t(op.idx)}{axis})"
        if isinstance(op, Reshape):
            return f"_reshape({t(op.a)}, {op.shape})"
        if isinstance(op, Broadcast):
            return f"_bcast({t(op.a)}, {op.shape})"
        if isinstance(op, Permute):
            return f"_permute_dims({t(op.a)}, {op.axes})"
        if isinstance(op, Diagonal):
            return f"_diagonal({t(op.a)}, 0, {op.axis1}, {op.axis2})"
        if isinstance(op, Sum):
            args = [t(op.a)]
            if op.axis is not None:
                args.append(f"axis={op.axis}")
            if op.keepdims:
                args.append("keepdims=True")
            return f"_sum({', '.join(args)})"
        if isinstance(op, VecSum):
            return self.vec_sum(op)
        if isinstance(op, Matmul):
            return f"_matmul({self._args(op.a, op.b)})"
        if isinstance(op, Concat):
            return f"_concat([{self._args(*op.parts)}])"
        if isinstance(op, Zeros):
            return f"_zeros({op.shape}, dtype=y.dtype)"
        if isinstance(op, StackScalars):
            dtype = "y.dtype" if op.state_dtype else "None"
            return f"_stack_scalars([{self._args(*op.parts)}], {dtype})"
        if isinstance(op, Const):
            return repr(op.value)
        if isinstance(op, Key):
            return f"{t(op.a)}[{op.key!r}]"
        if isinstance(op, Attr):
            return f"{t(op.a)}.{op.name}"
        if isinstance(op, Tup):
            return f"({''.join(t(p) + ', ' for p in op.parts)})"
        if isinstance(op, AtAdd):
            return f"{t(op.a)}.at[{self.item(op.index)}].add({t(op.value)})"
        emit = getattr(op, "emit", None)  # an op defined by a later stage (`_batch`)
        if emit is not None:
            return str(emit(self.text))
        raise TypeError(f"not an array op: {op!r}")  # pragma: no cover

    def _operand(self, op: Op) -> str:
        """An operand of `and`/`or`: a comparison without its parentheses."""
        text = self.text(op)
        if isinstance(op, Bin) and op.op in _COMPARISONS:
            return text[1:-1]
        return text

    def item(self, i: int | Span | Op) -> str:
        """One item of an index: an integer, a slice or an index array."""
        if isinstance(i, Span):
            return i.text()
        return str(i) if isinstance(i, int) else self.text(i)

    def bool_to_float(self, op: BoolToFloat) -> str:
        return f"_astype({self.text(op.a)}, y.dtype)"

    def where(self, op: Where) -> str:
        # the standard's `where` takes at most one Python scalar
        a = AsArray(op.a) if op.scalars else op.a
        return f"_where({self._args(op.cond, a, op.b)})"

    def vec_sum(self, op: VecSum) -> str:
        return f"_sum({self.text(op.a)})"


def implicit_reads(op: Op) -> tuple[str, ...]:
    """Variables an op's printed text reads besides its operands: the emitters
    write the state's dtype as `y.dtype` (see `Emitter.text`)."""
    if isinstance(op, (AsArray, AsFloat, BoolToFloat, Zeros)):
        return ("y",)
    if isinstance(op, StackScalars) and op.state_dtype:
        return ("y",)
    if isinstance(op, Where) and op.scalars:
        return ("y",)
    return ()


class NumpyEmitter(Emitter):
    """NumPy: vectors reduced by the ufunc, booleans made floats by `where`."""

    family: ClassVar[str] = "numpy"

    def bool_to_float(self, op: BoolToFloat) -> str:
        return f"_where({self.text(op.a)}, 1.0, 0.0)"

    def where(self, op: Where) -> str:
        return f"_where({self._args(op.cond, op.a, op.b)})"

    def vec_sum(self, op: VecSum) -> str:
        return f"_add_reduce({self.text(op.a)})"


NUMPY: Emitter = NumpyEmitter()
ARRAY_API: Emitter = Emitter()


def emitter_for(backend_name: str) -> Emitter:
    """The emitter of a backend's namespace family."""
    return NUMPY if backend_name == "numpy" else ARRAY_API
