"""Chain-binomial simulation from a transitions spec (`CompiledRhs.simulate`).

Statistical tests are seeded (so they pass or fail the same way every run); each
states the probability that it would fail for a correct simulator (its
false-alarm rate) under a fresh seed.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from scipy import stats
from tests import models
from tests.jax._jax_models import SIR

from op_system import UnsupportedFeatureError, compile_spec

COMPETING = models.competing()

SIR_AGE = models.sir_age_vital()
SIR_PARAMS = {
    "beta": 0.4,
    "C": np.array([[2.0, 0.5], [0.5, 1.0]]),
    "gamma": 0.2,
    "nu": 3.0,
    "mu": 0.01,
}
Y0 = np.array([990, 490, 10, 10, 0, 0, 0, 0])


def _ode(spec: dict[str, Any], y0: np.ndarray, times: np.ndarray, **params: Any) -> Any:
    """The ODE of the same spec at `times` (NumPy, tight tolerances): the
    reference the large-N means are held to."""
    from scipy.integrate import solve_ivp

    rhs = compile_spec(spec).eval_fn
    return solve_ivp(
        lambda t, y: rhs(t, y, **params),
        (times[0], times[-1]),
        y0.astype(float),
        t_eval=times,
        rtol=1e-9,
        atol=1e-6,
    ).y.T


def _g_test(counts: np.ndarray, probs: np.ndarray) -> float:
    """p-value of the G-test of `counts` against the multinomial `probs`."""
    expected = counts.sum() * probs
    keep = counts > 0
    g = 2.0 * np.sum(counts[keep] * np.log(counts[keep] / expected[keep]))
    return float(stats.chi2.sf(g, df=len(probs) - 1))


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize(("dt", "listed"), [(0.1, "ab"), (2.0, "ab"), (2.0, "ba")])
def test_competing_risks_follow_the_exact_multinomial(
    backend: str, dt: float, listed: str
) -> None:
    """One individual in X with exits to A (rate a) and B (rate b), one step of dt:
    it is in A, B or X with probabilities (a, b) / (a + b) * (1 - e^{-(a+b) dt}) and
    e^{-(a+b) dt}, whatever dt and whichever exit is listed first. G-test over
    10^5 draws at level 1e-3 (false-alarm rate 0.1% per case)."""
    a, b = 0.3, 0.7
    spec = copy.deepcopy(COMPETING)
    if listed == "ba":
        spec["transitions"].reverse()
    xp = None
    if backend == "jax":
        jax = pytest.importorskip("jax")
        xp = jax.numpy
    c = compile_spec(spec, xp=xp) if xp is not None else compile_spec(spec)
    kwargs: dict[str, Any] = (
        {"key": __import__("jax").random.PRNGKey(1)}
        if backend == "jax"
        else {"seed": 1}
    )
    out = c.simulate(
        np.array([1, 0, 0]), [0.0, dt], dt=dt, n=100_000, a=a, b=b, **kwargs
    )
    final = np.asarray(out)[:, -1, :]
    assert final.sum(axis=1).tolist() == [1] * 100_000  # one individual, conserved
    counts = final.sum(axis=0)  # in X, A, B
    stay = np.exp(-(a + b) * dt)
    probs = np.array([stay, a / (a + b) * (1 - stay), b / (a + b) * (1 - stay)])
    assert _g_test(counts, probs) > 1e-3, (counts, probs * 100_000)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_invariants_and_reproducibility(backend: str) -> None:
    """Integer, non-negative counts; the closed part of the model (S, I, R without
    births and deaths) conserves people; counters count the infections; the same
    seed gives the same output."""
    spec = {**SIR_AGE, "transitions": SIR_AGE["transitions"][:2]}
    if backend == "jax":
        jax = pytest.importorskip("jax")
        c = compile_spec(spec, xp=jax.numpy)
        run = lambda s: c.simulate(  # noqa: E731
            Y0,
            np.arange(0.0, 31.0, 5.0),
            dt=0.5,
            key=jax.random.PRNGKey(s),
            n=20,
            **SIR_PARAMS,
        )
    else:
        c = compile_spec(spec)
        run = lambda s: c.simulate(  # noqa: E731
            Y0, np.arange(0.0, 31.0, 5.0), dt=0.5, seed=s, n=20, **SIR_PARAMS
        )
    out = np.asarray(run(3))
    assert out.shape == (20, 7, 8)
    assert np.issubdtype(out.dtype, np.integer)
    assert (out >= 0).all()
    np.testing.assert_array_equal(out[:, :, :6].sum(axis=2), Y0[:6].sum())
    # cases = cumulative infections = what S lost
    np.testing.assert_array_equal(out[:, :, 6:8], Y0[:2] - out[:, :, 0:2])
    np.testing.assert_array_equal(np.asarray(run(3)), out)
    assert not np.array_equal(np.asarray(run(4)), out)


def test_law_of_large_numbers_against_the_ode() -> None:
    """At N = 10^6 the mean of 100 chain-binomial trajectories (JAX, dt = 0.01) is
    within 1% of the ODE of the same spec, births and deaths included, wherever a
    compartment holds more than 10^4 people. (The step's own bias is O(dt): at
    dt = 0.05 the epidemic runs about 2% ahead.)"""
    jax = pytest.importorskip("jax")
    c = compile_spec(SIR_AGE, xp=jax.numpy)
    y0 = np.array([595_000, 395_000, 5_000, 5_000, 0, 0, 0, 0])
    params = {**SIR_PARAMS, "nu": 3000.0}
    times = np.array([0.0, 10.0, 20.0, 30.0])
    out = np.asarray(
        c.simulate(y0, times, dt=0.01, key=jax.random.PRNGKey(11), n=100, **params)
    )
    ode = _ode(SIR_AGE, y0, times, **params)
    mean = out.mean(axis=0)
    big = ode > 1e4
    np.testing.assert_allclose(mean[big], ode[big], rtol=0.01)


def test_numpy_and_jax_agree_in_distribution() -> None:
    """Final cases of the age SIR over 2,000 runs each: NumPy and JAX draw from the
    same law (two-sample Kolmogorov-Smirnov at level 1e-3: false-alarm rate 0.1%)."""
    jax = pytest.importorskip("jax")
    times = np.array([0.0, 15.0])
    a = compile_spec(SIR_AGE).simulate(Y0, times, dt=0.5, seed=5, n=2_000, **SIR_PARAMS)
    cj = compile_spec(SIR_AGE, xp=jax.numpy)
    b = np.asarray(
        cj.simulate(Y0, times, dt=0.5, key=jax.random.PRNGKey(5), n=2_000, **SIR_PARAMS)
    )
    ca, cb = a[:, -1, 6:8].sum(axis=1), b[:, -1, 6:8].sum(axis=1)
    assert stats.ks_2samp(ca, cb).pvalue > 1e-3
    assert abs(ca.mean() - cb.mean()) < 0.05 * ca.mean()


def test_jax_simulate_jits_and_vmaps_over_parameters() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    c = compile_spec(SIR_AGE, xp=jnp)
    times = np.array([0.0, 5.0, 10.0])

    def final_cases(beta: Any, key: Any) -> Any:
        out = c.simulate(
            Y0, times, dt=0.5, key=key, n=50, **{**SIR_PARAMS, "beta": beta}
        )
        return out[:, -1, 6:8].sum(axis=1).mean()

    f = jax.jit(final_cases)
    lo = f(jnp.asarray(0.2), jax.random.PRNGKey(0))
    hi = f(jnp.asarray(0.8), jax.random.PRNGKey(0))
    assert hi > lo
    many = jax.vmap(f, in_axes=(0, None))(
        jnp.asarray([0.2, 0.8]), jax.random.PRNGKey(0)
    )
    np.testing.assert_allclose(many, [lo, hi])


def test_bad_input() -> None:
    c = compile_spec(SIR_AGE)
    with pytest.raises(ValueError, match="method must be one of"):
        c.simulate(Y0, [0.0, 1.0], method="gilespie", dt=0.1, **SIR_PARAMS)
    with pytest.raises(ValueError, match="dt"):
        c.simulate(Y0, [0.0, 1.0], **SIR_PARAMS)
    with pytest.raises(ValueError, match="increasing"):
        c.simulate(Y0, [1.0, 0.0], dt=0.1, **SIR_PARAMS)
    with pytest.raises(ValueError, match="non-negative integer"):
        c.simulate(Y0 - 20, [0.0, 1.0], dt=0.1, **SIR_PARAMS)
    with pytest.raises(UnsupportedFeatureError, match="transitions"):
        compile_spec({"state": ["x"], "equations": {"x": "-x"}}).simulate(
            np.array([1]), [0.0, 1.0], dt=0.1
        )


@pytest.mark.parametrize("seed", [31])
def test_rates_are_the_0_1_2_rate_strings(seed: int) -> None:
    """`rates()` on generated transitions specs: each flow's rate is the 0.1.2
    per-cell rate string evaluated at the point (per capita; a source's is its
    flux), and `flows == rates * source`."""
    import copy

    from tests.differential.compare import StringEvaluator, _close, scalar_inputs
    from tests.differential.generate import generate_cases

    from op_system import compile_rhs, normalize_rhs

    rng = np.random.default_rng(seed)
    checked = 0
    for case in generate_cases(200, seed=seed):
        spec = case["spec"]
        if spec.get("kind") != "transitions" or "chain" in spec:
            continue
        try:
            rhs = normalize_rhs(copy.deepcopy(spec))
            c = compile_rhs(rhs)
        except Exception:  # a case meant to be rejected
            continue
        y, params = scalar_inputs(rhs, rng)
        with np.errstate(all="ignore"):
            got = np.asarray(c.rates(0.4, y, **params), dtype=np.float64)
            ev = StringEvaluator(
                states=dict(zip(rhs.state_names, y)),
                params=params,
                aliases=dict(rhs.aliases),
                t=0.4,
            )
            want = np.array(
                [float(ev.evaluate(e["rate"])) for e in rhs.meta["transitions"]]
            )
            ok, why = _close(got, want)
            assert ok, (case["id"], why)
            index = {n: i for i, n in enumerate(rhs.state_names)}
            src = np.array(
                [
                    1.0 if e["from"] is None else y[index[e["from"]]]
                    for e in rhs.meta["transitions"]
                ]
            )
            ok, why = _close(np.asarray(c.flows(0.4, y, **params)), got * src)
            assert ok, (case["id"], why)
        checked += 1
    assert checked >= 40


# -- exact simulation (SSA) -----------------------------------------------------------
BIRTH_DEATH = {
    "kind": "transitions",
    "state": ["X"],
    "transitions": [
        {"name": "birth", "from": None, "to": "X", "rate": "lam * X"},
        {"name": "death", "from": "X", "to": None, "rate": "mu"},
    ],
}


@pytest.mark.parametrize(("backend", "runs"), [("jax", 10_000), ("numpy", 2_000)])
def test_ssa_dsmts_birth_death_001(backend: str, runs: int) -> None:
    """DSMTS model 001 (birth-death, X0 = 100, lambda = 0.1, mu = 0.11): at t = 1
    the mean is 99.00498 and the sd 4.54834. A z-test of the mean and a chi-square
    test of the variance, each two-sided at level 1e-3 (false-alarm rate 0.2% for
    the pair)."""
    times = [0.0, 0.5, 1.0]
    if backend == "jax":
        jax = pytest.importorskip("jax")
        c = compile_spec(BIRTH_DEATH, xp=jax.numpy)
        out = c.simulate(
            np.array([100]),
            times,
            method="ssa",
            key=jax.random.PRNGKey(7),
            n=runs,
            lam=0.1,
            mu=0.11,
        )
    else:
        c = compile_spec(BIRTH_DEATH)
        out = c.simulate(
            np.array([100]), times, method="ssa", seed=7, n=runs, lam=0.1, mu=0.11
        )
    x = np.asarray(out)[:, -1, 0].astype(float)
    mean, sd = 99.00498, 4.54834
    z = (x.mean() - mean) / (sd / np.sqrt(runs))
    assert abs(z) < stats.norm.isf(5e-4), z
    chi2 = (runs - 1) * x.var(ddof=1) / sd**2
    lo, hi = stats.chi2.ppf([5e-4, 1 - 5e-4], runs - 1)
    assert lo < chi2 < hi, (x.var(ddof=1), sd**2)


def _sir_final_size(n_pop: int, i0: int, beta: float, gamma: float) -> np.ndarray:
    """Exact final-size distribution of the SIR CTMC (its embedded jump chain)."""
    import functools

    @functools.cache
    def final(s: int, i: int) -> tuple[float, ...]:
        out = np.zeros(n_pop + 1)
        if i == 0:
            out[n_pop - s] = 1.0  # ever infected
            return tuple(out)
        p = beta * s / (beta * s + gamma * n_pop) if s else 0.0
        if p:
            out += p * np.asarray(final(s - 1, i + 1))
        out += (1 - p) * np.asarray(final(s, i - 1))
        return tuple(out)

    return np.asarray(final(n_pop - i0, i0))


def test_ssa_small_sir_final_size_matches_the_exact_recursion() -> None:
    """SIR with N = 20 (R0 = 2): the final size of 10^4 SSA runs against the exact
    distribution, G-test at level 1e-3 over bins with at least 5 expected
    (false-alarm rate 0.1%)."""
    jax = pytest.importorskip("jax")
    spec = SIR
    exact = _sir_final_size(20, 1, 0.4, 0.2)
    c = compile_spec(spec, xp=jax.numpy)
    y0 = np.array([19, 1, 0])
    out = np.asarray(
        c.simulate(
            y0,
            [0.0, 400.0],
            method="ssa",
            key=jax.random.PRNGKey(3),
            n=10_000,
            beta=0.4,
            gamma=0.2,
        )
    )
    assert (out[:, -1, 1] == 0).all()  # every epidemic is over
    sizes = 20 - out[:, -1, 0]
    counts = np.bincount(sizes, minlength=21).astype(float)
    expected = exact * len(sizes)
    big = expected >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp_ = np.append(expected[big], expected[~big].sum())
    keep = exp_ > 0
    assert _g_test(obs[keep], exp_[keep] / exp_[keep].sum()) > 1e-3


@pytest.mark.parametrize("method", ["chain_binomial", "tau_leap"])
def test_stepped_methods_converge_to_the_exact_final_size(method: str) -> None:
    """The same SIR (N = 20) by steps of dt = 2, 0.5 and 0.1: the total variation
    between 4,000 runs' final sizes and the exact distribution falls with dt
    (about 0.2, 0.05, 0.03 measured: it halves with the step down to the sampling
    floor of about 0.03, whose standard deviation is about 0.005). The checks:
    dt = 2 is off by more than 0.1 and by more than twice either finer step, and
    dt = 0.1 is within 0.05 (4 standard deviations above the floor), so a
    correct simulator fails with probability below 1e-4 under a fresh seed."""
    jax = pytest.importorskip("jax")
    exact = _sir_final_size(20, 1, 0.4, 0.2)
    c = compile_spec(SIR, xp=jax.numpy)
    tv = []
    for dt in (2.0, 0.5, 0.1):
        out = np.asarray(
            c.simulate(
                np.array([19, 1, 0]),
                [0.0, 150.0],
                method=method,
                dt=dt,
                key=jax.random.PRNGKey(4),
                n=4_000,
                beta=0.4,
                gamma=0.2,
            )
        )
        assert (out[:, -1, 1] == 0).all()  # every epidemic is over
        sizes = np.bincount(20 - out[:, -1, 0], minlength=21) / 4_000
        tv.append(0.5 * np.abs(sizes - exact).sum())
    assert tv[0] > 0.1, tv  # a coarse step is visibly off ...
    assert tv[0] > 2 * max(tv[1], tv[2]), tv  # ... and the error falls with it
    assert tv[2] < 0.05, tv


# -- gempyor's step and tau-leaping -----------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_gempyor_step_is_its_documented_biased_law(backend: str) -> None:
    """gempyor's step for competing exits, one individual, one step of dt = 2: A
    with probability 1 - e^{-a dt} (listed first), B with (e^{-a dt})(1 - e^{-b dt})
    (independent draw, clipped), else X: G-test over 10^5 draws at level 1e-3
    (false-alarm rate 0.1%). And it differs from the multinomial law."""
    a, b, dt = 0.3, 0.7, 2.0
    if backend == "jax":
        jax = pytest.importorskip("jax")
        c = compile_spec(COMPETING, xp=jax.numpy)
        kw: dict[str, Any] = {"key": jax.random.PRNGKey(2)}
    else:
        c = compile_spec(COMPETING)
        kw = {"seed": 2}
    out = np.asarray(
        c.simulate(
            np.array([1, 0, 0]),
            [0.0, dt],
            method="gempyor",
            dt=dt,
            n=100_000,
            a=a,
            b=b,
            **kw,
        )
    )
    counts = out[:, -1, :].sum(axis=0)
    pa = 1 - np.exp(-a * dt)
    pb = (1 - pa) * (1 - np.exp(-b * dt))
    assert _g_test(counts, np.array([1 - pa - pb, pa, pb])) > 1e-3
    stay = np.exp(-(a + b) * dt)
    multinomial = np.array([stay, a / (a + b) * (1 - stay), b / (a + b) * (1 - stay)])
    assert _g_test(counts, multinomial) < 1e-6


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_tau_leap_matches_ssa_and_stays_non_negative(backend: str) -> None:
    """Tau-leaping (tau = 0.05) on DSMTS birth-death 001: the mean at t = 1 within
    5% of the SSA's exact 99.00498 (z-test at level 1e-3 against it: false-alarm
    rate 0.1%), never negative even from a tiny population that steps of 1 would
    drive below zero."""
    if backend == "jax":
        jax = pytest.importorskip("jax")
        c = compile_spec(BIRTH_DEATH, xp=jax.numpy)
        kw: dict[str, Any] = {"key": jax.random.PRNGKey(9)}
        runs = 10_000
    else:
        c = compile_spec(BIRTH_DEATH)
        kw = {"seed": 9}
        runs = 1_000
    out = np.asarray(
        c.simulate(
            np.array([100]),
            [0.0, 1.0],
            method="tau_leap",
            dt=0.05,
            n=runs,
            lam=0.1,
            mu=0.11,
            **kw,
        )
    )
    x = out[:, -1, 0].astype(float)
    assert abs(x.mean() - 99.00498) < 0.05 * 99.00498
    z = (x.mean() - 99.00498) / (4.54834 / np.sqrt(runs))
    assert abs(z) < stats.norm.isf(5e-4), z
    small = np.asarray(
        c.simulate(
            np.array([3]),
            [0.0, 5.0, 10.0],
            method="tau_leap",
            dt=1.0,
            n=500,
            lam=0.0,
            mu=2.0,
            **kw,
        )
    )
    assert (small >= 0).all()
    assert (small[:, -1, 0] == 0).mean() > 0.99  # deaths at rate 2 empty it


# -- particle filter ---------------------------------------------------------------
SIS = {
    "kind": "transitions",
    "state": ["S", "I"],
    "transitions": [
        {"name": "infection", "from": "S", "to": "I", "rate": "beta * I / sum_state()"},
        {"name": "recovery", "from": "I", "to": "S", "rate": "gamma"},
    ],
    "incidence": {"cases": "infection"},
}


def _sis_exact_loglik(
    n_pop: int,
    i0: int,
    beta: float,
    gamma: float,
    times: np.ndarray,
    data: np.ndarray,
    rho: float,
) -> float:
    """Exact log-likelihood of binomially reported prevalence under the SIS CTMC:
    the forward algorithm with transition matrices exp(Q dt)."""
    from scipy.linalg import expm

    q = np.zeros((n_pop + 1, n_pop + 1))
    for i in range(n_pop + 1):
        up = beta * (n_pop - i) * i / n_pop
        down = gamma * i
        if i < n_pop:
            q[i, i + 1] = up
        if i > 0:
            q[i, i - 1] = down
        q[i, i] = -(up + down)
    alpha = np.zeros(n_pop + 1)
    alpha[i0] = 1.0
    ll = 0.0
    for k in range(len(data)):
        alpha = alpha @ expm(q * (times[k + 1] - times[k]))
        alpha = alpha * stats.binom.pmf(data[k], np.arange(n_pop + 1), rho)
        ll += np.log(alpha.sum())
        alpha /= alpha.sum()
    return float(ll)


def test_particle_filter_against_the_exact_ctmc_likelihood() -> None:
    """SIS with N = 6, prevalence reported binomially (rho = 0.6) at 8 times; the
    particles move by SSA, so the filter's likelihood estimate is unbiased for the
    exact one (forward algorithm with matrix exponentials). Over 40 replicate
    filters of 1,000 particles the mean of exp(l - l_exact) is within 3.3 standard
    errors of 1 (false-alarm rate about 0.1%), and the variance of l shrinks about
    as 1/J (at least halved from J = 250 to J = 1,000; expected ratio 4)."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    c = compile_spec(SIS, xp=jnp)
    beta, gamma, rho = 1.2, 0.5, 0.6
    y0 = np.array([4, 2, 0])
    times = np.arange(0.0, 9.0)
    truth = np.asarray(
        c.simulate(
            y0,
            times,
            method="ssa",
            key=jax.random.PRNGKey(0),
            n=1,
            beta=beta,
            gamma=gamma,
        )
    )[0, 1:, 1]
    data = np.random.default_rng(0).binomial(truth, rho)
    exact = _sis_exact_loglik(6, 2, beta, gamma, times, data, rho)

    def ll(key: Any, j: int) -> Any:
        return c.particle_filter(
            y0,
            times,
            data,
            key=key,
            states=["I"],
            observation="binomial",
            reporting=rho,
            method="ssa",
            n_particles=j,
            beta=beta,
            gamma=gamma,
        ).log_likelihood

    keys = jax.random.split(jax.random.PRNGKey(1), 40)
    big = np.asarray(jax.jit(jax.vmap(lambda k: ll(k, 1000)))(keys))
    small = np.asarray(jax.jit(jax.vmap(lambda k: ll(k, 250)))(keys))
    ratio = np.exp(big - exact)
    se = ratio.std(ddof=1) / np.sqrt(len(ratio))
    assert abs(ratio.mean() - 1.0) < 3.3 * se + 1e-12, (ratio.mean(), se)
    assert abs(big.mean() - exact) < 0.2
    assert small.var() > 2 * big.var(), (small.var(), big.var())


