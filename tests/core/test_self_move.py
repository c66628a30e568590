"""A transition from a state into itself (`from: X, to: X`) changes nothing.

It is the natural first spelling of a birth `X -> 2X`, and used to be a
silent no-op. It stays accepted (op-system 0.1.2's and 0.9.0's own suites use
it as a placeholder) with a `SpecWarning` that shows how to write a birth;
both spellings it shows give the birth.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from op_system import SpecWarning, compile_spec

SELF = {
    "kind": "transitions",
    "state": ["X"],
    "transitions": [{"from": "X", "to": "X", "rate": "b"}],
}


def test_from_equal_to_warns_and_shows_how_to_write_a_birth() -> None:
    with pytest.warns(SpecWarning, match=r"moves 'X' into itself") as rec:
        rhs = compile_spec(SELF)
    (w,) = [r.message for r in rec if isinstance(r.message, SpecWarning)]
    assert (w.path, w.token) == ("transitions[0].to", "X")
    assert "{from: null, to: X, rate: 'b * X'}" in str(w)
    assert "{reaction: 'X -> 2 X', rate: b}" in str(w)
    np.testing.assert_allclose(rhs.eval_fn(0.0, [4.0], b=0.5), [0.0])  # a no-op


@pytest.mark.parametrize(
    "birth",
    [
        {"from": None, "to": "X", "rate": "b * X"},
        {"reaction": "X -> 2 X", "rate": "b"},
    ],
)
def test_the_spellings_the_warning_shows_are_births(birth: dict[str, object]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        rhs = compile_spec({**SELF, "transitions": [birth]})
    np.testing.assert_allclose(rhs.eval_fn(0.0, [4.0], b=0.5), [2.0])  # b * X by hand
