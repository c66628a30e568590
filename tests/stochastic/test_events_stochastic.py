"""Timed events under every stochastic method (`_stochastic/events.py`): the run
stops at the event's time, the event changes the counts by exactly its amount
(moves conserve the total), on NumPy and JAX; the particle filter honours them;
and the DSMTS timed resets dsmts-002-09 and dsmts-002-10 match the suite's
published means and standard deviations under the SSA.

Statistical tests are seeded (they pass or fail the same way every run); each
states its false-alarm rate under a fresh seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats
from tests.stochastic.test_dsmts_reactions import LEVEL, _moments_pass

from op_system import compile_spec

SEIR: dict[str, Any] = {
    "kind": "transitions",
    "state": ["S", "E", "I", "R"],
    "transitions": [
        {"from": "S", "to": "E", "rate": "beta * I / (S + E + I + R)"},
        {"from": "E", "to": "I", "rate": "sigma"},
        {"from": "I", "to": "R", "rate": "gamma"},
    ],
    "events": [
        {"time": "t_seed", "move": {"from": "S", "to": "E", "amount": "n_seed"}},
        {"time": 4, "add": {"I": 5}},
    ],
}
#: the stoichiometry of `SEIR`'s three flows, written by hand (state x flow)
STOICH = np.array([[-1, 0, 0], [1, -1, 0], [0, 1, -1], [0, 0, 1]])
PARAMS = {"beta": 0.9, "sigma": 0.5, "gamma": 0.3, "n_seed": 10}
TIMES = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
METHODS = [
    ("chain_binomial", 0.25),
    ("gempyor", 0.25),
    ("tau_leap", None),
    ("ssa", None),
]


def _run(c: Any, backend: str, method: str, dt: float | None, **params: Any) -> Any:
    if backend == "jax":
        import jax

        kw: dict[str, Any] = {"key": jax.random.PRNGKey(4)}
    else:
        kw = {"seed": 4}
    y0 = np.array([1000, 0, 0, 0])
    sim = c.simulate(
        y0, TIMES, method=method, dt=dt, n=20, return_flows=True, **kw, **params
    )
    return np.asarray(sim.states), np.asarray(sim.flows)


@pytest.fixture(scope="module")
def seir_numpy() -> Any:
    return compile_spec(SEIR)


@pytest.fixture(scope="module")
def seir_jax() -> Any:
    jnp = pytest.importorskip("jax.numpy")
    return compile_spec(SEIR, xp=jnp)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize(("method", "dt"), METHODS, ids=[m for m, _ in METHODS])
def test_an_event_changes_the_counts_by_exactly_its_amount_at_its_time(
    backend: str, method: str, dt: float | None, request: Any
) -> None:
    """Over each interval the counts change by the flows' moves plus the events
    in it, exactly: the seeding (S -> E, 10 at t = 2.5) in (2, 3], the pulse
    (I + 5 at t = 4) in (3, 4]; the total is 1000 before the pulse and 1005
    after, in every trajectory. On JAX a second seeding time (5.5) runs in the
    same compiled run and moves in its own interval."""
    c = request.getfixturevalue(f"seir_{backend}")
    assert c.flow_names == ("S->E", "E->I", "I->R")
    for t_seed, seeded in [(2.5, 2)] + ([(5.5, 5)] if backend == "jax" else []):
        y, moves = _run(c, backend, method, dt, t_seed=t_seed, **PARAMS)
        by_events = np.diff(y, axis=1) - moves @ STOICH.T
        expected = np.zeros((len(TIMES) - 1, 4), dtype=np.int64)
        expected[seeded] = [-10, 10, 0, 0]
        expected[3] += [0, 0, 5, 0]
        np.testing.assert_array_equal(
            by_events, np.broadcast_to(expected, y[:, 1:].shape)
        )
        np.testing.assert_array_equal(y[:, :4].sum(axis=2), 1000)
        np.testing.assert_array_equal(y[:, 4:].sum(axis=2), 1005)
        assert moves.sum() > 0
        assert (y >= 0).all()


DECAY: dict[str, Any] = {
    "kind": "transitions",
    "state": ["X", "D"],
    "transitions": [{"from": "X", "to": "D", "rate": "mu"}],
    "events": [{"time": 2.5, "set": {"X": 1000}}, {"time": 2.5, "add": {"D": -3}}],
}


@pytest.mark.parametrize(
    ("method", "dt"), [("chain_binomial", 0.2), ("gempyor", 0.2), ("ssa", None)]
)
def test_the_run_stops_at_the_event_time(method: str, dt: float | None) -> None:
    """X = 1000 set at t = 2.5, inside the interval (2, 3], then decaying at
    mu = 1: X(3) ~ Binomial(1000, exp(-0.5)) exactly under these methods (the
    event applied at 2 or 3 instead would give mean 368 or 1000, not 607). A
    z-test of the mean over 300 runs at level 1e-3 (false-alarm rate 0.1%);
    `add: {D: -3}` at zero stops at zero (counts never go negative)."""
    c = compile_spec(DECAY)
    y = c.simulate(
        np.array([0, 0]), [0.0, 2.0, 3.0], method=method, dt=dt, seed=2, n=300, mu=1.0
    )
    x = y[:, 2, 0].astype(float)
    p = np.exp(-0.5)
    z = (x.mean() - 1000 * p) / np.sqrt(1000 * p * (1 - p) / x.size)
    assert abs(z) < stats.norm.isf(LEVEL / 2), (x.mean(), z)
    np.testing.assert_array_equal(y[:, 2].sum(axis=1), 1000)  # D was 0: no -3


def test_the_particle_filter_honours_events() -> None:
    """Nothing moves (rate 0); 7 arrive in X at t = 1.5. Observed X at 1, 2, 3
    with a Poisson observation of mean X: the log-likelihood is that of X = 3,
    10, 10, computed by hand."""
    jax = pytest.importorskip("jax")
    spec = {**DECAY, "events": [{"time": 1.5, "add": {"X": 7}}]}
    c = compile_spec(spec, xp=jax.numpy)
    data = np.array([[2.0], [9.0], [12.0]])
    res = c.particle_filter(
        np.array([3, 0]),
        [0.0, 1.0, 2.0, 3.0],
        data,
        key=jax.random.PRNGKey(0),
        states=["X"],
        method="ssa",
        n_particles=8,
        mu=0.0,
    )
    expected = stats.poisson.logpmf(data[:, 0], [3.0, 10.0, 10.0]).sum()
    np.testing.assert_allclose(float(res.log_likelihood), expected, rtol=1e-10)


#: dsmts-002-09 / -10: immigration (0 -> X at Alpha = 1) and death (X -> 0 at
#: Mu * X, Mu = 0.1), X(0) = 0, and a timed reset: X = 50 at t = 25 (002-09),
#: X = 20 at t = 22.5, between the suite's output times (002-10)
IMMIGRATION_DEATH: dict[str, Any] = {
    "kind": "transitions",
    "state": ["X"],
    "transitions": [
        {"name": "immigration", "from": None, "to": "X", "rate": "alpha"},
        {"name": "death", "from": "X", "to": None, "rate": "mu"},
    ],
}
#: the suite's tables (dsmts-002-09-mean.csv, -sd.csv; -10 likewise) at the
#: times used: time -> (mean, sd)
DSMTS_002_09 = {
    24.0: (9.09282, 3.015430318),
    25.0: (50.0, 0.0),
    26.0: (46.1934967214, 2.29280593761),
    30.0: (34.2612263885, 3.9833722309),
    50.0: (13.283399945, 3.59812487207),
}
DSMTS_002_10 = {
    22.0: (8.891968, 2.981940308),
    23.0: (19.512294245, 1.18976715549),
    25.0: (17.7880078307, 2.37852782966),
    50.0: (10.6392786121, 3.24923732333),
}


@pytest.mark.parametrize(
    ("model", "backend", "runs"),
    [("002-09", "jax", 10_000), ("002-10", "jax", 10_000), ("002-09", "numpy", 1_000)],
)
def test_ssa_dsmts_timed_resets_002_09_and_002_10(
    model: str, backend: str, runs: int
) -> None:
    """DSMTS dsmts-002-09 (X = 50 at t = 25) and dsmts-002-10 (X = 20 at t =
    22.5) under the SSA: the mean and variance of X at four times against the
    suite's tables, 8 tests at level 1e-3 per model and backend (false-alarm
    rate at most 0.8% each, by the union bound); at t = 25, 002-09 records the
    reset itself (50 in every trajectory, sd 0 in the suite's table)."""
    table, at = (DSMTS_002_09, 25) if model == "002-09" else (DSMTS_002_10, 22.5)
    value = 50 if model == "002-09" else 20
    spec = {**IMMIGRATION_DEATH, "events": [{"time": at, "set": {"X": value}}]}
    times = [0.0, *table]
    if backend == "jax":
        jax = pytest.importorskip("jax")
        c = compile_spec(spec, xp=jax.numpy)
        kw: dict[str, Any] = {"key": jax.random.PRNGKey(7)}
    else:
        c = compile_spec(spec)
        kw = {"seed": 7}
    out = np.asarray(
        c.simulate(np.array([0]), times, method="ssa", n=runs, alpha=1.0, mu=0.1, **kw)
    )
    for i, (mean, sd) in enumerate(table.values(), start=1):
        x = out[:, i, 0].astype(float)
        if sd == 0.0:
            np.testing.assert_array_equal(x, mean)
        else:
            _moments_pass(x, mean, sd)
