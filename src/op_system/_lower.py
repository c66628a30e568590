"""Lower a `Model` to the Python source of one vectorized right-hand side.

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

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar, cast

import numpy as np

from ._build import reduce_dim
from ._errors import ExpressionError, UnsupportedFeatureError
from ._gcpause import paused_gc
from ._ir import (
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
    Reduce,
    Ref,
    UnaryOp,
    attributes,
    children,
    to_source,
    walk,
)
from ._model import AliasDef, Block, ChainFlow, Dim, Model, Target
from ._reroll import Group, IsoSum, Leaf, group_cells, shape_key, synthetic_dim

__all__ = ["Lowered", "lower_model"]

#: A `Chain`'s running value goes to a temporary every this many terms.
_SPILL = 32


@dataclass
class Lowered:
    """Generated source plus the constants it refers to."""

    source: str
    constants: dict[str, Any]
    param_order: list[str]
    alias_cycle: list[str] | None
    #: `prep(params)` and `core(t, y, *prepared)`: the same function split for `bind`
    bound_source: str = ""


@dataclass(frozen=True)
class _Val:
    """A lowered value: code, the scope dimensions it depends on, and its kind.

    Its shape is implied: `()`-like scalar when `dims` is empty, else rank
    `len(scope)` with the dimension sizes where it depends and 1 elsewhere.
    `src` is `(code, shape)` of the array this one is a pure reshape of.
    """

    code: str
    dims: frozenset[str]
    kind: Literal["num", "bool"] = "num"
    const: float | int | bool | None = None
    src: tuple[str, tuple[int, ...]] | None = None
    #: value number (see `_Lowerer.share`): equal numbers, equal values
    key: int | None = None
    #: the value this one is the negation of (`-x`), for sign hoisting
    neg: _Val | None = None


def _shape(v: _Val, scope: tuple[Dim, ...]) -> tuple[int, ...] | None:
    if not v.dims:
        return None
    return tuple(d.size if d.name in v.dims else 1 for d in scope)


def _reshape(v: _Val, cur: tuple[int, ...] | None, new: tuple[int, ...]) -> str:
    """Code for `v` reshaped to `new`, skipping no-op and chained reshapes."""
    if cur == new:
        return v.code
    if v.src is not None:
        if v.src[1] == new:
            return v.src[0]
        return f"_reshape({v.src[0]}, {new})"
    return f"_reshape({v.code}, {new})"


def _num_code(value: float | int) -> str:
    """Source text of a numeric literal: always a float (integer literals would switch
    NumPy functions to integer arithmetic), parenthesized when negative."""
    v = float(value)
    if math.isnan(v):
        return "_NAN"
    if math.isinf(v):
        return "_INF" if v > 0 else "(-_INF)"
    return repr(v) if v >= 0 else f"({v!r})"


def _num_val(value: float | int | bool) -> _Val:
    if isinstance(value, bool):
        return _Val(repr(value), frozenset(), "bool", value)
    return _Val(_num_code(value), frozenset(), "num", value)


def _is_atom(code: str) -> bool:
    return code.isidentifier() or code.replace(".", "", 1).isdigit()


def check_invalid(model: Model) -> None:
    """Raise for the first construct outside the language (0.1.2 raised these at compile)."""
    exprs: list[tuple[Node, str]] = [
        (a.expr, a.path) for a in model.aliases.values() if a.expr is not None
    ]
    for eq in model.equations:
        if eq.expr is not None:
            exprs.append((eq.expr, eq.path))
        if eq.chain is not None:
            exprs.extend((n, eq.path) for n in (*eq.chain[0], eq.chain[1]))
        exprs.extend(eq.overrides.values())
    for td in model.transitions:
        if isinstance(td, ChainFlow):
            exprs.extend((n, td.path) for n in td.rates)
        else:
            exprs.append((td.rate, f"{td.path}.rate"))
    for expr, path in exprs:
        for node in walk(expr):
            if isinstance(node, Invalid):
                raise ExpressionError(node.detail, path=path, token=node.token)


def _alias_order(
    model: Model, deps: dict[str, set[str]] | None = None
) -> tuple[list[AliasDef], list[str] | None]:
    """Aliases in dependency order; the names left in a cycle, if any."""
    deps = _alias_deps(model) if deps is None else deps
    order: list[AliasDef] = []
    done: set[str] = set()
    pending = list(model.aliases)
    while pending:
        progressed = False
        for name in list(pending):
            if deps[name] <= done:
                order.append(model.aliases[name])
                done.add(name)
                pending.remove(name)
                progressed = True
        if not progressed:
            return order, sorted(pending)
    return order, None


def _alias_levels(deps: dict[str, set[str]], order: list[AliasDef]) -> dict[str, int]:
    """Dependency depth of each alias: 0 if it reads no alias, else 1 + its deepest."""
    level: dict[str, int] = {}
    for alias in order:
        level[alias.base] = 1 + max((level[d] for d in deps[alias.base]), default=-1)
    return level


def _alias_deps(model: Model) -> dict[str, set[str]]:
    """The aliases each alias reads."""
    deps: dict[str, set[str]] = {}
    for alias in model.aliases.values():
        used: set[str] = set()
        for node in walk(alias.expr) if alias.expr is not None else alias.cells or ():
            if isinstance(node, Ref) and node.base in model.aliases:
                used.add(node.base)
            elif isinstance(node, Name):
                if node.id in model.aliases:
                    used.add(node.id)
                elif "__" in node.id:
                    cell = model.lookup_cell(node.id)
                    if cell is not None and cell[0] == "alias":
                        used.add(cell[1].base)
        deps[alias.base] = used
    return deps


class _Lowerer:
    def __init__(self, model: Model, backend_name: str) -> None:
        self.m = model
        self.backend_name = backend_name
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.n_tmp = 0
        self.block_var: dict[int, str] = {}
        self.alias_var: dict[str, str] = {}
        self.param_var: dict[str, str] = {
            p: f"p_{i}" for i, p in enumerate(model.params)
        }
        self.used_blocks: set[int] = set()
        self.uses_time = False
        #: blocks whose derivative is written as output segments (NumPy chains)
        self.segments: dict[int, list[tuple[int, str]]] = {}
        #: precomputed values of nodes (re-rolled leaves): id(node) -> value
        self.hooks: dict[int, _Val] | None = None
        #: scalar aliases computed in a re-rolled group: base -> (group variable, position)
        self.alias_group: dict[str, tuple[str, int, int]] = {}
        self.n_group = 0
        self.reroll = False
        #: re-rolled flows added into the output: (state indices, sign, code)
        self.scatters: list[tuple[list[int], str, str]] = []
        #: parameters read through their own variable (re-rolled leaves gather by name)
        self.direct_params: set[str] = set()
        self.gather_cache: dict[tuple[Any, ...], _Val] = {}
        #: scalar parameters gathered by name into vectors, read with the parameters
        self.param_vectors: list[tuple[str, tuple[str, ...]]] = []
        #: cells of indexed parameters gathered with the parameters: (variable, code)
        self.param_cells: list[tuple[str, str]] = []
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
        self.overwrites: list[tuple[list[int], str]] = []
        #: temporaries by their code (`tmp`), while `cse` is on
        self.tmp_memo: dict[str, tuple[str, int]] = {}
        #: value numbers of scalar aliases (a use of the alias is its value)
        self.alias_key: dict[str, int] = {}
        #: re-rolled groups by kind, kept for the second pass
        self.group_memo: dict[str, list[Group]] = {}

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

    # -- helpers ------------------------------------------------------------------
    def const(self, prefix: str, value: Any) -> str:
        for k, v in self.consts.items():
            same = (
                k.startswith(prefix)
                and isinstance(v, np.ndarray)
                and isinstance(value, np.ndarray)
                and v.shape == value.shape
                and v.dtype == value.dtype
                and np.array_equal(v, value)
            )
            if same:
                return k
        name = f"{prefix}{len(self.consts)}"
        self.consts[name] = value
        return name

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
        if not self.cse or k is None or v.const is not None or _is_atom(v.code):
            return v
        if v.src is not None:  # a reshaped view: free to recompute, kept unshared
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
        self.lines.append(f"    {name} = {v.code}")
        out = _Val(name, v.dims, v.kind, key=k, neg=v.neg)
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
        inner = _Val(f"({x.code} {op} {z.code})", x.dims | z.dims, "num", key=key)
        if self.counting:
            self.share(inner, scope)  # counted: the hoisted form computes it
            return replace(v, neg=inner)
        if self.counts.get(key, 0) < 2:
            return replace(v, neg=inner)
        inner = self.share(inner, scope)
        neg_key = self.number("UnaryOp", ("-",), (key,), _sig(scope))
        return _Val(f"(-{inner.code})", inner.dims, "num", key=neg_key, neg=inner)

    def tmp(self, code: str, prefix: str = "v") -> str:
        if _is_atom(code):
            return code
        if self.cse:
            # generated variables are assigned once: the same code, the same value
            hit = self.tmp_memo.get(code)
            if hit is not None:
                return hit[0]
        name = f"{prefix}_{self.n_tmp}"
        self.n_tmp += 1
        self.lines.append(f"    {name} = {code}")
        if self.cse:
            self.tmp_memo[code] = (name, len(self.lines) - 1)
        return name

    def num(self, v: _Val) -> _Val:
        if v.kind == "num":
            return v
        if v.const is not None:
            return _num_val(float(v.const))
        if self.backend_name == "numpy":
            return _Val(f"_where({v.code}, 1.0, 0.0)", v.dims, "num")
        return _Val(f"_astype({v.code}, y.dtype)", v.dims, "num")

    def where(self, cond: str, a: _Val, b: _Val) -> str:
        """`_where(cond, a, b)`; the Array API forbids two Python-scalar branches."""
        a_code = a.code
        if self.backend_name != "numpy" and not a.dims and not b.dims:
            a_code = f"_asarray({a_code}, dtype=y.dtype)"
        return f"_where({cond}, {a_code}, {b.code})"

    def boolean(self, v: _Val) -> _Val:
        if v.kind == "bool":
            return v
        if v.const is not None:
            return _Val(repr(bool(v.const)), v.dims, "bool", bool(v.const))
        return _Val(f"({v.code} != 0)", v.dims, "bool")

    # -- references -----------------------------------------------------------------
    def index(
        self,
        var: str,
        sels: tuple[tuple[str, Any], ...],
        scope: tuple[Dim, ...],
        path: str,
    ) -> _Val:
        pos = {d.name: i for i, d in enumerate(scope)}
        dims_by_name = {d.name: d for d in scope}
        code = var
        if any(k == "lit" for k, _ in sels):
            items = [str(v) if k == "lit" else ":" for k, v in sels]
            while items and items[-1] == ":":
                items.pop()
            code = f"{code}[{', '.join(items)}]"
        names = [v for k, v in sels if k == "dim"]
        while len(set(names)) != len(names):
            # the same dimension twice (`C[age, age]`): take the diagonal, which
            # becomes the last axis
            first = next(n for n in names if names.count(n) > 1)
            p1 = names.index(first)
            p2 = names.index(first, p1 + 1)
            code = f"_diagonal({code}, 0, {p1}, {p2})"
            names = [n for i, n in enumerate(names) if i not in (p1, p2)] + [first]
        if not names:
            return _Val(code, frozenset())
        for j, name in enumerate(names):
            dim = dims_by_name[name]
            if dim.subset is not None and dim.subset != tuple(range(dim.axis.size)):
                idx = self.const("IDX", np.asarray(dim.subset, dtype=np.int64))
                code = f"_take({code}, {idx}, axis={j})"
        order = sorted(range(len(names)), key=lambda j: pos[names[j]])
        if order != list(range(len(names))):
            code = f"_permute_dims({code}, {tuple(order)})"
        sorted_names = [names[j] for j in order]
        if [pos[n] for n in sorted_names] != list(range(len(scope))):
            shape = [1] * len(scope)
            for n in sorted_names:
                shape[pos[n]] = dims_by_name[n].size
            before = tuple(dims_by_name[n].size for n in sorted_names)
            return _Val(
                f"_reshape({code}, {tuple(shape)})",
                frozenset(names),
                src=(code, before),
            )
        return _Val(code, frozenset(names))

    def target(self, tgt: Target, scope: tuple[Dim, ...], path: str) -> _Val:
        if tgt.kind == "time":
            self.uses_time = True
            return _Val("t", frozenset())
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
                return _Val(repr(float(values)), frozenset(), "num", float(values))
            return self.index(self.const("K", values), tgt.sels, scope, path)
        if tgt.kind == "state":
            blk: Block = tgt.obj
            self.used_blocks.add(id(blk))
            var = self.block_var[id(blk)]
        elif tgt.kind == "alias":
            var = self.alias_var[tgt.obj.base]
            if not tgt.sels and tgt.obj.base in self.alias_key:
                # a scalar alias is its value: the same number as its expression
                return _Val(var, frozenset(), key=self.alias_key[tgt.obj.base])
        else:
            var = self.param_var[tgt.obj.key]
            self.direct_params.add(tgt.obj.key)
        if not tgt.sels:
            return _Val(var, frozenset())
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
                key = self.number("code", v.code, _positions(v, scope), v.kind)
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
                return _Val(repr(value), frozenset(), "num", value)
            return _num_val(float(node.name))
        if isinstance(node, (Name, Ref)):
            return self.target(self.m.resolve(node, scope, path), scope, path)
        if isinstance(node, UnaryOp):
            v = self.expr(node.operand, scope, path)
            if node.op == "not":
                b = self.boolean(v)
                if b.const is not None:
                    return _Val(repr(not b.const), b.dims, "bool", not b.const)
                return _Val(f"_logical_not({b.code})", b.dims, "bool")
            v = self.num(v)
            if v.const is not None and not isinstance(v.const, bool):
                c = -v.const if node.op == "-" else v.const
                return _num_val(c)
            if node.op == "-":
                return _Val(f"(-{v.code})", v.dims, "num", neg=v)
            return _Val(f"({node.op}{v.code})", v.dims, "num")
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
            v = _Val(f"({a.code} {node.op} {b.code})", a.dims | b.dims, "num")
            return self.hoist(node.op, a, b, v, scope) if self.cse else v
        if isinstance(node, Chain):
            return self.chain(node, scope, path)
        if isinstance(node, Compare):
            operands = [
                self.num(self.expr(x, scope, path))
                for x in (node.left, *node.comparators)
            ]
            parts = [
                f"({operands[i].code} {op} {operands[i + 1].code})"
                for i, op in enumerate(node.ops)
            ]
            dims = frozenset().union(*(o.dims for o in operands))
            code = parts[0]
            for p in parts[1:]:
                code = f"_logical_and({code}, {p})"
            return _Val(code, dims, "bool")
        if isinstance(node, BoolOp):
            vals = [self.expr(v, scope, path) for v in node.values]
            dims = frozenset().union(*(v.dims for v in vals))
            if all(v.kind == "bool" for v in vals):
                fn = "_logical_and" if node.op == "and" else "_logical_or"
                code = vals[0].code
                for v in vals[1:]:
                    code = f"{fn}({code}, {v.code})"
                return _Val(code, dims, "bool")
            # Python value semantics: `a and b` is b if a else a; `a or b` is a if a else b.
            nums = [self.num(v) for v in vals]
            acc = nums[-1]
            for v in reversed(nums[:-1]):
                t = _Val(self.tmp(v.code), v.dims)
                code = (
                    self.where(f"({t.code} != 0)", acc, t)
                    if node.op == "and"
                    else self.where(f"({t.code} != 0)", t, acc)
                )
                acc = _Val(code, acc.dims | t.dims)
            return _Val(acc.code, dims, "num")
        if isinstance(node, IfExp):
            test = self.boolean(self.expr(node.test, scope, path))
            body = self.expr(node.body, scope, path)
            orelse = self.expr(node.orelse, scope, path)
            if test.const is not None:
                return body if test.const else orelse
            if body.kind != orelse.kind:
                body, orelse = self.num(body), self.num(orelse)
            return _Val(
                self.where(test.code, body, orelse),
                test.dims | body.dims | orelse.dims,
                body.kind,
            )
        if isinstance(node, Call):
            return self.call(node, scope, path)
        if isinstance(node, Reduce):
            return self.reduce(node, scope, path)
        if isinstance(node, Invalid):  # pragma: no cover - rejected by check_invalid
            raise ExpressionError(node.detail, path=path, token=node.token)
        raise ExpressionError(
            f"unsupported expression {type(node).__name__}", path=path
        )  # pragma: no cover

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
            acc = _Val(f"({acc.code} {op} {b.code})", acc.dims | b.dims, "num")
            if i % _SPILL == _SPILL - 1:
                acc = _Val(self.tmp(acc.code), acc.dims, "num")
        return acc

    def call(self, node: Call, scope: tuple[Dim, ...], path: str) -> _Val:
        if node.func == "sum_state":
            # NumPy: the ufunc reduction itself, without np.sum's Python-level wrapper
            return _Val(
                "_add_reduce(y)" if self.backend_name == "numpy" else "_sum(y)",
                frozenset(),
            )
        if node.func == "sum_prefix":
            return self.prefix_sum(node, scope, path, "y")
        if node.func == "where":
            c = self.boolean(self.expr(node.args[0], scope, path))
            a = self.num(self.expr(node.args[1], scope, path))
            b = self.num(self.expr(node.args[2], scope, path))
            return _Val(self.where(c.code, a, b), c.dims | a.dims | b.dims)
        args = [self.num(self.expr(a, scope, path)) for a in node.args]
        dims = frozenset().union(*(a.dims for a in args))
        if node.func == "clip":
            x, lo, hi = args
            return _Val(f"_minimum(_maximum({x.code}, {lo.code}), {hi.code})", dims)
        return _Val(f"_{node.func}({', '.join(a.code for a in args)})", dims)

    def prefix_sum(
        self, node: Call, scope: tuple[Dim, ...], path: str, vec: str
    ) -> _Val:
        """`sum_prefix(text)` over the vector `vec` (`y`, or a tangent `v`).

        A text with template placeholders (`"I[age]"`) gives one sum per cell of
        those dimensions: a gather into `(cells, k)` and a row sum when every cell
        sums `k` states, else a 0/1 selection matrix product.
        """
        text = node.args[0].value  # type: ignore[attr-defined]
        dims, groups = self.m.prefix_groups(text, scope, path)
        if not dims:
            idx = groups[0]
            if idx == list(range(idx[0], idx[-1] + 1)):
                total = "_add_reduce" if self.backend_name == "numpy" else "_sum"
                return _Val(f"{total}({vec}[{idx[0]}:{idx[-1] + 1}])", frozenset())
            c = self.const("IDX", np.asarray(idx, dtype=np.int64))
            return _Val(f"_sum(_take({vec}, {c}))", frozenset())
        sizes = tuple(d.size for d in dims)
        k = len(groups[0])
        if all(len(g) == k for g in groups):
            c = self.const("IDX", np.asarray(groups, dtype=np.int64).reshape(-1))
            code = (
                f"_sum(_reshape(_take({vec}, {c}), {(*sizes, k)}), axis={len(sizes)})"
            )
        else:
            sel = np.zeros((len(groups), self.m.n_state))
            for row, g in enumerate(groups):
                sel[row, g] = 1.0
            code = f"_reshape(_matmul({self.const('SEL', sel)}, {vec}), {sizes})"
        pos = {d.name: i for i, d in enumerate(scope)}
        shape = [1] * len(scope)
        for d in dims:
            shape[pos[d.name]] = d.size
        if tuple(shape) != sizes:
            code = f"_reshape({code}, {tuple(shape)})"
        return _Val(code, frozenset(d.name for d in dims))

    def reduce(self, node: Reduce, scope: tuple[Dim, ...], path: str) -> _Val:
        dim = reduce_dim(node, self.m.axes, path)
        inner = (*scope, dim)
        weights = None
        if node.kind == "integrate_over":
            weights = np.asarray(
                [dim.axis.deltas[i] for i in dim.coord_indices()], dtype=np.float64
            )
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
                f"({factor!r} * {_drop_last(body, inner, scope)})", body.dims, "num"
            )
        code = body.code
        if weights is not None:
            shape = (1,) * len(scope) + (dim.size,)
            w = self.const("W", weights.reshape(shape))
            code = f"({w} * {code})"
        rest = body.dims - {dim.name}
        if not rest:
            return _Val(f"_sum({code})", frozenset())
        return _Val(f"_sum({code}, axis=-1)", rest)

    def matvec(
        self, body: Node, scope: tuple[Dim, ...], dim: Dim, path: str
    ) -> _Val | None:
        """`sum_over(j, L[a.., j] * R[b.., j] * u)` as a matrix product `L @ R.T`, if it has that form.

        The factors that depend on `j` must fall into two groups (equal dimensions
        within a group) whose other dimensions are disjoint, e.g. a contact matrix
        `C[age, j]` and a state `I[region, j]`. Factors that do not depend on `j`
        multiply the result.
        """
        factors: list[tuple[Node, bool]] = []  # (node, is_divisor)

        def flatten(n: Node, div: bool) -> None:
            if isinstance(n, BinOp) and n.op == "*":
                flatten(n.left, div)
                flatten(n.right, div)
            elif isinstance(n, BinOp) and n.op == "/" and not div:
                flatten(n.left, div)
                flatten(n.right, True)
            else:
                factors.append((n, div))

        flatten(body, False)
        if len(factors) < 2:
            return None
        inner = (*scope, dim)
        vals = [(self.num(self.expr(n, inner, path)), div) for n, div in factors]
        groups: dict[frozenset[str], list[tuple[_Val, bool]]] = {}
        other = []
        for v, d in vals:
            if dim.name in v.dims:
                groups.setdefault(v.dims, []).append((v, d))
            else:
                other.append((v, d))
        if len(groups) != 2:
            return None
        (dims1, g1), (dims2, g2) = groups.items()
        a_dims, b_dims = dims1 - {dim.name}, dims2 - {dim.name}
        if (
            a_dims & b_dims
            or not (a_dims or b_dims)
            or all(d for _, d in g1)
            or all(d for _, d in g2)
        ):
            return None
        pos = {d.name: i for i, d in enumerate(scope)}
        n_in = dim.size

        def group_code(
            group: list[tuple[_Val, bool]], outer: frozenset[str]
        ) -> tuple[str, list[str]]:
            group = sorted(group, key=lambda vd: vd[1])  # multiplications first
            code = group[0][0].code
            for v, d in group[1:]:
                code = f"({code} {'/' if d else '*'} {v.code})"
            names = sorted(outer, key=lambda n: pos[n])
            n_out = 1
            for n in names:
                n_out *= scope[pos[n]].size
            rep = group[0][0] if len(group) == 1 else _Val(code, outer | {dim.name})
            shape = (n_out, n_in) if names else (n_in,)
            return _reshape(rep, _shape(rep, inner), shape), names

        left, left_names = group_code(g1, a_dims)
        right, right_names = group_code(g2, b_dims)
        # Order the operands so that the result's axes follow the scope where possible.
        if left_names and right_names and pos[right_names[0]] < pos[left_names[0]]:
            left, right, left_names, right_names = right, left, right_names, left_names
        if left_names and right_names:
            code = f"_matmul({left}, _permute_dims({right}, (1, 0)))"
        elif left_names:
            code = f"_matmul({left}, {right})"
        else:
            code = f"_matmul({right}, {left})"
            left_names, right_names = right_names, left_names
        names = left_names + right_names
        sizes = tuple(scope[pos[n]].size for n in names)
        if len(left_names) > 1 or len(right_names) > 1:
            code = f"_reshape({code}, {sizes})"
        order = sorted(range(len(names)), key=lambda i: pos[names[i]])
        if order != list(range(len(names))):
            code = f"_permute_dims({code}, {tuple(order)})"
        names = [names[i] for i in order]
        full = tuple(
            scope[pos[n]].size if n in names else 1 for n in (d.name for d in scope)
        )
        if tuple(scope[pos[n]].size for n in names) != full:
            code = f"_reshape({code}, {full})"
        dims = frozenset(names)
        for v, d in other:
            code = f"({code} {'/' if d else '*'} {v.code})"
            dims |= v.dims
        return _Val(code, dims, "num")

    # -- program --------------------------------------------------------------------
    def bcast(self, v: _Val, scope: tuple[Dim, ...]) -> str:
        """Code for `v` as a full array over `scope` (all dimensions present)."""
        shape = tuple(d.size for d in scope)
        if v.dims == frozenset(d.name for d in scope):
            return v.code
        return f"_bcast({v.code}, {shape})"

    def sum_code(self, code: str, axis: Any = None, keepdims: bool = False) -> str:
        args = [code]
        if axis is not None:
            args.append(f"axis={axis}")
        if keepdims:
            args.append("keepdims=True")
        return f"_sum({', '.join(args)})"


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


def _drop_last(v: _Val, inner: tuple[Dim, ...], outer: tuple[Dim, ...]) -> str:
    """Code for `v` (computed in `inner` = `outer` + one loop dimension it does not
    depend on) with that trailing size-1 axis removed."""
    if not v.dims:
        return v.code
    return _reshape(v, _shape(v, inner), _shape(v, outer))  # type: ignore[arg-type]


def _fold(op: str, a: float, b: float) -> float | None:
    with np.errstate(all="ignore"):
        x, y = np.float64(a), np.float64(b)
        if op == "+":
            r = x + y
        elif op == "-":
            r = x - y
        elif op == "*":
            r = x * y
        elif op == "/":
            if y == 0:
                return None
            r = x / y
        elif op == "**":
            r = np.power(x, y)
        elif op == "%":
            if y == 0:
                return None
            r = np.remainder(x, y)
        else:  # pragma: no cover
            return None
    if not np.isfinite(r) and math.isfinite(a) and math.isfinite(b):
        return None  # overflow (or nan) from finite operands
    if not np.isfinite(r):
        return float(r)
    if (
        isinstance(a, int)
        and isinstance(b, int)
        and op in "+-*"
        and float(r).is_integer()
        and abs(r) < 2**53
    ):
        return int(r)
    return float(r)


@paused_gc
def lower_model(
    model: Model, backend_name: str, mode: str = "rhs", *, dispatch: bool = False
) -> Lowered:
    """Generate the source of `rhs(t, y, **params)` for `model`.

    With `mode="jvp"`, generate `jvp(t, y, v, **params)`, the exact directional
    derivative `J(t, y) @ v`, by differentiating the IR (see `_Tangent`).
    With `dispatch=True` (NumPy only), the function first hands any `y` that is
    not a NumPy array, list or scalar (a JAX array or tracer) to `_other(t, y,
    params)`; NumPy inputs pay one class check.
    """
    check_invalid(model)
    deps = _alias_deps(model)
    if mode != "rhs":
        return _lower_pass(model, _Tangent(model, backend_name), mode, dispatch, deps)
    # Two passes for common subexpressions (`_Lowerer.share`): the first counts
    # values and is the result when nothing is computed twice.
    first = _Lowerer(model, backend_name)
    first.cse = first.counting = True
    lowered = _lower_pass(model, first, mode, dispatch, deps)
    if all(n < 2 for n in first.counts.values()):
        return lowered
    second = _Lowerer(model, backend_name)
    second.cse = True
    second.counts, second.numbers = first.counts, first.numbers
    second.group_memo = first.group_memo
    return _lower_pass(model, second, mode, dispatch, deps)


def _lower_pass(
    model: Model,
    lw: _Lowerer,
    mode: str,
    dispatch: bool,
    deps: dict[str, set[str]],
) -> Lowered:
    """One lowering of `model` by `lw` (see `lower_model`)."""
    backend_name = lw.backend_name
    order, cycle = _alias_order(model, deps)
    for i, blk in enumerate(model.blocks):
        lw.block_var[id(blk)] = f"s_{i}"
    for i, alias in enumerate(model.aliases.values()):
        lw.alias_var[alias.base] = f"a_{i}"

    body: list[str] = []
    lw.lines = body
    # Aliases in dependency order (each once per call, shared by all uses).
    reroll = mode == "rhs" and cycle is None
    lw.reroll = reroll
    if cycle is None:
        # Scalar aliases of one shape and one dependency level are computed as one
        # vector (re-rolling, see `_reroll.py`); the rest one by one, in order.
        levels = _alias_levels(deps, order)
        groups: list[Group] = []
        if reroll:
            scalar = [
                (a, a.expr, a.path)
                for a in order
                if not a.axes and a.cells is None and a.expr is not None
            ]
            groups = lw.groups(
                "aliases", lambda: group_cells(model, scalar, lambda a: levels[a.base])
            )
        grouped = {id(a): g for g in groups for a in g.members}
        done_groups: set[int] = set()
        for alias in order:
            g = grouped.get(id(alias))
            if g is not None:
                if id(g) not in done_groups:
                    done_groups.add(id(g))
                    gvar = lw.tmp(_lower_group(lw, g, "aliases"), "g")
                    for j, member in enumerate(g.members):
                        lw.alias_var[member.base] = f"{gvar}[{j}]"
                        lw.alias_group[member.base] = (gvar, j, len(g.members))
                continue
            if alias.cells is not None:
                shape = tuple(ax.size for ax in alias.axes)
                homes = [lw.alias_group.get(c.id) for c in alias.cells]
                first = homes[0]
                if first is not None and all(
                    h == (first[0], j, first[2]) for j, h in enumerate(homes)
                ):
                    # cells defined one by one, computed as one re-rolled group: that vector
                    code = (
                        first[0]
                        if len(shape) == 1
                        else f"_reshape({first[0]}, {shape})"
                    )
                else:
                    vals = [
                        lw.num(lw.expr(c, (), alias.path)).code for c in alias.cells
                    ]
                    code = (
                        f"_reshape(_stack_scalars([{', '.join(vals)}], None), {shape})"
                    )
                body.append(f"    {lw.alias_var[alias.base]} = {code}")
                continue
            scope = tuple(Dim(ax.name, ax) for ax in alias.axes)
            assert alias.expr is not None  # only virtual aliases (cells) have none
            v = (
                _lower_single(lw, alias.expr, alias.path)
                if reroll and not alias.axes
                else None
            )
            if v is None:
                v = lw.num(lw.expr(alias.expr, scope, alias.path))
            code = lw.bcast(v, scope) if alias.axes else v.code
            if not alias.axes and v.key is not None:
                lw.alias_key[alias.base] = v.key
            body.append(f"    {lw.alias_var[alias.base]} = {code}")
    outputs: list[tuple[Block, str]] = []
    #: re-rolled scalar equations: (state indices, code of their vector)
    scattered: list[tuple[list[int], str]] = []
    if cycle is None and mode == "jvp":
        assert isinstance(lw, _Tangent)
        lw.tangent_aliases(order)
        outputs = lw.tangent_outputs()
    elif cycle is None:
        if model.kind == "expr":
            eq_groups: list[Group] = []
            if reroll:
                scalar_eqs = [
                    (
                        eq,
                        *(
                            (eq.expr, eq.path)
                            if eq.expr is not None
                            else eq.overrides[0]
                        ),
                    )
                    for eq in model.equations
                    if not eq.block.axes and eq.chain is None
                ]
                eq_groups = lw.groups(
                    "equations", lambda: group_cells(model, scalar_eqs)
                )
            in_group = {id(eq) for g in eq_groups for eq in g.members}
            for g in eq_groups:
                scattered.append(
                    (
                        [eq.block.offset for eq in g.members],
                        lw.tmp(_lower_group(lw, g, "equations"), "g"),
                    )
                )
            for eq in model.equations:
                if id(eq) not in in_group:
                    outputs.append((eq.block, _lower_equation(lw, eq)))
        else:
            outputs = _lower_transitions(lw, model)

    numpy = backend_name == "numpy"
    lines = [
        "def rhs(t, y, **params):" if mode == "rhs" else "def jvp(t, y, v, **params):"
    ]
    if dispatch:
        lines.append("    if y.__class__ is not _ndarray and _not_numpy(y):")
        lines.append("        return _other(t, y, params)")
    if cycle is not None:
        lines.append(f"    _alias_cycle({cycle!r})")
    head = len(lines)
    # Parameters: fast path reads each by name; the slow path fills expanded names.
    pnames = list(model.params)
    read: list[str] = []
    if pnames:
        lines.append("    try:")
        for p in pnames:
            pd = model.params[p]
            var = lw.param_var[p]
            if mode == "rhs" and not pd.axes and p not in lw.direct_params:
                continue  # only read by re-rolled groups, through _pvec
            read.append(var)
            if pd.axes and not pd.array_ok:
                # a base shared by several index signatures: expanded names only
                lines.append(f"        {var} = _cells(params, {p!r})")
            elif pd.axes and numpy:
                # Cheap static check; anything unusual goes through _param_array.
                lines.append(f"        {var} = params[{p!r}]")
                lines.append(
                    f"        if {var}.__class__ is not _ndarray or {var}.shape != {pd.shape}:"
                )
                lines.append(f"            {var} = _param_array({var}, {p!r})")
            elif pd.axes:
                lines.append(f"        {var} = _param_array(params[{p!r}], {p!r})")
            elif numpy:
                # float64 semantics (inf/nan, not ZeroDivisionError) for Python scalars
                lines.append(f"        {var} = _f64s(params[{pd.base!r}])")
            else:
                lines.append(f"        {var} = params[{pd.base!r}]")
        if lines[-1] == "    try:":  # every parameter is read by re-rolled groups
            lines.pop()
        else:
            lines.append("    except KeyError:")
            targets = ", ".join(lw.param_var[p] for p in pnames)
            lines.append(f"        {targets}, = _fill_params(params)")
    for var, names in lw.param_vectors:
        lines.append(
            f"    {var} = _pvec(params, {names!r}, {'_f64' if numpy else 'None'})"
        )
    read.extend(var for var, _ in lw.param_vectors)
    for var, code in lw.param_cells:
        lines.append(f"    {var} = {code}")
    read.extend(var for var, _ in lw.param_cells)
    param_lines = lines[head:]
    rest = len(lines)
    if numpy:
        lines.append("    if y.__class__ is not _ndarray or y.dtype is not _f64:")
        lines.append("        y = _state(y)")
    else:
        lines.append("    y = _state(y)")
    lines.append(f"    if y.shape != ({model.n_state},):")
    lines.append("        _bad_shape(y)")
    if not numpy:
        # float constants follow y's dtype (float32 stays float32)
        for k, v in lw.consts.items():
            if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                lines.append(f"    {k} = _astype(_{k}, y.dtype)")
    if numpy and lw.uses_time:
        lines.append("    t = _f64s(t)")
    for i, blk in enumerate(model.blocks):
        if cycle is None and id(blk) in lw.used_blocks:
            lines.append(f"    s_{i} = {_block_view('y', blk)}")
    if mode == "jvp":
        lines.append("    v = _state(v)")
        assert isinstance(lw, _Tangent)
        for i, blk in enumerate(model.blocks):
            if id(blk) in lw.used_tblocks:
                lines.append(f"    ts_{i} = {_block_view('v', blk)}")
    lines.extend(body)
    if cycle is not None:
        lines.append("    return y")
    elif numpy:
        # NumPy: write each block into one preallocated output (no concatenations).
        lines.append(f"    out = _empty({model.n_state})")
        for idx, code in scattered:
            lines.append(f"    out[{_index_code(lw, idx)}] = {code}")
        zero_run: list[
            int
        ] = []  # consecutive scalar states with no term: one slice write

        def flush_zeros() -> None:
            if zero_run:
                where = (
                    str(zero_run[0])
                    if len(zero_run) == 1
                    else f"{zero_run[0]}:{zero_run[-1] + 1}"
                )
                lines.append(f"    out[{where}] = 0.0")
                zero_run.clear()

        for blk, code in outputs:
            start, stop = blk.offset, blk.offset + blk.size
            segments = lw.segments.get(id(blk))
            if not blk.axes and code == "0.0" and segments is None:
                if zero_run and zero_run[-1] != start - 1:
                    flush_zeros()
                zero_run.append(start)
                continue
            flush_zeros()
            if segments is not None:
                pos = start
                for length, seg in segments:
                    if length and seg.startswith("_subtract("):  # computed in place
                        lines.append(f"    {seg[:-1]}, out=out[{pos}:{pos + length}])")
                    elif length:
                        lines.append(f"    out[{pos}:{pos + length}] = {seg}")
                    pos += length
            elif not blk.axes:
                lines.append(f"    out[{start}] = {code}")
            else:
                flat = (
                    code if len(blk.axes) == 1 else f"_reshape({code}, ({blk.size},))"
                )
                lines.append(f"    out[{start}:{stop}] = {flat}")
        flush_zeros()
        for idx, code in lw.overwrites:  # re-rolled per-cell overrides
            lines.append(f"    out[{_index_code(lw, idx)}] = {code}")
        for idx, sign, code in lw.scatters:
            runs = _runs(idx)
            if runs is not None:  # a few slices: in-place slice updates
                for lo, hi, start in runs:
                    part = code if (lo, hi) == (0, len(idx)) else f"{code}[{lo}:{hi}]"
                    lines.append(f"    out[{start}:{start + hi - lo}] {sign}= {part}")
            elif len(set(idx)) == len(idx):  # distinct cells: an in-place fancy update
                lines.append(f"    out[{_index_code(lw, idx)}] {sign}= {code}")
            else:  # repeated cells accumulate
                lines.append(
                    f"    {'_add_at' if sign == '+' else '_subtract_at'}(out, {_index_code(lw, idx)}, {code})"
                )
        lines.append("    return out")
    else:
        pieces: list[tuple[str, bool]] = []  # (code, is a fresh array)
        spans: list[tuple[int, str | None]] = []  # (length, code; None for zeros)
        run: list[str] = []
        positions: list[int] = []  # state index of each entry of the concatenation
        for idx, code in scattered:
            pieces.append((code, False))
            spans.append((len(idx), code))
            positions.extend(idx)
        zeros = 0  # consecutive scalar states with no term: one zeros piece

        def flush() -> None:
            nonlocal run, zeros
            if run:
                code = f"_stack_scalars([{', '.join(run)}], y.dtype)"
                pieces.append((code, True))
                spans.append((len(run), code))
                run = []
            if zeros:
                pieces.append((f"_zeros(({zeros},), dtype=y.dtype)", True))
                spans.append((zeros, None))
                zeros = 0

        for blk, code in outputs:
            positions.extend(range(blk.offset, blk.offset + blk.size))
            if blk.axes:
                flush()
                flat = (
                    code if len(blk.axes) == 1 else f"_reshape({code}, ({blk.size},))"
                )
                pieces.append((flat, False))
                spans.append((blk.size, flat))
            elif code == "0.0":
                if run:
                    flush()
                zeros += 1
            else:
                if zeros:
                    flush()
                run.append(code)
        flush()
        in_order = positions == list(range(model.n_state))
        segmented = (
            _segmented_flows(lw, spans, model.n_state)
            if lw.scatters and in_order
            else None
        )
        if segmented is not None:
            result = segmented
        elif len(pieces) == 1 and not scattered:
            code, fresh = pieces[0]
            result = code if fresh else f"_as_out({code}, y.dtype)"
        elif in_order:
            result = f"_concat([{', '.join(c for c, _ in pieces)}])"
        else:
            # re-rolled equations come first: put every entry back at its state's place
            perm = lw.const(
                "PERM", np.argsort(np.asarray(positions, dtype=np.int64), kind="stable")
            )
            result = f"_take(_concat([{', '.join(c for c, _ in pieces)}]), {perm})"
        if lw.scatters and segmented is None:
            lines.append(f"    out = {result}")
            gathered = _gathered_flows(lw, model.n_state)
            if gathered is not None:
                # every state's flows gathered from one vector and summed: XLA fuses
                # gathers, where scatters (`.at[].add`) run one by one
                lines.append(f"    out = out + {gathered}")
            else:
                for idx, sign, code in lw.scatters:
                    where = _index_code(lw, idx)
                    add = code if sign == "+" else f"-{code}"
                    lines.append(f"    out = out.at[{where}].add({add})")
            result = "out"
        lines.append(f"    return {result}")
    split: list[str] = []
    if mode == "rhs" and cycle is None:
        # The same function split in two: `prep(params)` reads the parameters once
        # (what `CompiledRhs.bind` calls), `core(t, y, *prep(params))` does the rest.
        split.append("def prep(params):")
        split.extend(param_lines)
        split.append(f"    return ({''.join(v + ', ' for v in read)})")
        split.append(f"def core(t, y{''.join(', ' + v for v in read)}):")
        split.extend(lines[rest:])
    source = "\n".join(lines) + "\n"
    bound_source = "\n".join(split) + "\n" if split else ""
    return Lowered(source, lw.consts, pnames, cycle, bound_source)


def _block_view(vec: str, blk: Block) -> str:
    """Code for one block of a state-shaped vector: a scalar, or a view of its axes' shape."""
    if not blk.axes:
        return f"{vec}[{blk.offset}]"
    sl = f"{vec}[{blk.offset}:{blk.offset + blk.size}]"
    return f"_reshape({sl}, {blk.shape})" if len(blk.axes) > 1 else sl


