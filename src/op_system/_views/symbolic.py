"""Symbolic views of a model (needs the `[symbolic]` extra: sympy).

* `to_sympy(rhs)`: one sympy expression per state cell, aliases substituted;
* `jacobian_sparsity(rhs)`: which states each equation reads, from the IR (no sympy);
* `flow_diagram(rhs, fmt)`: Mermaid or Graphviz DOT text of a transitions model,
  collapsed over axes;
* `check_model(rhs)`: conservation and non-negativity checks for transitions.

sympy expressions are built from our IR directly; user text is never passed to
`sympify` (which would `eval` it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from .._core.cells import CellEvaluator, cell_label
from .._core.model import Block, Model, target_of
from .._core.rhs import Normalized, model_of
from .._lang.ir import (
    BinOp,
    BoolOp,
    Call,
    Chain,
    Compare,
    IfExp,
    Invalid,
    Node,
    NpConst,
    Num,
    Reduce,
    Str,
    UnaryOp,
    invalid_error,
    to_source,
)

__all__ = ["check_model", "flow_diagram", "jacobian_sparsity", "to_sympy"]


def _sympy() -> Any:
    try:
        import sympy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Symbolic features need sympy; install it with `pip install 'op-system[symbolic]'`."
        ) from exc
    return sympy


def _model(rhs: Normalized) -> Model:
    return model_of(rhs)


class _SympyBuilder:
    """`CellBuilder` of sympy expressions, aliases substituted (see `_core/cells.py`)."""

    def __init__(self, model: Model) -> None:
        self.sp = _sympy()
        self.m = model
        self.symbols: dict[str, Any] = {}
        self.ev = CellEvaluator(model, self)

    def sym(self, name: str) -> Any:
        s = self.symbols.get(name)
        if s is None:
            s = self.symbols[name] = self.sp.Symbol(name, real=True)
        return s

    # -- CellBuilder ----------------------------------------------------------------
    def state(self, index: int) -> Any:
        return self.sym(self.m.state_names[index])

    def param(self, param: Any, idx: tuple[int, ...]) -> Any:
        return self.sym(cell_label(param, idx))

    def time(self) -> Any:
        return self.sym("t")

    def constant(self, value: Any) -> Any:
        return self.sp.Float(repr(value), 17)

    def alias(self, alias: Any, idx: tuple[int, ...], value: Callable[[], Any]) -> Any:
        return value()

    def string(self, node: Str, text: str) -> Any:
        return text  # only read by `sum_prefix`, through `state_sum`

    def state_sum(
        self, node: Call, kids: list[Any], cells: Callable[[], Sequence[int]]
    ) -> Any:
        return self.sp.Add(*(self.state(i) for i in cells()))

    def invalid(self, node: Invalid, path: str) -> Any:
        raise invalid_error(node, path)

    def reduce(self, node: Reduce, terms: list[tuple[float | None, Any]]) -> Any:
        sp = self.sp
        return sp.Add(
            *(
                self.num(v) if w is None else sp.Float(repr(w), 17) * self.num(v)
                for w, v in terms
            )
        )

    def flux(self, rate: Any, source: Any) -> Any:
        return self.num(rate) if source is None else self.num(rate) * source

    def balance(self, terms: list[tuple[str, Any]]) -> Any:
        acc = self.sp.Integer(0)
        for sign, flux in terms:
            acc = acc - flux if sign == "-" else acc + flux
        return acc

    def chain_stage(self, r_in: Any, prev: Any, r_out: Any, cur: Any) -> Any:
        out = -self.num(r_out) * cur
        return out if r_in is None else self.num(r_in) * prev + out

    def node(self, node: Node, kids: list[Any]) -> Any:
        sp = self.sp
        if isinstance(node, Num):
            v = node.value
            if isinstance(v, bool):
                return sp.true if v else sp.false
            return sp.Integer(v) if isinstance(v, int) else sp.Float(repr(v), 17)
        if isinstance(node, NpConst):
            return {"pi": sp.pi, "e": sp.E, "inf": sp.oo, "nan": sp.nan}[node.name]
        if isinstance(node, UnaryOp):
            (v,) = kids
            if node.op == "not":
                return sp.Not(self.boolean(v))
            return -v if node.op == "-" else v
        if isinstance(node, BinOp):
            x, y = (self.num(k) for k in kids)
            if node.op == "%":  # Python/NumPy remainder semantics
                return x - y * sp.floor(x / y)
            return _ARITH[node.op](x, y)
        if isinstance(node, Chain):
            acc = self.num(kids[0])
            for op, k in zip(node.ops, kids[1:]):
                acc = _ARITH[op](acc, self.num(k))
            return acc
        if isinstance(node, Compare):
            ops = {
                "==": sp.Eq,
                "!=": sp.Ne,
                "<": sp.Lt,
                "<=": sp.Le,
                ">": sp.Gt,
                ">=": sp.Ge,
            }
            vals = [self.num(k) for k in kids]
            parts = [ops[op](vals[i], vals[i + 1]) for i, op in enumerate(node.ops)]
            return sp.And(*parts) if len(parts) > 1 else parts[0]
        if isinstance(node, BoolOp):
            if all(self.is_bool(v) for v in kids):
                return sp.And(*kids) if node.op == "and" else sp.Or(*kids)
            acc = self.num(kids[-1])
            for v in reversed(kids[:-1]):
                v = self.num(v)
                acc = (
                    sp.Piecewise((acc, sp.Ne(v, 0)), (v, True))
                    if node.op == "and"
                    else sp.Piecewise((v, sp.Ne(v, 0)), (acc, True))
                )
            return acc
        if isinstance(node, IfExp):
            test, body, orelse = kids
            return sp.Piecewise(
                (self.num(body), self.boolean(test)), (self.num(orelse), True)
            )
        if isinstance(node, Call):
            return self.call(node, kids)
        raise TypeError(type(node).__name__)  # pragma: no cover

    def is_bool(self, v: Any) -> bool:
        sp = self.sp
        # sympy Symbols also subclass Boolean: test for the logical classes only.
        return isinstance(
            v,
            (
                sp.logic.boolalg.BooleanFunction,
                sp.core.relational.Relational,
                sp.logic.boolalg.BooleanAtom,
            ),
        )

    def num(self, v: Any) -> Any:
        sp = self.sp
        if self.is_bool(v):
            return sp.Piecewise((sp.Integer(1), v), (sp.Integer(0), True))
        return v

    def boolean(self, v: Any) -> Any:
        sp = self.sp
        return v if self.is_bool(v) else sp.Ne(v, 0)

    def call(self, node: Call, kids: list[Any]) -> Any:
        sp = self.sp
        if node.func == "where":
            c = self.boolean(kids[0])
            x, y = (self.num(v) for v in kids[1:])
            return sp.Piecewise((x, c), (y, True))
        args = [self.num(v) for v in kids]
        fns: dict[str, Callable[..., Any]] = {
            "abs": sp.Abs,
            "exp": sp.exp,
            "expm1": lambda x: sp.exp(x) - 1,
            "log": sp.log,
            "log1p": lambda x: sp.log(1 + x),
            "log2": lambda x: sp.log(x, 2),
            "log10": lambda x: sp.log(x, 10),
            "sqrt": sp.sqrt,
            "maximum": sp.Max,
            "minimum": sp.Min,
            "clip": lambda x, lo, hi: sp.Min(sp.Max(x, lo), hi),
            "sin": sp.sin,
            "cos": sp.cos,
            "tan": sp.tan,
            "sinh": sp.sinh,
            "cosh": sp.cosh,
            "tanh": sp.tanh,
            "hypot": lambda x, y: sp.sqrt(x**2 + y**2),
            "arctan2": sp.atan2,
        }
        return fns[node.func](*args)

    # -- whole model ----------------------------------------------------------------
    def equations(self) -> list[Any]:
        return [self.num(v) for v in self.ev.equations()]

    def flows(self) -> list[tuple[str | None, str | None, Any, int]]:
        """Per-cell flows `(from, to, rate * from, change)` of a transitions model
        (`from` None and the flow the rate for a source, `to` None for a sink), with
        what one unit of flow changes the model's total by. A reaction's `from` is
        the one cell it takes an individual from (None if none or several), its
        `to` None, its flow its mass-action flux."""
        names = self.m.state_names
        out: list[tuple[str | None, str | None, Any, int]] = []
        for f in self.ev.flows():
            flux = self.flux(f.rate, None if f.src is None else self.state(f.src))
            r = f.transition.reaction
            if r is not None:
                cells = self.ev.end_cells(f.transition, f.assignment)
                consumed = (
                    None
                    if r.consumed is None
                    else names[self.ev.state_index(target_of(r.consumed), f.assignment)]
                )
                out.append((consumed, None, flux, sum(c for _, c in cells)))
                continue
            src = None if f.src is None else names[f.src]
            dst = None if f.dst is None else names[f.dst]
            change = (src is None) - (dst is None)
            out.append((src, dst, flux, change))
        return out


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda x, y: x + y,
    "-": lambda x, y: x - y,
    "*": lambda x, y: x * y,
    "/": lambda x, y: x / y,
    "**": lambda x, y: x**y,
}


def to_sympy(rhs: Normalized) -> dict[str, Any]:
    """Per-state sympy expressions of `dydt` (aliases substituted).

    !!! example
        ```python
        >>> from op_system import normalize_rhs
        >>> from op_system._views.symbolic import to_sympy
        >>> eqs = to_sympy(normalize_rhs({"state": ["x", "y"], "equations": {"x": "-k*x", "y": "k*x"}}))
        >>> eqs["y"]
        k*x

        ```
    """
    b = _SympyBuilder(_model(rhs))
    return dict(zip(b.m.state_names, b.equations()))


_NONE: frozenset[int] = frozenset()


class _Deps:
    """`CellBuilder` of the state cells each value reads (the Jacobian's sparsity)."""

    def __init__(self, model: Model) -> None:
        self.all = frozenset(range(model.n_model_state))

    def state(self, index: int) -> frozenset[int]:
        return frozenset((index,))

    def param(self, param: Any, idx: tuple[int, ...]) -> frozenset[int]:
        return _NONE

    def time(self) -> frozenset[int]:
        return _NONE

    def constant(self, value: Any) -> frozenset[int]:
        return _NONE

    def alias(
        self, alias: Any, idx: tuple[int, ...], value: Callable[[], frozenset[int]]
    ) -> frozenset[int]:
        return value()

    def string(self, node: Str, text: str) -> frozenset[int]:
        return _NONE

    def invalid(self, node: Invalid, path: str) -> frozenset[int]:
        return _NONE

    def state_sum(
        self,
        node: Call,
        kids: list[frozenset[int]],
        cells: Callable[[], Sequence[int]],
    ) -> frozenset[int]:
        return self.all if node.func == "sum_state" else frozenset(cells())

    def node(self, node: Node, kids: list[frozenset[int]]) -> frozenset[int]:
        return _union(kids)

    def reduce(
        self, node: Reduce, terms: list[tuple[float | None, frozenset[int]]]
    ) -> frozenset[int]:
        return _union([v for _, v in terms])

    def flux(
        self, rate: frozenset[int], source: frozenset[int] | None
    ) -> frozenset[int]:
        return rate if source is None else rate | source

    def balance(self, terms: list[tuple[str, frozenset[int]]]) -> frozenset[int]:
        return _union([v for _, v in terms])

    def chain_stage(
        self,
        r_in: frozenset[int] | None,
        prev: frozenset[int] | None,
        r_out: frozenset[int],
        cur: frozenset[int],
    ) -> frozenset[int]:
        return _union([s for s in (r_in, prev, r_out, cur) if s is not None])


def _union(sets: list[frozenset[int]]) -> frozenset[int]:
    if not sets:
        return _NONE
    if len(sets) == 1:
        return sets[0]
    return frozenset().union(*sets)


def jacobian_sparsity(rhs: Normalized) -> tuple[Any, Any]:
    """Structural non-zeros `(rows, cols)` of `d(dydt)/dy`, from which states each equation reads.

    Computed from the IR without sympy; a superset of the numerical non-zeros
    (`sum_state()` couples every state).
    """
    import numpy as np

    m = _model(rhs)
    deps = CellEvaluator(m, _Deps(m)).equations()
    rows = np.fromiter((i for i, d in enumerate(deps) for _ in d), dtype=np.int64)
    cols = np.fromiter((j for d in deps for j in sorted(d)), dtype=np.int64)
    return rows, cols


# -- rendering ----------------------------------------------------------------------


def flow_diagram(rhs: Normalized, fmt: str = "mermaid") -> str:
    """Compartment flow diagram of a transitions model, collapsed over axes.

    `fmt` is `"mermaid"` or `"dot"` (Graphviz). A block that a transition moves
    between its own cells (vaccination `S[age, vax=u] -> S[age, vax=v]`) is
    drawn as one node per coordinate of the axes it moves along (`S[vax=u]`,
    `S[vax=v]`), so that its flows are edges between them, not a self-loop.
    """
    m = _model(rhs)
    if m.kind != "transitions":
        raise ValueError("flow diagrams are drawn for transitions models")
    edges: list[tuple[str, str, str]] = []
    cells = _DiagramCells(m)

    def label(node: Node | None) -> str:
        if node is None:  # the outside of a source or a sink
            return "∅"
        obj: Block = target_of(node).obj  # from/to are states
        if obj.custom is not None:
            return obj.custom[0].rstrip("0123456789") or obj.base
        return obj.base

    def add(edge: tuple[str, str, str]) -> None:
        if edge not in edges:
            edges.append(edge)

    for t in m.transitions:
        if t.run is not None:  # a chain: one self-edge for all its stages
            custom = t.run.block.custom or ("?",)
            stages = f"{custom[0].rstrip('0123456789')}1..{len(custom)}"
            add((stages, stages, "chain"))
            continue
        rate = to_source(t.rate)
        if t.reaction is None and cells.touches_split(t):
            for src, dst in cells.ends(t):
                add((src, dst, rate))
            continue
        pairs: list[tuple[Node | None, Node | None]] = [(t.src, t.dst)]
        if t.reaction is not None:  # each reactant (or ∅) to each product (or ∅)
            ins: list[Node | None] = [n for n, _ in t.reaction.reactants] or [None]
            outs: list[Node | None] = [n for n, _ in t.reaction.products] or [None]
            pairs = [(x, z) for x in ins for z in outs]
        for x, z in pairs:
            add((label(x), label(z), rate))
    if fmt == "mermaid":
        out = ["flowchart LR"]
        for a, b, r in edges:
            out.append(f'    {_ident(a)}["{a}"] -->|"{r}"| {_ident(b)}["{b}"]')
        return "\n".join(out)
    if fmt == "dot":
        out = ["digraph model {", "    rankdir=LR;", "    node [shape=box];"]
        for a, b, r in edges:
            out.append(f'    "{a}" -> "{b}" [label="{r}"];')
        out.append("}")
        return "\n".join(out)
    raise ValueError(f"unknown diagram format {fmt!r}; expected 'mermaid' or 'dot'")


class _DiagramCells:
    """The diagram's nodes at cell level: each block split along the axes that
    one of its transitions moves along within the block."""

    def __init__(self, m: Model) -> None:
        from .render import _evaluator

        self.flow_cells = [
            (td, src, dst)
            for td, _, src, dst in _evaluator(m).flow_cells()
            if td.run is None and td.reaction is None
        ]
        self.block_at: dict[int, Block] = {}
        for blk in m.blocks:
            for i in range(blk.size):
                self.block_at[blk.offset + i] = blk
        #: the split axes (positions in the block's axes) by block
        self.split: dict[int, set[int]] = {}
        for _, src, dst in self.flow_cells:
            if src is None or dst is None or src == dst:
                continue
            blk = self.block_at[src]
            if self.block_at[dst] is not blk:
                continue
            a, b = blk.unflat(src - blk.offset), blk.unflat(dst - blk.offset)
            moved = {k for k, (i, j) in enumerate(zip(a, b)) if i != j}
            self.split.setdefault(id(blk), set()).update(moved)

    def touches_split(self, t: Any) -> bool:
        """Whether transition `t` starts or ends in a split block."""
        return any(
            node is not None and id(target_of(node).obj) in self.split
            for node in (t.src, t.dst)
        )

    def node(self, cell: int | None) -> str:
        """The node of a state cell: its block, at the coordinates of its split axes."""
        if cell is None:
            return "∅"
        blk = self.block_at[cell]
        split = sorted(self.split.get(id(blk), ()))
        if not split:
            return blk.base
        idx = blk.unflat(cell - blk.offset)
        at = ", ".join(
            f"{blk.axes[k].name}={blk.axes[k].coords[idx[k]]}" for k in split
        )
        return f"{blk.base}[{at}]"

    def ends(self, t: Any) -> list[tuple[str, str]]:
        """The (source node, target node) pairs of transition `t`'s cells, in order."""
        out: list[tuple[str, str]] = []
        for td, src, dst in self.flow_cells:
            if td is t:
                pair = (self.node(src), self.node(dst))
                if pair not in out:
                    out.append(pair)
        return out


def _ident(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def check_model(rhs: Normalized) -> list[str]:
    """Model checks; returns the problems found (also emitted as warnings).

    For transitions models: the total is conserved (sum of `dydt` is 0,
    proven symbolically; with sources and sinks, it is the sources' flows less
    the sinks'), and every flow vanishes when its source compartment is 0 (so
    compartments cannot go negative through that flow).
    """
    sp = _sympy()
    m = _model(rhs)
    problems: list[str] = []
    if m.kind != "transitions":
        return problems
    b = _SympyBuilder(m)
    flows = b.flows()
    # incidence counters count flows; they are not part of the total, which
    # changes by what sources bring in less what sinks take out
    total = sp.Add(*(e for i, e in enumerate(b.equations()) if not m.is_counter(i)))
    change = sp.Add(*(delta * f for _src, _dst, f, delta in flows if delta))
    if sp.simplify(total - change) != 0:
        what = (
            "conserve the total"
            if change == 0
            else "change the total by sources - sinks"
        )
        problems.append(f"flows do not {what}: sum(dydt) = {total}")
    seen: set[tuple[str | None, str | None]] = set()
    for src, dst, flow, _delta in flows:
        if src is None:  # a source: nothing to drive negative
            continue
        at_zero = flow.subs(b.sym(src), 0)
        try:
            zero = sp.simplify(at_zero) == 0
        except Exception:  # pragma: no cover - sympy failure
            zero = False
        if not zero or at_zero.has(sp.nan, sp.zoo, sp.oo):
            key = (src, dst)
            if key not in seen:
                seen.add(key)
                problems.append(
                    f"transition {src} -> {dst or '∅'}: its flow does not vanish when {src} = 0 "
                    f"(flow = {flow}); {src} can become negative"
                )
    for p in problems:
        warnings.warn(p, UserWarning, stacklevel=3)
    return problems
