"""Common subexpressions: a value computed in several equations is computed once.

The lowering numbers values by structure (`_Lowerer.share`); these tests check
that it finds what a hand-written RHS would compute once, that it never merges
two different values (random specs built to repeat sub-expressions, compared
with an independent evaluation of the spec's strings), and that it is exact.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.differential.compare import StringEvaluator

from op_system import ExpressionError, compile_spec

STATES = ["S0", "S1", "S2", "S3"]
PARAMS = ["a", "b", "c"]


def _vector_ops(source: str, op: str) -> int:
    """Occurrences of a binary operator in the body (parameter reads excluded)."""
    body = [
        ln for ln in source.splitlines() if "params[" not in ln and "_pvec" not in ln
    ]
    return sum(len(re.findall(rf" \{op} ", ln)) for ln in body)


def test_flat_seir_computes_the_infection_flow_once() -> None:
    """`-beta*S_i*foi_i` and `beta*S_i*foi_i - sigma*E_i`: one product, as by hand."""
    from tests.lower.test_perf_guards import _flat_age_seir, _flat_by_hand, _flat_inputs

    c = compile_spec(_flat_age_seir(8))
    y, params, cm, npop = _flat_inputs(8)
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, **params), _flat_by_hand(y, cm, npop), rtol=1e-12
    )
    # by hand: beta*s*foi (two products), sigma*e, gamma*i
    assert _vector_ops(c.source, "*") == 4, c.source


def test_templated_seir_equations_share_their_flows() -> None:
    spec = {
        "kind": "expr",
        "axes": [{"name": "age", "coords": ["y", "o"]}],
        "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
        "equations": {
            "S[age]": "-beta * S[age] * I[age]",
            "E[age]": "beta * S[age] * I[age] - sigma * E[age]",
            "I[age]": "sigma * E[age] - gamma * I[age]",
            "R[age]": "gamma * I[age]",
        },
    }
    c = compile_spec(spec)
    assert _vector_ops(c.source, "*") == 4, c.source
    rng = np.random.default_rng(0)
    y = rng.uniform(1, 10, 8)
    p = {"beta": 0.3, "sigma": 0.2, "gamma": 0.1}
    s, e, i, _ = y.reshape(4, 2)
    inf = 0.3 * s * i
    want = np.concatenate([-inf, inf - 0.2 * e, 0.2 * e - 0.1 * i, 0.1 * i])
    np.testing.assert_array_equal(c.eval_fn(0.0, y, **p), want)


def test_nothing_repeated_gives_no_temporaries() -> None:
    spec = {
        "kind": "expr",
        "state": ["x", "y"],
        "equations": {"x": "-a * x * y", "y": "b * x - y"},
    }
    src = compile_spec(spec).source
    assert "c_0" not in src, src


# -- random specs that repeat sub-expressions ---------------------------------------

_leaf = st.sampled_from(STATES + PARAMS + ["2.0", "0.5"])


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )
    negated = children.map(lambda e: f"(-{e})")
    call = st.tuples(st.sampled_from(["np.exp", "np.tanh", "np.abs"]), children).map(
        lambda t: f"{t[0]}({t[1]} / 10.0)"
    )
    return binary | negated | call


_expr = st.recursive(_leaf, _combine, max_leaves=6)


@st.composite
def _specs(draw: Any) -> dict[str, Any]:
    pool = draw(st.lists(_expr, min_size=1, max_size=3))
    equations = {}
    for s in STATES:
        parts = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        signs = draw(st.lists(st.sampled_from(["", "-"]), min_size=3, max_size=3))
        factor = draw(st.sampled_from(["", "a * ", "-b * ", "(-c) * "]))
        terms = [f"{sg}{factor}{p}" for sg, p in zip(signs, parts)]
        equations[s] = " + ".join(terms)
    return {"kind": "expr", "state": STATES, "equations": equations}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=_specs(), seed=st.integers(0, 2**16))
def test_shared_values_equal_an_independent_evaluation(
    spec: dict[str, Any], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.5, 2.0, len(STATES))
    params = {p: float(v) for p, v in zip(PARAMS, rng.uniform(0.5, 2.0, len(PARAMS)))}
    with np.errstate(all="ignore"):
        try:
            c = compile_spec(spec)
        except ExpressionError as exc:
            error = str(exc)
        else:
            error = ""
        if error:  # a constant division by zero (`2.0 / (2.0 - 2.0)`): a spec error
            assert "is not finite" in error
            return
        got = c.eval_fn(0.0, y, **params)
        ev = StringEvaluator(
            states=dict(zip(STATES, y)), params=params, aliases={}, t=0.0
        )
        want = np.array([float(ev.evaluate(spec["equations"][s])) for s in STATES])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("n", [3, 12])
def test_jax_and_numpy_agree_with_sharing(n: int) -> None:
    jnp = pytest.importorskip("jax.numpy")
    from tests.lower.test_perf_guards import _flat_age_seir, _flat_inputs

    y, params, _, _ = _flat_inputs(n)
    a = compile_spec(_flat_age_seir(n)).eval_fn(0.0, y, **params)
    b = compile_spec(_flat_age_seir(n), xp=jnp).eval_fn(0.0, jnp.asarray(y), **params)
    np.testing.assert_allclose(np.asarray(b), a, rtol=1e-12)


# -- per-cell overrides of a templated block ----------------------------------------


def _overridden_seir(n: int, k: int) -> dict[str, Any]:
    """A templated age SEIR whose first `k` ages are overridden cell by cell."""
    eqs = {
        "S[age]": "-beta * S[age] * sum_over(age=j, C[age, j] * I[j]) / sum_state()",
        "E[age]": "beta * S[age] * sum_over(age=j, C[age, j] * I[j]) / sum_state()"
        " - sigma * E[age]",
        "I[age]": "sigma * E[age] - gamma * I[age]",
        "R[age]": "gamma * I[age]",
    }
    for i in range(k):
        eqs[f"S__age_a{i}"] = (
            f"-beta * S__age_a{i} * I__age_a{i} / sum_state() - nu * S__age_a{i}"
        )
        eqs[f"R__age_a{i}"] = f"gamma * I__age_a{i} + nu * S__age_a{i}"
    return {
        "kind": "expr",
        "axes": [{"name": "age", "coords": [f"a{i}" for i in range(n)]}],
        "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
        "equations": eqs,
    }


def _override_inputs(n: int) -> tuple[Any, dict[str, Any]]:
    rng = np.random.default_rng(n)
    y = rng.uniform(1.0, 10.0, 4 * n)
    p = {"beta": 0.3, "sigma": 0.2, "gamma": 0.1, "nu": 0.05}
    p["C"] = rng.uniform(0.1, 1.0, (n, n))
    return y, p


@pytest.mark.parametrize("k", [4, 9])
def test_per_cell_overrides_are_rerolled(k: int) -> None:
    from op_system import normalize_rhs

    n = 12
    spec = _overridden_seir(n, k)
    c = compile_spec(spec)
    # no mask per overridden cell (NumPy writes each group over its cells)
    assert c.source.count("_where(") == 0, c.source
    assert c.source.count("out[") == 4 + 2, c.source
    assert len(c.source.splitlines()) == len(
        compile_spec(_overridden_seir(n, 4)).source.splitlines()
    )
    y, p = _override_inputs(n)
    rhs = normalize_rhs(spec)
    scalars = {
        f"C__age_a{i}__age_a{j}": p["C"][i, j] for i in range(n) for j in range(n)
    }
    scalars.update({q: v for q, v in p.items() if q != "C"})
    ev = StringEvaluator(
        states=dict(zip(rhs.state_names, y)), params=scalars, aliases={}, t=0.0
    )
    want = np.array([float(ev.evaluate(e)) for e in rhs.equations])
    np.testing.assert_allclose(c.eval_fn(0.0, y, **p), want, rtol=1e-12)


def test_rerolled_overrides_on_jax_with_a_gradient() -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    n = 8
    spec = _overridden_seir(n, 5)
    y, p = _override_inputs(n)
    want = compile_spec(spec).eval_fn(0.0, y, **p)
    cj = compile_spec(spec, xp=jnp)
    pj = {q: jnp.asarray(v) for q, v in p.items()}
    got = jax.jit(lambda y: cj.eval_fn(0.0, y, **pj))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    # d(sum dS/dt)/d nu = -sum of the overridden S cells (5 of them)
    g = jax.grad(
        lambda nu: jnp.sum(cj.eval_fn(0.0, jnp.asarray(y), **{**pj, "nu": nu})[:n])
    )
    np.testing.assert_allclose(float(g(0.05)), -float(np.sum(y[:5])), rtol=1e-12)
