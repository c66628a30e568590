"""Incidence counters: `incidence: {name: [transition names]}` appends states that
accumulate the listed transitions' flows, so one solve gives cumulative incidence.

Checked against the model without counters (its own states are unchanged and never
read the counters), against the flows themselves, against conservation in a solve
(what `S` lost is what the infection counter gained), on generated specs, on JAX,
and in every spec form of the benchmark age SEIR.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from tests import models
from tests.core.test_flows import SEIR_PARAMS, SEIR_Y
from tests.differential.compare import StringEvaluator, _close, scalar_inputs
from tests.differential.generate import generate_cases

from op_system import (
    SpecError,
    UnsupportedFeatureError,
    compile_rhs,
    compile_spec,
    model_info,
    normalize_rhs,
)

# the small age SEIR of the flows tests, with its recovery named too
SEIR = models.seir_age(recovery_named=True)
COUNTED = models.seir_age_counted()
PARAMS = SEIR_PARAMS
Y = SEIR_Y


def test_counters_are_the_flows_and_leave_the_model_alone() -> None:
    plain, counted = compile_spec(SEIR), compile_spec(COUNTED)
    assert counted.state_names[8:] == (
        "cases__age_y",
        "cases__age_o",
        "onsets__age_y",
        "onsets__age_o",
        "events__age_y",
        "events__age_o",
    )
    assert counted.incidence_names["events"] == ("events__age_y", "events__age_o")
    # whatever the counters hold, the model's own states do not see them
    rng = np.random.default_rng(0)
    for _ in range(3):
        y = np.concatenate([Y, rng.uniform(0.0, 1e4, 6)])
        dydt = counted.eval_fn(0.0, y, **PARAMS)
        np.testing.assert_allclose(
            dydt[:8], plain.eval_fn(0.0, Y, **PARAMS), rtol=1e-14
        )
        f = counted.flows(0.0, y, **PARAMS)
        np.testing.assert_allclose(dydt[8:10], f[0:2], rtol=1e-14)
        np.testing.assert_allclose(dydt[10:12], f[2:4], rtol=1e-14)
        np.testing.assert_allclose(dydt[12:14], f[0:2] + f[4:6], rtol=1e-14)
        np.testing.assert_allclose(counted.stoichiometry @ f, dydt, rtol=1e-14)
    info = model_info(counted.rhs)
    assert [b.counter for b in info.blocks] == [False] * 4 + [True] * 3
    assert (
        "events[age]  (2 cells, y[12:14]; counts infection, recovery)"
        in counted.describe()
    )


def test_counters_summed_over_axes_they_lack() -> None:
    spec = {
        **SEIR,
        "incidence": {"total_cases": "infection"},
    }
    spec["transitions"] = [
        {**SEIR["transitions"][0], "name": "infection[age]"},
        *SEIR["transitions"][1:],
    ]
    c = compile_spec(spec)
    assert c.incidence_names == {
        "total_cases": ("total_cases__age_y", "total_cases__age_o")
    }
    # a counter over no axis: a flat transition list, one name for every cell
    flat = compile_spec(
        {
            "kind": "transitions",
            "state": ["S_0", "S_1", "I_0", "I_1"],
            "transitions": [
                {"name": "infection", "from": f"S_{i}", "to": f"I_{i}", "rate": f"b{i}"}
                for i in range(2)
            ],
            "incidence": {"cases": "infection"},
        }
    )
    y = np.array([10.0, 20.0, 1.0, 2.0, 0.0])
    np.testing.assert_allclose(
        flat.eval_fn(0.0, y, b0=0.1, b1=0.3)[4], 0.1 * 10 + 0.3 * 20
    )


def test_a_solve_counts_what_the_susceptibles_lose() -> None:
    from scipy.integrate import solve_ivp

    c = compile_spec(COUNTED)
    y0 = np.concatenate([Y, np.zeros(6)])
    t = np.linspace(0.0, 60.0, 61)
    sol = solve_ivp(
        lambda t, y: c.eval_fn(t, y, **PARAMS),
        (0.0, 60.0),
        y0,
        t_eval=t,
        rtol=1e-10,
        atol=1e-8,
    )
    ys = sol.y.T
    np.testing.assert_allclose(ys[:, 8:10], Y[:2] - ys[:, 0:2], rtol=1e-6, atol=1e-6)
    weekly = c.interval_incidence(ys[::7], "cases")
    assert weekly.shape == (8, 2)
    np.testing.assert_allclose(weekly.sum(axis=0), ys[56, 8:10], rtol=1e-12)
    assert c.interval_incidence(ys).shape == (60, 6)
    with pytest.raises(SpecError, match="did you mean 'cases'"):
        c.interval_incidence(ys, "case")
    assert c.check() == []  # the counters are not part of the conserved total


def test_jax_counters_and_their_jacobian() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    c = compile_spec(COUNTED)
    cj = compile_spec(COUNTED, xp=jnp)
    y = np.concatenate([Y, np.arange(6.0)])
    pj = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    got = jax.jit(lambda y: cj.eval_fn(0.0, y, **pj))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), c.eval_fn(0.0, y, **PARAMS), rtol=1e-13)
    want = jax.jacfwd(lambda y: cj.eval_fn(0.0, y, **pj))(jnp.asarray(y))
    np.testing.assert_allclose(
        c.jacobian()(0.0, y, **PARAMS), np.asarray(want), atol=1e-14
    )
    assert not np.asarray(want)[:, 8:].any()  # nothing reads the counters


def test_incidence_in_every_spec_form() -> None:
    """Naming the infection transitions in each form of the benchmark age SEIR
    and counting them gives the same cumulative incidence per form."""
    from benchmarks import models

    m = models.age_seir(6)
    totals = []
    for spec, params in models.spec_forms(m).values():
        if spec.get("kind") != "transitions":
            continue
        spec = copy.deepcopy(spec)
        for tr in spec["transitions"]:
            if tr["from"].startswith("S"):
                tr["name"] = "infection"
        spec["incidence"] = {"cases": "infection"}
        c = compile_spec(spec)
        k = len(c.incidence_names["cases"])
        y = np.concatenate([m.y_call, np.zeros(k)])
        dydt = c.eval_fn(0.0, y, **params)
        flows = c.flows(0.0, y, **params)
        infections = [
            f for f, n in zip(flows, c.flow_names) if n.startswith("infection")
        ]
        np.testing.assert_allclose(dydt[-k:].sum(), np.sum(infections), rtol=1e-12)
        totals.append(dydt[-k:].sum())
    assert len(totals) >= 2
    np.testing.assert_allclose(totals, totals[0], rtol=1e-12)


@pytest.mark.parametrize("seed", [7, 8])
def test_generated_models_count_their_named_transitions(seed: int) -> None:
    """Generated transitions specs with named transitions get a counter of a few of
    them: the model's states are unchanged, and the counters' total is the sum of
    the 0.1.2 per-cell transitions of those names, evaluated independently."""
    rng = np.random.default_rng(seed)
    checked = 0
    for case in generate_cases(300, seed=seed):
        spec = case["spec"]
        if spec.get("kind") != "transitions":
            continue
        named = sorted(
            {
                tr["name"].split("[")[0]
                for tr in spec.get("transitions", [])
                if isinstance(tr, dict) and isinstance(tr.get("name"), str)
            }
        )
        if not named:
            continue
        try:
            rhs = normalize_rhs(copy.deepcopy(spec))
            plain = compile_rhs(rhs)
        except Exception:  # a mutant meant to be rejected
            continue
        picked = [n for n in named if rng.random() < 0.7] or named[:1]
        spec2 = {**copy.deepcopy(spec), "incidence": {"counted": picked}}
        try:
            c = compile_spec(spec2)
        except UnsupportedFeatureError:  # a coord_shift transition among them
            continue
        n = len(rhs.state_names)
        k = len(c.state_names) - n
        y, params = scalar_inputs(rhs, rng)
        with np.errstate(all="ignore"):
            dydt = np.asarray(c.eval_fn(0.3, np.concatenate([y, np.ones(k)]), **params))
            ok, why = _close(dydt[:n], np.asarray(plain.eval_fn(0.3, y, **params)))
            assert ok, (case["id"], why)
            ev = StringEvaluator(
                states=dict(zip(rhs.state_names, y)),
                params=params,
                aliases=dict(rhs.aliases),
                t=0.3,
            )
            index = {s: i for i, s in enumerate(rhs.state_names)}
            want = sum(
                float(ev.evaluate(e["rate"])) * y[index[e["from"]]]
                for e in rhs.meta["transitions"]
                if str(e.get("name", "")).split("__")[0] in picked
            )
        if np.isfinite(want):
            ok, why = _close(np.array([dydt[n:].sum()]), np.array([want]))
            assert ok, (case["id"], why)
        checked += 1
    assert checked >= 10, checked


@pytest.mark.parametrize(
    ("incidence", "error", "match"),
    [
        (
            {"cases": "infectoin"},
            SpecError,
            "no transition is named 'infectoin'.*did you mean 'infection'",
        ),
        ({"cases": ["infection", "infection"]}, SpecError, "lists 'infection' twice"),
        ({"S": "infection"}, SpecError, "already the name of a state"),
        ({"cases": []}, SpecError, "non-empty list"),
        ([], SpecError, "non-empty mapping"),
    ],
)
def test_bad_incidence(incidence: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        normalize_rhs({**SEIR, "incidence": incidence})


def test_counters_cannot_be_read_and_expr_models_have_none() -> None:
    spec = copy.deepcopy(COUNTED)
    spec["transitions"][2]["rate"] = "gamma * (1 + cases[age])"
    with pytest.raises(SpecError, match="'cases' is an incidence counter"):
        normalize_rhs(spec)
    with pytest.raises(SpecError, match="an expr model has none"):
        normalize_rhs(
            {"state": ["x"], "equations": {"x": "-x"}, "incidence": {"c": "x"}}
        )
    with pytest.raises(UnsupportedFeatureError, match="needs incidence counters"):
        compile_spec(SEIR).interval_incidence(np.zeros((3, 8)))


def test_sum_prefix_and_strings_ignore_the_counters() -> None:
    spec = copy.deepcopy(COUNTED)
    spec["incidence"] = {"Snew": "infection"}  # a counter named like a prefix of S
    spec["transitions"][0]["rate"] = "beta * sum_prefix('I') / sum_prefix('S')"
    c = compile_spec(spec)
    y = np.concatenate([Y, [1e6, 1e6]])
    s_total = Y[:2].sum()
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, **PARAMS)[8:],
        PARAMS["beta"] * Y[4:6].sum() / s_total * Y[:2],
        rtol=1e-14,
    )
    # 0.1.2's strings write sums out (its `sum_state()` would read the counters)
    eqs = compile_spec(COUNTED).rhs.equations
    assert "sum_state" not in eqs[0]
    ev = StringEvaluator(
        states=dict(
            zip(compile_spec(COUNTED).state_names, np.concatenate([Y, [5.0] * 6]))
        ),
        params={
            "beta": 0.4,
            "sigma": 0.25,
            "gamma": 0.2,
            **{
                f"C__age_{a}__age_{b}": PARAMS["C"][i, j]
                for i, a in enumerate("yo")
                for j, b in enumerate("yo")
            },
        },
        aliases={},
        t=0.0,
    )
    want = compile_spec(COUNTED).eval_fn(0.0, np.concatenate([Y, [5.0] * 6]), **PARAMS)
    got = np.array([float(ev.evaluate(e)) for e in eqs])
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_counting_flat_transitions_keeps_the_code_size() -> None:
    """A flat spec whose per-cell infections are all counted: one sum into the
    counter, whatever the number of cells, on NumPy and JAX."""
    from benchmarks import models

    sizes: dict[str, list[int]] = {"numpy": [], "jax": []}
    for n in (8, 32):
        m = models.age_seir(n)
        spec, params = models.age_seir_flat(m)
        spec = copy.deepcopy(spec)
        for tr in spec["transitions"]:
            if tr["from"].startswith("S"):
                tr["name"] = "infection"
        spec["incidence"] = {"cases": "infection"}
        for backend in sizes:
            sizes[backend].append(
                len(compile_spec(spec, backend=backend).source.splitlines())
            )
        c = compile_spec(spec)
        y = np.concatenate([m.y_call, [0.0]])
        f = c.flows(0.0, y, **params)
        infections = sum(
            v for v, k in zip(f, c.flow_names) if k.startswith("infection")
        )
        np.testing.assert_allclose(
            c.eval_fn(0.0, y, **params)[-1], infections, rtol=1e-12
        )
    for backend, (small, big) in sizes.items():
        assert small == big, (backend, sizes)
