"""Symbolic features: exact Jacobian and its sparsity, LaTeX, flow diagrams, model checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from op_system import ExpressionError, compile_spec, normalize_rhs
from op_system._views.symbolic import jacobian_sparsity, to_sympy

REFS = json.loads((Path(__file__).parents[1] / "parity" / "refs.json").read_text())[
    "cases"
]


def _fd_jacobian(c, t, y, params, eps=1e-6):
    cols = []
    for k in range(len(y)):
        h = eps * max(1.0, abs(y[k]))
        e = np.zeros_like(y)
        e[k] = h
        cols.append(
            (c.eval_fn(t, y + e, **params) - c.eval_fn(t, y - e, **params)) / (2 * h)
        )
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("case", REFS, ids=[c["name"] for c in REFS])
def test_jacobian_matches_finite_differences_and_sparsity_is_a_superset(
    case: dict,
) -> None:
    c = compile_spec(case["spec"])
    jac = c.jacobian()
    pattern = c.jac_sparsity.toarray() != 0
    sample = case["samples"][0]
    y = np.asarray(sample["y"])
    with np.errstate(all="ignore"):
        exact = jac(sample["t"], y, **sample["params"])
        fd = _fd_jacobian(c, sample["t"], y, sample["params"])
    assert exact.shape == (len(y), len(y))
    scale = np.maximum(1.0, np.abs(exact))
    assert np.all(np.abs(exact - fd) <= 1e-5 * scale), np.max(
        np.abs(exact - fd) / scale
    )
    # every numerically non-zero entry is in the structural pattern
    assert not np.any((np.abs(fd) > 1e-9 * scale) & ~pattern)
    assert not np.any((exact != 0) & ~pattern)


def _age_region_model(n_age: int = 3, n_reg: int = 4) -> dict:
    return {
        "kind": "transitions",
        "axes": [
            {"name": "age", "coords": [f"a{i}" for i in range(n_age)]},
            {"name": "reg", "coords": [f"r{i}" for i in range(n_reg)]},
        ],
        "state": ["S[age,reg]", "I[age,reg]", "R[age,reg]"],
        "aliases": {
            "N[reg]": "sum_over(age=k, S[age=k, reg] + I[age=k, reg] + R[age=k, reg])",
            "foi[age,reg]": "beta * sum_over(age=j, C[age, age=j] * I[age=j, reg]) / N[reg]",
        },
        "transitions": [
            {"from": "S[age,reg]", "to": "I[age,reg]", "rate": "foi[age,reg]"},
            {"from": "I[age,reg]", "to": "R[age,reg]", "rate": "gamma"},
        ],
    }


def test_sparsity_is_block_structured_on_age_region_model() -> None:
    n_age, n_reg = 3, 4
    c = compile_spec(_age_region_model(n_age, n_reg))
    n = 3 * n_age * n_reg
    pattern = c.jac_sparsity.toarray() != 0
    # regions do not interact: each equation reads only its own region
    reg_of = np.array([i % n_reg for i in range(n)])
    assert not np.any(pattern & (reg_of[:, None] != reg_of[None, :]))
    density = pattern.sum() / n**2
    assert density <= 1.0 / n_reg + 1e-12
    # and it is not denser than needed: R's row reads only I of its own cell
    r0 = 2 * n_age * n_reg
    assert pattern[r0].sum() == 1


def test_jax_jacobian_under_jit_matches_jacfwd() -> None:
    import jax
    import jax.numpy as jnp

    spec = _age_region_model(2, 2)
    c = compile_spec(spec, xp=jnp)
    rng = np.random.default_rng(0)
    y = jnp.asarray(rng.uniform(1, 10, 12))
    p = {"beta": 0.4, "gamma": 0.1, "C": jnp.asarray(rng.uniform(0, 1, (2, 2)))}
    jac = c.jacobian()
    exact = jax.jit(lambda y: jac(0.0, y, **p))(y)
    auto = jax.jacfwd(lambda y: c.eval_fn(0.0, y, **p))(y)
    np.testing.assert_allclose(
        np.asarray(exact), np.asarray(auto), rtol=1e-12, atol=1e-14
    )


def test_latex_indexed_and_expanded() -> None:
    c = compile_spec(_age_region_model())
    tex = c.to_latex()
    assert "\\dot{S}_{age,reg}" in tex
    assert "\\sum_{j \\in age} C_{age,j} \\, I_{j,reg}" in tex
    plain = compile_spec(
        {
            "kind": "expr",
            "state": ["S", "I"],
            "equations": {"S": "-beta*S*I", "I": "beta*S*I"},
        }
    )
    assert "\\dot{S} &= - I S \\beta" in plain.to_latex()


def test_flow_diagram_collapsed_over_axes() -> None:
    c = compile_spec(_age_region_model())
    mermaid = c.flow_diagram()
    assert mermaid.splitlines()[0] == "flowchart LR"
    assert mermaid.count("-->") == 2
    assert 'S["S"] -->|"foi[age,reg]"| I["I"]' in mermaid
    dot = c.flow_diagram("dot")
    assert '"I" -> "R" [label="gamma"];' in dot


def test_check_conservation_and_negativity() -> None:
    assert compile_spec(_age_region_model(2, 2)).check() == []
    bad = compile_spec(
        {
            "kind": "transitions",
            "state": ["S", "I"],
            "transitions": [{"from": "S", "to": "I", "rate": "beta * I / S"}],
        }
    )
    with pytest.warns(
        UserWarning, match=r"transition S -> I: its flow does not vanish when S = 0"
    ):
        problems = bad.check()
    assert len(problems) == 1


def test_describe_and_repr() -> None:
    c = compile_spec(_age_region_model(2, 2))
    text = c.describe()
    assert "S[age,reg]  (4 cells, y[0:4])" in text
    assert "C[age,age]  shape (2, 2)" in text
    assert repr(c) == "CompiledRhs(n_state=12, n_params=6, backend='numpy')"


@pytest.mark.parametrize("case", REFS, ids=[c["name"] for c in REFS])
def test_jax_jacobian_matches_jacfwd_on_parity_specs(case: dict) -> None:
    import jax
    import jax.numpy as jnp

    c = compile_spec(case["spec"], xp=jnp)
    sample = case["samples"][0]
    y = jnp.asarray(sample["y"])
    params = {k: jnp.asarray(v) for k, v in sample["params"].items()}
    exact = c.jacobian()(sample["t"], y, **params)
    auto = jax.jacfwd(lambda y: c.eval_fn(sample["t"], y, **params))(y)
    np.testing.assert_allclose(
        np.asarray(exact), np.asarray(auto), rtol=1e-10, atol=1e-12
    )


def test_views_name_aliases_that_read_each_other() -> None:
    # 0.1.2 accepts such specs and fails when called; the per-cell views say why
    # instead of recursing without end.
    rhs = normalize_rhs(
        {
            "state": ["S"],
            "aliases": {"a": "b + 1", "b": "2 * a"},
            "equations": {"S": "a * S"},
        }
    )
    for view in (jacobian_sparsity, to_sympy):
        with pytest.raises(ExpressionError, match=r"\['a', 'b'\] form a cycle"):
            view(rhs)