def test_particle_filter_on_incidence_and_bad_input() -> None:
    """Weekly incidence of a chain-binomial SIS, negative-binomial reporting: the
    filter's log-likelihood is finite, peaks near the true beta, its ESS is
    reported per interval, and bad arguments are errors."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    c = compile_spec(SIS, xp=jnp)
    y0 = np.array([990, 10, 0])
    times = np.arange(0.0, 57.0, 7.0)
    sim = np.asarray(
        c.simulate(
            y0, times, dt=0.25, key=jax.random.PRNGKey(2), n=1, beta=0.5, gamma=0.25
        )
    )[0]
    data = np.diff(sim[:, 2])

    @jax.jit  # one compilation for the three values of beta
    def fit(beta: Any) -> Any:
        return c.particle_filter(
            y0,
            times,
            data,
            key=jax.random.PRNGKey(3),
            counter="cases",
            observation="negative_binomial",
            concentration=20.0,
            dt=0.25,
            n_particles=500,
            beta=beta,
            gamma=0.25,
        )

    lls = []
    for beta in (0.3, 0.5, 0.8):
        res = fit(beta)
        assert res.ess.shape == (len(times) - 1,)
        lls.append(float(res.log_likelihood))
    assert np.isfinite(lls[1])
    assert lls[1] > lls[0], lls
    assert lls[1] > lls[2], lls
    kw: dict[str, Any] = {"key": jax.random.PRNGKey(0), "beta": 0.5, "gamma": 0.25}
    with pytest.raises(ValueError, match="exactly one of"):
        c.particle_filter(y0, times, data, dt=0.25, **kw)
    with pytest.raises(ValueError, match=r"no incidence counter 'case'.*did you mean"):
        c.particle_filter(y0, times, data, counter="case", dt=0.25, **kw)
    with pytest.raises(ValueError, match="observation must be one of"):
        c.particle_filter(
            y0, times, data, counter="cases", dt=0.25, observation="nb", **kw
        )
    with pytest.raises(ValueError, match="needs a concentration"):
        c.particle_filter(
            y0,
            times,
            data,
            counter="cases",
            dt=0.25,
            observation="negative_binomial",
            **kw,
        )
    with pytest.raises(ValueError, match="non-negative integer counts"):
        c.particle_filter(y0 - 995, times, data, counter="cases", dt=0.25, **kw)
    with pytest.raises(ValueError, match="8 rows"):
        c.particle_filter(y0, times, data[:-1], counter="cases", dt=0.25, **kw)


# -- ensembles across processes and devices ------------------------------------------
def test_numpy_ensembles_in_worker_processes_are_the_same_trajectories() -> None:
    """Each trajectory has its own seeded stream (SeedSequence.spawn), so spreading
    them over 2 worker processes gives exactly the trajectories of one process."""
    c = compile_spec(SIR_AGE)
    times = np.array([0.0, 5.0, 10.0])
    one = c.simulate(Y0, times, dt=0.5, seed=42, n=6, **SIR_PARAMS)
    two = c.simulate(Y0, times, dt=0.5, seed=42, n=6, workers=2, **SIR_PARAMS)
    np.testing.assert_array_equal(one, two)
    assert len({tuple(r.ravel()) for r in one}) == 6  # independent streams
    with pytest.raises(ValueError, match="integer seed"):
        c.simulate(
            Y0,
            times,
            dt=0.5,
            seed=np.random.default_rng(0),
            n=4,
            workers=2,
            **SIR_PARAMS,
        )


def _stoichiometry_from_the_ode(c: Any, params: dict[str, Any]) -> np.ndarray:
    """The state x flow matrix `S` with `eval_fn == S @ flows`, recovered by least
    squares from the ODE and flows at random states: independent of the
    simulators' own step plan."""
    rng = np.random.default_rng(0)
    ys = rng.uniform(1.0, 100.0, size=(40, len(c.state_names)))
    dy = np.array([c.eval_fn(0.0, y, **params) for y in ys])
    f = np.array([c.flows(0.0, y, **params) for y in ys])
    s, *_ = np.linalg.lstsq(f, dy, rcond=None)
    assert np.allclose(s, np.round(s), atol=1e-8)
    return np.round(s).T.astype(np.int64)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize(
    ("method", "dt"),
    [("chain_binomial", 0.5), ("gempyor", 0.5), ("tau_leap", 0.25), ("ssa", None)],
)
def test_interval_flows_per_transition(
    backend: str, method: str, dt: float | None
) -> None:
    """`return_flows=True` adds how many individuals each flow moved over each
    output interval: they explain every change of the state (through the ODE's
    own stoichiometry, including the incidence counter, the birth source and the
    death sink), and asking for them does not change the trajectories."""
    xp = None
    kw: dict[str, Any] = {"seed": 3}
    if backend == "jax":
        jax = pytest.importorskip("jax")
        xp = jax.numpy
        kw = {"key": jax.random.PRNGKey(3)}
    # births per age in proportion to its susceptibles, so that no two flows are
    # the same function of the state (the least squares below then has one answer)
    spec = copy.deepcopy(SIR_AGE)
    spec["transitions"][2]["rate"] = "100 * nu * S[age] / sum_state()"
    c = compile_spec(spec, xp=xp)
    times = np.array([0.0, 2.0, 5.0, 10.0])
    sim = c.simulate(
        Y0, times, method=method, dt=dt, n=5, return_flows=True, **kw, **SIR_PARAMS
    )
    states, flows = (np.asarray(a) for a in sim)
    assert flows.shape == (5, len(times) - 1, len(c.flow_names))
    assert (flows >= 0).all()
    assert flows.sum() > 0
    plain = c.simulate(Y0, times, method=method, dt=dt, n=5, **kw, **SIR_PARAMS)
    np.testing.assert_array_equal(states, np.asarray(plain))
    s = _stoichiometry_from_the_ode(compile_spec(spec), SIR_PARAMS)
    np.testing.assert_array_equal(np.diff(states, axis=1), flows @ s.T)
    infection = [i for i, n in enumerate(c.flow_names) if n.startswith("infection")]
    cases = [c.state_names.index(n) for n in c.incidence_names["cases"]]
    np.testing.assert_array_equal(
        np.diff(states[:, :, cases], axis=1), flows[:, :, infection]
    )


