"""Particle-marginal Metropolis-Hastings as a numpyro kernel (`op_system.PMMH`).

A numpyro model whose likelihood is a `numpyro.factor` of a particle filter's
log-likelihood (`CompiledRhs.particle_filter`, seeded with `numpyro.prng_key()`)
has a *noisy* density: every evaluation draws new particles. Gradient-based
kernels cannot use it, and a Metropolis-Hastings chain that re-estimates the
density of its current point targets the wrong distribution. PMMH (Andrieu,
Doucet & Holenstein 2010) keeps the estimate of the current point until a
proposal is accepted; since the filter's likelihood estimate is unbiased, the
chain's stationary law is then the exact posterior.

The proposal is a Gaussian random walk in numpyro's unconstrained space (the
sites' supports are mapped by `biject_to`, with their Jacobians), scaled by
`step_size` times a scale per unconstrained coordinate. Warmup adapts both, in
windows as Stan does: throughout, the step size by Robbins-Monro on its
logarithm towards `target_accept_prob` (0.15 suits a filter whose
log-likelihood has a standard deviation of about 1; Sherlock, Thiery, Roberts
& Rosenthal 2015); from 15% to 85% of warmup the chain's variance is gathered,
and at 85% the scales become its standard deviations, the step size
`2.38 / sqrt(d)` (then adapted again). A `proposal_scale` given by the user is
kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from numpyro.distributions.transforms import biject_to
from numpyro.handlers import seed, trace
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import potential_energy, transform_fn

__all__ = ["PMMH", "PMMHState"]


class PMMHState(NamedTuple):
    """The chain's state: `z` (unconstrained values by site) with the potential
    energy estimated when it was accepted, the last proposal's acceptance
    probability, their running mean in the current phase (warmup or sampling),
    the adapted log step size and scales, the warmup's moments and the key."""

    i: Any
    z: Any
    potential_energy: Any
    accept_prob: Any
    mean_accept_prob: Any
    log_step_size: Any
    #: the proposal's scale per unconstrained coordinate (flattened)
    scale: Any
    #: the variance gathered in warmup: count, mean, sum of squared deviations
    moments: Any
    rng_key: Any


