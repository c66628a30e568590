"""The model one state cell at a time: one evaluator, parameterised by what it builds.

Three views expand templates cell by cell: 0.1.2's strings (`_views/render.py`), sympy
expressions and the Jacobian's sparsity (`_views/symbolic.py`). They differ only in what
they make of a state cell, a parameter, a sum or a flow, so the walk itself is
written here once: resolving names, substituting loop variables, unrolling
reductions, substituting aliases (cached per alias cell), and the model-level rules
(per-cell overrides, what a `chain` equation means, templated transitions expanded
over their dimensions, sources and sinks, incidence counters, `dydt` as a balance
of fluxes). Each view supplies a `CellBuilder`.

Built on the same walk: the names and stoichiometry of the flows
(`flow_names`, `stoichiometry_entries`), and `template_cells`, which finds at
build time the per-cell overrides that restate their block's template.

The array code (`_lower/lowerer.py`) does not come through here: it never visits cells.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from .._lang.ir import (
    BinOp,
    Call,
    Invalid,
    Node,
    Num,
    Read,
    Reduce,
    Str,
    attributes,
    children,
    prefix_text,
)
from .._lang.ir import Chain as ChainNode
from .._support.errors import ExpressionError, OpSystemError
from .model import (
    Block,
    Dim,
    Flow,
    Model,
    Target,
    cell_name,
    cell_of,
    flat_index,
    loop_dim,
    subst_text,
    target_of,
    transition_base,
)

__all__ = [
    "CellBuilder",
    "CellEvaluator",
    "CellFlow",
    "assignments",
    "cell_label",
    "flow_names",
    "flow_sources",
    "reactant_orders",
    "stoichiometry_entries",
    "template_cells",
]

V = TypeVar("V")


class CellBuilder(Protocol[V]):
    """What a per-cell view makes of each part of the model."""

    def state(self, index: int) -> V:
        """State cell `index` (of `model.state_names`)."""
        ...

    def param(self, param: Any, idx: tuple[int, ...]) -> V:
        """Cell `idx` of a parameter (`()` for a scalar one); see `cell_label`."""
        ...

    def time(self) -> V:
        """`t`."""
        ...

    def constant(self, value: Any) -> V:
        """A loop variable's coordinate or a kernel value (known when building)."""
        ...

    def alias(self, alias: Any, idx: tuple[int, ...], value: Callable[[], V]) -> V:
        """Cell `idx` of an alias; `value()` is its expression's value (cached)."""
        ...

    def string(self, node: Str, text: str) -> V:
        """A string literal, with template placeholders substituted."""
        ...

    def state_sum(
        self, node: Call, kids: list[V], cells: Callable[[], Sequence[int]]
    ) -> V:
        """`sum_state()` or `sum_prefix(...)`; `cells()` are the state cells summed."""
        ...

    def node(self, node: Node, kids: list[V]) -> V:
        """Any other node, from the values of its `children` (in that order)."""
        ...

    def invalid(self, node: Invalid, path: str) -> V:
        """A construct outside the language (reported by `compile_rhs`)."""
        ...

    def reduce(self, node: Reduce, terms: list[tuple[float | None, V]]) -> V:
        """An unrolled `sum_over` / `integrate_over`: (weight or None, body) per coordinate."""
        ...

    def flux(self, rate: V, source: V | None) -> V:
        """A transition's flow, `rate * source`; the rate itself for a source
        transition (`from: null`), which has no source state."""
        ...

    def balance(self, terms: list[tuple[str, V]]) -> V:
        """A transitions model's `dydt` cell: signed (`"+"`/`"-"`) fluxes, maybe none."""
        ...

    def chain_stage(self, r_in: V | None, prev: V | None, r_out: V, cur: V) -> V:
        """One stage of a `chain` equation: `r_in * prev - r_out * cur` (no inflow first)."""
        ...


class CellFlow(NamedTuple, Generic[V]):
    """One transition between two state cells."""

    transition: Flow
    assignment: dict[str, int]
    src: int | None  # None: a source (births)
    dst: int | None  # None: a sink (deaths)
    rate: V


def assignments(dims: tuple[Dim, ...]) -> list[dict[str, int]]:
    """Every assignment of coordinate indices to `dims`, in C order."""
    names = [d.name for d in dims]
    return [
        dict(zip(names, combo))
        for combo in itertools.product(*(d.coord_indices() for d in dims))
    ]


