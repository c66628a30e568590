"""Binding: every name of a built model becomes a `Read` of what it reads.

The last step of the build. Validation has resolved every name and reference
of the model in its scope (the template's placeholders and the loop variables
of enclosing reductions); `bind_model` writes those bindings into the model's
expressions, so that the model every later stage reads holds `Read` nodes
(node as written, `Target`) and no `Name` or `Ref`: nothing after the build
resolves a name (a `Model` has no resolver: `_core/resolve.py` is the build's).

The model's aliases, equations, flows and counters are replaced by bound
copies, never changed in place (all are frozen): a model and its observed
model (which shares the unbound pieces it was validated from, with parameters
of its own) each get theirs. A target naming an alias names the bound copy;
one naming a parameter names the model's own (`Model.params`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .._lang.ir import BinOp, Invalid, Name, Node, Read, Reduce, Ref, children, rebuild
from .defs import AliasDef, Dim, EquationDef, Flow, Run, Species, Target
from .model import Model
from .resolve import Resolver
from .templates import reduce_dim

__all__ = ["bind_model"]


class _Binder:
    def __init__(self, names: Resolver, aliases: dict[int, AliasDef]) -> None:
        self.m = names.m
        self.resolve = names.settled()  # the model is complete
        self.aliases = aliases  # unbound alias (by id) -> its bound copy
        self.invalid = False  # an `Invalid` node seen
        self.read_aliases: set[str] = set()  # what the expressions bound so far read
        #: each resolved target naming an alias or parameter, by id, as bound
        self._moved: dict[int, tuple[Target, Target]] = {}

    def target(self, node: Name | Ref, scope: tuple[Dim, ...], path: str) -> Target:
        tgt: Target = self.resolve(node, scope, path)
        kind = tgt.kind
        if kind != "alias" and kind != "param":
            return tgt
        if kind == "alias":
            self.read_aliases.add(tgt.obj.base)
        got = self._moved.get(id(tgt))
        if got is not None and got[0] is tgt:
            return got[1]
        if kind == "alias":
            new = Target("alias", self.aliases.get(id(tgt.obj), tgt.obj), tgt.sels)
        else:
            # the builder replaces a parameter as it learns how it is read (cells,
            # interpolation), after names were resolved: the model's holds it all
            new = Target("param", self.m.params[tgt.obj.key], tgt.sels)
        self._moved[id(tgt)] = (tgt, new)
        return new

    def read(self, node: Node, scope: tuple[Dim, ...], path: str) -> Read:
        if isinstance(node, Read):
            return node
        assert isinstance(node, (Name, Ref))
        return Read(node, self.target(node, scope, path))

    def expr(self, node: Node, scope: tuple[Dim, ...], path: str) -> Node:
        if isinstance(node, (Name, Ref)):
            return Read(node, self.target(node, scope, path))
        if isinstance(node, BinOp):  # the bulk of long sums: no generic rebuild
            left = self.expr(node.left, scope, path)
            right = self.expr(node.right, scope, path)
            if left is node.left and right is node.right:
                return node
            return BinOp(node.op, left, right)
        if isinstance(node, Reduce):  # the loop's dimension, bound with it
            dim = reduce_dim(node, self.m.axes, path)
            body = self.expr(node.body, (*scope, dim), path)
            kind = node.kind
            if kind == "apply_along":  # 0.9.0's: an integral over a continuous axis
                kind = "integrate_over" if dim.axis.kind == "continuous" else "sum_over"
            return Reduce(kind, node.axis, node.var, node.coords, body, dim, node.pos)
        kids = children(node)
        if not kids:
            if isinstance(node, Invalid):
                self.invalid = True
            return node
        return rebuild(node, [self.expr(k, scope, path) for k in kids])


def _dims(axes: tuple[Any, ...]) -> tuple[Dim, ...]:
    return tuple(Dim(ax.name, ax) for ax in axes)


def bind_model(model: Model, names: Resolver) -> None:
    """Replace `model`'s aliases, observables, equations, flows and counters by
    copies whose expressions hold `Read` nodes, resolved by `names`."""
    olds = [*model.aliases.values(), *model.observables]
    copies = {id(a): replace(a) for a in olds}
    bd = _Binder(names, copies)
    deps: dict[int, frozenset[str]] = {}
    for a in olds:
        scope = _dims(a.axes)
        bd.read_aliases = set()
        _complete(
            copies[id(a)],
            None if a.expr is None else bd.expr(a.expr, scope, a.path),
            None if a.cells is None else tuple(bd.read(c, (), a.path) for c in a.cells),
        )
        deps[id(a)] = frozenset(bd.read_aliases)
    model.alias_deps = {k: deps[id(a)] for k, a in model.aliases.items()}
    model.aliases = {k: copies[id(a)] for k, a in model.aliases.items()}
    model.observables = [copies[id(o)] for o in model.observables]
    model.equations = [_equation(bd, eq) for eq in model.equations]
    runs: dict[int, Run] = {}
    flows: dict[int, Flow] = {}
    for td in model.transitions:
        flows[id(td)] = _flow(bd, td, runs)
    model.transitions = [flows[id(td)] for td in model.transitions]
    model.counters = [
        replace(c, transitions=tuple(flows[id(t)] for t in c.transitions))
        for c in model.counters
    ]
    model.has_invalid = bd.invalid


def _complete(
    alias: AliasDef, expr: Node | None, cells: tuple[Read, ...] | None
) -> None:
    """Write a bound copy's expression (or cells) into it, once.

    Aliases may read each other in a cycle (0.1.2 reports one when evaluating, as
    the generated code does), so each bound copy exists before the expressions
    naming it are bound, and gets its own here, before the model is returned.
    The only write to a frozen definition after it is made.
    """
    object.__setattr__(alias, "expr", expr)
    object.__setattr__(alias, "cells", cells)


def _run(bd: _Binder, run: Run) -> Run:
    return Run(run.block, tuple(bd.expr(r, (), run.path) for r in run.rates), run.path)


def _equation(bd: _Binder, eq: EquationDef) -> EquationDef:
    scope = _dims(eq.block.axes)
    return replace(
        eq,
        expr=None if eq.expr is None else bd.expr(eq.expr, scope, eq.path),
        overrides={
            f: (bd.expr(node, (), path), path)
            for f, (node, path) in eq.overrides.items()
        },
        run=None if eq.run is None else _run(bd, eq.run),
    )


def _flow(bd: _Binder, td: Flow, runs: dict[int, Run]) -> Flow:
    run = td.run
    if run is not None:
        run = runs.get(id(run)) or runs.setdefault(id(run), _run(bd, run))
    reaction = td.reaction
    if reaction is not None:
        rpath, rate_path = f"{td.path}.reaction", f"{td.path}.rate"

        def species(
            ends: tuple[tuple[Species, int], ...],
        ) -> tuple[tuple[Species, int], ...]:
            return tuple((bd.read(n, td.dims, rpath), c) for n, c in ends)

        reaction = replace(
            reaction,
            reactants=species(reaction.reactants),
            products=species(reaction.products),
            flux=bd.expr(reaction.flux, td.dims, rate_path),
            propensity=bd.expr(reaction.propensity, td.dims, rate_path),
            per_capita=bd.expr(reaction.per_capita, td.dims, rate_path),
            consumed=None
            if reaction.consumed is None
            else bd.read(reaction.consumed, td.dims, rpath),
        )
    return replace(
        td,
        reaction=reaction,
        rate=bd.expr(td.rate, td.dims, f"{td.path}.rate"),
        src=None if td.src is None else bd.read(td.src, td.dims, f"{td.path}.from"),
        dst=None if td.dst is None else bd.read(td.dst, td.dims, f"{td.path}.to"),
        run=run,
    )
