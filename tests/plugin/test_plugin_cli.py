"""End-to-end: the real `flepimop2 simulate` CLI on the shipped example configs.

Each run's CSV is compared with a direct solve of the same spec through
op_system (`compile_spec(spec).eval_fn` integrated by scipy's DOP853 at
rtol = atol = 1e-12), with the initial state built here by hand from the
config's parameters. Tolerance: |csv - reference| <= 1e-4 + 1e-6 * |reference|
(3e-5 * |reference| for op_engine's second-order implicit SDIRK2, which runs on
the system's exact Jacobian)
(populations of 1000, so about 1e-7 of the population; the engines run at
rtol 1e-8). The models conserve their total population (1000), which is
checked at every output time to 1e-9 relative.

Bad configs must fail with an error naming the offending config key and
write nothing to model_output/.

The plugin never changes JAX's global configuration, and the JAX configs ask
for float64 (`x64` defaults to true), so they run with `JAX_ENABLE_X64=1` in
the CLI's environment, as a user runs them; the `x64_off_*` cases run with
`JAX_ENABLE_X64=0` and check the error that tells how to enable it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy.integrate import solve_ivp

from op_system import compile_spec

POPULATION = 1000.0


def _param_values(config: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, entry in config["parameter"].items():
        out[name] = np.asarray(
            entry["value"] if isinstance(entry, dict) else entry, dtype=np.float64
        )
    return out


def _times(config: dict[str, Any]) -> np.ndarray:
    start, step, stop = (
        float(x) for x in config["simulate"]["demo"]["times"].split(":")
    )
    return np.arange(start, stop + step / 2, step)


def _reference(
    spec: dict[str, Any], y0: np.ndarray, params: dict[str, Any], times: np.ndarray
) -> np.ndarray:
    spec = {k: v for k, v in spec.items() if k != "initial_state"}
    rhs = compile_spec(spec)
    sol = solve_ivp(
        lambda t, y: rhs.eval_fn(t, y, **params),
        (times[0], times[-1]),
        y0,
        t_eval=times,
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
    )
    assert sol.success, sol.message
    return sol.y.T


def _sir_reference(
    examples: Path, config: dict[str, Any], load_yaml: Any
) -> np.ndarray:
    p = _param_values(config)
    y0 = np.array([p["s0"], p["i0"], p["r0"]])
    return _reference(config["system"][0]["spec"], y0, p, _times(config))


def _seir_reference(
    examples: Path, config: dict[str, Any], load_yaml: Any
) -> np.ndarray:
    p = _param_values(config)
    spec = load_yaml(examples / config["system"][0]["spec_file"])
    zeros = np.zeros(3)
    y0 = np.concatenate(
        [p["s0"], zeros, p["i0"], zeros]
    )  # S[age], E[age], I[age], R[age]
    return _reference(spec, y0, p, _times(config))


def _uses_jax(config: dict[str, Any]) -> bool:
    return (config["system"][0].get("options") or {}).get("array_backend") == "jax"


def _x64_env(config: dict[str, Any]) -> dict[str, str]:
    """The environment a JAX config needs: it asks for float64 (`x64` defaults to true),
    and the plugin never enables it itself, so the user enables JAX's x64 mode."""
    return {"JAX_ENABLE_X64": "1"} if _uses_jax(config) else {"JAX_ENABLE_X64": "0"}


CASES = {
    # config: (reference, run from: "examples" dir itself or its parent "tmp")
    "sir_op_engine.yaml": (_sir_reference, "examples"),  # expr spec, numpy, op_engine
    "sir_diffrax.yaml": (_sir_reference, "examples"),  # expr spec, jax, diffrax engine
    "seir_age_op_engine.yaml": (
        _seir_reference,
        "examples",
    ),  # transitions + contact matrix, numpy, op_engine
    "seir_age_op_engine_implicit.yaml": (
        _seir_reference,
        "examples",
    ),  # ... op_engine's implicit SDIRK2 on the system's exact Jacobian (rhs_jacobian)
    "seir_age_diffrax.yaml": (
        _seir_reference,
        "tmp",
    ),  # ... jax, diffrax; spec_file found relative to the config
    "seir_age_wrapper.yaml": (
        _seir_reference,
        "examples",
    ),  # wrapper engine runner using stepper.option
}


