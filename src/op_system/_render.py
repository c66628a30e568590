"""Render a `Model` as op-system 0.1.2's per-cell strings.

`NormalizedRhs.equations`, `.aliases`, `.all_symbols` and the expanded
`meta["transitions"]` are produced here, on first access only: compiling never
needs them.
"""

from __future__ import annotations

import ast
import itertools
from typing import Any

from ._build import reduce_dim, subst_text
from ._ir import Name, Node, Reduce, Ref, Str, to_source
from ._model import ChainFlow, Dim, EquationDef, Model, Target, cell_name

__all__ = [
    "render_aliases",
    "render_equations",
    "render_symbols",
    "render_transitions_meta",
]


def _target_name(tgt: Target, assignment: dict[str, int]) -> str:
    if tgt.kind == "time":
        return "t"
    if tgt.kind == "coord":
        return repr(tgt.obj[assignment[tgt.sels[0][1]]])
    if tgt.kind == "kernel":
        values = tgt.obj.values("kernels")
        return repr(
            float(
                values[tuple(assignment[v] if k == "dim" else v for k, v in tgt.sels)]
            )
        )
    idx = tuple(assignment[v] if k == "dim" else v for k, v in tgt.sels)
    custom: tuple[str, ...] | None = getattr(
        tgt.obj, "custom", None
    )  # a chain block's stage names
    if custom is not None:
        return custom[idx[0]]
    return cell_name(tgt.obj.base, tgt.obj.axes, idx)


def render(
    model: Model,
    node: Node,
    scope: tuple[Dim, ...],
    assignment: dict[str, int],
    path: str,
) -> str:
    """Render `node` for one cell: names expanded, reductions unrolled."""

    def name_or_ref(n: Name | Ref) -> str:
        return _target_name(model.resolve(n, scope, path), assignment)

    def red(n: Reduce) -> str:
        dim = reduce_dim(n, model.axes, path)
        inner_scope = (*scope, dim)
        terms = []
        for c in dim.coord_indices():
            body = render(model, n.body, inner_scope, {**assignment, dim.name: c}, path)
            if n.kind == "integrate_over":
                terms.append(f"({dim.axis.deltas[c]})*({body})")
            else:
                terms.append(f"({body})")
        return "(" + " + ".join(terms) + ")"

    def text(n: Str) -> str:
        dims = model.prefix_dims(n.value, scope)
        return subst_text(
            n.value, {d.name: d.axis.coords[assignment[d.name]] for d in dims}
        )

    return to_source(node, name=name_or_ref, ref=name_or_ref, reduce=red, string=text)


def _assignments(dims: tuple[Dim, ...]) -> list[dict[str, int]]:
    return [
        dict(zip((d.name for d in dims), combo, strict=False))
        for combo in itertools.product(*(d.coord_indices() for d in dims))
    ]


def render_aliases(model: Model) -> dict[str, str]:
    out: dict[str, str] = {}
    for alias in model.aliases.values():
        if alias.cells is not None:
            continue
        scope = tuple(Dim(ax.name, ax) for ax in alias.axes)
        assert alias.expr is not None  # only virtual aliases (cells) have none
        for a in _assignments(scope):
            idx = tuple(a[ax.name] for ax in alias.axes)
            out[cell_name(alias.base, alias.axes, idx)] = render(
                model, alias.expr, scope, a, alias.path
            )
    return out


def _expanded_transitions(
    model: Model,
) -> list[tuple[dict[str, Any], int, int, str, int]]:
    """Per-cell transitions: (meta entry, from index, to index, rate text, order)."""
    index = {name: i for i, name in enumerate(model.state_names)}
    out: list[tuple[dict[str, Any], int, int, str, int]] = []
    for td in model.transitions:
        if isinstance(td, ChainFlow):
            names = td.block.custom or ()
            for i, rate_node in enumerate(td.rates):
                rate = render(model, rate_node, (), {}, td.path)
                entry = {"from": names[i], "to": names[i + 1], "rate": rate}
                out.append(
                    (entry, index[names[i]], index[names[i + 1]], rate, len(out))
                )
            continue
        for a in _assignments(td.dims):
            src = _target_name(model.resolve(td.src, td.dims, td.path), a)
            dst = _target_name(model.resolve(td.dst, td.dims, td.path), a)
            rate = render(model, td.rate, td.dims, a, f"{td.path}.rate")
            entry = dict(td.raw)
            entry["from"], entry["to"], entry["rate"] = src, dst, rate
            if td.name_text:
                entry["name"] = subst_text(
                    td.name_text, {d.name: d.axis.coords[a[d.name]] for d in td.dims}
                )
            out.append((entry, index[src], index[dst], rate, len(out)))
    return out


def render_transitions_meta(model: Model) -> list[dict[str, Any]]:
    return [e for e, *_ in _expanded_transitions(model)]


def render_equations(model: Model) -> tuple[str, ...]:
    if model.kind == "transitions":
        terms: list[list[str]] = [[] for _ in range(model.n_state)]
        for _entry, i_from, i_to, rate, _ in _expanded_transitions(model):
            flow = f"({rate})*({model.state_names[i_from]})"
            terms[i_from].append(f"-({flow})")
            terms[i_to].append(f"+({flow})")
        eqs = []
        for t in terms:
            if not t:
                eqs.append("0.0")
                continue
            expr = " ".join(t)
            eqs.append(expr[1:] if expr.startswith("+(") else expr)
        return tuple(eqs)
    eqs = []
    for eq in model.equations:
        blk = eq.block
        if eq.chain is not None:
            eqs.extend(_render_chain(model, eq))
            continue
        scope = tuple(Dim(ax.name, ax) for ax in blk.axes)
        for flat, idx in enumerate(blk.cells()):
            if flat in eq.overrides:
                node, path = eq.overrides[flat]
                eqs.append(render(model, node, (), {}, path))
            else:
                assert eq.expr is not None
                eqs.append(
                    render(
                        model,
                        eq.expr,
                        scope,
                        dict(zip((ax.name for ax in blk.axes), idx, strict=False)),
                        eq.path,
                    )
                )
    return tuple(eqs)


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


def _render_chain(model: Model, eq: EquationDef) -> list[str]:
    """0.1.2's auto-filled stage equations: `(r_prev)*I_prev - (r_out)*I_i`."""
    assert eq.chain is not None
    names = eq.block.custom or ()
    rates = [render(model, r, (), {}, eq.path) for r in eq.chain[0]]
    final = render(model, eq.chain[1], (), {}, eq.path)
    out = []
    for i, name in enumerate(names):
        if i in eq.overrides:
            node, path = eq.overrides[i]
            out.append(render(model, node, (), {}, path))
        elif i == 0:
            out.append(f"-({rates[0]})*{name}")
        else:
            r_out = rates[i] if i < len(names) - 1 else final
            out.append(f"({rates[i - 1]})*{names[i - 1]} - ({r_out})*{name}")
    return out
