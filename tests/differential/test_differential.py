"""Differential parity with op-system 0.1.2 on a frozen set of generated specs.

`frozen.json` holds cases from `generate.py` and what 0.1.2 did with them
(`make_frozen.py` regenerates it; 0.1.2 is not needed here). For every case,
`compare.py` checks state names, parameter names, dydt at rtol 1e-12, error
parity and the rendered `equations`/`aliases` views. Documented differences
(`known_differences.py`) are not failures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .compare import compare_case

FROZEN = json.loads(
    (Path(__file__).with_name("frozen.json")).read_text(encoding="utf-8")
)
ENTRIES = FROZEN["cases"]


def test_frozen_set_is_large_enough() -> None:
    assert FROZEN["generator"] == "op-system==0.1.2"
    assert len(ENTRIES) >= 350
    assert len({e["case"]["id"] for e in ENTRIES}) == len(ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["case"]["id"] for e in ENTRIES])
def test_matches_op_system_012(entry: dict) -> None:
    divergences = compare_case(entry["case"], entry["record"])
    assert not divergences, json.dumps(
        {
            "constructs": entry["case"]["constructs"],
            "divergences": divergences,
            "spec": entry["case"]["spec"],
        },
        indent=1,
    )


PARITY = json.loads(
    (Path(__file__).parent.parent / "parity" / "refs.json").read_text(encoding="utf-8")
)["cases"]


@pytest.mark.parametrize("case", PARITY, ids=[c["name"] for c in PARITY])
def test_parity_rendered_views_evaluate_to_dydt(case: dict) -> None:
    """Our `equations`/`aliases` strings, evaluated independently, give 0.1.2's dydt."""
    from op_system import normalize_rhs

    from .compare import _check_rendered

    assert _check_rendered(normalize_rhs(case["spec"]), case["samples"]) == []