def _rate_vector(lw: _Lowerer, nodes: list[Node], path: str) -> str:
    """One scalar if all rates are the same expression, else a stacked vector."""
    vals = [lw.num(lw.expr(n, (), path)).code for n in nodes]
    if all(v == vals[0] for v in vals):
        return vals[0]
    return lw.tmp(f"_stack_scalars([{', '.join(vals)}], y.dtype)", "r")


def _lower_equation(lw: _Lowerer, eq: Any) -> str:
    blk: Block = eq.block
    scope = tuple(Dim(ax.name, ax) for ax in blk.axes)
    if eq.chain is not None:
        # Stage i: (r[i-1]) * I[i-1] - (r_out[i]) * I[i]; vectorized as shifted slices.
        lw.used_blocks.add(id(blk))
        rates = _rate_vector(lw, [*eq.chain[0], eq.chain[1]], eq.path)
        f = lw.tmp(f"({rates} * {lw.block_var[id(blk)]})", "f")
        code = f"_concat([(-{f}[:1]), ({f}[:-1] - {f}[1:])])"
        return lw.tmp(_overridden(lw, blk, code, eq.overrides), "d")
    if not blk.axes:
        node, path = (eq.expr, eq.path) if eq.expr is not None else eq.overrides[0]
        single = _lower_single(lw, node, path) if lw.reroll else None
        v = single if single is not None else lw.num(lw.expr(node, (), path))
        return lw.tmp(v.code, "d")
    if eq.expr is not None:
        v = lw.num(lw.expr(eq.expr, scope, eq.path))
        code = lw.bcast(v, scope)
    else:
        code = f"_bcast(0.0, {blk.shape})"
    return lw.tmp(_overridden(lw, blk, code, eq.overrides), "d")


