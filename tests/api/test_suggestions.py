"""Suggestions point from what was written to what was meant.

`gama=0.1` passed at the call used to say "missing gamma (did you mean
'gama'?)": the suggestion pointed at the typo. `kind: transition` had no
suggestion at all.
"""

from __future__ import annotations

import pytest

from op_system import (
    ParameterError,
    UnsupportedFeatureError,
    compile_spec,
    normalize_rhs,
)

SIR = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": ["young", "old"]}],
    "state": ["S[age]", "I[age]", "R[age]"],
    "transitions": [
        {"from": "S[age]", "to": "I[age]", "rate": "beta * I[age]"},
        {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
    ],
}
Y = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def rhs():  # type: ignore[no-untyped-def]
    return compile_spec(SIR)


def test_a_misspelt_parameter_is_named_unknown_with_the_name_meant(rhs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError) as err:
        rhs.eval_fn(0.0, Y, beta=0.3, gama=0.1)
    msg = str(err.value)
    assert "missing parameter(s): gamma;" in msg
    assert "unknown parameter 'gama' (did you mean 'gamma'?)" in msg
    assert "did you mean 'gama'" not in msg
    assert err.value.token == "gamma"


def test_a_valid_extra_parameter_is_not_called_unknown(rhs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError) as err:
        rhs.eval_fn(0.0, Y, gamma=0.1, bet=0.3)
    assert "unknown parameter 'bet' (did you mean 'beta'?)" in str(err.value)
    with pytest.raises(ParameterError) as err:
        rhs.eval_fn(0.0, Y, gamma=0.1)
    assert "unknown parameter" not in str(err.value)


def test_check_params_names_the_unexpected_name_and_the_one_meant(rhs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(
        ParameterError,
        match=r"unexpected parameter\(s\): \['gama'\] \(did you mean 'gamma'\?\)",
    ):
        rhs.check_params({"beta": 0.3, "gama": 0.1})


def test_kind_transition_suggests_transitions() -> None:
    with pytest.raises(
        UnsupportedFeatureError, match=r"Only 'expr' and 'transitions'"
    ) as err:
        normalize_rhs({**SIR, "kind": "transition"})
    assert "(did you mean 'transitions'?)" in str(err.value)
