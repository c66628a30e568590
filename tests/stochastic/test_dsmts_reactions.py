"""Reactions with any stoichiometry under the stochastic methods
(`reaction: "2 P -> P2"`; see `_core/reactions.py`).

The exact methods are held to published reference moments: the Discrete
Stochastic Models Test Suite (DSMTS; Evans, Gillespie & Wilkinson, "The SBML
discrete stochastic models test suite", Bioinformatics 24(2), 2008), models
dsmts-003-01 (dimerisation) and dsmts-004-01 (batch immigration-death), whose
mean and standard deviation tables (`dsmts-003-01-mean.csv`, `-sd.csv`, ...)
are transcribed below at five of their 51 time points.

Statistical tests are seeded (they pass or fail the same way every run); each
states the probability that it would fail for a correct simulator under a fresh
seed (its false-alarm rate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from op_system import UnsupportedFeatureError, compile_spec

#: dsmts-003-01: 2P -> P2 at k1*P*(P-1)/2 (k1 = 0.001), P2 -> 2P at k2*P2
#: (k2 = 0.01), P(0) = 100, P2(0) = 0
DIMERISATION = {
    "kind": "transitions",
    "state": ["P", "P2"],
    "transitions": [
        {"name": "dimerisation", "reaction": "2 P -> P2", "rate": "k1"},
        {"name": "dissociation", "reaction": "P2 -> 2 P", "rate": "k2"},
    ],
}
#: the same model in op-system 0.9.0's language (no `from`: the reaction says all)
DIMERISATION_09 = {**DIMERISATION, "dialect": "0.9"}
DSMTS_003_TIMES = [1.0, 5.0, 10.0, 25.0, 50.0]
#: (mean, sd) of P and of P2 at `DSMTS_003_TIMES`
DSMTS_003 = {
    "P": (
        [91.031766, 67.583559, 52.214271, 34.887453, 28.542298],
        [3.862504, 5.592782, 5.51176, 4.964691, 4.789331],
    ),
    "P2": (
        [4.484117, 16.208221, 23.892864, 32.556273, 35.728851],
        [1.931252, 2.796391, 2.75588, 2.482345, 2.394665],
    ),
}

#: dsmts-004-01: 0 -> 5X at Alpha = 1, X -> 0 at Mu*X (Mu = 0.2), X(0) = 0
BATCH = {
    "kind": "transitions",
    "state": ["X"],
    "transitions": [
        {"name": "immigration", "reaction": "0 -> 5 X", "rate": "alpha"},
        {"name": "death", "reaction": "X -> 0", "rate": "mu"},
    ],
}
DSMTS_004_TIMES = [1.0, 5.0, 10.0, 25.0, 50.0]
DSMTS_004 = (
    [4.531731, 15.803014, 21.616618, 24.831551, 24.998865],
    [4.584292, 7.683505, 8.408379, 8.650392, 8.660189],
)

#: two-sided level of each test below
LEVEL = 1e-3


def _moments_pass(x: np.ndarray, mean: float, sd: float) -> None:
    """A z-test of the sample mean against `mean` and one of the sample variance
    against `sd**2`, each two-sided at `LEVEL`. The variance's standard error is
    estimated from the sample's fourth central moment, `(m4 - s**4) / n`, so the
    test holds for skewed and heavy-tailed counts too (asymptotically)."""
    n = len(x)
    z_mean = (x.mean() - mean) / (sd / np.sqrt(n))
    crit = stats.norm.isf(LEVEL / 2)
    assert abs(z_mean) < crit, (x.mean(), mean, z_mean)
    s2 = x.var(ddof=1)
    m4 = np.mean((x - x.mean()) ** 4)
    z_var = (s2 - sd**2) / np.sqrt((m4 - s2**2) / n)
    assert abs(z_var) < crit, (s2, sd**2, z_var)


def _simulate(
    spec: dict[str, Any],
    backend: str,
    y0: list[int],
    times: list[float],
    runs: int,
    method: str = "ssa",
    **params: Any,
) -> np.ndarray:
    if backend == "jax":
        jax = pytest.importorskip("jax")
        c = compile_spec(spec, xp=jax.numpy)
        kw: dict[str, Any] = {"key": jax.random.PRNGKey(3)}
    else:
        c = compile_spec(spec)
        kw = {"seed": 3}
    out = c.simulate(np.array(y0), [0.0, *times], method=method, n=runs, **kw, **params)
    return np.asarray(out)


@pytest.mark.parametrize(
    ("backend", "spec", "runs"),
    [("jax", DIMERISATION_09, 10_000), ("numpy", DIMERISATION, 2_000)],
    ids=["jax-dialect-0.9", "numpy-dialect-0.1"],
)
def test_ssa_dsmts_dimerisation_003(
    backend: str, spec: dict[str, Any], runs: int
) -> None:
    """DSMTS dsmts-003-01 under the SSA (`2 P -> P2` fires at `k1*P*(P-1)/2`):
    the mean and variance of P and P2 at five times against the suite's table,
    20 tests at level 1e-3 (false-alarm rate at most 2% for the whole set, by the
    union bound; P2 = (100 - P) / 2, so the P2 tests repeat the P ones and the
    rate is at most 1%). Every trajectory keeps P + 2 P2 = 100 exactly."""
    out = _simulate(spec, backend, [100, 0], DSMTS_003_TIMES, runs, k1=0.001, k2=0.01)
    np.testing.assert_array_equal(out[:, :, 0] + 2 * out[:, :, 1], 100)
    for col, name in enumerate(("P", "P2")):
        means, sds = DSMTS_003[name]
        for i, (mean, sd) in enumerate(zip(means, sds), start=1):
            _moments_pass(out[:, i, col].astype(float), mean, sd)


@pytest.mark.parametrize(("backend", "runs"), [("jax", 10_000), ("numpy", 2_000)])
def test_ssa_dsmts_batch_immigration_death_004(backend: str, runs: int) -> None:
    """DSMTS dsmts-004-01 under the SSA (`0 -> 5 X` brings five at each event):
    the mean and variance of X at five times against the suite's table, 10 tests
    at level 1e-3 (false-alarm rate at most 1%). Counts never go negative, and
    with no deaths (mu = 0) X stays a multiple of 5."""
    out = _simulate(BATCH, backend, [0], DSMTS_004_TIMES, runs, alpha=1.0, mu=0.2)
    assert (out >= 0).all()
    means, sds = DSMTS_004
    for i, (mean, sd) in enumerate(zip(means, sds), start=1):
        _moments_pass(out[:, i, 0].astype(float), mean, sd)
    alone = _simulate(BATCH, backend, [0], [3.0], 200, alpha=1.0, mu=0.0)
    assert (alone % 5 == 0).all()
    assert alone[:, -1].max() > 0


def test_ssa_moves_are_events_of_the_reactions() -> None:
    """With `return_flows=True` each reaction's moves count its events: P changes
    by exactly 2 per dissociation less 2 per dimerisation, P2 by one per event,
    over every interval of every trajectory."""
    c = compile_spec(DIMERISATION)
    sim = c.simulate(
        np.array([100, 0]),
        [0.0, 2.0, 20.0],
        method="ssa",
        seed=5,
        n=50,
        return_flows=True,
        k1=0.001,
        k2=0.01,
    )
    y, moves = np.asarray(sim.states), np.asarray(sim.flows)
    assert c.flow_names == ("dimerisation", "dissociation")
    dy = np.diff(y, axis=1)
    np.testing.assert_array_equal(dy[..., 0], -2 * moves[..., 0] + 2 * moves[..., 1])
    np.testing.assert_array_equal(dy[..., 1], moves[..., 0] - moves[..., 1])
    assert moves.sum() > 0


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_tau_leap_dsmts_batch_immigration_death_004(backend: str) -> None:
    """Adaptive tau-leaping on dsmts-004-01 (Poisson counts of each reaction's
    events, five arrivals each): the mean of X at t = 10 passes a z-test at level
    1e-3 against the suite's 21.616618 (false-alarm rate 0.1%, plus the leap's own
    small bias); counts never go negative."""
    runs = 4_000 if backend == "jax" else 1_000
    out = _simulate(BATCH, backend, [0], [10.0], runs, "tau_leap", alpha=1.0, mu=0.2)
    assert (out >= 0).all()
    x = out[:, -1, 0].astype(float)
    z = (x.mean() - DSMTS_004[0][2]) / (DSMTS_004[1][2] / np.sqrt(runs))
    assert abs(z) < stats.norm.isf(LEVEL / 2), (x.mean(), z)


def test_chain_binomial_reaction_from_one_cell() -> None:
    """`P2 -> 2 P` takes one individual from one cell per event, so the
    chain-binomial step draws it like a transition: each P2 dissociates by time t
    with probability 1 - exp(-k2 t) whatever the steps, so P2(t) ~ Binomial(P2(0),
    exp(-k2 t)) exactly; a G-test of its histogram at t = 2 (k2 = 0.5, P2(0) = 10)
    against that law at level 1e-3 (false-alarm rate 0.1%), and P = 2 (P2(0) - P2)
    in every trajectory."""
    spec = {
        "kind": "transitions",
        "state": ["P", "P2"],
        "transitions": [{"reaction": "P2 -> 2 P", "rate": "k2"}],
    }
    c = compile_spec(spec)
    out = np.asarray(
        c.simulate(
            np.array([0, 10]),
            [0.0, 2.0],
            method="chain_binomial",
            dt=0.3,
            seed=8,
            n=4_000,
            k2=0.5,
        )
    )
    np.testing.assert_array_equal(out[:, -1, 0], 2 * (10 - out[:, -1, 1]))
    counts = np.bincount(out[:, -1, 1], minlength=11).astype(float)
    probs = stats.binom.pmf(np.arange(11), 10, np.exp(-0.5 * 2.0))
    expected = counts.sum() * probs
    keep = counts > 0
    g = 2.0 * np.sum(counts[keep] * np.log(counts[keep] / expected[keep]))
    assert stats.chi2.sf(g, df=10) > LEVEL, g


def test_chain_binomial_batch_source_follows_its_step_law() -> None:
    """`0 -> 5 X` brings no individual out of a cell, so the chain-binomial step
    draws its events as a source's, `Poisson(alpha * dt)`, five arrivals each, and
    `X -> 0` as deaths `Binomial(X, 1 - exp(-mu dt))`: the mean after k steps
    follows `m' = m exp(-mu dt) + 5 alpha dt` (a hand loop). A z-test at t = 10
    (dt = 0.5) at level 1e-3 with the suite's sd as the scale (false-alarm rate
    about 0.1%); X stays a multiple of 5 when mu = 0."""
    c = compile_spec(BATCH)
    dt, steps = 0.5, 20
    out = np.asarray(
        c.simulate(
            np.array([0]),
            [0.0, 10.0],
            method="chain_binomial",
            dt=dt,
            seed=2,
            n=4_000,
            alpha=1.0,
            mu=0.2,
        )
    )
    m = 0.0
    for _ in range(steps):
        m = m * np.exp(-0.2 * dt) + 5 * 1.0 * dt
    x = out[:, -1, 0].astype(float)
    z = (x.mean() - m) / (DSMTS_004[1][2] / np.sqrt(len(x)))
    assert abs(z) < stats.norm.isf(LEVEL / 2), (x.mean(), m)
    alone = c.simulate(
        np.array([0]),
        [0.0, 3.0],
        method="chain_binomial",
        dt=0.5,
        seed=1,
        n=100,
        alpha=1.0,
        mu=0.0,
    )
    assert (np.asarray(alone) % 5 == 0).all()


def test_chain_binomial_refuses_a_reaction_taking_two_of_a_cell() -> None:
    """`2 P -> P2` takes two individuals of one cell per event, which the
    chain-binomial step (individuals leaving a cell one by one) cannot draw: the
    error names the reaction's path and text and the methods that can."""
    c = compile_spec(DIMERISATION)
    for method in ("chain_binomial", "gempyor"):
        with pytest.raises(UnsupportedFeatureError, match="ssa") as err:
            c.simulate(
                np.array([100, 0]), [0.0, 1.0], method=method, dt=0.1, k1=0.001, k2=0.01
            )
        assert err.value.path == "transitions[0].reaction"
        assert err.value.token == "2 P -> P2"