def _overridden(
    lw: _Lowerer, blk: Block, code: str, overrides: dict[int, tuple[Node, str]]
) -> str:
    """`code` (the block's template) with its per-cell overrides in place.

    Overrides of one expression shape are re-rolled: one vector of their values,
    which NumPy writes over the block's cells in the output (`lw.overwrites`)
    and other namespaces gather into the block's shape and select with one
    mask. The others get a mask each.
    """
    items = sorted(overrides.items())
    groups: list[Group] = []
    singles = [flat for flat, _ in items]
    if lw.reroll and len(items) > 1:
        cells = [(flat, node, path) for flat, (node, path) in items]
        groups, singles = group_cells(lw.m, cells)

    def mask_of(cells: list[int]) -> str:
        mask = np.zeros(blk.size, dtype=bool)
        mask[cells] = True
        return lw.const("MASK", mask.reshape(blk.shape))

    for g in groups:
        vec = _lower_group(lw, g, "equations")
        if lw.backend_name == "numpy":
            lw.overwrites.append(([blk.offset + m for m in g.members], vec))
            continue
        pos = np.zeros(blk.size, dtype=np.int64)
        pos[g.members] = np.arange(len(g.members))
        placed = f"_take({vec}, {lw.const('IDX', pos)})"
        if len(blk.shape) > 1:
            placed = f"_reshape({placed}, {blk.shape})"
        code = f"_where({mask_of(g.members)}, {placed}, {code})"
    for flat in singles:
        node, path = overrides[flat]
        ov = lw.num(lw.expr(node, (), path))
        code = f"_where({mask_of([flat])}, {ov.code}, {code})"
    return code


