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
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.differential.compare import scalar_inputs
from tests.differential.generate import generate_cases

from op_system import compile_rhs, compile_spec, normalize_rhs

REFS = json.loads((Path(__file__).parent / "parity" / "refs.json").read_text())["cases"]


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
