"""op-system 0.9.0's history operators are refused with a clear `UnsupportedFeatureError`.

`convolve_history(body, kernel=..., window=...)` is evaluated by an engine's
history provider in 0.9.0 (its flat `eval_fn` cannot evaluate it); op_system
compiles right-hand sides without memory. Every one of the 8 recorded 0.9.0
specs that use it must fail with an error that names the construct, the spec
path and the token, and says what to write instead. `history(...)` and
`delay(...)`, which 0.9.0 refuses too, get the same treatment.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from op_system import ExpressionError, UnsupportedFeatureError, compile_spec

REFS = json.loads((Path(__file__).parent / "refs.json").read_text())
CASES = [s for s in REFS["specs"] if "convolve_history(" in json.dumps(s["spec"])]


def _expression_paths(spec: dict[str, Any]) -> list[str]:
    """The `equations[...]` paths whose expression calls convolve_history, in order."""
    return [
        f"equations[{key!r}]"
        for key, text in spec["equations"].items()
        if "convolve_history(" in text
    ]


def test_the_eight_recorded_specs() -> None:
    assert len(CASES) == 8
    # 0.9.0 accepted them all, and could not evaluate them without a history provider
    assert all(c["accepted"] and "dydt" not in c for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_a_recorded_convolve_history_spec_is_refused_clearly(
    case: dict[str, Any],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # metadata keys op_system does not read yet
        with pytest.raises(UnsupportedFeatureError) as info:
            compile_spec(case["spec"])
    err = info.value
    assert isinstance(err, NotImplementedError)
    assert err.token == "convolve_history"
    assert err.path == _expression_paths(case["spec"])[0]
    message = str(err)
    assert "convolve_history(...) is not supported" in message
    assert (
        f"(at {err.path}, column 1)" in message
    )  # every recorded call opens its expression
    assert "chain of k stages" in message  # what to write instead
    assert "Erlang" in message


@pytest.mark.parametrize("name", ["history", "delay"])
def test_history_and_delay_are_refused_the_same_way(name: str) -> None:
    spec = {"state": ["x"], "equations": {"x": f"-0.5 * {name}(x, lag=1)"}}
    with pytest.raises(
        UnsupportedFeatureError,
        match=rf"{name}\(\.\.\.\) is not supported",
    ) as info:
        compile_spec(spec)
    assert (info.value.token, info.value.path, info.value.pos) == (
        name,
        "equations['x']",
        (1, 8),
    )


def test_in_a_rate_or_an_alias_too() -> None:
    spec = {
        "kind": "transitions",
        "state": ["S", "I"],
        "aliases": {"h": "convolve_history(I, kernel=gamma, window=14)"},
        "transitions": [{"from": "S", "to": "I", "rate": "beta * h"}],
    }
    with pytest.raises(
        UnsupportedFeatureError, match=re.escape("(at aliases['h'], column 1)")
    ):
        compile_spec(spec)
    spec = {
        "kind": "transitions",
        "state": ["S", "I"],
        "transitions": [
            {
                "from": "S",
                "to": "I",
                "rate": "beta * convolve_history(I, kernel=gamma, window=14)",
            }
        ],
    }
    with pytest.raises(
        UnsupportedFeatureError, match=re.escape("(at transitions[0].rate, column 8)")
    ):
        compile_spec(spec)


def test_other_unknown_calls_stay_expression_errors() -> None:
    with pytest.raises(ExpressionError, match="disallowed function call: convolve"):
        compile_spec({"state": ["x"], "equations": {"x": "convolve(x)"}})


def test_the_suggested_chain_is_the_erlang_delay() -> None:
    """The replacement the error suggests, checked independently: three stages at
    rate 1/theta fed by a unit step give the Erlang(3, theta) distribution
    function, 1 - exp(-t/theta) (1 + t/theta + (t/theta)^2 / 2)."""
    spec = {
        "state": ["h1", "h2", "h3"],
        "equations": {
            "h1": "(x - h1) / theta",
            "h2": "(h1 - h2) / theta",
            "h3": "(h2 - h3) / theta",
        },
    }
    rhs = compile_spec(spec)
    theta, ts = 2.0, np.linspace(0.0, 20.0, 11)
    sol = solve_ivp(
        lambda t, y: rhs.eval_fn(t, y, x=1.0, theta=theta),
        (0.0, 20.0),
        np.zeros(3),
        t_eval=ts,
        rtol=1e-11,
        atol=1e-12,
        method="DOP853",
    )
    u = ts / theta
    np.testing.assert_allclose(sol.y[2], 1 - np.exp(-u) * (1 + u + u**2 / 2), atol=1e-9)
