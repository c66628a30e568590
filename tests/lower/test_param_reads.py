"""How a generated program reads its parameters (`_lower/codegen.py` `_prologue`).

The fast path reads by name each parameter the program uses by name; the slow
path (`_fill_params`, taken when a name is missing, e.g. an indexed parameter
given cell by cell) checks every parameter and returns just those. Parameters a
re-rolled group reads as one vector go through `_pvec`, whose list of names is
printed inline when short and is a constant of the program when long (a flat
per-cell spec lists thousands, which would be text to compile).

Checked on the printed programs with `ast`, and by behaviour against a
computation written here.
"""

from __future__ import annotations

import ast

import numpy as np
import pytest

from op_system import compile_spec
from op_system._support.errors import ParameterError


def _flat_spec(n: int) -> dict[str, object]:
    """`n` states `x_i' = -k_i * x_i + b * x_0`, every rate `k_i` its own scalar,
    and `z[a]' = -c[a] * z[a]` over two coordinates."""
    return {
        "axes": [{"name": "a", "coords": ["u", "v"]}],
        "state": [f"x{i}" for i in range(n)] + ["z[a]"],
        "equations": {
            **{f"x{i}": f"-k{i} * x{i} + b * x0" for i in range(n)},
            "z[a]": "-c[a] * z[a]",
        },
    }


def _params(n: int) -> dict[str, object]:
    return {"b": 0.5, "c": [2.0, 3.0], **{f"k{i}": 0.1 * (i + 1) for i in range(n)}}


def _expected(n: int, y: np.ndarray, p: dict[str, object]) -> np.ndarray:
    k = np.array([p[f"k{i}"] for i in range(n)])
    c = np.asarray(p["c"])
    return np.concatenate([-k * y[:n] + p["b"] * y[0], -c * y[n:]])  # type: ignore[operator]


def _prologue(source: str) -> tuple[ast.Try, list[ast.Call]]:
    fn = ast.parse(source).body[0]
    assert isinstance(fn, ast.FunctionDef)
    tries = [s for s in fn.body if isinstance(s, ast.Try)]
    pvecs = [
        c
        for c in ast.walk(fn)
        if isinstance(c, ast.Call)
        and isinstance(c.func, ast.Name)
        and c.func.id == "_pvec"
    ]
    return tries[0], pvecs


@pytest.mark.parametrize("n", [8, 200])
def test_the_slow_path_returns_only_what_is_read_by_name(n: int) -> None:
    m = compile_spec(_flat_spec(n))
    tried, pvecs = _prologue(m.source)
    fast = {
        t.id
        for s in tried.body
        if isinstance(s, ast.Assign)
        for t in s.targets
        if isinstance(t, ast.Name)
    }
    (fill,) = tried.handlers[0].body
    assert isinstance(fill, ast.Assign)
    target = fill.targets[0]
    assert isinstance(target, ast.Tuple)
    filled = {e.id for e in target.elts if isinstance(e, ast.Name)}
    # the slow path assigns what the fast path assigns, not the k_i read as a vector
    assert filled == fast
    assert len(filled) < n
    assert pvecs, "the rates are read as one vector"


@pytest.mark.parametrize("n", [8, 200])
def test_long_name_lists_are_program_constants(n: int) -> None:
    m = compile_spec(_flat_spec(n))
    _, pvecs = _prologue(m.source)
    for call in pvecs:
        names = call.args[1]
        if n > 64:  # too long to print: a name of the program's namespace
            assert isinstance(names, ast.Name), ast.unparse(call)
        else:
            assert isinstance(names, ast.Tuple), ast.unparse(call)
            assert len(names.elts) <= 64
    assert max(len(line) for line in m.source.splitlines()) < 400


@pytest.mark.parametrize("n", [8, 200])
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_both_paths_compute_the_model(n: int, backend: str) -> None:
    if backend == "jax":
        jnp = pytest.importorskip("jax.numpy")
        m = compile_spec(_flat_spec(n), xp=jnp)
    else:
        m = compile_spec(_flat_spec(n))
    y = np.linspace(1.0, 2.0, n + 2)
    p = _params(n)
    want = _expected(n, y, p)
    got = np.asarray(m.eval_fn(0.0, y, **p))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(m.bind(p)(0.0, y)), want, rtol=1e-6)
    # `c` given cell by cell: the fast path misses it, the slow path fills it
    cells = {k: v for k, v in p.items() if k != "c"} | {"c__a_u": 2.0, "c__a_v": 3.0}
    np.testing.assert_allclose(np.asarray(m.eval_fn(0.0, y, **cells)), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(m.bind(cells)(0.0, y)), want, rtol=1e-6)
    # `b` missing by name: the slow path checks everything and names it
    q = {k: v for k, v in p.items() if k != "b"}
    with pytest.raises(ParameterError, match=r"missing parameter\(s\): b\b"):
        m.eval_fn(0.0, y, **q)
    # a rate missing: named too, through the vector read
    r = {k: v for k, v in p.items() if k != f"k{n - 1}"}
    with pytest.raises(ParameterError, match=f"k{n - 1}"):
        m.eval_fn(0.0, y, **r)
