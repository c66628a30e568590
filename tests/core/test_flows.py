"""Flows: every transition's flux per cell, its names and the stoichiometry matrix.

Checked on generated transitions specs against an independent evaluation of the
0.1.2 per-cell transitions (`meta["transitions"]`: each rate string evaluated and
multiplied by its source), on the benchmark models in every spec form, and on JAX
under jit, vmap and grad.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from tests import models
from tests.differential.compare import StringEvaluator, _close, scalar_inputs
from tests.differential.generate import generate_cases

from op_system import UnsupportedFeatureError, compile_rhs, compile_spec, normalize_rhs

SEIR = models.seir_age()
SEIR_PARAMS = {
    "beta": 0.4,
    "sigma": 0.25,
    "gamma": 0.2,
    "C": np.array([[2.0, 0.5], [0.5, 1.0]]),
}
SEIR_Y = np.array([900.0, 800.0, 5.0, 3.0, 10.0, 7.0, 0.0, 1.0])


def test_names_values_and_stoichiometry_of_a_small_model() -> None:
    c = compile_spec(SEIR)
    assert c.flow_names == (
        "infection__age_y",
        "infection__age_o",
        "onset__age_y",
        "onset__age_o",
        "I__age_y->R__age_y",
        "I__age_o->R__age_o",
    )
    f = c.flows(0.0, SEIR_Y, **SEIR_PARAMS)
    s, e, i, _ = SEIR_Y.reshape(4, 2)
    foi = SEIR_PARAMS["beta"] * SEIR_PARAMS["C"] @ i / SEIR_Y.sum()
    want = np.concatenate([foi * s, SEIR_PARAMS["sigma"] * e, SEIR_PARAMS["gamma"] * i])
    np.testing.assert_allclose(f, want, rtol=1e-14)
    stoich = c.stoichiometry
    assert stoich.shape == (8, 6)
    assert stoich.nnz == 12
    np.testing.assert_allclose(
        stoich @ f, c.eval_fn(0.0, SEIR_Y, **SEIR_PARAMS), rtol=1e-14
    )


def test_templated_names_and_repeated_names() -> None:
    c = compile_spec(
        {
            "kind": "transitions",
            "axes": [
                {"name": "age", "coords": ["y", "o"]},
                {"name": "strain", "coords": ["wt", "var"]},
            ],
            "state": ["S[age]", "I[age,strain]"],
            "transitions": [
                {
                    "name": "infection[strain]",
                    "from": "S[age]",
                    "to": "I[age,strain]",
                    "rate": "beta[strain]",
                },
                {"from": "I[age,strain]", "to": "S[age]", "rate": "gamma"},
                {"from": "I[age,strain]", "to": "S[age]", "rate": "mu"},
            ],
        }
    )
    names = c.flow_names
    assert names[:4] == (
        "infection__age_y__strain_wt",
        "infection__age_y__strain_var",
        "infection__age_o__strain_wt",
        "infection__age_o__strain_var",
    )
    assert names[4] == "I__age_y__strain_wt->S__age_y"
    assert names[8] == "I__age_y__strain_wt->S__age_y#2"
    assert len(set(names)) == len(names) == 12


def test_expression_models_have_no_flows() -> None:
    c = compile_spec({"state": ["x"], "equations": {"x": "-k * x"}})
    with pytest.raises(UnsupportedFeatureError, match="transitions models"):
        c.flows(0.0, [1.0], k=1.0)
    with pytest.raises(UnsupportedFeatureError, match="kind='expr'"):
        c.flow_names


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_generated_models_flows_are_the_012_transitions(seed: int) -> None:
    """Each flow is its 0.1.2 per-cell transition's rate times its source, and the
    stoichiometry maps the flows onto `dydt`."""
    rng = np.random.default_rng(seed)
    checked = 0
    for case in generate_cases(150, seed=seed):
        spec = case["spec"]
        if spec.get("kind") != "transitions":
            continue
        try:
            rhs = normalize_rhs(copy.deepcopy(spec))
            c = compile_rhs(rhs)
        except Exception:  # a mutant meant to be rejected
            continue
        y, params = scalar_inputs(rhs, rng)
        expanded = rhs.meta["transitions"]
        assert len(c.flow_names) == len(expanded) == len(set(c.flow_names))
        index = {n: i for i, n in enumerate(rhs.state_names)}
        with np.errstate(all="ignore"):
            got = np.asarray(c.flows(0.3, y, **params), dtype=np.float64)
            ev = StringEvaluator(
                states=dict(zip(rhs.state_names, y)),
                params=params,
                aliases=dict(rhs.aliases),
                t=0.3,
            )
            want = np.array(
                [float(ev.evaluate(e["rate"])) * y[index[e["from"]]] for e in expanded]
            )
            dydt = np.asarray(c.eval_fn(0.3, y, **params), dtype=np.float64)
            balance = np.asarray(c.stoichiometry @ got) if len(got) else 0 * dydt
        ok, why = _close(got, want)
        assert ok, (case["id"], why)
        if np.all(np.isfinite(got)):
            ok, why = _close(balance, dydt)
            assert ok, (case["id"], why)
        checked += 1
    assert checked >= 20, checked


@pytest.mark.parametrize("family", ["age_seir", "erlang"])
def test_flows_do_not_depend_on_the_spec_form(family: str) -> None:
    """The same model written templated, mixed or flat has the same flows (up to
    their order and names) and, in each form, `stoichiometry @ flows == dydt`."""
    from benchmarks import models

    m = models.age_seir(8) if family == "age_seir" else models.erlang_chain(20)
    reference = None
    for form, (spec, params) in models.spec_forms(m).items():
        c = compile_spec(spec)
        if c.rhs is None or c.rhs.kind != "transitions":
            continue
        f = np.asarray(c.flows(0.0, m.y_call, **params))
        np.testing.assert_allclose(
            c.stoichiometry @ f,
            c.eval_fn(0.0, m.y_call, **params),
            rtol=1e-11,
            atol=1e-9,
            err_msg=form,
        )
        if reference is None:
            reference = np.sort(f)
        else:
            np.testing.assert_allclose(np.sort(f), reference, rtol=1e-12, err_msg=form)
    assert reference is not None


def test_flat_flows_are_rerolled() -> None:
    """A flat spec's flows are computed as vectors: code size independent of N."""
    from benchmarks import models

    sizes = []
    for n in (8, 32):
        spec, params = models.age_seir_flat(models.age_seir(n))
        c = compile_spec(spec)
        c.flows(0.0, models.age_seir(n).y_call, **params)
        from op_system._lower.codegen import lower_model

        sizes.append(
            len(lower_model(c.rhs._model, "numpy", "flows").source.splitlines())
        )
    assert sizes[0] == sizes[1] < 40, sizes


