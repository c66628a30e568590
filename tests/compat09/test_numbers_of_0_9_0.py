"""Every spec op-system 0.9.0 accepted and evaluated that we accept gives 0.9.0's
numbers: the same state names, in order, and the same `dydt` at the inputs
0.9.0 was evaluated at (rtol 1e-10).

The reference values were recorded by `harvest.py`, run with the real 0.9.0 in
its own venv (see this folder's README); `compare.py` is the check, shared with
its command-line report. Specs we reject are allowed here (0.9.0's language is
not ours yet); a spec we accept must never mean something else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.compat09.compare import check

REFS = json.loads((Path(__file__).parent / "refs.json").read_text())
CASES = [s for s in REFS["specs"] if s.get("dydt") is not None]


def test_the_recorded_cases_are_many() -> None:
    assert len(CASES) >= 400
    assert REFS["script"].endswith("harvest.py")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_an_accepted_spec_gives_0_9_0s_numbers(case: dict[str, Any]) -> None:
    got = check(case)
    assert got["status"] in ("agree", "rejected"), got


#: How many of the recorded cases we run; raised as constructs are built (the
#: goal is 97% of them, 463 of 477).
ACCEPTED_AT_LEAST = 477


def test_most_recorded_cases_run() -> None:
    outcomes = [check(case)["status"] for case in CASES]
    assert outcomes.count("agree") >= ACCEPTED_AT_LEAST


def _named_transition(case: dict[str, Any]) -> str | None:
    spec = case["spec"]
    if spec.get("kind") != "transitions" or "incidence" in spec:
        return None
    for tr in spec.get("transitions") or []:
        name = tr.get("name") if isinstance(tr, dict) else None
        if isinstance(name, str) and "[" not in name and tr.get("from"):
            return name
    return None


COUNTED = [c for c in CASES if _named_transition(c)][:40]


@pytest.mark.parametrize("case", COUNTED, ids=[c["id"] for c in COUNTED])
def test_counters_come_after_0_9_0s_states(case: dict[str, Any]) -> None:
    """0.9.0 ignores `incidence:`; here its counters are states after the
    model's, which keep 0.9.0's names, order and numbers."""
    name = _named_transition(case)
    counted = {**case, "spec": {**case["spec"], "incidence": {"n_counted": [name]}}}
    base, got = check(case), check(counted)
    if base["status"] == "rejected":
        pytest.skip("a spec we do not run")  # pragma: no cover - all 477 run today
    assert got["status"] == "different_names"  # the counters are extra states...
    import warnings

    import numpy as np

    import op_system

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = op_system.compile_spec(counted["spec"])
    theirs = case["state_names"]
    assert list(model.state_names[: len(theirs)]) == theirs  # ...after 0.9.0's
    inputs = case["inputs"]
    y = np.concatenate([inputs["y"], np.zeros(len(model.state_names) - len(theirs))])
    params = {
        k: np.asarray(v) if isinstance(v, list) else v
        for k, v in inputs["params"].items()
    }
    dydt = model.eval_fn(inputs["t"], y, **params)
    ref = np.asarray([np.nan if v is None else v for v in case["dydt"]], dtype=float)
    np.testing.assert_allclose(dydt[: len(theirs)], ref, rtol=1e-10, atol=1e-12)
