"""Lower a `Model`'s expressions to vectorized array code (`_Lowerer`).

The values of aliases, equations and rates, re-rolled groups of scalar cells
and common subexpressions are lowered here; `_lower/flows.py` places flows into
blocks, `_lower/tangent.py` differentiates, and `_lower/codegen.py` assembles the whole
generated function.

Every templated quantity is an array over its axes; an expression in a scope
of named dimensions (template placeholders, then reduction variables) is an
array of rank `len(scope)` with size 1 on the dimensions it does not depend on,
or a scalar. References become slices, `take`s, transposes and reshapes of
those arrays; `sum_over`/`integrate_over` become `sum` over the last axis.
Nothing loops over cells at call time.

The emitted function only calls the backend's array functions (bound as
globals `_exp`, `_where`, ...), takes parameters from `**params`, never casts
to Python scalars and never mutates arrays, so it traces under `jax.jit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from .._core.model import At, Block, Dim, Model, Sel, Target, along, loop_dim
from .._core.templates import IDENT_RE
from .._lang.ir import (
    BinOp,
    BoolOp,
    Call,
    Chain,
    Compare,
    IfExp,
    Invalid,
    Name,
    Node,
    NpConst,
    Num,
    Read,
    Reduce,
    Ref,
    Str,
    UnaryOp,
    attributes,
    children,
    invalid_error,
    not_a_value,
    prefix_text,
    to_source,
    unhandled,
)
from .._support.errors import ExpressionError
from .batch import Identity, batch_op
from .fold import _compare, _fold, _fold_call
from .matvec import matvec
from .ops import (
    Bin,
    BoolToFloat,
    Broadcast,
    Diagonal,
    Emitter,
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
    Sum,
    Take,
    Var,
    VecSum,
    Where,
    emitter_for,
    gather,
    index_of,
    is_atom,
)
from .reroll import Group
from .stmts import Assign, Stmt
from .values import (
    Lowered,
    _is_view,
    _num_val,
    _reshape,
    _shape,
    _Val,
)

__all__ = ["Lowered", "out_index"]

#: A `Chain`'s running value goes to a temporary every this many terms.
_SPILL = 32


class _Lowerer:
    def __init__(self, model: Model, backend_name: str) -> None:
        self.m = model
        self.backend_name = backend_name
        self.emitter: Emitter = emitter_for(backend_name)
        self.lines: list[Stmt] = []
        self.consts: dict[str, Any] = {}
        #: (prefix, dtype, shape, bytes) -> name: equal tables are made once
        self.const_index: dict[tuple[str, str, tuple[int, ...], bytes], str] = {}
        self.n_tmp = 0
        self.block_var: dict[int, str] = {}
        self.alias_var: dict[str, str] = {}
        self.param_var: dict[str, str] = {
            p: f"p_{i}" for i, p in enumerate(model.params)
        }
        self.used_blocks: set[int] = set()
        self.uses_time = False
        #: blocks whose derivative is written as output segments (NumPy chains)
        #: (length, code, or the operands of a subtraction written in place)
        self.segments: dict[int, list[tuple[int, Op | None, tuple[Op, Op] | None]]] = {}
        #: precomputed values of nodes (re-rolled leaves): id(node) -> value
        self.hooks: dict[int, _Val] | None = None
        #: scalar aliases computed in a re-rolled group: base -> (group variable, position)
        self.alias_group: dict[str, tuple[str, int, int]] = {}
        self.n_group = 0
        self.reroll = False
        #: mode "rates": flows are their per-capita rates (stochastic simulation)
        self.per_capita = False
        #: mode "propensities": reactions fire at their stochastic propensities
        #: (`Reaction.propensity`, combinatorial) instead of their mass-action flux
        self.propensities = False
        #: re-rolled flows added into the output: (state indices, sign, code)
        self.scatters: list[tuple[list[int], str, Op]] = []
        #: parameters read through their own variable (re-rolled leaves gather by name)
        self.direct_params: set[str] = set()
        self.gather_cache: dict[tuple[Any, ...], _Val] = {}
        #: scalar parameters gathered by name into vectors, read with the parameters
        self.param_vectors: list[tuple[str, tuple[str, ...]]] = []
        #: cells of indexed parameters gathered with the parameters: (variable, code)
        self.param_cells: list[tuple[str, Op]] = []
        #: common subexpressions (see `share`): value numbers, how often each value
        #: was computed in the counting pass, and the temporaries of shared ones
        self.cse = False
        self.counting = False
        self.n_cse = 0
        self.numbers: dict[tuple[Any, ...], int] = {}
        self.counts: dict[int, int] = {}
        #: shared temporaries: value number -> (value, its line, positions of its dims)
        self.shared: dict[int, tuple[_Val, int, tuple[int, ...]]] = {}
        self.node_key: dict[int, int | None] = {}
        #: re-rolled per-cell overrides NumPy writes over their block's cells:
        #: (state indices, code of their vector)
        self.overwrites: list[tuple[list[int], Op]] = []
        #: temporaries by their code (`tmp`), while `cse` is on
        self.tmp_memo: dict[str, tuple[str, int]] = {}
        #: value numbers of scalar aliases (a use of the alias is its value)
        self.alias_key: dict[str, int] = {}
        #: re-rolled groups by kind, kept for the second pass
        self.group_memo: dict[str, list[Group]] = {}
        #: a batch of tangents (`_lower/batch.py`): the variables holding one, else None
        self.batched: set[str] | None = None
        self.batch_memo: dict[int, tuple[Op, Op, bool]] = {}
        #: the batch is the identity (`Identity`): which tangents select which columns
        self.eye: Identity | None = None

    def groups(
        self, what: str, make: Callable[[], tuple[list[Group], list[Any]]]
    ) -> list[Group]:
        """`make()`'s groups of cells of one shape, computed once for both passes."""
        got = self.group_memo.get(what)
        if got is None:
            got = self.group_memo[what] = make()[0]
        return got

    def param_vector(self, names: tuple[str, ...]) -> str:
        """The variable of a vector of scalar parameters (read once per call by name)."""
        return _read_once(self.param_vectors, names, "pv")

    def final(self, x: _Val | Op) -> Op:
        """The op a statement holds for a value (with a batch of tangents, the
        batched op)."""
        op = x.op if isinstance(x, _Val) else x
        if self.batched is not None:
            op = batch_op(op, self.batched.__contains__, self.batch_memo, self.eye)[0]
        return op

    def code(self, x: _Val | Op) -> str:
        """The source text of a value or op, in this backend's namespace family."""
        return self.emitter.text(self.final(x))

    def assign(self, name: str, x: _Val | Op) -> None:
        """The statement `name = x`: with batched tangents, `name` holds a batch
        when `x` reads one."""
        op = self.final(x)
        self.lines.append(Assign(name, op))
        if self.batched is not None and self.reads_batch(self.emitter.text(op)):
            self.batched.add(name)

    def reads_batch(self, code: str) -> bool:
        """Whether `code` reads a variable holding a batch of tangents."""
        return self.batched is not None and not self.batched.isdisjoint(
            IDENT_RE.findall(code)
        )

    def table(self, idx: list[int]) -> Op:
        """An index array (a constant of the generated function)."""
        return Var(self.const("IDX", np.asarray(idx, dtype=np.int64)))

    def gather(self, vec: Op, idx: list[int]) -> Op:
        """Positions `idx` of vector `vec` (a slice where they are affine)."""
        return gather(vec, idx, self.table)

    # -- helpers ------------------------------------------------------------------
    def const(self, prefix: str, value: Any) -> str:
        """A constant table's name; equal arrays under one prefix share a table."""
        key = None
        if isinstance(value, np.ndarray) and value.dtype.kind != "O":
            key = (prefix, value.dtype.str, value.shape, value.tobytes())
            hit = self.const_index.get(key)
            if hit is not None:
                return hit
        name = f"{prefix}{len(self.consts)}"
        self.consts[name] = value
        if key is not None:
            self.const_index[key] = name
        return name

    def alias_value(self, base: str) -> Op:
        """A scalar alias: its variable, or its entry of the re-rolled group's vector."""
        home = self.alias_group.get(base)
        if home is not None:
            return Index(Var(home[0]), (home[1],))
        return Var(self.alias_var[base])

    def computed(self, value: float | bool) -> _Val:
        """A constant the compiler computed (a function, comparison or `where` of
        constants): a 0-d float64 (or bool) table, not a literal, so arithmetic on it
        keeps NumPy's run-time semantics (`0 % np.maximum(0, 0)` is nan, where a
        literal `0 % 0` is an error in the spec) and strict namespaces get an array."""
        if isinstance(value, bool):
            return _Val(Var(self.const("K", np.asarray(value))), frozenset(), "bool")
        return _Val(Var(self.const("K", np.asarray(float(value)))), frozenset())

    def forget_after(self, emitted: int) -> None:
        """Called when the lines past `emitted` are discarded (see `_Tangent`)."""
        for k in [k for k, (_, line, _) in self.shared.items() if line >= emitted]:
            del self.shared[k]
        for c in [c for c, (_, line) in self.tmp_memo.items() if line >= emitted]:
            del self.tmp_memo[c]

    # -- common subexpressions ------------------------------------------------------
    def number(self, *parts: Any) -> int:
        """The value number of a structure (interned: equal parts, equal number)."""
        got = self.numbers.get(parts)
        if got is None:
            got = self.numbers[parts] = len(self.numbers)
        return got

    def share(self, v: _Val, scope: tuple[Dim, ...]) -> _Val:
        """Common subexpression elimination by value numbering.

        `lower_model` lowers twice. The first pass counts how often each value
        number is computed (`counts`); the second keeps every value computed
        more than once in a temporary the first time and reuses it after. A
        value number identifies a node's operation, its operands' numbers and
        the scope's sizes; a leaf's number is its code (generated variables are
        assigned once, so within a pass equal code is an equal value). Equal
        numbers are equal values; the counts only decide where a temporary is
        worth it.
        """
        k = v.key
        if not self.cse or k is None or v.const is not None or is_atom(self.code(v)):
            return v
        if _is_view(v.op):  # a reshaped view: free to recompute, kept unshared
            return v
        if self.counting:
            self.counts[k] = self.counts.get(k, 0) + 1
            return v
        hit = self.shared.get(k)
        if hit is not None:
            got, _, pos = hit
            dims = frozenset(scope[i].name for i in pos)
            return got if dims == got.dims else replace(got, dims=dims, neg=None)
        if self.counts.get(k, 0) < 2:
            return v
        name = f"c_{self.n_cse}"
        self.n_cse += 1
        self.assign(name, v)
        out = _Val(Var(name), v.dims, v.kind, key=k, neg=v.neg)
        self.shared[k] = (out, len(self.lines) - 1, _positions(v, scope))
        return out

    def hoist(self, op: str, a: _Val, b: _Val, v: _Val, scope: tuple[Dim, ...]) -> _Val:
        """`(-x) * z` as `-(x * z)` (also `/`, either side) when `x * z` is shared.

        Exact in floating point (negation commutes with rounding), and it lets
        `-beta * S * foi` share `beta * S * foi` with the equation that adds it.
        Otherwise `v` is kept, remembering its negation for the enclosing node.
        """
        if op not in ("*", "/") or (a.neg is None) == (b.neg is None):
            return v
        x, z = (a.neg, b) if a.neg is not None else (a, b.neg)
        assert x is not None
        assert z is not None
        if x.key is None or z.key is None:
            return v
        key = self.number("BinOp", (op,), (x.key, z.key), _sig(scope))
        inner = _Val(Bin(op, x.op, z.op), x.dims | z.dims, "num", key=key)
        if self.counting:
            self.share(inner, scope)  # counted: the hoisted form computes it
            return replace(v, neg=inner)
        if self.counts.get(key, 0) < 2:
            return replace(v, neg=inner)
        inner = self.share(inner, scope)
        neg_key = self.number("UnaryOp", ("-",), (key,), _sig(scope))
        return _Val(Neg(inner.op), inner.dims, "num", key=neg_key, neg=inner)

    def tmp(self, op: Op, prefix: str = "v") -> str:
        """A temporary holding `op` (its name; an atom is its own text)."""
        code = self.code(op)
        if is_atom(code):
            return code
        if self.cse:
            # generated variables are assigned once: the same code, the same value
            hit = self.tmp_memo.get(code)
            if hit is not None:
                return hit[0]
        name = f"{prefix}_{self.n_tmp}"
        self.n_tmp += 1
        self.assign(name, op)
        if self.cse:
            self.tmp_memo[code] = (name, len(self.lines) - 1)
        return name

    def temp(self, op: Op, prefix: str = "v") -> Op:
        """`op` kept in a temporary (an atom as it is)."""
        name = self.tmp(op, prefix)
        return op if name == self.code(op) else Var(name)

    def num(self, v: _Val) -> _Val:
        if v.kind == "num":
            return v
        if v.const is not None:
            return _num_val(float(v.const))
        return _Val(BoolToFloat(v.op), v.dims, "num")

    def where(self, cond: Op, a: _Val, b: _Val) -> Op:
        """`where(cond, a, b)`, marked when both branches are scalars (see `Where`)."""
        return Where(cond, a.op, b.op, scalars=not a.dims and not b.dims)

    def boolean(self, v: _Val) -> _Val:
        if v.kind == "bool":
            return v
        if v.const is not None:
            return _Val(Lit(bool(v.const)), v.dims, "bool", bool(v.const))
        return _Val(Bin("!=", v.op, Int(0)), v.dims, "bool")

    # -- references -----------------------------------------------------------------
    def index(
        self,
        var: str,
        sels: tuple[Sel, ...],
        scope: tuple[Dim, ...],
        path: str,
    ) -> _Val:
        pos = {d.name: i for i, d in enumerate(scope)}
        dims_by_name = {d.name: d for d in scope}
        code: Op = Var(var)
        if any(isinstance(s, At) for s in sels):
            items: list[int | Span] = [
                s.index if isinstance(s, At) else Span() for s in sels
            ]
            while items and items[-1] == Span():
                items.pop()
            code = Index(code, tuple(items))
        names = along(sels)
        while len(set(names)) != len(names):
            # the same dimension twice (`C[age, age]`): take the diagonal, which
            # becomes the last axis
            first = next(n for n in names if names.count(n) > 1)
            p1 = names.index(first)
            p2 = names.index(first, p1 + 1)
            code = Diagonal(code, p1, p2)
            names = [n for i, n in enumerate(names) if i not in (p1, p2)] + [first]
        if not names:
            return _Val(code, frozenset())
        for j, name in enumerate(names):
            dim = dims_by_name[name]
            if dim.subset is not None and dim.subset != tuple(range(dim.axis.size)):
                code = Take(code, self.table(list(dim.subset)), j)
        order = sorted(range(len(names)), key=lambda j: pos[names[j]])
        if order != list(range(len(names))):
            code = Permute(code, tuple(order))
        sorted_names = [names[j] for j in order]
        if [pos[n] for n in sorted_names] != list(range(len(scope))):
            shape = [1] * len(scope)
            for n in sorted_names:
                shape[pos[n]] = dims_by_name[n].size
            before = tuple(dims_by_name[n].size for n in sorted_names)
            return _Val(Reshape(code, tuple(shape), before), frozenset(names))
        return _Val(code, frozenset(names))

    def target(self, tgt: Target, scope: tuple[Dim, ...], path: str) -> _Val:
        if tgt.kind == "time":
            self.uses_time = True
            return _Val(Var("t"), frozenset())
        if tgt.kind == "coord":
            return self.index(
                self.const("X", np.asarray(tgt.obj, dtype=np.float64)),
                tgt.sels,
                scope,
                path,
            )
        if tgt.kind == "kernel":
            values = tgt.obj.values(path)
            if not tgt.sels:
                return _num_val(float(values))
            return self.index(self.const("K", values), tgt.sels, scope, path)
        if tgt.kind == "state" or tgt.kind == "flow":
            blk: Block = tgt.obj
            self.used_blocks.add(id(blk))
            var = self.block_var[id(blk)]
        elif tgt.kind == "alias":
            base = tgt.obj.base
            if not tgt.sels:
                # a scalar alias is its value: the same number as its expression
                return _Val(
                    self.alias_value(base), frozenset(), key=self.alias_key.get(base)
                )
            var = self.alias_var[base]
        else:
            var = self.param_var[tgt.obj.key]
            self.direct_params.add(tgt.obj.key)
        if not tgt.sels:
            return _Val(Var(var), frozenset())
        return self.index(var, tgt.sels, scope, path)

    # -- expressions ----------------------------------------------------------------
    def expr(self, node: Node, scope: tuple[Dim, ...], path: str) -> _Val:
        if not self.cse:
            return self._expr(node, scope, path)
        kids = children(node)
        node_key = self.node_key
        for c in kids:  # keys of this lowering only (a child may be lowered elsewhere)
            node_key.pop(id(c), None)
        v = self._expr(node, scope, path)
        if v.key is None and v.const is None:
            hooked = self.hooks is not None and id(node) in self.hooks
            kid_keys = tuple(node_key.get(id(c)) for c in kids)
            if kids and not hooked and None not in kid_keys:
                key = self.number(
                    type(node).__name__, attributes(node), kid_keys, _sig(scope)
                )
            elif kids and self.hooks is None:
                # operands not lowered one by one (a sum_over as a matrix product):
                # the subtree itself, in this scope, names the value
                key = self.number("node", node, _scope_key(scope))
            else:  # a leaf: its code (a value's code is that value)
                key = self.number("code", self.code(v), _positions(v, scope), v.kind)
            v = self.share(replace(v, key=key), scope)
        node_key[id(node)] = v.key
        return v

    def _expr(self, node: Node, scope: tuple[Dim, ...], path: str) -> _Val:
        if self.hooks is not None:
            hooked = self.hooks.get(id(node))
            if hooked is not None:
                return hooked
        if isinstance(node, Num):
            return _num_val(node.value)
        if isinstance(node, NpConst):
            value = {"pi": math.pi, "e": math.e}.get(node.name)
            if value is not None:
                return _num_val(value)
            return _num_val(float(node.name))
        if isinstance(node, Read):
            return self.target(node.target, scope, path)
        if isinstance(node, UnaryOp):
            v = self.expr(node.operand, scope, path)
            if node.op == "not":
                b = self.boolean(v)
                if b.const is not None:
                    return _Val(Lit(not b.const), b.dims, "bool", not b.const)
                return _Val(Fn("logical_not", (b.op,)), b.dims, "bool")
            v = self.num(v)
            if v.const is not None and not isinstance(v.const, bool):
                c = -v.const if node.op == "-" else v.const
                return _num_val(c)
            if node.op == "-":
                return _Val(Neg(v.op), v.dims, "num", neg=v)
            return _Val(Pos(v.op), v.dims, "num")
        if isinstance(node, BinOp):
            a = self.num(self.expr(node.left, scope, path))
            b = self.num(self.expr(node.right, scope, path))
            if a.const is not None and b.const is not None:
                folded = _fold(node.op, a.const, b.const)
                if folded is not None:
                    return _num_val(folded)
                text = to_source(node)
                raise ExpressionError(
                    f"constant expression {text} is not finite (overflow or division by zero)",
                    path=path,
                    token=text,
                )
            v = _Val(Bin(node.op, a.op, b.op), a.dims | b.dims, "num")
            return self.hoist(node.op, a, b, v, scope) if self.cse else v
        if isinstance(node, Chain):
            return self.chain(node, scope, path)
        if isinstance(node, Compare):
            operands = [
                self.num(self.expr(x, scope, path))
                for x in (node.left, *node.comparators)
            ]
            parts: list[Op] = [
                Bin(op, operands[i].op, operands[i + 1].op)
                for i, op in enumerate(node.ops)
            ]
            dims = frozenset().union(*(o.dims for o in operands))
            if all(o.const is not None for o in operands):
                folded = all(
                    _compare(op, operands[i].const, operands[i + 1].const)  # type: ignore[arg-type]
                    for i, op in enumerate(node.ops)
                )
                return self.computed(folded)
            code = parts[0]
            for p in parts[1:]:
                code = Fn("logical_and", (code, p))
            return _Val(code, dims, "bool")
        if isinstance(node, BoolOp):
            vals = [self.expr(v, scope, path) for v in node.values]
            dims = frozenset().union(*(v.dims for v in vals))
            if all(v.const is not None for v in vals):
                # Python's value semantics, on constants
                acc = vals[0]
                for v in vals[1:]:
                    if bool(acc.const) != (node.op == "and"):
                        break
                    acc = v
                got = acc if all(v.kind == "bool" for v in vals) else self.num(acc)
                return self.computed(got.const)  # type: ignore[arg-type]
            if all(v.kind == "bool" for v in vals):
                fn = "logical_and" if node.op == "and" else "logical_or"
                code = vals[0].op
                for v in vals[1:]:
                    code = Fn(fn, (code, v.op))
                return _Val(code, dims, "bool")
            # Python value semantics: `a and b` is b if a else a; `a or b` is a if a else b.
            nums = [self.num(v) for v in vals]
            acc = nums[-1]
            for v in reversed(nums[:-1]):
                t = _Val(self.temp(v.op), v.dims)
                nonzero = Bin("!=", t.op, Int(0))
                code = (
                    self.where(nonzero, acc, t)
                    if node.op == "and"
                    else self.where(nonzero, t, acc)
                )
                acc = _Val(code, acc.dims | t.dims)
            return _Val(acc.op, dims, "num")
        if isinstance(node, IfExp):
            test = self.boolean(self.expr(node.test, scope, path))
            body = self.expr(node.body, scope, path)
            orelse = self.expr(node.orelse, scope, path)
            if test.const is not None:
                return body if test.const else orelse
            if body.kind != orelse.kind:
                body, orelse = self.num(body), self.num(orelse)
            return _Val(
                self.where(test.op, body, orelse),
                test.dims | body.dims | orelse.dims,
                body.kind,
            )
        if isinstance(node, Call):
            return self.call(node, scope, path)
        if isinstance(node, Reduce):
            return self.reduce(node, scope, path)
        if isinstance(node, Invalid):  # pragma: no cover - rejected by check_invalid
            raise invalid_error(node, path)
        if isinstance(node, (Str, Name, Ref)):  # pragma: no cover
            raise not_a_value(node, path)
        unhandled(node)

    def chain(self, node: Chain, scope: tuple[Dim, ...], path: str) -> _Val:
        """A long `a op b op c ...`, folded left to right exactly like nested `BinOp`s.

        The running value is spilled to a temporary every `_SPILL` terms so the
        generated source never nests parentheses deeper than Python accepts.
        """
        acc = self.num(self.expr(node.operands[0], scope, path))
        for i, (op, operand) in enumerate(zip(node.ops, node.operands[1:])):
            b = self.num(self.expr(operand, scope, path))
            if acc.const is not None and b.const is not None:
                folded = _fold(op, acc.const, b.const)
                if folded is None:
                    text = to_source(node)
                    raise ExpressionError(
                        f"constant expression {text} is not finite (overflow or division by zero)",
                        path=path,
                        token=text,
                    )
                acc = _num_val(folded)
                continue
            acc = _Val(Bin(op, acc.op, b.op), acc.dims | b.dims, "num")
            if i % _SPILL == _SPILL - 1:
                acc = _Val(self.temp(acc.op), acc.dims, "num")
        return acc

    def call(self, node: Call, scope: tuple[Dim, ...], path: str) -> _Val:
        if node.func == "sum_state":
            return _Val(VecSum(self.model_states(Var("y"))), frozenset())
        if node.func == "sum_prefix":
            return self.prefix_sum(node, scope, path, Var("y"))
        if node.func == "where":
            c = self.boolean(self.expr(node.args[0], scope, path))
            a = self.num(self.expr(node.args[1], scope, path))
            b = self.num(self.expr(node.args[2], scope, path))
            if c.const is not None:
                got = a if c.const else b
                return got if got.const is None else self.computed(got.const)
            return _Val(self.where(c.op, a, b), c.dims | a.dims | b.dims)
        args = [self.num(self.expr(a, scope, path)) for a in node.args]
        dims = frozenset().union(*(a.dims for a in args))
        if all(a.const is not None for a in args):
            folded = _fold_call(node.func, [a.const for a in args])  # type: ignore[misc]
            if folded is not None:
                return self.computed(folded)
        if node.func == "clip":
            x, lo, hi = args
            return _Val(Fn("minimum", (Fn("maximum", (x.op, lo.op)), hi.op)), dims)
        return _Val(Fn(node.func, tuple(a.op for a in args)), dims)

    def model_states(self, vec: Op) -> Op:
        """The model's own states of a state-shaped vector (`y`, or a tangent):
        all of it, or the part before the incidence counters."""
        n = self.m.n_model_state
        return vec if n == self.m.n_state else Index(vec, (Span(0, n),))

    def prefix_sum(
        self, node: Call, scope: tuple[Dim, ...], path: str, vec: Op
    ) -> _Val:
        """`sum_prefix(text)` over the vector `vec` (`y`, or a tangent `v`).

        A text with template placeholders (`"I[age]"`) gives one sum per cell of
        those dimensions: a gather into `(cells, k)` and a row sum when every cell
        sums `k` states, else a 0/1 selection matrix product.
        """
        text = prefix_text(node)
        dims, groups = self.m.prefix_groups(text, scope, path)
        if not dims:
            idx = groups[0]
            if idx == list(range(idx[0], idx[-1] + 1)):
                return _Val(
                    VecSum(Index(vec, (Span(idx[0], idx[-1] + 1),))), frozenset()
                )
            return _Val(Sum(Take(vec, self.table(idx))), frozenset())
        sizes = tuple(d.size for d in dims)
        k = len(groups[0])
        code: Op
        if all(len(g) == k for g in groups):
            flat = [i for g in groups for i in g]
            code = Sum(Reshape(Take(vec, self.table(flat)), (*sizes, k)), len(sizes))
        else:
            sel = np.zeros((len(groups), self.m.n_state))
            for row, g in enumerate(groups):
                sel[row, g] = 1.0
            code = Reshape(Matmul(Var(self.const("SEL", sel)), vec), sizes)
        pos = {d.name: i for i, d in enumerate(scope)}
        shape = [1] * len(scope)
        for d in dims:
            shape[pos[d.name]] = d.size
        if tuple(shape) != sizes:
            code = Reshape(code, tuple(shape))
        return _Val(code, frozenset(d.name for d in dims))

    def reduce(self, node: Reduce, scope: tuple[Dim, ...], path: str) -> _Val:
        dim = loop_dim(node)
        inner = (*scope, dim)
        weights = None
        if node.kind == "integrate_over":
            weights = np.asarray(dim.weights(), dtype=np.float64)
        if weights is None:
            emitted = len(self.lines)
            mm = self.matvec(node.body, scope, dim, path)
            if mm is not None:
                return mm
            del self.lines[emitted:]  # the failed attempt's temporaries are not used
            self.forget_after(emitted)
        body = self.num(self.expr(node.body, inner, path))
        if dim.name not in body.dims:
            factor = float(weights.sum()) if weights is not None else float(dim.size)
            if (
                body.const is not None
            ):  # keep constants folded (no Python float arithmetic at run time)
                return _num_val(factor * float(body.const))
            return _Val(
                Bin("*", Lit(factor), _drop_last(body, inner, scope)), body.dims, "num"
            )
        code = body.op
        if weights is not None:
            shape = (1,) * len(scope) + (dim.size,)
            code = Bin("*", Var(self.const("W", weights.reshape(shape))), code)
        rest = body.dims - {dim.name}
        if not rest:
            return _Val(Sum(code), frozenset())
        return _Val(Sum(code, -1), rest)

    def matvec(
        self, body: Node, scope: tuple[Dim, ...], dim: Dim, path: str
    ) -> _Val | None:
        """`sum_over(j, L[a.., j] * R[b.., j] * u)` as a matrix product (see `_lower/matvec.py`)."""
        return matvec(self, body, scope, dim, path)

    # -- program --------------------------------------------------------------------
    def bcast(self, v: _Val, scope: tuple[Dim, ...]) -> Op:
        """`v` as a full array over `scope` (all dimensions present)."""
        shape = tuple(d.size for d in scope)
        if v.dims == frozenset(d.name for d in scope):
            return v.op
        return Broadcast(v.op, shape)