def test_interval_flows_from_worker_processes() -> None:
    """The flows of a process-pool ensemble are those of one process."""
    c = compile_spec(SIR_AGE)
    times = np.array([0.0, 5.0, 10.0])
    kw: dict[str, Any] = {"dt": 0.5, "seed": 42, "n": 4, "return_flows": True}
    one = c.simulate(Y0, times, **kw, **SIR_PARAMS)
    two = c.simulate(Y0, times, workers=2, **kw, **SIR_PARAMS)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


SHARDED = r"""
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
from jax.sharding import Mesh
from op_system import compile_spec
from tests.stochastic.test_stochastic import SIR_AGE, SIR_PARAMS, Y0

assert jax.device_count() == 8, jax.devices()
c = compile_spec(SIR_AGE, xp=jax.numpy)
times = np.array([0.0, 5.0, 10.0])
mesh = Mesh(np.array(jax.devices()), ("particles",))
for method, dt in (("chain_binomial", 0.5), ("ssa", None)):
    kw = dict(method=method, dt=dt, key=jax.random.PRNGKey(7), n=64, **SIR_PARAMS)
    plain = c.simulate(Y0, times, **kw)
    spread = c.simulate(Y0, times, mesh=mesh, **kw)
    assert len(spread.sharding.device_set) == 8, spread.sharding
    np.testing.assert_array_equal(np.asarray(plain), np.asarray(spread))
print("ok")
"""


