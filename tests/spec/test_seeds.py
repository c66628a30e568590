"""`initial_state:` values (`_spec/seeds.py`): literals and 0.9.0's shaped seeds."""

from __future__ import annotations

from typing import Any

import pytest

from op_system import InvalidRhsSpecError, normalize_rhs


def spec(initial: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "expr",
        "axes": [{"name": "age", "coords": ["y", "o"]}],
        "state": ["X[age]", "D"],
        "equations": {"X[age]": "-k * X[age]", "D": "0"},
        "initial_state": initial,
    }


def test_a_shaped_seed_is_kept_per_cell() -> None:
    meta = normalize_rhs(
        spec({"X[age]": {"shaped": "x0", "axes": ["age"]}, "D": "d0"})
    ).meta
    assert meta["initial_state"]["X__age_o"] == {
        "shaped": "x0",
        "axes": ("age",),
        "coords": {"age": "o"},
    }
    assert meta["initial_state"]["D"] == "d0"


@pytest.mark.parametrize(
    ("initial", "message"),
    [
        ({"D": True}, "literal value True must be a finite real number"),
        ({"D": float("inf")}, "literal value inf must be a finite real number"),
        (
            {"X[age]": {"shaped": "x0", "axes": ["age"], "shape": [2]}},
            "shaped entry has unknown keys",
        ),
        (
            {"X[age]": {"shaped": "", "axes": ["age"]}},
            "must set 'shaped' to a non-empty string",
        ),
        (
            {"X[age]": {"shaped": "x0", "axes": ["agg"]}},
            "shaped axis 'agg' not defined",
        ),
        (
            {"D": {"shaped": "x0", "axes": ["age"]}},
            r"shaped axes \['age'\] are not bound",
        ),
    ],
)
def test_0_9_0s_rules(initial: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRhsSpecError, match=message):
        normalize_rhs(spec(initial))