@pytest.mark.parametrize("config_name", list(CASES))
def test_simulate_matches_direct_solve(
    config_name, examples, flepimop2, read_output, load_yaml
) -> None:
    reference_fn, where = CASES[config_name]
    # SDIRK2 is second order: at the config's rtol 1e-6 its global error reaches
    # about 2.5e-4 relative (the other engines' methods are fifth order)
    rtol = 1e-3 if "implicit" in config_name else 1e-6
    config = load_yaml(examples / config_name)
    cwd = examples if where == "examples" else examples.parent
    config_arg = config_name if where == "examples" else f"examples/{config_name}"
    if where == "tmp":  # spec_file must not resolve against the working directory
        assert not (cwd / config["system"][0]["spec_file"]).exists()

    proc = flepimop2("simulate", config_arg, cwd=cwd, env=_x64_env(config))
    assert proc.returncode == 0, proc.stderr[-3000:]

    out = read_output(cwd)
    times = _times(config)
    reference = reference_fn(examples, config, load_yaml)
    assert out.shape == (times.size, 1 + reference.shape[1])
    np.testing.assert_array_equal(out[:, 0], times)
    np.testing.assert_allclose(out[:, 1:], reference, rtol=rtol, atol=1e-4)
    np.testing.assert_allclose(out[:, 1:].sum(axis=1), POPULATION, rtol=1e-9)
    assert (
        out[-1, 1] < 0.5 * out[0, 1]
    )  # an epidemic happened: the comparison is not trivial


