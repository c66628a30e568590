"""diffrax consumes the compiled right-hand side directly (issue #4, points 3-5).

`diffrax.ODETerm(compiled.vector_field)` with `args` a dict of parameters:
solutions match scipy's `solve_ivp` on the NumPy backend, the solve jits,
differentiates (gradient through the solve vs. finite differences) and vmaps,
changing parameters does not retrace, and no callback reaches the host.
"""

from __future__ import annotations

from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _jax_models import AGE_SEIR, CASES, SIR, callback_primitives, count_callbacks
from scipy.integrate import solve_ivp

from op_system import compile_spec

T1 = 60.0
TS = np.linspace(0.0, T1, 13)


def _solver(
    rhs: Any, y0: Any, *, rtol: float = 1e-10, atol: float = 1e-10, throw: bool = True
) -> Any:
    return diffrax_solver_for(rhs.vector_field, y0, rtol=rtol, atol=atol, throw=throw)


def diffrax_solver_for(
    vf: Any, y0: Any, *, rtol: float = 1e-10, atol: float = 1e-10, throw: bool = True
) -> Any:
    term = diffrax.ODETerm(vf)

    def solve(args: Any) -> Any:
        return diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            t0=0.0,
            t1=T1,
            dt0=0.1,
            y0=y0,
            args=args,
            saveat=diffrax.SaveAt(ts=jnp.asarray(TS, dtype=y0.dtype)),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            max_steps=20_000,
            throw=throw,
        ).ys

    return solve


def _scipy(spec: dict[str, Any], y0: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    rhs = compile_spec(spec).bind(params)
    sol = solve_ivp(
        rhs, (0.0, T1), y0, t_eval=TS, method="DOP853", rtol=1e-11, atol=1e-10
    )
    assert sol.success
    return sol.y.T


@pytest.mark.parametrize("model", ["sir", "age_seir"])
def test_odeterm_of_vector_field_matches_scipy(model: str) -> None:
    case = CASES[model]
    rhs = compile_spec(case.spec, backend="jax")
    y0 = jnp.asarray(case.y)
    args = {k: jnp.asarray(v) for k, v in case.params.items()}
    ys = jax.jit(_solver(rhs, y0))(args)
    want = _scipy(case.spec, case.y, case.params)
    np.testing.assert_allclose(
        np.asarray(ys), want, rtol=1e-6, atol=1e-6 * np.abs(want).max()
    )
    # the population is conserved by both models
    np.testing.assert_allclose(np.asarray(ys).sum(axis=1), case.y.sum(), rtol=1e-9)


def test_solve_in_float32() -> None:
    case = CASES["age_seir"]
    rhs = compile_spec(case.spec, backend="jax")
    y0 = jnp.asarray(case.y, dtype=jnp.float32)
    args = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in case.params.items()}
    ys = jax.jit(_solver(rhs, y0, rtol=1e-5, atol=1e-3))(args)
    assert ys.dtype == jnp.float32
    want = _scipy(case.spec, case.y, case.params)
    np.testing.assert_allclose(
        np.asarray(ys, np.float64), want, rtol=1e-3, atol=1e-3 * np.abs(want).max()
    )


def test_indexed_args_as_arrays_or_expanded_scalars() -> None:
    """`args` may hold `beta[age]` / `C[age, age=j]` as arrays or as expanded scalars."""
    case = CASES["age_seir"]
    rhs = compile_spec(case.spec, backend="jax")
    solve = jax.jit(_solver(rhs, jnp.asarray(case.y)))
    arrays = {k: jnp.asarray(v) for k, v in case.params.items()}
    keys = [f"age_{a}" for a in AGE_SEIR["axes"][0]["coords"]]
    flat = {k: jnp.asarray(case.params[k]) for k in ("amp", "sigma", "gamma")}
    for i, a in enumerate(keys):
        flat[f"beta__{a}"] = jnp.asarray(case.params["beta"][i])
        for j, b in enumerate(keys):
            flat[f"C__{a}__{b}"] = jnp.asarray(case.params["C"][i, j])
    assert set(flat) == set(rhs.param_names)
    np.testing.assert_allclose(
        np.asarray(solve(flat)), np.asarray(solve(arrays)), rtol=1e-12
    )


