"""The NumPy Jacobian: one run of the batched jvp program for all colors.

`jacobian()` and `bind(params, output="jacobian")` evaluate the jvp of every
color of the pattern in one call of a generated program whose tangents carry a
trailing batch axis (`_lower/batch.py`). Each is checked against the one-direction
jvp program applied to every unit vector (a separate generated program, itself
checked against finite differences and `jax.jacfwd` in test_symbolic.py), on
the parity specs, generated specs and each benchmark model in every spec form.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.differential.compare import scalar_inputs
from tests.differential.generate import generate_cases

from op_system import compile_rhs, compile_spec, normalize_rhs
from op_system._backends.backend import resolve_backend
from op_system._backends.runtime import build_function
from op_system._lower.batch import runtime as batch_runtime
from op_system._lower.codegen import lower_model

REFS = json.loads((Path(__file__).parents[1] / "parity" / "refs.json").read_text())[
    "cases"
]


def _columns(c: Any, t: float, y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """The Jacobian a column at a time, from the one-direction jvp program."""
    jvp = c.jvp()
    return np.stack([jvp(t, y, e, **params) for e in np.eye(len(y))], axis=1)


def _check(c: Any, t: float, y: np.ndarray, params: dict[str, Any]) -> None:
    with np.errstate(all="ignore"):
        want = _columns(c, t, y, params)
        got = c.jacobian()(t, y, **params)
        bound = c.bind(params, output="jacobian")(t, y)
        sparse = c.bind(params, output="jacobian", sparse=True)(t, y).toarray()
    for j in (got, bound, sparse):
        np.testing.assert_allclose(j, want, rtol=1e-12, atol=1e-300, equal_nan=True)


@pytest.mark.parametrize("case", REFS, ids=[c["name"] for c in REFS])
def test_parity_specs(case: dict[str, Any]) -> None:
    c = compile_spec(case["spec"])
    sample = case["samples"][0]
    _check(c, sample["t"], np.asarray(sample["y"]), sample["params"])


@pytest.mark.parametrize("seed", [21, 22])
def test_generated_specs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    batched = checked = 0
    for case in generate_cases(40, seed=seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                rhs = normalize_rhs(case["spec"])
                c = compile_rhs(rhs)
            except Exception:  # a mutant the generator meant to be rejected
                continue
        y, params = scalar_inputs(rhs, rng)
        _check(c, 0.7, y, params)
        checked += 1
        batched += c._jacobian_plan().batched is not None
    assert checked >= 20
    assert batched == checked  # every op of these programs has a batching rule


def test_benchmark_models_in_every_form() -> None:
    from benchmarks import models

    for model in (models.age_seir(5), models.erlang_chain(8), models.region_seir(3)):
        for form, (spec, params) in models.spec_forms(model).items():
            c = compile_spec(spec)
            assert c._jacobian_plan().batched is not None, (model.key, form)
            _check(c, 0.0, np.asarray(model.y_call), params)


def test_one_program_run_per_jacobian() -> None:
    from benchmarks import models

    m = models.age_seir(6)
    c = compile_spec(m.spec)
    plan = c._jacobian_plan()
    calls = []
    inner = plan.batched

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return inner(*args, **kwargs)

    plan.batched = counting
    c.jacobian()(0.0, m.y_call, **m.params)
    assert len(calls) == 1
    assert plan.n_colors > 1


def test_bad_output_names_the_choices() -> None:
    c = compile_spec({"state": ["x"], "equations": {"x": "-k * x"}})
    with pytest.raises(ValueError, match="'jacobian'"):
        c.bind({"k": 1.0}, output="hessian")


def test_identity_directions_place_instead_of_multiplying() -> None:
    """Every column its own color (`sum_state()` makes the rows of S and E dense):
    the program for identity directions (`mode="jacobian"`) places the contact
    matrix into its columns, makes the total's derivative an indicator and the
    diagonal terms diagonals; it never multiplies into the `n x n` directions
    (O(N^3) for N age groups), as the program for any directions does."""
    from benchmarks import models

    c = compile_spec(models.age_seir(8).spec)
    plan = c._jacobian_plan()
    assert plan.own_colors
    assert plan.batched is not None
    assert "_baddplace" in plan.batched.__code__.co_names  # built for the identity
    model = c._model_of_rhs()
    general = lower_model(model, "numpy", "jvps").bound_source.split("def core")[1]
    assert "_bdot(" in general
    assert "_bsumall(v)" in general
    core = lower_model(model, "numpy", "jacobian").bound_source.split("def core")[1]
    calls = Counter(re.findall(r"\b(_\w+)\(", core))
    assert calls["_matmul"] == 1  # the primal C @ I, the only matrix product
    for dense in ("_bdot", "_bsumall", "_bmatmul_a", "_bmatmul_b"):
        assert dense not in calls, core
    assert calls["_baddplace"] == 1  # beta * C / N placed at I's columns
    assert calls["_bfill"] == 1  # the rank-one term of d(1/N)
    assert calls["_bdiag"] + calls["_badddiag"] == 3  # S -> E, E -> I, I -> R


def test_identity_directions_differing_only_in_non_finite_values() -> None:
    """Outside the pattern, `J @ I` is exactly zero where every value is finite;
    where one is not (an empty population: `0 / 0`), the entries outside the
    pattern are still zero, as with the mask."""
    c = compile_spec(
        {
            "kind": "transitions",
            "state": ["S", "I", "R"],
            "transitions": [
                {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
                {"from": "I", "to": "R", "rate": "gamma"},
            ],
        }
    )
    params = {"beta": 0.3, "gamma": 0.1}
    pattern = c.jac_sparsity.toarray() != 0
    assert c._jacobian_plan().own_colors
    assert not pattern.all()
    for y in (np.array([990.0, 10.0, 0.0]), np.zeros(3)):
        with np.errstate(all="ignore"):
            got = c.bind(params, output="jacobian")(0.0, y)
            want = _columns(c, 0.0, y, params)
        assert np.all(got[~pattern] == 0.0)
        np.testing.assert_allclose(
            got[pattern], want[pattern], rtol=1e-12, equal_nan=True
        )


def _identity_tangent(cols: np.ndarray, n: int) -> np.ndarray:
    """The batch of identity tangents selecting `cols` (one column per position)."""
    return (cols[..., None] == np.arange(n)).astype(np.float64)


@pytest.mark.parametrize(
    ("b_shape", "cols", "axis", "rest"),
    [
        ((3, 4), np.arange(2, 6).reshape(1, 4), -1, (1,)),  # C[a, j] * I[j]
        ((4, 3), np.arange(2, 6).reshape(4, 1), -2, (1,)),  # over another axis
        ((4,), np.broadcast_to(np.arange(2, 6), (2, 4)), -1, (2,)),  # broadcast
        ((), np.arange(2, 6), -1, ()),  # a scalar weight
    ],
)
def test_placement_helpers_equal_the_products(
    b_shape: tuple[int, ...], cols: np.ndarray, axis: int, rest: tuple[int, ...]
) -> None:
    """`_bplace` (a contraction with identity tangents) and `_baddplace` (added
    into a new array, in place or, when that would broadcast it, not) give the
    contraction's value."""
    g = batch_runtime()
    n = 7
    rng = np.random.default_rng(0)
    b = rng.normal(size=b_shape)
    t = _identity_tangent(cols, n)
    ax = axis - 1  # the batch axis is last
    want = np.sum(np.asarray(b)[..., None] * t, axis=ax)
    spec = (axis, 2, 4, n, rest)
    np.testing.assert_array_equal(g["_bplace"](b, spec), want)
    for x_shape in (want.shape, (1, n)):  # the sum's shape, or smaller
        x = rng.normal(size=x_shape)
        for plus in (True, False):
            got = g["_baddplace"](x.copy(), b, (*spec, plus))
            np.testing.assert_allclose(got, x + want if plus else x - want)


