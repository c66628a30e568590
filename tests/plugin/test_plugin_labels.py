"""`initial_state` keys of the flepimop2 system that name cells by their
labels (`S[age='0-17']`, `S[age=18-64]`, `S[age:"65+"]`): the same initial
state as the keys written as expanded names."""

from __future__ import annotations

from typing import Any

import numpy as np
from flepimop2.system.op_system import OpSystemSystem, initial_state_vector

AGES = ["0-17", "18-64", "65+"]


def _spec(initial_state: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": AGES}],
        "state": ["S[age]", "I[age]", "R[age]"],
        "transitions": [
            # 0.1.2's spelling of a sum: the labelled keys do not make the spec
            # 0.9.0's (which could not read it)
            {"from": "S[age]", "to": "I[age]", "rate": "beta * sum_over(age=j, I[j])"},
            {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
        ],
        "initial_state": initial_state,
    }


LABELLED = _spec(
    {
        "S[age='0-17']": "s_young",
        "S[age=18-64]": "s_adult",
        'S[age:"65+"]': 2.0,
        "I[age]": {"shaped": "i0", "axes": ["age"]},
        "R[age]": 0,
    }
)
SANITIZED = _spec(
    {
        "S__age_0_17": "s_young",
        "S__age_18_64": "s_adult",
        "S__age_65": 2.0,
        "I__age_0_17": "i_a",
        "I__age_18_64": "i_b",
        "I__age_65": "i_c",
        "R__age_0_17": 0,
        "R__age_18_64": 0,
        "R__age_65": 0,
    }
)


def test_initial_state_keys_by_labels() -> None:
    labelled = OpSystemSystem(spec=LABELLED)
    sanitized = OpSystemSystem(spec=SANITIZED)
    assert labelled.option("state_names") == sanitized.option("state_names")
    init = labelled.option("initial_state")
    assert init["S__age_0_17"] == "s_young"
    assert init["S__age_65"] == 2.0
    assert init["I__age_65"] == {
        "shaped": "i0",
        "axes": ("age",),
        "coords": {"age": "65+"},
    }
    i0 = np.array([1.0, 3.0, 5.0])
    got = initial_state_vector(
        labelled.option, {"s_young": 90.0, "s_adult": 80.0, "i0": i0}
    )
    want = initial_state_vector(
        sanitized.option,
        {"s_young": 90.0, "s_adult": 80.0, "i_a": 1.0, "i_b": 3.0, "i_c": 5.0},
    )
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, [90, 80, 2, 1, 3, 5, 0, 0, 0])