def test_no_pure_callback_in_solve() -> None:
    """The whole solve and its gradient are pure XLA: no host round trip.

    With `throw=False` and `SaveAt(t1=True)` diffrax adds no callback of its own,
    so the jaxpr must contain none. With `SaveAt(ts=...)` diffrax itself inserts
    error checks (equinox callbacks): the compiled RHS must not add any, compared
    with a hand-written `jnp` vector field.
    """
    case = CASES["age_seir"]
    rhs = compile_spec(case.spec, backend="jax")
    y0 = jnp.asarray(case.y)
    args = {k: jnp.asarray(v) for k, v in case.params.items()}

    def final(vf: Any, a: Any) -> Any:
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(vf),
            diffrax.Tsit5(),
            0.0,
            T1,
            0.1,
            y0,
            args=a,
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-6),
            throw=False,
        )
        return sol.ys[-1, 9:12].sum()

    assert (
        callback_primitives(jax.make_jaxpr(lambda a: final(rhs.vector_field, a))(args))
        == set()
    )
    assert (
        callback_primitives(
            jax.make_jaxpr(jax.grad(lambda a: final(rhs.vector_field, a)))(args)
        )
        == set()
    )

    def plain(t: Any, y: Any, a: Any) -> Any:
        return -a["gamma"] * y

    for throw in (True, False):
        ours = jax.make_jaxpr(_solver(rhs, y0, throw=throw))(args)
        theirs = jax.make_jaxpr(diffrax_solver_for(plain, y0, throw=throw))(args)
        assert count_callbacks(ours) == count_callbacks(theirs)


def test_gradient_through_solve_matches_finite_differences() -> None:
    rhs = compile_spec(SIR, backend="jax")
    y0 = jnp.asarray([0.99, 0.01, 0.0])
    solve = _solver(rhs, y0, rtol=1e-12, atol=1e-12)

    def attack_rate(beta: Any, gamma: Any) -> Any:
        return solve({"beta": beta, "gamma": gamma})[-1, 2]

    g = jax.jit(jax.grad(attack_rate, argnums=(0, 1)))(
        jnp.asarray(0.3), jnp.asarray(0.1)
    )
    f = jax.jit(attack_rate)
    h = 1e-5
    fd_beta = (f(0.3 + h, 0.1) - f(0.3 - h, 0.1)) / (2 * h)
    fd_gamma = (f(0.3, 0.1 + h) - f(0.3, 0.1 - h)) / (2 * h)
    np.testing.assert_allclose(
        [float(g[0]), float(g[1])], [float(fd_beta), float(fd_gamma)], rtol=1e-5
    )
    assert float(g[0]) > 0 > float(g[1])


def test_vmap_solve_over_parameter_sets_without_retracing() -> None:
    case = CASES["age_seir"]
    rhs = compile_spec(case.spec, backend="jax")
    y0 = jnp.asarray(case.y)
    traces: list[int] = []
    inner = _solver(rhs, y0, rtol=1e-8, atol=1e-6)

    @jax.jit
    def ensemble(args: Any) -> Any:
        traces.append(1)
        return jax.vmap(inner)(args)

    rng = np.random.default_rng(0)
    n = 8
    outs = []
    for _ in range(3):
        batch = {
            k: jnp.asarray(v[None] * rng.uniform(0.8, 1.2, (n, *v.shape)))
            for k, v in case.params.items()
        }
        outs.append((batch, ensemble(batch)))
    assert len(traces) == 1
    batch, ys = outs[-1]
    assert ys.shape == (n, len(TS), 12)
    for i in (0, n - 1):
        one = jax.jit(inner)({k: v[i] for k, v in batch.items()})
        np.testing.assert_allclose(np.asarray(ys[i]), np.asarray(one), rtol=1e-6)