def _lower_transitions(lw: _Lowerer, model: Model) -> list[tuple[Block, str]]:
    terms: dict[int, list[tuple[str, str, tuple[int, ...] | None]]] = {
        id(b): [] for b in model.blocks
    }
    # Chains: forward flows `f` as one vector; scalar flows into the first stage or out
    # of the last one (entry, exit) join the same concatenation instead of one-hot terms.
    chain_f: dict[int, str] = {}
    edges: dict[int, dict[int, list[tuple[str, str]]]] = {}
    grouped = _transition_groups(lw, model)
    for td in model.transitions:
        if id(td) in grouped:
            continue
        if isinstance(td, ChainFlow):
            # I[i] -> I[i+1] at rate r[i]: outflow from stages 0..k-2, inflow to 1..k-1.
            lw.used_blocks.add(id(td.block))
            rates = _rate_vector(lw, list(td.rates), td.path)
            var = lw.block_var[id(td.block)]
            chain_f[id(td.block)] = lw.tmp(f"({rates} * {var}[:-1])", "f")
            continue
        scope = td.dims
        single = (
            _lower_single(lw, td.rate, f"{td.path}.rate")
            if lw.reroll and not scope
            else None
        )
        rate = (
            single
            if single is not None
            else lw.num(lw.expr(td.rate, scope, f"{td.path}.rate"))
        )
        src = lw.target(model.resolve(td.src, scope, f"{td.path}.from"), scope, td.path)
        flow_code = lw.tmp(f"({rate.code} * {src.code})", "f")
        flow = _Val(flow_code, rate.dims | src.dims)
        for node, sign in ((td.src, "-"), (td.dst, "+")):
            tgt = model.resolve(node, scope, td.path)
            blk = tgt.obj
            if (
                blk.custom is not None
                and not flow.dims
                and not scope  # a templated transition adds once per cell of its scope
                and len(tgt.sels) == 1
                and tgt.sels[0][0] == "lit"
                and tgt.sels[0][1] in (0, blk.size - 1)
            ):
                edges.setdefault(id(blk), {}).setdefault(tgt.sels[0][1], []).append(
                    (sign, flow.code)
                )
                continue
            code, shape = _place(lw, flow, tgt, scope)
            terms[id(tgt.obj)].append((sign, code, shape))
    for blk in model.blocks:
        f = chain_f.get(id(blk))
        if f is None:
            continue
        ends = edges.get(id(blk), {})

        def edge(i: int, ends: dict[int, list[tuple[str, str]]] = ends) -> str:
            return "".join(f" {sign} {code}" for sign, code in ends.get(i, []))

        segments = [
            (1, f"({edge(0)} - {f}[:1])".replace("( + ", "(").replace("( - ", "(-")),
            (blk.size - 2, f"({f}[:-1] - {f}[1:])"),
            (1, f"({f}[-1:]{edge(blk.size - 1)})"),
        ]
        if lw.backend_name == "numpy" and not terms[id(blk)]:
            segments[1] = (blk.size - 2, f"_subtract({f}[:-1], {f}[1:])")
            lw.segments[id(blk)] = segments  # written straight into the output
            continue
        code = f"_concat([{', '.join(seg for _, seg in segments)}])"
        terms[id(blk)].append(("+", code, blk.shape))
    return _sum_terms(lw, model, terms)


