"""Every parity spec (tests/parity/refs.json) on the JAX path.

* NumPy and JAX (x64) agree at rtol 1e-12 on the stored samples, eager and jitted;
* `jax.grad` of a scalar function of `dydt` matches central finite differences;
* float32 in gives float32 out (JAX and NumPy through `xp="auto"`);
* the array-api-strict namespace runs every spec (standard functions only).
"""

from __future__ import annotations

from typing import Any

import array_api_strict as xps
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _jax_models import PARITY_CASES, callback_primitives, fd_grad

from op_system import compile_spec

IDS = [c["name"] for c in PARITY_CASES]


def _sample_args(
    sample: dict[str, Any], mk: Any, dtype: Any
) -> tuple[Any, Any, dict[str, Any]]:
    return (
        mk(sample["t"], dtype=dtype),
        mk(sample["y"], dtype=dtype),
        {k: mk(v, dtype=dtype) for k, v in sample["params"].items()},
    )


def test_there_are_parity_specs() -> None:
    assert len(PARITY_CASES) >= 30


@pytest.mark.parametrize("case", PARITY_CASES, ids=IDS)
def test_numpy_and_jax_agree_x64(case: dict[str, Any]) -> None:
    rhs_np = compile_spec(case["spec"])
    rhs_jax = compile_spec(case["spec"], backend="jax")
    jitted = jax.jit(lambda t, y, p: rhs_jax.eval_fn(t, y, **p))
    for sample in case["samples"]:
        want = rhs_np.eval_fn(sample["t"], np.asarray(sample["y"]), **sample["params"])
        np.testing.assert_allclose(want, sample["dydt"], rtol=1e-12, atol=1e-300)
        eager = rhs_jax.eval_fn(
            sample["t"], jnp.asarray(sample["y"]), **sample["params"]
        )
        traced = jitted(*_sample_args(sample, jnp.asarray, jnp.float64))
        for got in (eager, traced):
            assert isinstance(got, jax.Array)
            assert got.dtype == jnp.float64
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-300)
    jaxpr = jax.make_jaxpr(lambda t, y, p: rhs_jax.eval_fn(t, y, **p))(
        *_sample_args(case["samples"][0], jnp.asarray, jnp.float64)
    )
    assert callback_primitives(jaxpr) == set()


@pytest.mark.parametrize("case", PARITY_CASES, ids=IDS)
def test_grad_matches_finite_differences(case: dict[str, Any]) -> None:
    """d/d(y, params) of L = w . dydt + |dydt / s|^2 / 2, float64."""
    rhs_np = compile_spec(case["spec"])
    rhs_jax = compile_spec(case["spec"], backend="jax")
    sample = case["samples"][0]
    t = float(sample["t"])
    y = np.asarray(sample["y"], dtype=np.float64)
    params = {k: np.asarray(v, dtype=np.float64) for k, v in sample["params"].items()}
    w = np.random.default_rng(1).standard_normal(y.shape)
    s = float(np.max(np.abs(sample["dydt"]))) + 1.0

    def loss_np(y: np.ndarray, p: dict[str, np.ndarray]) -> float:
        d = rhs_np.eval_fn(t, y, **p)
        return float(np.sum(w * d) + 0.5 * np.sum((d / s) ** 2))

    def loss_jax(y: Any, p: Any) -> Any:
        d = rhs_jax.eval_fn(t, y, **p)
        return jnp.sum(w * d) + 0.5 * jnp.sum((d / s) ** 2)

    g_y, g_p = jax.jit(jax.grad(loss_jax, argnums=(0, 1)))(
        jnp.asarray(y), {k: jnp.asarray(v) for k, v in params.items()}
    )
    got = np.concatenate([np.asarray(g_y), [float(g_p[k]) for k in params]])
    want = np.concatenate(
        [fd_grad(lambda x: loss_np(x, params), y)]
        + [
            fd_grad(lambda v, k=k: loss_np(y, {**params, k: v}), params[k]).reshape(1)
            for k in params
        ]
    )
    np.testing.assert_allclose(
        got, want, rtol=1e-6, atol=1e-7 * float(np.max(np.abs(want)))
    )


@pytest.mark.parametrize("case", PARITY_CASES, ids=IDS)
def test_float32_stays_float32_jax(case: dict[str, Any]) -> None:
    """Constants are created in y's dtype: no float64 leaks, no strict-promotion error."""
    rhs = compile_spec(case["spec"], backend="jax")
    jitted = jax.jit(lambda t, y, p: rhs.eval_fn(t, y, **p))
    for sample in case["samples"]:
        got = jitted(*_sample_args(sample, jnp.asarray, jnp.float32))
        assert got.dtype == jnp.float32
        want = np.asarray(sample["dydt"])
        np.testing.assert_allclose(
            np.asarray(got, np.float64), want, rtol=2e-3, atol=1e-3 * np.abs(want).max()
        )


@pytest.mark.parametrize("case", PARITY_CASES, ids=IDS)
def test_float32_stays_float32_numpy_auto(case: dict[str, Any]) -> None:
    """`xp="auto"` with float32 NumPy inputs (expanded scalar parameters) returns float32."""
    rhs = compile_spec(case["spec"], xp="auto")
    for sample in case["samples"]:
        t, y, p = _sample_args(sample, np.asarray, np.float32)
        got = rhs.eval_fn(t, y, **p)
        assert got.dtype == np.float32
        want = np.asarray(sample["dydt"])
        np.testing.assert_allclose(
            got.astype(np.float64), want, rtol=2e-3, atol=1e-3 * np.abs(want).max()
        )


@pytest.mark.parametrize("case", PARITY_CASES, ids=IDS)
def test_array_api_strict_runs_every_spec(case: dict[str, Any]) -> None:
    rhs = compile_spec(case["spec"], xp=xps)
    for sample in case["samples"]:
        t, y, p = _sample_args(sample, xps.asarray, xps.float64)
        got = rhs.eval_fn(t, y, **p)
        assert type(got).__module__.startswith("array_api_strict")
        assert got.dtype == xps.float64
        np.testing.assert_allclose(
            np.asarray(got), sample["dydt"], rtol=1e-12, atol=1e-300
        )
