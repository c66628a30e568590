"""`NormalizedRhs` and `CompiledRhs` pickle (by spec and backend name) and work in worker processes."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
from typing import Any

import numpy as np
import pytest

import op_system
from op_system import (
    CompiledRhs,
    NormalizedRhs,
    compile_rhs,
    compile_spec,
    load_spec,
    normalize_rhs,
)

SEIR: dict[str, Any] = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": ["young", "old"]}],
    "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
    "aliases": {
        "foi[age]": "beta * sum_over(age=j, C[age, age=j] * I[age=j]) / sum_state()"
    },
    "transitions": [
        {"from": "S[age]", "to": "E[age]", "rate": "foi[age]"},
        {"from": "E[age]", "to": "I[age]", "rate": "sigma"},
        {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
    ],
}
PARAMS: dict[str, Any] = {
    "beta": 0.3,
    "sigma": 0.2,
    "gamma": 0.1,
    "C": np.array([[2.0, 1.0], [1.0, 3.0]]),
}
Y0 = np.array([900.0, 80.0, 5.0, 3.0, 4.0, 2.0, 0.0, 0.0])


def roundtrip(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))


def assert_same_compiled(a: CompiledRhs, b: CompiledRhs, y: Any = Y0) -> None:
    assert b is not a
    assert b.state_names == a.state_names
    assert b.param_names == a.param_names
    assert b.meta == a.meta
    assert b.rhs == a.rhs
    assert repr(b.backend) == repr(
        a.backend
    )  # the same choice, e.g. the default that follows `y`
    np.testing.assert_allclose(
        np.asarray(b.eval_fn(0.0, y, **PARAMS)),
        np.asarray(a.eval_fn(0.0, y, **PARAMS)),
        rtol=1e-12,
    )


# -- NormalizedRhs ------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_normalized_rhs_roundtrip_is_equal(protocol: int) -> None:
    rhs = normalize_rhs(SEIR)
    back = pickle.loads(pickle.dumps(rhs, protocol=protocol))
    assert isinstance(back, NormalizedRhs)
    assert back == rhs
    assert back.kind == rhs.kind
    assert back.state_names == rhs.state_names
    assert back.param_names == rhs.param_names
    assert back.equations == rhs.equations
    assert back.aliases == rhs.aliases
    assert back.all_symbols == rhs.all_symbols
    assert back.meta == rhs.meta
    assert back.fingerprint == rhs.fingerprint


def test_normalized_rhs_pickles_the_spec_as_normalized_not_later_edits() -> None:
    spec = {"state": ["S", "I"], "equations": {"S": "-k * S", "I": "k * S"}}
    rhs = normalize_rhs(spec)
    spec["equations"]["S"] = "0.0"  # type: ignore[index]
    spec["state"].append("R")  # type: ignore[attr-defined]
    back = roundtrip(rhs)
    assert back == rhs
    assert back.state_names == ("S", "I")


def test_normalized_rhs_kind_given_by_the_entry_point() -> None:
    # normalize_transitions_rhs on a spec without `kind` stays a transitions model
    spec = {"state": ["S", "I"], "transitions": [{"from": "S", "to": "I", "rate": "k"}]}
    rhs = op_system.specs.normalize_transitions_rhs(spec)
    back = roundtrip(rhs)
    assert back.kind == "transitions"
    assert back == rhs


def test_normalized_rhs_built_by_hand_roundtrip() -> None:
    rhs = NormalizedRhs(
        "expr",
        ("x", "y"),
        ("-k*x", "k*x"),
        {},
        ("k",),
        frozenset({"k", "x"}),
        {"axes": []},
    )
    back = roundtrip(rhs)
    assert back == rhs
    assert back.param_names == ("k",)
    assert back.all_symbols == frozenset({"k", "x"})
    assert back.meta == {"axes": []}
    minimal = NormalizedRhs("expr", ("x",), ("-x",))
    assert roundtrip(minimal) == minimal


def test_spec_loaded_from_a_file_pickles(tmp_path: Any) -> None:
    path = tmp_path / "sir.yaml"
    path.write_text(
        "kind: transitions\nstate: [S, I, R]\ntransitions:\n"
        "  - {from: S, to: I, rate: beta * I / sum_state()}\n  - {from: I, to: R, rate: gamma}\n"
    )
    compiled = compile_spec(load_spec(path))
    back = roundtrip(compiled)
    y = [990.0, 10.0, 0.0]
    np.testing.assert_allclose(
        back.eval_fn(0.0, y, beta=0.3, gamma=0.1),
        compiled.eval_fn(0.0, y, beta=0.3, gamma=0.1),
    )


# -- CompiledRhs --------------------------------------------------------------------------


@pytest.mark.parametrize("xp", [None, "numpy", np, "auto"])
def test_compiled_rhs_roundtrip_numpy_and_auto(xp: Any) -> None:
    compiled = compile_spec(SEIR, xp=xp)
    back = roundtrip(compiled)
    assert_same_compiled(compiled, back)
    assert back.source == compiled.source
    if compiled.backend.name == "numpy":
        assert back.eval_fn(0.0, Y0, **PARAMS).dtype == np.float64


def test_default_backend_still_follows_y_after_roundtrip() -> None:
    jnp = pytest.importorskip("jax.numpy")
    compiled = compile_spec(SEIR)
    back = roundtrip(compiled)
    assert type(back.eval_fn(0.0, Y0, **PARAMS)) is type(
        compiled.eval_fn(0.0, Y0, **PARAMS)
    )
    y = jnp.asarray(Y0)
    assert type(back.eval_fn(0.0, y, **PARAMS)) is type(
        compiled.eval_fn(0.0, y, **PARAMS)
    )


def test_compiled_rhs_roundtrip_jax() -> None:
    jnp = pytest.importorskip("jax.numpy")
    compiled = compile_spec(SEIR, backend="jax")
    back = roundtrip(compiled)
    assert back.backend.name == "jax"
    assert back.backend.xp is jnp
    assert_same_compiled(compiled, back, jnp.asarray(Y0))


def test_compiled_rhs_roundtrip_array_api_namespace() -> None:
    xps = pytest.importorskip("array_api_strict")
    compiled = compile_spec(
        {
            "state": ["S", "I"],
            "equations": {"S": "-k * S", "I": "k * S - np.exp(-I) * I"},
        },
        xp=xps,
    )
    data = pickle.dumps(compiled)
    assert b"array_api_strict" in data  # by module name
    back = pickle.loads(data)
    assert back.backend.xp is xps
    y = xps.asarray([1.0, 2.0], dtype=xps.float64)
    np.testing.assert_allclose(
        np.asarray(back.eval_fn(0.0, y, k=0.5)),
        np.asarray(compiled.eval_fn(0.0, y, k=0.5)),
    )


def test_compiled_from_hand_built_normalized_rhs_roundtrip() -> None:
    rhs = NormalizedRhs(
        "expr", ("x", "y"), ("-k * x", "k * x"), {}, ("k",), frozenset({"k", "x"}), {}
    )
    compiled = compile_rhs(rhs)
    back = roundtrip(compiled)
    assert back.state_names == ("x", "y")
    assert back.param_names == ("k",)
    assert back.rhs == rhs
    np.testing.assert_allclose(back.eval_fn(0.0, [1.0, 0.0], k=2.0), [-2.0, 2.0])


def _scale(t: Any, y: Any, **params: Any) -> Any:
    return -params["k"] * np.asarray(y)


def test_compiled_rhs_constructed_by_hand_pickles_its_arguments() -> None:
    compiled = CompiledRhs(("x",), ("k",), _scale, {"axes": []})
    back = roundtrip(compiled)
    assert back.eval_fn is _scale
    assert back.param_names == ("k",)
    assert back.meta == {"axes": []}
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(CompiledRhs(("x",), ("k",), lambda t, y, **p: y))


def test_bound_method_of_compiled_rhs_pickles() -> None:
    compiled = compile_spec(SEIR)
    vf = roundtrip(compiled.vector_field)
    np.testing.assert_allclose(
        vf(0.0, Y0, PARAMS), compiled.vector_field(0.0, Y0, PARAMS)
    )


# -- worker processes ---------------------------------------------------------------------


def _inputs(n: int) -> tuple[list[float], list[np.ndarray], list[dict[str, Any]]]:
    rng = np.random.default_rng(0)
    ys = [Y0 * rng.uniform(0.5, 1.5, size=Y0.shape) for _ in range(n)]
    args = [{**PARAMS, "beta": 0.1 * (i + 1)} for i in range(n)]
    return [0.5 * i for i in range(n)], ys, args


def test_process_pool_executor_map_over_compiled_rhs() -> None:
    compiled = compile_spec(SEIR)
    ts, ys, args = _inputs(6)
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        results = list(pool.map(compiled.vector_field, ts, ys, args))
    for t, y, a, out in zip(ts, ys, args, results, strict=True):
        np.testing.assert_allclose(out, compiled.vector_field(t, y, a), rtol=1e-12)


def test_multiprocessing_pool_over_compiled_rhs() -> None:
    compiled = compile_spec(SEIR, xp="auto")
    ts, ys, args = _inputs(4)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(compiled.vector_field, zip(ts, ys, args, strict=True))
    for t, y, a, out in zip(ts, ys, args, results, strict=True):
        np.testing.assert_allclose(out, compiled.vector_field(t, y, a), rtol=1e-12)
