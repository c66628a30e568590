"""The JAX-native path of issue #4: transformations, dtypes, backends, conditionals.

The transformation matrix is parametrized like diffrax's own tests:
backend spelling x dtype x transformation x model. Every result is checked
against the NumPy backend in float64 (values) or against central finite
differences of it (derivatives), and its dtype must be the dtype of the input.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import array_api_strict as xps
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _jax_models import (
    CASES,
    CONDITIONALS,
    SIR,
    Case,
    callback_primitives,
    fd_grad,
    fd_jacobian,
    primitive_names,
)

import op_system
from op_system import (
    CompiledRhs,
    ParameterError,
    compile_rhs,
    compile_spec,
    normalize_rhs,
)

REPO = Path(__file__).parents[2]

# The three ways of asking for a JAX-traceable right-hand side.
BACKENDS: dict[str, dict[str, Any]] = {
    "xp=jnp": {"xp": jnp},
    "backend=jax": {"backend": "jax"},
    "xp=auto": {"xp": "auto"},
}
DTYPES = {"float32": jnp.float32, "float64": jnp.float64}
AGES_KEYS = [
    "age_young",
    "age_adult",
    "age_old",
]  # expanded coordinate names of AGE_SEIR


@functools.cache
def compiled(case: str, backend: str) -> CompiledRhs:
    return compile_spec(CASES[case].spec, **BACKENDS[backend])


@functools.cache
def compiled_numpy(case: str) -> CompiledRhs:
    return compile_spec(CASES[case].spec)


def _cast(tree: Any, dtype: Any) -> Any:
    return jax.tree.map(lambda a: jnp.asarray(a, dtype=dtype), tree)


def _leaves_dtype(tree: Any) -> set[Any]:
    return {leaf.dtype for leaf in jax.tree.leaves(tree)}


class Problem:
    """One model at one point, as NumPy float64 references and as JAX inputs."""

    def __init__(self, case: Case, backend: str, dtype: Any) -> None:
        self.case = case
        self.rhs = compiled(case.name, backend)
        self.np_rhs = compiled_numpy(case.name)
        self.dtype = dtype
        self.t = jnp.asarray(case.t, dtype=dtype)
        self.y = jnp.asarray(case.y, dtype=dtype)
        self.p = _cast(case.params, dtype)
        d0 = self.np_f(case.y, case.params)
        self.scale = float(np.max(np.abs(d0))) + 1.0
        self.w = np.random.default_rng(0).standard_normal(case.y.shape)

    # f(t, y, p) and a nonlinear scalar loss of dydt, in JAX and in NumPy.
    def f(self, y: Any, p: Any) -> Any:
        return self.rhs.eval_fn(self.t, y, **p)

    def loss(self, y: Any, p: Any) -> Any:
        d = self.f(y, p)
        return jnp.sum(jnp.asarray(self.w, self.dtype) * d) + 0.5 * jnp.sum(
            (d / self.scale) ** 2
        )

    def np_f(self, y: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
        return self.np_rhs.eval_fn(self.case.t, y, **p)

    def np_loss(self, y: np.ndarray, p: dict[str, np.ndarray]) -> float:
        d = self.np_f(y, p)
        return float(np.sum(self.w * d) + 0.5 * np.sum((d / self.scale) ** 2))

    def fd_grad_params(
        self, y: np.ndarray, p: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        return {
            k: fd_grad(lambda v, k=k: self.np_loss(y, {**p, k: v}), v)
            for k, v in p.items()
        }

    def fd_jac_params(
        self, y: np.ndarray, p: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        out = {}
        for k, v in p.items():
            flat = fd_jacobian(
                lambda x, k=k, v=v: self.np_f(y, {**p, k: x.reshape(v.shape)}),
                v.reshape(-1),
            )
            out[k] = flat.reshape((y.size, *v.shape))
        return out


# Each transformation returns (got, want, kind): kind "value" compares at machine
# precision, kind "derivative" against finite differences.
Transformation = Callable[[Problem], tuple[Any, Any, str]]


def _eager(pb: Problem) -> tuple[Any, Any, str]:
    return pb.f(pb.y, pb.p), pb.np_f(pb.case.y, pb.case.params), "value"


def _jit(pb: Problem) -> tuple[Any, Any, str]:
    got = jax.jit(lambda t, y, p: pb.rhs.eval_fn(t, y, **p))(pb.t, pb.y, pb.p)
    return got, pb.np_f(pb.case.y, pb.case.params), "value"


def _grad_params(pb: Problem) -> tuple[Any, Any, str]:
    got = jax.grad(lambda p: pb.loss(pb.y, p))(pb.p)
    return got, pb.fd_grad_params(pb.case.y, pb.case.params), "derivative"


def _grad_state(pb: Problem) -> tuple[Any, Any, str]:
    got = jax.grad(lambda y: pb.loss(y, pb.p))(pb.y)
    want = fd_grad(lambda y: pb.np_loss(y, pb.case.params), pb.case.y)
    return got, want, "derivative"


def _jacfwd_state(pb: Problem) -> tuple[Any, Any, str]:
    got = jax.jacfwd(lambda y: pb.f(y, pb.p))(pb.y)
    return (
        got,
        fd_jacobian(lambda y: pb.np_f(y, pb.case.params), pb.case.y),
        "derivative",
    )


def _jacrev_state(pb: Problem) -> tuple[Any, Any, str]:
    got = jax.jacrev(lambda y: pb.f(y, pb.p))(pb.y)
    return (
        got,
        fd_jacobian(lambda y: pb.np_f(y, pb.case.params), pb.case.y),
        "derivative",
    )


def _jacfwd_params(pb: Problem) -> tuple[Any, Any, str]:
    got = jax.jacfwd(lambda p: pb.f(pb.y, p))(pb.p)
    return got, pb.fd_jac_params(pb.case.y, pb.case.params), "derivative"


def _jacrev_params(pb: Problem) -> tuple[Any, Any, str]:
    got = jax.jacrev(lambda p: pb.f(pb.y, p))(pb.p)
    return got, pb.fd_jac_params(pb.case.y, pb.case.params), "derivative"


def _vmap_params(pb: Problem) -> tuple[Any, Any, str]:
    batch = pb.case.params_batch
    got = jax.vmap(lambda p: pb.f(pb.y, p))(_cast(batch, pb.dtype))
    n = len(next(iter(batch.values())))
    want = np.stack(
        [pb.np_f(pb.case.y, {k: v[i] for k, v in batch.items()}) for i in range(n)]
    )
    return got, want, "value"


def _vmap_states(pb: Problem) -> tuple[Any, Any, str]:
    ys = pb.case.y_batch
    got = jax.vmap(lambda y: pb.f(y, pb.p))(jnp.asarray(ys, pb.dtype))
    want = np.stack([pb.np_f(y, pb.case.params) for y in ys])
    return got, want, "value"


def _jit_vmap_grad_params(pb: Problem) -> tuple[Any, Any, str]:
    batch = pb.case.params_batch
    got = jax.jit(jax.vmap(jax.grad(lambda p: pb.loss(pb.y, p))))(
        _cast(batch, pb.dtype)
    )
    n = len(next(iter(batch.values())))
    per = [
        pb.fd_grad_params(pb.case.y, {k: v[i] for k, v in batch.items()})
        for i in range(n)
    ]
    want = {k: np.stack([g[k] for g in per]) for k in batch}
    return got, want, "derivative"


TRANSFORMATIONS: dict[str, Transformation] = {
    "eager": _eager,
    "jit": _jit,
    "grad_params": _grad_params,
    "grad_state": _grad_state,
    "jacfwd_state": _jacfwd_state,
    "jacrev_state": _jacrev_state,
    "jacfwd_params": _jacfwd_params,
    "jacrev_params": _jacrev_params,
    "vmap_params": _vmap_params,
    "vmap_states": _vmap_states,
    "jit_vmap_grad_params": _jit_vmap_grad_params,
}


def _assert_close(got: Any, want: Any, kind: str, dtype: Any) -> None:
    got_leaves, want_leaves = jax.tree.leaves(got), jax.tree.leaves(want)
    assert jax.tree.structure(got) == jax.tree.structure(jax.tree.map(np.asarray, want))
    for g, w in zip(got_leaves, want_leaves, strict=True):
        w = np.asarray(w)
        assert g.shape == w.shape
        scale = float(np.max(np.abs(w))) if w.size else 0.0
        if dtype == jnp.float64:
            rtol, atol = (
                (1e-12, 1e-13 * scale) if kind == "value" else (1e-6, 1e-7 * scale)
            )
        else:
            rtol, atol = (
                (1e-3, 1e-4 * scale) if kind == "value" else (1e-2, 1e-3 * scale)
            )
        np.testing.assert_allclose(
            np.asarray(g, dtype=np.float64), w, rtol=rtol, atol=atol
        )


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("transformation", list(TRANSFORMATIONS))
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_transformation(
    backend: str, dtype: str, transformation: str, case: str
) -> None:
    """`eval_fn` under eager/jit/grad/jacfwd/jacrev/vmap, float32 and float64."""
    pb = Problem(CASES[case], backend, DTYPES[dtype])
    got, want, kind = TRANSFORMATIONS[transformation](pb)
    assert _leaves_dtype(got) == {jnp.dtype(DTYPES[dtype])}, (
        "the input dtype must be kept"
    )
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(got))
    _assert_close(got, want, kind, DTYPES[dtype])


# -- conditionals trace --------------------------------------------------------------


def test_conditionals_lower_to_select_not_python_if() -> None:
    """`a if c else b`, `and`, `or`, `not`, comparisons and np.where become `select_n`."""
    rhs = compile_spec(CONDITIONALS, xp=jnp)
    case = CASES["conditionals"]
    jaxpr = jax.make_jaxpr(lambda y, p: rhs.eval_fn(0.0, y, **p))(
        jnp.asarray(case.y), _cast(case.params, jnp.float64)
    )
    prims = primitive_names(jaxpr)
    assert "select_n" in prims
    assert not prims & {"cond", "while", "switch"}
    # the only Python `if` in the generated code is the static shape check
    ifs = [ln.strip() for ln in rhs.source.splitlines() if ln.strip().startswith("if ")]
    assert ifs == ["if y.shape != (3,):"]


def test_conditionals_on_traced_time_and_parameters() -> None:
    """Branches on `t` and on parameters trace: jit over the threshold, vmap over t."""
    spec = {
        "kind": "transitions",
        "state": ["S", "I", "R"],
        "transitions": [
            {
                "from": "S",
                "to": "I",
                "rate": "(beta if t < t_int else beta * r) * I / sum_state()",
            },
            {"from": "I", "to": "R", "rate": "gamma * (1 + (t >= t_int and r < 1))"},
        ],
    }
    rhs = compile_spec(spec, backend="jax")
    ref = compile_spec(spec)
    y = jnp.asarray([900.0, 100.0, 0.0])
    params = {"beta": 0.4, "gamma": 0.1, "r": 0.5}

    @jax.jit
    def f(t: Any, t_int: Any) -> Any:
        return rhs.eval_fn(t, y, t_int=t_int, **params)

    ts = jnp.linspace(0.0, 20.0, 9)
    got = jax.vmap(f, in_axes=(0, None))(ts, jnp.asarray(10.0))
    want = np.stack(
        [ref.eval_fn(float(t), np.asarray(y), t_int=10.0, **params) for t in ts]
    )
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    assert not np.allclose(want[0], want[-1])  # both branches were taken
    # differentiable in the parameters on either side of the switch
    for t, factor in ((5.0, 1.0), (15.0, 0.5)):
        g = jax.grad(
            lambda b, t=t: rhs.eval_fn(
                t, y, beta=b, gamma=0.1, r=0.5, t_int=jnp.asarray(10.0)
            )[1]
        )(0.4)
        np.testing.assert_allclose(
            float(g), factor * 100.0 * 900.0 / 1000.0, rtol=1e-12
        )


# -- no host round trip ---------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_no_callback_primitives(case: str) -> None:
    """Neither eval_fn nor its gradient or vmap contains a pure_callback / io_callback."""
    c = CASES[case]
    rhs = compiled(case, "backend=jax")
    y, p = jnp.asarray(c.y), _cast(c.params, jnp.float64)
    for fn, args in [
        (lambda y, p: rhs.eval_fn(c.t, y, **p), (y, p)),
        (jax.grad(lambda p, y: rhs.eval_fn(c.t, y, **p).sum()), (p, y)),
        (
            jax.vmap(lambda y, p: rhs.eval_fn(c.t, y, **p), in_axes=(0, None)),
            (jnp.asarray(c.y_batch), p),
        ),
    ]:
        jaxpr = jax.make_jaxpr(fn)(*args)
        assert jaxpr.jaxpr.eqns, "nothing was traced"
        assert callback_primitives(jaxpr) == set()


# -- upstream PR #75 spelling ---------------------------------------------------------


def test_default_array_backend_is_numpy() -> None:
    assert op_system.DEFAULT_ARRAY_BACKEND == "numpy"
    rhs = compile_spec(SIR)
    out = rhs.eval_fn(0.0, [990.0, 10.0, 0.0], beta=0.3, gamma=0.1)
    assert type(out) is np.ndarray
    assert out.dtype == np.float64


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backend": "jax"},
        {"xp": "jax"},
        {"xp": jnp},
        {"xp": jnp, "backend": "jax"},
        {"xp": "jax", "backend": "jax"},
    ],
)
def test_backend_jax_spelling(kwargs: dict[str, Any]) -> None:
    for rhs in (compile_spec(SIR, **kwargs), compile_rhs(normalize_rhs(SIR), **kwargs)):
        assert rhs.backend is not None
        assert rhs.backend.name == "jax"
        out = jax.jit(lambda y, rhs=rhs: rhs.eval_fn(0.0, y, beta=0.3, gamma=0.1))(
            jnp.asarray([990.0, 10.0, 0.0])
        )
        assert isinstance(out, jax.Array)
        np.testing.assert_allclose(np.asarray(out), [-2.97, 1.97, 1.0], rtol=1e-12)


def test_backend_numpy_spelling() -> None:
    for kwargs in (
        {"backend": "numpy"},
        {"xp": np, "backend": "numpy"},
        {"xp": "numpy"},
    ):
        out = compile_spec(SIR, **kwargs).eval_fn(
            0.0, [990.0, 10.0, 0.0], beta=0.3, gamma=0.1
        )
        assert type(out) is np.ndarray


@pytest.mark.parametrize(
    ("xp", "backend"),
    [(np, "jax"), ("numpy", "jax"), (jnp, "numpy"), ("jax", "numpy"), (xps, "jax")],
)
def test_conflicting_xp_and_backend_is_a_value_error(xp: Any, backend: str) -> None:
    with pytest.raises(ValueError, match="conflicting"):
        compile_spec(SIR, xp=xp, backend=backend)


def test_unknown_backend_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="torch"):
        compile_spec(SIR, backend="torch")


_NO_JAX = textwrap.dedent(
    """
    import importlib.abc, sys

    class _NoJax(importlib.abc.MetaPathFinder):
        # behave as if jax and jaxlib were not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("jax", "jaxlib"):
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, _NoJax())
    for mod in [m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib")]:
        del sys.modules[mod]

    import numpy as np
    import op_system
    from op_system import compile_spec

    SIR = {SIR!r}
    out = compile_spec(SIR).eval_fn(0.0, [990.0, 10.0, 0.0], beta=0.3, gamma=0.1)
    assert type(out) is np.ndarray, type(out)
    out = compile_spec(SIR, xp="auto").eval_fn(0.0, np.array([990.0, 10.0, 0.0]), beta=0.3, gamma=0.1)
    assert type(out) is np.ndarray, type(out)
    for kwargs in ({{"backend": "jax"}}, {{"xp": "jax"}}):
        try:
            compile_spec(SIR, **kwargs)
        except ImportError as exc:
            msg = str(exc)
            assert "jax" in msg and "install" in msg, msg
            print("ImportError:", msg)
        else:
            raise SystemExit(f"no ImportError for {{kwargs}}")
    assert "jax" not in sys.modules
    print("OK")
    """
)


def test_missing_jax_gives_import_error_naming_the_package() -> None:
    """Simulated in a subprocess whose import machinery refuses `jax`."""
    script = _NO_JAX.format(SIR=SIR)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ImportError:") == 2
    assert proc.stdout.strip().endswith("OK")


# -- namespace inference: xp="auto" ---------------------------------------------------


def test_auto_infers_namespace_from_y() -> None:
    """One compiled object serves NumPy, JAX (concrete and traced) and Array-API callers."""
    rhs = compile_spec(SIR, xp="auto")
    want = np.array([-2.97, 1.97, 1.0])
    cases = [
        ([990.0, 10.0, 0.0], np.ndarray, np.float64),
        ([990, 10, 0], np.ndarray, np.float64),
        (np.array([990.0, 10.0, 0.0]), np.ndarray, np.float64),
        (np.array([990.0, 10.0, 0.0], np.float32), np.ndarray, np.float32),
        (jnp.array([990.0, 10.0, 0.0]), jax.Array, jnp.float64),
        (jnp.array([990.0, 10.0, 0.0], jnp.float32), jax.Array, jnp.float32),
    ]
    for y, typ, dtype in cases:
        out = rhs.eval_fn(0.0, y, beta=0.3, gamma=0.1)
        assert isinstance(out, typ), (type(y), type(out))
        assert out.dtype == dtype, (y, out.dtype)
        np.testing.assert_allclose(
            np.asarray(out), want, rtol=1e-6 if dtype == np.float32 else 1e-12
        )
    traced = jax.jit(lambda y: rhs.eval_fn(0.0, y, beta=0.3, gamma=0.1))(
        jnp.array([990.0, 10.0, 0.0], jnp.float32)
    )
    assert isinstance(traced, jax.Array)
    assert traced.dtype == jnp.float32
    out = rhs.eval_fn(
        xps.asarray(0.0),
        xps.asarray([990.0, 10.0, 0.0], dtype=xps.float32),
        beta=0.3,
        gamma=0.1,
    )
    assert type(out).__module__.startswith("array_api_strict")
    assert out.dtype == xps.float32


def test_auto_float32_stays_float32_with_array_parameters() -> None:
    case = CASES["age_seir"]
    rhs = compile_spec(case.spec, xp="auto")
    for mk, dt in ((np.asarray, np.float32), (jnp.asarray, jnp.float32)):
        p = {k: mk(v, dtype=dt) for k, v in case.params.items()}
        out = rhs.eval_fn(mk(case.t, dtype=dt), mk(case.y, dtype=dt), **p)
        assert out.dtype == dt
        np.testing.assert_allclose(
            np.asarray(out, np.float64),
            compiled_numpy("age_seir").eval_fn(case.t, case.y, **case.params),
            rtol=1e-3,
            atol=1e-2,
        )


# -- array-api-strict: only standard functions ------------------------------------------

_STANDARD_FUNCTIONS = {
    "kind": "expr",
    "state": ["u", "v"],
    "equations": {
        "u": "np.exp(-a * u) + np.log(v) + np.sqrt(u) + np.sin(t) * np.cos(v) - np.tanh(u) + np.abs(-v) ** 0.5",
        "v": "np.maximum(u, a) - np.minimum(v, a) + np.clip(u, 0.1, a) + np.hypot(u, v) + np.arctan2(u, v) + np.log1p(u) + np.expm1(-v) + u % 2",
    },
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "model", ["sir", "age_seir", "standard_functions", "conditionals"]
)
def test_array_api_strict_namespace(model: str, dtype: str) -> None:
    """Generated code runs on array-api-strict: it uses only standard functions."""
    if model == "standard_functions":
        spec, t, y, params = (
            _STANDARD_FUNCTIONS,
            0.3,
            np.array([0.7, 1.9]),
            {"a": np.asarray(1.2)},
        )
    else:
        c = CASES[model]
        spec, t, y, params = c.spec, c.t, c.y, c.params
    dt = getattr(xps, dtype)
    rhs = compile_spec(spec, xp=xps)
    out = rhs.eval_fn(
        xps.asarray(t, dtype=dt),
        xps.asarray(y, dtype=dt),
        **{k: xps.asarray(v, dtype=dt) for k, v in params.items()},
    )
    assert type(out).__module__.startswith("array_api_strict")
    assert out.dtype == dt
    want = compile_spec(spec).eval_fn(t, y, **params)
    tol = (
        {"rtol": 1e-12}
        if dtype == "float64"
        else {"rtol": 1e-4, "atol": 1e-4 * float(np.abs(want).max())}
    )
    np.testing.assert_allclose(np.asarray(out, dtype=np.float64), want, **tol)


# -- indexed parameters: one array or expanded scalars ---------------------------------


def _expanded(case: Case) -> dict[str, Any]:
    rhs = compiled_numpy(case.name)
    flat: dict[str, Any] = {}
    for i, a in enumerate(AGES_KEYS):
        flat[f"beta__{a}"] = case.params["beta"][i]
        for j, b in enumerate(AGES_KEYS):
            flat[f"C__{a}__{b}"] = case.params["C"][i, j]
    for k in ("amp", "sigma", "gamma"):
        flat[k] = case.params[k]
    assert set(flat) == set(rhs.param_names), (
        "expanded names are the 0.1.2 parameter names"
    )
    return flat


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_indexed_params_as_array_or_expanded_scalars(backend: str) -> None:
    case = CASES["age_seir"]
    rhs = compile_spec(case.spec, backend=backend)
    mk = np.asarray if backend == "numpy" else jnp.asarray
    as_array = rhs.eval_fn(
        case.t, mk(case.y), **{k: mk(v) for k, v in case.params.items()}
    )
    as_lists = rhs.eval_fn(
        case.t, mk(case.y), **{k: v.tolist() for k, v in case.params.items()}
    )
    flat = _expanded(case)
    as_scalars = rhs.eval_fn(
        case.t, mk(case.y), **{k: float(v) for k, v in flat.items()}
    )
    as_0d = rhs.eval_fn(case.t, mk(case.y), **{k: mk(v) for k, v in flat.items()})
    for out in (as_lists, as_scalars, as_0d):
        np.testing.assert_allclose(np.asarray(out), np.asarray(as_array), rtol=1e-14)
    with pytest.raises(ParameterError, match="shape"):
        rhs.eval_fn(case.t, mk(case.y), **{**case.params, "C": mk(np.ones((2, 3)))})


def test_indexed_params_under_jit_grad_and_vector_field() -> None:
    """Array-valued `C` and `beta` as one pytree leaf each, or as expanded scalars."""
    case = CASES["age_seir"]
    rhs = compile_spec(case.spec, backend="jax")
    y = jnp.asarray(case.y)
    args = _cast(case.params, jnp.float64)
    flat = _cast(_expanded(case), jnp.float64)
    f = jax.jit(rhs.vector_field)
    np.testing.assert_allclose(
        np.asarray(f(case.t, y, args)), np.asarray(f(case.t, y, flat)), rtol=1e-14
    )

    def loss(a: Any) -> Any:
        return jnp.sum(rhs.vector_field(case.t, y, a)[4:8] ** 2)

    g = jax.grad(loss)(args)
    g_flat = jax.grad(loss)(flat)
    assert g["C"].shape == (3, 3)
    assert g["beta"].shape == (3,)
    for i, a in enumerate(AGES_KEYS):
        np.testing.assert_allclose(
            float(g_flat[f"beta__{a}"]), float(g["beta"][i]), rtol=1e-12
        )
        for j, b in enumerate(AGES_KEYS):
            np.testing.assert_allclose(
                float(g_flat[f"C__{a}__{b}"]), float(g["C"][i, j]), rtol=1e-12
            )
    np_rhs = compiled_numpy("age_seir")
    fd = fd_grad(
        lambda c: float(
            np.sum(np_rhs.eval_fn(case.t, case.y, **{**case.params, "C": c})[4:8] ** 2)
        ),
        case.params["C"],
    )
    np.testing.assert_allclose(
        np.asarray(g["C"]), fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max()
    )


# -- compile once, vary parameters; static structure ------------------------------------


def test_changing_parameters_does_not_retrace() -> None:
    case = CASES["age_seir"]
    rhs = compile_spec(case.spec, backend="jax")
    traces: list[int] = []

    @jax.jit
    def f(t: Any, y: Any, args: Any) -> Any:
        traces.append(1)  # Python side effect: runs only while tracing
        return rhs.vector_field(t, y, args)

    y = jnp.asarray(case.y)
    outs = []
    for i in range(4):
        args = _cast({k: v[i] for k, v in case.params_batch.items()}, jnp.float64)
        outs.append(f(jnp.asarray(float(i)), y * (1 + 0.1 * i), args))
    assert len(traces) == 1
    assert f._cache_size() == 1
    assert not np.allclose(np.asarray(outs[0]), np.asarray(outs[1]))
    # the same through a closure over the compiled object, varying one parameter
    traces.clear()

    @jax.jit
    def g(beta: Any) -> Any:
        traces.append(1)
        return rhs.eval_fn(0.0, y, **{**case.params, "beta": beta})

    for b in (0.1, 0.2, 0.3):
        g(jnp.full(3, b))
    assert len(traces) == 1


def test_compiled_object_is_static_structure_under_jit() -> None:
    case = CASES["sir"]
    a = compile_spec(case.spec, backend="jax")
    b = compile_spec(case.spec, backend="jax")
    assert hash(a) == hash(a)
    assert a == a
    assert a != b
    traces: list[CompiledRhs] = []

    @functools.partial(jax.jit, static_argnums=0)
    def f(rhs: CompiledRhs, y: Any, p: Any) -> Any:
        traces.append(rhs)
        return rhs.eval_fn(0.0, y, **p)

    y, p = jnp.asarray(case.y), _cast(case.params, jnp.float64)
    np.testing.assert_allclose(np.asarray(f(a, y, p)), [-2.97, 1.97, 1.0], rtol=1e-12)
    f(a, y * 2, _cast({"beta": 0.5, "gamma": 0.2}, jnp.float64))
    assert traces == [a]
    f(b, y, p)
    assert traces == [a, b]
    # equinox: a non-array argument is static automatically
    out = eqx.filter_jit(lambda rhs, y, p: rhs.eval_fn(0.0, y, **p))(a, y, p)
    np.testing.assert_allclose(np.asarray(out), [-2.97, 1.97, 1.0], rtol=1e-12)

    # closed over by a jitted function and by an equinox Module
    class Model(eqx.Module):
        rhs: CompiledRhs = eqx.field(static=True)

        def __call__(self, y: Any, p: Any) -> Any:
            return self.rhs.eval_fn(0.0, y, **p)

    m = Model(a)
    np.testing.assert_allclose(
        np.asarray(eqx.filter_jit(m)(y, p)), [-2.97, 1.97, 1.0], rtol=1e-12
    )
    closure = jax.jit(lambda y: a.eval_fn(0.0, y, **p))
    np.testing.assert_allclose(np.asarray(closure(y)), [-2.97, 1.97, 1.0], rtol=1e-12)
