"""Syntax errors speak the spec language: Python's own hints never leak.

An unclosed parenthesis in `sum_over(age=j, I[age=j]` used to be reported as
Python's "Maybe you meant '==' or ':=' instead of '='?"; calls outside the
language (`np.exponential`, `sum_states`) had no suggestion.
"""

from __future__ import annotations

import pytest

from op_system import ExpressionError, compile_spec
from op_system._lang.parse import parse_expr

PYTHON_HINTS = (
    "Maybe you meant",
    "Perhaps you",
    "Did you mean print",
    "detected at line",
)


@pytest.mark.parametrize(
    ("text", "detail", "token", "column"),
    [
        ("sum_over(age=j, I[age=j]", "'(' is never closed", "(", 9),
        ("beta * (I / 2", "'(' is never closed", "(", 8),
        ("beta * I / 2)", "unmatched ')'", ")", 13),
        ("I[age=j)]", "')' does not close the '[' opened at column 2", ")", 8),
        ("beta * (I + S]", "']' does not close the '('", "]", 14),
    ],
)
def test_unbalanced_brackets_are_reported_at_the_bracket(
    text: str, detail: str, token: str, column: int
) -> None:
    with pytest.raises(ExpressionError) as err:
        parse_expr(text, path="equations['I']")
    assert detail in err.value.detail
    assert (err.value.token, err.value.pos) == (token, (1, column))


@pytest.mark.parametrize(
    "text",
    [
        "beta * (I = 2)",
        "sum_over(age=j I[age=j])",
        "print 'x'",
        "'abc",
        "a = 1",
        "beta I",
        "1 +* 2",
    ],
)
@pytest.mark.parametrize("dialect", ["0.1", "0.9"])
def test_no_python_hint_leaks(text: str, dialect: str) -> None:
    with pytest.raises(ExpressionError) as err:
        parse_expr(text, path="p", dialect=dialect)
    assert not any(h in str(err.value) for h in PYTHON_HINTS), str(err.value)


def test_a_misplaced_equals_sign_says_where_it_binds() -> None:
    with pytest.raises(ExpressionError, match=r"'=' binds an axis only in an index"):
        parse_expr("beta * (I = 2)")


@pytest.mark.parametrize(
    ("call", "meant"),
    [
        ("np.exponential(I)", "np.exp"),
        ("exp(I)", "np.exp"),
        ("math.exp(I)", "np.exp"),
        ("np.max(I, 1)", "np.maximum"),
        ("I / sum_states()", "sum_state"),
        ("sum_prefx('I')", "sum_prefix"),
    ],
)
def test_calls_outside_the_language_suggest_the_function_meant(
    call: str, meant: str
) -> None:
    spec = {"state": ["I"], "equations": {"I": f"-{call}"}}
    with pytest.raises(ExpressionError, match="disallowed function call") as err:
        compile_spec(spec)
    assert f"(did you mean '{meant}'?)" in str(err.value)
