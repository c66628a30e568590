"""The random draws of the stochastic laws, from NumPy or from JAX.

Each law (`laws.py`) is written once, over an array namespace and a `Sampler`:
the few draws it needs (binomial, Poisson, exponential, categorical) and
`split`, which hands out the samplers of the parts of a step.

* `NumpySampler` wraps a `numpy.random.Generator`, one stream: `split` hands the
  same generator back, so the draws come in the order the law makes them, and a
  draw the law will not use is not made (`exponential` of a zero rate,
  `categorical` when not `needed`), so a stream holds only what its trajectory
  uses.
* `JaxSampler` wraps a key: `split` splits it (`jax.random.split`), so every draw
  has a key of its own, drawn whether it is used or not (the law masks it), and
  the binomial is op_system's exact sampler (`sampling.binomial`), which draws
  floats.

Counts a law hands to `binomial` go through `counts` first: NumPy's stay
integers, JAX's become floats of the rates' dtype (exact below 2**24 in float32,
2**53 in float64).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np

__all__ = ["JaxSampler", "NumpySampler", "Sampler"]


class Sampler(Protocol):
    """The draws a law makes. Counts are whole numbers in the sampler's
    representation (`counts`); every draw is elementwise over its arguments."""

    def split(self, n: int) -> tuple[Sampler, ...]:
        """`n` samplers for the parts of a step (in the order they are used)."""
        ...

    def counts(self, x: Any, dtype: Any) -> Any:
        """Integer counts `x` as `binomial` takes and gives them (float `dtype`
        is the rates' dtype, for a sampler that draws floats)."""
        ...

    def binomial(self, n: Any, p: Any) -> Any:
        """Binomial(n, p) draws, in `n`'s representation."""
        ...

    def poisson(self, lam: Any) -> Any:
        """Poisson(lam) draws, as integers."""
        ...

    def exponential(self, rate: Any) -> Any:
        """An exponential waiting time at the scalar `rate`; meaningless (and
        maybe not drawn) where `rate <= 0`, which the caller masks."""
        ...

    def categorical(self, weights: Any, total: Any, needed: Any) -> Any:
        """An index `k` with probability `weights[k] / total` (`weights >= 0`,
        `total` their sum); meaningless (and maybe not drawn) if not `needed`."""
        ...


class NumpySampler(NamedTuple):
    """Draws from one `numpy.random.Generator`, in the order they are asked for."""

    rng: np.random.Generator

    def split(self, n: int) -> tuple[NumpySampler, ...]:
        return (self,) * n

    def counts(self, x: Any, dtype: Any) -> Any:
        return x

    def binomial(self, n: Any, p: Any) -> Any:
        return self.rng.binomial(n, p)

    def poisson(self, lam: Any) -> Any:
        return self.rng.poisson(lam)

    def exponential(self, rate: Any) -> Any:
        return self.rng.exponential(1.0 / rate) if rate > 0 else np.inf

    def categorical(self, weights: Any, total: Any, needed: Any) -> Any:
        if not needed:
            return 0
        # inversion: the first cumulative weight above a uniform on [0, total)
        # (the array methods: NumPy's function wrappers cost a microsecond here)
        u = self.rng.random() * total
        k = int(weights.cumsum().searchsorted(u, "right"))
        return min(k, weights.shape[0] - 1)  # (rounding at the top end)


class JaxSampler(NamedTuple):
    """Draws from a `jax.random` key (a pytree: it rides in `lax` loop carries)."""

    key: Any

    def split(self, n: int) -> tuple[JaxSampler, ...]:
        import jax

        keys = jax.random.split(self.key, n)
        return tuple(JaxSampler(keys[i]) for i in range(n))

    def counts(self, x: Any, dtype: Any) -> Any:
        return x.astype(dtype)

    def binomial(self, n: Any, p: Any) -> Any:
        from .sampling import binomial

        return binomial(self.key, n, p)

    def poisson(self, lam: Any) -> Any:
        import jax

        return jax.random.poisson(self.key, lam)

    def exponential(self, rate: Any) -> Any:
        import jax
        import jax.numpy as jnp

        e = jax.random.exponential(self.key, dtype=jnp.result_type(float))
        return e / jnp.where(rate > 0, rate, 1.0)

    def categorical(self, weights: Any, total: Any, needed: Any) -> Any:
        import jax
        import jax.numpy as jnp

        w = weights
        logits = jnp.where(w > 0, jnp.log(jnp.where(w > 0, w, 1.0)), -jnp.inf)
        return jax.random.categorical(self.key, logits)
