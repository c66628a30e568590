"""Chains over templated axes (`chain: [{name: "I[age,vax]", length: 3, ...}]`):
the stages `I1[age,vax]`, ..., moved as templated transitions.

The same model written out by hand (stage states and transitions) must give
the same states, in the same order, and the same numbers; 0.9.0's own specs
of this form are checked against the real 0.9.0 in `tests/compat09/`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from op_system import compile_spec
from op_system._support.errors import SpecError, UnsupportedFeatureError

AXES = [{"name": "age", "coords": ["a", "b"]}, {"name": "vax", "coords": ["u", "v"]}]


def _chain(**extra: Any) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": AXES,
        "state": ["E[age,vax]", "R[age,vax]"],
        "transitions": [{"from": "R[age,vax]", "to": "E[age,vax]", "rate": "w[vax]"}],
        "chain": [
            {
                "name": "I[age,vax]",
                "length": 3,
                "entry": {"from": "E[age,vax]", "rate": "sigma[age]"},
                "forward": ["g12", "g23[vax]"],
                "exit": {"to": "R[age,vax]", "rate": "g3r"},
                **extra,
            }
        ],
    }


def _by_hand() -> dict[str, Any]:
    t = "[age,vax]"
    return {
        "kind": "transitions",
        "axes": AXES,
        "state": [f"E{t}", f"R{t}", f"I1{t}", f"I2{t}", f"I3{t}"],
        "transitions": [
            {"from": f"R{t}", "to": f"E{t}", "rate": "w[vax]"},
            {"from": f"E{t}", "to": f"I1{t}", "rate": "sigma[age]"},
            {"from": f"I1{t}", "to": f"I2{t}", "rate": "g12"},
            {"from": f"I2{t}", "to": f"I3{t}", "rate": "g23[vax]"},
            {"from": f"I3{t}", "to": f"R{t}", "rate": "g3r"},
        ],
    }


def test_a_templated_chain_is_its_stages_written_out() -> None:
    chained, written = compile_spec(_chain()), compile_spec(_by_hand())
    assert chained.state_names == written.state_names
    assert chained.state_names[8:12] == (
        "I1__age_a__vax_u",
        "I1__age_a__vax_v",
        "I1__age_b__vax_u",
        "I1__age_b__vax_v",
    )
    rng = np.random.default_rng(3)
    y = rng.uniform(0.5, 1.5, 20)
    params = {
        "w": rng.uniform(0, 1, 2),
        "sigma": rng.uniform(0, 1, 2),
        "g12": 0.3,
        "g23": rng.uniform(0, 1, 2),
        "g3r": 0.2,
    }
    got = chained.eval_fn(0.0, y, **params)
    np.testing.assert_allclose(got, written.eval_fn(0.0, y, **params), rtol=1e-14)
    np.testing.assert_allclose(got.sum(), 0.0, atol=1e-14)  # everyone stays


def test_a_templated_chain_needs_new_stage_names() -> None:
    spec = _chain()
    spec["state"].append("I2[age,vax]")
    with pytest.raises(SpecError, match="'I2' is already a state"):
        compile_spec(spec)


def test_a_templated_chain_in_an_expr_model_is_refused() -> None:
    spec = {
        "axes": AXES,
        "state": ["E[age,vax]"],
        "equations": {"E[age,vax]": "-E[age,vax]"},
        "chain": [{"name": "I[age,vax]", "length": 2, "forward": "g"}],
    }
    with pytest.raises(UnsupportedFeatureError, match="templated chain") as info:
        compile_spec(spec)
    assert info.value.path == "chain[0].name"
