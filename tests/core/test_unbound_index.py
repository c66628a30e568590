"""An index variable no reduction binds is reported as one, with the axis's
coordinates (it used to say only "unknown coord 'k'")."""

from __future__ import annotations

import pytest

from op_system import ExpressionError, normalize_rhs

SPEC = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": ["young", "old"]}],
    "state": ["S[age]", "I[age]"],
    "transitions": [{"from": "S[age]", "to": "I[age]", "rate": "beta * I[age=k]"}],
}


def test_an_unbound_index_variable_says_so_and_lists_the_coordinates() -> None:
    with pytest.raises(ExpressionError) as err:
        normalize_rhs(SPEC)
    msg = str(err.value)
    assert "unbound index variable 'k'" in msg
    assert "sum_over(age=k, ...)" in msg
    assert "(coords: young, old)" in msg
    assert (err.value.path, err.value.token) == ("transitions[0].rate", "k")


def test_a_misspelt_coordinate_gets_the_coordinate_meant() -> None:
    spec = {
        **SPEC,
        "transitions": [{**SPEC["transitions"][0], "rate": "beta * I[age=yuong]"}],
    }
    with pytest.raises(
        ExpressionError, match=r"unknown coord 'yuong' for axis 'age'"
    ) as err:
        normalize_rhs(spec)
    assert "(did you mean 'young'?)" in str(err.value)
    assert "unbound" not in str(err.value)
