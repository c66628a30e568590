"""`pack`, `unpack` and `initial_state` with JAX arrays, under `jax.jit` (x64 is
set by tests/conftest.py), against the NumPy results (which
test_packing.py checks against hand-written vectors)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.results._campaign import I0, S0, SPEC

from op_system import compile_spec

jax = pytest.importorskip("jax")
jnp = jax.numpy

C = compile_spec(SPEC)


def test_pack_and_unpack_inside_jit() -> None:
    def build(s0: Any, seed: Any) -> Any:
        return C.pack({"I[age=adult, vax=u]": seed, "R__age_kid__vax_v": 2.0}, S=s0)

    got = jax.jit(build)(jnp.asarray(S0), jnp.asarray(20.0))
    want = C.pack({"I[age=adult, vax=u]": 20.0, "R__age_kid__vax_v": 2.0}, S=S0)
    assert isinstance(got, jax.Array)
    assert got.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(got), want)

    ys = jnp.stack([got, 2 * got])  # (time, n_state)
    blocks = jax.jit(C.unpack)(ys)
    assert blocks["I"].shape == (2, 2, 2)
    np.testing.assert_array_equal(np.asarray(blocks["S"][1]), 2 * S0)
    # differentiable: d(total I)/d(seed) is 1
    grad = jax.grad(lambda s: C.unpack(build(jnp.asarray(S0), s))["I"].sum())(
        jnp.asarray(5.0)
    )
    assert float(grad) == 1.0


def test_first_used_in_one_trace_then_another() -> None:
    """The layout read in the first trace holds no tracer: a second jitted
    function (and an eager call) reuse it."""
    c = compile_spec(SPEC)  # fresh: nothing read yet
    first = jax.jit(lambda s: c.unpack(c.pack(S=s, I=I0))["S"] * 2)
    second = jax.jit(lambda i: c.pack(I=i).sum())
    np.testing.assert_array_equal(np.asarray(first(jnp.asarray(S0))), 2 * S0)
    assert float(second(jnp.asarray(I0))) == I0.sum()
    np.testing.assert_array_equal(np.asarray(c.unpack(c.pack(S=S0))["S"]), S0)


def test_initial_state_inside_jit() -> None:
    spec = {**SPEC, "initial_state": {"S[age, vax]": "S0[age, vax]"}}
    c = compile_spec(spec)
    names = [n.replace("S__", "S0__") for n in c.state_names[:4]]
    got = jax.jit(lambda v: c.initial_state(**dict(zip(names, v))))(jnp.arange(4.0))
    np.testing.assert_array_equal(np.asarray(got)[:4], np.arange(4.0))
    np.testing.assert_array_equal(np.asarray(got)[4:], 0.0)
