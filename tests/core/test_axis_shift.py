"""op-system 0.9.0's axis-wide `coord_shift` (`_core/shifts.py`).

Its numbers are checked against the real 0.9.0 in `tests/compat09/` (the
recorded specs of 0.9.0's own tests and docs, and the probes: absorb, stay,
steps of 2 and -1, a categorical axis). Here: the same flows as the pairwise
form written bin by bin, generated code that does not grow with the bins, and
the errors.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from op_system import compile_spec
from op_system._support.errors import SpecError


def _spec(n: int, step: int = 1, boundary: str = "absorb") -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": [
            {"name": "age", "type": "ordinal", "coords": [f"a{i}" for i in range(n)]},
            {"name": "vax", "coords": ["u", "v"]},
        ],
        "state": ["S[age, vax]", "D"],
        "transitions": [
            {
                "name": "aging",
                "coord_shift": {
                    "axis": "age",
                    "step": step,
                    "rate": "r[age] * (1 + w[vax])",
                    "boundary": boundary,
                },
                "apply_to": ["S"],
            },
            {"from": "S[age, vax]", "to": "D", "rate": "mu"},
        ],
    }


def _by_hand(
    n: int, step: int, boundary: str, y: np.ndarray, p: dict[str, Any]
) -> np.ndarray:
    s = y[:-1].reshape(n, 2)
    rate = p["r"][:, None] * (1 + p["w"][None, :])
    out = np.zeros_like(s)
    for k in range(n):
        target = k + step
        if not 0 <= target < n and boundary == "stay":
            continue
        out[k] -= rate[k] * s[k]
        if 0 <= target < n:
            out[target] += rate[k] * s[k]
    out -= p["mu"] * s
    return np.concatenate([out.ravel(), [p["mu"] * s.sum()]])


@pytest.mark.parametrize(
    ("step", "boundary"), [(1, "absorb"), (1, "stay"), (2, "stay"), (-1, "absorb")]
)
def test_every_bin_moves_at_the_rate_of_the_bin_it_leaves(
    step: int, boundary: str
) -> None:
    n = 5
    rng = np.random.default_rng(2)
    p = {"r": rng.uniform(0.1, 1, n), "w": rng.uniform(0, 1, 2), "mu": 0.05}
    y = rng.uniform(0.5, 2, 2 * n + 1)
    got = compile_spec(_spec(n, step, boundary)).eval_fn(0.0, y, **p)
    np.testing.assert_allclose(got, _by_hand(n, step, boundary, y, p), rtol=1e-12)


def test_the_program_does_not_grow_with_the_bins() -> None:
    small, large = compile_spec(_spec(9)), compile_spec(_spec(81))
    assert len(large.source.splitlines()) == len(small.source.splitlines())
    assert len(large.source) < 2 * len(small.source)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"boundary": None}, "boundary must be one of"),
        ({"step": 0}, "step must be a non-zero integer"),
        ({"step": 5}, "moves every bin off axis"),
        ({"axis": "agee"}, "coord_shift axis 'agee' is not defined"),
        ({"speed": 1}, "unknown field"),
    ],
)
def test_bad_shifts_are_refused(change: dict[str, Any], match: str) -> None:
    spec = copy.deepcopy(_spec(5))
    shift = spec["transitions"][0]["coord_shift"]
    for key, value in change.items():
        if value is None:
            shift.pop(key)
        else:
            shift[key] = value
    with pytest.raises(SpecError, match=match):
        compile_spec(spec)


def test_one_rate_only() -> None:
    spec = copy.deepcopy(_spec(3))
    spec["transitions"][0]["rate"] = "r[age]"
    with pytest.raises(SpecError, match="needs one 'rate'"):
        compile_spec(spec)
