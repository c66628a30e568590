"""`factorize_axes:` (`_core/factorize.py`): op-system 0.9.0's separability checks."""

from __future__ import annotations

from typing import Any

import pytest

from op_system import UnsupportedFeatureError, compile_spec, model_info


def spec(rate: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": [
            {"name": "loc", "coords": ["a", "b"]},
            {"name": "age", "coords": ["y", "o"]},
        ],
        "state": ["S[loc,age]", "I[loc,age]"],
        "transitions": [{"from": "S[loc,age]", "to": "I[loc,age]", "rate": rate}],
        "factorize_axes": ["loc"],
        **extra,
    }


def test_a_separable_declaration_is_kept() -> None:
    info = model_info(compile_spec(spec("beta * I[loc,age]")))
    assert info.factorize_axes == ("loc",)


@pytest.mark.parametrize(
    ("rate", "extra", "message"),
    [
        ("beta * I[loc,age] / sum_state()", {}, "uses sum_state()"),
        ("beta * sum_over(I[loc:j,age], loc=j)", {}, "reduces over axis 'loc'"),
        ("beta * I[loc:a,age]", {}, "pins block axis 'loc' to literal coord 'a'"),
        (
            "beta",
            {"state": ["S[loc,age]", "I[loc,age]", "R[age]"]},
            "State template 'R' has axes",
        ),
        (
            "beta",
            {"operators": [{"kind": "diffusion", "axis": "loc"}]},
            "Operator kind='diffusion' acts on axis 'loc'",
        ),
    ],
)
def test_0_9_0s_checks(rate: str, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(UnsupportedFeatureError, match=message) as err:
        compile_spec(spec(rate, **extra))
    assert "factorize_axes='loc'" in str(err.value)
