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