def cell_label(obj: Any, idx: tuple[int, ...]) -> str:
    """Expanded name of cell `idx` of a state block, alias or parameter."""
    custom: tuple[str, ...] | None = getattr(obj, "custom", None)  # chain stages
    if custom is not None:
        return custom[idx[0]]
    return cell_name(obj.base, obj.axes, idx)


def _index(tgt: Target, a: dict[str, int]) -> tuple[int, ...]:
    return cell_of(tgt.sels, a)


class CellEvaluator(Generic[V]):
    """Evaluates a model's expressions cell by cell with a `CellBuilder`."""

    def __init__(self, model: Model, builder: CellBuilder[V]) -> None:
        self.m = model
        self.b = builder
        self._aliases: dict[tuple[int, tuple[int, ...]], V] = {}
        self._open: dict[tuple[int, tuple[int, ...]], tuple[Any, tuple[int, ...]]] = {}

    # -- expressions ----------------------------------------------------------------
    def expr(
        self, node: Node, scope: tuple[Dim, ...], a: dict[str, int], path: str
    ) -> V:
        """The value of `node` at cell `a` (coordinate index per dimension of `scope`)."""
        if isinstance(node, Read):
            return self._leaf(node.target, a, path)
        if isinstance(node, Reduce):
            return self._reduce(node, scope, a, path)
        if isinstance(node, Str):
            dims = self.m.prefix_dims(node.value, scope)
            coords = {d.name: d.axis.coords[a[d.name]] for d in dims}
            return self.b.string(node, subst_text(node.value, coords))
        if isinstance(node, Invalid):
            return self.b.invalid(node, path)
        kids = [self.expr(c, scope, a, path) for c in children(node)]
        if isinstance(node, Call):
            if node.func == "sum_state":
                n = self.m.n_model_state
                return self.b.state_sum(node, kids, lambda: range(n))
            if node.func == "sum_prefix":
                call = node
                return self.b.state_sum(
                    node, kids, lambda: self._prefix(call, scope, a, path)
                )
        return self.b.node(node, kids)

    def state_index(self, tgt: Target, a: dict[str, int]) -> int:
        blk: Block = tgt.obj
        return blk.offset + blk.flat(_index(tgt, a)) if blk.axes else blk.offset

    def _leaf(self, tgt: Target, a: dict[str, int], path: str) -> V:
        kind = tgt.kind
        if kind == "state":
            return self.b.state(self.state_index(tgt, a))
        if kind == "param":
            return self.b.param(tgt.obj, _index(tgt, a))
        if kind == "alias":
            idx = _index(tgt, a)
            return self.b.alias(tgt.obj, idx, lambda: self._alias(tgt.obj, idx))
        if kind == "time":
            return self.b.time()
        if kind == "coord":
            return self.b.constant(tgt.obj[cell_of(tgt.sels, a)[0]])
        return self.b.constant(float(tgt.obj.values(path)[_index(tgt, a)]))  # kernel

    def _alias(self, alias: Any, idx: tuple[int, ...]) -> V:
        key = (id(alias), idx)
        if key not in self._aliases:
            if key in self._open:  # 0.1.2 fails on such aliases when called, as we do
                names = [cell_label(a, i) for a, i in self._open.values()]
                raise ExpressionError(
                    f"could not resolve alias dependencies: {names} form a cycle",
                    path=alias.path,
                    token=alias.base,
                )
            self._open[key] = (alias, idx)
            scope: tuple[Dim, ...] = ()
            a: dict[str, int] = {}
            if alias.cells is not None:  # defined cell by cell
                node = alias.cells[flat_index(alias.axes, idx)]
            else:
                node = alias.expr
                scope = tuple(Dim(ax.name, ax) for ax in alias.axes)
                a = dict(zip((ax.name for ax in alias.axes), idx))
            try:
                self._aliases[key] = self.expr(node, scope, a, alias.path)
            finally:
                del self._open[key]
        return self._aliases[key]

    def _reduce(
        self, node: Reduce, scope: tuple[Dim, ...], a: dict[str, int], path: str
    ) -> V:
        dim = loop_dim(node)
        inner = (*scope, dim)
        weighted = node.kind == "integrate_over"
        weights = dim.weights() if weighted else None
        terms = [
            (
                weights[k] if weights is not None else None,
                self.expr(node.body, inner, {**a, dim.name: c}, path),
            )
            for k, c in enumerate(dim.coord_indices())
        ]
        return self.b.reduce(node, terms)

    def _prefix(
        self, node: Call, scope: tuple[Dim, ...], a: dict[str, int], path: str
    ) -> list[int]:
        text = prefix_text(node)
        return self.m.prefix_cells(text, self.m.prefix_dims(text, scope), a, path)

    # -- the model ------------------------------------------------------------------
    def flow_cells(self) -> list[tuple[Flow, dict[str, int], int | None, int | None]]:
        """Every transition between two cells, in 0.1.2's expansion order:
        `(flow, assignment, source index, target index)`, the source None for
        a source transition and the target None for a sink."""
        out: list[tuple[Flow, dict[str, int], int | None, int | None]] = []
        for td in self.m.transitions:
            src_t = None if td.src is None else target_of(td.src)
            dst_t = None if td.dst is None else target_of(td.dst)
            out.extend(
                (
                    td,
                    a,
                    None if src_t is None else self.state_index(src_t, a),
                    None if dst_t is None else self.state_index(dst_t, a),
                )
                for a in assignments(td.dims)
            )
        return out

    def end_cells(self, td: Flow, a: dict[str, int]) -> list[tuple[int, int]]:
        """The state cells one unit of `td`'s flow at cell `a` changes, with signed
        coefficients (`Flow.ends`; counters not included)."""
        return [
            (self.state_index(target_of(node), a), coef) for node, coef in td.ends()
        ]

    def counter_cells(self, td: Flow, a: dict[str, int]) -> list[int]:
        """The incidence counter cells that count `td`'s flow at cell `a`."""
        out = []
        for c in self.m.counters_of(td):
            idx = tuple(a[ax.name] for ax in c.block.axes)
            out.append(c.block.offset + (c.block.flat(idx) if idx else 0))
        return out

    def flows(self) -> list[CellFlow[V]]:
        """Every transition between two cells with its rate, in `flow_cells` order
        (a reaction's: its mass-action flux, the flow itself, as a source's rate)."""
        out: list[CellFlow[V]] = []
        for td, a, src, dst in self.flow_cells():
            law = td.rate if td.reaction is None else td.reaction.flux
            rate = self.expr(law, td.dims, a, f"{td.path}.rate")
            out.append(CellFlow(td, a, src, dst, rate))
        return out

    def _times(self, coef: int, value: V) -> V:
        """`coef * value` (a reaction's coefficient), as the builder makes a product."""
        if coef == 1:
            return value
        c = Num(coef)
        return self.b.node(BinOp("*", c, c), [self.b.node(c, []), value])

    def equations(self) -> list[V]:
        """`dydt`, one value per state cell."""
        m, b = self.m, self.b
        if m.kind == "transitions":
            terms: list[list[tuple[str, V]]] = [[] for _ in range(m.n_state)]
            for f in self.flows():
                flux = b.flux(f.rate, None if f.src is None else b.state(f.src))
                if f.transition.reaction is not None:
                    for cell, coef in self.end_cells(f.transition, f.assignment):
                        sign = "-" if coef < 0 else "+"
                        terms[cell].append((sign, self._times(abs(coef), flux)))
                if f.src is not None:
                    terms[f.src].append(("-", flux))
                if f.dst is not None:
                    terms[f.dst].append(("+", flux))
                for cell in self.counter_cells(f.transition, f.assignment):
                    terms[cell].append(("+", flux))
            return [b.balance(t) for t in terms]
        rows: list[V | None] = [None] * m.n_state
        for eq in m.equations:
            blk = eq.block
            for i, (node, path) in eq.overrides.items():
                rows[blk.offset + i] = self.expr(node, (), {}, path)
            if eq.run is not None:
                # Stage i gains what leaves stage i-1 and loses its own outflow.
                rates = [self.expr(r, (), {}, eq.path) for r in eq.run.rates]
                for i in range(blk.size):
                    if i in eq.overrides:
                        continue
                    cur = b.state(blk.offset + i)
                    if i == 0:
                        rows[blk.offset] = b.chain_stage(None, None, rates[0], cur)
                    else:
                        prev = b.state(blk.offset + i - 1)
                        rows[blk.offset + i] = b.chain_stage(
                            rates[i - 1], prev, rates[i], cur
                        )
                continue
            scope = tuple(Dim(ax.name, ax) for ax in blk.axes)
            names = [ax.name for ax in blk.axes]
            for flat, idx in enumerate(blk.cells()):
                if flat not in eq.overrides:
                    assert eq.expr is not None  # only overridden cells lack one
                    a = dict(zip(names, idx))
                    rows[blk.offset + flat] = self.expr(eq.expr, scope, a, eq.path)
        return [b.balance([]) if r is None else r for r in rows]


