"""Observables: `observables: {name[axes]: expression}` of states, flows (by their
transition's name), aliases, parameters and incidence counters.

Checked against the 0.1.2 per-cell transitions of generated specs (each rate string
evaluated times its source, so the flows an observable reads are not our own),
against hand-computed values, on NumPy and JAX (jit, vmap, grad), and over whole
solutions (`observe`).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pytest
from tests.differential.compare import StringEvaluator, _close, scalar_inputs
from tests.differential.generate import generate_cases

from op_system import (
    ExpressionError,
    SpecError,
    SpecWarning,
    UnsupportedFeatureError,
    compile_rhs,
    compile_spec,
    normalize_rhs,
)

SEIR: dict[str, Any] = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": ["y", "o"]}],
    "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
    "aliases": {"N": "sum_state()"},
    "transitions": [
        {
            "name": "infection",
            "from": "S[age]",
            "to": "E[age]",
            "rate": "beta * sum_over(age=j, C[age, j] * I[j]) / N",
        },
        {"name": "onset", "from": "E[age]", "to": "I[age]", "rate": "sigma"},
        {"name": "recovery", "from": "I[age]", "to": "R[age]", "rate": "gamma"},
    ],
    "incidence": {"cases": "infection"},
    "observables": {
        "admissions[age]": "ihr[age] * onset[age]",
        "all_admissions": "sum_over(age=a, ihr[a] * onset[a])",
        "prevalence": "sum_over(age=a, I[a]) / N",
        "reported[age]": "rho * cases[age] + 0 * t",
    },
}
PARAMS = {
    "beta": 0.4,
    "C": np.array([[3.0, 1.0], [1.0, 2.0]]),
    "sigma": 0.25,
    "gamma": 0.2,
    "ihr": np.array([0.01, 0.08]),
    "rho": 0.5,
}
Y = np.array([900.0, 1800.0, 20.0, 30.0, 10.0, 15.0, 0.0, 5.0, 3.0, 4.0])


def _by_hand(y: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    E, I = y[2:4], y[4:6]  # noqa: E741
    N = y[:8].sum()
    onset = p["sigma"] * E
    adm = p["ihr"] * onset
    return np.concatenate([adm, [adm.sum(), I.sum() / N], p["rho"] * y[8:10]])


def test_values_names_and_parameters() -> None:
    c = compile_spec(SEIR)
    assert c.observable_names == (
        "admissions__age_y",
        "admissions__age_o",
        "all_admissions",
        "prevalence",
        "reported__age_y",
        "reported__age_o",
    )
    # the right-hand side does not need the observation parameters
    assert "ihr__age_y" not in c.param_names
    assert "rho" not in c.param_names
    assert c.observable_param_names == ("ihr__age_o", "ihr__age_y", "rho")
    model_params = {k: v for k, v in PARAMS.items() if k not in ("ihr", "rho")}
    c.eval_fn(0.0, Y, **model_params)
    np.testing.assert_allclose(c.observables(0.0, Y, **PARAMS), _by_hand(Y, PARAMS))
    # the flows an observable reads are `flows()`'s
    flows = dict(zip(c.flow_names, c.flows(0.0, Y, **model_params)))
    assert np.isclose(
        c.observables(0.0, Y, **PARAMS)[0], PARAMS["ihr"][0] * flows["onset__age_y"]
    )


def test_jax_jit_vmap_grad_and_observe() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    c = compile_spec(SEIR, xp=jnp)
    jp = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    got = jax.jit(lambda y: c.observables(0.0, y, **jp))(jnp.asarray(Y))
    np.testing.assert_allclose(got, _by_hand(Y, PARAMS), rtol=1e-12)
    # d(all_admissions)/d(ihr) = onset flows
    g = jax.grad(
        lambda ihr: c.observables(0.0, jnp.asarray(Y), **{**jp, "ihr": ihr})[2]
    )(jp["ihr"])
    np.testing.assert_allclose(g, PARAMS["sigma"] * Y[2:4], rtol=1e-12)
    rng = np.random.default_rng(0)
    ys = rng.uniform(1.0, 100.0, (7, 10))
    ts = np.linspace(0.0, 6.0, 7)
    batch = jax.jit(lambda ts, ys: c.observe(ts, ys, **jp))(
        jnp.asarray(ts), jnp.asarray(ys)
    )
    want = np.stack([_by_hand(y, PARAMS) for y in ys])
    np.testing.assert_allclose(batch, want, rtol=1e-12)
    # NumPy: the same, one call per time
    np.testing.assert_allclose(compile_spec(SEIR).observe(ts, ys, **PARAMS), want)


def test_observables_over_a_solve() -> None:
    from scipy.integrate import solve_ivp

    c = compile_spec(SEIR)
    model_params = {k: v for k, v in PARAMS.items() if k not in ("ihr", "rho")}
    y0 = Y.copy()
    y0[8:] = 0.0
    days = np.arange(0.0, 31.0)
    sol = solve_ivp(
        lambda t, y: c.eval_fn(t, y, **model_params),
        (0.0, 30.0),
        y0,
        t_eval=days,
        rtol=1e-10,
        atol=1e-8,
    )
    obs = c.observe(sol.t, sol.y.T, **PARAMS)
    assert obs.shape == (31, 6)
    # reported = rho * cumulative cases: its daily differences are rho * incidence
    weekly = c.interval_incidence(sol.y.T[::7], "cases")
    np.testing.assert_allclose(np.diff(obs[::7, 4:6], axis=0), PARAMS["rho"] * weekly)


@pytest.mark.parametrize("seed", [21, 22])
def test_generated_specs_observe_their_flows(seed: int) -> None:
    """Every plain transition of a generated spec named, and observed as
    `w * name[its axes]`: the observables equal w times the 0.1.2 per-cell flows."""
    rng = np.random.default_rng(seed)
    checked = 0
    for case in generate_cases(200, seed=seed):
        spec = case["spec"]
        if spec.get("kind") != "transitions" or "chain" in spec:
            continue
        spec = copy.deepcopy(spec)
        trs = [t for t in spec.get("transitions", []) if isinstance(t, dict)]
        for i, tr in enumerate(trs):
            tr["name"] = f"tr{i}"
        try:
            rhs = normalize_rhs(spec)
            compile_rhs(rhs)
        except Exception:  # a case meant to be rejected
            continue
        model = rhs._model
        starts = model.flow_starts()
        obs: dict[str, str] = {}
        want_slices: list[tuple[int, int]] = []
        for td in model.transitions:
            if not getattr(td, "name_text", None) or any(
                d.subset is not None or d.name != d.axis.name for d in td.dims
            ):
                continue
            name = td.name_text
            axes = ",".join(d.name for d in td.dims)
            key = f"o_{name}" + (f"[{axes}]" if axes else "")
            obs[key] = f"w * {name}" + (f"[{axes}]" if axes else "")
            n = int(np.prod([d.size for d in td.dims])) if td.dims else 1
            want_slices.append((starts[id(td)], n))
        if not obs:
            continue
        c = compile_spec({**spec, "observables": obs})
        y, params = scalar_inputs(c, rng)
        params = {k: v for k, v in params.items() if k in c.param_names}
        params["w"] = 2.5
        index = {n: i for i, n in enumerate(rhs.state_names)}
        with np.errstate(all="ignore"):
            got = np.asarray(c.observables(0.3, y, **params), dtype=np.float64)
            ev = StringEvaluator(
                states=dict(zip(rhs.state_names, y)),
                params=params,
                aliases=dict(rhs.aliases),
                t=0.3,
            )
            flux = []
            for e in rhs.meta["transitions"]:
                rate = float(ev.evaluate(e["rate"]))
                flux.append(rate if e["from"] is None else rate * y[index[e["from"]]])
        flux_a = np.asarray(flux)
        want = np.concatenate([2.5 * flux_a[a : a + n] for a, n in want_slices])
        ok, why = _close(got, want)
        assert ok, (case["id"], why)
        names = [n.removeprefix("o_") for n in c.observable_names]
        flows = [c.flow_names[a + k] for a, n in want_slices for k in range(n)]
        assert names == flows
        checked += 1
    assert checked >= 15


def test_time_varying_and_expr_models() -> None:
    spec = {
        "axes": [{"name": "time", "type": "continuous", "coords": [0.0, 10.0]}],
        "state": ["x", "y"],
        "equations": {"x": "-k * x", "y": "k * x"},
        "observables": {"seen": "rho[time] * y", "total": "x + y"},
    }
    c = compile_spec(spec)
    assert c.param_names == ("k",)
    got = c.observables(5.0, np.array([2.0, 3.0]), k=0.1, rho=np.array([0.0, 1.0]))
    np.testing.assert_allclose(got, [1.5, 5.0])
    with pytest.raises(UnsupportedFeatureError, match="has no observables"):
        compile_spec({"state": ["x"], "equations": {"x": "-x"}}).observables(0.0, [1.0])
    assert (
        compile_spec({"state": ["x"], "equations": {"x": "-x"}}).observable_names == ()
    )


def test_bad_observables() -> None:
    with pytest.raises(SpecError, match="non-empty mapping"):
        normalize_rhs({**SEIR, "observables": []})
    shared = copy.deepcopy(SEIR)
    shared["transitions"][2]["name"] = "onset"
    shared["incidence"] = {"cases": "infection"}
    with pytest.raises(
        UnsupportedFeatureError, match="2 transitions are named 'onset'"
    ):
        normalize_rhs(shared)
    clash = {**SEIR, "observables": {"S[age]": "I[age]"}}
    with pytest.raises(SpecError, match="already the name of a state"):
        normalize_rhs(clash)
    with pytest.raises(SpecError, match="not defined"):
        normalize_rhs({**SEIR, "observables": {"x[agee]": "1"}})
    typo = {**SEIR, "observables": {"adm[age]": "ihr[age] * onst[age]"}}
    with pytest.warns(SpecWarning, match=r"'onst' is read as a parameter.*'onset'"):
        normalize_rhs(typo)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normalize_rhs(SEIR)
    bad = {**SEIR, "observables": {"adm": "ihr * "}}
    with pytest.raises(
        ExpressionError, match=r"invalid expression syntax.*observables\['adm'\]"
    ):
        normalize_rhs(bad)


#: Aliases written cell by cell, one of them read only by the observables.
CELLWISE: dict[str, Any] = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": ["y", "o"]}],
    "state": ["S[age]", "I[age]"],
    "aliases": {
        "lam__age_y": "beta * I__age_y",
        "lam__age_o": "2 * beta * I__age_o",
        "h__age_y": "3 * I__age_y",
        "h__age_o": "4 * I__age_o",
    },
    "transitions": [
        {"name": "inf[age]", "from": "S[age]", "to": "I[age]", "rate": "lam[age]"}
    ],
}


_H = np.array([3.0 * 1.0, 4.0 * 2.0])  # h at y below
_INF = np.array([0.5 * 1.0 * 10.0, 2 * 0.5 * 2.0 * 20.0])  # the infection flows


@pytest.mark.parametrize(
    ("observables", "want"),
    [
        ({"hosp[age]": "h[age]"}, _H),
        ({"hosp": "sum_over(age=j, h[age=j])"}, [_H.sum()]),
        ({"hosp[age]": "inf[age] * h[age]"}, _INF * _H),
    ],
)
def test_observables_leave_the_rhs_unchanged(
    observables: dict[str, str], want: Any
) -> None:
    """Observing an alias's cells as a template gives the RHS no extra statement."""
    plain = compile_spec(CELLWISE)
    observed = compile_spec({**CELLWISE, "observables": observables})
    assert observed.source == plain.source
    got = observed.observables(0.0, np.array([10.0, 20.0, 1.0, 2.0]), beta=0.5)
    np.testing.assert_allclose(got, want, rtol=1e-14)
