"""Typos that would become parameters are caught when the model is built.

A misspelt state (`Ii[age=j]`), an alias never defined, an alias block
dedented to the top level: before, each compiled into a model with one
parameter too many, and only the call failed, naming no spec location. Now a
near miss of a state, alias or helper gives a `SpecWarning` carrying the spec
path and the token, and a parameter named like a stray top-level key is a
`SpecError`.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import pytest
import yaml

from op_system import SpecError, SpecWarning, normalize_rhs

AGE = [{"name": "age", "coords": ["young", "old"]}]


def sir(rate: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": AGE,
        "state": ["S[age]", "I[age]", "R[age]"],
        "transitions": [
            {"from": "S[age]", "to": "I[age]", "rate": rate},
            {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
        ],
        **extra,
    }


def caught(spec: dict[str, Any]) -> tuple[list[SpecWarning], Any]:
    """The `SpecWarning`s of normalizing `spec`, and the result."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        rhs = normalize_rhs(spec)
    return [w.message for w in got if isinstance(w.message, SpecWarning)], rhs


def test_a_misspelt_state_in_an_expression_warns_with_path_token_and_suggestion() -> (
    None
):
    got, rhs = caught(sir("beta * sum_over(age=j, Ii[age=j])"))
    assert "Ii__age_young" in rhs.param_names  # still read as a parameter, as before
    (w,) = got
    assert (w.path, w.token) == ("transitions[0].rate", "Ii")
    assert "did you mean the state 'I'?" in str(w)
    assert str(w).startswith("transitions[0].rate:")


def test_a_misspelt_state_in_an_equation_and_an_observable_warns() -> None:
    expr = {
        "state": ["S", "I"],
        "equations": {"S": "-beta * S * Ii", "I": "beta * S * I"},
    }
    (w,) = caught(expr)[0]
    assert (w.path, w.token) == ("equations['S']", "Ii")
    spec = sir(
        "beta * I[age]", observables={"prevalence": "sum_over(age=j, II[age=j])"}
    )
    (w,) = caught(spec)[0]
    assert (w.path, w.token) == ("observables['prevalence']", "II")


def test_a_name_close_to_an_alias_or_a_helper_warns() -> None:
    spec = sir("lamda[age]", aliases={"lambda[age]": "beta * I[age]"})
    (w,) = caught(spec)[0]
    assert w.token == "lamda"
    assert "did you mean the alias 'lambda'?" in str(w)
    spec = sir("beta * I[age] / sum_states")
    (w,) = caught(spec)[0]
    assert "did you mean the function 'sum_state'?" in str(w)


@pytest.mark.parametrize(
    "rate",
    [
        "R0 * gamma * I[age] / sum_state()",  # R0, Rt next to the state R
        "Rt * gamma * I[age] / sum_state()",
        "beta1 * I[age] + beta2",  # families of names
        "r * I[age]",  # one-letter parameters next to one-letter states
        "s * i * I[age]",
        "mu * I[age]",
        "Sv * I[age]",
    ],
)
def test_ordinary_parameter_names_do_not_warn(rate: str) -> None:
    assert caught(sir(rate))[0] == []


def test_a_declared_parameter_does_not_warn() -> None:
    spec = sir(
        "beta * Ii[age]",
        parameters={"beta": {}, "gamma": {}, "Ii": {"description": "meant"}},
    )
    assert caught(spec)[0] == []


def test_with_a_parameters_block_in_0_1_2s_language_an_undeclared_name_is_an_error() -> (
    None
):
    spec = sir(
        "beta * sum_over(age=j, Ii[age=j])",
        parameters={"beta": {}, "gamma": {}},
        dialect="0.1",
    )
    with pytest.raises(SpecError, match=r"'Ii' is neither a state") as err:
        normalize_rhs(spec)
    assert err.value.path == "transitions[0].rate"


DEDENTED = """
kind: transitions
axes: [{name: age, coords: [young, old]}]
state: ["S[age]", "I[age]", "R[age]"]
aliases:
lam[age]: beta * I[age]
transitions:
  - {from: "S[age]", to: "I[age]", rate: "lam[age]"}
  - {from: "I[age]", to: "R[age]", rate: gamma}
"""


def test_an_alias_block_dedented_to_the_top_level_is_an_error() -> None:
    spec = yaml.safe_load(DEDENTED)
    assert spec["aliases"] is None
    assert "lam[age]" in spec
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecWarning)  # the stray key's own warning
        with pytest.raises(SpecError, match=r"top-level key 'lam\[age\]'") as err:
            normalize_rhs(spec)
    assert (err.value.path, err.value.token) == ("transitions[0].rate", "lam")
    assert "indented" in str(err.value)
    fixed = copy.deepcopy(spec)
    fixed["aliases"] = {"lam[age]": fixed.pop("lam[age]")}
    assert caught(fixed)[1].param_names == ("beta", "gamma")


def test_an_undefined_indexed_name_is_a_parameter_listed_by_name() -> None:
    """`lam[age]` with no alias `lam` and nothing close: an indexed parameter
    (legitimate: `beta[age]` is one), listed with its cells."""
    got, rhs = caught(sir("lam[age]"))
    assert got == []
    assert rhs.param_names == ("gamma", "lam__age_old", "lam__age_young")


@pytest.mark.parametrize("to", ["Ii[age]", "II[age]"])
def test_a_misspelt_transition_end_suggests_the_state(to: str) -> None:
    spec = sir("beta")
    spec["transitions"][0]["to"] = to
    with pytest.raises(SpecError, match=r"not in state \(did you mean 'I'\?\)") as err:
        normalize_rhs(spec)
    assert err.value.path == "transitions[0].to"


def test_a_warning_for_a_spec_loaded_from_a_file_carries_its_location(
    tmp_path: Any,
) -> None:
    from op_system import load_spec

    path = tmp_path / "model.yaml"
    path.write_text(
        "kind: transitions\n"
        "state: [S, I, R]\n"
        "transitions:\n"
        '  - {from: S, to: I, rate: "beta * Ii"}\n'
        "  - {from: I, to: R, rate: gamma}\n"
    )
    (w,) = caught(load_spec(path))[0]
    assert w.location == f"{path}:4:28"  # the rate's text, line 4 column 28
    assert (w.path, w.token) == ("transitions[0].rate", "Ii")
    (w,) = caught(sir("beta * Ii[age]"))[0]
    assert w.location is None  # a spec given as a dict has no file
