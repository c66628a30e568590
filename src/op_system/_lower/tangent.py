"""The exact jvp `J(t, y) @ v`: forward-mode differentiation of the IR, lowered
like the right-hand side (see `_Tangent`). Each node kind has its case in
`_Tangent.d`; operators and functions have their rule in `jvp_rules.py`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._core.model import AliasDef, Block, Dim, Model, Target, loop_dim, target_of
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
    not_a_value,
    unhandled,
)
from .._support.errors import ExpressionError
from .batch import Identity
from .flows import (
    Terms,
    _place,
    _rate_vector,
    _stack_or_one,
    _sum_terms,
    chain_change,
    flow_law,
)
from .jvp_rules import (
    BINARY_RULES,
    FUNCTION_RULES,
    IF_RULE,
    UNARY_RULES,
    Rule,
    add,
    mul,
    product_rule,
    select,
    zero_or,
)
from .lowerer import (
    _SPILL,
    _drop_last,
    _Lowerer,
)
from .ops import (
    Bin,
    Broadcast,
    Index,
    Int,
    Lit,
    Op,
    Reshape,
    Span,
    StackScalars,
    Sum,
    Var,
    Where,
    is_atom,
)
from .values import _Val

__all__ = ["_Tangent"]


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
        if v.const is None and not is_atom(self.code(v)):
            v = _Val(self.temp(v.op), v.dims, v.kind)
        self._primal[key] = (v, len(self.lines))
        return v

    def identity_directions(self) -> None:
        """The batch of directions is the identity (`J` itself): record the
        columns each tangent of a state selects (`batch.Identity`)."""
        m = self.m
        cols: dict[str, Any] = {"v": np.arange(m.n_state)}
        for blk in m.blocks:
            own = np.arange(blk.offset, blk.offset + blk.size)
            cols[self.tblock_var[id(blk)]] = own.reshape(blk.shape)
        self.eye = Identity(m.n_state, cols)
        # code calling the helpers that make a batch from primal values holds one
        assert self.batched is not None
        self.batched |= {"_bplace", "_bindicator", "_bfill", "_bdiag"}

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
            return _Val(Var(var), frozenset())
        return self.index(var, tgt.sels, scope, path)

    # -- rules ----------------------------------------------------------------------
    def d(self, node: Node, scope: tuple[Dim, ...], path: str) -> _Val | None:
        """The tangent of `node` (None: zero), by its kind; operators and functions
        by their rule (`jvp_rules`)."""
        match node:
            case Read():
                return self.t_target(node.target, scope, path)
            case Num() | NpConst() | Invalid() | Compare():
                return None  # constants, and comparisons (piecewise constant)
            case BinOp():
                rule = BINARY_RULES.get(node.op)
                if rule is None:  # pragma: no cover - the parser's operators
                    raise ExpressionError(
                        f"cannot differentiate operator {node.op!r}", path=path
                    )
                return self.apply(rule, (node.left, node.right), scope, path)
            case UnaryOp():
                return self.apply(UNARY_RULES[node.op], (node.operand,), scope, path)
            case Chain():
                return self.d_chain(node, scope, path)
            case Call(func="sum_state"):  # linear in the state: the same sum of `v`
                return _Val(Sum(self.model_states(Var("v"))), frozenset())
            case Call(func="sum_prefix"):
                return self.prefix_sum(node, scope, path, Var("v"))
            case Call():
                return self.apply(FUNCTION_RULES[node.func], node.args, scope, path)
            case IfExp():
                args = (node.test, node.body, node.orelse)
                return self.apply(IF_RULE, args, scope, path)
            case BoolOp():
                return self.d_boolop(node, scope, path)
            case Reduce():
                return self.d_reduce(node, scope, path)
            case Str() | Name() | Ref():  # pragma: no cover
                raise not_a_value(node, path)
            case _:
                unhandled(node)

    def apply(
        self, rule: Rule, args: tuple[Node, ...], scope: tuple[Dim, ...], path: str
    ) -> _Val | None:
        """The tangent of a function or operator of `args` by its `rule`.

        The tangents come first: when all are zero, so is the result, and no
        value (temporary) is lowered for it.
        """
        ds = [
            self.d(a, scope, path)
            for a, role in zip(args, rule.roles)
            if role != "test"
        ]
        if all(x is None for x in ds):
            return None
        xs = [
            self.boolean(self.expr(a, scope, path))
            if role == "test"
            else self.num(self.expr(a, scope, path))
            for a, role in zip(args, rule.roles)
            if role != "dx"
        ]
        return rule.jvp(self, xs, ds)

    def d_chain(self, node: Chain, scope: tuple[Dim, ...], path: str) -> _Val | None:
        """Tangent of a `Chain`, term by term (linear in its length)."""
        dt = self.d(node.operands[0], scope, path)
        if node.ops[0] in "+-":
            for i, (op, operand) in enumerate(zip(node.ops, node.operands[1:])):
                dt = add(dt, self.d(operand, scope, path), op)
                if dt is not None and i % _SPILL == _SPILL - 1:
                    dt = _Val(self.temp(dt.op), dt.dims)
            return dt
        # products and quotients: carry the running primal value as a temporary
        acc = self.num(self.expr(node.operands[0], scope, path))
        for op, operand in zip(node.ops, node.operands[1:]):
            b = self.num(self.expr(operand, scope, path))
            db = self.d(operand, scope, path)
            bv = _Val(self.temp(b.op), b.dims)
            at = _Val(self.temp(acc.op), acc.dims)
            dt = product_rule(op, dt, at, db, bv)
            if dt is not None:
                dt = _Val(self.temp(dt.op), dt.dims)
            acc = _Val(Bin(op, at.op, bv.op), at.dims | b.dims, "num")
        return dt

    def d_boolop(self, node: BoolOp, scope: tuple[Dim, ...], path: str) -> _Val | None:
        """Tangent of `a and b ...` / `a or b ...` with Python's value semantics:
        the tangent of the operand that is the value."""
        vals = [self.expr(v, scope, path) for v in node.values]
        if all(v.kind == "bool" for v in vals):
            return None
        tangents = [self.d(v, scope, path) for v in node.values]
        nums = [self.num(v) for v in vals]
        acc = tangents[-1]
        for v, dv in zip(reversed(nums[:-1]), reversed(tangents[:-1])):
            if acc is None and dv is None:
                continue
            t = Bin("!=", self.temp(v.op), Int(0))
            if node.op == "and":  # b if a else a
                acc = select(t, acc, dv, v.dims)
            else:  # a if a else b
                acc = select(t, dv, acc, v.dims)
        return acc

    def d_reduce(self, node: Reduce, scope: tuple[Dim, ...], path: str) -> _Val | None:
        dim = loop_dim(node)
        inner = (*scope, dim)
        body = self.d(node.body, inner, path)
        if body is None:
            return None
        weights = None
        if node.kind == "integrate_over":
            weights = np.asarray(dim.weights(), dtype=np.float64)
        if dim.name not in body.dims:
            factor = float(weights.sum()) if weights is not None else float(dim.size)
            return _Val(
                Bin("*", Lit(factor), _drop_last(body, inner, scope)), body.dims
            )
        code = body.op
        if weights is not None:
            w = self.const("W", weights.reshape((1,) * len(scope) + (dim.size,)))
            code = Bin("*", Var(w), code)
        rest = body.dims - {dim.name}
        if not rest:
            return _Val(Sum(code), frozenset())
        return _Val(Sum(code, -1), rest)

    # -- program pieces -------------------------------------------------------------
    def tangent_aliases(self, order: list[AliasDef]) -> None:
        for i, alias in enumerate(order):
            var = f"ta_{i}"
            if alias.cells is not None:
                ts = [self.d(c, (), alias.path) for c in alias.cells]
                if all(x is None for x in ts):
                    self.talias_var[alias.base] = None
                    continue
                stacked = StackScalars(tuple(zero_or(x) for x in ts), state_dtype=False)
                code: Op = Reshape(stacked, tuple(ax.size for ax in alias.axes))
            else:
                scope = tuple(Dim(ax.name, ax) for ax in alias.axes)
                assert alias.expr is not None  # only virtual aliases (cells) have none
                dv = self.d(alias.expr, scope, alias.path)
                if dv is None:
                    self.talias_var[alias.base] = None
                    continue
                code = self.bcast(dv, scope) if alias.axes else dv.op
            self.assign(var, code)
            self.talias_var[alias.base] = var

    def tangent_outputs(self) -> list[tuple[Block, Op | None]]:
        m = self.m
        if m.kind == "expr":
            out: list[tuple[Block, Op | None]] = []
            for eq in m.equations:
                out.append((eq.block, self._t_equation(eq)))
            return out
        terms: Terms = {id(b): [] for b in m.blocks}
        runs: set[int] = set()
        for td in m.transitions:
            run = td.run
            if run is not None:  # the run's flows are consecutive: all at its first
                if id(run) not in runs:
                    runs.add(id(run))
                    blk = run.block
                    self.used_blocks.add(id(blk))
                    self.used_tblocks.add(id(blk))
                    f = self._chain_tangent(
                        blk, list(run.rates), run.path, Span(None, -1)
                    )
                    change = chain_change(f, exit_flow=not run.outflow)
                    terms[id(blk)].append(("+", change, blk.shape))
                continue
            scope = td.dims
            drate = self.d(flow_law(self, td), scope, f"{td.path}.rate")
            if td.src is None:  # a source (or a reaction): its flow is its rate
                dflow = drate
            else:
                rate = self.num(self.expr(td.rate, scope, f"{td.path}.rate"))
                src_t = target_of(td.src)
                src = self.target(src_t, scope, td.path)
                dsrc = self.t_target(src_t, scope, td.path)
                dflow = add(mul(drate, src), mul(dsrc, rate))
            if dflow is None:
                continue
            flow = _Val(self.temp(dflow.op, "tf"), dflow.dims)
            for sign, tgt, coef in m.flow_ends(td):
                code, shape = _place(self, flow, tgt, scope)
                if coef != 1:  # a reaction's coefficient: so many per event
                    code = Bin("*", Int(coef), code)
                terms[id(tgt.obj)].append((sign, code, shape))
        return _sum_terms(self, m, terms)

    def _chain_tangent(
        self, blk: Block, rates: list[Node], path: str, stages: Span | None
    ) -> Op:
        """The tangent of a chain's forward flows `rate[i] * stage[i]` (over `stages`
        of the block, or all of it), by the product rule, kept in a temporary."""
        self.used_blocks.add(id(blk))
        self.used_tblocks.add(id(blk))
        rate = _rate_vector(self, rates, path)
        drates = [self.d(r, (), path) for r in rates]

        def part(name: str) -> Op:
            return Var(name) if stages is None else Index(Var(name), (stages,))

        df: Op = Bin("*", rate, part(self.tblock_var[id(blk)]))
        if any(x is not None for x in drates):
            dr = _stack_or_one(self, [zero_or(x) for x in drates])
            df = Bin("+", df, Bin("*", dr, part(self.block_var[id(blk)])))
        return self.temp(df, "tf")

    def _t_equation(self, eq: Any) -> Op:
        blk: Block = eq.block
        scope = tuple(Dim(ax.name, ax) for ax in blk.axes)
        code: Op
        if eq.run is not None:
            f = self._chain_tangent(blk, list(eq.run.rates), eq.path, None)
            code = chain_change(f, exit_flow=not eq.run.outflow)
            for flat, (node, path) in sorted(eq.array_overrides.items()):
                mask = np.zeros(blk.shape, dtype=bool)
                mask[flat] = True
                ov = zero_or(self.d(node, (), path))
                code = Where(Var(self.const("MASK", mask)), ov, code)
            return self.temp(code, "d")
        if not blk.axes:
            node, path = (eq.expr, eq.path) if eq.expr is not None else eq.overrides[0]
            return self.temp(zero_or(self.d(node, (), path)), "d")
        dv = self.d(eq.expr, scope, eq.path) if eq.expr is not None else None
        code = (
            self.bcast(dv, scope) if dv is not None else Broadcast(Lit(0.0), blk.shape)
        )
        for flat, (node, path) in sorted(eq.array_overrides.items()):
            mask = np.zeros(blk.shape, dtype=bool)
            mask[blk.unflat(flat)] = True
            ov = zero_or(self.d(node, (), path))
            code = Where(Var(self.const("MASK", mask)), ov, code)
        return self.temp(code, "d")
