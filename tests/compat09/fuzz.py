"""A differential fuzzer: random op-system 0.9.0-dialect specs, run in the real
0.9.0 and in this project's op_system, compared.

Run from the repository root with the project's interpreter::

    PYTHONPATH=src .venv/bin/python tests/compat09/fuzz.py --n 500 --seed 1
    PYTHONPATH=src .venv/bin/python tests/compat09/fuzz.py --record   # -> fuzz-0.9.0.json

The real 0.9.0 runs in a separate interpreter (``--venv09``, default
``/work/venv09/bin/python``; never imported here): one long-lived worker process
(this file with ``--worker``) reads one spec a line and answers with 0.9.0's
outcome, so a batch of thousands of specs costs one interpreter start. The worker
compiles each spec with 0.9.0's ``compile_spec`` and, when accepted, evaluates it
at a seeded random point, exactly as ``harvest.py`` records ``refs.json`` (the
same ``evaluate``: ``t``, ``y ~ U[0.5, 2]``, every required parameter
``~ U[0.1, 0.9]`` at 0.9.0's shapes, observables too). This process then runs
the same spec at the same inputs with ``op_system`` (``compare.check``) and
sorts each spec into one of:

* ``agree``: both accept, same state names, ``dydt`` equal at rtol 1e-10 (and
  every observable both evaluate equal too);
* ``DIFFER`` / ``NAMES`` / ``OBS_DIFFER``: both accept and the numbers, the
  state names or an observable's values differ: a bug. Each is shrunk (parts of
  the spec removed while the disagreement stays) and printed as a reproducer;
* ``we_reject``: 0.9.0 evaluates it, we refuse it (fine, grouped by our reason);
* ``they_reject_we_accept``: 0.9.0 refuses it, we compile it (grouped by 0.9.0's
  reason: checks still to build, or a spec outside 0.9.0's language);
* ``both_reject``; ``their_eval_error`` (0.9.0 compiles but cannot evaluate);
  ``our_eval_error`` (we compile but fail to evaluate at 0.9.0's inputs).

The generator covers what op_system reads of 0.9.0's language: categorical and
ordinal axes; templated states; transitions with templated or pinned endpoints,
sources without ``from``, sinks; ``X[ax:var]`` selectors in body-first
``sum_over(body, ax=var)`` and ``apply_along(body, ax=var, kernel=sum)``;
routing ``X[loc, imm:i] -> X[loc, imm:j]`` at ``G[imm:i, imm:j]``; target-only
fan-out ``I[loc] -> X[loc, imm:j]``; axis-wide and pairwise ``coord_shift``;
expr-kind ``equations`` with ``aliases``; observables written as mappings
``{expr, axes, reduction: {kind: sum, axes}}``. Some draws are deliberately at
the edges (a rate that reads a pinned axis, an axis-wide shift over a
categorical axis, a state's axes in another order) so both sides' refusals are
exercised too.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
VENV09 = "/work/venv09/bin/python"
RECORD = HERE / "fuzz-0.9.0.json"
RECORD_SEED = 9
RECORD_N = 300
RTOL = 1e-10
ATOL = 1e-12

#: Disagreements the fuzzer found (shrunk), recorded with the batch so the replay
#: test keeps them fixed: each spec as drawn, and why it disagreed.
FOUND: list[tuple[str, dict[str, Any]]] = [
    (
        # a reduction's kernel reads the placeholder of an axis the endpoint pins:
        # 0.9.0 reads it at the pinned cell; we read the kernel's diagonal
        "pinned-axis placeholder inside a reduction over that axis (source)",
        {
            "kind": "transitions",
            "axes": [
                {"name": "loc", "coords": ["TX"]},
                {"name": "vax", "coords": ["u", "w"]},
            ],
            "state": ["S[loc,vax]"],
            "transitions": [
                {
                    "to": "S[loc, vax=u]",
                    "rate": "p0[loc] * k1 / (1 + apply_along(p2[vax, vax:i] * S[loc, vax:i], vax=i))",
                }
            ],
        },
    ),
    (
        "pinned-axis placeholder inside a reduction over that axis (move)",
        {
            "kind": "transitions",
            "axes": [{"name": "vax", "coords": ["u", "w"]}],
            "state": ["S[vax]", "R[vax]"],
            "transitions": [
                {
                    "name": "t",
                    "from": "S[vax=u]",
                    "to": "R[vax=u]",
                    "rate": "sum_over(p[vax, vax:i] * S[vax:i], vax=i)",
                }
            ],
        },
    ),
    (
        "pinned-axis placeholder inside a reduction over that axis (power)",
        {
            "kind": "transitions",
            "axes": [{"name": "imm", "coords": ["x0", "x2"]}],
            "state": ["S[imm]", "R[imm]"],
            "transitions": [
                {
                    "to": "R[imm=x0]",
                    "rate": "apply_along(p0[imm, imm:i] * S[imm:i], imm=i)**2",
                }
            ],
        },
    ),
]

# --- the generator ----------------------------------------------------------------

AXIS_POOL: dict[str, tuple[str, list[str]]] = {
    "loc": ("categorical", ["CA", "NY", "TX", "WA"]),
    "age": ("ordinal", ["a0", "a1", "a2", "a3", "a4"]),
    "imm": ("ordinal", ["x0", "x1", "x2", "x3"]),
    "vax": ("categorical", ["u", "v", "w"]),
}
BASES = ["S", "E", "I", "R", "X", "V", "D", "Q"]
VARS = ["i", "j", "k", "m"]


class Gen:
    """One random spec: the axes, states and parameters it has drawn so far."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.axes: dict[str, dict[str, Any]] = {}
        self.states: dict[str, tuple[str, ...]] = {}
        self.aliases: dict[str, tuple[str, ...]] = {}
        self.params: dict[str, tuple[str, ...]] = {}

    # small draws
    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, items: list[Any]) -> Any:
        return items[int(self.rng.integers(len(items)))]

    def subset(
        self, items: tuple[str, ...] | list[str], p: float = 0.5
    ) -> tuple[str, ...]:
        return tuple(x for x in items if self.chance(p))

    def coords(self, axis: str) -> list[str]:
        return list(self.axes[axis]["coords"])

    # building blocks
    def new_axes(self) -> None:
        count = self.pick([1, 1, 2, 2, 2, 3])
        names = list(AXIS_POOL)
        self.rng.shuffle(names)
        for name in sorted(names[:count], key=list(AXIS_POOL).index):
            kind, pool = AXIS_POOL[name]
            if name == "age" and self.chance(0.3):
                kind = "categorical"
            size = int(self.rng.integers(2, min(len(pool), 4) + 1))
            axis: dict[str, Any] = {"name": name, "coords": pool[:size]}
            if kind == "ordinal" or self.chance(0.3):
                axis = {"name": name, "type": kind, "coords": pool[:size]}
            self.axes[name] = axis

    def new_states(self, count: int) -> None:
        bases = list(BASES)
        self.rng.shuffle(bases)
        all_axes = tuple(self.axes)
        for base in bases[:count]:
            axes = self.subset(all_axes, 0.7) if all_axes else ()
            if not axes and all_axes and self.chance(0.7):
                axes = (self.pick(list(all_axes)),)
            if len(axes) > 1 and self.chance(0.3):
                axes = tuple(reversed(axes))  # names expand over a state's own order
            self.states[base] = axes

    def state_decl(self, base: str) -> str:
        axes = self.states[base]
        return f"{base}[{','.join(axes)}]" if axes else base

    def param(self, axes: tuple[str, ...]) -> str:
        """A parameter read over `axes` (a new name, or one already read so)."""
        same = [n for n, a in self.params.items() if a == axes]
        if same and self.chance(0.4):
            return str(self.pick(same))
        name = f"{'k' if not axes else 'p'}{len(self.params)}"
        self.params[name] = axes
        return name

    def param_ref(self, free: tuple[str, ...]) -> str:
        axes = self.subset(free, 0.5)
        name = self.param(axes)
        return f"{name}[{', '.join(axes)}]" if axes else name

    def ref(self, base: str, axes: tuple[str, ...], bound: dict[str, str]) -> str:
        """`base` read at its axes: free ones by name, bound ones at `ax:var`."""
        if not axes:
            return base
        parts = [f"{a}:{bound[a]}" if a in bound else a for a in axes]
        return f"{base}[{', '.join(parts)}]"

    def reduction(self, free: tuple[str, ...]) -> str | None:
        """A body-first `sum_over` / `apply_along` over one or two axes of a state."""
        candidates = [b for b, a in self.states.items() if a]
        if not candidates:
            return None
        base = self.pick(candidates)
        axes = self.states[base]
        # every axis of the state not free here must be bound; a free one may be
        bound_axes = [a for a in axes if a not in free or self.chance(0.4)]
        if not bound_axes:
            bound_axes = [self.pick(list(axes))]
        # its own variables, or others than a routing's `i`/`j` (0.9.0 refuses a
        # routing rate that reuses them)
        names = VARS if self.chance(0.5) else ["m", "n", "q", "z"]
        bound = {a: names[i] for i, a in enumerate(bound_axes)}
        body = self.ref(base, axes, bound)
        if self.chance(0.6):
            # a kernel: C[a, a:j] (a free here) or a weight over the bound cells
            a = self.pick(bound_axes)
            if a in free and self.chance(0.6):
                name = self.param((a, a))
                body = f"{name}[{a}, {a}:{bound[a]}] * {body}"
            else:
                name = self.param((a,))
                body = f"{name}[{a}:{bound[a]}] * {body}"
        if self.chance(0.2):
            # a second state over the same bound cells: S[age:j] * I[age:j]
            more = [
                b
                for b, a in self.states.items()
                if set(bound) <= set(a) <= set(bound) | set(free)
            ]
            if more:
                other = self.pick(more)
                body = f"{body} * {self.ref(other, self.states[other], bound)}"
        binds = ", ".join(f"{a}={v}" for a, v in bound.items())
        form = self.pick(["sum_over", "apply_along", "apply_along_sum"])
        if form == "sum_over":
            return f"sum_over({body}, {binds})"
        if form == "apply_along":
            return f"apply_along({body}, {binds})"
        return f"apply_along({body}, {binds}, kernel=sum)"

    def factor(self, free: tuple[str, ...], states: bool = True) -> str:
        roll = self.rng.random()
        if roll < 0.35 or not states:
            return self.param_ref(free)
        if roll < 0.6:
            fits = [b for b, a in self.states.items() if set(a) <= set(free)]
            fits += [n for n, a in self.aliases.items() if set(a) <= set(free)]
            if fits:
                name = self.pick(fits)
                axes = self.states.get(name, self.aliases.get(name, ()))
                return self.ref(name, axes, {})
            return self.param_ref(free)
        if roll < 0.7:
            # a state read at one coordinate of an axis: `I[age:a2]` (0.9.0) or `I[age=a2]`
            fits = [b for b, a in self.states.items() if a and set(a) - set(free)]
            if fits:
                base = self.pick(fits)
                axes = self.states[base]
                parts = []
                for a in axes:
                    if a in free and self.chance(0.7):
                        parts.append(a)
                    else:
                        spell = (
                            ":" if self.chance(0.85) else "="
                        )  # `=`: 0.1.2's spelling
                        parts.append(f"{a}{spell}{self.pick(self.coords(a))}")
                return f"{base}[{', '.join(parts)}]"
        if roll < 0.9:
            red = self.reduction(free)
            return red if red is not None else self.param_ref(free)
        return f"{self.rng.uniform(0.1, 3):.3g}"

    def term(self, free: tuple[str, ...], states: bool = True) -> str:
        factors = [self.factor(free, states) for _ in range(self.pick([1, 1, 2, 2, 3]))]
        if self.chance(0.08):
            factors[0] = f"{factors[0]}**2"
        if self.chance(0.01):
            # NumPy calls: 0.9.0 cannot vectorize them in a spec with axes (rare here)
            factors[-1] = self.pick(
                [
                    f"np.exp(-{self.param_ref(free)})",
                    f"np.maximum({self.factor(free)}, {self.param_ref(free)})",
                    f"np.where({self.factor(free)} > 0.5, {self.param_ref(free)}, 1.0)",
                ]
            )
        text = " * ".join(factors)
        if self.chance(0.08):
            text = f"-{text}"
        if self.chance(0.1):
            text = f"{text} / (1 + {self.factor(free, states)})"
        return text

    def expression(self, free: tuple[str, ...], states: bool = True) -> str:
        terms = [self.term(free, states) for _ in range(self.pick([1, 1, 2, 3]))]
        text = terms[0]
        for t in terms[1:]:
            text += f" {self.pick(['+', '-'])} {t}"
        return text

    def new_aliases(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for n in range(self.pick([0, 0, 1, 2])):
            axes = self.subset(tuple(self.axes), 0.5)
            name = f"L{n}"
            key = f"{name}[{','.join(axes)}]" if axes else name
            out[key] = self.expression(axes)
            self.aliases[name] = axes  # later aliases and every equation may read it
        return out

    def observables(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n in range(self.pick([0, 0, 1, 2])):
            base = self.pick(list(self.states))
            axes = self.states[base]
            keep = self.subset(axes, 0.4)
            reduce_ = tuple(a for a in axes if a not in keep)
            expr = self.ref(base, axes, {})
            readable = [n for n, a in self.aliases.items() if set(a) <= set(axes)]
            if readable and self.chance(0.05):  # 0.9.0 refuses an alias here
                alias = self.pick(readable)
                expr = f"{expr} + {self.ref(alias, self.aliases[alias], {})}"
            if self.chance(0.4):
                expr = f"{self.param_ref(keep)} * {expr}"
            obs: dict[str, Any] = {"expr": expr}
            if len(keep) > 1 and self.chance(0.4):
                keep = tuple(reversed(keep))  # the output's axes in another order
            if keep:
                obs["axes"] = list(keep)
            if reduce_:
                obs["reduction"] = {"kind": "sum", "axes": list(reduce_)}
            out[f"obs{n}"] = obs
        return out

    # transitions
    def endpoint(self, base: str, pins: dict[str, str], sel: dict[str, str]) -> str:
        axes = self.states[base]
        if not axes:
            return base
        parts = []
        for a in axes:
            if a in pins:
                # `a=c` pins; `a:c` in an endpoint is a routing alias to 0.9.0
                parts.append(f"{a}:{pins[a]}" if self.chance(0.1) else f"{a}={pins[a]}")
            elif a in sel:
                parts.append(f"{a}:{sel[a]}")
            else:
                parts.append(a)
        return f"{base}[{', '.join(parts)}]"

    def plain_transition(self) -> dict[str, Any]:
        src = self.pick(list(self.states))
        same = [b for b, a in self.states.items() if set(a) == set(self.states[src])]
        dst = self.pick(same)
        pins: dict[str, str] = {}
        axes = self.states[src]
        if axes and self.chance(0.3):
            a = self.pick(list(axes))
            pins[a] = self.pick(self.coords(a))
        free = tuple(a for a in axes if a not in pins)
        if pins and self.chance(0.15):
            free = axes  # a rate reading a pinned axis (0.9.0 reads it at the pin)
        out: dict[str, Any] = {
            "from": self.endpoint(src, pins, {}),
            "to": self.endpoint(dst, pins, {}),
            "rate": self.expression(free),
        }
        if dst == src:  # no flow from a cell into itself (it cancels, up to rounding)
            others = [b for b in same if b != src]
            if others:
                out["to"] = self.endpoint(self.pick(others), pins, {})
            elif pins:  # the same state: to another cell of the pinned axis
                ((a, c0),) = pins.items()
                c1 = self.pick([c for c in self.coords(a) if c != c0])
                out["to"] = self.endpoint(src, {a: c1}, {})
            elif axes:  # the same state: move between two cells of one axis
                a = self.pick(list(axes))
                c0, c1 = self.rng.choice(self.coords(a), size=2, replace=False)
                out["from"] = self.endpoint(src, {a: str(c0)}, {})
                out["to"] = self.endpoint(src, {a: str(c1)}, {})
                out["rate"] = self.expression(tuple(x for x in axes if x != a))
            else:
                del out["from"]  # an axis-less state alone: a source instead
        return out

    def source(self) -> dict[str, Any]:
        dst = self.pick(list(self.states))
        out: dict[str, Any] = {"to": self.endpoint(dst, {}, {})}
        if self.chance(0.2):
            out = {"from": None, **out}
        out["rate"] = self.expression(self.states[dst])
        return out

    def sink(self) -> dict[str, Any]:
        src = self.pick(list(self.states))
        out: dict[str, Any] = {
            "from": self.endpoint(src, {}, {}),
            "rate": self.expression(self.states[src]),
        }
        if self.chance(0.3):
            out["to"] = None
        return out

    def routed_axis(self) -> str | None:
        ordinal = [n for n, a in self.axes.items() if a.get("type") == "ordinal"]
        any_axis = list(self.axes)
        pool = ordinal if ordinal and self.chance(0.85) else any_axis
        return self.pick(pool) if pool else None

    def routing(self) -> dict[str, Any] | None:
        r = self.routed_axis()
        holders = [b for b, a in self.states.items() if r in a]
        if r is None or not holders:
            return None
        src = self.pick(holders)
        same = [b for b in holders if set(self.states[b]) == set(self.states[src])]
        dst = src if self.chance(0.6) else self.pick(same)
        others = tuple(a for a in self.states[src] if a != r)
        pin_from: dict[str, str] = {}
        pin_to: dict[str, str] = {}
        if others and self.chance(0.2):
            # between two cells of another axis too: X[vax=u, imm:i] -> X[vax=v, imm:j]
            a = self.pick(list(others))
            c0, c1 = self.rng.choice(self.coords(a), size=2, replace=False)
            pin_from, pin_to = {a: str(c0)}, {a: str(c1)}
            others = tuple(x for x in others if x != a)
        if self.chance(0.15):
            # fan-in: the target lacks the routed axis, the rate reads the source's alias
            sinks = [
                b
                for b, a in self.states.items()
                if set(a) == set(self.states[src]) - {r}
            ]
            if sinks and not pin_from:
                k = self.param((r,))
                return {
                    "from": self.endpoint(src, {}, {r: "i"}),
                    "to": self.endpoint(self.pick(sinks), {}, {}),
                    "rate": f"{self.param_ref(others)} * {k}[{r}:i]",
                }
        g = self.param((r, r))
        rate = f"{g}[{r}:i, {r}:j]"
        if self.chance(0.7):
            rate = f"{self.param_ref(others)} * {rate}"
        if self.chance(0.2):
            rate = f"{rate} * {self.factor(others)}"
        if self.chance(0.15):
            rate = f"{rate} * {self.param((r,))}[{r}:{self.pick(['i', 'j'])}]"
        return {
            "from": self.endpoint(src, pin_from, {r: "i"}),
            "to": self.endpoint(dst, pin_to, {r: "j"}),
            "rate": rate,
        }

    def fan_out(self) -> dict[str, Any] | None:
        r = self.routed_axis()
        if r is None:
            return None
        dsts = [b for b, a in self.states.items() if r in a]
        if not dsts:
            return None
        dst = self.pick(dsts)
        others = tuple(a for a in self.states[dst] if a != r)
        srcs = [b for b, a in self.states.items() if set(a) == set(others)]
        if not srcs:
            return None
        src = self.pick(srcs)
        k = self.param((r,))
        rate = f"{self.param_ref(others)} * {k}[{r}:j]"
        return {
            "from": self.endpoint(src, {}, {}),
            "to": self.endpoint(dst, {}, {r: "j"}),
            "rate": rate,
        }

    def shift_axis(self) -> str | None:
        ordinal = [n for n, a in self.axes.items() if a.get("type") == "ordinal"]
        pool = ordinal if ordinal and self.chance(0.9) else list(self.axes)
        return self.pick(pool) if pool else None

    def coord_shift(self) -> dict[str, Any] | None:
        a = self.shift_axis()
        holders = [b for b, ax in self.states.items() if a in ax]
        if a is None or not holders:
            return None
        apply_to = [b for b in holders if self.chance(0.6)] or [self.pick(holders)]
        common = set.intersection(*(set(self.states[b]) for b in apply_to))
        shift: dict[str, Any] = {"axis": a, "step": self.pick([1, 1, 1, 2, -1])}
        rate_axes = tuple(
            x for x in self.axes if x in common and (x == a or self.chance(0.3))
        )
        if self.chance(0.2):
            rate_axes = ()
        shift["rate"] = self.param_ref(rate_axes) if rate_axes else self.param(())
        if rate_axes and "[" not in shift["rate"]:
            name = self.param(rate_axes)
            shift["rate"] = f"{name}[{', '.join(rate_axes)}]"
        if self.chance(0.2):
            shift["rate"] = (
                f"{shift['rate']} * {self.factor(tuple(x for x in self.axes if x in common))}"
            )
        if self.chance(0.85):
            shift["boundary"] = self.pick(["absorb", "stay"])
        return {"coord_shift": shift, "apply_to": apply_to}

    def pairwise_shift(self) -> dict[str, Any] | None:
        a = self.shift_axis()
        holders = [b for b, ax in self.states.items() if a in ax]
        if a is None or not holders:
            return None
        coords = self.coords(a)
        i = int(self.rng.integers(len(coords) - 1))
        pairs = f"{coords[i]} -> {coords[i + 1]}"
        apply_to = [b for b in holders if self.chance(0.6)] or [self.pick(holders)]
        common = set.intersection(*(set(self.states[b]) for b in apply_to))
        rate_axes = tuple(x for x in self.axes if x in common and self.chance(0.4))
        return {
            "coord_shift": {a: pairs},
            "rate": self.param_ref(rate_axes) if rate_axes else self.param(()),
            "apply_to": apply_to,
        }

    def transitions(self) -> list[dict[str, Any]]:
        makers: list[tuple[float, Callable[[], dict[str, Any] | None]]] = [
            (0.3, self.plain_transition),
            (0.1, self.source),
            (0.04, self.sink),  # 0.9.0 has no sinks: `to` must name a state
            (0.2, self.routing),
            (0.1, self.fan_out),
            (0.12, self.coord_shift),
            (0.08, self.pairwise_shift),
        ]
        weights = np.array([w for w, _ in makers])
        out: list[dict[str, Any]] = []
        for n in range(self.pick([1, 2, 2, 3, 3, 4])):
            for _ in range(5):
                made = makers[
                    int(self.rng.choice(len(makers), p=weights / weights.sum()))
                ][1]()
                if made is not None:
                    out.append({"name": f"t{n}", **made})
                    break
        return out


def generate(seed: int) -> dict[str, Any]:
    """One random 0.9.0-dialect spec, a function of `seed` only."""
    g = Gen(np.random.default_rng(seed))
    g.new_axes()
    kind = "transitions" if g.chance(0.7) else "expr"
    g.new_states(g.pick([1, 2, 2, 3, 3, 4]))
    spec: dict[str, Any] = {"kind": kind, "axes": list(g.axes.values())}
    spec["state"] = [g.state_decl(b) for b in g.states]
    aliases = g.new_aliases()
    if aliases:
        spec["aliases"] = aliases
    if kind == "expr":
        spec["equations"] = {
            g.state_decl(b): g.expression(a) for b, a in g.states.items()
        }
    else:
        spec["transitions"] = g.transitions()
    observables = g.observables()
    if observables:
        spec["observables"] = observables
    return spec


# --- the 0.9.0 side: a worker process in its venv ------------------------------------


def worker_main() -> None:
    """Run under 0.9.0's interpreter: one JSON request a line in, one answer a line out."""
    sys.path.insert(0, str(HERE))
    import harvest  # 0.9.0's recording function, the one refs.json was made with

    harvest.TIMEOUT_S = 30
    warnings.simplefilter("ignore")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = harvest.evaluate(request["spec"], request["seed"])
        except BaseException as exc:  # a crash of the recorder itself, kept apart
            out = {
                "accepted": None,
                "error": {
                    "class": f"worker:{type(exc).__name__}",
                    "message": str(exc)[:500],
                },
            }
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


class Upstream:
    """The long-lived 0.9.0 worker."""

    def __init__(self, python: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", JAX_PLATFORMS="cpu")
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            cwd=str(HERE),
        )
        self.calls = 0

    def run(self, spec: dict[str, Any], seed: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"spec": spec, "seed": seed}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the 0.9.0 worker exited")
        self.calls += 1
        return dict(json.loads(line))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


# --- our side and the verdict ---------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def _group(message: str) -> str:
    """A message with names, numbers and positions taken out, to group alike ones."""
    text = message.replace("Invalid op_system RHS specification. Detail: ", "")
    text = text.replace("Invalid op_system expression. Detail: ", "")
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"\"[^\"]*\"", "'…'", text)
    text = re.sub(r"\[[^\]]*\]", "[…]", text)
    text = re.sub(r"\d+", "N", text)
    return text[:110]


def _our_observables(case: dict[str, Any]) -> dict[str, Any] | str:
    """Our observables at the case's inputs, `{name: flat values}`, or why not."""
    import op_system

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compiled = op_system.compile_spec(copy.deepcopy(case["spec"]))
            names = list(compiled.observable_names)
            position = {n: i for i, n in enumerate(compiled.state_names)}
            order = [position[n] for n in case["state_names"]]
            y = np.empty(len(order))
            y[order] = np.asarray(case["inputs"]["y"], dtype=np.float64)
            params = {
                k: np.asarray(v, dtype=np.float64) if isinstance(v, list) else v
                for k, v in {
                    **case["inputs"]["params"],
                    **case["inputs"].get("observable_params", {}),
                }.items()
            }
            values = np.asarray(
                compiled.observables(case["inputs"]["t"], y, **params), dtype=np.float64
            ).ravel()
        except Exception as exc:
            return _first_line(exc)
    out: dict[str, list[float]] = {}
    for name, value in zip(names, values, strict=True):
        base = name.split("__", 1)[0]
        out.setdefault(base, []).append(float(value))
    return out


def verdict(case: dict[str, Any]) -> tuple[str, str]:
    """`(outcome, detail)` of one case: 0.9.0's recorded outcome against ours now."""
    from tests.compat09.compare import check

    import op_system

    if not case.get("accepted"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                op_system.compile_spec(copy.deepcopy(case["spec"]))
            except Exception as exc:
                return "both_reject", _group(_first_line(exc))
        error = case.get("error") or {}
        return "they_reject_we_accept", _group(
            f"{error.get('class')}: {error.get('message', '')}"
        )
    if case.get("dydt") is None:
        error = case.get("eval_error") or {}
        return "their_eval_error", _group(
            f"{error.get('class')}: {error.get('message', '')}"
        )
    got = check(case)
    status = got["status"]
    if status == "rejected":
        return "we_reject", _group(got["error"])
    if status == "eval_error":
        return "our_eval_error", _group(got["error"])
    if status == "different_names":
        return "NAMES", got["error"]
    if status == "differ":
        return "DIFFER", f"max |diff| {got.get('max_abs_diff')}"
    theirs = {
        n: np.asarray(
            [
                np.nan if v is None else v
                for v in np.ravel(np.asarray(o["value"], dtype=object))
            ],
            dtype=np.float64,
        )
        for n, o in (case.get("observables") or {}).items()
        if "value" in o
    }
    if theirs:
        ours = _our_observables(case)
        if isinstance(ours, str):
            return "our_observable_error", _group(ours)
        for name, value in theirs.items():
            mine = np.asarray(ours.get(name, []), dtype=np.float64)
            if mine.shape != value.shape or not np.allclose(
                mine, value, rtol=RTOL, atol=ATOL, equal_nan=True
            ):
                return (
                    "OBS_DIFFER",
                    f"{name}: ours {mine.tolist()} 0.9.0 {value.tolist()}",
                )
    return "agree", ""


BUGS = ("DIFFER", "NAMES", "OBS_DIFFER")


def our_dialect(spec: dict[str, Any]) -> str:
    """The language op_system reads `spec` in ("0.9" or "0.1"), or "?" if it cannot say."""
    from op_system._spec.dialect import spec_dialect

    try:
        return str(spec_dialect(spec))
    except Exception:
        return "?"


def as_0_9(case: dict[str, Any]) -> tuple[str, str]:
    """The verdict on `case` with `dialect: "0.9"` added for our side (0.9.0 refuses
    the key): does a disagreement go away when we read the spec in 0.9.0's language?"""
    return verdict({**case, "spec": {**case["spec"], "dialect": "0.9"}})


# --- shrinking ------------------------------------------------------------------------


def _candidates(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths of the parts of a spec whose removal gives a smaller spec."""
    if isinstance(value, dict):
        for key, item in value.items():
            if path == () and key in ("kind", "state"):
                yield from _candidates(item, (*path, key))
                continue
            if path == () and key in ("axes",):
                yield from _candidates(item, (*path, key))
                continue
            yield (*path, key)
            yield from _candidates(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*path, i)
            yield from _candidates(item, (*path, i))
    elif isinstance(value, str):
        # one top-level term of an expression, or a factor of a product
        for op in (" + ", " - ", " * "):
            if op in value:
                yield (*path, ("drop", op))


def _without(spec: Any, path: tuple[Any, ...]) -> Any | None:
    spec = copy.deepcopy(spec)
    parent = spec
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if isinstance(last, tuple):  # an expression edit: drop its last operand at `op`
        container = spec
        for key in path[:-2]:
            container = container[key]
        text = container[path[-2]]
        op = last[1]
        head, _, _ = text.rpartition(op)
        if head.count("(") != head.count(")"):
            return None
        container[path[-2]] = head
        return spec
    del parent[last]  # an item of a list, or a key of a mapping
    return spec


def shrink(
    case: dict[str, Any], upstream: Upstream, seed: int, budget: int = 300
) -> dict[str, Any]:
    """A smaller case with the same kind of disagreement (greedy, part by part)."""
    target = verdict(case)[0]
    dialect = our_dialect(case["spec"])
    params = set(case.get("inputs", {}).get("params", {}))
    best = case
    tries = 0
    changed = True
    while changed and tries < budget:
        changed = False
        for path in list(_candidates(best["spec"])):
            if tries >= budget:
                break
            smaller = _without(best["spec"], path)
            if smaller is None:
                continue
            tries += 1
            if our_dialect(smaller) != dialect:
                continue  # read in the other language: another disagreement
            trial = {"id": best["id"], "spec": smaller, **upstream.run(smaller, seed)}
            if not set(trial.get("inputs", {}).get("params", {})) <= params:
                continue  # a state or alias removed became a parameter
            if verdict(trial)[0] == target:
                best, changed = trial, True
                break
    return best


# --- driver ---------------------------------------------------------------------------


def spec_seed(seed: int, index: int) -> int:
    return (seed * 1_000_003 + index) % 2**32


def run_batch(
    upstream: Upstream,
    seed: int,
    n: int,
    report: Callable[[str], None] | None = None,
    indices: list[int] | None = None,
) -> list[dict[str, Any]]:
    """`n` cases (or those at `indices`): each spec with 0.9.0's recorded outcome
    (harvest's record format)."""
    cases = []
    for index in range(n) if indices is None else indices:
        s = spec_seed(seed, index)
        spec = generate(s)
        cases.append(
            {"id": f"fuzz-{seed}-{index}", "spec": spec, **upstream.run(spec, s)}
        )
        if report is not None and (index + 1) % 1000 == 0:
            report(f"  {index + 1}/{n} run in 0.9.0")
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="how many specs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--venv09", default=VENV09, help="0.9.0's interpreter")
    parser.add_argument(
        "--record",
        action="store_true",
        help=f"write {RECORD.name} ({RECORD_N} specs, seed {RECORD_SEED})",
    )
    parser.add_argument("--no-shrink", action="store_true")
    parser.add_argument(
        "--index", help="only the specs at these indices (comma-separated)"
    )
    parser.add_argument("--show", type=int, default=0, help="print the first N specs")
    parser.add_argument(
        "--examples", action="store_true", help="print the shortest spec of each group"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main()
        return
    sys.path.insert(0, str(HERE.parent.parent))
    for i in range(args.show):
        print(json.dumps(generate(spec_seed(args.seed, i))))
    upstream = Upstream(args.venv09)
    start = time.perf_counter()
    try:
        if args.record:
            cases = run_batch(upstream, RECORD_SEED, RECORD_N)
            found = [
                {"id": f"found-{i}", "why": why, "spec": spec, **upstream.run(spec, i)}
                for i, (why, spec) in enumerate(FOUND)
            ]
            RECORD.write_text(
                json.dumps(
                    {
                        "generator": "op-system==0.9.0",
                        "script": "tests/compat09/fuzz.py --record",
                        "seed": RECORD_SEED,
                        "n": RECORD_N,
                        "specs": cases,
                        "found": found,
                    },
                    indent=None,
                    separators=(",", ":"),
                ).replace('{"id":', '\n{"id":')
                + "\n",
                encoding="utf-8",
            )
            print(f"wrote {RECORD} ({len(cases)} specs)")
        else:
            indices = [int(i) for i in args.index.split(",")] if args.index else None
            cases = run_batch(upstream, args.seed, args.n, print, indices)
        elapsed = time.perf_counter() - start
        outcomes: dict[str, Counter[str]] = {}
        bugs: list[tuple[dict[str, Any], str, str]] = []
        shortest: dict[tuple[str, str], str] = {}
        for case in cases:
            outcome, detail = verdict(case)
            outcomes.setdefault(outcome, Counter())[detail] += 1
            text = json.dumps(case["spec"])
            if len(text) < len(shortest.get((outcome, detail), text + " ")):
                shortest[outcome, detail] = text
            if outcome in BUGS:
                bugs.append((case, outcome, detail))
        print(
            f"\n{len(cases)} specs, seed {args.seed if not args.record else RECORD_SEED},"
            f" {elapsed:.1f} s (with 0.9.0)"
        )
        for outcome in sorted(outcomes, key=lambda o: -sum(outcomes[o].values())):
            print(f"{sum(outcomes[outcome].values()):6d}  {outcome}")
        for outcome in sorted(outcomes):
            if outcome in ("agree", *BUGS):
                continue
            print(f"\n{outcome} (count, reason):")
            for reason, count in outcomes[outcome].most_common():
                print(f"  {count:5d}  {reason}")
                if args.examples:
                    print(f"         e.g. {shortest[outcome, reason]}")
        for case, outcome, detail in bugs:
            print(f"\n=== {outcome} {case['id']}: {detail}")
            print(
                f"    we read it as {our_dialect(case['spec'])}; with dialect: '0.9':"
                f" {as_0_9(case)}"
            )
            print("    spec as drawn = " + json.dumps(case["spec"]))
            small = (
                case
                if args.no_shrink
                else shrink(case, upstream, case["inputs"]["seed"])
            )
            print(f"    reproducer ({verdict(small)[0]}: {verdict(small)[1]}):")
            print("    spec = " + json.dumps(small["spec"]))
            print("    inputs = " + json.dumps(small["inputs"]))
            print("    0.9.0 state_names = " + json.dumps(small["state_names"]))
            print("    0.9.0 dydt = " + json.dumps(small["dydt"]))
        print(f"\n{len(bugs)} disagreement(s)")
    finally:
        upstream.close()


if __name__ == "__main__":
    main()