def test_jax_ensembles_sharded_over_8_devices_are_the_unsharded_run(tmp_path) -> None:
    """In a subprocess with 8 CPU devices (XLA_FLAGS), trajectories sharded over a
    1-D mesh are exactly the unsharded ones, for a stepped and an exact method."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("jax")
    script = tmp_path / "sharded.py"
    script.write_text(SHARDED)
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    proc = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


def test_simulate_chains_coord_shift_and_time_varying_parameters() -> None:
    """The simulators read the generated rates, so every construct of a
    transitions spec works: an Erlang chain, an ageing `coord_shift`, and a
    transmission rate that steps at day 5 (`previous`). People are conserved, and
    the same spec's mean follows its ODE at large N."""
    spec = {
        "kind": "transitions",
        "axes": [
            {"name": "age", "coords": ["a0", "a1", "a2"]},
            {"name": "time", "type": "continuous", "coords": [0.0, 5.0]},
        ],
        "state": ["S[age]", "R[age]", "I"],
        "chain": [
            {"name": "E", "length": 3, "forward": "3 * sigma", "exit": {"to": "I"}},
        ],
        "transitions": [
            {"from": "S[age]", "to": "E1", "rate": "beta[time] * I / sum_state()"},
            {"from": "I", "to": "R[age=a0]", "rate": "gamma"},
            {
                "coord_shift": {"age": "a0 -> a1"},
                "apply_to": ["S", "R"],
                "rate": "ageing",
            },
        ],
        "time_interpolation": "previous",
    }
    c = compile_spec(spec)
    names = c.state_names
    y0 = np.zeros(len(names), dtype=np.int64)
    y0[names.index("S__age_a0")] = 300_000
    y0[names.index("S__age_a1")] = 300_000
    y0[names.index("S__age_a2")] = 300_000
    y0[names.index("I")] = 3_000
    params = {"beta": np.array([0.6, 0.3]), "sigma": 0.5, "gamma": 0.25, "ageing": 0.05}
    times = np.array([0.0, 5.0, 10.0])
    out = c.simulate(y0, times, dt=0.02, seed=1, n=4, **params)
    assert (out >= 0).all()
    np.testing.assert_array_equal(out.sum(axis=2), y0.sum())
    ode = _ode(spec, y0, times, **params)
    big = ode > 1e4
    np.testing.assert_allclose(out.mean(axis=0)[big], ode[big], rtol=0.02)


