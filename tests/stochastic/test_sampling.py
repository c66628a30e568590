"""op_system's JAX binomial sampler (`_sampling.binomial`), which the chain-binomial
simulators draw with: its law, and its `vmap` rule.

The law is checked by G-tests against the exact probabilities (contiguous values
pooled into bins expecting at least 20 draws), each at level 1e-4: over the 17
cases a correct sampler fails with probability below 2e-3 under fresh seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

jax = pytest.importorskip("jax")
jnp = jax.numpy

from op_system._stochastic.sampling import _log_factorial, binomial  # noqa: E402
from op_system._stochastic.sampling import binomial as _binomial  # noqa: E402

# (n, p): inversion, BTRS, either side of the switch at n q = 10, p above 1/2
# (drawn as n minus a draw with 1 - p), the edges, and a large n
CASES = [
    (1, 0.5),
    (5, 0.3),
    (40, 0.1),
    (40, 0.9),
    (99, 0.1),
    (101, 0.1),
    (30, 0.5),
    (100, 0.12),
    (200, 0.06),
    (200, 0.96),
    (1000, 0.5),
    (5000, 0.002),
    (20_000, 0.3),
    (1_000_000, 0.37),
    (7, 1.0),
    (7, 0.0),
    (0, 0.3),
]


def _g_test_pvalue(draws: np.ndarray, n: int, p: float) -> float:
    k = np.arange(n + 1)
    pmf = stats.binom.pmf(k, n, p)
    total = draws.size
    counts = np.bincount(draws.astype(np.int64), minlength=n + 1)
    # pool contiguous values until each bin expects at least 20 draws
    obs, exp, o, e = [], [], 0.0, 0.0
    for ck, pk in zip(counts, pmf, strict=True):
        o, e = o + ck, e + pk * total
        if e >= 20:
            obs.append(o)
            exp.append(e)
            o = e = 0.0
    if exp:
        obs[-1] += o
        exp[-1] += e
    if len(exp) < 2:  # a point mass: every draw must be it
        return 1.0 if (draws == np.argmax(pmf)).all() else 0.0
    obs_a, exp_a = np.asarray(obs), np.asarray(exp)
    g = 2.0 * np.sum(np.where(obs_a > 0, obs_a * np.log(obs_a / exp_a), 0.0))
    return float(stats.chi2.sf(g, len(exp) - 1))


@pytest.fixture(scope="module")
def x64() -> None:
    if not jax.config.jax_enable_x64:
        pytest.skip("float64 counts need jax_enable_x64")


@pytest.mark.parametrize(("n", "p"), CASES)
def test_binomial_follows_the_exact_law(x64: None, n: int, p: float) -> None:
    """1e5 draws: 200 keys under `vmap` (the batched rule) of 500 each."""
    keys = jax.random.split(jax.random.PRNGKey(n % 9973 + int(1000 * p)), 200)
    draw = jax.jit(jax.vmap(lambda k: binomial(k, jnp.full(500, float(n)), p)))
    x = np.asarray(draw(keys)).ravel()
    assert x.min() >= 0
    assert x.max() <= n
    np.testing.assert_array_equal(x, np.round(x))
    assert _g_test_pvalue(x, n, p) > 1e-4


def test_mixed_array_in_one_call_follows_the_exact_law(x64: None) -> None:
    """One unbatched call over an array whose elements mix both methods and
    both sides of p = 1/2: each column is checked against its own law."""
    cols = [(3, 0.2), (60, 0.5), (12, 0.95), (400, 0.03), (2000, 0.7)]
    n = jnp.asarray([float(c[0]) for c in cols] * 20_000)
    p = jnp.asarray([c[1] for c in cols] * 20_000)
    x = np.asarray(jax.jit(binomial)(jax.random.PRNGKey(5), n, p)).reshape(-1, 5)
    for j, (nj, pj) in enumerate(cols):
        assert _g_test_pvalue(x[:, j], nj, pj) > 1e-4, (nj, pj)


def test_vmap_gives_each_row_its_own_key_draws(x64: None) -> None:
    """`vmap(binomial)(keys, n, p)[b] == binomial(keys[b], n[b], p[b])`: a
    trajectory's draws depend only on its key, whatever the batch (and however
    it is sharded); an unbatched key is shared, as a plain call would."""
    rng = np.random.default_rng(0)
    n = jnp.asarray(rng.integers(0, 3000, (64, 7)).astype(float))
    p = jnp.asarray(rng.uniform(0, 1, (64, 7)))
    keys = jax.random.split(jax.random.PRNGKey(1), 64)
    one = jax.jit(binomial)
    batched = np.asarray(jax.jit(jax.vmap(binomial))(keys, n, p))
    for b in (0, 17, 63):
        np.testing.assert_array_equal(batched[b], one(keys[b], n[b], p[b]))
    shared = np.asarray(
        jax.jit(jax.vmap(binomial, in_axes=(None, 0, 0)))(keys[0], n, p)
    )
    np.testing.assert_array_equal(shared[5], one(keys[0], n[5], p[5]))
    # nested vmap (over parameters, then particles) and typed keys
    nested = jax.vmap(jax.vmap(binomial, in_axes=(0, None, None)), in_axes=(None, 0, 0))
    out = np.asarray(jax.jit(nested)(keys[:3], n[:4], p[:4]))
    assert out.shape == (4, 3, 7)
    np.testing.assert_array_equal(out[2, 1], one(keys[1], n[2], p[2]))
    typed = jax.random.split(jax.random.key(0), 3)
    t = jax.jit(jax.vmap(binomial, in_axes=(0, None, None)))(typed, n[0], p[0])
    np.testing.assert_array_equal(t[1], jax.jit(binomial)(typed[1], n[0], p[0]))


def test_edges_and_dtypes() -> None:
    key = jax.random.PRNGKey(0)
    binomial = jax.jit(_binomial)
    assert binomial(key, jnp.zeros(0), 0.5).shape == (0,)
    x = binomial(key, jnp.asarray([0.0, 5.0, 5.0]), jnp.asarray([0.3, 0.0, 1.0]))
    np.testing.assert_array_equal(np.asarray(x), [0.0, 0.0, 5.0])
    ints = binomial(key, jnp.asarray([10, 20]), 0.5)  # integer counts: as floats
    assert jnp.issubdtype(ints.dtype, jnp.floating)
    assert binomial(key, 4.0, 0.5).shape == ()
    # NaN (a rate of 0/0) and impossible counts give NaN, never a hang
    bad = np.asarray(
        binomial(
            key,
            jnp.asarray([5.0, jnp.nan, -1.0, jnp.inf, 5000.0, 4.0]),
            jnp.asarray([jnp.nan, 0.5, 0.5, 0.5, jnp.nan, 0.5]),
        )
    )
    assert np.isnan(bad[:5]).all()
    assert 0 <= bad[5] <= 4
    # probabilities outside [0, 1] (rounding of 1 - exp(-r dt)) are clipped
    np.testing.assert_array_equal(
        np.asarray(binomial(key, jnp.asarray([3.0, 3.0]), jnp.asarray([-1e-17, 1.5]))),
        [0.0, 3.0],
    )


def test_log_factorial_against_lgamma(x64: None) -> None:
    k = np.unique(np.r_[np.arange(40), np.geomspace(40, 1e9, 200).round()])
    got = np.asarray(_log_factorial(jnp.asarray(k)))
    want = np.array([math.lgamma(v + 1.0) for v in k])
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)
