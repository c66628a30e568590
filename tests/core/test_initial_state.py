"""The spec's `initial_state:` block, expanded per state cell (`_core/initial_state.py`).

op-system 0.1.2's form (a parameter name per cell, substituted like any
template) must stay as it was; 0.9.0's pinned keys, numbers and `{shaped,
axes}` seeds are read in 0.9.0's language only, each cell checked against a
listing written out by hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from op_system import normalize_rhs
from op_system._support.errors import SpecError

AXES = [
    {"name": "age", "coords": ["y", "o"]},
    {"name": "vax", "coords": ["u", "v"]},
]


def _spec(initial: dict[str, Any], dialect: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "kind": "transitions",
        "axes": AXES,
        "state": ["S[age,vax]", "D"],
        "transitions": [{"from": "S[age,vax]", "to": "D", "rate": "mu"}],
        "initial_state": initial,
    }
    if dialect is not None:
        spec["dialect"] = dialect
    return spec


def _initial(spec: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = normalize_rhs(spec).meta["initial_state"]
    return result


def test_0_1_2s_form_is_substituted_per_cell() -> None:
    got = _initial(_spec({"S[age, vax]": "S0[age,vax] * f[age]", "D": "D0"}))
    assert got == {
        "S__age_y__vax_u": "S0__age_y__vax_u * f__age_y",
        "S__age_y__vax_v": "S0__age_y__vax_v * f__age_y",
        "S__age_o__vax_u": "S0__age_o__vax_u * f__age_o",
        "S__age_o__vax_v": "S0__age_o__vax_v * f__age_o",
        "D": "D0",
    }


def test_0_9_0s_pinned_keys_numbers_and_seeds() -> None:
    got = _initial(
        _spec(
            {
                "S[age, vax=u]": {"shaped": "S0", "axes": ["age"]},
                "S[age=o, vax=v]": 2.5,
                "S[age=y, vax=v]": "S_yv[age, vax=v]",
                "D": 0,
            }
        )
    )
    assert got == {
        "S__age_y__vax_u": {"shaped": "S0", "axes": ("age",), "coords": {"age": "y"}},
        "S__age_o__vax_u": {"shaped": "S0", "axes": ("age",), "coords": {"age": "o"}},
        "S__age_o__vax_v": 2.5,
        "S__age_y__vax_v": "S_yv__age_y__vax_v",
        "D": 0.0,
    }


def test_a_pinned_key_marks_0_9_0s_language() -> None:
    got = _initial(_spec({"S[age, vax=u]": "a", "S[age, vax=v]": "b", "D": "c"}))
    assert got["S__age_o__vax_v"] == "b"
    # said to be 0.1.2's language, a pinned key selects the same cells (0.1.2
    # gave such a key no meaning), its values 0.1.2's text
    got = _initial(_spec({"S[age, vax=u]": "a", "S[age=o, vax=v]": 1}, dialect="0.1"))
    assert got == {
        "S__age_y__vax_u": "a",
        "S__age_o__vax_u": "a",
        "S__age_o__vax_v": "1",
    }


@pytest.mark.parametrize(
    ("initial", "match"),
    [
        ({"S[age, vax=w]": 1.0}, "'w' is not a coordinate of axis 'vax'"),
        ({"S[age, ag=u]": 1.0}, "did you mean 'age'"),
        ({"S[age, vax=u]": 1.0, "S[age=y, vax=u]": 2.0}, "duplicates"),
        ({"S[age, vax=u]": True}, "finite real number"),
        ({"S[age, vax=u]": {"shaped": "S0", "axes": ["age"], "x": 1}}, "unknown keys"),
        ({"S[age=y, vax=u]": {"shaped": "S0", "axes": ["age", "vax2"]}}, "not defined"),
        ({"S[vax=u, age=y]": {"shaped": "S0", "axes": []}}, "non-empty list"),
    ],
)
def test_0_9_0s_initial_state_mistakes(initial: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        _initial(_spec(initial, dialect="0.9"))
