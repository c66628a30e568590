"""A number is accepted wherever an expression is (`rate: 0.2` in YAML).

Before, YAML's float `0.2` in `rate:` was refused as "must be a string".
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from op_system import SpecError, compile_spec

SIR_YAML = """
kind: transitions
state: [S, I, R]
aliases:
  N: 1000
transitions:
  - {from: S, to: I, rate: beta * I / N}
  - {from: I, to: R, rate: 0.2}
"""


def test_numbers_in_yaml_rates_and_aliases() -> None:
    spec = yaml.safe_load(SIR_YAML)
    assert spec["transitions"][1]["rate"] == 0.2
    assert spec["aliases"]["N"] == 1000
    rhs = compile_spec(spec)
    assert rhs.param_names == ("beta",)
    y = np.array([990.0, 10.0, 0.0])
    inf, rec = 0.3 * 10.0 / 1000 * 990.0, 0.2 * 10.0  # by hand
    np.testing.assert_allclose(rhs.eval_fn(0.0, y, beta=0.3), [-inf, inf - rec, rec])


def test_numbers_in_equations_and_reaction_rates() -> None:
    rhs = compile_spec({"state": ["x", "y"], "equations": {"x": -1, "y": 2.5}})
    np.testing.assert_allclose(rhs.eval_fn(0.0, [1.0, 1.0]), [-1.0, 2.5])
    rhs = compile_spec(
        {
            "kind": "transitions",
            "state": ["A", "B"],
            "transitions": [{"reaction": "A + B -> 2 B", "rate": 0.5}],
        }
    )
    np.testing.assert_allclose(rhs.eval_fn(0.0, [2.0, 3.0]), [-3.0, 3.0])  # 0.5 * A * B


@pytest.mark.parametrize("bad", [True, None, "", [0.2], float("nan")])
def test_what_is_not_an_expression_is_refused_with_what_is(bad: object) -> None:
    spec = {
        "kind": "transitions",
        "state": ["I", "R"],
        "transitions": [{"from": "I", "to": "R", "rate": bad}],
    }
    with pytest.raises(
        SpecError, match=r"rate must be an expression \(a string or a number\)"
    ):
        compile_spec(spec)


def test_a_number_as_an_observable() -> None:
    rhs = compile_spec(
        {
            "kind": "transitions",
            "state": ["S", "I"],
            "transitions": [{"from": "S", "to": "I", "rate": "b"}],
            "observables": {"one": {"expr": 1}, "twice": {"expr": "2 * I"}},
        }
    )
    assert rhs.param_names == ("b",)
