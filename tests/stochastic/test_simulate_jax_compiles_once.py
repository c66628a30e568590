"""`simulate(key=...)` on JAX compiles once per model, method, step and shapes:
a new key or new parameter values reuse the compiled run (the trace count is
the number of times the run's Python body executes), and the run keeps working
when first used inside a user's trace and then outside it or in another.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy

import op_system._stochastic.simulators as simulators  # noqa: E402
from op_system import compile_spec  # noqa: E402

SEIR = {
    "kind": "transitions",
    "state": ["S", "E", "I", "R"],
    "transitions": [
        {"from": "S", "to": "E", "rate": "beta * I / N"},
        {"from": "E", "to": "I", "rate": "sigma"},
        {"from": "I", "to": "R", "rate": "gamma"},
    ],
}
Y0 = np.array([990, 0, 10, 0])
TIMES = np.arange(0.0, 20.0)


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a JAX run is traced (its body runs only when traced)."""
    count = [0]
    run = simulators.run_jax

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return run(*args, **kwargs)

    monkeypatch.setattr(simulators, "run_jax", counted)
    return count


def _simulate(model: Any, key: Any, beta: Any, n: int = 20) -> Any:
    return model.simulate(
        Y0, TIMES, key=key, n=n, dt=0.5, beta=beta, sigma=0.3, gamma=0.2, N=1000.0
    )


def test_a_new_key_and_new_parameters_do_not_trace_again(traces: list[int]) -> None:
    model = compile_spec(SEIR, xp="jax")
    first = _simulate(model, jax.random.PRNGKey(0), 0.5)
    again = _simulate(model, jax.random.PRNGKey(0), 0.5)
    other = _simulate(model, jax.random.PRNGKey(1), 0.9)
    assert traces == [1]
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))
    assert (np.asarray(other).sum(axis=2) == Y0.sum()).all()  # counts conserved
    _simulate(model, jax.random.PRNGKey(2), 0.5, n=30)  # a new shape: one more
    assert traces == [2]


def test_the_run_works_in_one_trace_then_another() -> None:
    model = compile_spec(SEIR, xp="jax")
    key = jax.random.PRNGKey(3)
    inside = jax.jit(lambda k, b: _simulate(model, k, b))(key, 0.7)
    outside = _simulate(model, key, 0.7)
    vmapped = jax.vmap(lambda b: _simulate(model, key, b))(jnp.array([0.7, 0.7]))
    np.testing.assert_array_equal(np.asarray(inside), np.asarray(outside))
    np.testing.assert_array_equal(np.asarray(vmapped[0]), np.asarray(outside))