def test_propensities_count_combinations() -> None:
    """`bind(params, output="propensities")`, what the stochastic methods draw
    from: `k1*P*(P-1)/2` for `2 P -> P2` (zero with one P left), `k2*P2*P` for
    `P2 + P -> 3 P`, per cell of a template (by hand); `flows()` keeps the
    mass-action flux `k1*P**2/2`. For a model without reactions the two
    outputs agree."""
    spec = {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ["y", "o"]}],
        "state": ["P[age]", "P2[age]"],
        "transitions": [
            {"reaction": "2 P[age] -> P2[age]", "rate": "k1[age]"},
            {"reaction": "P2[age] + P[age] -> 3 P[age]", "rate": "k2"},
        ],
    }
    c = compile_spec(spec)
    k1, k2 = np.array([0.1, 0.2]), 0.5
    y = np.array([10.0, 1.0, 3.0, 2.0])
    got = c.bind({"k1": k1, "k2": k2}, output="propensities")(0.0, y)
    want = [0.1 * 10 * 9 / 2, 0.0, 0.5 * 3 * 10, 0.5 * 2 * 1]
    np.testing.assert_allclose(got, want, rtol=1e-14)
    flows = c.flows(0.0, y, k1=k1, k2=k2)
    np.testing.assert_allclose(flows[:2], [0.1 * 100 / 2, 0.2 * 1 / 2], rtol=1e-14)
    plain = compile_spec(
        {
            "kind": "transitions",
            "state": ["S", "I"],
            "transitions": [{"from": "S", "to": "I", "rate": "beta * I"}],
        }
    )
    y2 = np.array([90.0, 10.0])
    np.testing.assert_array_equal(
        plain.bind({"beta": 0.01}, output="propensities")(0.0, y2),
        plain.flows(0.0, y2, beta=0.01),
    )


