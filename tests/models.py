"""Named test models: each function returns a fresh spec dict, which a test may change.

The README's SIR in its forms, the small age SEIR with a contact matrix (and its
incidence counters), a chain, an SIR with births and deaths, competing exits. A
test that needs a variant builds it from one of these (`{**sir(), "x": ...}`) so
that what it varies is visible. `ALL` names every model (for tests that run over
all of them: `tests/views/test_latex.py` reads each one's LaTeX back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Spec = dict[str, Any]


def sir() -> Spec:
    """The README's quick-start SIR: kind expr, frequency dependent through `N`."""
    return {
        "kind": "expr",
        "state": ["S", "I", "R"],
        "aliases": {"N": "S + I + R"},
        "equations": {
            "S": "-beta * S * I / N",
            "I": "beta * S * I / N - gamma * I",
            "R": "gamma * I",
        },
    }


def sir_mass_action() -> Spec:
    """SIR with mass-action incidence `beta*S*I`, kind expr."""
    return {
        "kind": "expr",
        "state": ["S", "I", "R"],
        "equations": {"S": "-beta*S*I", "I": "beta*S*I - gamma*I", "R": "gamma*I"},
    }


def sir_transitions() -> Spec:
    """`sir_mass_action` as transitions: `S -> I` at `beta*I`, `I -> R` at `gamma`."""
    return {
        "kind": "transitions",
        "state": ["S", "I", "R"],
        "transitions": [
            {"from": "S", "to": "I", "rate": "beta*I"},
            {"from": "I", "to": "R", "rate": "gamma"},
        ],
    }


def seir_age(*, recovery_named: bool = False) -> Spec:
    """Age SEIR (`y`, `o`) with a contact matrix `C[age, j]`; `infection` and
    `onset` named (and `recovery` if asked)."""
    recovery: dict[str, Any] = {"from": "I[age]", "to": "R[age]", "rate": "gamma"}
    if recovery_named:
        recovery = {**recovery, "name": "recovery"}
    return {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ["y", "o"]}],
        "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
        "transitions": [
            {
                "name": "infection",
                "from": "S[age]",
                "to": "E[age]",
                "rate": "beta * sum_over(age=j, C[age, j] * I[j]) / sum_state()",
            },
            {"name": "onset", "from": "E[age]", "to": "I[age]", "rate": "sigma"},
            recovery,
        ],
    }


def seir_age_counted() -> Spec:
    """`seir_age` with three incidence counters: cases, onsets, and events
    (infections and recoveries)."""
    return {
        **seir_age(recovery_named=True),
        "incidence": {
            "cases": "infection",
            "onsets": ["onset"],
            "events": ["infection", "recovery"],
        },
    }


def sir_age_vital() -> Spec:
    """Age SIR with a contact matrix, births into `S`, deaths out of `R`, and a
    `cases` counter."""
    return {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ["y", "o"]}],
        "state": ["S[age]", "I[age]", "R[age]"],
        "transitions": [
            {
                "name": "infection",
                "from": "S[age]",
                "to": "I[age]",
                "rate": "beta * sum_over(age=j, C[age, j] * I[j]) / sum_state()",
            },
            {"name": "recovery", "from": "I[age]", "to": "R[age]", "rate": "gamma"},
            {"name": "birth", "from": None, "to": "S[age]", "rate": "nu"},
            {"name": "death", "from": "R[age]", "to": None, "rate": "mu"},
        ],
        "incidence": {"cases": "infection"},
    }


def chain() -> Spec:
    """`S -> E1 -> E2 -> E3 -> R`: a three-stage chain entered at a rate that
    reads the chain's own total."""
    return {
        "kind": "transitions",
        "state": ["S", "R"],
        "chain": [
            {
                "name": "E",
                "length": 3,
                "entry": {"from": "S", "rate": "beta * sum_prefix('E') / sum_state()"},
                "forward": "sigma",
                "exit": {"to": "R"},
            }
        ],
    }


def competing() -> Spec:
    """Competing exits out of `X` into `A` (rate `a`) and `B` (rate `b`)."""
    return {
        "kind": "transitions",
        "state": ["X", "A", "B"],
        "transitions": [
            {"name": "to_a", "from": "X", "to": "A", "rate": "a"},
            {"name": "to_b", "from": "X", "to": "B", "rate": "b"},
        ],
    }


ALL: dict[str, Callable[[], Spec]] = {
    f.__name__: f
    for f in (
        sir,
        sir_mass_action,
        sir_transitions,
        seir_age,
        seir_age_counted,
        sir_age_vital,
        chain,
        competing,
    )
}
