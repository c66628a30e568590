"""`flepimop2.system.op_system.OpSystemSystem`: construction, options, stepper, requests."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flepimop2.axis import AxisCollection
from flepimop2.configuration import ConfigurationModel
from flepimop2.parameter.abc import ModelStateSpecification, ParameterValue
from flepimop2.simulator import Simulator
from flepimop2.system.abc import SystemABC
from flepimop2.system.abc import build as build_system
from flepimop2.system.op_system import JaxX64Error, OpSystemSystem, initial_state_vector
from flepimop2.typing import SystemProtocol

from op_system import compile_spec

SIR = {
    "kind": "expr",
    "state": ["S", "I", "R"],
    "aliases": {"N": "S + I + R"},
    "equations": {
        "S": "-beta * S * I / N",
        "I": "beta * S * I / N - gamma * I",
        "R": "gamma * I",
    },
    "initial_state": {"S": "s0", "I": "i0", "R": "r0"},
}
SIR_PARAMS = {"beta": 0.3, "gamma": 0.1}
Y_SIR = np.array([990.0, 10.0, 0.0])
EXPECTED_SIR = np.array([-2.97, 1.97, 1.0])

SEIR = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": ["child", "adult", "senior"]}],
    "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
    "aliases": {
        "foi[age]": "beta * sum_over(age=j, contact[age, age=j] * I[age=j]) / sum_state()"
    },
    "transitions": [
        {"from": "S[age]", "to": "E[age]", "rate": "foi[age]"},
        {"from": "E[age]", "to": "I[age]", "rate": "sigma"},
        {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
    ],
    "initial_state": {
        "S[age]": {"shaped": "s0", "axes": ["age"]},
        "I[age]": {"shaped": "i0"},
        "E[age]": 0,
        "R[age]": "r0",
    },
}
CONTACT = np.array([[3.0, 1.0, 0.5], [1.0, 2.0, 0.7], [0.5, 0.7, 1.5]])
SEIR_PARAMS = {"beta": 0.6, "sigma": 0.2, "gamma": 0.1, "contact": CONTACT}
AGE = {"age": {"kind": "categorical", "labels": ["child", "adult", "senior"]}}


def _axes(config: dict | None = None) -> AxisCollection:
    return AxisCollection.from_config(
        ConfigurationModel.model_validate({"axes": config or {}}).axes
    )


@pytest.fixture(scope="module")
def sir_numpy() -> OpSystemSystem:
    return OpSystemSystem(spec=SIR)


@pytest.fixture(scope="module")
def sir_jax() -> OpSystemSystem:
    return OpSystemSystem(spec=SIR, options={"array_backend": "jax"})


# -- construction ---------------------------------------------------------------------


def test_built_by_flepimop2_from_module_name() -> None:
    system = build_system({"module": "op_system", "spec": SIR})
    assert type(system) is OpSystemSystem
    assert system.module == "flepimop2.system.op_system"
    assert system.state_change == "flow"
    assert system.option("array_backend") == "numpy"  # the default
    # PEP 420: the plugin adds portions to flepimop2's namespace packages
    src = Path(__file__).resolve().parents[2] / "flepimop2_plugin" / "src" / "flepimop2"
    for package in (src, src / "system", src / "engine"):
        assert not (package / "__init__.py").exists()
    assert (src / "system" / "op_system" / "__init__.py").is_file()
    assert (src / "engine" / "diffrax" / "__init__.py").is_file()


def test_spec_file_relative_to_working_directory_and_absolute(
    tmp_path, monkeypatch, write_yaml
) -> None:
    write_yaml(tmp_path / "model.yaml", SIR)
    monkeypatch.chdir(tmp_path)
    relative = OpSystemSystem(spec_file="model.yaml")
    absolute = OpSystemSystem(spec_file=str(tmp_path / "model.yaml"))
    for system in (relative, absolute):
        assert system.option("state_names") == ("S", "I", "R")
        np.testing.assert_allclose(system.bind(SIR_PARAMS)(0.0, Y_SIR), EXPECTED_SIR)
        assert system.spec_dict == SIR


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({}, ["exactly one of spec", "neither is set"]),
        ({"spec": SIR, "spec_file": "x.yaml"}, ["exactly one of spec", "both are set"]),
        (
            {"spec": SIR, "options": {"array_backnd": "jax"}},
            ["options.array_backnd: unknown option", "did you mean 'array_backend'"],
        ),
        (
            {"spec": SIR, "options": {"array_backend": "torch"}},
            ["options.array_backend must be one of 'numpy', 'jax'"],
        ),
        (
            {"spec": SIR, "options": {"x64": "yes"}},
            ["options.x64 must be true or false"],
        ),
        ({"spec": SIR, "state_change": "delta"}, ["state_change must be 'flow'"]),
        ({"spec": SIR, "spce": {}}, ["spce", "Extra inputs are not permitted"]),
        (
            {"spec_file": "no/such/model.yaml"},
            ["spec_file: 'no/such/model.yaml' not found"],
        ),
        (
            {"spec": {**SIR, "equations": {"S": "-S", "I": "S"}}},
            ["spec.equations", "Missing equation for state 'R'"],
        ),
        ({"spec": {**SIR, "kind": "graph"}}, ["spec.kind", "rhs.kind=graph"]),
        (
            {"spec": {**SIR, "initial_state": {"S": [1, 2]}}},
            ["spec.initial_state['S'] must be a seed parameter name"],
        ),
        (
            {
                "spec": {
                    **SEIR,
                    "initial_state": {"S[age]": {"shaped": "s0", "axes": ["region"]}},
                }
            },
            ["indexed by axis 'region'"],
        ),
    ],
)
def test_bad_construction_names_the_key(kwargs, fragments) -> None:
    with pytest.raises(
        ValueError, match=re.escape(fragments[0])
    ) as info:  # pydantic's ValidationError is a ValueError
        OpSystemSystem(**kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_jax_backend_without_jax_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` raises ImportError
    with pytest.raises(ValueError, match=r"options.array_backend: 'jax' needs JAX"):
        OpSystemSystem(spec=SIR, options={"array_backend": "jax"})


@pytest.mark.parametrize(
    ("options", "given"),
    [
        ({"array_backend": "jax"}, "options.x64 is true (the default)"),
        ({"array_backend": "jax", "x64": True}, "options.x64 is true in"),
    ],
)
def test_float64_without_jax_x64_is_a_clear_error_and_config_is_untouched(
    options, given
) -> None:
    with jax.enable_x64(False):
        with pytest.raises(
            ValueError, match="float64 was requested"
        ) as info:  # pydantic wraps JaxX64Error
            OpSystemSystem(spec=SIR, options=options)
        assert not jax.config.jax_enable_x64  # the plugin did not turn it on
        cause = info.value.errors()[0]["ctx"]["error"]
        assert isinstance(cause, JaxX64Error)
        assert isinstance(cause, ValueError)
        message = str(cause)
        for fragment in (
            given,
            "system (module: op_system)",
            "jax_enable_x64 is off",
            'jax.config.update("jax_enable_x64", True)',
            "JAX_ENABLE_X64=1",
            "options.x64: false",
        ):
            assert fragment in message, (fragment, message)
        # x64: false computes in JAX's current precision, without touching the config
        system = OpSystemSystem(
            spec=SIR, options={"array_backend": "jax", "x64": False}
        )
        out = system.bind(SIR_PARAMS)(0.0, jnp.asarray(Y_SIR))
        assert out.dtype == jnp.float32
        assert not jax.config.jax_enable_x64
    OpSystemSystem(spec=SIR)  # numpy never asks JAX for anything


def test_plugin_never_updates_jax_config(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(jax.config, "update", lambda *a, **k: calls.append(a))
    OpSystemSystem(spec=SIR, options={"array_backend": "jax"})
    with (
        jax.enable_x64(False),
        pytest.raises(ValueError, match="float64 was requested"),
    ):
        OpSystemSystem(spec=SIR, options={"array_backend": "jax"})
    assert calls == []


def test_spec_file_relative_to_config_under_the_cli(tmp_path, write_yaml) -> None:
    # The CLI command object (holding the config path) is found on the call stack.
    (tmp_path / "configs" / "models").mkdir(parents=True)
    write_yaml(tmp_path / "configs" / "models" / "sir.yaml", SIR)

    class FakeCommand:  # the shape of flepimop2.cli._cli_command.CliCommand
        bound_kwargs = {"config": tmp_path / "configs" / "config.yaml"}  # noqa: RUF012

        def run(self) -> OpSystemSystem:
            return OpSystemSystem(spec_file="models/sir.yaml")

    assert FakeCommand().run().option("state_names") == ("S", "I", "R")


def test_revalidating_a_dump_keeps_the_system() -> None:
    system = OpSystemSystem(spec=SEIR, options={"array_backend": "numpy"})
    again = OpSystemSystem.model_validate(system.model_dump())
    assert again.option("initial_state") == system.option("initial_state")


# -- the stepper --------------------------------------------------------------------------


def test_stepper_call_forms_numpy(sir_numpy) -> None:
    stepper = sir_numpy.bind()
    assert isinstance(stepper, SystemProtocol)
    positional = stepper(0.0, Y_SIR, **SIR_PARAMS)
    keywords = stepper(time=0.0, state=Y_SIR, **SIR_PARAMS)
    bound = sir_numpy.bind(SIR_PARAMS)(time=np.float64(0.0), state=Y_SIR)
    via_kwargs = sir_numpy.bind(beta=0.3, gamma=0.1)(0.0, Y_SIR)
    for out in (
        positional,
        keywords,
        bound,
        via_kwargs,
        sir_numpy.step(0.0, Y_SIR, **SIR_PARAMS),
    ):
        assert isinstance(out, np.ndarray)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, EXPECTED_SIR, rtol=1e-12)


def test_stepper_ignores_unused_kwargs_and_unwraps_parameter_values(sir_numpy) -> None:
    # op_engine binds every sampled parameter, seeds included
    from flepimop2.axis import ResolvedShape

    wrapped = {
        k: ParameterValue(np.asarray(v), ResolvedShape()) for k, v in SIR_PARAMS.items()
    }
    stepper = sir_numpy.bind(
        {**wrapped, "s0": 990.0, "i0": 10.0, "r0": 0.0, "unrelated": 1.0}
    )
    np.testing.assert_allclose(stepper(0.0, Y_SIR), EXPECTED_SIR, rtol=1e-12)
    np.testing.assert_allclose(
        sir_numpy.bind()(0.0, Y_SIR, **wrapped, extra=3), EXPECTED_SIR, rtol=1e-12
    )


def test_stepper_rejects_time_and_state_as_bound_params(sir_numpy) -> None:
    with pytest.raises(TypeError, match="time"):
        sir_numpy.bind(params={"time": 0.0})


@pytest.mark.parametrize("bad", [np.zeros(2), np.zeros((3, 1)), np.zeros((1, 3))])
def test_stepper_validates_state_shape(sir_numpy, sir_jax, bad) -> None:
    for system in (sir_numpy, sir_jax):
        with pytest.raises(ValueError, match=r"expected \(3,\), got"):
            system.bind(SIR_PARAMS)(0.0, bad)


def test_jax_stepper_returns_jax_arrays_and_jits(sir_jax) -> None:
    stepper = sir_jax.bind(SIR_PARAMS)
    out = stepper(0.0, Y_SIR)  # NumPy in, JAX out: the backend's arrays
    assert isinstance(out, jax.Array)
    np.testing.assert_allclose(np.asarray(out), EXPECTED_SIR, rtol=1e-12)

    jitted = jax.jit(lambda y: stepper(time=0.0, state=y))
    np.testing.assert_allclose(
        np.asarray(jitted(jnp.asarray(Y_SIR))), EXPECTED_SIR, rtol=1e-12
    )

    # parameters traced too: gradient of dI/dt w.r.t. beta is S*I/N
    grad = jax.grad(
        lambda b: sir_jax.bind()(0.0, jnp.asarray(Y_SIR), beta=b, gamma=0.1, s0=1.0)[1]
    )(0.3)
    np.testing.assert_allclose(float(grad), 990.0 * 10.0 / 1000.0, rtol=1e-12)


def test_numpy_stepper_under_jit_names_the_option(sir_numpy) -> None:
    stepper = sir_numpy.bind(SIR_PARAMS)
    with pytest.raises(TypeError, match=r"options.array_backend: jax"):
        jax.jit(lambda y: stepper(time=0.0, state=y))(jnp.asarray(Y_SIR))


def test_bound_stepper_carries_option(sir_jax) -> None:
    stepper = sir_jax.bind(SIR_PARAMS)
    assert stepper.option("state_names") == ("S", "I", "R")
    assert stepper.option("array_backend") == "jax"
    assert stepper.option("initial_state") == {"S": "s0", "I": "i0", "R": "r0"}
    assert stepper.option("not_an_option", 5) == 5
    with pytest.raises(KeyError):
        stepper.option("not_an_option")


# -- options, requests, initial state ---------------------------------------------------


def test_seir_options() -> None:
    system = OpSystemSystem(spec=SEIR)
    names = system.option("state_names")
    assert (
        names
        == compile_spec(
            {k: v for k, v in SEIR.items() if k != "initial_state"}
        ).state_names
    )
    assert names[:3] == ("S__age_child", "S__age_adult", "S__age_senior")
    init = system.option("initial_state")
    assert init["S__age_adult"] == {
        "shaped": "s0",
        "axes": ("age",),
        "coords": {"age": "adult"},
    }
    assert init["I__age_senior"] == {
        "shaped": "i0",
        "axes": ("age",),
        "coords": {"age": "senior"},
    }
    assert init["E__age_child"] == 0.0
    assert init["R__age_child"] == "r0"
    assert system.option("axis_labels") == {"age": ("child", "adult", "senior")}
    assert system.option("param_axes")["contact"] == ("age", "age")
    assert system.option("initial_state") is not None
    assert (
        OpSystemSystem(
            spec={k: v for k, v in SIR.items() if k != "initial_state"}
        ).option("initial_state")
        is None
    )


def test_requested_parameters_and_model_state() -> None:
    system = OpSystemSystem(spec=SEIR)
    axes = _axes(AGE)
    requests = system.requested_parameters(axes)
    assert {name: tuple(r.axes) for name, r in requests.items()} == {
        "beta": (),
        "sigma": (),
        "gamma": (),
        "contact": ("age", "age"),
        "s0": ("age",),
        "i0": ("age",),
        "r0": (),
    }
    assert all(name == r.name and not r.optional for name, r in requests.items())
    state = system.model_state(axes)
    assert isinstance(state, ModelStateSpecification)
    assert state.parameter_names == ()


@pytest.mark.parametrize(
    ("axes", "fragment"),
    [
        ({}, "indexed by axis 'age', which is not declared"),
        (
            {"age": {"kind": "categorical", "labels": ["child", "adult"]}},
            "axes.age has 2 entries",
        ),
        (
            {"age": {"kind": "categorical", "labels": ["adult", "child", "senior"]}},
            "must equal the spec's coords",
        ),
    ],
)
def test_requested_parameters_checks_axes(axes, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        OpSystemSystem(spec=SEIR).requested_parameters(_axes(axes))


def test_requested_parameters_rejects_names_flepimop2_cannot_configure() -> None:
    spec = {**SIR, "initial_state": {"S": "S0", "I": "i0", "R": "r0"}}
    with pytest.raises(ValueError, match=r"seed 'S0'.*lower-case"):
        OpSystemSystem(spec=spec).requested_parameters(_axes())
    spec = {**SIR, "equations": {**SIR["equations"], "R": "Gamma * I"}}
    with pytest.raises(ValueError, match="spec parameter 'Gamma'"):
        OpSystemSystem(spec=spec).requested_parameters(_axes())


def test_kernels_are_evaluated_by_op_system_not_requested() -> None:
    spec = {
        "kind": "expr",
        "axes": [{"name": "x", "coords": ["a", "b", "c"]}],
        "kernels": [
            {
                "name": "k",
                "form": "gaussian",
                "axes": ["x", "x"],
                "params": {"scale": 2.0, "sigma": 1.0},
            }
        ],
        "state": ["u[x]"],
        "equations": {"u[x]": "-rate * sum_over(x=j, k[x, x=j] * u[x=j])"},
    }
    system = OpSystemSystem(spec=spec)
    pos = np.arange(3.0)  # categorical coords sit at positions 0, 1, 2
    kernel = 2.0 * np.exp(-((pos[:, None] - pos[None, :]) ** 2) / 2.0)
    np.testing.assert_allclose(system.option("mixing_kernels")["k"], kernel)
    labels = {"x": {"kind": "categorical", "labels": ["a", "b", "c"]}}
    assert set(system.requested_parameters(_axes(labels))) == {"rate"}
    u = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(system.bind({"rate": 0.5})(0.0, u), -0.5 * kernel @ u)


def test_spec_file_errors_name_file_and_line(tmp_path) -> None:
    path = tmp_path / "sir.yaml"
    path.write_text(
        "kind: expr\nstate: [S, I, R]\nequations:\n  S: -beta * S * I\n  I: beta * S * I - gamma * I\n"
        "  R: gamma * np.load(I)\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ValueError, match=r"spec_file .*equations\['R'\].*sir\.yaml:6:"
    ) as info:
        OpSystemSystem(spec_file=str(path))
    assert "np.load" in str(info.value)


@pytest.mark.parametrize("xp", [np, jnp])
def test_initial_state_vector(xp) -> None:
    system = OpSystemSystem(
        spec=SEIR, options={"array_backend": "jax" if xp is jnp else "numpy"}
    )
    params = {
        "s0": np.array([299.0, 500.0, 199.0]),
        "i0": np.array([1.0, 0.0, 1.0]),
        "r0": np.asarray(5.0),
    }
    y0 = initial_state_vector(system.option, params, xp=xp)
    expected = np.array([299, 500, 199, 0, 0, 0, 1, 0, 1, 5, 5, 5], dtype=float)
    np.testing.assert_array_equal(np.asarray(y0), expected)
    assert isinstance(y0, jax.Array if xp is jnp else np.ndarray)
    with pytest.raises(KeyError, match="'i0'"):
        initial_state_vector(system.option, {"s0": params["s0"], "r0": 0.0})
    no_ic = OpSystemSystem(spec={k: v for k, v in SEIR.items() if k != "initial_state"})
    with pytest.raises(ValueError, match="no initial_state block"):
        initial_state_vector(no_ic.option, params)


def test_simulator_samples_every_parameter_and_seed(monkeypatch) -> None:
    examples = Path(__file__).resolve().parents[2] / "flepimop2_plugin" / "examples"
    monkeypatch.chdir(
        examples
    )  # outside the CLI, spec_file resolves against the working directory
    config = ConfigurationModel.from_yaml(examples / "seir_age_diffrax.yaml")
    simulator = Simulator.from_configuration_model(config)
    assert isinstance(simulator.system, SystemABC)
    initial_state, params = simulator.resolve_inputs()
    assert initial_state == {}
    assert {k: v.value.shape for k, v in params.items()} == {
        "beta": (),
        "sigma": (),
        "gamma": (),
        "contact": (3, 3),
        "s0": (3,),
        "i0": (3,),
    }
    np.testing.assert_array_equal(params["contact"].value, CONTACT)
    y = np.arange(12.0)
    raw = {k: v.value for k, v in params.items()}
    expected = compile_spec(
        {k: v for k, v in SEIR.items() if k != "initial_state"}
    ).eval_fn(0.0, y, **raw)
    np.testing.assert_allclose(
        np.asarray(simulator.system.bind(params)(0.0, y)), expected, rtol=1e-12
    )


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_the_published_jacobian_is_exact_with_the_bound_parameters(backend) -> None:
    system = OpSystemSystem(spec=SIR, options={"array_backend": backend})
    jac = system.option("rhs_jacobian")
    assert system.option("jacobian") is jac
    y = np.array([990.0, 10.0, 0.0])
    with pytest.raises(RuntimeError, match=r"call system.bind\(params\)"):
        jac(0.0, y)
    params = {"beta": 0.3, "gamma": 0.1}
    stepper = system.bind(params)
    state = jnp.asarray(y) if backend == "jax" else y
    got = np.asarray(jac(0.0, state))
    eps = 1e-6
    fd = np.stack(
        [
            (
                np.asarray(stepper(0.0, y + eps * e))
                - np.asarray(stepper(0.0, y - eps * e))
            )
            / (2 * eps)
            for e in np.eye(3)
        ],
        axis=1,
    )
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-9)
    assert type(jac(0.0, state)).__module__.startswith(
        "jax" if backend == "jax" else "numpy"
    )
    system.bind({"beta": 0.6, "gamma": 0.1})  # a later bind is what it reads
    assert not np.allclose(np.asarray(jac(0.0, state)), got)


TV_SIR = {
    "kind": "transitions",
    "axes": [
        {"name": "age", "coords": ["child", "adult"]},
        {"name": "time", "type": "continuous", "coords": [0.0, 10.0, 20.0, 30.0]},
    ],
    "state": ["S[age]", "I[age]", "R[age]"],
    "transitions": [
        {
            "name": "infection",
            "from": "S[age]",
            "to": "I[age]",
            "rate": "beta[time] * m[age, time] * sum_over(age=j, I[j]) / sum_state()",
        },
        {"name": "recovery", "from": "I[age]", "to": "R[age]", "rate": "gamma"},
    ],
    "time_interpolation": "previous",
}


def test_time_varying_parameters_are_requested_as_tables() -> None:
    """A time-varying parameter is requested over its axes and the time axis (as
    the spec indexes it); the breakpoints are published for engines."""
    system = OpSystemSystem(spec=TV_SIR)
    axes = _axes(
        {
            "age": {"kind": "categorical", "labels": ["child", "adult"]},
            "time": {"kind": "continuous", "size": 4, "domain": [0.0, 30.0]},
        }
    )
    requests = system.requested_parameters(axes)
    assert {n: tuple(r.axes) for n, r in requests.items()} == {
        "beta": ("time",),
        "m": ("age", "time"),
        "gamma": (),
    }
    assert system.option("forcing_breakpoints") == (0.0, 10.0, 20.0, 30.0)
    assert system.option("param_axes")["m"] == ("age", "time")
    params = {
        "beta": np.array([0.5, 0.2, 0.3, 0.4]),
        "m": np.array([[1.0, 0.5, 0.5, 1.0], [1.0, 0.9, 0.9, 1.0]]),
        "gamma": 0.1,
    }
    y = np.array([990.0, 980.0, 10.0, 20.0, 0.0, 0.0])
    stepper = system.bind(params)
    got = stepper(15.0, y)  # day 15: beta 0.2, m (0.5, 0.9)
    inf = 0.2 * np.array([0.5, 0.9]) * 30.0 / y.sum() * y[:2]
    rec = 0.1 * y[2:4]
    np.testing.assert_allclose(got, np.concatenate([-inf, inf - rec, rec]), rtol=1e-13)
    assert OpSystemSystem(spec=SIR).option("forcing_breakpoints") == ()


def test_observable_only_parameters_are_optional_requests() -> None:
    spec = {**TV_SIR, "observables": {"adm[age]": "ihr[age] * infection[age]"}}
    system = OpSystemSystem(spec=spec)
    axes = _axes(
        {
            "age": {"kind": "categorical", "labels": ["child", "adult"]},
            "time": {"kind": "continuous", "size": 4, "domain": [0.0, 30.0]},
        }
    )
    requests = system.requested_parameters(axes)
    assert tuple(requests["ihr"].axes) == ("age",)
    assert requests["ihr"].optional
    assert not requests["beta"].optional
    assert system.option("observable_names") == ("adm__age_child", "adm__age_adult")
    assert system.option("flow_names")[0] == "infection__age_child"
    assert OpSystemSystem(spec=SIR).option("observe") is None