@pytest.mark.parametrize("p_shape", [(), (4,), (1,), (2, 4)])
def test_diagonal_helpers_equal_the_products(p_shape: tuple[int, ...]) -> None:
    """`_bdiag` (identity tangents times a primal) and `_badddiag` (added into
    a new array); a primal that would broadcast the tangents falls back to the
    product."""
    g = batch_runtime()
    n = 7
    rng = np.random.default_rng(1)
    t = _identity_tangent(np.arange(3, 7), n)
    p = rng.normal(size=p_shape)
    want = t * np.asarray(p)[..., None]
    np.testing.assert_array_equal(g["_bdiag"](t, p, (3, n)), want)
    x = rng.normal(size=want.shape)
    for plus in (True, False):
        got = g["_badddiag"](x.copy(), t, p, (3, n, plus))
        np.testing.assert_allclose(got, x + want if plus else x - want)


def test_fill_and_indicator_helpers() -> None:
    g = batch_runtime()
    q = np.arange(3.0)
    np.testing.assert_array_equal(g["_bfill"](q, 5), q[:, None] * np.ones(5))
    np.testing.assert_array_equal(
        g["_bindicator"]((1, 4, 5)), np.eye(5)[1:4].sum(axis=0)
    )


def test_contraction_with_a_weight_of_the_outer_axis() -> None:
    """`sum_over(vax=qq, n[vax=qq] * w[vax])`: the weight does not vary along the
    summed axis (size 1 there), the tangent does; both batched programs (any
    directions, identity directions) give the columns' Jacobian."""
    spec = {
        "kind": "expr",
        "axes": [{"name": "vax", "coords": ["u", "v", "w"]}],
        "state": ["u[vax]", "n[vax]"],
        "equations": {
            "n[vax]": "-theta * n[vax]",
            "u[vax]": "sum_over(vax=qq, n[vax=qq] * w[vax])",
        },
    }
    c = compile_spec(spec)
    params = {"theta": 0.3, "w": np.array([1.0, 2.0, 3.0])}
    y = np.arange(1.0, 7.0)
    want = _columns(c, 0.0, y, params)
    _check(c, 0.0, y, params)
    model = c._model_of_rhs()
    numpy = resolve_backend("numpy")
    for mode in ("jvps", "jacobian"):
        fn = build_function(
            lower_model(model, "numpy", mode), model, numpy, force_f64=True, name="jvp"
        )
        np.testing.assert_allclose(fn(0.0, y, np.eye(6), **params), want, rtol=1e-12)