def _transition_groups(lw: _Lowerer, model: Model) -> set[int]:
    """Re-roll scalar transitions of one rate shape: one flow vector per group.

    Each group's flows leave their sources and reach their targets as scatter-adds
    into the output (`lw.scatters`); NumPy and JAX only (the Array API has no
    scatter). Returns the ids of the transitions lowered here.
    """
    if not lw.reroll or lw.backend_name not in ("numpy", "jax"):
        return set()
    cells = [
        (td, td.rate, f"{td.path}.rate")
        for td in model.transitions
        if not isinstance(td, ChainFlow) and not td.dims
    ]
    groups = lw.groups("transitions", lambda: group_cells(model, cells))
    done: set[int] = set()
    for g in groups:
        src = [_state_index(model.resolve(td.src, (), td.path)) for td in g.members]
        dst = [_state_index(model.resolve(td.dst, (), td.path)) for td in g.members]
        # in state order, the sources and targets of per-cell flows are slices
        order = sorted(range(len(src)), key=lambda i: (src[i], dst[i]))
        g.members = [g.members[i] for i in order]
        g.nodes = [g.nodes[i] for i in order]
        g.leaves = [g.leaves[i] for i in order]
        src, dst = [src[i] for i in order], [dst[i] for i in order]
        rate = _lower_group(lw, g, "transitions", full=False)
        flow = lw.tmp(f"({rate} * {_gather(lw, 'y', src)})", "f")
        lw.scatters.append((src, "-", flow))
        lw.scatters.append((dst, "+", flow))
        done.update(id(td) for td in g.members)
    return done


def _state_index(tgt: Target) -> int:
    """Position in `y` of a state cell resolved with fixed coordinates."""
    blk: Block = tgt.obj
    idx = tuple(v for _, v in tgt.sels)
    return blk.offset + (blk.flat(idx) if idx else 0)


def _sum_terms(
    lw: _Lowerer,
    model: Model,
    terms: dict[int, list[tuple[str, str, tuple[int, ...] | None]]],
) -> list[tuple[Block, str]]:
    """Each block's derivative: the signed sum of its flow terms, broadcast to its shape."""
    out = []
    for blk in model.blocks:
        if id(blk) in lw.segments:
            out.append((blk, ""))
            continue
        # added terms first: `b - a`, not `(-a) + b` (see `_segmented_flows`)
        ts = sorted(terms[id(blk)], key=lambda t: t[0] != "+")
        if not ts:
            code = "0.0" if not blk.axes else f"_bcast(0.0, {blk.shape})"
        else:
            code = ts[0][1] if ts[0][0] == "+" else f"(-{ts[0][1]})"
            for sign, c, _ in ts[1:]:
                code = f"{code} {sign} {c}"
            if blk.axes:
                shapes = [sh for _, _, sh in ts if sh is not None]
                full = tuple(max(dims) for dims in zip(*shapes)) if shapes else None
                if full != blk.shape:
                    code = f"_bcast({code}, {blk.shape})"
        out.append((blk, lw.tmp(code, "d")))
    return out


def _place(
    lw: _Lowerer, flow: _Val, tgt: Target, scope: tuple[Dim, ...]
) -> tuple[str, tuple[int, ...] | None]:
    """Code adding `flow` (over `scope`) into the target block's cells, and its shape."""
    blk: Block = tgt.obj
    used = [v for k, v in tgt.sels if k == "dim"]
    if len(set(used)) != len(used):
        raise UnsupportedFeatureError(
            "Feature 'diagonal index' is not supported in transitions."
        )
    # Sum the flow over scope dimensions the target does not have; dimensions the
    # flow does not depend on contribute a factor of their size instead.
    sum_axes = tuple(
        i for i, d in enumerate(scope) if d.name not in used and d.name in flow.dims
    )
    mult = 1
    for d in scope:
        if d.name not in used and d.name not in flow.dims:
            mult *= d.size
    code = flow.code
    if not flow.dims:
        shape: tuple[int, ...] | None = None
    elif len(sum_axes) == len(flow.dims):
        code, shape = f"_sum({code})", None
    else:
        cur = [d.size if d.name in flow.dims else 1 for d in scope]
        if sum_axes:
            code = (
                f"_sum({code}, axis={sum_axes if len(sum_axes) > 1 else sum_axes[0]})"
            )
            cur = [n for i, n in enumerate(cur) if i not in sum_axes]
        rest = [d for i, d in enumerate(scope) if i not in sum_axes]
        kept = [d for d in rest if d.name in used]
        shape = tuple(d.size if d.name in flow.dims else 1 for d in kept)
        if tuple(cur) != shape:
            code = f"_reshape({code}, {shape})"
        perm = tuple(kept.index(next(d for d in kept if d.name == n)) for n in used)
        if perm != tuple(range(len(perm))):
            code = f"_permute_dims({code}, {perm})"
            shape = tuple(shape[p] for p in perm)
    if mult != 1:
        code = f"({mult} * {code})"
    if not blk.axes:
        return code, None
    lits = [(p, v) for p, (k, v) in enumerate(tgt.sels) if k == "lit"]
    if not lits:
        return code, shape
    # Place the flow at the target's fixed coordinates: a select against a constant
    # mask (exact zeros elsewhere, so a non-finite flow stays in its own cell).
    it = iter(shape or ())
    full = tuple(
        1 if k == "lit" else (next(it) if shape is not None else 1) for k, _ in tgt.sels
    )
    if shape is not None:
        code = f"_reshape({code}, {full})"
    out_shape = list(full)
    for p, i in lits:
        mask_shape = [1] * len(blk.axes)
        mask_shape[p] = blk.axes[p].size
        mask = np.zeros(mask_shape, dtype=bool)
        mask.reshape(-1)[i] = True
        out_shape[p] = blk.axes[p].size
        if shape is None and p == lits[0][0]:
            # a scalar flow: make it an array of the target's dtype first (Array API where)
            code = (
                f"_asarray({code}, dtype=y.dtype)"
                if lw.backend_name != "numpy"
                else code
            )
        code = f"_where({lw.const('MASK', mask)}, {code}, 0.0)"
    return code, tuple(out_shape)