_T = TypeVar("_T")


def _read_once(table: list[tuple[str, _T]], what: _T, prefix: str) -> str:
    """The variable reading `what` with the parameters, added to `table` if new."""
    for var, got in table:
        if got == what:
            return var
    var = f"{prefix}_{len(table)}"
    table.append((var, what))
    return var


def _sig(scope: tuple[Dim, ...]) -> tuple[int, ...]:
    """What of a scope a value's code depends on: its dimensions' sizes.

    Names do not matter: a re-rolled group's dimension is named per group, and
    two groups over the same cells compute the same vectors.
    """
    return tuple(d.size for d in scope) if scope else ()


def _scope_key(scope: tuple[Dim, ...]) -> tuple[Any, ...]:
    """A scope as name resolution sees it: loop variables, their axes and subsets."""
    return tuple((d.name, d.axis.name, d.size, d.subset) for d in scope)


def _positions(v: _Val, scope: tuple[Dim, ...]) -> tuple[int, ...]:
    """The positions in `scope` of the dimensions `v` depends on."""
    return tuple(i for i, d in enumerate(scope) if d.name in v.dims)


def _drop_last(v: _Val, inner: tuple[Dim, ...], outer: tuple[Dim, ...]) -> Op:
    """`v` (computed in `inner` = `outer` + one loop dimension it does not depend
    on) with that trailing size-1 axis removed."""
    if not v.dims:
        return v.op
    return _reshape(v, _shape(v, inner), _shape(v, outer))  # type: ignore[arg-type]


def out_index(lw: _Lowerer, idx: list[int]) -> int | Span | Op:
    """The index of positions `idx` of a vector (where a statement stores)."""
    return index_of(idx, lw.table)
