"""numpyro NUTS traces through a diffrax solve of the compiled RHS (issue #4, point 6).

A short chain (fixed seed, small warm-up and sample counts) recovers `beta` and
`gamma` of an SIR model from noisy synthetic prevalence data.
"""

from __future__ import annotations

from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from _jax_models import SIR
from numpyro.infer import MCMC, NUTS, init_to_median

from op_system import compile_spec

TRUE = {"beta": 0.5, "gamma": 0.2}
SIGMA = 0.1  # multiplicative observation noise (log scale)
TS = jnp.arange(2.0, 62.0, 2.0)
Y0 = jnp.asarray([0.99, 0.01, 0.0])


def test_nuts_recovers_sir_parameters() -> None:
    rhs = compile_spec(SIR, backend="jax")
    term = diffrax.ODETerm(rhs.vector_field)

    def prevalence(beta: Any, gamma: Any) -> Any:
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            t0=0.0,
            t1=TS[-1],
            dt0=0.5,
            y0=Y0,
            args={"beta": beta, "gamma": gamma},
            saveat=diffrax.SaveAt(ts=TS),
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-9),
            max_steps=4096,
            throw=False,  # a failed solve (extreme warm-up proposal) is rejected, not raised
        )
        ok = sol.result == diffrax.RESULTS.successful
        return jnp.where(ok, sol.ys[:, 1], jnp.nan)

    clean = np.asarray(jax.jit(prevalence)(TRUE["beta"], TRUE["gamma"]))
    rng = np.random.default_rng(0)
    observed = jnp.asarray(clean * np.exp(SIGMA * rng.standard_normal(clean.shape)))

    def model(obs: Any = None) -> None:
        beta = numpyro.sample("beta", dist.LogNormal(jnp.log(0.3), 0.5))
        gamma = numpyro.sample("gamma", dist.LogNormal(jnp.log(0.15), 0.5))
        prev = prevalence(beta, gamma)
        numpyro.sample(
            "obs", dist.LogNormal(jnp.log(jnp.clip(prev, 1e-12)), SIGMA), obs=obs
        )

    # start at the prior median (not a random point, which may sit on a far-away,
    # flat part of the likelihood), and bound the tree depth to keep the test short
    kernel = NUTS(model, init_strategy=init_to_median(num_samples=15), max_tree_depth=6)
    mcmc = MCMC(
        kernel, num_warmup=150, num_samples=150, num_chains=1, progress_bar=False
    )
    # numpyro's own internals mix int and float arrays, which the test suite's strict
    # dtype promotion rejects; the model code above is strict-clean.
    with jax.numpy_dtype_promotion("standard"):
        mcmc.run(jax.random.PRNGKey(0), obs=observed)
    samples = mcmc.get_samples()
    extra = mcmc.get_extra_fields()
    assert int(extra["diverging"].sum()) == 0
    for name, true in TRUE.items():
        draws = np.asarray(samples[name])
        assert draws.shape == (150,)
        assert np.all(np.isfinite(draws))
        assert abs(draws.mean() - true) < 0.05 * true, (name, draws.mean(), true)
        assert (
            draws.std() < 0.1 * true
        )  # the data are informative: the posterior is narrow