class _Tangent(_Lowerer):
    """Forward-mode differentiation of the IR: code for `J(t, y) @ v`, vectorized like the RHS.

    Each rule returns the tangent as a `_Val`, or None when it is identically zero
    (parameters, time and constants have no tangent). Exact, not finite differences.
    """

    def __init__(self, model: Model, backend_name: str) -> None:
        super().__init__(model, backend_name)
        self.used_tblocks: set[int] = set()
        self.tblock_var = {id(b): f"ts_{i}" for i, b in enumerate(model.blocks)}
        self.talias_var: dict[str, str | None] = {}
        #: primal values already lowered, as temporaries: (node id, scope) -> (value, line)
        self._primal: dict[tuple[int, tuple[Dim, ...]], tuple[_Val, int]] = {}

    def expr(self, node: Node, scope: tuple[Dim, ...], path: str) -> _Val:
        """The primal value of `node`, lowered once per scope and kept in a temporary.

        The product and quotient rules need the primal of each operand; without
        this, every level of a nested product would lower its whole subtree again
        (quadratic source). With it, the jvp's source is linear in the expression.
        """
        key = (id(node), scope)
        hit = self._primal.get(key)
        if hit is not None:
            return hit[0]
        v = super().expr(node, scope, path)
        if v.const is None and not _is_atom(v.code):
            v = _Val(self.tmp(v.code), v.dims, v.kind)
        self._primal[key] = (v, len(self.lines))
        return v

    def forget_after(self, emitted: int) -> None:
        """Drop primal values whose temporaries were discarded (lines past `emitted`)."""
        for key in [k for k, (_, line) in self._primal.items() if line > emitted]:
            del self._primal[key]

    # -- helpers --------------------------------------------------------------------
    def t_target(self, tgt: Target, scope: tuple[Dim, ...], path: str) -> _Val | None:
        var: str | None
        if tgt.kind == "state":
            blk: Block = tgt.obj
            self.used_tblocks.add(id(blk))
            var = self.tblock_var[id(blk)]
        elif tgt.kind == "alias":
            var = self.talias_var.get(tgt.obj.base)
            if var is None:
                return None
        else:
            return None
        if not tgt.sels:
            return _Val(var, frozenset())
        return self.index(var, tgt.sels, scope, path)

    @staticmethod
    def _z(v: _Val | None) -> str:
        return "0.0" if v is None else v.code

    def add(self, a: _Val | None, b: _Val | None, sign: str = "+") -> _Val | None:
        if b is None:
            return a
        if a is None:
            return b if sign == "+" else _Val(f"(-{b.code})", b.dims)
        return _Val(f"({a.code} {sign} {b.code})", a.dims | b.dims)

    def mul(self, a: _Val | None, b: _Val) -> _Val | None:
        if a is None:
            return None
        return _Val(f"({a.code} * {b.code})", a.dims | b.dims)

    def product_rule(
        self, op: str, da: _Val | None, a: _Val, db: _Val | None, b: _Val
    ) -> _Val | None:
        """Tangent of `a * b` or `a / b` from the operands' values and tangents.

        For `/`, `b` should be a temporary: it appears three times.
        """
        if op == "*":
            return self.add(self.mul(da, b), self.mul(db, a))
        first = (
            None if da is None else _Val(f"({da.code} / {b.code})", da.dims | b.dims)
        )
        second = (
            None
            if db is None
            else _Val(
                f"(({a.code} * {db.code}) / ({b.code} * {b.code}))",
                a.dims | db.dims | b.dims,
            )
        )
        return self.add(first, second, "-")

    # -- rules ----------------------------------------------------------------------
    def d(self, node: Node, scope: tuple[Dim, ...], path: str) -> _Val | None:
        if isinstance(node, (Num, NpConst, Invalid)):
            return None
        if isinstance(node, (Name, Ref)):
            return self.t_target(self.m.resolve(node, scope, path), scope, path)
        if isinstance(node, UnaryOp):
            if node.op == "not":
                return None
            dv = self.d(node.operand, scope, path)
            if dv is None or node.op == "+":
                return dv
            return _Val(f"(-{dv.code})", dv.dims)
        if isinstance(node, BinOp):
            da, db = self.d(node.left, scope, path), self.d(node.right, scope, path)
            if da is None and db is None:
                return None
            if node.op in "+-":
                return self.add(da, db, node.op)
            a = self.num(self.expr(node.left, scope, path))
            b = self.num(self.expr(node.right, scope, path))
            if node.op == "*":
                return self.product_rule("*", da, a, db, b)
            if node.op == "/":
                return self.product_rule("/", da, a, db, _Val(self.tmp(b.code), b.dims))
            if node.op == "**":
                at, bt = self.tmp(a.code), self.tmp(b.code)
                first = (
                    None
                    if da is None
                    else _Val(
                        f"(({bt} * ({at} ** ({bt} - 1))) * {da.code})",
                        da.dims | a.dims | b.dims,
                    )
                )
                second = (
                    None
                    if db is None
                    else _Val(
                        f"((({at} ** {bt}) * _log({at})) * {db.code})",
                        db.dims | a.dims | b.dims,
                    )
                )
                return self.add(first, second)
            if node.op == "%":
                second = (
                    None
                    if db is None
                    else _Val(
                        f"(_floor({a.code} / {b.code}) * {db.code})",
                        db.dims | a.dims | b.dims,
                    )
                )
                return self.add(da, second, "-")
        if isinstance(node, Chain):
            return self.d_chain(node, scope, path)
        if isinstance(node, (Compare,)):
            return None
        if isinstance(node, BoolOp):
            vals = [self.expr(v, scope, path) for v in node.values]
            if all(v.kind == "bool" for v in vals):
                return None
            tangents = [self.d(v, scope, path) for v in node.values]
            nums = [self.num(v) for v in vals]
            acc = tangents[-1]
            for v, dv in zip(reversed(nums[:-1]), reversed(tangents[:-1])):
                if acc is None and dv is None:
                    continue
                t = self.tmp(v.code)
                if node.op == "and":
                    acc = _Val(
                        f"_where({t} != 0, {self._z(acc)}, {self._z(dv)})",
                        v.dims
                        | (acc.dims if acc else frozenset())
                        | (dv.dims if dv else frozenset()),
                    )
                else:
                    acc = _Val(
                        f"_where({t} != 0, {self._z(dv)}, {self._z(acc)})",
                        v.dims
                        | (acc.dims if acc else frozenset())
                        | (dv.dims if dv else frozenset()),
                    )
            return acc
        if isinstance(node, IfExp):
            db, do = self.d(node.body, scope, path), self.d(node.orelse, scope, path)
            if db is None and do is None:
                return None
            test = self.boolean(self.expr(node.test, scope, path))
            if test.const is not None:
                return db if test.const else do
            dims = (
                test.dims
                | (db.dims if db else frozenset())
                | (do.dims if do else frozenset())
            )
            return _Val(f"_where({test.code}, {self._z(db)}, {self._z(do)})", dims)
        if isinstance(node, Call):
            return self.d_call(node, scope, path)
        if isinstance(node, Reduce):
            return self.d_reduce(node, scope, path)
        raise ExpressionError(
            f"cannot differentiate {type(node).__name__}", path=path
        )  # pragma: no cover

    def d_chain(self, node: Chain, scope: tuple[Dim, ...], path: str) -> _Val | None:
        """Tangent of a `Chain`, term by term (linear in its length)."""
        dt = self.d(node.operands[0], scope, path)
        if node.ops[0] in "+-":
            for i, (op, operand) in enumerate(zip(node.ops, node.operands[1:])):
                dt = self.add(dt, self.d(operand, scope, path), op)
                if dt is not None and i % _SPILL == _SPILL - 1:
                    dt = _Val(self.tmp(dt.code), dt.dims)
            return dt
        # products and quotients: carry the running primal value as a temporary
        acc = self.num(self.expr(node.operands[0], scope, path))
        for op, operand in zip(node.ops, node.operands[1:]):
            b = self.num(self.expr(operand, scope, path))
            db = self.d(operand, scope, path)
            bt = self.tmp(b.code)
            bv = _Val(bt, b.dims)
            at = _Val(self.tmp(acc.code), acc.dims)
            dt = self.product_rule(op, dt, at, db, bv)
            if dt is not None:
                dt = _Val(self.tmp(dt.code), dt.dims)
            acc = _Val(f"({at.code} {op} {bt})", at.dims | b.dims, "num")
        return dt

    def d_call(self, node: Call, scope: tuple[Dim, ...], path: str) -> _Val | None:
        if node.func == "sum_state":
            return _Val("_sum(v)", frozenset())
        if node.func == "sum_prefix":
            return self.prefix_sum(node, scope, path, "v")
        if node.func == "where":
            da, db = (
                self.d(node.args[1], scope, path),
                self.d(node.args[2], scope, path),
            )
            if da is None and db is None:
                return None
            c = self.boolean(self.expr(node.args[0], scope, path))
            dims = (
                c.dims
                | (da.dims if da else frozenset())
                | (db.dims if db else frozenset())
            )
            return _Val(f"_where({c.code}, {self._z(da)}, {self._z(db)})", dims)
        ds = [self.d(a, scope, path) for a in node.args]
        if all(x is None for x in ds):
            return None
        xs = [self.num(self.expr(a, scope, path)) for a in node.args]
        f = node.func
        if f in ("maximum", "minimum", "clip"):
            if f == "clip":
                x, lo, hi = xs
                dx, dlo, dhi = ds
                m = _Val(f"_maximum({x.code}, {lo.code})", x.dims | lo.dims)
                dm = self._select(f"({x.code} >= {lo.code})", dx, dlo, x.dims | lo.dims)
                return self._select(
                    f"({m.code} <= {hi.code})", dm, dhi, m.dims | hi.dims
                )
            cmp = ">=" if f == "maximum" else "<="
            return self._select(
                f"({xs[0].code} {cmp} {xs[1].code})",
                ds[0],
                ds[1],
                xs[0].dims | xs[1].dims,
            )
        if f in ("hypot", "arctan2"):
            a, b = xs
            da, db = ds
            at, bt = self.tmp(a.code), self.tmp(b.code)
            dims = a.dims | b.dims
            if f == "hypot":
                h = self.tmp(f"_hypot({at}, {bt})")
                first = (
                    None
                    if da is None
                    else _Val(f"(({at} / {h}) * {da.code})", dims | da.dims)
                )
                second = (
                    None
                    if db is None
                    else _Val(f"(({bt} / {h}) * {db.code})", dims | db.dims)
                )
                return self.add(first, second)
            r2 = self.tmp(f"({at} * {at} + {bt} * {bt})")
            first = (
                None
                if da is None
                else _Val(f"(({bt} / {r2}) * {da.code})", dims | da.dims)
            )
            second = (
                None
                if db is None
                else _Val(f"(({at} / {r2}) * {db.code})", dims | db.dims)
            )
            return self.add(first, second, "-")
        (x,), (dx,) = xs, ds
        if dx is None:
            return None
        xc = self.tmp(x.code)
        ln2, ln10 = repr(math.log(2.0)), repr(math.log(10.0))
        factor = {
            "exp": f"_exp({xc})",
            "expm1": f"_exp({xc})",
            "log": f"(1.0 / {xc})",
            "log1p": f"(1.0 / (1.0 + {xc}))",
            "log2": f"(1.0 / ({xc} * {ln2}))",
            "log10": f"(1.0 / ({xc} * {ln10}))",
            "sqrt": f"(0.5 / _sqrt({xc}))",
            "abs": f"_sign({xc})",
            "sin": f"_cos({xc})",
            "cos": f"(-_sin({xc}))",
            "tan": f"(1.0 / (_cos({xc}) * _cos({xc})))",
            "sinh": f"_cosh({xc})",
            "cosh": f"_sinh({xc})",
            "tanh": f"(1.0 - _tanh({xc}) * _tanh({xc}))",
        }[f]
        return _Val(f"({factor} * {dx.code})", x.dims | dx.dims)

    def _select(
        self, cond: str, a: _Val | None, b: _Val | None, dims: frozenset[str]
    ) -> _Val | None:
        if a is None and b is None:
            return None
        all_dims = (
            dims | (a.dims if a else frozenset()) | (b.dims if b else frozenset())
        )
        return _Val(f"_where({cond}, {self._z(a)}, {self._z(b)})", all_dims)

    def d_reduce(self, node: Reduce, scope: tuple[Dim, ...], path: str) -> _Val | None:
        dim = reduce_dim(node, self.m.axes, path)
        inner = (*scope, dim)
        body = self.d(node.body, inner, path)
        if body is None:
            return None
        weights = None
        if node.kind == "integrate_over":
            weights = np.asarray(
                [dim.axis.deltas[i] for i in dim.coord_indices()], dtype=np.float64
            )
        if dim.name not in body.dims:
            factor = float(weights.sum()) if weights is not None else float(dim.size)
            return _Val(f"({factor!r} * {_drop_last(body, inner, scope)})", body.dims)
        code = body.code
        if weights is not None:
            w = self.const("W", weights.reshape((1,) * len(scope) + (dim.size,)))
            code = f"({w} * {code})"
        rest = body.dims - {dim.name}
        if not rest:
            return _Val(f"_sum({code})", frozenset())
        return _Val(f"_sum({code}, axis=-1)", rest)

    # -- program pieces -------------------------------------------------------------
    def tangent_aliases(self, order: list[AliasDef]) -> None:
        for i, alias in enumerate(order):
            var = f"ta_{i}"
            if alias.cells is not None:
                ts = [self.d(c, (), alias.path) for c in alias.cells]
                if all(x is None for x in ts):
                    self.talias_var[alias.base] = None
                    continue
                code = f"_reshape(_stack_scalars([{', '.join(self._z(x) for x in ts)}], None), {tuple(ax.size for ax in alias.axes)})"
            else:
                scope = tuple(Dim(ax.name, ax) for ax in alias.axes)
                assert alias.expr is not None  # only virtual aliases (cells) have none
                dv = self.d(alias.expr, scope, alias.path)
                if dv is None:
                    self.talias_var[alias.base] = None
                    continue
                code = self.bcast(dv, scope) if alias.axes else dv.code
            self.lines.append(f"    {var} = {code}")
            self.talias_var[alias.base] = var

    def tangent_outputs(self) -> list[tuple[Block, str]]:
        m = self.m
        if m.kind == "expr":
            out = []
            for eq in m.equations:
                out.append((eq.block, self._t_equation(eq)))
            return out
        terms: dict[int, list[tuple[str, str, tuple[int, ...] | None]]] = {
            id(b): [] for b in m.blocks
        }
        for td in m.transitions:
            if isinstance(td, ChainFlow):
                blk = td.block
                self.used_blocks.add(id(blk))
                self.used_tblocks.add(id(blk))
                rates = _rate_vector(self, list(td.rates), td.path)
                drates = [self.d(r, (), td.path) for r in td.rates]
                var, tvar = self.block_var[id(blk)], self.tblock_var[id(blk)]
                df = f"({rates} * {tvar}[:-1])"
                if any(x is not None for x in drates):
                    dr = _stack_or_one([self._z(x) for x in drates])
                    df = f"({df} + ({dr} * {var}[:-1]))"
                f = self.tmp(df, "tf")
                code = f"_concat([(-{f}[:1]), ({f}[:-1] - {f}[1:]), {f}[-1:]])"
                terms[id(blk)].append(("+", code, blk.shape))
                continue
            scope = td.dims
            rate = self.num(self.expr(td.rate, scope, f"{td.path}.rate"))
            src_t = self.m.resolve(td.src, scope, f"{td.path}.from")
            src = self.target(src_t, scope, td.path)
            drate = self.d(td.rate, scope, f"{td.path}.rate")
            dsrc = self.t_target(src_t, scope, td.path)
            dflow = self.add(self.mul(drate, src), self.mul(dsrc, rate))
            if dflow is None:
                continue
            flow = _Val(self.tmp(dflow.code, "tf"), dflow.dims)
            for node, sign in ((td.src, "-"), (td.dst, "+")):
                tgt = m.resolve(node, scope, td.path)
                code, shape = _place(self, flow, tgt, scope)
                terms[id(tgt.obj)].append((sign, code, shape))
        return _sum_terms(self, m, terms)

    def _t_equation(self, eq: Any) -> str:
        blk: Block = eq.block
        scope = tuple(Dim(ax.name, ax) for ax in blk.axes)
        if eq.chain is not None:
            self.used_blocks.add(id(blk))
            self.used_tblocks.add(id(blk))
            nodes = [*eq.chain[0], eq.chain[1]]
            rates = _rate_vector(self, nodes, eq.path)
            drates = [self.d(r, (), eq.path) for r in nodes]
            var, tvar = self.block_var[id(blk)], self.tblock_var[id(blk)]
            df = f"({rates} * {tvar})"
            if any(x is not None for x in drates):
                df = f"({df} + ({_stack_or_one([self._z(x) for x in drates])} * {var}))"
            f = self.tmp(df, "tf")
            code = f"_concat([(-{f}[:1]), ({f}[:-1] - {f}[1:])])"
            for flat, (node, path) in sorted(eq.overrides.items()):
                ov = self.d(node, (), path)
                mask = np.zeros(blk.shape, dtype=bool)
                mask[flat] = True
                code = f"_where({self.const('MASK', mask)}, {self._z(ov)}, {code})"
            return self.tmp(code, "d")
        if not blk.axes:
            node, path = (eq.expr, eq.path) if eq.expr is not None else eq.overrides[0]
            return self.tmp(self._z(self.d(node, (), path)), "d")
        if eq.expr is not None:
            dv = self.d(eq.expr, scope, eq.path)
            code = (
                self.bcast(dv, scope) if dv is not None else f"_bcast(0.0, {blk.shape})"
            )
        else:
            code = f"_bcast(0.0, {blk.shape})"
        for flat, (node, path) in sorted(eq.overrides.items()):
            ov = self.d(node, (), path)
            mask = np.zeros(blk.shape, dtype=bool)
            mask[blk.unflat(flat)] = True
            code = f"_where({self.const('MASK', mask)}, {self._z(ov)}, {code})"
        return self.tmp(code, "d")


