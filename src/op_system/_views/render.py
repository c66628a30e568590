"""Render a `Model` as op-system 0.1.2's per-cell strings.

`NormalizedRhs.equations`, `.aliases`, `.all_symbols` and the expanded
`meta["transitions"]` are produced here, on first access only: compiling never
needs them.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from .._core.cells import CellEvaluator, CellFlow, cell_label
from .._core.model import Dim, Model, subst_text
from .._lang.ir import ATOM, Call, Invalid, Node, Reduce, Str, format_node

__all__ = [
    "render_aliases",
    "render_equations",
    "render_symbols",
    "render_transitions_meta",
]

#: A rendered value: its text and precedence (see `_ir.format_node`).
_Text = tuple[str, int]


class _Strings:
    """`CellBuilder` of 0.1.2's strings: names expanded, aliases kept by name."""

    def __init__(self, model: Model) -> None:
        self.names = model.state_names
        # With incidence counters, state sums are written out: 0.1.2's `sum_state()`
        # would read the counters too.
        self.expand_sums = bool(model.counters)

    def state(self, index: int) -> _Text:
        return self.names[index], ATOM

    def param(self, param: Any, idx: tuple[int, ...]) -> _Text:
        return cell_label(param, idx), ATOM

    def time(self) -> _Text:
        return "t", ATOM

    def constant(self, value: Any) -> _Text:
        return repr(value), ATOM

    def alias(
        self, alias: Any, idx: tuple[int, ...], value: Callable[[], _Text]
    ) -> _Text:
        return cell_label(alias, idx), ATOM

    def string(self, node: Str, text: str) -> _Text:
        return repr(text), ATOM

    def state_sum(
        self, node: Call, kids: list[_Text], cells: Callable[[], Sequence[int]]
    ) -> _Text:
        if self.expand_sums:
            return "(" + " + ".join(self.names[i] for i in cells()) + ")", ATOM
        return format_node(node, kids)  # kept as the call, as 0.1.2 does

    def node(self, node: Node, kids: list[_Text]) -> _Text:
        return format_node(node, kids)

    def invalid(self, node: Invalid, path: str) -> _Text:
        return node.source, ATOM

    def reduce(self, node: Reduce, terms: list[tuple[float | None, _Text]]) -> _Text:
        parts = [f"({b})" if w is None else f"({w})*({b})" for w, (b, _) in terms]
        return "(" + " + ".join(parts) + ")", ATOM

    def flux(self, rate: _Text, source: _Text | None) -> _Text:
        if source is None:  # a source transition: the rate is the flow
            return f"({rate[0]})", ATOM
        return f"({rate[0]})*({source[0]})", ATOM

    def balance(self, terms: list[tuple[str, _Text]]) -> _Text:
        if not terms:
            return "0.0", ATOM
        text = " ".join(f"{sign}({flux})" for sign, (flux, _) in terms)
        return (text[1:] if text.startswith("+(") else text), 0

    def chain_stage(
        self, r_in: _Text | None, prev: _Text | None, r_out: _Text, cur: _Text
    ) -> _Text:
        # 0.1.2's auto-filled stage equations.
        if r_in is None or prev is None:
            return f"-({r_out[0]})*{cur[0]}", 0
        return f"({r_in[0]})*{prev[0]} - ({r_out[0]})*{cur[0]}", 0


def _evaluator(model: Model) -> CellEvaluator[_Text]:
    return CellEvaluator(model, _Strings(model))


def render_aliases(model: Model) -> dict[str, str]:
    ev = _evaluator(model)
    out: dict[str, str] = {}
    for alias in model.aliases.values():
        if alias.cells is not None:
            continue
        assert alias.expr is not None  # only virtual aliases (cells) have none
        scope = tuple(Dim(ax.name, ax) for ax in alias.axes)
        for idx in itertools.product(*(range(ax.size) for ax in alias.axes)):
            a = dict(zip((ax.name for ax in alias.axes), idx))
            out[cell_label(alias, idx)] = ev.expr(alias.expr, scope, a, alias.path)[0]
    return out


def _meta_entry(model: Model, f: CellFlow[_Text]) -> dict[str, Any]:
    names = model.state_names
    td = f.transition
    src = None if f.src is None else names[f.src]
    dst = None if f.dst is None else names[f.dst]
    entry = dict(td.raw)
    if td.reaction is not None:  # its states by cell
        ev = _evaluator(model)
        sides: list[list[str]] = [[], []]
        for cell, coef in ev.end_cells(td, f.assignment):
            mult = "" if abs(coef) == 1 else f"{abs(coef)} "
            sides[coef > 0].append(mult + names[cell])
        entry["reaction"] = " -> ".join(" + ".join(s) or "0" for s in sides)
        # the rate per combination, as written (`f.rate` is the mass-action flux)
        entry["rate"] = ev.expr(td.rate, td.dims, f.assignment, f"{td.path}.rate")[0]
    else:
        entry["from"], entry["to"], entry["rate"] = src, dst, f.rate[0]
    if td.name_text:
        coords = {d.name: d.axis.coords[f.assignment[d.name]] for d in td.dims}
        entry["name"] = subst_text(td.name_text, coords)
    return entry


def render_transitions_meta(model: Model) -> list[dict[str, Any]]:
    return [_meta_entry(model, f) for f in _evaluator(model).flows()]


def render_equations(model: Model) -> tuple[str, ...]:
    return tuple(text for text, _ in _evaluator(model).equations())


def render_symbols(
    equations: tuple[str, ...], aliases: dict[str, str]
) -> frozenset[str]:
    """Names used by the rendered strings, plus alias names (0.1.2's `all_symbols`)."""
    names: set[str] = set()
    for text in (*equations, *aliases.values()):
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            continue
        names.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    return frozenset(names | set(aliases))
