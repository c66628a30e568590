"""LaTeX of a model, read from the validated model's flows and equations.

A templated model is written indexed: one line per state block (and per
incidence counter), over the block's axis placeholders. A block's line is the
signed sum of every flow that leaves or reaches it, each flow written where it
lands: a flow over an axis the block lacks is summed over it (`\\sum_{strain}`),
and a flow into or out of one coordinate carries a Kronecker delta
(`\\delta_{vax,\\mathrm{u}}`). Chain stages and per-cell overrides get lines of
their own. A model without templates is written cell by cell from its sympy
equations. Every name is valid TeX: multi-letter names are upright, underscores
escaped, and an indexed name is braced before its subscript.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._core.model import (
    At,
    Block,
    Dim,
    EquationDef,
    Model,
    Target,
    cell_of,
)
from .._core.rhs import Normalized, model_of
from .._lang.ir import (
    BinOp,
    BoolOp,
    Call,
    Chain,
    Compare,
    IfExp,
    IndexItem,
    Invalid,
    Node,
    NpConst,
    Num,
    Read,
    Reduce,
    Ref,
    UnaryOp,
)

__all__ = ["tex_name", "to_latex"]

_GREEK = {
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
}

_SPECIAL = {c: f"\\{c}" for c in "_#$%&{}"}


def _esc(text: str) -> str:
    """Text for `\\mathrm{...}`: TeX's special characters escaped."""
    return "".join(_SPECIAL.get(c, c) for c in text)


def _word(text: str) -> str:
    """One identifier: a Greek letter, a single letter, or upright text."""
    if text in _GREEK:
        return f"\\{text}"
    if len(text) == 1 and text.isalpha():
        return text
    return f"\\mathrm{{{_esc(text)}}}"


def tex_name(name: str) -> str:
    """A name as TeX: `beta` → `\\beta`, `f_x` → `f_{\\mathrm{x}}`, the expanded
    cell name `S__age_0_4` → `S_{\\mathrm{age\\_0\\_4}}`."""
    base, sep, cell = name.partition("__")
    head, _, tail = base.partition("_")
    subs = [_word(tail)] if tail else []
    if sep:
        subs.append(f"\\mathrm{{{_esc(cell)}}}")
    out = _word(head) if head else "\\mathrm{\\_}"
    return f"{out}_{{{','.join(subs)}}}" if subs else out


def _indexed(tex: str, index: list[str]) -> str:
    """`tex` subscripted by `index`; a name that has a subscript already is braced."""
    if not index:
        return tex
    return (
        f"{{{tex}}}_{{{','.join(index)}}}"
        if "_" in tex
        else f"{tex}_{{{','.join(index)}}}"
    )


def _placeholder(text: str) -> str:
    """An axis placeholder, loop variable or coordinate inside a subscript."""
    if text.isidentifier() and "_" not in text:
        return text
    return f"\\mathrm{{{_esc(text)}}}"


def _item(i: IndexItem) -> str:
    return _placeholder(i.value)


def _tex(node: Node, m: Model) -> tuple[str, int]:
    """Template-level LaTeX of an expression and its precedence (9: an atom).

    With the model, an expanded cell name (`S__age_old`) is written as its block
    at those coordinates (`S_{\\mathrm{old}}`).
    """

    def go(n: Node) -> tuple[str, int]:
        return _tex(n, m)

    if isinstance(node, Num):
        if isinstance(node.value, bool):
            return ("\\mathrm{True}" if node.value else "\\mathrm{False}"), 9
        return repr(node.value), 9 if node.value >= 0 else 7
    if isinstance(node, NpConst):
        return {"pi": "\\pi", "e": "e", "inf": "\\infty", "nan": "\\mathrm{NaN}"}[
            node.name
        ], 9
    if isinstance(node, Read):
        return _read(node), 9
    if isinstance(node, UnaryOp):
        inner, p = go(node.operand)
        if node.op == "not":
            return f"\\neg {_paren(inner, p, 3)}", 3
        return f"{node.op}{_paren(inner, p, 8)}", 7
    if isinstance(node, BinOp):
        return _binary(node.op, go(node.left), go(node.right))
    if isinstance(node, Chain):
        acc = go(node.operands[0])
        for op, operand in zip(node.ops, node.operands[1:]):
            acc = _binary(op, acc, go(operand))
        return acc
    if isinstance(node, Compare):
        sym = {
            "==": "=",
            "!=": "\\neq",
            "<": "<",
            "<=": "\\leq",
            ">": ">",
            ">=": "\\geq",
        }
        parts = [_paren(*go(node.left), 5)]
        for op, c in zip(node.ops, node.comparators):
            parts.append(f"{sym[op]} {_paren(*go(c), 5)}")
        return " ".join(parts), 4
    if isinstance(node, BoolOp):
        j = " \\wedge " if node.op == "and" else " \\vee "
        return j.join(_paren(*go(v), 3) for v in node.values), 2
    if isinstance(node, IfExp):
        return (
            f"\\begin{{cases}} {go(node.body)[0]} & \\text{{if }} {go(node.test)[0]} "
            f"\\\\ {go(node.orelse)[0]} & \\text{{otherwise}} \\end{{cases}}",
            9,
        )
    if isinstance(node, Call):
        return _call(node, m), 9
    if isinstance(node, Reduce):
        body = _paren(*go(node.body), 6)
        var = _placeholder(node.var)
        if node.kind == "integrate_over":
            return f"\\int {body} \\, d{var}", 6
        return f"\\sum_{{{var}{_among(node.coords)}}} {body}", 6
    if isinstance(node, Invalid):
        return f"\\mathrm{{{_esc(node.source)}}}", 9
    raise TypeError(type(node).__name__)  # pragma: no cover


