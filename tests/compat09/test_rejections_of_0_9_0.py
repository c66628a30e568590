"""The specs op-system 0.9.0 rejects are rejected by us too, with 0.9.0's class.

`refs.json` records, for each spec the real 0.9.0 refused, the class of its
exception (`InvalidRhsSpecError`, `InvalidExpressionError`,
`UnsupportedFeatureError`, or a plain `ValueError` / `KeyError`). `op_system`
exports classes of the same names, so code written against 0.9.0 that catches
them keeps working: every error we raise for such a spec must be an instance
of the class 0.9.0 raised, unless the spec is one of the documented
differences below (docs/compatibility.md, "op-system 0.9.0's language").
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import op_system

REFS = json.loads((Path(__file__).parent / "refs.json").read_text())
REJECTED = [s for s in REFS["specs"] if s["accepted"] is False]

#: 0.9.0's exception classes, by the name `refs.json` records, as we export them
CLASSES: dict[str, type[BaseException]] = {
    "InvalidRhsSpecError": op_system.InvalidRhsSpecError,
    "InvalidExpressionError": op_system.InvalidExpressionError,
    "UnsupportedFeatureError": op_system.UnsupportedFeatureError,
    "ValueError": ValueError,
    "KeyError": KeyError,
}

#: Specs 0.9.0 rejects that we accept, or reject with another class: id -> why.
DIFFERENCES: dict[str, str] = {}

#: The share of 0.9.0's rejections we reproduce with its class.
SHARE_AT_LEAST = 0.90


def outcome(case: dict[str, Any]) -> BaseException | None:
    """The exception our `compile_spec` raises for the case's spec, or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            op_system.compile_spec(json.loads(json.dumps(case["spec"])))
        except Exception as exc:
            return exc
    return None


def same_class(case: dict[str, Any], exc: BaseException | None) -> bool:
    """Whether `exc` is an instance of the class 0.9.0 raised for the case."""
    return exc is not None and isinstance(exc, CLASSES[case["error"]["class"]])


def test_the_recorded_rejections_are_many() -> None:
    assert len(REJECTED) == REFS["counts"]["rejected"] >= 250
    assert {c["error"]["class"] for c in REJECTED} <= set(CLASSES)


def test_the_differences_name_recorded_rejections() -> None:
    ids = {c["id"] for c in REJECTED}
    assert set(DIFFERENCES) <= ids
    assert all(reason.strip() for reason in DIFFERENCES.values())


@pytest.mark.parametrize("case", REJECTED, ids=[c["id"] for c in REJECTED])
def test_a_spec_0_9_0_rejects_is_rejected_with_its_class(case: dict[str, Any]) -> None:
    exc = outcome(case)
    if case["id"] in DIFFERENCES:
        # a documented difference must still be one: else it leaves the list
        assert not same_class(case, exc), "no longer a difference: drop it from the list"
        return
    assert same_class(case, exc), (case["error"]["class"], repr(exc))


def test_most_rejections_are_reproduced() -> None:
    hits = sum(same_class(case, outcome(case)) for case in REJECTED)
    assert hits / len(REJECTED) >= SHARE_AT_LEAST, hits


def test_the_classes_keep_both_hierarchies() -> None:
    # 0.9.0's names are ours: a spec error, an expression error (0.9.0 wraps an
    # expression's error in a spec as InvalidRhsSpecError), both ValueErrors
    assert issubclass(op_system.SpecError, op_system.InvalidRhsSpecError)
    assert issubclass(op_system.ExpressionError, op_system.InvalidRhsSpecError)
    assert op_system.InvalidExpressionError is op_system.ExpressionError
    assert issubclass(op_system.InvalidRhsSpecError, ValueError)
    assert issubclass(op_system.InvalidRhsSpecError, op_system.OpSystemError)
    assert issubclass(op_system.UnsupportedFeatureError, NotImplementedError)