# -- overrides that restate the template ----------------------------------------------


class _Structure:
    """`CellBuilder` of a value's structure, comparable with `==`.

    Aliases are substituted, and sums and products are flat and in a canonical
    order (`a + b + c`, `c + (a + b)` and a `sum_over` of the three terms are all
    one sum of three terms), so a cell written out term by term compares equal to
    the template it restates. Leaves are state cells, parameter cells (by
    definition and index) and numbers.
    """

    def __init__(self) -> None:
        self._sums: dict[tuple[int, ...], Any] = {}

    def state(self, index: int) -> Any:
        return ("y", index)

    def param(self, param: Any, idx: tuple[int, ...]) -> Any:
        return ("p", id(param), idx)

    def time(self) -> Any:
        return ("t",)

    def constant(self, value: Any) -> Any:
        return ("n", float(value))

    def alias(self, alias: Any, idx: tuple[int, ...], value: Callable[[], Any]) -> Any:
        return value()

    def string(self, node: Str, text: str) -> Any:
        return ("s", text)

    def state_sum(
        self, node: Call, kids: list[Any], cells: Callable[[], Sequence[int]]
    ) -> Any:
        # The sum of the cells, as if written out (`S_0 + S_1 + ...` restates it).
        key = tuple(cells())
        got = self._sums.get(key)
        if got is None:
            terms = [("y", i) for i in key]
            got = self._sums[key] = (
                _flat("+", terms[0], [("+", v) for v in terms[1:]])
                if terms
                else ("+", ())
            )
        return got

    def invalid(self, node: Invalid, path: str) -> Any:
        return ("invalid", id(node))  # equal to nothing else

    def reduce(self, node: Reduce, terms: list[tuple[float | None, Any]]) -> Any:
        values = [
            v if w is None else _flat("*", ("n", float(w)), [("*", v)])
            for w, v in terms
        ]
        if not values:  # no coordinate selected
            return ("+", ())
        return _flat("+", values[0], [("+", v) for v in values[1:]])

    def node(self, node: Node, kids: list[Any]) -> Any:
        if isinstance(node, Num):
            v = node.value
            return ("b", v) if isinstance(v, bool) else ("n", v)
        if isinstance(node, BinOp) and node.op in _FAMILY:
            return _flat(_FAMILY[node.op], kids[0], [(node.op, kids[1])])
        if isinstance(node, ChainNode):
            ops = node.ops
            return _flat(_FAMILY[ops[0]], kids[0], list(zip(ops, kids[1:])))
        return (type(node).__name__, attributes(node), tuple(kids))

    # Not reached: only expressions are compared.
    def flux(self, rate: Any, source: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def balance(self, terms: list[tuple[str, Any]]) -> Any:  # pragma: no cover
        raise NotImplementedError

    def chain_stage(
        self, r_in: Any, prev: Any, r_out: Any, cur: Any
    ) -> Any:  # pragma: no cover
        raise NotImplementedError


_FAMILY = {"+": "+", "-": "+", "*": "*", "/": "*"}
_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}


