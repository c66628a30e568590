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

from op_system import compile_spec

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
    from tests.test_perf_guards import _flat_age_seir, _flat_by_hand, _flat_inputs

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
        got = compile_spec(spec).eval_fn(0.0, y, **params)
        ev = StringEvaluator(
            states=dict(zip(STATES, y)), params=params, aliases={}, t=0.0
        )
        want = np.array([float(ev.evaluate(spec["equations"][s])) for s in STATES])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("n", [3, 12])
def test_jax_and_numpy_agree_with_sharing(n: int) -> None:
    jnp = pytest.importorskip("jax.numpy")
    from tests.test_perf_guards import _flat_age_seir, _flat_inputs

    y, params, _, _ = _flat_inputs(n)
    a = compile_spec(_flat_age_seir(n)).eval_fn(0.0, y, **params)
    b = compile_spec(_flat_age_seir(n), xp=jnp).eval_fn(0.0, jnp.asarray(y), **params)
    np.testing.assert_allclose(np.asarray(b), a, rtol=1e-12)