def test_dry_run_samples_shaped_parameters_and_seeds(examples, flepimop2) -> None:
    proc = flepimop2(
        "simulate", "--dry-run", "-vv", "seir_age_op_engine.yaml", cwd=examples
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    params_line = log.split("Params:", 1)[1].split(" T: ", 1)[
        0
    ]  # the sampled parameters, logged at -vv
    for name in ("beta", "sigma", "gamma", "contact", "s0", "i0"):
        assert f"'{name}': ParameterValue(" in params_line, name
    assert "axis_names=('age', 'age'), sizes=(3, 3)" in params_line  # contact
    assert "axis_names=('age',), sizes=(3,)" in params_line  # s0, i0
    assert not (examples / "model_output").exists()


# -- bad configs -------------------------------------------------------------------------


def _set_option(key: str, value: Any):
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["system"][0].setdefault("options", {})[key] = value

    return mutate


def _rename_option(old: str, new: str):
    def mutate(cfg: dict[str, Any]) -> None:
        opts = cfg["system"][0]["options"]
        opts[new] = opts.pop(old)

    return mutate


def _edit_equation(state: str, text: str):
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["system"][0]["spec"]["equations"][state] = text

    return mutate


def _drop_equation(state: str):
    def mutate(cfg: dict[str, Any]) -> None:
        del cfg["system"][0]["spec"]["equations"][state]

    return mutate


def _system_key(key: str, value: Any):
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["system"][0][key] = value

    return mutate


def _drop_parameter(name: str):
    def mutate(cfg: dict[str, Any]) -> None:
        del cfg["parameter"][name]

    return mutate


def _drop_axes(cfg: dict[str, Any]) -> None:
    del cfg["axes"]


def _reorder_labels(cfg: dict[str, Any]) -> None:
    cfg["axes"]["age"]["labels"] = ["adult", "child", "senior"]


def _engine_key(key: str, value: Any):
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["engine"][0][key] = value

    return mutate


def _unchanged(cfg: dict[str, Any]) -> None:
    del cfg


def _upper_case_parameter(cfg: dict[str, Any]) -> None:
    eqs = cfg["system"][0]["spec"]["equations"]
    for state, text in eqs.items():
        eqs[state] = text.replace("gamma", "Gamma")


BAD_CONFIGS = {
    # name: (base config, mutation, expected fragments of the error output)
    "unknown_option": (
        "sir_diffrax.yaml",
        _rename_option("array_backend", "array_backnd"),
        ["options.array_backnd: unknown option", "did you mean 'array_backend'"],
    ),
    "unknown_system_key": (
        "sir_op_engine.yaml",
        _system_key("spec_fiel", "model.yaml"),
        ["spec_fiel", "Extra inputs are not permitted"],
    ),
    "bad_backend": (
        "sir_diffrax.yaml",
        _set_option("array_backend", "torch"),
        ["options.array_backend must be one of 'numpy', 'jax', got 'torch'"],
    ),
    "numpy_backend_with_diffrax": (
        "sir_diffrax.yaml",
        _set_option("array_backend", "numpy"),
        ["options.array_backend: numpy; set options.array_backend: jax"],
    ),
    "spec_expression_error": (
        "sir_op_engine.yaml",
        _edit_equation("R", "gamma * np.load(I)"),
        ["spec.equations['R']", "disallowed function call: np.load"],
    ),
    "spec_structure_error": (
        "sir_op_engine.yaml",
        _drop_equation("R"),
        ["spec.equations", "Missing equation for state 'R'"],
    ),
    "spec_file_missing": (
        "seir_age_op_engine.yaml",
        _system_key("spec_file", "models/no_such_model.yaml"),
        ["spec_file: 'models/no_such_model.yaml' not found"],
    ),
    "spec_and_spec_file": (
        "seir_age_op_engine.yaml",
        _system_key("spec", {"kind": "expr", "state": ["x"], "equations": {"x": "-x"}}),
        ["give exactly one of spec", "spec_file", "both are set"],
    ),
    "missing_parameter": (
        "sir_op_engine.yaml",
        _drop_parameter("gamma"),
        ["Required parameter 'gamma' was requested but not configured"],
    ),
    "missing_seed": (
        "seir_age_op_engine.yaml",
        _drop_parameter("i0"),
        ["Required parameter 'i0' was requested but not configured"],
    ),
    "upper_case_parameter": (
        "sir_op_engine.yaml",
        _upper_case_parameter,
        ["spec parameter 'Gamma' cannot be configured in flepimop2", "lower-case"],
    ),
    "axis_not_declared": (
        "seir_age_op_engine.yaml",
        _drop_axes,
        ["indexed by axis 'age'", "top-level axes:"],
    ),
    "axis_labels_reordered": (
        "seir_age_op_engine.yaml",
        _reorder_labels,
        ["axes.age.labels ['adult', 'child', 'senior'] must equal the spec's coords"],
    ),
    "unknown_solver": (
        "sir_diffrax.yaml",
        _engine_key("solver", "rk45"),
        ["solver must be one of", "got 'rk45'"],
    ),
    "missing_jax": (
        "sir_diffrax.yaml",
        None,
        ["options.array_backend: 'jax' needs JAX"],
    ),
    # run with JAX_ENABLE_X64=0: float64 is requested but JAX's x64 mode is off
    "x64_off_system_default": (
        "sir_diffrax.yaml",
        _unchanged,
        [
            "options.x64 is true (the default) in the system (module: op_system)",
            'jax.config.update("jax_enable_x64", True)',
            "JAX_ENABLE_X64=1",
        ],
    ),
    "x64_off_system_explicit": (
        "seir_age_diffrax.yaml",
        _set_option("x64", True),
        ["options.x64 is true in the system (module: op_system)", "JAX_ENABLE_X64=1"],
    ),
    "x64_off_engine": (
        "sir_diffrax.yaml",
        _set_option(
            "x64", False
        ),  # the system computes in float32; the engine still asks for float64
        [
            "JaxX64Error",
            "x64 is true (the default) in the engine (module: diffrax)",
            "JAX_ENABLE_X64=1",
        ],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_fails_clearly_and_writes_nothing(
    case, examples, flepimop2, load_yaml, write_yaml, tmp_path
) -> None:
    base, mutate, expected = BAD_CONFIGS[case]
    config = copy.deepcopy(load_yaml(examples / base))
    # JAX's x64 mode on (as the JAX examples need), except in the x64_off_* cases
    env = {"JAX_ENABLE_X64": "0" if case.startswith("x64_off") else "1"}
    if mutate is not None:
        mutate(config)
    else:  # make `import jax` fail in the CLI process
        stub = tmp_path / "no_jax" / "jax"
        stub.mkdir(parents=True)
        (stub / "__init__.py").write_text(
            "raise ImportError(\"No module named 'jax' (blocked by the test)\")\n"
        )
        env["PYTHONPATH"] = str(stub.parent)
    write_yaml(examples / "bad.yaml", config)

    proc = flepimop2("simulate", "bad.yaml", cwd=examples, env=env)

    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    for fragment in expected:
        assert fragment in output, f"{fragment!r} not in:\n{output[-3000:]}"
    assert not (examples / "model_output").exists()
    assert not list(tmp_path.rglob("*.csv"))


def test_incidence_counters_are_written_with_the_state(
    examples, flepimop2, read_output, load_yaml
) -> None:
    """A transitions spec with `incidence:` run by the real CLI: the counter is a
    column of the CSV, starts at 0 and equals what the susceptibles lost."""
    config = load_yaml(examples / "sir_op_engine.yaml")
    config["system"][0]["spec"] = {
        "kind": "transitions",
        "state": ["S", "I", "R"],
        "transitions": [
            {
                "name": "infection",
                "from": "S",
                "to": "I",
                "rate": "beta * I / sum_state()",
            },
            {"from": "I", "to": "R", "rate": "gamma"},
        ],
        "incidence": {"cases": "infection"},
        "initial_state": {"S": "s0", "I": "i0", "R": "r0"},
    }
    (examples / "sir_incidence.yaml").write_text(yaml.safe_dump(config))
    proc = flepimop2("simulate", "sir_incidence.yaml", cwd=examples)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = read_output(examples)
    s, cases = out[:, 1], out[:, 4]
    assert out.shape[1] == 5  # time, S, I, R, cases
    assert cases[0] == 0.0
    np.testing.assert_allclose(cases, s[0] - s, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(out[:, 1:4].sum(axis=1), POPULATION, rtol=1e-9)


def test_diffrax_engine_writes_observables_and_flows(
    examples, flepimop2, read_output, load_yaml
) -> None:
    """`outputs: [state, observables, flows]` in the diffrax engine: the CSV has the
    state, then the spec's observables (reading a flow, a counter and a parameter
    only the observables use), then the flows, each equal to op_system's own
    `observe` / `flows` of the written state."""
    config = load_yaml(examples / "sir_diffrax.yaml")
    spec = {
        "kind": "transitions",
        "state": ["S", "I", "R"],
        "transitions": [
            {
                "name": "infection",
                "from": "S",
                "to": "I",
                "rate": "beta * I / sum_state()",
            },
            {"name": "recovery", "from": "I", "to": "R", "rate": "gamma"},
        ],
        "incidence": {"cases": "infection"},
        "observables": {"admissions": "ihr * infection", "reported": "rho * cases"},
        "initial_state": {"S": "s0", "I": "i0", "R": "r0"},
    }
    config["system"][0]["spec"] = spec
    config["engine"][0]["outputs"] = ["state", "observables", "flows"]
    config["parameter"].update({"ihr": 0.02, "rho": 0.4})
    (examples / "sir_outputs.yaml").write_text(yaml.safe_dump(config))
    proc = flepimop2(
        "simulate", "sir_outputs.yaml", cwd=examples, env={"JAX_ENABLE_X64": "1"}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = read_output(examples)
    assert out.shape[1] == 1 + 4 + 2 + 2  # time, S I R cases, 2 observables, 2 flows
    c = compile_spec({k: v for k, v in spec.items() if k != "initial_state"})
    params = {"beta": 0.3, "gamma": 0.1, "ihr": 0.02, "rho": 0.4}
    ts, ys = out[:, 0], out[:, 1:5]
    np.testing.assert_allclose(out[:, 5:7], c.observe(ts, ys, **params), rtol=1e-12)
    flows = np.stack([c.flows(t, y, beta=0.3, gamma=0.1) for t, y in zip(ts, ys)])
    np.testing.assert_allclose(out[:, 7:9], flows, rtol=1e-12)
    np.testing.assert_allclose(out[:, 6], 0.4 * out[:, 4], rtol=1e-12)  # rho * cases
