"""Upstream op_system issue #74's acceptance criteria, one named test each.

1. NumPy workflows unchanged               -> test_upstream_numpy_workflows_unchanged
2. a JAX compiled callable evaluates under
   `jax.jit` without concretization errors  -> test_upstream_jit_without_concretization_errors
3. diffrax consumes the callable without
   `jax.pure_callback`                      -> test_upstream_diffrax_without_pure_callback
4. NUTS/HMC traces through the RHS for a
   representative model                    -> test_numpyro.py::test_nuts_recovers_sir_parameters

The other tests of tests/jax/ exceed these (every transformation, dtype and
parity spec; finite-difference checks; retracing; namespaces).
"""

from __future__ import annotations

from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from _jax_models import AGE_SEIR, CASES, CONDITIONALS, PARITY_CASES, callback_primitives

from op_system import compile_spec


def test_upstream_numpy_workflows_unchanged() -> None:
    """Default compile: NumPy in (lists or arrays), float64 NumPy out, 0.1.2's numbers."""
    for case in PARITY_CASES[:10]:
        rhs = compile_spec(case["spec"])
        sample = case["samples"][0]
        for y in (sample["y"], np.asarray(sample["y"])):
            out = rhs.eval_fn(sample["t"], y, **sample["params"])
            assert type(out) is np.ndarray
            assert out.dtype == np.float64
            np.testing.assert_allclose(out, sample["dydt"], rtol=1e-12, atol=1e-300)
        bound = rhs.bind(sample["params"])
        np.testing.assert_allclose(
            bound(sample["t"], sample["y"]), sample["dydt"], rtol=1e-12, atol=1e-300
        )


def test_upstream_jit_without_concretization_errors() -> None:
    """Everything traced (t, y and every parameter), conditionals included."""
    for spec, case in (
        (AGE_SEIR, CASES["age_seir"]),
        (CONDITIONALS, CASES["conditionals"]),
    ):
        rhs = compile_spec(spec, backend="jax")
        ref = compile_spec(spec)
        f = jax.jit(lambda t, y, p, rhs=rhs: rhs.eval_fn(t, y, **p))
        out = f(
            jnp.asarray(case.t),
            jnp.asarray(case.y),
            {k: jnp.asarray(v) for k, v in case.params.items()},
        )
        np.testing.assert_allclose(
            np.asarray(out), ref.eval_fn(case.t, case.y, **case.params), rtol=1e-12
        )


def test_upstream_diffrax_without_pure_callback() -> None:
    case = CASES["age_seir"]
    rhs = compile_spec(AGE_SEIR, backend="jax")

    def solve(args: Any) -> Any:
        return diffrax.diffeqsolve(
            diffrax.ODETerm(rhs.vector_field),
            diffrax.Tsit5(),
            t0=0.0,
            t1=100.0,
            dt0=0.1,
            y0=jnp.asarray(case.y),
            args=args,
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-6),
            throw=False,  # diffrax's own error reporting is a callback; turn it off
        ).ys

    args = {k: jnp.asarray(v) for k, v in case.params.items()}
    assert callback_primitives(jax.make_jaxpr(solve)(args)) == set()
    ys = jax.jit(solve)(args)
    assert bool(jnp.all(jnp.isfinite(ys)))
    np.testing.assert_allclose(float(ys[-1].sum()), case.y.sum(), rtol=1e-9)