def _flat(family: str, first: Any, rest: list[tuple[str, Any]]) -> Any:
    """`first op1 x1 op2 x2 ...` as one sum or product of signed terms, in a canonical
    order: nested sums (products) are spliced with their signs carried, and terms are
    ordered by their hash, so `a - (b - c)` and `c + a - b` compare equal. (Such a
    reordering changes only rounding, as every vectorized sum does.)"""
    terms: list[tuple[str, Any]] = []
    for op, v in ((family, first), *rest):
        if v.__class__ is tuple and len(v) == 2 and v[0] == family:
            flip = op not in ("+", "*")
            terms.extend((_INVERSE[o] if flip else o, x) for o, x in v[1])
        else:
            terms.append((op, v))
    if len(terms) == 1 and terms[0][0] == family:
        return terms[0][1]
    terms.sort(key=hash)
    return (family, tuple(terms))


def template_cells(model: Model) -> None:
    """Find the overridden cells whose override restates the template there.

    A spec generated cell by cell often writes some cells of a templated block out in
    full: the same expression, with expanded names. Their overrides are kept (0.1.2's
    strings show them as written) but the array code computes them with the template
    instead of a second time (`EquationDef.array_overrides`).
    """
    ev: CellEvaluator[Any] | None = None
    for i, eq in enumerate(model.equations):
        if eq.expr is None or eq.run is not None or not eq.overrides:
            continue
        if ev is None:
            ev = CellEvaluator(model, _Structure())
        blk = eq.block
        scope = tuple(Dim(ax.name, ax) for ax in blk.axes)
        same = set()
        for flat, (node, path) in eq.overrides.items():
            a = dict(zip((ax.name for ax in blk.axes), blk.unflat(flat)))
            try:
                template = ev.expr(eq.expr, scope, a, eq.path)
            except OpSystemError:  # the template does not apply at this cell
                continue
            if template == ev.expr(node, (), {}, path):
                same.add(flat)
        # no target names an equation: the model's list is all that holds it
        model.equations[i] = replace(eq, template_cells=frozenset(same))


