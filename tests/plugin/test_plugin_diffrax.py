"""`flepimop2.engine.diffrax.DiffraxEngine`: config, compilation, accuracy, gradients.

The system and parameters come from the shipped example `sir_diffrax.yaml`
through flepimop2's own `Simulator` (no mocks). Reference: scipy DOP853 at
rtol = atol = 1e-12 on `compile_spec(spec).eval_fn`.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flepimop2.axis import ResolvedShape
from flepimop2.configuration import ConfigurationModel
from flepimop2.engine.abc import build as build_engine
from flepimop2.engine.diffrax import DiffraxEngine
from flepimop2.parameter.abc import ModelStateSpecification, ParameterValue
from flepimop2.simulator import Simulator
from flepimop2.system.abc import wrap
from flepimop2.system.op_system import JaxX64Error, OpSystemSystem
from flepimop2.typing import StateChangeEnum
from scipy.integrate import solve_ivp

from op_system import compile_spec

EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "flepimop2_plugin"
    / "examples"
    / "sir_diffrax.yaml"
)
TIMES = np.linspace(0.0, 60.0, 13)


@pytest.fixture(scope="module")
def sir():
    """(simulator, initial_state, params) built by flepimop2 from the example config."""
    simulator = Simulator.from_configuration_model(
        ConfigurationModel.from_yaml(EXAMPLE)
    )
    initial_state, params = simulator.resolve_inputs()
    return simulator, initial_state, params


def _reference(system: OpSystemSystem, params, times) -> np.ndarray:
    raw = {k: np.asarray(v.value) for k, v in params.items()}
    spec = {k: v for k, v in system.spec_dict.items() if k != "initial_state"}
    rhs = compile_spec(spec)
    y0 = [raw["s0"], raw["i0"], raw["r0"]]
    sol = solve_ivp(
        lambda t, y: rhs.eval_fn(t, y, **raw),
        (times[0], times[-1]),
        y0,
        t_eval=times,
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
    )
    return sol.y.T


def _with(params, **values):
    out = dict(params)
    for name, value in values.items():
        out[name] = ParameterValue(jnp.asarray(value), params[name].shape)
    return out


def test_built_from_config_by_module_name() -> None:
    engine = build_engine({"module": "diffrax", "solver": "Dopri5", "rtol": 1e-6})
    assert type(engine) is DiffraxEngine
    assert engine.module == "flepimop2.engine.diffrax"
    assert (engine.solver, engine.rtol, engine.atol, engine.dt0, engine.max_steps) == (
        "dopri5",
        1e-6,
        1e-10,
        None,
        100_000,
    )


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"solver": "rk45"}, "solver must be one of"),
        ({"solver": "euler"}, "dt0 is required for the fixed-step solver 'euler'"),
        ({"rtol": -1.0}, "rtol"),
        ({"max_steps": 0}, "max_steps"),
        ({"state_change": "delta"}, "state_change must be 'flow'"),
        ({"solvr": "tsit5"}, "solvr"),
        ({"outputs": ["observables"]}, "outputs must list 'state'"),
        ({"outputs": ["state", "observabels"]}, "outputs must list"),
    ],
)
def test_bad_engine_config_names_the_key(config, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        DiffraxEngine(**config)


def test_validate_system_requires_the_jax_backend(sir) -> None:
    simulator, _, _ = sir
    assert DiffraxEngine().validate_system(simulator.system) is None
    numpy_system = OpSystemSystem(spec=simulator.system.spec_dict)
    issues = DiffraxEngine().validate_system(numpy_system)
    assert issues is not None
    assert "options.array_backend: jax" in issues[0].msg


def test_run_matches_reference_and_compiles_once(sir) -> None:
    simulator, initial_state, params = sir
    engine = DiffraxEngine(solver="tsit5", rtol=1e-10, atol=1e-10)
    out = engine.run(simulator.system, TIMES, initial_state, params)
    assert isinstance(out, jax.Array)  # stays in JAX; the csv backend converts
    np.testing.assert_array_equal(np.asarray(out[:, 0]), TIMES)
    np.testing.assert_allclose(
        np.asarray(out[:, 1:]),
        _reference(simulator.system, params, TIMES),
        rtol=1e-6,
        atol=1e-6,
    )
    solve = engine._last_solve
    assert solve._cache_size() == 1  # traced and compiled once

    # another run of the same system with other values reuses the compiled solve
    other = _with(params, beta=0.4, i0=5.0)
    out2 = engine.run(simulator.system, TIMES, initial_state, other)
    assert engine._last_solve is solve
    assert solve._cache_size() == 1
    np.testing.assert_allclose(
        np.asarray(out2[:, 1:]),
        _reference(simulator.system, other, TIMES),
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("config", "max_error"),
    [
        (
            {"solver": "kvaerno5", "rtol": 1e-8, "atol": 1e-8},
            (0.0, 1e-4),
        ),  # implicit (stiff) solver
        (
            {"solver": "euler", "dt0": 0.01},
            (0.1, 2.0),
        ),  # fixed steps of dt0: first-order error ~1
    ],
)
def test_other_solvers(sir, config, max_error) -> None:
    simulator, initial_state, params = sir
    out = np.asarray(
        DiffraxEngine(**config).run(simulator.system, TIMES, initial_state, params)
    )
    error = np.abs(out[:, 1:] - _reference(simulator.system, params, TIMES)).max()
    assert max_error[0] <= error < max_error[1]


def test_grad_through_run_matches_finite_differences(sir) -> None:
    """d(output)/d(beta) and d(output)/d(i0) via jax.grad through engine.run (jit-compiled, NUTS-style)."""
    simulator, initial_state, params = sir
    engine = DiffraxEngine(solver="tsit5", rtol=1e-10, atol=1e-10)

    def objective(beta, i0):
        out = engine.run(
            simulator.system, TIMES, initial_state, _with(params, beta=beta, i0=i0)
        )
        return out[-1, 3] + out[6, 2]  # R at t=60 plus I at t=30

    grad = jax.jit(jax.grad(objective, argnums=(0, 1)))(0.3, 1.0)
    h = 1e-5
    fd_beta = (objective(0.3 + h, 1.0) - objective(0.3 - h, 1.0)) / (2 * h)
    fd_i0 = (objective(0.3, 1.0 + h) - objective(0.3, 1.0 - h)) / (2 * h)
    np.testing.assert_allclose(float(grad[0]), float(fd_beta), rtol=1e-5)
    np.testing.assert_allclose(float(grad[1]), float(fd_i0), rtol=1e-5)
    assert abs(float(grad[0])) > 1.0  # a real sensitivity, not a zero gradient


def test_max_steps_is_enforced(sir) -> None:
    simulator, initial_state, params = sir
    engine = DiffraxEngine(
        solver="euler", dt0=0.01, max_steps=100
    )  # t=0..60 needs 6000 steps
    with pytest.raises(Exception, match="max_steps"):
        np.asarray(engine.run(simulator.system, TIMES, initial_state, params))


@pytest.mark.parametrize(
    ("kwargs", "given"),
    [
        ({}, "x64 is true (the default) in the engine"),
        ({"x64": True}, "x64 is true in the engine"),
    ],
)
def test_float64_without_jax_x64_is_a_clear_error(sir, kwargs, given) -> None:
    simulator, initial_state, params = sir
    engine = DiffraxEngine(**kwargs)
    with jax.enable_x64(False):
        with pytest.raises(JaxX64Error) as info:
            engine.run(simulator.system, TIMES, initial_state, params)
        assert not jax.config.jax_enable_x64  # the engine did not turn it on
    message = str(info.value)
    for fragment in (
        given,
        "(module: diffrax)",
        'jax.config.update("jax_enable_x64", True)',
        "JAX_ENABLE_X64=1",
    ):
        assert fragment in message, (fragment, message)
    assert isinstance(info.value, ValueError)


def test_single_time_point_returns_the_initial_state(sir) -> None:
    simulator, initial_state, params = sir
    out = np.asarray(
        DiffraxEngine().run(simulator.system, np.array([5.0]), initial_state, params)
    )
    np.testing.assert_array_equal(out, [[5.0, 999.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match="strictly increasing"):
        DiffraxEngine().run(
            simulator.system, np.array([0.0, 2.0, 1.0]), initial_state, params
        )


def test_generic_system_uses_model_state() -> None:
    # A flepimop2 system that is not op_system: the state comes from model_state.
    def stepper(time, state, *, rate, **_):
        return -rate * state

    system = wrap(
        stepper,
        state_change=StateChangeEnum.FLOW,
        model_state=lambda axes: ModelStateSpecification(parameter_names=("u0", "v0")),
    )
    shape = ResolvedShape()
    initial_state = {
        "u0": ParameterValue(np.asarray(1.0), shape),
        "v0": ParameterValue(np.asarray(2.0), shape),
    }
    params = {"rate": ParameterValue(np.asarray(0.5), shape)}
    out = DiffraxEngine(solver="euler", dt0=0.5).run(
        system,
        np.array([0.0, 1.0]),
        initial_state,
        params,
        model_state=system.model_state(None),
    )
    np.testing.assert_allclose(
        np.asarray(out), [[0.0, 1.0, 2.0], [1.0, 0.5625, 1.125]]
    )  # (1 - 0.25)^2


def test_steps_land_on_the_forcing_breakpoints() -> None:
    """A system whose transmission rate steps at day 10 and 20 (`previous`): the
    engine's controller gets the published breakpoints as `jump_ts`, and the solve
    matches a SciPy solve split at the breakpoints."""
    import diffrax
    from tests.plugin.test_plugin_system import TV_SIR

    system = OpSystemSystem(spec=TV_SIR, options={"array_backend": "jax"})
    params = {
        "beta": jnp.asarray([0.5, 0.2, 0.3, 0.4]),
        "m": jnp.asarray([[1.0, 0.5, 0.5, 1.0], [1.0, 0.9, 0.9, 1.0]]),
        "gamma": jnp.asarray(0.1),
    }
    stepper = system.bind()
    engine = DiffraxEngine(solver="tsit5", rtol=1e-10, atol=1e-10)
    _, controller = engine._solver_and_controller(
        diffrax, system.option("forcing_breakpoints")
    )
    np.testing.assert_array_equal(
        np.asarray(controller.jump_ts), [0.0, 10.0, 20.0, 30.0]
    )
    solve = engine._compiled_solve(stepper, jax, diffrax)
    y0 = jnp.asarray([990.0, 980.0, 10.0, 20.0, 0.0, 0.0])
    ts = jnp.asarray([0.0, 5.0, 15.0, 25.0, 40.0])
    ys = np.asarray(solve(ts, y0, params))
    rhs = compile_spec(TV_SIR).bind({k: np.asarray(v) for k, v in params.items()})
    y, ref = np.asarray(y0), [np.asarray(y0)]
    edges = [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0]
    for a, b in itertools.pairwise(edges):
        y = solve_ivp(rhs, (a, b), y, method="DOP853", rtol=1e-12, atol=1e-12).y[:, -1]
        if b in (5.0, 15.0, 25.0, 40.0):
            ref.append(y)
    np.testing.assert_allclose(ys, np.array(ref), rtol=1e-7, atol=1e-7)
