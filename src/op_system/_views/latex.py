"""LaTeX of a model, read from the validated model's flows and equations.

A templated model is written indexed: one line per state block (and per
incidence counter), over the block's axis placeholders. A block's line is the
signed sum of every flow that leaves or reaches it, each flow written where it
lands: a flow over an axis the block lacks is summed over it (`\\sum_{strain}`),
and a flow into or out of one coordinate carries a Kronecker delta
(`\\delta_{vax,\\mathrm{u}}`). Chain stages and per-cell overrides get lines of
their own; an incidence counter's line is marked `(counter)` (`\\sum_{s} s`, from
`sum_state()`, sums the model's states, not the counters). A reference is indexed in its object's axis order, every axis given
(`I[vax=j]` in a template over `age` is `I_{age,j}`); a sum or integral whose
variable is not its axis says what it ranges over (`\\sum_{j \\in age}`,
`\\int_{x}`); a factor that starts with a sign is parenthesized (`a \\, -b` would
read as a subtraction); a number is never written `1e-05`. `tests/latex_reader.py`
reads the lines back and evaluates them. A model without templates is written
cell by cell from its sympy equations. Every name is valid TeX: multi-letter
names are upright, underscores escaped, and an indexed name is braced before its
subscript.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._core.model import (
    At,
    Block,
    Dim,
    EquationDef,
    Model,
    Target,
    cell_of,
    fixed,
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
    prefix_text,
    unhandled,
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

_SPECIAL = {
    **{c: f"\\{c}" for c in "_#$%&{}"},
    # characters TeX reads as markup even in \mathrm: a label `a^b^c` would be a
    # double superscript, `x\y` a command
    "^": "\\hat{}",
    "~": "\\sim{}",
    "\\": "\\backslash{}",
}


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


def _number(value: float) -> tuple[str, int]:
    """A number as TeX: `2.5 \\cdot 10^{20}` for Python's `2.5e+20`."""
    if math.isinf(value):
        return ("\\infty" if value > 0 else "-\\infty"), 9 if value > 0 else 7
    if math.isnan(value):
        return "\\text{NaN}", 9
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if not e:
        return text, 9 if value >= 0 else 7
    return f"{mantissa} \\cdot 10^{{{int(exponent)}}}", 6


def _tex(node: Node, m: Model) -> tuple[str, int]:
    """Template-level LaTeX of an expression and its precedence (9: an atom).

    A reference is written with one index per axis of what it reads (its binding),
    in that object's axis order (`I[vax=j]` over `age` is `I_{age,j}`); an
    expanded cell name (`S__age_old`) as its block at those coordinates
    (`S_{\\mathrm{old}}`).
    """

    def go(n: Node) -> tuple[str, int]:
        return _tex(n, m)

    if isinstance(node, Num):
        if isinstance(node.value, bool):
            return ("\\mathrm{True}" if node.value else "\\mathrm{False}"), 9
        return _number(node.value)
    if isinstance(node, NpConst):
        # upright `e` and `\\text{NaN}`: never a name (a name `e` is `e`, `NaN` is
        # `\\mathrm{NaN}`)
        consts = {
            "pi": "\\pi",
            "e": "\\mathrm{e}",
            "inf": "\\infty",
            "nan": "\\text{NaN}",
        }
        return consts[node.name], 9
    if isinstance(node, Read):
        return _reference(node), 9
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
        # the range is written unless the variable is the axis (or its coordinates
        # are listed): `\sum_{j} 0.5` alone would not say how many terms it has
        axis = "" if node.var == node.axis else _placeholder(node.axis)
        if node.kind == "integrate_over":
            over = f"_{{{axis}}}" if axis else ""
            return f"\\int{over} {body} \\, d{var}", 6
        among = _among(node.coords) or (f" \\in {axis}" if axis else "")
        return f"\\sum_{{{var}{among}}} {body}", 6
    if isinstance(node, Invalid):
        return f"\\mathrm{{{_esc(node.source)}}}", 9
    if isinstance(node, (Str, Name, Ref)):  # pragma: no cover
        raise not_a_value(node, "")
    unhandled(node)


