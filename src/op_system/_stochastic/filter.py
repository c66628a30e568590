"""A bootstrap particle filter over the stochastic simulators (JAX).

`CompiledRhs.particle_filter` estimates the log-likelihood of count data under
the stochastic model of a spec: `J` particles start at `y0`; over each data
interval every particle is advanced by the chosen simulator (`_stochastic/simulators.py`),
weighted by the observation model's probability of that interval's data given
the particle's measured quantity, and the particles are resampled (systematic
resampling). The log-likelihood is the sum over intervals of the log of the mean
weight; its exponential is an unbiased estimate of the likelihood, which is what
particle-marginal Metropolis-Hastings needs.

What is measured is either the **interval incidence** of an incidence counter
(the counter's increase over the interval, per cell) or the **prevalence** of
chosen states at the interval's end. Observation models: `poisson` (mean
`reporting * x`), `negative_binomial` (mean `reporting * x`, `concentration`),
`binomial` (each of the `x` is reported with probability `reporting`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = ["OBSERVATIONS", "FilterResult", "run_filter"]

#: Observation models of `CompiledRhs.particle_filter`.
OBSERVATIONS = ("poisson", "negative_binomial", "binomial")


class FilterResult(NamedTuple):
    """The particle filter's estimate: `log_likelihood` (a scalar) and the
    effective sample size of the weights at each data interval."""

    log_likelihood: Any
    ess: Any


def log_density(
    observation: str, data: Any, x: Any, reporting: Any, concentration: Any
) -> Any:
    """Log-probability of `data` given the measured `x` (same shape), elementwise."""
    import jax.numpy as jnp
    from jax.scipy import stats

    fdtype = jnp.result_type(float)
    x = x.astype(fdtype)
    data = jnp.broadcast_to(jnp.asarray(data).astype(fdtype), x.shape)
    reporting = jnp.asarray(reporting, dtype=fdtype)
    if observation == "poisson":
        mean = reporting * x
        # logpmf(k | 0) is 0 for k = 0 and -inf otherwise
        safe = jnp.where(mean > 0, mean, 1.0)
        lp = stats.poisson.logpmf(data, safe)
        return jnp.where(mean > 0, lp, jnp.where(data == 0, 0.0, -jnp.inf))
    if observation == "negative_binomial":
        mean = reporting * x
        concentration = jnp.asarray(concentration, dtype=fdtype)
        p = concentration / (concentration + mean)
        lp = stats.nbinom.logpmf(data, concentration, jnp.where(mean > 0, p, 0.5))
        return jnp.where(mean > 0, lp, jnp.where(data == 0, 0.0, -jnp.inf))
    lp = stats.binom.logpmf(data, jnp.maximum(x, data), reporting)
    return jnp.where(data <= x, lp, -jnp.inf)


def run_filter(
    advance: Callable[[Any, Any, Any, Any], Any],
    measure: Callable[[Any, Any], Any],
    y0: Any,
    times: np.ndarray,
    data: Any,
    key: Any,
    n_particles: int,
    log_obs: Callable[[Any, Any], Any],
) -> FilterResult:
    """The bootstrap filter: `data[i]` is observed over `times[i] .. times[i+1]`."""
    import jax
    import jax.numpy as jnp

    fdtype = jnp.result_type(float)
    t = jnp.asarray(times, dtype=fdtype)
    j = n_particles

    def interval(carry: Any, inp: Any) -> Any:
        particles, key = carry
        ends, d = inp
        key, k_adv, k_res = jax.random.split(key, 3)
        moved, _ = jax.vmap(advance, in_axes=(0, 0, None, None))(
            jax.random.split(k_adv, j), particles, ends[0], ends[1]
        )
        x = jax.vmap(measure)(particles, moved)  # (J, k)
        logw = jnp.sum(log_obs(d, x).reshape(j, -1), axis=1)
        top = jnp.max(logw)
        finite = jnp.isfinite(top)
        shifted = jnp.exp(logw - jnp.where(finite, top, 0.0))
        ll = jnp.where(finite, top + jnp.log(jnp.mean(shifted)), -jnp.inf)
        w = jnp.where(finite, shifted / jnp.sum(shifted), 1.0 / j)
        ess = 1.0 / jnp.sum(w * w)
        # systematic resampling: one uniform, J evenly spaced points
        u = (jax.random.uniform(k_res, dtype=fdtype) + jnp.arange(j, dtype=fdtype)) / j
        idx = jnp.minimum(jnp.searchsorted(jnp.cumsum(w), u), j - 1)
        return (moved[idx], key), (ll, ess)

    start = jnp.broadcast_to(y0, (j, y0.shape[0]))
    ends = jnp.stack([t[:-1], t[1:]], axis=1)
    _, (lls, ess) = jax.lax.scan(interval, (start, key), (ends, jnp.asarray(data)))
    return FilterResult(jnp.sum(lls), ess)