def test_flows_on_jax_jit_vmap_and_grad() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    c = compile_spec(SEIR)
    want = c.flows(0.0, SEIR_Y, **SEIR_PARAMS)
    pj = {k: jnp.asarray(v) for k, v in SEIR_PARAMS.items()}
    got = jax.jit(lambda y: c.flows(0.0, y, **pj))(jnp.asarray(SEIR_Y))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13)
    ys = jnp.stack([jnp.asarray(SEIR_Y), 2.0 * jnp.asarray(SEIR_Y)])
    batched = jax.vmap(lambda y: c.flows(0.0, y, **pj))(ys)
    np.testing.assert_allclose(
        np.asarray(batched[1]), c.flows(0.0, 2.0 * SEIR_Y, **SEIR_PARAMS), rtol=1e-13
    )

    def infections(beta: Any) -> Any:
        return jnp.sum(c.flows(0.0, jnp.asarray(SEIR_Y), **{**pj, "beta": beta})[:2])

    grad = jax.grad(infections)(jnp.asarray(0.4))
    # the infection flows are linear in beta
    np.testing.assert_allclose(float(grad), float(infections(1.0)), rtol=1e-12)
    # a compiled object fixed to JAX gives JAX flows too
    cj = compile_spec(SEIR, xp=jnp)
    np.testing.assert_allclose(
        np.asarray(cj.flows(0.0, jnp.asarray(SEIR_Y), **pj)), want, rtol=1e-13
    )


def test_bound_flows_and_observables_read_the_parameters_once() -> None:
    """`bind(params, output="flows" | "observables")`: the same values as `flows()`
    and `observables()`, for a flat spec whose parameters are scalars by the hundred."""
    from benchmarks import models

    m = models.age_seir_counted(8)
    spec, params = models.spec_forms(m)["flat per-cell"]
    spec = {
        **spec,
        "observables": {"total_cases": " + ".join(f"cases_{i}" for i in range(8))},
    }
    c = compile_spec(spec)
    y = m.y_call
    np.testing.assert_array_equal(
        c.bind(params, output="flows")(0.0, y), c.flows(0.0, y, **params)
    )
    np.testing.assert_array_equal(
        c.bind(params, output="observables")(0.0, y), c.observables(0.0, y, **params)
    )
    np.testing.assert_allclose(c.observables(0.0, y, **params), [y[32:40].sum()])
    with pytest.raises(ValueError, match="output must be"):
        c.bind(params, output="flow")
