"""The default `compile_spec(spec)` traces under JAX and stays strict float64 NumPy.

op-system 0.1.2's `compile_spec(spec)` cannot be used under `jax.jit`
(`TracerArrayConversionError`). Here the default hands JAX arrays and tracers
to a JAX function of the same model, while lists and NumPy arrays keep 0.1.2's
float64 NumPy results; `xp=numpy` keeps the strict NumPy behaviour.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from op_system import compile_spec  # noqa: E402

SPEC = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": ["y", "o"]}],
    "state": ["S[age]", "I[age]", "R[age]"],
    "aliases": {
        "foi[age]": "beta * sum_over(age=j, C[age, age=j] * I[age=j]) / sum_state()"
    },
    "transitions": [
        {"from": "S[age]", "to": "I[age]", "rate": "foi[age]"},
        {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
    ],
}
PARAMS: dict[str, Any] = {
    "beta": 0.3,
    "gamma": 0.1,
    "C": np.array([[2.0, 1.0], [1.0, 3.0]]),
}
Y = np.array([900.0, 80.0, 10.0, 5.0, 0.0, 5.0])


def _by_hand(y: Any, beta: Any) -> Any:
    s, i = y[0:2], y[2:4]
    foi = beta * (PARAMS["C"] @ i) / y.sum()
    inf, rec = foi * s, PARAMS["gamma"] * i
    return jnp.concatenate([-inf, inf - rec, rec])


def test_numpy_inputs_give_float64_numpy() -> None:
    rhs = compile_spec(SPEC)
    for y in (Y, Y.tolist(), Y.astype(np.float32)):
        out = rhs.eval_fn(0.0, y, **PARAMS)
        assert type(out) is np.ndarray
        assert out.dtype == np.float64
    np.testing.assert_allclose(
        rhs.eval_fn(0.0, Y, **PARAMS),
        np.asarray(_by_hand(jnp.asarray(Y), 0.3)),
        rtol=1e-12,
    )


def test_jit_grad_vmap_through_the_default() -> None:
    rhs = compile_spec(SPEC)
    y = jnp.asarray(Y)
    out = jax.jit(lambda y: rhs.eval_fn(0.0, y, **PARAMS))(y)
    assert isinstance(out, jax.Array)
    np.testing.assert_allclose(
        np.asarray(out), np.asarray(_by_hand(y, 0.3)), rtol=1e-12
    )
    g = jax.grad(lambda b: rhs.eval_fn(0.0, y, **{**PARAMS, "beta": b})[2])(0.3)
    g_ref = jax.grad(lambda b: _by_hand(y, b)[2])(0.3)
    np.testing.assert_allclose(float(g), float(g_ref), rtol=1e-12)
    batch = jnp.stack([y, 2 * y, 3 * y])
    outs = jax.vmap(lambda y: rhs.eval_fn(0.0, y, **PARAMS))(batch)
    np.testing.assert_allclose(
        np.asarray(outs),
        np.stack([np.asarray(_by_hand(b, 0.3)) for b in batch]),
        rtol=1e-12,
    )


def test_float32_jax_inputs_stay_float32() -> None:
    rhs = compile_spec(SPEC)
    p32 = {
        **PARAMS,
        "C": jnp.asarray(PARAMS["C"], dtype=jnp.float32),
        "beta": jnp.float32(0.3),
        "gamma": jnp.float32(0.1),
    }
    out = jax.jit(lambda y: rhs.eval_fn(jnp.float32(0.0), y, **p32))(
        jnp.asarray(Y, dtype=jnp.float32)
    )
    assert out.dtype == jnp.float32


def test_explicit_numpy_stays_strict() -> None:
    rhs = compile_spec(SPEC, xp=np)
    with pytest.raises(jax.errors.TracerArrayConversionError):
        jax.jit(lambda y: rhs.eval_fn(0.0, y, **PARAMS))(jnp.asarray(Y))


def test_one_class_check_in_the_numpy_source() -> None:
    src = compile_spec(SPEC).source
    first = src.splitlines()[1].strip()
    assert first == "if y.__class__ is not _ndarray and _not_numpy(y):"
    assert "_not_numpy" not in compile_spec(SPEC, xp=np).source


def test_the_default_survives_pickling() -> None:
    rhs = pickle.loads(pickle.dumps(compile_spec(SPEC)))
    out = jax.jit(lambda y: rhs.eval_fn(0.0, y, **PARAMS))(jnp.asarray(Y))
    np.testing.assert_allclose(
        np.asarray(out), rhs.eval_fn(0.0, Y, **PARAMS), rtol=1e-12
    )
