"""Specs with many transitions pinned to cells of one block compile and are exact.

Each pinned transition is its own flow, and a block's derivative is the signed
sum of all of them: a sum of a thousand terms must compile (Python limits how
deeply an expression nests) and add in 0.1.2's order. The references are
computed here by hand and from 0.1.2's own per-cell strings.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from tests.differential.compare import StringEvaluator

from op_system import compile_spec

#: Rate forms that differ in structure, so no two neighbours are lowered as one.
FORMS = ["k", "k*k", "np.exp(-k)", "k/(1+k)", "k + 0.1", "np.sqrt(k)"]


def _rates(k: float, n: int) -> np.ndarray:
    vals = [k, k * k, np.exp(-k), k / (1 + k), k + 0.1, np.sqrt(k)]
    return np.array([vals[i % len(vals)] for i in range(n)])


def _fan_out(n: int) -> dict[str, Any]:
    """`S[age] -> X[age, bin=b_i]` for every bin: n flows into one block."""
    return {
        "kind": "transitions",
        "axes": [
            {"name": "bin", "coords": [f"b{i}" for i in range(n)]},
            {"name": "age", "coords": ["y", "o"]},
        ],
        "state": ["S[age]", "X[age, bin]"],
        "transitions": [
            {"from": "S[age]", "to": f"X[age, bin=b{i}]", "rate": FORMS[i % 6]}
            for i in range(n)
        ],
    }


def _fan_out_by_hand(y: np.ndarray, k: float, n: int) -> np.ndarray:
    r = _rates(k, n)
    s = y[:2]
    return np.concatenate([-r.sum() * s, (s[:, None] * r[None, :]).reshape(-1)])


@pytest.fixture(scope="module")
def fan_out() -> Any:
    return compile_spec(_fan_out(1000))


def test_a_thousand_pinned_transitions_into_one_block(fan_out: Any) -> None:
    n = 1000
    y = np.linspace(1.0, 2.0, 2 + 2 * n)
    got = fan_out.eval_fn(0.0, y, k=0.3)
    np.testing.assert_allclose(got, _fan_out_by_hand(y, 0.3, n), rtol=1e-13)
    # 0.1.2's strings, evaluated one cell at a time, sum in the same order
    rhs = fan_out.rhs
    ev = StringEvaluator(
        states=dict(zip(rhs.state_names, y)), params={"k": 0.3}, aliases={}, t=0.0
    )
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # the evaluator walks a 1,000-term sum recursively
    try:
        strings = np.array([ev.evaluate(e) for e in rhs.equations])
    finally:
        sys.setrecursionlimit(limit)
    np.testing.assert_allclose(got, strings, rtol=1e-14)
    flows = fan_out.flows(0.0, y, k=0.3)
    assert flows.shape == (2 * n,)
    np.testing.assert_allclose(fan_out.stoichiometry @ flows, got, rtol=1e-12)


def test_a_thousand_pinned_transitions_jacobian(fan_out: Any) -> None:
    n = 1000
    y = np.linspace(1.0, 2.0, 2 + 2 * n)
    jac = fan_out.jacobian()(0.0, y, k=0.3)
    r = _rates(0.3, n)
    want = np.zeros((2 + 2 * n, 2 + 2 * n))
    want[[0, 1], [0, 1]] = -r.sum()
    for a in range(2):
        want[2 + a * n + np.arange(n), a] = r
    np.testing.assert_allclose(jac, want, rtol=1e-13)


def test_a_thousand_pinned_transitions_out_of_one_block() -> None:
    """Fan-in: every bin drains into one scalar state, a sum of n terms."""
    n = 1000
    spec = {
        "kind": "transitions",
        "axes": [{"name": "bin", "coords": [f"b{i}" for i in range(n)]}],
        "state": ["X[bin]", "Y"],
        "transitions": [
            {"from": f"X[bin=b{i}]", "to": "Y", "rate": FORMS[i % 6]} for i in range(n)
        ],
    }
    c = compile_spec(spec)
    y = np.linspace(1.0, 2.0, n + 1)
    r = _rates(0.7, n)
    flows = r * y[:n]
    want = np.concatenate([-flows, [0.0]])
    want[-1] = 0.0
    for f in flows:  # left to right, as 0.1.2 adds
        want[-1] += f
    np.testing.assert_allclose(c.eval_fn(0.0, y, k=0.7), want, rtol=1e-14)


def test_many_pinned_transitions_on_jax() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    n = 150
    c = compile_spec(_fan_out(n), backend="jax")
    y = np.linspace(1.0, 2.0, 2 + 2 * n)
    got = jax.jit(lambda yy: c.eval_fn(0.0, yy, k=0.3))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), _fan_out_by_hand(y, 0.3, n), rtol=1e-13)
