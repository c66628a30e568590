"""The two samplers of the stochastic laws (`_samplers.py`) keep one interface.

Each law (`_laws.py`) is written once and run over a NumPy sampler (a
`Generator`) or a JAX sampler (a key): every draw, and every law's step, must
come back with the same shapes and kinds of values, within the bounds the law
relies on (no draw above what it draws from, no negative count, the moves and
the counts in step).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pytest

from op_system import compile_spec
from op_system._stochastic.laws import Chain, Event, Laws, Leap
from op_system._stochastic.samplers import JaxSampler, NumpySampler
from op_system._stochastic.simulation import stochastic_plan

jax = pytest.importorskip("jax")
jnp = jax.numpy

#: competing exits out of X, a sink, a source and an incidence counter
SPEC = {
    "kind": "transitions",
    "state": ["X", "A", "B"],
    "transitions": [
        {"name": "to_a", "from": "X", "to": "A", "rate": "a * (1 + A) / (1 + X)"},
        {"name": "to_b", "from": "X", "to": "B", "rate": "b"},
        {"name": "die", "from": "A", "to": None, "rate": "d"},
        {"name": "birth", "from": None, "to": "X", "rate": "nu"},
    ],
    "incidence": {"into_a": "to_a"},
}
PARAMS = {"a": 0.3, "b": 0.7, "d": 0.2, "nu": 4.0}
Y0 = np.array([60, 5, 0, 0])


def _sampler(backend: str, seed: int) -> Any:
    if backend == "numpy":
        return NumpySampler(np.random.default_rng(seed))
    return JaxSampler(jax.random.PRNGKey(seed))


def _many(backend: str, fn: Any, seed: int, n: int) -> np.ndarray:
    """`fn(sampler)` for `n` samplers split from one: on NumPy one after another
    from one stream, on JAX `vmap`ped over the keys, as the simulators run."""
    if backend == "numpy":
        parts = _sampler("numpy", seed).split(n)
        return np.stack([np.asarray(fn(p)) for p in parts])
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    return np.asarray(jax.jit(jax.vmap(fn))(JaxSampler(keys)))


def _laws(backend: str, dt: float | None = None) -> Laws:
    """The laws of `SPEC` on `backend`, with the model's rates and flows there."""
    xp = np if backend == "numpy" else jnp
    c = compile_spec(SPEC, xp=xp)
    rates, flows = (c.bind(PARAMS, output=o) for o in ("rates", "flows"))
    return Laws(stochastic_plan(c), xp, rates, flows, dt)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_every_draw_keeps_the_protocol(backend: str) -> None:
    """Shapes, integer values and bounds of each draw, on either sampler."""
    s = _sampler(backend, 0)
    parts = s.split(3)
    assert len(parts) == 3
    assert all(type(p) is type(s) for p in parts)
    n = s.counts(np.array([0, 7, 40, 100_000]), np.float64)
    x = _many(backend, lambda p: p.binomial(n, np.array([0.3, 0.3, 1.0, 0.3])), 1, 20)
    assert x.shape == (20, 4)
    assert x.dtype == np.asarray(n).dtype
    assert (x == np.round(x)).all()
    assert (x >= 0).all()
    assert (x <= n).all()
    assert (x[:, 0] == 0).all()
    assert (x[:, 2] == 40).all()
    assert x[:, 1].any()
    k = _many(backend, lambda p: p.poisson(np.array([0.0, 2.0, 3e4])), 2, 20)
    assert k.shape == (20, 3)
    assert np.issubdtype(k.dtype, np.integer)
    assert (k[:, 0] == 0).all()
    assert (k >= 0).all()
    assert abs(k[:, 2].mean() - 3e4) < 300
    waits = _many(backend, lambda p: p.exponential(np.float64(4.0)), 3, 200)
    assert waits.shape == (200,)
    assert (waits > 0).all()
    assert np.isfinite(waits).all()
    assert 0.15 < waits.mean() < 0.35  # mean 1/4, sd of the mean 0.018
    weights = np.array([0.0, 1.0, 0.0, 3.0])
    picks = _many(backend, lambda p: p.categorical(weights, 4.0, True), 4, 200)
    assert picks.shape == (200,)
    assert np.issubdtype(picks.dtype, np.integer)
    assert set(picks.tolist()) == {1, 3}
    assert (picks == 3).sum() > (picks == 1).sum()


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize("method", ["chain_binomial", "gempyor", "tau_leap", "ssa"])
def test_each_law_steps_the_same_on_either_sampler(backend: str, method: str) -> None:
    """Twenty steps of a law from `Y0` (jitted on JAX): integer counts of the
    state's shape, never negative, moves of the flows' shape, and the counts moved
    by exactly the stoichiometry times the moves (the counter counts the moves
    into A)."""
    laws = _laws(backend, dt=0.5 if method == "tau_leap" else None)
    xp = laws.xp
    y0 = xp.asarray(Y0)
    moves0 = xp.zeros(laws.plan.n_flow, dtype=y0.dtype)
    t0, sampler = xp.asarray(0.0), _sampler(backend, 1)
    c: Any
    if method in ("chain_binomial", "gempyor"):
        c = Chain(y0, moves0, sampler)
        step: Any = lambda c: laws.chain(c, 0.0, 0.5, method == "gempyor")  # noqa: E731
    elif method == "tau_leap":
        c = Leap(y0, moves0, t0, xp.asarray(-1.0), sampler)
        step = lambda c: laws.leap(c, 10.0)  # noqa: E731
    else:
        c = Event(y0, moves0, t0, xp.asarray(False), sampler)
        step = lambda c: laws.event(c, 10.0)  # noqa: E731
    if backend == "jax":
        step = jax.jit(step)
    for _ in range(20):
        c = step(c)
    y, moves = np.asarray(c.y), np.asarray(c.moves)
    assert y.shape == Y0.shape
    assert moves.shape == (laws.plan.n_flow,)
    assert np.issubdtype(y.dtype, np.integer)
    assert moves.dtype == y.dtype
    assert (y >= 0).all()
    assert (moves >= 0).all()
    assert moves.sum() > 0
    np.testing.assert_array_equal(y - Y0, laws.plan.stoichiometry @ moves)
    assert y[3] == moves[0]  # the counter of to_a


@pytest.mark.parametrize("gempyor", [False, True])
def test_one_step_never_moves_more_than_a_cell_holds(gempyor: bool) -> None:
    """Out of X (two exits) at most X leave in a step, on either sampler, and both
    samplers give the moves in the same layout (flow order, whole numbers)."""
    shapes = set()
    for backend in ("numpy", "jax"):
        laws = _laws(backend)
        xp = laws.xp
        y0 = xp.asarray(Y0)
        rates = 20.0 * laws.rates(0.0, y0.astype(float))  # most leave X
        step = partial(laws.chain_moves, y=y0, rates=rates, dt=1.0, gempyor=gempyor)
        out = _many(backend, step, 5, 30)
        assert (out == np.round(out)).all()
        assert (out >= 0).all()
        leaving = out[:, 0] + out[:, 1]
        assert (leaving <= Y0[0]).all()
        assert leaving.max() > Y0[0] // 2
        shapes.add(out.shape)
    assert shapes == {(30, 4)}