def _stack_or_one(codes: list[str]) -> str:
    if all(c == codes[0] for c in codes):
        return codes[0]
    return f"_stack_scalars([{', '.join(codes)}], y.dtype)"


# -- re-rolled groups -----------------------------------------------------------------


def _gathered_flows(lw: _Lowerer, n: int, most: int = 8) -> str | None:
    """The sum of the re-rolled flows into each state, as one padded gather.

    All flow vectors are concatenated (plus a trailing zero); state `i` reads its
    own flows at `IDX[i, :]` with signs `SIGN[i, :]`. None when a state receives
    more than `most` flows (the gather would be mostly padding).
    """
    codes: list[str] = []
    start: dict[str, int] = {}
    total = 0
    for idx, _, code in lw.scatters:
        if code not in start:
            start[code] = total
            total += len(idx)
            codes.append(code)
    entries: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for idx, sign, code in lw.scatters:
        for j, cell in enumerate(idx):
            entries[cell].append((start[code] + j, 1.0 if sign == "+" else -1.0))
    width = max(len(e) for e in entries)
    if width > most:
        return None
    index = np.full((n, width), total, dtype=np.int64)
    signs = np.zeros((n, width))
    for i, e in enumerate(entries):
        for k, (pos, sg) in enumerate(e):
            index[i, k], signs[i, k] = pos, sg
    flows = f"_concat([{', '.join(codes)}, _zeros((1,), dtype=y.dtype)])"
    idx_const = lw.const("IDX", index.reshape(-1))
    return (
        f"_sum(_reshape(_take({flows}, {idx_const}), ({n}, {width}))"
        f" * _astype({lw.const('SIGN', signs)}, y.dtype), axis=1)"
    )


def _segmented_flows(
    lw: _Lowerer, spans: list[tuple[int, str | None]], n: int, most: int = 32
) -> str | None:
    """The output as one concatenation of segments, each a signed sum of slices.

    For re-rolled flows whose sources and targets are a few runs of consecutive
    cells (chains listed stage by stage, per-cell transitions): the state range is
    cut at every run's and every base piece's boundary, and each segment adds the
    slices of the base pieces and flows covering it. XLA fuses this into one loop
    (no gather, no scatter, no zero padding). None when there are more than
    `most` segments; the caller then gathers.
    """
    cuts = {0, n}
    # (first cell, length, sign, code); a flow of one cell may be a scalar
    terms: list[tuple[int, int, str, str]] = []
    pos = 0
    for length, code in spans:
        if code is not None:
            terms.append((pos, length, "+", code))
        pos += length
        cuts.add(pos)
    for idx, sign, code in lw.scatters:
        runs = _runs(idx)
        if runs is None:
            return None
        for lo, hi, start in runs:
            if len(idx) == 1:
                part = f"_reshape({code}, (1,))"
            elif (lo, hi) == (0, len(idx)):
                part = code
            else:
                part = f"{code}[{lo}:{hi}]"
            terms.append((start, hi - lo, sign, part))
            cuts.update((start, start + hi - lo))
    bounds = sorted(cuts)
    if len(bounds) - 1 > most:
        return None
    segs: list[str] = []
    for a, b in itertools.pairwise(bounds):
        code = ""
        # added terms first: `a - b`, not `(-b) + a` (XLA's CPU backend runs a
        # fused negate-then-add several times slower)
        for start, length, sign, part in sorted(terms, key=lambda t: t[2] != "+"):
            if start <= a and b <= start + length:
                if (a, b) != (start, start + length):
                    part = f"{part}[{a - start}:{b - start}]"
                code = (
                    f"{code} {sign} {part}"
                    if code
                    else (part if sign == "+" else f"(-{part})")
                )
        segs.append(code or f"_zeros(({b - a},), dtype=y.dtype)")
    return f"_concat([{', '.join(segs)}])"