def _paren(text: str, prec: int, need: int) -> str:
    """`text` in parentheses when its precedence is below `need`."""
    return f"\\left({text}\\right)" if prec < need else text


def _factor(text: str, prec: int, need: int = 6) -> str:
    """`text` as a factor written after another (`a \\, b`): also in parentheses when
    it starts with a sign, which would read as a sum (`a \\, -b`, `a \\, +b`)."""
    return _paren(text, 5 if text.startswith(("-", "+")) else prec, need)


def _binary(op: str, left: tuple[str, int], right: tuple[str, int]) -> tuple[str, int]:
    if op == "/":
        return f"\\frac{{{left[0]}}}{{{right[0]}}}", 9
    if op == "**":
        return f"{{{_paren(*left, 9)}}}^{{{right[0]}}}", 8
    prec = {"+": 5, "-": 5, "*": 6, "%": 6}[op]
    sym = {"+": " + ", "-": " - ", "*": " \\, ", "%": " \\,\\mathrm{mod}\\, "}[op]
    tail = _factor(*right, prec + 1) if prec == 6 else _paren(*right, prec + 1)
    return f"{_paren(*left, prec)}{sym}{tail}", prec


def _reference(r: Read) -> str:
    """A name or reference as written. A state, alias or flow block is indexed in
    its own axis order, each axis by its placeholder, loop variable or coordinate
    (a bare templated name `S` in a template over `age` reads `S[age]`); a
    parameter or kernel by its indices as written; a state cell written out
    (`S__age_old`) as its block's cell."""
    n, tgt = r.node, r.target
    axes = getattr(tgt.obj, "axes", ())
    cell = fixed(tgt.sels)
    expanded = isinstance(n, Name) and "__" in n.id and tgt.kind == "state"
    if expanded and axes and tgt.obj.custom is None and cell is not None:
        blk: Block = tgt.obj
        return _cell_tex(blk, blk.flat(cell))
    blocks = ("state", "alias", "flow") + (() if isinstance(n, Ref) else ("param",))
    if (
        tgt.kind in blocks
        and axes
        and len(tgt.sels) == len(axes)
        and (isinstance(n, Ref) or cell is None)
    ):
        index = [
            _placeholder(ax.coords[s.index] if isinstance(s, At) else s.dim)
            for ax, s in zip(axes, tgt.sels)
        ]
        return _indexed(tex_name(n.base if isinstance(n, Ref) else n.id), index)
    if isinstance(n, Ref):
        return _indexed(tex_name(n.base), [_item(i) for i in n.items])
    return tex_name(n.id)


def _call(node: Call, m: Model) -> str:
    if node.func == "sum_state":
        return "\\sum_{s} s"
    if node.func == "sum_prefix":
        prefix = prefix_text(node)
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
        if td.reaction is not None:  # its mass-action flux is the flow itself
            flux = _factor(*_tex(td.reaction.flux, m))
        else:
            flux = _factor(*_tex(td.rate, m))
        if td.src is not None:
            flux = f"{flux} \\, {_tex(td.src, m)[0]}"
        for sign, tgt, coef in m.flow_ends(td):
            add(sign, tgt, flux if coef == 1 else f"{coef} \\, {flux}", td.dims)
    lines = []
    counters = {id(c.block) for c in m.counters}
    for blk in m.blocks:
        if blk.custom is not None:
            for i in range(blk.size):
                body = _join(terms.get((id(blk), i), []))
                lines.append(f"{_cell_dot(blk, i)} &= {body}")
        else:
            body = _join(terms.get((id(blk), None), []))
            # a counter is not one of the model's states (which $\\sum_s s$ sums)
            mark = " && \\text{(counter)}" if id(blk) in counters else ""
            lines.append(f"{_block_dot(blk)} &= {body}{mark}")
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
        rates = [_factor(*_tex(r, m)) for r in eq.run.rates]
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