# -- flows ----------------------------------------------------------------------------


def flow_names(model: Model) -> tuple[str, ...]:
    """The name of every flow between two cells, in `CellEvaluator.flow_cells` order.

    A named transition's flows are its name (placeholders dropped:
    `infection[strain]` is `infection`) expanded over the transition's dimensions
    like a state (`infection__age_y__strain_wt`); an unnamed one's are
    `source->target` (`S__age_y->E__age_y`). A name that would repeat gets `#2`,
    `#3`, ... in order.
    """
    names = model.state_names
    out: list[str] = []
    seen: dict[str, int] = {}
    ev = CellEvaluator(model, _Structure())
    for td, a, src, dst in ev.flow_cells():
        text = td.name_text
        if td.reaction is not None and not text:  # `2P->P2`, `null->5X`
            sides: list[list[str]] = [[], []]
            for cell, coef in ev.end_cells(td, a):
                mult = "" if abs(coef) == 1 else str(abs(coef))
                sides[coef > 0].append(mult + names[cell])
            name = "->".join("+".join(s) or "null" for s in sides)
        elif text:
            base = transition_base(text)
            axes = tuple(d.axis for d in td.dims)
            name = cell_name(base, axes, tuple(a[d.name] for d in td.dims))
        else:
            ends = ("null" if i is None else names[i] for i in (src, dst))
            name = "->".join(ends)
        k = seen.get(name, 0) + 1
        seen[name] = k
        out.append(name if k == 1 else f"{name}#{k}")
    return tuple(out)


def flow_sources(model: Model) -> list[int | None]:
    """The state cell each flow leaves, in flow order (`None` for a source): a
    reaction's the one cell it takes an individual from (`Reaction.consumed`;
    none for one that only brings new ones, or that the chain-binomial step
    refuses)."""
    ev = CellEvaluator(model, _Structure())
    out: list[int | None] = []
    for td, a, src, _dst in ev.flow_cells():
        r = td.reaction
        if r is not None and r.consumed is not None:
            src = ev.state_index(target_of(r.consumed), a)
        out.append(src)
    return out


def reactant_orders(model: Model) -> list[tuple[int, int, int]]:
    """`(state cell, order, coefficient)` of every reactant of every reaction's
    flow per cell: the order of the reaction (its reactants' coefficients added
    up) and how many of the cell one event takes."""
    ev = CellEvaluator(model, _Structure())
    out: list[tuple[int, int, int]] = []
    for td, a, _src, _dst in ev.flow_cells():
        r = td.reaction
        if r is None:
            continue
        order = sum(c for _, c in r.reactants)
        # `Flow.ends` lists the reactants first, with their coefficients negated
        for cell, coef in ev.end_cells(td, a)[: len(r.reactants)]:
            out.append((cell, order, -coef))
    return out


def stoichiometry_entries(model: Model) -> tuple[list[int], list[int], list[float]]:
    """`(rows, cols, values)` of the stoichiometry matrix: state × flow, -1 where a
    flow leaves a state and +1 where it arrives (nothing for a flow into its source),
    a reaction's net coefficient in each state it changes, and +1 in each incidence
    counter that counts it."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    ev = CellEvaluator(model, _Structure())
    for j, (td, a, src, dst) in enumerate(ev.flow_cells()):
        if td.reaction is not None:  # net change per cell: catalysts cancel
            net: dict[int, int] = {}
            for state, coef in ev.end_cells(td, a):
                net[state] = net.get(state, 0) + coef
            for state, coef in net.items():
                if coef:
                    rows.append(state)
                    cols.append(j)
                    vals.append(float(coef))
        elif src != dst:
            for cell, sign in ((src, -1.0), (dst, 1.0)):
                if cell is not None:  # none for a source's origin or a sink's end
                    rows.append(cell)
                    cols.append(j)
                    vals.append(sign)
        for cell in ev.counter_cells(td, a):  # incidence counters count the flow
            rows.append(cell)
            cols.append(j)
            vals.append(1.0)
    return rows, cols, vals