def test_adaptive_tau_g_of_reactions() -> None:
    """The adaptive tau-leap's `g_i` (Cao, Gillespie & Petzold 2006, eq. 27) by
    hand: `2 + 1/(x-1)` for two of `x` in a second-order reaction, `3 + 1/(x-1) +
    2/(x-2)` for three of `x`, `3/2 (2 + 1/(x-1))` for two of `x` in a
    third-order one, `3` for one of `x` there; 2 for a state in no such reaction
    (the rule for every spec rate)."""
    from op_system._stochastic.laws import reaction_g, step_plan

    spec = {
        "kind": "transitions",
        "state": ["P", "P2", "X", "Y", "A", "B", "C", "Z"],
        "transitions": [
            {"reaction": "2 P -> P2", "rate": "k"},
            {"reaction": "3 X -> Y", "rate": "k"},
            {"reaction": "A + 2 B -> C", "rate": "k"},
            {"from": "Z", "to": "C", "rate": "k"},
        ],
    }
    plan = step_plan(compile_spec(spec)._model_of_rhs())
    y = np.array([10.0, 4.0, 7.0, 1.0, 5.0, 9.0, 2.0, 3.0])
    want = [
        2 + 1 / 9,
        2.0,
        3 + 1 / 6 + 2 / 5,
        2.0,
        3.0,
        1.5 * (2 + 1 / 8),
        2.0,
        2.0,
    ]
    np.testing.assert_allclose(reaction_g(plan, y, np), want, rtol=1e-14)
    jax = pytest.importorskip("jax")
    got = reaction_g(plan, jax.numpy.asarray(y), jax.numpy)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-14)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_tau_leap_dsmts_dimerisation_003(backend: str) -> None:
    """Adaptive tau-leaping on dsmts-003-01 (`2 P -> P2` drawn at its
    combinatorial propensity, two P per event): the mean of P at t = 10 passes a
    z-test at level 1e-3 against the suite's 52.214271 (false-alarm rate 0.1%,
    plus the leap's own small bias); P + 2 P2 = 100 exactly, never negative."""
    runs = 4_000 if backend == "jax" else 1_000
    out = _simulate(
        DIMERISATION, backend, [100, 0], [10.0], runs, "tau_leap", k1=0.001, k2=0.01
    )
    assert (out >= 0).all()
    np.testing.assert_array_equal(out[:, :, 0] + 2 * out[:, :, 1], 100)
    x = out[:, -1, 0].astype(float)
    z = (x.mean() - DSMTS_003["P"][0][2]) / (DSMTS_003["P"][1][2] / np.sqrt(runs))
    assert abs(z) < stats.norm.isf(LEVEL / 2), (x.mean(), z)
