"""Reactions with any stoichiometry: a transition written `reaction: "2 P -> P2"`.

The text is `reactants -> products`, each side terms joined by `+`, each term an
optional positive integer coefficient and a state (`2 P`, `2*P`, `2P`, `P`,
`I[age]`), or `0` (also `∅` or nothing) for no state: `0 -> 5 X` brings five
new individuals at every event, `X -> 0` removes one. The transition's `rate`
is the rate of one combination of reactants (mass action, as Gillespie's
stochastic rate constant): the deterministic flow is `rate * prod(X**c / c!)`,
the stochastic propensity `rate * prod(C(X, c))`, so `2 P -> P2` at rate `k`
flows at `k*P**2/2` in the ODE and fires at `k*P*(P-1)/2` in the SSA (see
`defs.Reaction`). With one reactant of coefficient one the two agree and a
reaction is exactly a transition (`P2 -> 2 P` at `k` flows at `k*P2`).

This module reads the text and makes the laws as expressions of the
language's IR (`build.py` then validates and binds them like any rate): every
reader of the model evaluates the same expressions, cell by cell or as arrays.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from .._lang.ir import BinOp, Name, Node, Num, Ref
from .._support.errors import SpecError
from .defs import Reaction

__all__ = ["parse_reaction", "reaction_laws"]

#: a term: an optional coefficient (`2`, `2*`, `2 `) then the state's text
_TERM = re.compile(r"^(?:(\d+)\s*\*?\s*)?([A-Za-z_].*)$", re.DOTALL)
#: texts of an empty side
_NOTHING = frozenset({"", "0", "∅", "null", "None"})


def _split_terms(side: str) -> list[str]:
    """`side` cut at its top-level `+` (not inside brackets: `I[age+1]`)."""
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in side:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "+" and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


def parse_reaction(text: object, path: str) -> tuple[list[tuple[str, int]], ...]:
    """`(reactants, products)` of a reaction text, each `[(state text, coefficient)]`
    in written order (a state written twice on one side adds up)."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(
            f"{path} must be a reaction string such as '2 P -> P2', got "
            f"{type(text).__name__} {text!r:.40}",
            path=path,
            token=repr(text)[:40],
        )
    if text.count("->") != 1:
        what = "no" if "->" not in text else "more than one"
        hint = " (write '=>' or '→' as '->')" if ("=>" in text or "→" in text) else ""
        raise SpecError(
            f"{path}={text!r} has {what} '->': a reaction is "
            f"'reactants -> products', e.g. '2 P -> P2' or '0 -> 5 X'{hint}",
            path=path,
            token=text,
        )
    sides = text.split("->")
    out: list[list[tuple[str, int]]] = []
    for side in sides:
        side = side.strip()
        terms: list[tuple[str, int]] = []
        if side not in _NOTHING:
            for term in _split_terms(side):
                terms.append(_term(term, text, path))
        merged: dict[str, int] = {}
        for name, coef in terms:
            merged[name] = merged.get(name, 0) + coef
        out.append(list(merged.items()))
    if not out[0] and not out[1]:
        raise SpecError(
            f"{path}={text!r} has no state on either side: a reaction needs a "
            "reactant or a product",
            path=path,
            token=text,
        )
    return out[0], out[1]


def _term(term: str, text: str, path: str) -> tuple[str, int]:
    m = _TERM.match(term)
    if not term or m is None:
        bad = term or "+"
        raise SpecError(
            f"{path}={text!r}: term {bad!r} is not a state with an optional "
            "positive integer coefficient ('2 P', 'P', 'I[age]'); write an empty "
            "side as '0'",
            path=path,
            token=bad,
        )
    coef = 1 if m.group(1) is None else int(m.group(1))
    if coef < 1:
        raise SpecError(
            f"{path}={text!r}: coefficient {m.group(1)} of {m.group(2).strip()!r} "
            "must be a positive integer (leave the term out for none)",
            path=path,
            token=term,
        )
    return m.group(2).strip(), coef


def _prod(nodes: list[Node]) -> Node:
    out = nodes[0]
    for n in nodes[1:]:
        out = BinOp("*", out, n)
    return out


def _power(x: Node, c: int) -> Node:
    """`x**c / c!`: the mass-action factor of `c` reactants in the ODE."""
    if c == 1:
        return x
    return BinOp("/", BinOp("**", x, Num(c)), Num(math.factorial(c)))


def _choose(x: Node, c: int) -> Node:
    """`x*(x-1)*...*(x-c+1) / c!`: the ways to pick `c` of `x` individuals (zero
    for counts below `c`)."""
    if c == 1:
        return x
    falling = _prod([x if i == 0 else BinOp("-", x, Num(i)) for i in range(c)])
    return BinOp("/", falling, Num(math.factorial(c)))


def reaction_laws(
    rate: Node,
    reactants: list[tuple[Name | Ref, int]],
    products: list[tuple[Name | Ref, int]],
    same: Callable[[Name | Ref, Name | Ref], bool],
    text: str,
) -> Reaction:
    """A reaction's laws (see `defs.Reaction`) at `rate` per combination.

    `same(a, b)` tells whether two written states are the same cells (a species
    on both sides: catalysts, `A + B -> 2 B`)."""
    flux = _prod([rate, *(_power(x, c) for x, c in reactants)])
    propensity = _prod([rate, *(_choose(x, c) for x, c in reactants)])
    # what the reaction takes, net, from each written state
    takes: list[tuple[Name | Ref, int, int]] = []  # (state, net taken, as reactant)
    for x, c in reactants:
        back = sum(pc for p, pc in products if same(p, x))
        if c > back:
            takes.append((x, c - back, c))
    consumed: Name | Ref | None = None
    chain_ok = True
    if not takes:  # new individuals only: a source of events
        per_capita = propensity
    elif len(takes) == 1 and takes[0][1] == 1 and takes[0][2] == 1:
        consumed = takes[0][0]
        others = [_choose(x, c) for x, c in reactants if x is not consumed]
        per_capita = _prod([rate, *others])
    else:
        per_capita, chain_ok = rate, False
    return Reaction(
        tuple(reactants),
        tuple(products),
        flux,
        propensity,
        per_capita,
        consumed,
        chain_ok,
        text,
    )
