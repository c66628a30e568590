"""An exact binomial sampler for JAX that stays fast under `vmap`.

`jax.random.binomial` is exact, but on the CPU each draw costs about ten times
NumPy's: it computes both of its algorithms for every element, and under `vmap`
(one key per particle) its rejection loops run until the slowest element of the
whole batch is done, drawing fresh random numbers for every element at every
round. The chain-binomial simulators draw little else, so this sampler is what
sets their speed. It draws from the same distribution by two exact methods:

* **inversion** when `n q < 10` (`q = min(p, 1 - p)`; a draw with `p > 1/2` is
  `n` minus one with `1 - p`): one uniform `u`, and the smallest `k` with
  `u <= F(k)`, the probabilities accumulated by `f(k+1) = f(k) (n-k)/(k+1)
  q/(1-q)` from `f(0) = (1-q)^n`. The loop stops at `n q + 40 sqrt(n q) + 40`,
  beyond which the probability left is below what a float resolves;
* **BTRS**, Hörmann's transformed rejection with squeeze (W. Hörmann, "The
  generation of binomial random variates", J. Stat. Comput. Simul. 46, 1993),
  otherwise, with log-factorials from Stirling's series (tabulated below 30).

Every element takes its first proposal from one draw over the whole array. The
few rejected elements (about 5%) are then gathered into a buffer an eighth of
the array's size and retried there, and those rejected again into one of a
64th, so later rounds cost a fraction of the first instead of all of it. That needs to see the whole batch at once, so the sampler
has its own `vmap` rule (`jax.custom_batching.custom_vmap`): a batch of keys is
sampled as one array.

Each element's random numbers come from its own key and position only: its
first uniforms from `key`, its `t`-th retry from
`fold_in(fold_in(key, position), t)`. So `vmap(binomial)(keys, n, p)[b]` is
exactly `binomial(keys[b], n[b], p[b])`, whatever the batch and however it is
sharded.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any, NamedTuple

import numpy as np

__all__ = ["binomial"]

#: inversion below this mean (`n * min(p, 1 - p)`); BTRS needs at least 10
SMALL_MEAN = 10.0

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# log(k!) minus its Stirling approximation, exactly, for k < 30
_STIRLING_TAIL = np.array(
    [
        math.lgamma(k + 1.0)
        - ((k + 0.5) * math.log(k + 1.0) - (k + 1.0) + _HALF_LOG_2PI)
        for k in range(30)
    ]
)


def _log_factorial(k: Any) -> Any:
    """log(k!) for float `k >= 0`: Stirling's series about `k + 1` with three
    correction terms (error below 3e-14 from k = 30), tabulated below."""
    import jax.numpy as jnp

    k1 = k + 1.0
    inv = 1.0 / k1
    inv2 = inv * inv
    series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0))
    table = jnp.asarray(_STIRLING_TAIL, dtype=k.dtype)
    tail = jnp.where(k < 30, table[jnp.clip(k, 0, 29).astype(jnp.int32)], series)
    return (k + 0.5) * jnp.log(k1) - k1 + _HALF_LOG_2PI + tail


class _Btrs(NamedTuple):
    """The constants of BTRS for counts `n` and probabilities `q <= 1/2`."""

    n: Any
    a: Any
    b: Any
    c: Any
    v_r: Any
    alpha: Any
    log_odds: Any
    mode: Any
    h: Any

    @classmethod
    def of(cls, n: Any, q: Any) -> _Btrs:
        import jax.numpy as jnp

        spq = jnp.sqrt(n * q * (1.0 - q))
        b = 1.15 + 2.53 * spq
        mode = jnp.floor((n + 1.0) * q)
        return cls(
            n=n,
            a=-0.0873 + 0.0248 * b + 0.01 * q,
            b=b,
            c=n * q + 0.5,
            v_r=0.92 - 4.2 / b,
            alpha=(2.83 + 5.1 / b) * spq,
            log_odds=jnp.log(q / (1.0 - q)),
            mode=mode,
            h=_log_factorial(mode) + _log_factorial(n - mode),
        )

    def gather(self, idx: Any) -> _Btrs:
        return _Btrs(*(v[idx] for v in self))

    def attempt(self, u: Any, v: Any) -> tuple[Any, Any]:
        """One proposal from uniforms `u`, `v` in [0, 1): the candidate and whether
        it is accepted."""
        import jax.numpy as jnp

        u = u - 0.5
        us = 0.5 - jnp.abs(u)
        k = jnp.floor((2.0 * self.a / us + self.b) * u + self.c)
        quick = (us >= 0.07) & (v <= self.v_r)
        inside = (k >= 0) & (k <= self.n)
        kk = jnp.clip(k, 0.0, self.n)
        log_v = jnp.log(v * self.alpha / (self.a / (us * us) + self.b))
        bound = (
            self.h
            - _log_factorial(kk)
            - _log_factorial(self.n - kk)
            + (kk - self.mode) * self.log_odds
        )
        return k, quick | (inside & (log_v <= bound))


def _inversion(u: Any, n: Any, q: Any) -> Any:
    """The smallest `k` with `u <= F(k)` under Binomial(n, q), for small `n q`.

    (Every element is stepped until none is left searching: gathering the
    stragglers into a smaller buffer, as BTRS's retries are, measured slower
    here, the search being only a few multiplications a step.)"""
    import jax
    import jax.numpy as jnp

    odds = q / (1.0 - q)
    f0 = jnp.exp(n * jnp.log1p(-q))
    mean = n * q
    cap = jnp.minimum(n, jnp.ceil(mean + 40.0 * jnp.sqrt(mean) + 40.0))

    # Every element still searching at step i is at k = i, so the recursion's
    # 1 / (k + 1) is one number per step. `f` and `F` run on for the elements
    # already found: they stay the probabilities of i (0 from i = n on) and its
    # CDF, which only grows, so a found element is never searching again.
    def step(s: Any) -> Any:
        k, f, cdf, go, _, i = s
        f = f * (n - i) * odds * (1.0 / (i + 1.0))
        cdf = cdf + f
        k = jnp.where(go, i + 1.0, k)
        go = go & (u > cdf) & (k < cap)
        return k, f, cdf, go, jnp.any(go), i + 1.0

    go = (u > f0) & (cap > 0)
    zero = jnp.zeros((), dtype=n.dtype)
    state = (jnp.zeros_like(n), f0, f0, go, jnp.any(go), zero)
    return jax.lax.while_loop(lambda s: s[4], step, state)[0]


def _sample(keys: Any, n: Any, p: Any) -> Any:
    """Binomial(n, p) for `n`, `p` of shape `(B, m)` with one key per row."""
    import jax
    import jax.numpy as jnp

    rows, m = n.shape
    dtype = n.dtype
    flip = p > 0.5
    q = jnp.clip(jnp.where(flip, 1.0 - p, p), 0.0, 0.5)
    small = n * q < SMALL_MEAN

    def first(key: Any) -> tuple[Any, Any]:
        k_first, k_rest = jax.random.split(key)
        return jax.random.uniform(k_first, (m,), dtype), k_rest

    u, rest_keys = jax.vmap(first)(keys)  # (B, m), (B, ...)
    n_f, q_f, small_f = n.reshape(-1), q.reshape(-1), small.reshape(-1)
    u = u.reshape(-1)
    zeros = jnp.zeros_like(n_f)

    # each method only when some element needs it (a real branch, unless this
    # runs under an outer vmap); an element is drawn by one method, and
    # inversion reads the uniform BTRS starts from
    x_small = jax.lax.cond(
        jnp.any(small_f),
        lambda: _inversion(
            u, jnp.where(small_f, n_f, 0.0), jnp.where(small_f, q_f, 0.0)
        ),
        lambda: zeros,
    )
    x_large = jax.lax.cond(
        jnp.all(small_f),
        lambda: zeros,
        lambda: _btrs(rest_keys, u, n_f, q_f, small_f, m),
    )
    x = jnp.where(small_f, x_small, x_large).reshape(rows, m)
    return jnp.where(flip, n - x, x)


def _btrs(rest_keys: Any, u: Any, n: Any, q: Any, small: Any, m: int) -> Any:
    """BTRS for the elements not `small` (flattened; `m` per key)."""
    import jax
    import jax.numpy as jnp

    size = n.shape[0]
    dtype = n.dtype
    v_keys, retry_keys = jax.vmap(lambda k: tuple(jax.random.split(k)))(rest_keys)
    v = jax.vmap(lambda k: jax.random.uniform(k, (m,), dtype))(v_keys).reshape(-1)
    btrs = _Btrs.of(jnp.where(small, 1e4, n), jnp.where(small, 0.5, q))
    x, accepted = btrs.attempt(u, v)
    accepted = accepted | small

    def retry(s: Any, buffer: int) -> Any:
        x, accepted, tries = s
        (idx,) = jnp.nonzero(~accepted, size=buffer, fill_value=size)
        live = idx < size
        lane = jnp.minimum(idx, size - 1)
        row, col = lane // m, lane % m

        def draw(key: Any, col: Any, t: Any) -> Any:
            key = jax.random.fold_in(jax.random.fold_in(key, col), t)
            return jax.random.uniform(key, (2,), dtype)

        uv = jax.vmap(draw)(retry_keys[row], col, tries[lane])
        k, ok = btrs.gather(lane).attempt(uv[:, 0], uv[:, 1])
        target = jnp.where(live & ok, idx, size)
        return (
            x.at[target].set(k, mode="drop"),
            accepted.at[target].set(True, mode="drop"),
            tries.at[jnp.where(live, idx, size)].add(1, mode="drop"),
        )

    # about 5% are rejected: one round in a buffer of an eighth of the array,
    # then rounds in one of a 64th for the few left (more rounds if need be)
    state = (x, accepted, jnp.zeros(size, dtype=jnp.int32))
    state = jax.lax.cond(
        jnp.all(accepted), lambda s: s, lambda s: retry(s, max(64, size // 8)), state
    )
    return jax.lax.while_loop(
        lambda s: ~jnp.all(s[1]), lambda s: retry(s, max(64, size // 64)), state
    )[0]


@cache  # built on first use, so that importing this module needs no JAX
def _custom() -> Any:
    import jax.numpy as jnp
    from jax.custom_batching import custom_vmap

    @custom_vmap
    def draw(key: Any, n: Any, p: Any) -> Any:
        shape = n.shape
        out = _sample(key[None], n.reshape(1, -1), p.reshape(1, -1))
        return out.reshape(shape)

    @draw.def_vmap
    def _rule(axis_size: int, in_batched: Any, key: Any, n: Any, p: Any) -> Any:
        key_b, n_b, p_b = in_batched
        if not key_b:
            key = jnp.broadcast_to(key, (axis_size, *jnp.shape(key)))
        if not n_b:
            n = jnp.broadcast_to(n, (axis_size, *n.shape))
        if not p_b:
            p = jnp.broadcast_to(p, (axis_size, *p.shape))
        shape = n.shape
        out = _sample(key, n.reshape(axis_size, -1), p.reshape(axis_size, -1))
        return out.reshape(shape), True

    return draw


def binomial(key: Any, n: Any, p: Any) -> Any:
    """Binomial(n, p) draws, elementwise over `n` and `p` (broadcast; floats of
    the counts' dtype). Exact (see the module docstring); `p` is clipped to
    [0, 1] and `n` must hold non-negative whole numbers. A NaN `p` or `n`, and a
    negative or infinite `n`, give NaN.

    !!! example
        ```python
        >>> import jax, jax.numpy as jnp
        >>> from op_system._stochastic.sampling import binomial
        >>> x = binomial(jax.random.PRNGKey(0), jnp.full(100_000, 30.0), 0.2)
        >>> round(float(x.mean()), 1), bool((x >= 0).all() and (x <= 30).all())
        (6.0, True)

        ```
    """
    import jax.numpy as jnp

    n = jnp.asarray(n)
    if not jnp.issubdtype(n.dtype, jnp.floating):
        n = n.astype(jnp.result_type(float))
    p = jnp.clip(jnp.asarray(p, dtype=n.dtype), 0.0, 1.0)
    n, p = jnp.broadcast_arrays(n, p)
    if n.size == 0:
        return n
    # a NaN (a rate of 0/0, say) would never be accepted by the rejection
    # loop: such elements are drawn as 0 of 0 and come out NaN
    bad = jnp.isnan(p) | jnp.isnan(n) | (n < 0) | jnp.isinf(n)
    x = _custom()(key, jnp.where(bad, 0.0, n), jnp.where(bad, 0.0, p))
    return jnp.where(bad, jnp.nan, x)
