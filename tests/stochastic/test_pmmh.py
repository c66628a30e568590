"""`op_system.PMMH`: particle-marginal Metropolis-Hastings as a numpyro kernel.

The tests are seeded. Each compares posterior means with exact ones to within 4
Monte Carlo standard errors (from numpyro's effective sample size): under the
Markov chain central limit theorem a correct kernel fails such a check with
probability about 6e-5 per mean under a fresh seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
numpyro = pytest.importorskip("numpyro")

import jax.numpy as jnp  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.diagnostics import effective_sample_size  # noqa: E402
from numpyro.infer import MCMC  # noqa: E402
from tests.stochastic.test_stochastic import SIS, _sis_exact_loglik  # noqa: E402

import op_system  # noqa: E402
from op_system import PMMH, compile_spec  # noqa: E402


def _close_to(samples: np.ndarray, exact: float) -> tuple[float, float]:
    """|mean - exact| and the Monte Carlo standard error of the mean."""
    ess = float(effective_sample_size(samples[None, :]))
    assert ess > 100, ess
    return abs(float(samples.mean()) - exact), float(samples.std()) / np.sqrt(ess)


def test_noisy_unbiased_likelihood_gives_the_exact_posterior() -> None:
    """A normal mean and a positive scale (a constrained site) with a likelihood
    multiplied by unbiased log-normal noise whose size grows with |mu|: the
    pseudo-marginal chain still has the exact posterior (grid quadrature) as its
    law, which re-estimating the current point's density would not give."""
    x = np.array([0.3, 1.9, 1.1, 0.4, 1.6, 2.2])

    def model(x: Any) -> None:
        mu = numpyro.sample("mu", dist.Normal(0.0, 2.0))
        s = numpyro.sample("s", dist.LogNormal(0.0, 0.5))
        sd = 0.6 + 0.3 * jnp.abs(mu)
        z = jax.random.normal(numpyro.prng_key())
        ll = dist.Normal(mu, s).log_prob(x).sum() + sd * z - 0.5 * sd * sd
        numpyro.factor("loglik", ll)

    mcmc = MCMC(
        PMMH(model, step_size=0.3),
        num_warmup=1500,
        num_samples=12000,
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(3), x)
    draws = {k: np.asarray(v) for k, v in mcmc.get_samples().items()}
    assert (draws["s"] > 0).all()
    acc = float(mcmc.last_state.mean_accept_prob)
    assert 0.05 < acc < 0.6, acc

    from scipy import stats

    mus = np.linspace(-3.0, 5.0, 801)
    ss = np.exp(np.linspace(np.log(0.1), np.log(8.0), 800))
    m, s = np.meshgrid(mus, ss, indexing="ij")
    logp = (
        stats.norm.logpdf(m, 0.0, 2.0)
        + stats.lognorm.logpdf(s, 0.5)
        + stats.norm.logpdf(x[:, None, None], m, s).sum(axis=0)
    )
    w = np.exp(logp - logp.max()) * s  # the grid is even in log s
    w /= w.sum()
    for name, grid in (("mu", m), ("s", s)):
        err, se = _close_to(draws[name], float((w * grid).sum()))
        assert err < 4 * se, (name, err, se)


def test_particle_filter_factor_gives_the_exact_ctmc_posterior() -> None:
    """The documented use: `numpyro.factor` of `particle_filter(...)` with
    `key=numpyro.prng_key()`. For an SIS CTMC with N = 6 and binomially reported
    prevalence, the PMMH posterior mean of beta matches the exact posterior (the
    forward algorithm with matrix exponentials on a grid of beta)."""
    c = compile_spec(SIS, xp=jnp)
    gamma, rho = 0.5, 0.6
    y0 = np.array([4, 2, 0])
    times = np.arange(0.0, 9.0)
    data = np.array([2, 3, 1, 2, 3, 2, 1, 2])

    def model(data: Any) -> None:
        beta = numpyro.sample("beta", dist.LogNormal(0.0, 0.5))
        fit = c.particle_filter(
            y0,
            times,
            data,
            key=numpyro.prng_key(),
            states=["I"],
            observation="binomial",
            reporting=rho,
            method="ssa",
            n_particles=200,
            beta=beta,
            gamma=gamma,
        )
        numpyro.factor("loglik", fit.log_likelihood)

    mcmc = MCMC(
        PMMH(model, step_size=0.5), num_warmup=500, num_samples=4000, progress_bar=False
    )
    mcmc.run(jax.random.PRNGKey(11), data)
    beta = np.asarray(mcmc.get_samples()["beta"])

    from scipy import stats

    grid = np.exp(np.linspace(np.log(0.05), np.log(10.0), 300))
    logp = np.array(
        [
            stats.lognorm.logpdf(b, 0.5)
            + _sis_exact_loglik(6, 2, b, gamma, times, data, rho)
            for b in grid
        ]
    )
    w = np.exp(logp - logp.max()) * grid  # the grid is even in log beta
    w /= w.sum()
    err, se = _close_to(beta, float((w * grid).sum()))
    assert err < 4 * se, (err, se)


def test_bad_input_and_repr() -> None:
    def model() -> None:
        numpyro.sample("a", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="step_size"):
        PMMH(model, step_size=0.0)
    with pytest.raises(ValueError, match="target_accept_prob"):
        PMMH(model, target_accept_prob=1.5)
    bad = MCMC(
        PMMH(model, proposal_scale=np.ones(3)),
        num_warmup=1,
        num_samples=1,
        progress_bar=False,
    )
    with pytest.raises(ValueError, match="proposal_scale"):
        bad.run(jax.random.PRNGKey(0))

    def no_latent() -> None:
        numpyro.factor("f", 0.0)

    with pytest.raises(ValueError, match="latent"):
        MCMC(PMMH(no_latent), num_warmup=1, num_samples=1, progress_bar=False).run(
            jax.random.PRNGKey(0)
        )
    assert repr(PMMH(model)).startswith("PMMH(step_size=0.1")
    assert op_system.PMMH is PMMH
    with pytest.raises(AttributeError, match="no attribute"):
        _ = op_system.NoSuchName  # type: ignore[attr-defined]
