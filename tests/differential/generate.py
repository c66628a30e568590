"""Seeded generator of random op-system 0.1.2 specs for differential testing.

`generate_cases(n, seed)` returns `n` cases `{"id", "constructs", "spec"}`.
The generator uses only `random.Random(seed)` (stdlib), so a seed always gives
the same cases. Most specs are inside the subset of the language that 0.1.2
accepts (see `/tmp/ref012/.../op_system/specs.py`); about one in ten is a
mutant that 0.1.2 (or op_system) is expected to reject.

0.1.2 expands `sum_over(...)`/`integrate_over(...)` with a non-greedy regex that
stops at the first `)`, and only rewrites single-keyword indices `X[ax=var]`
inside those bodies; bodies are therefore generated without parentheses and
with single-axis references only. Arguments of `np.*` functions are kept in
their domain (log/sqrt of positive expressions, exp of bounded ones).
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from dataclasses import dataclass, field
from typing import Any

CATEGORICAL_AXES: list[tuple[str, list[str]]] = [
    ("age", ["y", "o"]),
    ("age", ["child", "adult", "senior"]),
    ("age", ["0-4", "5-17", "18-64", "65+"]),
    ("vax", ["u", "v"]),
    ("vax", ["u", "v", "w"]),
    ("pop", ["p1", "p2", "p3"]),
    ("strain", ["wt", "var"]),
]
CONTINUOUS_AXES: list[dict[str, Any]] = [
    {"name": "x", "type": "continuous", "coords": [0, 1, 3]},
    {"name": "x", "type": "continuous", "coords": [0.0, 0.5, 1.5, 2.0]},
    {"name": "x", "type": "continuous", "coords": [1e-05, 0.001, 0.1]},
    {
        "name": "r",
        "type": "continuous",
        "domain": {"lb": 1.0, "ub": 8.0},
        "size": 4,
        "spacing": "geom",
    },
    {
        "name": "r",
        "type": "continuous",
        "domain": {"lb": 0.001, "ub": 0.1},
        "size": 3,
        "spacing": "log",
        "units": "um",
    },
    {
        "name": "z",
        "type": "continuous",
        "domain": {"lb": 0.0, "ub": 1.0},
        "size": 4,
        "spacing": "linear",
    },
    {
        "name": "z",
        "type": "continuous",
        "domain": {"lb": 0.0, "ub": 10.0},
        "size": 3,
        "units": "km",
    },
]
PLAIN_STATES = ["S", "E", "I", "R", "V", "D", "H", "A", "Q", "W"]
TEMPLATE_STATES = ["S", "E", "I", "R", "V", "X", "u", "n", "B"]
PLAIN_PARAMS = [
    "beta",
    "gamma",
    "sigma",
    "mu",
    "nu",
    "rho",
    "kappa",
    "omega",
    "eps",
    "alpha",
    "theta",
    "phi",
]
INDEXED_PARAMS = ["w", "c", "ve", "sus", "m", "h"]
PLAIN_ALIASES = ["N", "tot", "force", "season", "z1", "z2"]
TEMPLATE_ALIASES = ["lam", "foi", "pr", "q"]
LOOP_VARS = ["jj", "kk", "ii", "qq"]
CHAIN_NAMES = ["L", "P", "G"]
NP_UNARY_POS = ["exp", "sqrt", "log1p", "cosh", "abs"]
NP_ANY = ["log", "log2", "log10", "sin", "cos", "tan", "sinh", "tanh", "expm1"]
REJECT_RATE = 0.1


def fragment(coord: object) -> str:
    """Expanded-name fragment of a coordinate, as 0.1.2 sanitizes it."""
    out = []
    prev_us = False
    for ch in str(coord):
        if ch.isascii() and ch.isalnum():
            out.append(ch)
            prev_us = False
        elif not prev_us:
            out.append("_")
            prev_us = True
    return "".join(out).strip("_") or "_"


def axis_coords(ax: dict[str, Any]) -> list[str]:
    """Coordinates of a spec axis as 0.1.2 stringifies them."""
    if ax.get("type") != "continuous":
        return list(ax["coords"])
    if "coords" in ax:
        return [str(float(c)) for c in ax["coords"]]
    lb, ub, size = float(ax["domain"]["lb"]), float(ax["domain"]["ub"]), int(ax["size"])
    if ax.get("spacing", "linear") == "linear":
        step = (ub - lb) / (size - 1)
        return [str(lb + step * i) for i in range(size)]
    ratio = (ub / lb) ** (1.0 / (size - 1))
    return [str(lb * ratio**i) for i in range(size)]


@dataclass
class Obj:
    """A state, alias or indexed parameter: base name and axes."""

    base: str
    axes: tuple[str, ...] = ()

    def cells(self, g: Gen) -> list[str]:
        """Expanded names of every cell."""
        names = [self.base]
        for ax in self.axes:
            names = [f"{n}__{ax}_{fragment(c)}" for n in names for c in g.coords[ax]]
        return names


@dataclass
class Gen:
    """State of one spec under construction."""

    rng: random.Random
    tags: set[str] = field(default_factory=set)
    axes: list[dict[str, Any]] = field(default_factory=list)
    coords: dict[str, list[str]] = field(default_factory=dict)
    states: list[Obj] = field(default_factory=list)
    aliases: list[Obj] = field(default_factory=list)
    iparams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    in_transitions: bool = False

    # -- helpers --------------------------------------------------------
    def cat_axes(self) -> list[str]:
        return [a["name"] for a in self.axes if a.get("type") != "continuous"]

    def cont_axes(self) -> list[str]:
        return [a["name"] for a in self.axes if a.get("type") == "continuous"]

    def tag(self, *names: str) -> None:
        self.tags.update(names)

    def num(self) -> str:
        return self.rng.choice(["0.5", "2", "1e-2", "0.25", "3.0", "1.5", "0.1"])

    def plain_param(self) -> str:
        return self.rng.choice(PLAIN_PARAMS)

    def indexed_param(self, axes: tuple[str, ...]) -> str:
        """A parameter name indexed by exactly `axes` (reused or new)."""
        for base, ax in self.iparams.items():
            if ax == axes and self.rng.random() < 0.6:
                return base
        free = [b for b in INDEXED_PARAMS if b not in self.iparams]
        if not free:
            for base, ax in self.iparams.items():
                if ax == axes:
                    return base
            return ""
        base = self.rng.choice(free)
        self.iparams[base] = axes
        return base

    def ref(self, obj: Obj, bound: tuple[str, ...]) -> str | None:
        """A reference to `obj` inside a template binding `bound`, or None."""
        if not obj.axes:
            return obj.base
        if set(obj.axes) <= set(bound):
            self.tag("templated_ref")
            return f"{obj.base}[{','.join(obj.axes)}]"
        if self.rng.random() < 0.5:
            self.tag("flat_name")
            return self.rng.choice(obj.cells(self))
        return None

    # -- expressions ----------------------------------------------------
    def atom(self, bound: tuple[str, ...], pos: bool = True) -> str:
        """A positive leaf expression."""
        r = self.rng.random()
        if r < 0.25:
            objs = [s for s in self.states]
            self.rng.shuffle(objs)
            for s in objs:
                ref = self.ref(s, bound)
                if ref:
                    return ref
        if r < 0.4 and self.aliases:
            objs = list(self.aliases)
            self.rng.shuffle(objs)
            for a in objs:
                ref = self.ref(a, bound)
                if ref:
                    self.tag("alias_ref")
                    return ref
        if r < 0.55 and bound:
            k = self.rng.randint(1, min(2, len(bound)))
            axes = tuple(self.rng.sample(list(bound), k))
            base = self.indexed_param(axes)
            if base:
                self.tag("indexed_param")
                if k == 2:
                    self.tag("indexed_param_2d")
                return f"{base}[{','.join(axes)}]"
        if r < 0.62:
            self.tag("time")
            return "(1 + t / 100)"
        if r < 0.80:
            return self.plain_param()
        return self.num()

    def pos_expr(self, bound: tuple[str, ...], depth: int) -> str:
        """An expression that is positive (and finite) at the sample points."""
        rng = self.rng
        if depth <= 0:
            return self.atom(bound)
        r = rng.random()
        if r < 0.25:
            return (
                f"{self.pos_expr(bound, depth - 1)} * {self.pos_expr(bound, depth - 1)}"
            )
        if r < 0.38:
            return f"({self.pos_expr(bound, depth - 1)} + {self.pos_expr(bound, depth - 1)})"
        if r < 0.48:
            den = self.denominator(bound)
            return f"{self.pos_expr(bound, depth - 1)} / {den}"
        if r < 0.58:
            fn = rng.choice(NP_UNARY_POS)
            self.tag(f"np.{fn}")
            arg = self.pos_expr(bound, depth - 1)
            if fn in ("exp", "cosh"):
                return f"np.{fn}(-{arg} / (1 + {arg}))"
            return f"np.{fn}({arg})"
        if r < 0.66:
            fn = rng.choice(["maximum", "minimum", "hypot"])
            self.tag(f"np.{fn}")
            return f"np.{fn}({self.pos_expr(bound, depth - 1)}, {self.pos_expr(bound, depth - 1)})"
        if r < 0.70:
            self.tag("np.clip")
            return f"np.clip({self.pos_expr(bound, depth - 1)}, 0.5, 2.0)"
        if r < 0.74:
            self.tag("np.where", "comparison")
            a, b = self.pos_expr(bound, depth - 1), self.pos_expr(bound, depth - 1)
            return f"np.where({a} > {b}, {a}, {self.atom(bound)})"
        if r < 0.78:
            self.tag("np.arctan2")
            return f"(1 + np.arctan2({self.pos_expr(bound, depth - 1)}, {self.pos_expr(bound, depth - 1)}))"
        if r < 0.83:
            self.tag("conditional", "comparison")
            a, b = self.atom(bound), self.atom(bound)
            cond = f"{a} > {b}"
            if rng.random() < 0.4:
                self.tag("boolop")
                op = rng.choice(["and", "or"])
                cond = f"{cond} {op} {self.atom(bound)} <= {self.atom(bound)}"
            return (
                f"({self.pos_expr(bound, depth - 1)} if {cond} else {self.atom(bound)})"
            )
        if r < 0.86:
            self.tag("power")
            return f"{self.atom(bound)} ** {rng.choice(['0.5', '2', '1.5'])}"
        if r < 0.92:
            return self.reduction(bound)
        return self.helper(bound)

    def any_expr(self, bound: tuple[str, ...], depth: int) -> str:
        """An expression of any sign."""
        rng = self.rng
        r = rng.random()
        if depth <= 0 or r < 0.3:
            return self.pos_expr(bound, max(depth - 1, 0))
        if r < 0.5:
            return (
                f"{self.any_expr(bound, depth - 1)} - {self.pos_expr(bound, depth - 1)}"
            )
        if r < 0.6:
            return f"-{self.pos_expr(bound, depth - 1)}"
        if r < 0.7:
            fn = rng.choice(NP_ANY)
            self.tag(f"np.{fn}")
            arg = self.pos_expr(bound, depth - 1)
            if fn in ("sin", "cos", "tan", "sinh", "expm1"):
                return f"np.{fn}({arg} / (1 + {arg}))"
            return f"np.{fn}({arg})"
        if r < 0.75:
            self.tag("modulo")
            return f"{self.pos_expr(bound, depth - 1)} % 3"
        if r < 0.82:
            self.tag("comparison")
            return f"({self.atom(bound)} < {self.atom(bound)}) * {self.pos_expr(bound, depth - 1)}"
        if r < 0.88:
            self.tag("conditional", "boolop")
            op = rng.choice(["and", "or"])
            return f"({self.atom(bound)} {op} {self.atom(bound)})"
        return f"{self.any_expr(bound, depth - 1)} + {self.any_expr(bound, depth - 1)}"

    def denominator(self, bound: tuple[str, ...]) -> str:
        r = self.rng.random()
        if r < 0.4:
            self.tag("sum_state")
            return "sum_state()"
        if (
            r < 0.6
            and any(not a.axes for a in self.aliases)
            and "N" in {a.base for a in self.aliases}
        ):
            return "N"
        return f"(1 + {self.atom(bound)})"

    def helper(self, bound: tuple[str, ...]) -> str:
        """sum_state() or sum_prefix('...') (always matching some state)."""
        rng = self.rng
        if rng.random() < 0.3:
            self.tag("sum_state")
            return "sum_state()"
        s = rng.choice(self.states)
        quote = rng.choice(["'", '"'])
        if s.axes and s.axes[0] in bound and rng.random() < 0.4:
            self.tag("sum_prefix", "sum_prefix_placeholder")
            return f"sum_prefix({quote}{s.base}[{s.axes[0]}]{quote})"
        if s.axes and rng.random() < 0.5:
            self.tag("sum_prefix", "sum_prefix_cell")
            if len(s.axes) == 1:
                self.tag("sum_prefix_no_match")
            cell = rng.choice(Obj(s.base, s.axes[:1]).cells(self))
            return f"sum_prefix({quote}{cell}__{quote})"
        self.tag("sum_prefix")
        return f"sum_prefix({quote}{s.base}{quote})"

    def reduction(self, bound: tuple[str, ...]) -> str:
        """sum_over / integrate_over with a parenthesis-free positive body."""
        rng = self.rng
        cands = self.cat_axes() + self.cont_axes()
        if not cands:
            return self.helper(bound)
        ax = rng.choice(cands)
        var = rng.choice(LOOP_VARS)
        cont = ax in self.cont_axes()
        factors: list[str] = []
        single = [o for o in self.states + self.aliases if o.axes == (ax,)]
        if single and rng.random() < 0.85:
            factors.append(f"{rng.choice(single).base}[{ax}={var}]")
        if rng.random() < 0.4 or not factors:
            base = self.indexed_param((ax,))
            if base:
                factors.append(f"{base}[{ax}={var}]")
                self.tag("indexed_param")
        if rng.random() < 0.3:
            factors.append(rng.choice([self.plain_param(), self.num()]))
        if bound and rng.random() < 0.25:
            b = rng.choice(list(bound))
            base = self.indexed_param((b,))
            if base:
                factors.append(f"{base}[{b}]")
                self.tag("placeholder_in_reduction")
        if cont and rng.random() < 0.2:
            factors.append(var)
            self.tag("loopvar_value")
        rng.shuffle(factors)
        body = " * ".join(factors) if factors else self.num()
        if cont:
            self.tag("integrate_over")
            return f"integrate_over({ax}={var}, {body})"
        self.tag("sum_over")
        head = f"{ax}={var}"
        if rng.random() < 0.3:
            coords = self.coords[ax]
            sub = rng.sample(coords, rng.randint(1, len(coords)))
            head += f" IN [{', '.join(sub)}]"
            self.tag("sum_over_in")
            if any(not c.isidentifier() for c in sub):
                self.tag("in_filter_nonident")
        return f"sum_over({head}, {body})"


# ---------------------------------------------------------------------------
# model families
# ---------------------------------------------------------------------------


def _pick_axes(g: Gen, n_cat: int, n_cont: int) -> None:
    rng = g.rng
    seen: set[str] = set()
    for _ in range(n_cat):
        name, coords = rng.choice(CATEGORICAL_AXES)
        if name in seen:
            continue
        seen.add(name)
        g.axes.append({"name": name, "coords": list(coords)})
        if any(not c.isidentifier() for c in coords):
            g.tag("coord_nonident")
    for _ in range(n_cont):
        ax = rng.choice(CONTINUOUS_AXES)
        if ax["name"] in seen:
            continue
        seen.add(ax["name"])
        g.axes.append(json.loads(json.dumps(ax)))
        g.tag(
            "continuous_axis",
            f"continuous_{ax.get('spacing', 'coords' if 'coords' in ax else 'linear')}",
        )
    rng.shuffle(g.axes)
    for ax in g.axes:
        g.coords[ax["name"]] = axis_coords(ax)
    if g.cat_axes():
        g.tag("categorical_axis")


def _pick_states(g: Gen, n_plain: int, n_tmpl: int) -> None:
    rng = g.rng
    plain = rng.sample(PLAIN_STATES, n_plain)
    tmpl = [
        b for b in rng.sample(TEMPLATE_STATES, len(TEMPLATE_STATES)) if b not in plain
    ][:n_tmpl]
    names = [g.axes[i]["name"] for i in range(len(g.axes))]
    for b in plain:
        g.states.append(Obj(b))
    for b in tmpl:
        if not names:
            g.states.append(Obj(b))
            continue
        k = rng.randint(1, min(2, len(names)))
        axes = tuple(a for a in names if a in rng.sample(names, k))
        g.states.append(Obj(b, axes))
        g.tag("templated_state" if k == 1 else "templated_state_2d")
    rng.shuffle(g.states)


def _state_list(g: Gen) -> list[str]:
    out = []
    for s in g.states:
        if s.axes:
            sep = ", " if g.rng.random() < 0.3 else ","
            out.append(f"{s.base}[{sep.join(s.axes)}]")
        else:
            out.append(s.base)
    return out


def _pick_aliases(g: Gen, n: int) -> dict[str, str]:
    """Aliases in dependency order (later may use earlier), returned shuffled."""
    rng = g.rng
    items: list[tuple[str, str]] = []
    names = [a["name"] for a in g.axes]
    plain_pool = [a for a in PLAIN_ALIASES]
    rng.shuffle(plain_pool)
    tmpl_pool = list(TEMPLATE_ALIASES)
    rng.shuffle(tmpl_pool)
    if rng.random() < 0.4:
        items.append(("N", "sum_state()"))
        g.tag("sum_state", "alias")
        g.aliases.append(Obj("N"))
        plain_pool.remove("N")
    for _ in range(n):
        if names and tmpl_pool and rng.random() < 0.5:
            base = tmpl_pool.pop()
            axes = (rng.choice(names),)
            if len(names) > 1 and rng.random() < 0.3:
                axes = tuple(a for a in names[:2])
            if rng.random() < 0.15 and len(axes) == 1:
                # defined cell by cell, as a 0.1.2 user writing a loop would
                obj = Obj(base, axes)
                for cell in obj.cells(g):
                    expr = g.pos_expr((), 1)
                    items.append((cell, f"{expr} * {rng.choice(PLAIN_PARAMS)}"))
                g.tag("alias_per_cell")
                g.aliases.append(obj)
                continue
            expr = g.pos_expr(axes, 2)
            if any(a.axes for a in g.aliases):
                g.tag("alias_of_alias")
            items.append((f"{base}[{','.join(axes)}]", expr))
            g.aliases.append(Obj(base, axes))
            g.tag("templated_alias")
        elif plain_pool:
            base = plain_pool.pop()
            if g.aliases:
                g.tag("alias_of_alias")
            items.append((base, g.pos_expr((), 2)))
            g.aliases.append(Obj(base))
            g.tag("alias")
    if len(items) > 1:
        g.tag("alias_order")
    rng.shuffle(items)
    return dict(items)


def _kernels(g: Gen) -> list[dict[str, Any]] | None:
    rng = g.rng
    if rng.random() > 0.2:
        return None
    g.tag("kernels")
    out: list[dict[str, Any]] = []
    axes = [a["name"] for a in g.axes]
    forms = [
        ("gaussian", {"scale": 1.0, "sigma": 0.5}),
        ("exponential", {"scale": 1.0, "lambda": 0.2}),
        ("gamma", {"scale": 1.0, "k": 2.0, "theta": 0.5}),
        ("erfc", {"scale": 1.0, "sigma": 0.3}),
        ("power_law", {"scale": 1.0, "sigma": 0.3, "p": 2.0}),
    ]
    for i in range(rng.randint(1, 2)):
        if rng.random() < 0.3:
            k: dict[str, Any] = {"name": f"k{i}", "value": 0.5}
        else:
            form, params = rng.choice(forms)
            k = {"name": f"k{i}", "form": form, "params": dict(params)}
        if axes and rng.random() < 0.6:
            k["axes"] = [rng.choice(axes)]
        out.append(k)
    return out


def gen_expr_model(g: Gen) -> dict[str, Any]:
    """A kind: expr model with templates, aliases, reductions, maybe a chain."""
    rng = g.rng
    _pick_axes(g, rng.randint(0, 2), int(rng.random() < 0.35))
    _pick_states(g, rng.randint(1, 3), rng.randint(0, 3) if g.axes else 0)
    spec: dict[str, Any] = {}
    if rng.random() < 0.6:
        spec["kind"] = (
            rng.choice(["expr", "EXPR", " expr "]) if rng.random() < 0.1 else "expr"
        )
    g.tag("kind_expr")
    if g.axes:
        spec["axes"] = g.axes
    spec["state"] = _state_list(g)
    aliases = _pick_aliases(g, rng.randint(0, 3))
    if aliases:
        spec["aliases"] = aliases
    kernels = _kernels(g)
    if kernels:
        if rng.random() < 0.3:
            spec["meta"] = {"kernels": kernels}
        else:
            spec["kernels"] = kernels
    eqs: dict[str, str] = {}
    for s in g.states:
        if not s.axes:
            eqs[s.base] = g.any_expr((), 2)
            continue
        cells = s.cells(g)
        key = f"{s.base}[{','.join(s.axes)}]"
        r = rng.random()
        if r < 0.1:
            for c in cells:
                eqs[c] = f"-{g.plain_param()} * {c} + {g.pos_expr((), 1)}"
            g.tag("per_cell_equations")
            continue
        if r < 0.2:
            key = f" {s.base}[ {' , '.join(s.axes)} ] "
            g.tag("key_whitespace")
        eqs[key] = g.any_expr(s.axes, 2)
        g.tag("templated_equation")
        if rng.random() < 0.25:
            c = rng.choice(cells)
            eqs[c] = f"-{g.plain_param()} * {c}"
            g.tag("per_cell_override")
    if rng.random() < 0.25:
        _expr_chain(g, spec, eqs)
    items = list(eqs.items())
    rng.shuffle(items)
    spec["equations"] = dict(items)
    return spec


def _chain_block(
    g: Gen, plain_states: list[str], *, transitions: bool
) -> dict[str, Any]:
    rng = g.rng
    name = rng.choice(CHAIN_NAMES)
    length = rng.randint(2, 5)
    r = rng.random()
    if r < 0.4:
        forward: Any = f"{rng.randint(1, 4)} * {g.plain_param()}"
        g.tag("chain_forward_scalar")
    elif r < 0.55:
        forward = rng.choice([0.5, 2, 1.25])
        g.tag("chain_forward_number")
    else:
        forward = [g.plain_param() for _ in range(length - 1)]
        g.tag("chain_forward_list")
    block: dict[str, Any] = {"name": name, "length": length, "forward": forward}
    if transitions and plain_states and rng.random() < 0.7:
        block["entry"] = {
            "from": rng.choice(plain_states),
            "rate": f"{g.plain_param()} * sum_prefix('{name}') / sum_state()",
        }
        g.tag("chain_entry", "sum_prefix", "sum_state")
    if plain_states and rng.random() < 0.7:
        ex: dict[str, Any] = {"to": rng.choice(plain_states)}
        if rng.random() < 0.6:
            ex["rate"] = g.plain_param()
        block["exit"] = ex
        g.tag("chain_exit")
    return block


def _expr_chain(g: Gen, spec: dict[str, Any], eqs: dict[str, str]) -> None:
    rng = g.rng
    plain = [s.base for s in g.states if not s.axes]
    block = _chain_block(g, plain, transitions=False)
    name = block["name"]
    g.tag("chain", "chain_expr")
    if rng.random() < 0.5:
        eqs[f"{name}1"] = f"{g.pos_expr((), 1)} - {g.plain_param()} * {name}1"
        g.tag("chain_stage_equation")
    if "exit" in block and rng.random() < 0.5:
        eqs.pop(block["exit"]["to"], None)  # filled in by the chain
        g.tag("chain_exit_fills")
    spec["chain"] = [block]
    g.states.extend(Obj(f"{name}{i}") for i in range(1, block["length"] + 1))


def gen_transitions_model(g: Gen) -> dict[str, Any]:
    """A kind: transitions model over shared axes (templated flows, coord_shift, chain)."""
    rng = g.rng
    g.in_transitions = True
    _pick_axes(g, rng.randint(0, 2), 0)
    names = [a["name"] for a in g.axes]
    comp = rng.sample(["S", "E", "I", "R", "V"], rng.randint(2, 4))
    comp.sort(key="SEIRV".index)
    axes = tuple(a for a in names if rng.random() < 0.8)
    for b in comp:
        ax = axes
        if axes and rng.random() < 0.2:
            ax = axes[:1]
            g.tag("transition_diff_axes")
        g.states.append(Obj(b, ax))
    extra_plain = [p for p in ["D", "H"] if rng.random() < 0.3]
    g.states.extend(Obj(p) for p in extra_plain)
    if any(s.axes for s in g.states):
        g.tag("templated_state")
    spec: dict[str, Any] = {
        "kind": rng.choice(["transitions", "Transitions"])
        if rng.random() < 0.1
        else "transitions"
    }
    g.tag("kind_transitions")
    if g.axes:
        spec["axes"] = g.axes
    spec["state"] = _state_list(g)
    aliases = _pick_aliases(g, rng.randint(0, 3))
    if aliases:
        spec["aliases"] = aliases
    trs: list[dict[str, Any]] = []
    bases = {s.base: s for s in g.states}
    for a, b in itertools.pairwise(comp):
        sa, sb = bases[a], bases[b]
        bound = tuple(dict.fromkeys(sa.axes + sb.axes))
        tr: dict[str, Any] = {
            "from": f"{a}[{','.join(sa.axes)}]" if sa.axes else a,
            "to": f"{b}[{','.join(sb.axes)}]" if sb.axes else b,
            "rate": _rate(g, bound),
        }
        if bound:
            g.tag("templated_transition")
        if rng.random() < 0.2:
            tr["name"] = f"flow_{a}{b}" + (f"[{bound[0]}]" if bound else "")
            g.tag("transition_name")
        trs.append(tr)
    if rng.random() < 0.15 and names and extra_plain:
        # a plain-to-plain flow whose rate carries a placeholder: one flow per coord
        ph = rng.choice(names)
        base = g.indexed_param((ph,))
        if base:
            trs.append(
                {
                    "from": comp[0] if not bases[comp[0]].axes else extra_plain[0],
                    "to": extra_plain[-1],
                    "rate": f"{base}[{ph}]",
                }
            )
            g.tag("transition_rate_placeholder")
    if rng.random() < 0.3:
        # flat per-cell transitions
        s = rng.choice(g.states)
        t_ = rng.choice(g.states)
        if s.axes == t_.axes and s.base != t_.base:
            for cs, ct in list(zip(s.cells(g), t_.cells(g)))[: rng.randint(1, 3)]:
                trs.append(
                    {"from": cs, "to": ct, "rate": f"{g.plain_param()} * {g.num()}"}
                )
            g.tag("flat_transition")
    if extra_plain and rng.random() < 0.5:
        src = rng.choice(g.states)
        if src.base not in extra_plain:
            trs.append(
                {
                    "from": f"{src.base}[{','.join(src.axes)}]"
                    if src.axes
                    else src.base,
                    "to": extra_plain[0],
                    "rate": g.plain_param(),
                }
            )
    if rng.random() < 0.35:
        cat = [
            a
            for a in names
            if len(g.coords[a]) >= 2 and any(a in s.axes for s in g.states)
        ]
        if cat:
            ax = rng.choice(cat)
            c1, c2 = rng.sample(g.coords[ax], 2)
            apply = [s.base for s in g.states if ax in s.axes]
            apply = rng.sample(apply, rng.randint(1, len(apply)))
            rate = g.plain_param()
            if rng.random() < 0.2:
                rate = f"{rate} * (1 + 0.5 * np.tanh(t / 50))"
                g.tag("np.tanh", "time")
            others = [
                a for a in names if a != ax and all(a in bases[b].axes for b in apply)
            ]
            if others and rng.random() < 0.15:
                base = g.indexed_param((others[0],))
                if base:
                    rate = f"{base}[{others[0]}]"
                    g.tag("coord_shift_indexed_rate")
            trs.insert(
                rng.randint(0, len(trs)),
                {"coord_shift": {ax: f"{c1} -> {c2}"}, "apply_to": apply, "rate": rate},
            )
            g.tag("coord_shift")
    if rng.random() < 0.25:
        plain = [s.base for s in g.states if not s.axes]
        if plain:
            block = _chain_block(g, plain, transitions=True)
            spec["chain"] = [block]
            g.tag("chain", "chain_transitions")
            name = block["name"]
            if rng.random() < 0.3:
                trs.append(
                    {
                        "from": f"{name}{block['length']}",
                        "to": rng.choice(plain),
                        "rate": g.plain_param(),
                    }
                )
                g.tag("chain_endpoint")
    spec["transitions"] = trs
    return spec


def _rate(g: Gen, bound: tuple[str, ...]) -> str:
    """A per-capita rate; 0.1.2 allows no sum_over/integrate_over in rates."""
    saved = g.reduction
    g.reduction = g.helper  # type: ignore[method-assign]
    try:
        return g.pos_expr(bound, 2)
    finally:
        g.reduction = saved  # type: ignore[method-assign]


def gen_flat_model(g: Gen) -> dict[str, Any]:
    """Per-cell expanded names and long sums, as a 0.1.2 user writes with a loop."""
    rng = g.rng
    n = rng.randint(10, 40)
    coords = [f"g{i}" for i in range(n)]
    g.axes.append({"name": "grp", "coords": coords})
    g.coords["grp"] = coords
    n2 = rng.choice([1, 2, 3, 5])
    s_obj = Obj("S", ("grp",))
    i_obj = Obj("I", ("grp",))
    g.states = [s_obj, i_obj]
    spec: dict[str, Any] = {
        "kind": "expr",
        "axes": g.axes,
        "state": ["S[grp]", "I[grp]"],
    }
    g.tag("flat_name", "long_sum", "templated_state", "kind_expr")
    if n2 > 1:
        g.axes.append({"name": "k", "coords": [f"c{j}" for j in range(n2)]})
        g.coords["k"] = [f"c{j}" for j in range(n2)]
        g.states.append(Obj("R", ("grp", "k")))
        spec["state"].append("R[grp,k]")
        g.tag("templated_state_2d")
    all_cells = [c for s in g.states for c in s.cells(g)]
    i_cells = i_obj.cells(g)
    terms = [
        f"{rng.choice(['0.5', '0.25', '2'])} * {c}" if rng.random() < 0.3 else c
        for c in all_cells
    ]
    aliases = {"N": " + ".join(terms), "Itot": " + ".join(i_cells)}
    g.aliases = [Obj("N"), Obj("Itot")]
    spec["aliases"] = aliases
    eqs: dict[str, str] = {}
    if rng.random() < 0.5:
        eqs["S[grp]"] = "-beta * S[grp] * Itot / N"
        g.tag("templated_equation")
    else:
        for c in s_obj.cells(g):
            eqs[c] = f"-beta * {c} * Itot / N"
        g.tag("per_cell_equations")
    for ci, si in zip(i_cells, s_obj.cells(g)):
        eqs[ci] = f"beta * {si} * Itot / N - gamma * {ci}"
    if n2 > 1:
        eqs["R[grp,k]"] = "gamma * I[grp] / 3 - mu * R[grp,k]"
    if rng.random() < 0.5:
        # one long explicit sum directly in an equation
        c0 = i_cells[0]
        eqs[c0] = f"beta * S__grp_g0 * ({' + '.join(all_cells)}) / N - gamma * {c0}"
    spec["equations"] = eqs
    return spec


# ---------------------------------------------------------------------------
# mutants (expected rejections)
# ---------------------------------------------------------------------------

MUTANTS = [
    "missing_equation",
    "unknown_equation_key",
    "syntax_error",
    "disallowed_call",
    "bare_call",
    "unknown_kind",
    "duplicate_state",
    "transition_unknown_state",
    "alias_cycle",
    "sum_over_continuous",
    "integrate_over_categorical",
    "unknown_axis_template",
    "ext:not",
    "ext:literal_index",
    "ext:positional_index",
    "ext:sum_over_in_rate",
    "ext:nested_sum_over",
    "ext:kernel_twice_indexed",
    "ext:reserved_state_name",
    "ext:alias_shadows_state",
]


def gen_mutant(g: Gen) -> dict[str, Any]:
    """A small spec with one construct 0.1.2 or op_system is expected to reject."""
    rng = g.rng
    which = rng.choice(MUTANTS)
    g.tag("mutant", f"mutant:{which}")
    age = {"name": "age", "coords": ["y", "o"]}
    vax = {"name": "vax", "coords": ["u", "v"]}
    x = {"name": "x", "type": "continuous", "coords": [0, 1, 3]}
    sir = {
        "state": ["S", "I", "R"],
        "equations": {
            "S": "-beta * S * I",
            "I": "beta * S * I - gamma * I",
            "R": "gamma * I",
        },
    }
    if which == "missing_equation":
        del sir["equations"]["R"]
        return sir
    if which == "unknown_equation_key":
        sir["equations"]["Z"] = "0"
        return sir
    if which == "syntax_error":
        sir["equations"]["I"] = "beta * * S"
        return sir
    if which == "disallowed_call":
        sir["equations"]["I"] = rng.choice(
            ["np.load('x')", "np.sum(S)", "os.system('x')"]
        )
        return sir
    if which == "bare_call":
        sir["equations"]["I"] = rng.choice(["abs(S)", "max(S, I)"])
        return sir
    if which == "unknown_kind":
        return {"kind": "odes", **sir}
    if which == "duplicate_state":
        sir["state"] = ["S", "I", "S"]
        return sir
    if which == "transition_unknown_state":
        return {
            "kind": "transitions",
            "state": ["S", "I"],
            "transitions": [{"from": "S", "to": "Z", "rate": "beta"}],
        }
    if which == "alias_cycle":
        return {
            "state": ["S"],
            "aliases": {"a": "b + 1", "b": "2 * a"},
            "equations": {"S": "a * S"},
        }
    if which == "sum_over_continuous":
        return {
            "axes": [x],
            "state": ["u[x]"],
            "equations": {"u[x]": "sum_over(x=jj, u[x=jj])"},
        }
    if which == "integrate_over_categorical":
        return {
            "axes": [age],
            "state": ["S[age]"],
            "equations": {"S[age]": "integrate_over(age=jj, S[age=jj])"},
        }
    if which == "unknown_axis_template":
        return {"axes": [age], "state": ["S[grp]"], "equations": {"S[grp]": "0"}}
    if which == "ext:not":
        sir["equations"]["R"] = "gamma * I * (not S > I)"
        return sir
    if which == "ext:literal_index":
        return {
            "axes": [age, vax],
            "state": ["I[age,vax]"],
            "equations": {"I[age,vax]": "-k * I[vax=u]"},
        }
    if which == "ext:positional_index":
        return {
            "axes": [age, vax],
            "state": ["I[age,vax]"],
            "aliases": {"tot[age]": "sum_over(vax=jj, I[age,jj])"},
            "equations": {"I[age,vax]": "-k * tot[age]"},
        }
    if which == "ext:sum_over_in_rate":
        return {
            "kind": "transitions",
            "axes": [age],
            "state": ["S[age]", "I[age]"],
            "transitions": [
                {
                    "from": "S[age]",
                    "to": "I[age]",
                    "rate": "beta * sum_over(age=jj, I[age=jj]) / sum_state()",
                }
            ],
        }
    if which == "ext:nested_sum_over":
        return {
            "axes": [age, vax],
            "state": ["I[age]", "J[vax]"],
            "aliases": {"tot": "sum_over(age=aa, sum_over(vax=bb, J[vax=bb]))"},
            "equations": {"I[age]": "-k * tot", "J[vax]": "0"},
        }
    if which == "ext:kernel_twice_indexed":
        return {
            "axes": [x],
            "state": ["u[x]"],
            "equations": {
                "u[x]": "integrate_over(x=ii, K[x, x=ii] * u[x=ii]) - d * u[x]"
            },
        }
    if which == "ext:reserved_state_name":
        name = rng.choice(["sum_state", "sum_prefix", "xp"])
        return {"state": ["S", name], "equations": {"S": "-k * S", name: "0"}}
    # ext:alias_shadows_state
    return {
        "state": ["S", "I"],
        "aliases": {"I": "2 * S"},
        "equations": {"S": "-k * S", "I": "k * S"},
    }


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------


def generate_case(seed: int, index: int) -> dict[str, Any]:
    """One case, determined by `(seed, index)` alone."""
    rng = random.Random(f"{seed}:{index}")
    g = Gen(rng)
    r = rng.random()
    if r < REJECT_RATE:
        spec = gen_mutant(g)
    elif r < REJECT_RATE + 0.08:
        spec = gen_flat_model(g)
    elif r < 0.6:
        spec = gen_expr_model(g)
    else:
        spec = gen_transitions_model(g)
    return {"id": f"s{seed}-{index:05d}", "constructs": sorted(g.tags), "spec": spec}


def generate_cases(n: int, seed: int, start: int = 0) -> list[dict[str, Any]]:
    """`n` cases for `seed` (indices `start .. start + n - 1`)."""
    return [generate_case(seed, i) for i in range(start, start + n)]


if __name__ == "__main__":  # pragma: no cover - manual inspection
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    json.dump(generate_cases(n, seed), sys.stdout, indent=1)
    print()