class PMMH(MCMCKernel):  # type: ignore[misc]
    """Particle-marginal Metropolis-Hastings for a numpyro model with a noisy,
    unbiased likelihood estimate (a particle filter's).

    The model draws the filter's key with `numpyro.prng_key()`, so every
    evaluation is a fresh estimate; the kernel keeps the estimate of its current
    point (pseudo-marginal), which makes the exact posterior its stationary law.

    Arguments:
        model: A numpyro model; its unobserved `sample` sites are the chain's.
        step_size: The random walk's initial scale in unconstrained space.
        proposal_scale: Optional per-coordinate scales (the flattened
            unconstrained sites, in `jax.flatten_util.ravel_pytree` order),
            for example posterior standard deviations from a pilot run; by
            default they are learnt in warmup.
        adapt_step_size: Adapt the step size (and, without `proposal_scale`,
            the scales) during warmup.
        target_accept_prob: The acceptance rate the adaptation aims at.

    !!! example
        ```python
        >>> import jax, numpy as np, numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from op_system import PMMH
        >>> def model(x):  # a noisy, unbiased likelihood: log-normal noise
        ...     mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        ...     noise = jax.random.normal(numpyro.prng_key())
        ...     ll = dist.Normal(mu, 1.0).log_prob(x).sum() + 0.5 * noise - 0.125
        ...     numpyro.factor("loglik", ll)
        >>> mcmc = MCMC(PMMH(model, step_size=0.5), num_warmup=500,
        ...             num_samples=2000, progress_bar=False)
        >>> mcmc.run(jax.random.PRNGKey(0), np.array([0.8, 1.2, 1.0]))
        >>> float(mcmc.get_samples()["mu"].mean())  # exact posterior mean 0.75
        0.7...

        ```
    """

    sample_field = "z"

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        step_size: float = 0.1,
        proposal_scale: Any = None,
        adapt_step_size: bool = True,
        target_accept_prob: float = 0.15,
    ) -> None:
        if not step_size > 0:
            raise ValueError(f"step_size must be > 0, got {step_size!r}")
        if not 0 < target_accept_prob < 1:
            raise ValueError(
                f"target_accept_prob must be in (0, 1), got {target_accept_prob!r}"
            )
        self._model = model
        self._step_size = float(step_size)
        self._proposal_scale = proposal_scale
        self._adapt = adapt_step_size
        self._target = float(target_accept_prob)
        self._transforms: dict[str, Any] = {}
        self._num_warmup = 0
        self._unravel: Callable[[Any], Any] | None = None

    @property
    def model(self) -> Callable[..., Any]:
        return self._model

    def __repr__(self) -> str:
        return (
            f"PMMH(step_size={self._step_size}, adapt_step_size={self._adapt}, "
            f"target_accept_prob={self._target})"
        )

    def _potential(self, key: Any, z: Any, args: Any, kwargs: Any) -> Any:
        pe = potential_energy(seed(self._model, key), args, kwargs, z)
        return jnp.where(jnp.isnan(pe), jnp.inf, pe)

    def init(
        self,
        rng_key: Any,
        num_warmup: int,
        init_params: Any,
        model_args: Any,
        model_kwargs: Any,
    ) -> PMMHState:
        key_proto, key_pe, key = jax.random.split(rng_key, 3)
        proto = trace(seed(self._model, key_proto)).get_trace(
            *model_args, **model_kwargs
        )
        sites = {
            name: site
            for name, site in proto.items()
            if site["type"] == "sample" and not site["is_observed"]
        }
        if not sites:
            raise ValueError("PMMH needs a model with at least one latent sample site")
        self._transforms = {n: biject_to(s["fn"].support) for n, s in sites.items()}
        if init_params is None:
            values = {n: s["value"] for n, s in sites.items()}
            init_params = transform_fn(self._transforms, values, invert=True)
        self._num_warmup = int(num_warmup)
        flat, self._unravel = ravel_pytree(init_params)
        if self._proposal_scale is not None:
            given = jnp.shape(jnp.asarray(self._proposal_scale))
            if given not in ((), flat.shape):
                raise ValueError(
                    f"proposal_scale must be a scalar or have shape {flat.shape} "
                    f"(the unconstrained sites, flattened), got {given}"
                )
        pe = self._potential(key_pe, init_params, model_args, model_kwargs)
        zero = jnp.zeros((), dtype=flat.dtype)
        scale = jnp.broadcast_to(
            jnp.asarray(
                1.0 if self._proposal_scale is None else self._proposal_scale,
                dtype=flat.dtype,
            ),
            flat.shape,
        )
        return PMMHState(
            jnp.asarray(0),
            init_params,
            pe,
            zero,
            zero,
            jnp.log(jnp.asarray(self._step_size, dtype=flat.dtype)),
            scale,
            (zero, jnp.zeros_like(flat), jnp.zeros_like(flat)),
            key,
        )

    def sample(self, state: PMMHState, model_args: Any, model_kwargs: Any) -> PMMHState:
        assert self._unravel is not None, "init() first"
        key, k_prop, k_pe, k_acc = jax.random.split(state.rng_key, 4)
        flat, _ = ravel_pytree(state.z)
        scale = jnp.exp(state.log_step_size) * state.scale
        proposal = self._unravel(
            flat + scale * jax.random.normal(k_prop, flat.shape, flat.dtype)
        )
        pe = self._potential(k_pe, proposal, model_args, model_kwargs)
        # both infinite (no particle fits the data anywhere yet): move on
        log_ratio = jnp.where(
            jnp.isinf(state.potential_energy) & jnp.isinf(pe),
            0.0,
            state.potential_energy - pe,
        )
        accept_prob = jnp.clip(jnp.exp(jnp.minimum(log_ratio, 0.0)), 0.0, 1.0)
        accept = jax.random.uniform(k_acc, dtype=flat.dtype) < accept_prob
        z = jax.tree_util.tree_map(
            lambda new, old: jnp.where(accept, new, old), proposal, state.z
        )
        new_flat, _ = ravel_pytree(z)
        log_step, scales, moments = self._adapt_warmup(state, accept_prob, new_flat)
        i = state.i + 1
        warm = state.i < self._num_warmup
        # running mean within the phase (it restarts when sampling starts)
        n = jnp.where(warm, i, i - self._num_warmup).astype(flat.dtype)
        mean = state.mean_accept_prob + (accept_prob - state.mean_accept_prob) / n
        return PMMHState(
            i,
            z,
            jnp.where(accept, pe, state.potential_energy),
            accept_prob,
            mean,
            log_step,
            scales,
            moments,
            key,
        )

    def _adapt_warmup(
        self, state: PMMHState, accept_prob: Any, flat: Any
    ) -> tuple[Any, Any, Any]:
        """The warmup's windows (see the module docstring): the next log step
        size, scales and moments."""
        if not self._adapt:
            return state.log_step_size, state.scale, state.moments
        w = self._num_warmup
        start, end = int(0.15 * w), int(0.85 * w)
        learn_scale = self._proposal_scale is None and end - start >= 20
        i = state.i
        warm = i < w
        # Robbins-Monro, its gain restarted when the scales are set
        since = jnp.where(learn_scale & (i >= end), i - end, i) + 1
        gain = since.astype(flat.dtype) ** -0.6
        log_step = state.log_step_size + gain * (accept_prob - self._target)
        log_step = jnp.where(warm, log_step, state.log_step_size)
        if not learn_scale:
            return log_step, state.scale, state.moments
        count, mean, m2 = state.moments
        gather = (i >= start) & (i < end)
        count1 = count + 1.0
        delta = flat - mean
        mean1 = mean + delta / count1
        m2_1 = m2 + delta * (flat - mean1)
        moments = (
            jnp.where(gather, count1, count),
            jnp.where(gather, mean1, mean),
            jnp.where(gather, m2_1, m2),
        )
        # at the end of the window: the chain's standard deviations (floored,
        # so a chain that never moved keeps a usable scale)
        sd = jnp.sqrt(m2_1 / jnp.maximum(count1 - 1.0, 1.0))
        sd = jnp.maximum(sd, 1e-3 * jnp.maximum(jnp.abs(mean1), 1.0))
        switch = i == end - 1
        scales = jnp.where(switch, sd, state.scale)
        d = flat.shape[0]
        restart = jnp.log(jnp.asarray(2.38 / math.sqrt(d), dtype=flat.dtype))
        log_step = jnp.where(switch, restart, log_step)
        return log_step, scales, moments

    def postprocess_fn(self, model_args: Any, model_kwargs: Any) -> Callable[..., Any]:
        """Unconstrained values to the sites' supports (no deterministic sites:
        they would re-run the model, and its filter, for every sample)."""
        transforms = self._transforms
        return lambda z: transform_fn(transforms, z)

    def get_diagnostics_str(self, state: PMMHState) -> str:
        return (
            f"acc. prob={float(state.mean_accept_prob):.2f}, "
            f"step size={float(jnp.exp(state.log_step_size)):.3g}"
        )
