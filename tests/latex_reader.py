"""Read `to_latex`'s output back and evaluate it at one point, independently of the package.

`read_latex(tex, rhs, y, params, t)` returns dydt per state name, computed from the
TeX alone plus the model's public names (`state_names`, `param_names`, the aliases'
names, `meta["axes"]` and `meta["kernels"]`): no IR of the package is used. A small
recursive-descent parser reads the grammar the emitter writes (and the part of
sympy's printer the cell-by-cell view uses):

* lines `\\dot{X}_{ax,...} &= ...` (a state block, evaluated for every cell with its
  axis placeholders bound), `\\dot{X}_{\\mathrm{c},...} &= ...` (one cell, which
  overrides a block line marked `&& \\text{(other cells)}`), `\\dot{X} &= ...`, and
  alias lines `A_{ax} &= ...` (evaluated on demand, per cell); a line marked
  `&& \\text{(counter)}` is an incidence counter, which `\\sum_{s} s` does not sum;
* `+ -`, products by `\\,`, `\\cdot` or juxtaposition, `\\frac`, `^`, `\\sqrt`,
  `\\left|..\\right|`, floors, `\\mathrm{mod}`, comparisons, `\\wedge \\vee \\neg`
  (Python's `and`/`or`: the deciding operand), `cases` (ours: `\\text{if }`, sympy's:
  `\\text{for}\\:`), named functions (`\\exp`, `\\operatorname{hypot}`, ...);
* `\\sum_{v}`, `\\sum_{v \\in ax}`, `\\sum_{v \\in \\{\\mathrm{a}, ...\\}}` over a body
  that is one product; `\\sum_{s} s` (every state) and `\\sum_{s \\in \\mathrm{P}*} s`
  (states named `P...`); `\\int_{ax} body \\, dv` by the trapezoidal rule over the
  axis coordinates; Kronecker deltas `\\delta_{ax,\\mathrm{c}}`.

A subscripted name `B_{i,...}` is an indexed object (state block, alias, a parameter
given cell by cell as `B__ax_c` or as an array, or a kernel, whose values are
computed from its spec entry by the documented forms) at the items' coordinates: a
bound placeholder or loop variable, or a coordinate label (bare or upright).
Otherwise it is a flat name (`f_{x}` is `f_x`, `w_{\\mathrm{age\\_y}}` is `w__age_y`). When both
readings exist (a name `f_x` next to an `f[x]`: the emitter writes both `f_{x}`)
the reader raises `Unreadable` rather than guess; generated specs have no such
names. Not read: time-varying parameters (`beta[time]`, interpolated), operators.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tests.differential.generate import fragment


class Unreadable(Exception):
    """The TeX uses something this reader does not understand (or is ambiguous)."""


# -- tokens ----------------------------------------------------------------------

_TOKEN = re.compile(
    r"\\(?P<word>mathrm|text|operatorname)\{(?P<body>(?:\\.|[^{}\\])*)\}"
    r"|(?P<cmd>\\[a-zA-Z]+|\\[,:;!{}|_ ]|\\\\)"
    r"|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<sym>[a-zA-Z]|[{}_^()\[\],+\-*=<>&|/.'])"
    r"|(?P<space>\s+)"
)
_SPACING = {"\\,", "\\:", "\\;", "\\!", "\\ ", "\\quad"}
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
    "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon",
    "phi", "chi", "psi", "omega",
}  # fmt: skip


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def tokenize(src: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: `rm` (upright text), `op` (operatorname), `text`, `cmd`,
    `num`, `sym`, and `space` (`\\,` and the like)."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise Unreadable(f"cannot tokenize at {src[pos : pos + 30]!r}")
        pos = m.end()
        if m["word"]:
            kind = {"mathrm": "rm", "text": "text", "operatorname": "op"}[m["word"]]
            out.append((kind, _unescape(m["body"])))
        elif m["cmd"]:
            out.append(("space" if m["cmd"] in _SPACING else "cmd", m["cmd"]))
        elif m["num"]:
            out.append(("num", m["num"]))
        elif m["sym"]:
            out.append(("sym", m["sym"]))
    return out


# -- syntax tree: tuples (tag, ...) ------------------------------------------------

Item = tuple[str, str]  # ("id", placeholder or bare label) | ("rm", upright label)

_RELOPS = {
    "<": np.less,
    ">": np.greater,
    "=": np.equal,
    "\\leq": np.less_equal,
    "\\geq": np.greater_equal,
    "\\neq": np.not_equal,
    "\\le": np.less_equal,
    "\\ge": np.greater_equal,
}
_FUNCS: dict[str, Callable[..., Any]] = {
    "exp": np.exp,
    "log": np.log,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "expm1": np.expm1,
    "log1p": np.log1p,
    "log2": np.log2,
    "log10": np.log10,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "hypot": np.hypot,
    "arctan2": np.arctan2,
    "atan2": np.arctan2,
    "clip": np.clip,
    "where": np.where,
    "atan": np.arctan,
    "ITE": lambda c, a, b: a if c else b,  # sympy's boolean if-then-else
    "min": lambda *a: min(a),
    "max": lambda *a: max(a),
}
_ATOM_CMDS = {
    "\\frac", "\\sqrt", "\\left", "\\sum", "\\int", "\\begin", "\\pi", "\\infty",
    "\\min", "\\max", "\\lfloor",
}  # fmt: skip


class _Parser:
    """Recursive descent over the tokens of one expression; nodes are tuples."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.toks: list[tuple[str, str]] = []
        self.spaced: set[int] = (
            set()
        )  # tokens after a space (`\\, dx`: where `dx` starts)
        for kind, text in tokens:
            if kind == "space":
                self.spaced.add(len(self.toks))
            else:
                self.toks.append((kind, text))
        self.i = 0
        self.int_vars: list[str] = []  # enclosing integrals' variables (`dv` ends)

    # -- helpers
    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        k, t = self.peek()
        return k == kind and (text is None or t == text)

    def expect(self, kind: str, text: str) -> None:
        if not self.at(kind, text):
            raise Unreadable(f"expected {text!r}, got {self.peek()!r} at {self.i}")
        self.i += 1

    def group(self) -> Any:
        """`{expr}` or one token (`^2`, `_x`)."""
        if self.at("sym", "{"):
            self.take()
            e = self.expr()
            self.expect("sym", "}")
            return e
        return self.atom()

    # -- grammar
    def expr(self) -> Any:
        left = self.conj()
        while self.at("cmd", "\\vee"):
            self.take()
            left = ("or", left, self.conj())
        return left

    def conj(self) -> Any:
        left = self.neg()
        while self.at("cmd", "\\wedge"):
            self.take()
            left = ("and", left, self.neg())
        return left

    def neg(self) -> Any:
        if self.at("cmd", "\\neg"):
            self.take()
            return ("not", self.neg())
        return self.compare()

    def compare(self) -> Any:
        first = self.arith()
        ops, rest = [], []
        while self.peek()[1] in _RELOPS and self.peek()[0] in ("sym", "cmd"):
            ops.append(self.take()[1])
            rest.append(self.arith())
        return ("cmp", first, ops, rest) if ops else first

    def arith(self) -> Any:
        if self.at("sym", "-") or self.at("sym", "+"):
            sign = self.take()[1]
            left = self.term()
            if sign == "-":
                left = ("neg", left)
        else:
            left = self.term()
        while self.at("sym", "+") or self.at("sym", "-"):
            op = self.take()[1]
            left = (op, left, self.term())
        return left

    def term(self) -> Any:
        left = self.unary()
        while True:
            if self.at("cmd", "\\cdot") or self.at("cmd", "\\times"):
                self.take()
                left = ("*", left, self.unary())
            elif self.at("rm", "mod"):
                self.take()
                left = ("mod", left, self.unary())
            elif self.starts_atom():
                left = ("*", left, self.unary())
            else:
                return left

    def unary(self) -> Any:
        if self.at("sym", "-"):  # only at the head of a factor (`\\frac{-a}{b}`)
            self.take()
            return ("neg", self.unary())
        if self.at("sym", "+"):
            self.take()
            return self.unary()
        return self.power()

    def starts_atom(self) -> bool:
        kind, text = self.peek()
        if self.int_vars and kind == "sym" and text == "d" and self.ends_integral():
            return False
        if kind in ("num", "rm", "op"):
            return True
        if kind == "sym":
            return text.isalpha() or text in "{("
        if kind == "cmd":
            return text in _ATOM_CMDS or text[1:] in _GREEK or text[1:] in _FUNCS
        return False

    def ends_integral(self) -> bool:
        """At `d<var>` closing the innermost integral."""
        return self.var_after_d(self.i) == self.int_vars[-1]

    def var_after_d(self, j: int) -> str:
        """The variable written right after the `d` at `j` (letters and digits with
        no space between them, or upright text), or ``."""
        k = j + 1
        if k < len(self.toks) and k not in self.spaced and self.toks[k][0] == "rm":
            return self.toks[k][1]
        var = ""
        while (
            k < len(self.toks)
            and (k == j + 1 or k not in self.spaced)
            and self.toks[k][0] in ("sym", "num")
            and self.toks[k][1].isalnum()
        ):
            var += self.toks[k][1]
            k += 1
        return var if j + 1 not in self.spaced else ""

    def power(self) -> Any:
        base = self.atom()
        if self.at("sym", "^"):
            self.take()
            return ("**", base, self.group())
        return base

    def atom(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return ("num", float(text))
        if kind == "sym" and text == "(":
            e = self.expr()
            self.expect("sym", ")")
            return e
        if kind == "sym" and text == "{":
            e = self.expr()
            self.expect("sym", "}")
            if self.at("sym", "_") and e[0] == "name":  # {f_{x}}_{age}: braced name
                return self.subscripted(_flat(e))
            return e
        if kind == "sym" and text.isalpha():
            return self.subscripted(text)
        if kind == "rm":
            if text in ("True", "False"):
                return ("num", float(text == "True"))
            if text == "e":  # upright e: Euler's number (a name `e` is italic)
                return ("num", math.e)
            return self.subscripted(text)
        if kind == "text" and text in ("True", "False", "NaN"):
            return ("num", math.nan if text == "NaN" else float(text == "True"))
        if kind == "op":
            return self.call(text)
        if kind == "cmd":
            return self.command(text)
        raise Unreadable(f"unexpected {text!r} at {self.i - 1}")

    def subscripted(self, base: str) -> Any:
        if not self.at("sym", "_"):
            return ("name", base, ())
        self.take()
        return ("name", base, tuple(self.items()))

    def word(self) -> str:
        """An identifier inside a subscript: letters and digits, or upright text."""
        if self.at("rm"):
            return self.take()[1]
        out = ""
        while self.peek()[0] in ("sym", "num") and (
            self.peek()[1].isalnum() or self.peek()[1] == "."
        ):
            out += self.take()[1]
        return out

    def items(self) -> list[Item]:
        """Subscript items: `x`, `{a,\\mathrm{b},c2}`."""
        if not self.at("sym", "{"):
            kind, text = self.take()
            return [("rm" if kind == "rm" else "id", text.lstrip("\\"))]
        self.take()
        out: list[Item] = []
        cur = ""
        rm: str | None = None
        while not self.at("sym", "}"):
            kind, text = self.take()
            if kind == "sym" and text == ",":
                out.append(("rm", rm) if rm is not None else ("id", cur))
                cur, rm = "", None
            elif kind == "rm":
                rm = text
            elif kind == "cmd" and text[1:] in _GREEK:
                cur += text[1:]
            elif kind in ("sym", "num"):
                cur += text
            else:
                raise Unreadable(f"subscript item {text!r}")
        self.take()
        out.append(("rm", rm) if rm is not None else ("id", cur))
        return out

    def args(self) -> list[Any]:
        """`\\left( a, b \\right)`, optionally braced (sympy: `{\\left(x \\right)}`)."""
        braced = self.at("sym", "{")
        if braced:
            self.take()
        self.expect("cmd", "\\left")
        self.expect("sym", "(")
        out = [self.expr()]
        while self.at("sym", ","):
            self.take()
            out.append(self.expr())
        self.expect("cmd", "\\right")
        self.expect("sym", ")")
        if braced:
            self.expect("sym", "}")
        return out

    def call(self, name: str) -> Any:
        if self.at("sym", "_"):  # sympy's \operatorname{atan}_{2}
            self.take()
            name += "".join(t for _, t in self.items())
        if name not in _FUNCS:
            raise Unreadable(f"function {name!r}")
        return ("call", name, self.args())

    def command(self, cmd: str) -> Any:
        word = cmd[1:]
        if word == "frac":
            return ("/", self.group(), self.group())
        if word == "sqrt":
            if self.at("sym", "["):
                raise Unreadable("n-th root")
            return ("call", "sqrt", [self.group()])
        if word == "pi":
            return ("num", math.pi)
        if word == "infty":
            return ("num", math.inf)
        if word == "left":
            return self.left()
        if word == "lfloor":
            e = self.group() if self.at("sym", "{") else self.expr()
            self.expect("cmd", "\\rfloor")
            return ("call", "floor", [e])
        if word == "sum":
            return self.sum()
        if word == "int":
            return self.integral()
        if word == "begin":
            return self.cases()
        if word in _FUNCS:
            if self.at("sym", "^"):  # sympy's \\sin^{2}{\\left(x \\right)}
                self.take()
                exponent = self.group()
                return ("**", ("call", word, self.args()), exponent)
            return ("call", word, self.args())
        if word in _GREEK:
            return self.subscripted(word)
        raise Unreadable(f"command {cmd!r}")

    def left(self) -> Any:
        _, text = self.take()
        if text == "(":
            e = self.expr()
            self.expect("cmd", "\\right")
            self.expect("sym", ")")
            return e
        if text == "|":
            e = self.expr()
            self.expect("cmd", "\\right")
            self.expect("sym", "|")
            return ("call", "abs", [e])
        if text == "\\lfloor":
            e = self.expr()
            self.expect("cmd", "\\right")
            self.expect("cmd", "\\rfloor")
            return ("call", "floor", [e])
        raise Unreadable(f"\\left{text}")

    def sum(self) -> Any:
        """`\\sum_{v [\\in ax | \\in \\{c, ...\\} | \\in \\mathrm{P}*]} body`."""
        self.expect("sym", "_")
        self.expect("sym", "{")
        var = self.word()
        over: Any = None
        if self.at("cmd", "\\in"):
            self.take()
            if self.at("cmd", "\\{"):
                self.take()
                labels = [self.take()[1]]
                while self.at("sym", ","):
                    self.take()
                    labels.append(self.take()[1])
                self.expect("cmd", "\\}")
                over = ("labels", labels)
            elif self.at("rm") and self.peek(1) == ("sym", "*"):
                over = ("prefix", self.take()[1])
                self.take()
            else:
                over = ("axis", self.word())
        self.expect("sym", "}")
        if var == "s" and (over is None or over[0] == "prefix") and self.at("sym", "s"):
            self.take()
            return ("states", None if over is None else over[1])
        return ("sum", var, over, self.term())

    def integral(self) -> Any:
        """`\\int[_{ax}] body \\, d<var>`: the variable is read from the end."""
        axis = None
        if self.at("sym", "_"):
            self.take()
            axis = "".join(t for _, t in self.items())
        # the variable: the letters after the last `d` before the body ends
        var = self.integral_var()
        self.int_vars.append(var)
        body = self.term()
        self.int_vars.pop()
        self.expect("sym", "d")
        if self.at("rm", var):
            self.take()
        else:
            got = ""
            while len(got) < len(var):
                got += self.take()[1]
            if got != var:
                raise Unreadable(f"integral closed by d{got}, not d{var}")
        return ("int", var, axis or var, body)

    def integral_var(self) -> str:
        """Scan ahead, at depth 0, for `d` followed by letters ending the integral."""
        depth = 0
        for j in range(self.i, len(self.toks)):
            kind, text = self.toks[j]
            if text in ("{", "(") or text == "\\left":
                depth += 1
            elif text in ("}", ")") or text == "\\right":
                depth -= 1
            elif depth == 0 and kind == "sym" and text == "d" and j in self.spaced:
                var = self.var_after_d(j)
                if var:
                    return var
        raise Unreadable("integral without d<var>")

    def cases(self) -> Any:
        self.expect("sym", "{")
        self.expect("sym", "c")  # `cases` spelled as letters
        for ch in "ases":
            self.expect("sym", ch)
        self.expect("sym", "}")
        rows: list[tuple[Any, Any]] = []
        while True:
            value = self.expr()
            self.expect("sym", "&")
            kind, text = self.take()
            if kind != "text":
                raise Unreadable(f"cases row {text!r}")
            if text.strip() == "otherwise":
                rows.append((value, None))
                break
            rows.append((value, self.expr()))
            self.expect("cmd", "\\\\")
        self.expect("cmd", "\\end")
        self.expect("sym", "{")
        while not self.at("sym", "}"):
            self.take()
        self.take()
        return ("cases", rows)


def _flat(node: Any) -> str:
    """A braced subscripted name as one name: `{f_{x}}` is `f_x`."""
    _, base, items = node
    if not items:
        return base
    if len(items) == 1:
        return f"{base}_{items[0][1]}"
    return f"{base}_{items[0][1]}__{items[1][1]}"


def parse(src: str) -> Any:
    """The syntax tree of one right-hand side."""
    p = _Parser(tokenize(src))
    e = p.expr()
    if p.peek()[0] != "end":
        raise Unreadable(f"trailing {p.toks[p.i :][:5]!r}")
    return e


# -- the model's names -------------------------------------------------------------


@dataclass
class _Axis:
    name: str
    labels: list[str]
    values: np.ndarray | None  # continuous axes: coordinate values

    def index(self, label: str) -> int | None:
        if label in self.labels:
            return self.labels.index(label)
        if self.values is not None:
            try:
                v = float(label)
            except ValueError:
                return None
            hit = np.flatnonzero(np.isclose(self.values, v, rtol=1e-12, atol=0))
            return int(hit[0]) if len(hit) else None
        return None

    def weights(self) -> np.ndarray:
        """Trapezoidal weights of the coordinates."""
        assert self.values is not None
        x = self.values
        w = np.zeros_like(x)
        w[:-1] += np.diff(x) / 2
        w[1:] += np.diff(x) / 2
        return w


def _kernel(entry: Mapping[str, Any], axes: list[_Axis]) -> np.ndarray:
    """A kernel's values from its spec (forms as documented in the user guide)."""
    shape = tuple(len(a.labels) for a in axes)
    if entry.get("value") is not None:
        return np.broadcast_to(np.asarray(entry["value"], dtype=np.float64), shape)

    def at(a: _Axis) -> np.ndarray:
        if a.values is not None:
            return a.values
        try:
            return np.asarray([float(c) for c in a.labels])
        except ValueError:
            return np.arange(len(a.labels), dtype=np.float64)

    xs = [at(a) for a in axes]
    if len(xs) not in (1, 2):
        raise Unreadable(f"kernel {entry['name']!r} over {len(xs)} axes")
    d = np.abs(xs[0]) if len(xs) == 1 else np.abs(xs[0][:, None] - xs[1][None, :])
    p = {k: float(v) for k, v in (entry.get("params") or {}).items()}
    s = p.get("scale", 1.0)
    form = entry["form"]
    if form == "gaussian":
        return s * np.exp(-(d**2) / (2 * p["sigma"] ** 2))
    if form == "exponential":
        return s * np.exp(-d / p["lambda"])
    if form == "erfc":
        return s * np.vectorize(math.erfc)(d / p["sigma"])
    if form == "gamma":
        dd = np.maximum(d, 1e-12) / p["theta"]
        return s * dd ** (p["k"] - 1) * np.exp(-dd)
    if form == "power_law":
        return s * (1 + d / p["sigma"]) ** (-p["p"])
    raise Unreadable(f"kernel form {form!r}")


class _Cells:
    """An indexed object's cells: coordinates (label tuple) -> flat name."""

    def __init__(self, axes: list[_Axis]) -> None:
        self.axes = axes
        self.names: dict[tuple[str, ...], str] = {}


def _split(
    name: str, axes: Mapping[str, _Axis]
) -> tuple[str, list[_Axis], tuple[str, ...]] | None:
    """`S__age_0_4__vax_u` -> ("S", [age, vax], ("0-4", "u")), by the naming rule."""
    base, *parts = name.split("__")
    if not parts:
        return None
    got_axes, labels = [], []
    for part in parts:
        for ax in axes.values():
            if part.startswith(ax.name + "_"):
                frag = part[len(ax.name) + 1 :]
                hits = [c for c in ax.labels if fragment(c) == frag]
                if len(hits) == 1:
                    got_axes.append(ax)
                    labels.append(hits[0])
                    break
        else:
            return None
    return base, got_axes, tuple(labels)


# -- evaluation ----------------------------------------------------------------------


class Reader:
    """Evaluate one model's LaTeX at `(t, y, params)`."""

    def __init__(
        self,
        tex: str,
        rhs: Any,
        y: Sequence[float],
        params: Mapping[str, float],
        t: float,
    ) -> None:
        meta = rhs.meta
        self.axes: dict[str, _Axis] = {}
        for a in meta.get("axes") or []:
            values = None
            if a.get("type") == "continuous":
                values = np.asarray(a["coords"], dtype=np.float64)
                labels = [str(float(c)) for c in a["coords"]]
            else:
                labels = [str(c) for c in a["coords"]]
            self.axes[a["name"]] = _Axis(a["name"], labels, values)
        self.states = {n: np.float64(v) for n, v in zip(rhs.state_names, y)}
        self.params = {n: np.asarray(v, dtype=np.float64) for n, v in params.items()}
        self.t = np.float64(t)
        self.alias_names = set(rhs.aliases)
        # indexed objects by base name, one per axis signature (a parameter may be
        # read as `k[age]` and as `k[vax]`: two parameters)
        self.variants: dict[str, dict[tuple[str, ...], _Cells]] = {}
        for name in [*rhs.state_names, *params, *rhs.aliases]:
            split = _split(name, self.axes)
            if split is None:
                continue
            base, axes, labels = split
            sig = tuple(a.name for a in axes)
            obj = self.variants.setdefault(base, {}).setdefault(sig, _Cells(axes))
            obj.names[labels] = name
        self.objects = {b: next(iter(v.values())) for b, v in self.variants.items()}
        self.kernels: dict[str, Mapping[str, Any]] = {}
        self.kernel_axes: dict[str, list[_Axis]] = {}
        for k in meta.get("kernels") or []:
            self.kernel_axes[k["name"]] = [self.axes[a] for a in k.get("axes") or []]
            self.kernels[k["name"]] = k
        self.lines = _lines(tex)
        # alias definitions: name -> (placeholders, tree) / cell name -> tree
        self.alias_lines: dict[str, tuple[tuple[str, ...], Any]] = {}
        self.dots: list[tuple[Any, Any, str]] = []
        self.counters: set[str] = set()  # cells of lines marked `(counter)`
        for lhs, rhs_src, note in self.lines:
            tree = parse(rhs_src)
            lhs_toks = tokenize(lhs)
            if lhs_toks[:1] == [("cmd", "\\dot")]:
                base, items = self._dot_lhs(lhs_toks)
                self.dots.append(((base, items), tree, note))
                if note == "\\text{(counter)}":
                    obj = self.objects.get(base)
                    self.counters.update(obj.names.values() if obj else [base])
            else:
                name, phs = self._alias_lhs(lhs_toks)
                self.alias_lines[name] = (phs, tree)
        self.alias_cache: dict[str, Any] = {}
        self.active: list[str] = []

    # -- left-hand sides
    def _dot_lhs(self, toks: list[tuple[str, str]]) -> tuple[str, tuple[Item, ...]]:
        p = _Parser(toks[1:])
        p.expect("sym", "{")
        inner = p.expr()
        p.expect("sym", "}")
        items: tuple[Item, ...] = ()
        if p.at("sym", "_"):
            p.take()
            items = tuple(p.items())
        if inner[0] != "name":
            raise Unreadable(f"\\dot of {inner!r}")
        if inner[2] and items:
            return _flat(inner), items
        if inner[2]:  # \dot{S_{\mathrm{x}}}: a flat name written with a subscript
            return self._flat_name(inner[1], inner[2]) or _flat(inner), ()
        return inner[1], items

    def _alias_lhs(self, toks: list[tuple[str, str]]) -> tuple[str, tuple[str, ...]]:
        node = _Parser(toks).atom()
        if node[0] != "name":
            raise Unreadable(f"alias line {toks!r}")
        _, base, items = node
        flat = self._flat_name(base, items)
        if flat is not None and flat in self.alias_names:
            return flat, ()
        if base in self.objects and all(k == "id" and v in self.axes for k, v in items):
            return base, tuple(v for _, v in items)
        if not items and base in self.alias_names:
            return base, ()
        raise Unreadable(f"alias line for {base!r} {items!r}")

    def _flat_name(self, base: str, items: tuple[Item, ...]) -> str | None:
        """The flat name `B_{i,...}` spells, if it is a known name."""
        if not items:
            cands = [base]
        elif len(items) == 1:
            v = items[0][1]
            cands = [f"{base}_{v}", f"{base}__{v}"]
        elif len(items) == 2:
            cands = [f"{base}_{items[0][1]}__{items[1][1]}"]
        else:
            cands = []
        known = [
            c
            for c in cands
            if c in self.states or c in self.params or c in self.alias_names
        ]
        if len(known) > 1:
            raise Unreadable(f"{base}_{items}: ambiguous between {known}")
        return known[0] if known else None

    # -- evaluation
    def dydt(self) -> dict[str, float]:
        """dydt per state name (every state exactly once)."""
        out: dict[str, Any] = {}
        overridden: set[str] = set()
        blocks = []
        for (base, items), tree, note in self.dots:
            obj = self.objects.get(base)
            if (
                items
                and obj is not None
                and all(k == "id" and v in self.axes for k, v in items)
            ):
                blocks.append((obj, [v for _, v in items], tree, note))
                continue
            name = self._cell_name(base, items) if items else base
            if name not in self.states:
                raise Unreadable(f"\\dot of unknown state {base!r} {items!r}")
            if name in out:
                raise Unreadable(f"two lines for {name}")
            out[name] = self.eval(tree, {})
            overridden.add(name)
        for obj, phs, tree, note in blocks:
            for labels, name in obj.names.items():
                if name not in self.states:
                    continue
                if name in overridden:  # the block's line must say `(other cells)`
                    if note != "\\text{(other cells)}":
                        raise Unreadable(f"{name} has a line of its own, unannounced")
                    continue
                if name in out:
                    raise Unreadable(f"two lines for {name}")
                env = {ph: (ax, lab) for ph, ax, lab in zip(phs, obj.axes, labels)}
                out[name] = self.eval(tree, env)
        missing = [s for s in self.states if s not in out]
        if missing:
            raise Unreadable(f"no line for {missing[:5]}")
        return {k: float(v) for k, v in out.items()}

    def _cell_name(self, base: str, items: Sequence[Item]) -> str:
        obj = self.objects.get(base)
        if obj is not None and len(items) == len(obj.axes):
            labels = self._labels(obj.axes, items, {})
            if labels is not None and labels in obj.names:
                return obj.names[labels]
        flat = self._flat_name(base, tuple(items))
        if flat is None:
            raise Unreadable(f"cell {base}_{items}")
        return flat

    def _labels(
        self, axes: list[_Axis], items: Sequence[Item], env: Mapping[str, Any]
    ) -> tuple[str, ...] | None:
        out = []
        for ax, (_, text) in zip(axes, items):
            if text in env:  # a bound placeholder or loop variable (`\\mathrm{j\\_1}`)
                _, label = env[text]
                i = ax.index(label)
            else:
                i = ax.index(text)
            if i is None:
                return None
            out.append(ax.labels[i])
        return tuple(out)

    def value_of(
        self, base: str, items: tuple[Item, ...], env: Mapping[str, Any]
    ) -> Any:
        if base == "delta" and len(items) == 2 and "delta" not in self.objects:
            a, b = (env[v][1] if v in env else v for _, v in items)
            ax = env[items[0][1]][0] if items[0][1] in env else None
            if ax is not None:
                ia, ib = ax.index(a), ax.index(b)
                return np.float64(ia is not None and ia == ib)
            return np.float64(a == b)
        if items and base in self.kernels:
            # a kernel declared without axes is indexed by where it is used
            kaxes = self.kernel_axes[base]
            if len(kaxes) != len(items):  # `K[x, xi]` of a kernel over `x`: |x - xi|
                kaxes = [env[v][0] if v in env else None for _, v in items]
            if None in kaxes or len(kaxes) != len(items):
                raise Unreadable(f"kernel {base}_{items}")
            labels = self._labels(kaxes, items, env)
            if labels is not None:
                idx = tuple(a.labels.index(lab) for a, lab in zip(kaxes, labels))
                return _kernel(self.kernels[base], kaxes)[idx]
        if items and np.ndim(self.params.get(base, 0.0)) == len(items):
            return self.params[base][self._array_index(items, env)]
        cells = []
        for obj in self.variants.get(base, {}).values() if items else ():
            labels = None
            if len(items) == len(obj.axes):
                labels = self._labels(obj.axes, items, env)
            if labels is not None and labels in obj.names:
                cells.append(obj.names[labels])
        if len(cells) > 1:
            raise Unreadable(f"{base}_{items}: a cell of each of {cells}")
        if cells:
            if self._flat_name(base, items) is not None:
                raise Unreadable(f"{base}_{items}: a cell of {base} or a name")
            return self.name(cells[0], env)
        flat = self._flat_name(base, items)
        if flat is not None:
            return self.name(flat, env)
        if not items:
            return self.name(base, env)
        raise Unreadable(f"cannot resolve {base}_{items}")

    def _array_index(
        self, items: Sequence[Item], env: Mapping[str, Any]
    ) -> tuple[int, ...]:
        """Where an array parameter is read: each item a bound placeholder or loop
        variable (its axis), or a coordinate of exactly one axis."""
        out = []
        for _, text in items:
            if text in env and env[text][0] is not None:
                ax, label = env[text]
                i = ax.index(label)
            else:
                hits = [a.index(text) for a in self.axes.values()]
                found = [i for i in hits if i is not None]
                if len(found) != 1:
                    raise Unreadable(f"index {text!r} of an array parameter")
                i = found[0]
            out.append(i)
        return tuple(out)

    def name(self, name: str, env: Mapping[str, Any]) -> Any:
        if name in self.states:
            return self.states[name]
        if name in self.alias_names:
            return self._alias_cell(name)
        if name in self.params:
            return self.params[name]
        if name in self.kernels and not self.kernel_axes[name]:
            return _kernel(self.kernels[name], [])[()]
        if name in env:  # a placeholder or loop variable as a value
            ax, label = env[name]
            if ax is None or ax.values is None:
                raise Unreadable(f"value of categorical placeholder {name!r}")
            return ax.values[ax.index(label)]
        if name == "t":
            return self.t
        if name == "e":
            return np.float64(math.e)
        raise Unreadable(f"unknown name {name!r}")

    def _alias_cell(self, name: str) -> Any:
        """An alias by its flat name: its own line, or its block's line at its cell."""
        if name in self.alias_lines:
            return self._alias(name, name, {})
        split = _split(name, self.axes)
        if split is None or split[0] not in self.alias_lines:
            raise Unreadable(f"no line defines alias {name!r}")
        base, axes, labels = split
        phs, _ = self.alias_lines[base]
        env = {ph: (ax, lab) for ph, ax, lab in zip(phs, axes, labels)}
        return self._alias(name, base, env)

    def _alias(self, key: str, line: str, env: Mapping[str, Any]) -> Any:
        if key in self.alias_cache:
            return self.alias_cache[key]
        if line not in self.alias_lines:
            raise Unreadable(f"no line defines alias {key!r}")
        if key in self.active:
            raise Unreadable(f"alias cycle {[*self.active, key]}")
        self.active.append(key)
        try:
            val = self.eval(self.alias_lines[line][1], env)
        finally:
            self.active.pop()
        self.alias_cache[key] = val
        return val

    def eval(self, node: Any, env: Mapping[str, Any]) -> Any:
        tag = node[0]
        ev = self.eval
        if tag == "num":
            return np.float64(node[1])
        if tag == "name":
            return self.value_of(node[1], node[2], env)
        if tag == "neg":
            return -ev(node[1], env)
        if tag in ("+", "-", "*", "/", "**", "mod"):
            a, b = ev(node[1], env), ev(node[2], env)
            if tag == "+":
                return a + b
            if tag == "-":
                return a - b
            if tag == "*":
                return a * b
            if tag == "/":
                return a / b
            if tag == "mod":
                return np.mod(a, b)
            return np.power(a, b)
        if tag == "cmp":
            left = ev(node[1], env)
            result: Any = True
            for op, r in zip(node[2], node[3]):
                right = ev(r, env)
                result = _RELOPS[op](left, right)
                if not result:
                    return np.float64(result)
                left = right
            return np.float64(result)
        if tag == "and":
            a = ev(node[1], env)
            return a if not a else ev(node[2], env)
        if tag == "or":
            a = ev(node[1], env)
            return a if a else ev(node[2], env)
        if tag == "not":
            return np.float64(not ev(node[1], env))
        if tag == "cases":
            for value, test in node[1]:
                if test is None or ev(test, env):
                    return ev(value, env)
            raise Unreadable("cases without otherwise")
        if tag == "call":
            args = [ev(a, env) for a in node[2]]
            if node[1] == "floor":
                return np.floor(args[0])
            return _FUNCS[node[1]](*args)
        if tag == "states":
            # the model's states: not the incidence counters
            prefix = "" if node[1] is None else self._prefix(node[1], env)
            return np.float64(
                sum(
                    v
                    for k, v in self.states.items()
                    if k.startswith(prefix) and k not in self.counters
                )
            )
        if tag == "sum":
            return self._sum(node, env)
        if tag == "int":
            _, var, axis, body = node
            ax = self.axes.get(axis)
            if ax is None or ax.values is None:
                raise Unreadable(f"integral over {axis!r}")
            w = ax.weights()
            return sum(
                w[i] * ev(body, {**env, var: (ax, lab)})
                for i, lab in enumerate(ax.labels)
            )
        raise Unreadable(f"node {tag}")

    def _prefix(self, prefix: str, env: Mapping[str, Any]) -> str:
        """`S[age]` with `age` bound to `y` is the prefix `S__age_y`."""
        m = re.fullmatch(r"(\w+)\[(\w+)\]", prefix)
        if m is None:
            return prefix
        ph = m[2]
        if ph not in env:
            raise Unreadable(f"prefix {prefix!r}")
        ax, label = env[ph]
        return f"{m[1]}__{ax.name}_{fragment(label)}"

    def _sum(self, node: Any, env: Mapping[str, Any]) -> Any:
        _, var, over, body = node
        if over is None:
            if var not in self.axes:
                raise Unreadable(f"range of \\sum_{{{var}}}")
            ax = self.axes[var]
            labels = ax.labels
        elif over[0] == "axis":
            ax = self.axes[over[1]]
            labels = ax.labels
        elif over[0] == "labels":
            ax, labels = None, over[1]
        else:
            raise Unreadable(f"sum over {over!r}")
        return sum(self.eval(body, {**env, var: (ax, lab)}) for lab in labels)


def _lines(tex: str) -> list[tuple[str, str, str]]:
    """(left side, right side, note after `&&`) per line of the aligned block."""
    body = tex.strip().splitlines()
    if body[0] != "\\begin{aligned}" or body[-1] != "\\end{aligned}":
        raise Unreadable("not an aligned block")
    out = []
    for line in body[1:-1]:
        line = line.removesuffix(" \\\\")
        lhs, sep, rhs = line.partition("&=")
        if not sep:
            raise Unreadable(f"line without &=: {line[:60]!r}")
        rhs, _, note = rhs.partition("&&")
        out.append((lhs.strip(), rhs.strip(), note.strip()))
    return out


def read_latex(
    tex: str,
    rhs: Any,
    y: Sequence[float],
    params: Mapping[str, float],
    t: float,
) -> list[float]:
    """dydt in `rhs.state_names` order, read from the LaTeX `tex` of `rhs`."""
    got = Reader(tex, rhs, y, params, t).dydt()
    return [got[s] for s in rhs.state_names]


__all__ = ["Reader", "Unreadable", "parse", "read_latex", "tokenize"]
