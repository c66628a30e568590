"""`parameters:` declarations (`_spec/parameters.py`): op-system 0.9.0's rules and
messages, and the typo rule once a block is present."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from op_system import InvalidRhsSpecError, SpecError, compile_spec, model_info


def sir(parameters: object, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "state": ["S", "I", "R"],
        "transitions": [
            {"from": "S", "to": "I", "rate": "beta * I"},
            {"from": "I", "to": "R", "rate": "gamma"},
        ],
        "parameters": parameters,
        **extra,
    }


def test_declarations_are_kept_as_data() -> None:
    rhs = compile_spec(
        sir(
            {
                "beta": {
                    "support": "positive",
                    "units": "1/day",
                    "description": "contacts",
                },
                "gamma": {
                    "support": {"kind": "bounded", "lower": 0, "upper": 2},
                    "fixed": True,
                },
            }
        )
    )
    decl = model_info(rhs).parameters
    assert decl["beta"].support is not None
    assert decl["beta"].support.kind == "positive"
    assert (decl["beta"].units, decl["beta"].description, decl["beta"].fixed) == (
        "1/day",
        "contacts",
        False,
    )
    support = decl["gamma"].support
    assert support is not None
    assert (support.kind, support.lower, support.upper) == (
        "bounded",
        0.0,
        2.0,
    )
    assert decl["gamma"].fixed is True
    # data, not semantics: dydt is the hand-computed SIR right-hand side
    y = np.array([0.9, 0.1, 0.0])
    got = rhs.eval_fn(0.0, y, beta=2.0, gamma=0.5)
    np.testing.assert_allclose(got, [-0.18, 0.18 - 0.05, 0.05])


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ([1], "parameters must be a declaration mapping"),
        (
            {"unknown": {}},
            "parameter declaration 'unknown' is not an inferred runtime parameter",
        ),
        (
            {"beta": {"prior": 1}},
            "must contain only support, units, description and fixed",
        ),
        ({"beta": {"fixed": "yes"}}, "parameter fixed must be a boolean"),
        ({"beta": {"units": " "}}, "parameter units must be nonempty text"),
        ({"beta": {"support": "negative"}}, "parameter support must be real, positive"),
        (
            {"beta": {"support": {"kind": "bounded", "lower": 1, "upper": 1}}},
            "requires finite numeric lower < upper",
        ),
        (
            {"beta": {"support": {"kind": "bounded", "lower": True, "upper": 1}}},
            "parameter bounds must be finite numbers",
        ),
    ],
)
def test_0_9_0s_rules(block: object, message: str) -> None:
    with pytest.raises(InvalidRhsSpecError, match=message) as err:
        compile_spec(sir(block))
    assert isinstance(err.value, SpecError)


def test_a_typo_is_no_longer_a_new_parameter() -> None:
    spec = sir({"beta": {}, "gamma": {}})
    spec["transitions"][0]["rate"] = "beta * I * gamme"
    with pytest.raises(
        SpecError, match=r"'gamme' is neither .* \(did you mean 'gamma'\?\)"
    ):
        compile_spec(spec)


def test_0_9_0s_partial_declarations_keep_other_names() -> None:
    # 0.9.0 lets a block declare some parameters only: a name not close to a
    # declared one stays a parameter in its language
    rhs = compile_spec(sir({"beta": {"support": "positive"}}))
    assert set(rhs.param_names) == {"beta", "gamma"}


def test_0_1_2s_language_wants_every_parameter_declared() -> None:
    spec = sir({"beta": {}}, dialect="0.1")
    with pytest.raises(SpecError, match="'gamma' is neither") as err:
        compile_spec(spec)
    assert err.value.path == "transitions[1].rate"
    assert compile_spec(sir({"beta": {}, "gamma": {}}, dialect="0.1")).param_names
