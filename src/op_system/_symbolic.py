"""Symbolic views of a model (needs the `[symbolic]` extra: sympy).

* `to_sympy(rhs)`: one sympy expression per state cell, aliases substituted;
* `jacobian_sparsity(rhs)`: which states each equation reads, from the IR (no sympy);
* `to_latex(rhs)`: indexed LaTeX when the spec uses axes, expanded otherwise;
* `flow_diagram(rhs, fmt)`: Mermaid or Graphviz DOT text of a transitions model,
  collapsed over axes;
* `check_model(rhs)`: conservation and non-negativity checks for transitions.

sympy expressions are built from our IR directly; user text is never passed to
`sympify` (which would `eval` it).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._build import reduce_dim
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
    to_source,
)
from ._model import Block, ChainFlow, Dim, Model, Target, cell_name, flat_index

if TYPE_CHECKING:  # pragma: no cover
    from .specs import NormalizedRhs

__all__ = ["check_model", "flow_diagram", "jacobian_sparsity", "to_latex", "to_sympy"]


def _sympy() -> Any:
    try:
        import sympy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Symbolic features need sympy; install it with `pip install 'op-system[symbolic]'`."
        ) from exc
    return sympy


def _model(rhs: NormalizedRhs) -> Model:
    from .compile import _model_from_strings

    return rhs._model if rhs._model is not None else _model_from_strings(rhs)


def _cell(tgt: Target, assignment: dict[str, int]) -> str:
    idx = tuple(assignment[v] if k == "dim" else v for k, v in tgt.sels)
    custom: tuple[str, ...] | None = getattr(
        tgt.obj, "custom", None
    )  # a chain block's stage names
    if custom is not None:
        return custom[idx[0]]
    return cell_name(tgt.obj.base, tgt.obj.axes, idx)


class _SympyBuilder:
    """Per-cell sympy expressions from the IR, with aliases substituted (cached)."""

    def __init__(self, model: Model) -> None:
        self.sp = _sympy()
        self.m = model
        self.symbols: dict[str, Any] = {}
        self.alias_cache: dict[str, Any] = {}
        self.states = {n: i for i, n in enumerate(model.state_names)}

    def sym(self, name: str) -> Any:
        s = self.symbols.get(name)
        if s is None:
            s = self.symbols[name] = self.sp.Symbol(name, real=True)
        return s

    def alias_value(self, tgt: Target, assignment: dict[str, int], path: str) -> Any:
        name = _cell(tgt, assignment)
        if name not in self.alias_cache:
            alias = tgt.obj
            idx = tuple(assignment[v] if k == "dim" else v for k, v in tgt.sels)
            if alias.cells is not None:
                value = self.expr(
                    alias.cells[flat_index(alias.axes, idx)], (), {}, alias.path
                )
            else:
                scope = tuple(Dim(ax.name, ax) for ax in alias.axes)
                value = self.expr(
                    alias.expr,
                    scope,
                    dict(zip((a.name for a in alias.axes), idx)),
                    alias.path,
                )
            self.alias_cache[name] = value
        return self.alias_cache[name]

    def expr(
        self, node: Node, scope: tuple[Dim, ...], a: dict[str, int], path: str
    ) -> Any:
        sp = self.sp
        if isinstance(node, Num):
            v = node.value
            if isinstance(v, bool):
                return sp.true if v else sp.false
            return sp.Integer(v) if isinstance(v, int) else sp.Float(repr(v), 17)
        if isinstance(node, NpConst):
            return {"pi": sp.pi, "e": sp.E, "inf": sp.oo, "nan": sp.nan}[node.name]
        if isinstance(node, (Name, Ref)):
            tgt = self.m.resolve(node, scope, path)
            if tgt.kind == "time":
                return self.sym("t")
            if tgt.kind == "coord":
                return sp.Float(repr(tgt.obj[a[tgt.sels[0][1]]]), 17)
            if tgt.kind == "kernel":
                values = tgt.obj.values(path)
                idx = tuple(a[v] if k == "dim" else v for k, v in tgt.sels)
                return sp.Float(repr(float(values[idx])), 17)
            if tgt.kind == "alias":
                return self.alias_value(tgt, a, path)
            return self.sym(_cell(tgt, a))
        if isinstance(node, UnaryOp):
            v = self.expr(node.operand, scope, a, path)
            if node.op == "not":
                return sp.Not(self.boolean(v))
            return -v if node.op == "-" else v
        if isinstance(node, BinOp):
            x = self.num(self.expr(node.left, scope, a, path))
            y = self.num(self.expr(node.right, scope, a, path))
            return {
                "+": lambda: x + y,
                "-": lambda: x - y,
                "*": lambda: x * y,
                "/": lambda: x / y,
                "**": lambda: x**y,
                "%": lambda: (
                    x - y * sp.floor(x / y)
                ),  # Python/NumPy remainder semantics
            }[node.op]()
        if isinstance(node, Chain):
            acc = self.num(self.expr(node.operands[0], scope, a, path))
            for op, operand in zip(node.ops, node.operands[1:]):
                y = self.num(self.expr(operand, scope, a, path))
                acc = (
                    acc + y
                    if op == "+"
                    else acc - y
                    if op == "-"
                    else acc * y
                    if op == "*"
                    else acc / y
                )
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
            vals = [
                self.num(self.expr(x, scope, a, path))
                for x in (node.left, *node.comparators)
            ]
            parts = [ops[op](vals[i], vals[i + 1]) for i, op in enumerate(node.ops)]
            return sp.And(*parts) if len(parts) > 1 else parts[0]
        if isinstance(node, BoolOp):
            vals = [self.expr(v, scope, a, path) for v in node.values]
            if all(self.is_bool(v) for v in vals):
                return sp.And(*vals) if node.op == "and" else sp.Or(*vals)
            acc = self.num(vals[-1])
            for v in reversed(vals[:-1]):
                v = self.num(v)
                acc = (
                    sp.Piecewise((acc, sp.Ne(v, 0)), (v, True))
                    if node.op == "and"
                    else sp.Piecewise((v, sp.Ne(v, 0)), (acc, True))
                )
            return acc
        if isinstance(node, IfExp):
            test = self.boolean(self.expr(node.test, scope, a, path))
            return sp.Piecewise(
                (self.num(self.expr(node.body, scope, a, path)), test),
                (self.num(self.expr(node.orelse, scope, a, path)), True),
            )
        if isinstance(node, Call):
            return self.call(node, scope, a, path)
        if isinstance(node, Reduce):
            dim = reduce_dim(node, self.m.axes, path)
            inner = (*scope, dim)
            terms = []
            for c in dim.coord_indices():
                body = self.num(self.expr(node.body, inner, {**a, dim.name: c}, path))
                if node.kind == "integrate_over":
                    body = sp.Float(repr(dim.axis.deltas[c]), 17) * body
                terms.append(body)
            return sp.Add(*terms)
        if isinstance(node, Invalid):
            from ._errors import ExpressionError

            raise ExpressionError(node.detail, path=path, token=node.token)
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

    def call(
        self, node: Call, scope: tuple[Dim, ...], a: dict[str, int], path: str
    ) -> Any:
        sp = self.sp
        if node.func == "sum_state":
            return sp.Add(*(self.sym(n) for n in self.m.state_names))
        if node.func == "sum_prefix":
            text = node.args[0].value  # type: ignore[attr-defined]
            cells = self.m.prefix_cells(text, self.m.prefix_dims(text, scope), a, path)
            return sp.Add(*(self.sym(self.m.state_names[i]) for i in cells))
        if node.func == "where":
            c = self.boolean(self.expr(node.args[0], scope, a, path))
            x, y = (self.num(self.expr(v, scope, a, path)) for v in node.args[1:])
            return sp.Piecewise((x, c), (y, True))
        args = [self.num(self.expr(v, scope, a, path)) for v in node.args]
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
        sp = self.sp
        m = self.m
        if m.kind == "transitions":
            eqs = [sp.Integer(0)] * m.n_state
            for src, dst, flow in self.flows():
                eqs[self.states[src]] -= flow
                eqs[self.states[dst]] += flow
            return eqs
        out: list[Any] = []
        for eq in m.equations:
            blk = eq.block
            if eq.chain is not None:
                names = blk.custom or ()
                rates = [self.num(self.expr(r, (), {}, eq.path)) for r in eq.chain[0]]
                final = self.num(self.expr(eq.chain[1], (), {}, eq.path))
                for i, n in enumerate(names):
                    if i in eq.overrides:
                        node, path = eq.overrides[i]
                        out.append(self.num(self.expr(node, (), {}, path)))
                    elif i == 0:
                        out.append(-rates[0] * self.sym(n))
                    else:
                        r_out = rates[i] if i < len(names) - 1 else final
                        out.append(
                            rates[i - 1] * self.sym(names[i - 1]) - r_out * self.sym(n)
                        )
                continue
            scope = tuple(Dim(ax.name, ax) for ax in blk.axes)
            for flat, idx in enumerate(blk.cells()):
                if flat in eq.overrides:
                    node, path = eq.overrides[flat]
                    out.append(self.num(self.expr(node, (), {}, path)))
                else:
                    assert eq.expr is not None
                    a = dict(zip((ax.name for ax in blk.axes), idx))
                    out.append(self.num(self.expr(eq.expr, scope, a, eq.path)))
        return out

    def flows(self) -> list[tuple[str, str, Any]]:
        """Per-cell flows `(from, to, rate * from)` of a transitions model."""
        out = []
        for td in self.m.transitions:
            if isinstance(td, ChainFlow):
                names = td.block.custom or ()
                for i, r in enumerate(td.rates):
                    rate = self.num(self.expr(r, (), {}, td.path))
                    out.append((names[i], names[i + 1], rate * self.sym(names[i])))
                continue
            dims = td.dims
            for combo in itertools.product(*(d.coord_indices() for d in dims)):
                a = dict(zip((d.name for d in dims), combo))
                src = _cell(self.m.resolve(td.src, dims, td.path), a)
                dst = _cell(self.m.resolve(td.dst, dims, td.path), a)
                rate = self.num(self.expr(td.rate, dims, a, f"{td.path}.rate"))
                out.append((src, dst, rate * self.sym(src)))
        return out


def to_sympy(rhs: NormalizedRhs) -> dict[str, Any]:
    """Per-state sympy expressions of `dydt` (aliases substituted).

    !!! example
        ```python
        >>> from op_system import normalize_rhs
        >>> from op_system._symbolic import to_sympy
        >>> eqs = to_sympy(normalize_rhs({"state": ["x", "y"], "equations": {"x": "-k*x", "y": "k*x"}}))
        >>> eqs["y"]
        k*x

        ```
    """
    b = _SympyBuilder(_model(rhs))
    return dict(zip(b.m.state_names, b.equations()))


class _Deps:
    """Which state cells each expression reads (for the Jacobian's sparsity), from the IR."""

    def __init__(self, model: Model) -> None:
        self.m = model
        self.alias_cache: dict[str, frozenset[int]] = {}
        # Resolution does not depend on the cell, only on the node and its scope.
        self.targets: dict[tuple[int, tuple[Dim, ...]], Target] = {}
        self.reduce_dims: dict[int, Dim] = {}
        self.all = frozenset(range(model.n_state))

    def target(self, node: Name | Ref, scope: tuple[Dim, ...], path: str) -> Target:
        key = (id(node), scope)
        tgt = self.targets.get(key)
        if tgt is None:
            tgt = self.targets[key] = self.m.resolve(node, scope, path)
        return tgt

    def state_index(self, tgt: Target, a: dict[str, int]) -> int:
        blk: Block = tgt.obj
        idx = tuple(a[v] if k == "dim" else v for k, v in tgt.sels)
        return blk.offset + blk.flat(idx) if blk.axes else blk.offset

    def expr(
        self, node: Node, scope: tuple[Dim, ...], a: dict[str, int], path: str
    ) -> frozenset[int]:
        if isinstance(node, (Name, Ref)):
            tgt = self.target(node, scope, path)
            if tgt.kind == "state":
                return frozenset((self.state_index(tgt, a),))
            if tgt.kind == "alias":
                name = _cell(tgt, a)
                got = self.alias_cache.get(name)
                if got is None:
                    alias = tgt.obj
                    idx = tuple(a[v] if k == "dim" else v for k, v in tgt.sels)
                    if alias.cells is not None:
                        got = self.expr(
                            alias.cells[flat_index(alias.axes, idx)], (), {}, alias.path
                        )
                    else:
                        sc = tuple(Dim(ax.name, ax) for ax in alias.axes)
                        got = self.expr(
                            alias.expr,
                            sc,
                            dict(zip((x.name for x in alias.axes), idx)),
                            alias.path,
                        )
                    self.alias_cache[name] = got
                return got
            return frozenset()
        if isinstance(node, Call):
            if node.func == "sum_state":
                return self.all
            if node.func == "sum_prefix":
                text = node.args[0].value  # type: ignore[attr-defined]
                return frozenset(
                    self.m.prefix_cells(text, self.m.prefix_dims(text, scope), a, path)
                )
        if isinstance(node, Reduce):
            dim = self.reduce_dims.get(id(node))
            if dim is None:
                dim = self.reduce_dims[id(node)] = reduce_dim(node, self.m.axes, path)
            inner = (*scope, dim)
            out: frozenset[int] = frozenset()
            for c in dim.coord_indices():
                out |= self.expr(node.body, inner, {**a, dim.name: c}, path)
            return out
        out = frozenset()
        for child in _children(node):
            out |= self.expr(child, scope, a, path)
        return out

    def rows(self) -> list[frozenset[int]]:
        m = self.m
        rows: list[frozenset[int]] = [frozenset()] * m.n_state
        if m.kind == "transitions":
            acc: list[set[int]] = [set() for _ in range(m.n_state)]
            for td in m.transitions:
                if isinstance(td, ChainFlow):
                    blk = td.block
                    for i, r in enumerate(td.rates):
                        dep = self.expr(r, (), {}, td.path) | {blk.offset + i}
                        acc[blk.offset + i] |= dep
                        acc[blk.offset + i + 1] |= dep
                    continue
                for combo in itertools.product(*(d.coord_indices() for d in td.dims)):
                    a = dict(zip((d.name for d in td.dims), combo))
                    src = self.state_index(self.target(td.src, td.dims, td.path), a)
                    dst = self.state_index(self.target(td.dst, td.dims, td.path), a)
                    dep = self.expr(td.rate, td.dims, a, td.path) | {src}
                    acc[src] |= dep
                    acc[dst] |= dep
            return [frozenset(x) for x in acc]
        for eq in m.equations:
            blk = eq.block
            if eq.chain is not None:
                rates = [self.expr(r, (), {}, eq.path) for r in eq.chain[0]]
                final = self.expr(eq.chain[1], (), {}, eq.path)
                for i in range(blk.size):
                    if i in eq.overrides:
                        node, path = eq.overrides[i]
                        rows[blk.offset + i] = self.expr(node, (), {}, path)
                        continue
                    out_r = rates[i] if i < blk.size - 1 else final
                    dep = out_r | {blk.offset + i}
                    if i > 0:
                        dep |= rates[i - 1] | {blk.offset + i - 1}
                    rows[blk.offset + i] = dep
                continue
            scope = tuple(Dim(ax.name, ax) for ax in blk.axes)
            for flat, idx in enumerate(blk.cells()):
                if flat in eq.overrides:
                    node, path = eq.overrides[flat]
                    rows[blk.offset + flat] = self.expr(node, (), {}, path)
                else:
                    assert eq.expr is not None
                    a = dict(zip((ax.name for ax in blk.axes), idx))
                    rows[blk.offset + flat] = self.expr(eq.expr, scope, a, eq.path)
        return rows


def _children(node: Node) -> tuple[Node, ...]:
    from ._ir import children

    return children(node)


def jacobian_sparsity(rhs: NormalizedRhs) -> tuple[Any, Any]:
    """Structural non-zeros `(rows, cols)` of `d(dydt)/dy`, from which states each equation reads.

    Computed from the IR without sympy; a superset of the numerical non-zeros
    (`sum_state()` couples every state).
    """
    import numpy as np

    deps = _Deps(_model(rhs)).rows()
    rows = np.fromiter((i for i, d in enumerate(deps) for _ in d), dtype=np.int64)
    cols = np.fromiter((j for d in deps for j in sorted(d)), dtype=np.int64)
    return rows, cols


# -- rendering ----------------------------------------------------------------------

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


def _tex_name(name: str) -> str:
    head, _, tail = name.partition("_")
    base = (
        f"\\{head}"
        if head in _GREEK
        else (head if len(head) == 1 else f"\\mathrm{{{head}}}")
    )
    if tail:
        base += f"_{{\\mathrm{{{tail}}}}}"
    return base


def _tex(model: Model, node: Node, path: str) -> str:
    """Template-level LaTeX of an expression (indices kept symbolic)."""

    def go(n: Node) -> tuple[str, int]:
        if isinstance(n, Num):
            return (
                ("\\mathrm{True}" if n.value else "\\mathrm{False}")
                if isinstance(n.value, bool)
                else repr(n.value)
            ), 9
        if isinstance(n, NpConst):
            return {"pi": "\\pi", "e": "e", "inf": "\\infty", "nan": "\\mathrm{NaN}"}[
                n.name
            ], 9
        if isinstance(n, Name):
            return _tex_name(n.id), 9
        if isinstance(n, Ref):
            idx = ",".join(i.value for i in n.items)
            base = _tex_name(n.base)
            return (
                f"{base}_{{{idx}}}" if "_" not in base else f"{{{base}}}_{{{idx}}}"
            ), 9
        if isinstance(n, UnaryOp):
            inner, p = go(n.operand)
            if n.op == "not":
                return f"\\lnot {inner}", 3
            inner = f"\\left({inner}\\right)" if p < 7 else inner
            return f"{n.op}{inner}", 7
        if isinstance(n, BinOp):
            left, lp = go(n.left)
            right, rp = go(n.right)
            if n.op == "/":
                return f"\\frac{{{left}}}{{{right}}}", 9
            if n.op == "**":
                left = f"\\left({left}\\right)" if lp <= 8 else left
                return f"{{{left}}}^{{{right}}}", 8
            prec = {"+": 5, "-": 5, "*": 6, "%": 6}[n.op]
            left = f"\\left({left}\\right)" if lp < prec else left
            right = f"\\left({right}\\right)" if rp <= prec else right
            op = {"+": " + ", "-": " - ", "*": " ", "%": " \\bmod "}[n.op]
            return f"{left}{op}{right}", prec
        if isinstance(n, Chain):
            prec = 5 if n.ops[0] in "+-" else 6
            text, fp = go(n.operands[0])
            out = f"\\left({text}\\right)" if fp < prec else text
            for op, operand in zip(n.ops, n.operands[1:]):
                text, rp = go(operand)
                if op == "/":
                    out = f"\\frac{{{out}}}{{{text}}}"
                    continue
                text = f"\\left({text}\\right)" if rp <= prec else text
                out += {"+": " + ", "-": " - ", "*": " "}[op] + text
            return out, prec
        if isinstance(n, Compare):
            sym = {
                "==": "=",
                "!=": "\\neq",
                "<": "<",
                "<=": "\\leq",
                ">": ">",
                ">=": "\\geq",
            }
            parts = [go(n.left)[0]]
            for op, c in zip(n.ops, n.comparators):
                parts.append(f"{sym[op]} {go(c)[0]}")
            return " ".join(parts), 4
        if isinstance(n, BoolOp):
            j = " \\land " if n.op == "and" else " \\lor "
            return j.join(go(v)[0] for v in n.values), 2
        if isinstance(n, IfExp):
            return (
                f"\\begin{{cases}} {go(n.body)[0]} & \\text{{if }} {go(n.test)[0]} \\\\ "
                f"{go(n.orelse)[0]} & \\text{{otherwise}} \\end{{cases}}",
                9,
            )
        if isinstance(n, Call):
            if n.func == "sum_state":
                return "\\sum_{s} s", 9
            if n.func == "sum_prefix":
                return f"\\sum_{{s \\in \\mathrm{{{n.args[0].value}}}*}} s", 9  # type: ignore[attr-defined]
            args = ", ".join(go(x)[0] for x in n.args)
            names = {
                "abs": "\\left|{}\\right|",
                "sqrt": "\\sqrt{{{}}}",
                "exp": "\\exp\\left({}\\right)",
                "log": "\\log\\left({}\\right)",
            }
            if n.func in names:
                return names[n.func].format(args), 9
            return f"\\operatorname{{{n.func}}}\\left({args}\\right)", 9
        if isinstance(n, Reduce):
            body, bp = go(n.body)
            body = f"\\left({body}\\right)" if bp < 6 else body
            flt = f" \\in \\{{{', '.join(n.coords)}\\}}" if n.coords else ""
            if n.kind == "integrate_over":
                return f"\\int {body} \\, d{n.var}", 6
            return f"\\sum_{{{n.var}{flt}}} {body}", 6
        if isinstance(n, Invalid):
            return f"\\text{{{n.source}}}", 9
        raise TypeError(type(n).__name__)  # pragma: no cover

    return go(node)[0]


def to_latex(rhs: NormalizedRhs) -> str:
    """LaTeX of the model: indexed by axis placeholders when templated, expanded otherwise.

    Returns an `aligned` block, one line per equation (or per flow for transitions).
    """
    m = _model(rhs)
    templated = any(b.axes and b.custom is None for b in m.blocks)
    lines: list[str] = []
    if m.kind == "expr" and templated:
        for a in m.aliases.values():
            if a.expr is not None:
                lhs = _tex_name(a.base) + (
                    f"_{{{','.join(x.name for x in a.axes)}}}" if a.axes else ""
                )
                lines.append(f"{lhs} &= {_tex(m, a.expr, a.path)}")
        for e in m.equations:
            b = e.block
            idx = (
                f"_{{{','.join(x.name for x in b.axes)}}}"
                if b.axes and b.custom is None
                else ""
            )
            if e.expr is not None:
                lines.append(
                    f"\\dot {_tex_name(b.base)}{idx} &= {_tex(m, e.expr, e.path)}"
                )
    elif m.kind == "transitions" and templated:
        sp_b = _SympyBuilder(m)
        for a in m.aliases.values():
            if a.expr is not None:
                lhs = _tex_name(a.base) + (
                    f"_{{{','.join(x.name for x in a.axes)}}}" if a.axes else ""
                )
                lines.append(f"{lhs} &= {_tex(m, a.expr, a.path)}")
        dots: dict[str, list[str]] = {}
        order: list[str] = []
        for t in m.transitions:
            if isinstance(t, ChainFlow):
                continue
            flow = f"{_tex(m, t.rate, t.path)} \\, {_tex(m, t.src, t.path)}"
            for node, sign in ((t.src, "-"), (t.dst, "+")):
                key = _tex(m, node, t.path)
                if key not in dots:
                    dots[key] = []
                    order.append(key)
                dots[key].append(f"{sign} {flow}")
        del sp_b
        for key in order:
            body = " ".join(dots[key])
            body = body[2:] if body.startswith("+ ") else body
            lines.append(f"\\dot {key} &= {body}")
    else:
        sp = _sympy()
        for name, eq in to_sympy(rhs).items():
            lines.append(f"\\dot{{{sp.latex(sp.Symbol(name))}}} &= {sp.latex(eq)}")
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def flow_diagram(rhs: NormalizedRhs, fmt: str = "mermaid") -> str:
    """Compartment flow diagram of a transitions model, collapsed over axes.

    `fmt` is `"mermaid"` or `"dot"` (Graphviz).
    """
    m = _model(rhs)
    if m.kind != "transitions":
        raise ValueError("flow diagrams are drawn for transitions models")
    edges: list[tuple[str, str, str]] = []

    def label(node: Name | Ref) -> str:
        if isinstance(node, Ref):
            return node.base
        tgt = m.resolve(node, (), "transitions")
        obj: Block = tgt.obj  # from/to are states
        if obj.custom is not None:
            return obj.custom[0].rstrip("0123456789") or obj.base
        return obj.base

    for t in m.transitions:
        if isinstance(t, ChainFlow):
            name = (t.block.custom or ("?",))[0].rstrip("0123456789")
            edges.append(
                (
                    f"{name}1..{len(t.block.custom or ())}",
                    f"{name}1..{len(t.block.custom or ())}",
                    "chain",
                )
            )
            continue
        edge = (label(t.src), label(t.dst), to_source(t.rate))
        if edge not in edges:
            edges.append(edge)
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


def _ident(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def check_model(rhs: NormalizedRhs) -> list[str]:
    """Model checks; returns the problems found (also emitted as warnings).

    For transitions models: the total is conserved (sum of `dydt` is 0,
    proven symbolically), and every flow vanishes when its source compartment
    is 0 (so compartments cannot go negative through that flow).
    """
    sp = _sympy()
    m = _model(rhs)
    problems: list[str] = []
    if m.kind != "transitions":
        return problems
    b = _SympyBuilder(m)
    flows = b.flows()
    total = sp.Add(*b.equations())
    if sp.simplify(total) != 0:
        problems.append(f"flows do not conserve the total: sum(dydt) = {total}")
    seen: set[tuple[str, str]] = set()
    for src, dst, flow in flows:
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
                    f"transition {src} -> {dst}: its flow does not vanish when {src} = 0 "
                    f"(flow = {flow}); {src} can become negative"
                )
    for p in problems:
        warnings.warn(p, UserWarning, stacklevel=3)
    return problems