def _paren(text: str, prec: int, need: int) -> str:
    """`text` in parentheses when its precedence is below `need`."""
    return f"\\left({text}\\right)" if prec < need else text


def _binary(op: str, left: tuple[str, int], right: tuple[str, int]) -> tuple[str, int]:
    if op == "/":
        return f"\\frac{{{left[0]}}}{{{right[0]}}}", 9
    if op == "**":
        return f"{{{_paren(*left, 9)}}}^{{{right[0]}}}", 8
    prec = {"+": 5, "-": 5, "*": 6, "%": 6}[op]
    sym = {"+": " + ", "-": " - ", "*": " \\, ", "%": " \\,\\mathrm{mod}\\, "}[op]
    return f"{_paren(*left, prec)}{sym}{_paren(*right, prec + 1)}", prec


def _read(r: Read) -> str:
    """A name as written; a state cell written out (`S__age_old`) as its block's cell."""
    n, tgt = r.node, r.target
    if isinstance(n, Ref):
        return _indexed(tex_name(n.base), [_item(i) for i in n.items])
    if tgt.kind == "state" and "__" in n.id and tgt.obj.custom is None:
        blk: Block = tgt.obj
        return _cell_tex(blk, blk.flat(cell_of(tgt.sels, {})))
    return tex_name(n.id)


def _call(node: Call, m: Model) -> str:
    if node.func == "sum_state":
        return "\\sum_{s} s"
    if node.func == "sum_prefix":
        prefix = node.args[0].value  # type: ignore[attr-defined]
        return f"\\sum_{{s \\in \\mathrm{{{_esc(prefix)}}}*}} s"
    args = ", ".join(_tex(x, m)[0] for x in node.args)
    names = {
        "abs": "\\left|{}\\right|",
        "sqrt": "\\sqrt{{{}}}",
        "exp": "\\exp\\left({}\\right)",
        "log": "\\log\\left({}\\right)",
    }
    if node.func in names:
        return names[node.func].format(args)
    return f"\\operatorname{{{_esc(node.func)}}}\\left({args}\\right)"


# -- the model ----------------------------------------------------------------------


def _coord(label: str) -> str:
    """A coordinate label: upright (`\\mathrm{0-4}`), unlike placeholders."""
    return f"\\mathrm{{{_esc(label)}}}"


def _among(labels: Sequence[str] | None) -> str:
    """` \\in \\{a, b\\}` for a sum over some coordinates (`IN [a, b]`), else ``."""
    if not labels:
        return ""
    return f" \\in \\{{{', '.join(_coord(c) for c in labels)}\\}}"


def _dot(tex: str, index: list[str]) -> str:
    """The time derivative of `tex`, subscripted by `index`."""
    return f"\\dot{{{tex}}}" + (f"_{{{','.join(index)}}}" if index else "")


def _block_dot(blk: Block) -> str:
    return _dot(tex_name(blk.base), [_placeholder(ax.name) for ax in blk.axes])


def _cell_parts(blk: Block, flat: int) -> tuple[str, list[str]]:
    """One cell as a name and its subscript: a chain stage by its name (`E1`),
    else the block's name at its coordinates."""
    if blk.custom is not None or not blk.axes:
        return tex_name(blk.names()[flat]), []
    idx = blk.unflat(flat)
    return tex_name(blk.base), [_coord(ax.coords[i]) for ax, i in zip(blk.axes, idx)]


def _cell_tex(blk: Block, flat: int) -> str:
    return _indexed(*_cell_parts(blk, flat))


def _cell_dot(blk: Block, flat: int) -> str:
    return _dot(*_cell_parts(blk, flat))