def _runs(idx: list[int], most: int = 4) -> list[tuple[int, int, int]] | None:
    """`idx` as at most `most` runs of consecutive cells: `(lo, hi, first cell)` each."""
    runs: list[tuple[int, int, int]] = []
    lo = 0
    for i in range(1, len(idx) + 1):
        if i == len(idx) or idx[i] != idx[i - 1] + 1:
            runs.append((lo, i, idx[lo]))
            lo = i
            if len(runs) > most:
                return None
    return runs


def _index_code(lw: _Lowerer, idx: list[int]) -> str:
    """An index for positions `idx` of a vector: a slice when evenly spaced, else an array."""
    if len(idx) == 1:
        return str(idx[0])
    step = idx[1] - idx[0]
    if step > 0 and all(b - a == step for a, b in itertools.pairwise(idx)):
        return f"{idx[0]}:{idx[-1] + 1}" + (f":{step}" if step != 1 else "")
    return lw.const("IDX", np.asarray(idx, dtype=np.int64))


def _gather(lw: _Lowerer, vec: str, idx: list[int]) -> str:
    code = _index_code(lw, idx)
    return f"{vec}[{code}]" if ":" in code else f"_take({vec}, {code})"


def _leaf_values(lw: _Lowerer, leaves: list[Leaf], path: str) -> str:
    """Code of the vector of `leaves` (all of one kind), in order."""
    kind = leaves[0].kind
    if kind == "state":
        return _gather(lw, "y", [cast("int", x.ref) for x in leaves])
    if kind == "alias":
        homes = [lw.alias_group.get(str(x.ref)) for x in leaves]
        if all(h is not None for h in homes) and len({h[0] for h in homes if h}) == 1:
            gvar, _, size = homes[0]  # type: ignore[misc]
            pos = [h[1] for h in homes if h]
            return gvar if pos == list(range(size)) else _gather(lw, gvar, pos)
        return f"_stack_scalars([{', '.join(lw.alias_var[str(x.ref)] for x in leaves)}], y.dtype)"
    if kind == "pcell":
        # cells of one indexed parameter (the shape key keeps one per column),
        # gathered with the parameters (once per `bind`)
        key = cast("tuple[str, int]", leaves[0].ref)[0]
        lw.direct_params.add(key)
        size = int(np.prod(lw.m.params[key].shape))
        flat = f"_reshape({lw.param_var[key]}, ({size},))"
        code = _gather(lw, flat, [cast("tuple[str, int]", x.ref)[1] for x in leaves])
        return _read_once(lw.param_cells, code, "pc")
    names = tuple(lw.m.params[str(x.ref)].base for x in leaves)
    var = lw.param_vector(names)
    return var if lw.backend_name == "numpy" else f"_astype({var}, y.dtype)"


def _leaf_grid(
    lw: _Lowerer, grid: list[list[Leaf]], dims: tuple[Dim, ...], path: str
) -> _Val:
    """One leaf position over a group (`dims` = (cells,)) or over (cells, terms).

    A leaf that is the same everywhere stays a scalar; one that varies along one
    dimension only is a vector over it (size 1 along the other).
    """
    # the same gather in another group (other dimension names) reuses its temporary
    key = (len(dims), tuple((x.kind, x.ref) for row in grid for x in row), len(grid))
    hit = lw.gather_cache.get(key)
    if hit is None:
        v = _leaf_grid_new(lw, grid, dims, path)
        lw.gather_cache[key] = hit = _Val(
            v.code,
            frozenset(str(i) for i, d in enumerate(dims) if d.name in v.dims),
            v.kind,
            v.const,
        )
    return _Val(
        hit.code, frozenset(dims[int(i)].name for i in hit.dims), hit.kind, hit.const
    )


def _leaf_grid_new(
    lw: _Lowerer, grid: list[list[Leaf]], dims: tuple[Dim, ...], path: str
) -> _Val:
    rows, cols = len(grid), len(grid[0])
    first = grid[0][0]

    def same(a: Leaf, b: Leaf) -> bool:
        return a.kind == b.kind and a.ref == b.ref

    if all(same(x, first) for row in grid for x in row):
        saved, lw.hooks = lw.hooks, None
        v = lw.num(lw.expr(first.node, (), path))
        lw.hooks = saved
        return v
    by_row = all(same(x, row[0]) for row in grid for x in row)
    by_col = all(same(grid[r][c], grid[0][c]) for r in range(rows) for c in range(cols))
    if len(dims) == 1:
        return _Val(
            lw.tmp(_leaf_values(lw, [row[0] for row in grid], path), "l"),
            frozenset({dims[0].name}),
        )
    if by_row:
        code = _leaf_values(lw, [row[0] for row in grid], path)
        return _Val(
            lw.tmp(f"_reshape({code}, ({rows}, 1))", "l"), frozenset({dims[0].name})
        )
    if by_col:
        code = _leaf_values(lw, list(grid[0]), path)
        return _Val(
            lw.tmp(f"_reshape({code}, (1, {cols}))", "l"), frozenset({dims[1].name})
        )
    code = _leaf_values(lw, [x for row in grid for x in row], path)
    return _Val(
        lw.tmp(f"_reshape({code}, ({rows}, {cols}))", "l"),
        frozenset(d.name for d in dims),
    )


def _lower_single(lw: _Lowerer, node: Node, path: str) -> _Val | None:
    """A scalar cell holding a long sum of isomorphic terms: that sum gathered (else None)."""
    got = shape_key(lw.m, node, path)
    if got is None or not any(isinstance(x, IsoSum) for x in got[1]):
        return None
    hooks: dict[int, _Val] = {}
    for pos, item in enumerate(got[1]):
        if not isinstance(item, IsoSum):
            continue  # a plain leaf: resolved as usual
        m = len(item.terms)
        tdim = synthetic_dim(f"_t{lw.n_group}_{pos}", m)
        lw.n_group += 1
        inner_hooks = {
            id(term_leaf.node): _leaf_grid(
                lw, [[item.terms[j][q]] for j in range(m)], (tdim,), path
            )
            for q, term_leaf in enumerate(item.terms[0])
        }
        saved, lw.hooks = lw.hooks, inner_hooks
        body = lw.num(lw.expr(item.operands[0], (tdim,), path))
        lw.hooks = saved
        code = (
            f"_sum({body.code})"
            if tdim.name in body.dims
            else f"({float(m)!r} * {body.code})"
        )
        hooks[id(item.node)] = _Val(lw.tmp(code, "l"), frozenset())
    saved, lw.hooks = lw.hooks, hooks
    v = lw.num(lw.expr(node, (), path))
    lw.hooks = saved
    return v


def _lower_group(lw: _Lowerer, g: Group, what: str, *, full: bool = True) -> str:
    """Code of the vector of a group's values (one per member), lowered once.

    With `full=False` a value that is the same for every member stays a scalar
    (for a product with a vector, which broadcasts anyway).
    """
    k = len(g.members)
    n = lw.n_group
    lw.n_group += 1
    gdim = synthetic_dim(f"_g{n}", k)
    scope = (gdim,)
    path = f"{what} (re-rolled group of {k})"
    hooks: dict[int, _Val] = {}
    for pos, item in enumerate(g.leaves[0]):
        if isinstance(item, Leaf):
            # the cells are isomorphic: every cell has a Leaf at `pos`
            column = cast("list[list[Leaf]]", [[g.leaves[c][pos]] for c in range(k)])
            hooks[id(item.node)] = _leaf_grid(lw, column, scope, path)
            continue
        m = len(item.terms)
        tdim = synthetic_dim(f"_t{n}_{pos}", m)
        inner = (gdim, tdim)
        inner_hooks: dict[int, _Val] = {}
        for q, term_leaf in enumerate(item.terms[0]):
            grid = [[g.leaves[c][pos].terms[j][q] for j in range(m)] for c in range(k)]  # type: ignore[union-attr]
            inner_hooks[id(term_leaf.node)] = _leaf_grid(lw, grid, inner, path)
        saved, lw.hooks = lw.hooks, inner_hooks
        mv = _iso_matvec(lw, item.operands[0], inner, scope, path)
        if mv is not None:
            lw.hooks = saved
            hooks[id(item.node)] = mv
            continue
        body = lw.num(lw.expr(item.operands[0], inner, path))
        lw.hooks = saved
        if tdim.name in body.dims:
            code = f"_sum({body.code}, axis=1)"
            if gdim.name not in body.dims:
                code = f"{code}[0]"
        else:
            code = f"({float(m)!r} * {_drop_last(body, inner, scope)})"
        hooks[id(item.node)] = _Val(lw.tmp(code, "l"), body.dims - {tdim.name})
    lw.hooks = hooks
    v = lw.num(lw.expr(g.nodes[0], scope, path))
    lw.hooks = None
    return lw.bcast(v, scope) if full else v.code


def _iso_matvec(
    lw: _Lowerer, term: Node, inner: tuple[Dim, ...], scope: tuple[Dim, ...], path: str
) -> _Val | None:
    """`Σ_j F[i, j] * v[j] * g[i]` as a matrix-vector product, when the term allows it.

    The term's product/quotient factors are sorted by the dimensions they vary
    along: exactly one (in a numerator) over both cells and terms, the others
    over terms only, cells only, or neither.
    """
    gname, tname = inner[0].name, inner[1].name
    factors: list[tuple[Node, bool]] = []

    def flatten(n: Node, inv: bool) -> None:
        if isinstance(n, BinOp) and n.op in ("*", "/"):
            flatten(n.left, inv)
            flatten(n.right, inv if n.op == "*" else not inv)
        else:
            factors.append((n, inv))

    flatten(term, False)
    vals = [(lw.num(lw.expr(f, inner, path)), inv) for f, inv in factors]
    both = [(v, inv) for v, inv in vals if v.dims == {gname, tname}]
    if len(both) != 1 or both[0][1]:
        return None
    over_t = [(v, inv) for v, inv in vals if v.dims == {tname}]
    if not over_t:
        return None
    rest = [(v, inv) for v, inv in vals if len(v.dims) < 2 and tname not in v.dims]
    m = inner[1].size
    vec = over_t[0][0].code if not over_t[0][1] else f"(1.0 / {over_t[0][0].code})"
    for v, inv in over_t[1:]:
        vec = f"({vec} {'/' if inv else '*'} {v.code})"
    code = f"_matmul({both[0][0].code}, _reshape({vec}, ({m},)))"
    dims = frozenset({gname})
    for v, inv in rest:
        factor = _drop_last(v, inner, scope)
        code = f"({code} {'/' if inv else '*'} {factor})"
    return _Val(lw.tmp(code, "l"), dims)