def test_tau_leap_and_ssa_means_agree_at_large_n() -> None:
    """SIR at N = 10^6 (JAX): the means of 20 SSA and 20 tau-leaping (tau = 0.02)
    trajectories agree within 5% wherever a compartment holds more than 10^4
    people, and both are within 5% of the ODE."""
    jax = pytest.importorskip("jax")
    c = compile_spec(SIR, xp=jax.numpy)
    y0 = np.array([990_000, 10_000, 0])
    times = np.array([0.0, 10.0, 20.0])
    kw: dict[str, Any] = {"n": 20, "beta": 0.5, "gamma": 0.25}
    ssa = np.asarray(
        c.simulate(y0, times, method="ssa", key=jax.random.PRNGKey(1), **kw)
    )
    tau = np.asarray(
        c.simulate(
            y0, times, method="tau_leap", dt=0.02, key=jax.random.PRNGKey(2), **kw
        )
    )
    ode = _ode(SIR, y0, times, beta=0.5, gamma=0.25)
    big = ode > 1e4
    np.testing.assert_allclose(tau.mean(axis=0)[big], ssa.mean(axis=0)[big], rtol=0.05)
    np.testing.assert_allclose(ssa.mean(axis=0)[big], ode[big], rtol=0.05)
    np.testing.assert_allclose(tau.mean(axis=0)[big], ode[big], rtol=0.05)