def _term(
    flux: str,
    tgt: Target,
    dims: tuple[Dim, ...],
) -> str:
    """A flow over `dims` as it lands on the generic cell of `tgt`'s block: a
    delta for each pinned axis or renamed dimension, summed over the flow's
    dimensions the block does not index by name."""
    blk: Block = tgt.obj
    deltas: list[str] = []
    bound: set[str] = set()
    for ax, sel in zip(blk.axes, tgt.sels):
        if isinstance(sel, At):
            deltas.append(
                f"\\delta_{{{_placeholder(ax.name)},{_coord(ax.coords[sel.index])}}}"
            )
        elif sel.dim == ax.name:
            bound.add(sel.dim)
        else:
            deltas.append(
                f"\\delta_{{{_placeholder(ax.name)},{_placeholder(sel.dim)}}}"
            )
    text = " \\, ".join([*deltas, flux])
    for d in reversed(dims):
        if d.name in bound:
            continue
        labels = None if d.subset is None else [d.axis.coords[i] for i in d.subset]
        text = f"\\sum_{{{_placeholder(d.name)}{_among(labels)}}} {text}"
    return text


def _join(terms: list[tuple[str, str]]) -> str:
    if not terms:
        return "0"
    (sign, first), *rest = terms
    out = (
        first
        if sign == "+"
        else f"-{first}"
        if first.startswith("\\sum")
        else f"- {first}"
    )
    for sign, t in rest:
        out += f" {sign} {t}"
    return out


def _transitions_lines(m: Model) -> list[str]:
    # (block id, flat cell or None for the block's template line) -> signed terms
    terms: dict[tuple[int, int | None], list[tuple[str, str]]] = {}

    def add(sign: str, tgt: Target, flux: str, dims: tuple[Dim, ...]) -> None:
        blk: Block = tgt.obj
        if blk.custom is not None:  # a chain stage: a line per cell
            (stage,) = cell_of(tgt.sels, {})
            terms.setdefault((id(blk), stage), []).append((sign, flux))
            return
        terms.setdefault((id(blk), None), []).append((sign, _term(flux, tgt, dims)))

    for td in m.transitions:
        rate, prec = _tex(td.rate, m)
        flux = _paren(rate, prec, 6)
        if td.src is not None:
            flux = f"{flux} \\, {_tex(td.src, m)[0]}"
        for sign, tgt in m.flow_ends(td):
            add(sign, tgt, flux, td.dims)
    lines = []
    for blk in m.blocks:
        if blk.custom is not None:
            for i in range(blk.size):
                body = _join(terms.get((id(blk), i), []))
                lines.append(f"{_cell_dot(blk, i)} &= {body}")
        else:
            body = _join(terms.get((id(blk), None), []))
            lines.append(f"{_block_dot(blk)} &= {body}")
    return lines


def _expr_lines(m: Model, eq: EquationDef) -> list[str]:
    blk = eq.block
    own = {
        f: (node, path)
        for f, (node, path) in eq.overrides.items()
        if f not in eq.template_cells
    }
    lines = []
    if eq.run is not None:
        rates = [_paren(*_tex(r, m), 6) for r in eq.run.rates]
        for i in range(blk.size):
            if i in own:
                continue
            out = f"- {rates[i]} \\, {_cell_tex(blk, i)}"
            if i:
                out = f"{rates[i - 1]} \\, {_cell_tex(blk, i - 1)} {out}"
            lines.append(f"{_cell_dot(blk, i)} &= {out}")
    elif eq.expr is not None and len(own) < blk.size:
        other = " && \\text{(other cells)}" if own else ""
        lines.append(f"{_block_dot(blk)} &= {_tex(eq.expr, m)[0]}{other}")
    for f, (node, _) in sorted(own.items()):
        lines.append(f"{_cell_dot(blk, f)} &= {_tex(node, m)[0]}")
    return lines


def to_latex(rhs: Normalized) -> str:
    """LaTeX of the model: indexed by axis placeholders when templated, expanded otherwise.

    Returns an `aligned` block: the aliases, then one line per state block (per
    cell of a chain, and per overridden cell).
    """
    m = model_of(rhs)
    templated = any(b.axes and b.custom is None for b in m.blocks)
    if not templated:
        return _cellwise(rhs)
    lines: list[str] = []
    for a in m.aliases.values():
        if a.expr is not None:
            lhs = _indexed(tex_name(a.base), [_placeholder(x.name) for x in a.axes])
            lines.append(f"{lhs} &= {_tex(a.expr, m)[0]}")
    if m.kind == "transitions":
        lines.extend(_transitions_lines(m))
    else:
        for eq in m.equations:
            lines.extend(_expr_lines(m, eq))
    return _aligned(lines)


def _aligned(lines: list[str]) -> str:
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def _cellwise(rhs: Normalized) -> str:
    """One line per state cell, from the sympy equations (aliases substituted)."""
    from .symbolic import _sympy, to_sympy

    sp = _sympy()
    lines = []
    for name, eq in to_sympy(rhs).items():
        names = {s: tex_name(s.name) for s in getattr(eq, "free_symbols", ())}
        body = sp.latex(eq, symbol_names=names)
        lines.append(f"{_dot(tex_name(name), [])} &= {body}")
    return _aligned(lines)
