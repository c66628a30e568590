"""The jvp's rule tables (`op_system._lower.jvp_rules`): they cover exactly the
language's functions and operators, and each rule agrees with a central finite
difference of the compiled right-hand side, in every argument.

Each rule is checked through a tiny spec whose first equation is the function of
the states `x`, `y` (and `z`), or of one state and a constant (the other
argument's tangent zero), by the compiled model's `jvp` along each unit vector,
at a few seeded random points inside the function's domain.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pytest

from op_system import compile_spec
from op_system._lang.ir import ALLOWED_FUNCS, BINARY_OPS
from op_system._lower.jvp_rules import (
    BINARY_RULES,
    FUNCTION_RULES,
    IF_RULE,
    UNARY_RULES,
    Rule,
)

STATES = ("x", "y", "z")


def _tangent_free(rules: dict[str, Rule]) -> set[str]:
    """The names whose result is piecewise constant: no argument has a tangent."""
    return {n for n, r in rules.items() if not {"x", "dx"} & set(r.roles)}


def test_function_rules_cover_exactly_the_allowed_functions() -> None:
    assert set(FUNCTION_RULES) == set(ALLOWED_FUNCS)
    for name, rule in FUNCTION_RULES.items():
        assert len(rule.roles) == ALLOWED_FUNCS[name], name
    # every allowed function is differentiable almost everywhere; `where` is
    # piecewise constant in its test only
    assert _tangent_free(FUNCTION_RULES) == set()
    assert FUNCTION_RULES["where"].roles == ("test", "dx", "dx")
    assert {n for n, r in FUNCTION_RULES.items() if "test" in r.roles} == {"where"}


def test_operator_rules_cover_exactly_the_operators() -> None:
    assert set(BINARY_RULES) == set(BINARY_OPS)
    assert all(len(r.roles) == 2 for r in BINARY_RULES.values())
    assert set(UNARY_RULES) == {"+", "-", "not"}
    assert _tangent_free(UNARY_RULES) == {"not"}  # a boolean: zero tangent
    assert IF_RULE.roles == ("test", "dx", "dx")


# (expression of the states, range the states are drawn from): each function in
# each differentiable argument, alone and with the others' tangents zero
_POS = (0.2, 2.0)
_ANY = (-2.0, 2.0)
_UNARY_CASES = [
    (f"np.{f}(x)", _POS if f in ("log", "log1p", "log2", "log10", "sqrt") else _ANY)
    for f, n in ALLOWED_FUNCS.items()
    if n == 1
]
_MULTI_CASES = [
    (f"np.{f}({args})", _ANY)
    for f in ("maximum", "minimum", "hypot", "arctan2")
    for args in ("x, y", "x, 0.7", "-0.3, y")
] + [
    ("np.clip(x, y, z)", _ANY),
    ("np.clip(x, -0.5, z)", _ANY),
    ("np.clip(0.4, y, z)", _ANY),
    ("np.where(z > 0, x * y, np.sin(y))", _ANY),
    ("np.where(x > y, 1.5, y)", _ANY),
]
_OPERATOR_CASES = [
    ("x + y", _ANY),
    ("x - y", _ANY),
    ("0.5 - y", _ANY),
    ("x * y", _ANY),
    ("x / y", _POS),
    ("2.0 / y", _POS),
    ("x ** y", _POS),
    ("x ** 3.0", _ANY),
    ("1.7 ** y", _ANY),
    ("x % y", _POS),
    ("3.0 % y", _POS),
    ("x % 0.3", _ANY),
    ("-(x * y)", _ANY),
    ("+(x * y)", _ANY),
    ("(not x > y) * y", _ANY),
    ("x * y if x > z else np.exp(y)", _ANY),
    ("(x > y and z) + (x - 3.0 or y)", _ANY),
]


def _spec(expr: str) -> dict[str, Any]:
    return {
        "kind": "expr",
        "state": list(STATES),
        "equations": {"x": expr, "y": "0.0 * y", "z": "0.0 * z"},
    }


def _check_against_finite_differences(expr: str, bounds: tuple[float, float]) -> None:
    c = compile_spec(_spec(expr))
    jvp, f = c.jvp(), c.eval_fn
    rng = np.random.default_rng(zlib.crc32(expr.encode()))  # seeded, per case
    for _ in range(4):
        y = rng.uniform(*bounds, size=len(STATES))
        for k in range(len(STATES)):
            e = np.zeros(len(STATES))
            e[k] = 1.0
            h = 1e-6 * max(1.0, abs(y[k]))
            fd = (f(0.0, y + h * e)[0] - f(0.0, y - h * e)[0]) / (2 * h)
            got = jvp(0.0, y, e)[0]
            assert got == pytest.approx(fd, rel=1e-6, abs=1e-7), (expr, y, k)


@pytest.mark.parametrize(
    ("expr", "bounds"),
    _UNARY_CASES + _MULTI_CASES,
    ids=[c[0] for c in _UNARY_CASES + _MULTI_CASES],
)
def test_function_rules_agree_with_finite_differences(
    expr: str, bounds: tuple[float, float]
) -> None:
    _check_against_finite_differences(expr, bounds)


@pytest.mark.parametrize(
    ("expr", "bounds"), _OPERATOR_CASES, ids=[c[0] for c in _OPERATOR_CASES]
)
def test_operator_rules_agree_with_finite_differences(
    expr: str, bounds: tuple[float, float]
) -> None:
    _check_against_finite_differences(expr, bounds)


def test_every_function_is_checked() -> None:
    checked = " ".join(e for e, _ in _UNARY_CASES + _MULTI_CASES)
    assert all(f"np.{f}(" in checked for f in ALLOWED_FUNCS)