def test_adaptive_tau_leap() -> None:
    """Tau-leaping without `dt` chooses each step by Cao, Gillespie & Petzold's rule
    (epsilon = 0.03): on DSMTS birth-death 001 the mean at t = 1 passes the z-test
    against the exact 99.00498 at level 1e-3 (false-alarm rate 0.1%), and on an SIR
    at N = 10^6 its mean is within 5% of the SSA's; counts never go negative (NumPy
    and JAX)."""
    jax = pytest.importorskip("jax")
    c = compile_spec(BIRTH_DEATH, xp=jax.numpy)
    out = np.asarray(
        c.simulate(
            np.array([100]),
            [0.0, 1.0],
            method="tau_leap",
            key=jax.random.PRNGKey(4),
            n=10_000,
            lam=0.1,
            mu=0.11,
        )
    )
    x = out[:, -1, 0].astype(float)
    z = (x.mean() - 99.00498) / (4.54834 / np.sqrt(len(x)))
    assert abs(z) < stats.norm.isf(5e-4), z
    small = compile_spec(BIRTH_DEATH).simulate(
        np.array([3]), [0.0, 5.0], method="tau_leap", seed=1, n=200, lam=0.0, mu=2.0
    )
    assert (small >= 0).all()
    spec = SIR
    s = compile_spec(spec, xp=jax.numpy)
    y0 = np.array([990_000, 10_000, 0])
    kw: dict[str, Any] = {"n": 20, "beta": 0.5, "gamma": 0.25}
    times = np.array([0.0, 10.0, 20.0])
    ssa = np.asarray(
        s.simulate(y0, times, method="ssa", key=jax.random.PRNGKey(1), **kw)
    )
    tau = np.asarray(
        s.simulate(y0, times, method="tau_leap", key=jax.random.PRNGKey(2), **kw)
    )
    big = ssa.mean(axis=0) > 1e4
    np.testing.assert_allclose(tau.mean(axis=0)[big], ssa.mean(axis=0)[big], rtol=0.05)


def test_dense_and_scattered_moves_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small models apply a JAX step's moves as one dense product, large ones
    as a scatter of the stoichiometry's entries: the same trajectories."""
    jax = pytest.importorskip("jax")
    from op_system._stochastic import laws as _laws

    c = compile_spec(SIR_AGE, xp=jax.numpy)
    times = np.array([0.0, 5.0, 10.0])
    kw: dict[str, Any] = {"dt": 0.5, "key": jax.random.PRNGKey(4), "n": 8}
    dense = np.asarray(c.simulate(Y0, times, **kw, **SIR_PARAMS))
    monkeypatch.setattr(_laws, "DENSE_STOICHIOMETRY", 0)
    scattered = np.asarray(c.simulate(Y0, times, **kw, **SIR_PARAMS))
    np.testing.assert_array_equal(dense, scattered)
    assert (np.diff(dense, axis=1) != 0).any()
