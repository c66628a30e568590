"""A transition's `reactants:` and a `coord_shift`'s `catalysts:` (`_spec/reactants.py`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from op_system import InvalidRhsSpecError, compile_spec, model_info


def spec(reactants: object) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": [
            {"name": "age", "coords": ["y", "o"]},
            {"name": "loc", "coords": ["a", "b"]},
        ],
        "state": ["S[age]", "I[age]", "Q[age,loc]"],
        "transitions": [
            {
                "name": "infect",
                "from": "S[age]",
                "to": "I[age]",
                "rate": "beta * I[age]",
                "reactants": reactants,
            }
        ],
    }


def test_kept_and_the_rhs_unchanged() -> None:
    declared = [{"state": "S[age]", "order": 1}, {"state": "I[age]", "order": 1}]
    rhs = compile_spec(spec(declared))
    (s, i) = model_info(rhs).reactions["infect"]
    assert (s.state, s.axes, s.order, i.state) == ("S", ("age",), 1, "I")
    assert model_info(compile_spec(spec("auto"))).reactions == {"infect": "auto"}
    y = np.array([1.0, 2.0, 0.5, 0.25, 0, 0, 0, 0])
    flow = 3.0 * np.array([1.0 * 0.5, 2.0 * 0.25])  # beta * S * I, by hand
    np.testing.assert_allclose(
        rhs.eval_fn(0.0, y, beta=3.0), [*(-flow), *flow, 0, 0, 0, 0]
    )


@pytest.mark.parametrize(
    ("reactants", "message"),
    [
        ("all", r"transitions\[0\].reactants must be a list or 'auto'"),
        ([{"state": "S[age]", "order": 0}], "order must be a positive integer"),
        (
            [{"state": "I[age]", "order": 1}],
            "explicit reactants must include its consumed",
        ),
        (
            [{"state": "S[age]", "order": 1}, {"state": "Z", "order": 1}],
            "unknown state base 'Z'",
        ),
        (
            [{"state": "S[age]", "order": 1}, {"state": "Q[age,loc]", "order": 1}],
            r"wildcard axes outside reaction channels: \('loc',\)",
        ),
        (
            [{"state": "S[age]", "order": 1}, {"state": "S[age]", "order": 1}],
            "repeats reactant state",
        ),
    ],
)
def test_0_9_0s_rules(reactants: object, message: str) -> None:
    with pytest.raises(InvalidRhsSpecError, match=message):
        compile_spec(spec(reactants))


def shift(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ["a0", "a1"]}],
        "state": ["S[age]", "I[age]"],
        "transitions": [
            {
                "name": "aging",
                "coord_shift": {"age": "a0 -> a1"},
                "rate": "g",
                "apply_to": ["S"],
                **extra,
            }
        ],
    }


def test_coord_shift_catalysts() -> None:
    with pytest.raises(
        InvalidRhsSpecError, match="coord_shift does not accept 'reactants'"
    ):
        compile_spec(shift(reactants=[]))
    with pytest.raises(
        InvalidRhsSpecError, match=r"coord_shift\.catalysts must be a list"
    ):
        compile_spec(shift(catalysts={"state": "I[age]"}))
    with pytest.raises(
        InvalidRhsSpecError, match="transition 'aging_S' reactant state 'Q'"
    ):
        compile_spec(shift(catalysts=[{"state": "Q", "order": 1}]))
    info = model_info(
        compile_spec(shift(catalysts=[{"state": "I[age=a1]", "order": 1}]))
    )
    source, catalyst = info.reactions["aging_S"]
    assert (source.state, source.pinned, catalyst.pinned) == (
        "S",
        (("age", "a0"),),
        (("age", "a1"),),
    )
