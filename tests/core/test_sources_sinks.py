"""Births, deaths and importations: transitions with `from: null` (a source, whose
rate is the flow) or `to: null` (a sink, per-capita rate times `from`).

Checked against closed forms and hand-written right-hand sides, against an
independent assembly of `dydt` from the expanded per-cell transitions of generated
specs (some of whose transitions are turned into sources and sinks), in flat and
templated forms, on JAX, and in the model checks.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from tests.differential.compare import StringEvaluator, _close, scalar_inputs
from tests.differential.generate import generate_cases

from op_system import SpecError, compile_rhs, compile_spec, normalize_rhs

BIRTH_DEATH = {
    "kind": "transitions",
    "state": ["X"],
    "transitions": [
        {"name": "birth", "from": None, "to": "X", "rate": "lam * X"},
        {"name": "death", "from": "X", "to": None, "rate": "mu"},
    ],
}

AGE_SIR = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": ["y", "m", "o"]}],
    "state": ["S[age]", "I[age]", "R[age]"],
    "transitions": [
        {"name": "birth", "from": None, "to": "S[age]", "rate": "b[age] * sum_state()"},
        {"from": None, "to": "I[age]", "rate": "imp"},  # importations
        {
            "from": "S[age]",
            "to": "I[age]",
            "rate": "beta * sum_over(age=j, I[j]) / sum_state()",
        },
        {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
        {"from": "S[age]", "to": None, "rate": "mu[age]"},
        {"from": "I[age]", "to": None, "rate": "mu[age] + alpha"},
        {"from": "R[age]", "to": None, "rate": "mu[age]"},
    ],
}
AGE_PARAMS = {
    "b": np.array([0.02, 0.0, 0.0]),
    "imp": 0.5,
    "beta": 0.3,
    "gamma": 0.1,
    "mu": np.array([0.001, 0.002, 0.05]),
    "alpha": 0.01,
}


def _age_sir_by_hand(y: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    s, i, r = y.reshape(3, 3)
    n = y.sum()
    births = p["b"] * n
    inf = p["beta"] * i.sum() / n * s
    ds = births - inf - p["mu"] * s
    di = p["imp"] + inf - p["gamma"] * i - (p["mu"] + p["alpha"]) * i
    dr = p["gamma"] * i - p["mu"] * r
    return np.concatenate([ds, di, dr])


def test_birth_death_mean_follows_the_closed_form() -> None:
    from scipy.integrate import solve_ivp

    c = compile_spec(BIRTH_DEATH)
    lam, mu = 0.1, 0.11
    sol = solve_ivp(
        lambda t, y: c.eval_fn(t, y, lam=lam, mu=mu),
        (0.0, 5.0),
        [100.0],
        t_eval=[1.0, 5.0],
        rtol=1e-11,
        atol=1e-11,
    )
    np.testing.assert_allclose(sol.y[0], 100.0 * np.exp((lam - mu) * sol.t), rtol=1e-8)
    assert c.flow_names == ("birth", "death")
    np.testing.assert_allclose(c.flows(0.0, [100.0], lam=lam, mu=mu), [10.0, 11.0])
    np.testing.assert_allclose(c.stoichiometry.toarray(), [[1.0, -1.0]])
    assert c.check() == []  # the change is births less deaths, proven


def test_templated_sources_and_sinks_match_hand_written_code() -> None:
    c = compile_spec(AGE_SIR)
    rng = np.random.default_rng(1)
    for _ in range(3):
        y = rng.uniform(1.0, 100.0, 9)
        np.testing.assert_allclose(
            c.eval_fn(0.0, y, **AGE_PARAMS), _age_sir_by_hand(y, AGE_PARAMS), rtol=1e-13
        )
        f = c.flows(0.0, y, **AGE_PARAMS)
        np.testing.assert_allclose(
            c.stoichiometry @ f, c.eval_fn(0.0, y, **AGE_PARAMS), rtol=1e-12
        )
    assert c.flow_names[:3] == ("birth__age_y", "birth__age_m", "birth__age_o")
    assert c.flow_names[3] == "null->I__age_y"
    assert c.flow_names[-1] == "R__age_o->null"
    # the 0.1.2-style strings evaluate to the same numbers
    y = rng.uniform(1.0, 100.0, 9)
    scalars = {
        **{f"b__age_{a}": AGE_PARAMS["b"][k] for k, a in enumerate("ymo")},
        **{f"mu__age_{a}": AGE_PARAMS["mu"][k] for k, a in enumerate("ymo")},
        "imp": 0.5,
        "beta": 0.3,
        "gamma": 0.1,
        "alpha": 0.01,
    }
    ev = StringEvaluator(
        states=dict(zip(c.state_names, y)), params=scalars, aliases={}, t=0.0
    )
    got = np.array([float(ev.evaluate(e)) for e in c.rhs.equations])
    np.testing.assert_allclose(got, c.eval_fn(0.0, y, **AGE_PARAMS), rtol=1e-13)
    meta = c.rhs.meta["transitions"]
    assert meta[0]["from"] is None
    assert meta[-1]["to"] is None
    assert "∅ -> S[age]" in c.describe()
    assert '["∅"]' in c.flow_diagram()
    assert c.check() == []


def test_a_model_that_loses_population_through_a_transition_is_reported() -> None:
    spec = copy.deepcopy(BIRTH_DEATH)
    spec["state"] = ["X", "Y"]
    spec["transitions"].append({"from": "X", "to": "Y", "rate": "k"})
    assert compile_spec(spec).check() == []
    leaky = {
        "kind": "transitions",
        "state": ["X", "Y"],
        "transitions": [{"from": None, "to": "X", "rate": "k - X"}],
    }
    problems = compile_spec(leaky).check()
    assert problems == []  # a source may be negative at run time; the total is exact
    bad = {
        "kind": "transitions",
        "state": ["X", "Y"],
        "transitions": [{"from": "X", "to": None, "rate": "k / X"}],
    }
    with pytest.warns(UserWarning, match="does not vanish when X = 0"):
        problems = compile_spec(bad).check()
    assert len(problems) == 1


def test_flat_sources_and_sinks_are_rerolled_and_match_the_templated_form() -> None:
    def flat(n: int) -> dict[str, Any]:
        return {
            "kind": "transitions",
            "state": [f"X_{i}" for i in range(n)] + [f"Y_{i}" for i in range(n)],
            "transitions": [
                {"from": None, "to": f"X_{i}", "rate": f"b_{i}"} for i in range(n)
            ]
            + [{"from": f"X_{i}", "to": f"Y_{i}", "rate": "k"} for i in range(n)]
            + [{"from": f"Y_{i}", "to": None, "rate": "mu"} for i in range(n)],
        }

    templated = {
        "kind": "transitions",
        "axes": [{"name": "g", "coords": [str(i) for i in range(8)]}],
        "state": ["X[g]", "Y[g]"],
        "transitions": [
            {"from": None, "to": "X[g]", "rate": "b[g]"},
            {"from": "X[g]", "to": "Y[g]", "rate": "k"},
            {"from": "Y[g]", "to": None, "rate": "mu"},
        ],
    }
    b = np.linspace(0.5, 4.0, 8)
    y = np.linspace(1.0, 16.0, 16)
    want = compile_spec(templated).eval_fn(0.0, y, b=b, k=0.3, mu=0.2)
    cells = {f"b_{i}": float(v) for i, v in enumerate(b)}
    c = compile_spec(flat(8))
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, k=0.3, mu=0.2, **cells), want, rtol=1e-14
    )
    np.testing.assert_allclose(
        np.sort(c.flows(0.0, y, k=0.3, mu=0.2, **cells)),
        np.sort(compile_spec(templated).flows(0.0, y, b=b, k=0.3, mu=0.2)),
        rtol=1e-14,
    )
    sizes = [len(compile_spec(flat(n)).source.splitlines()) for n in (8, 64)]
    assert sizes[0] == sizes[1] < 40, sizes


def test_sources_and_sinks_on_jax() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    c = compile_spec(AGE_SIR)
    cj = compile_spec(AGE_SIR, xp=jnp)
    pj = {k: jnp.asarray(v) for k, v in AGE_PARAMS.items()}
    y = np.linspace(5.0, 50.0, 9)
    got = jax.jit(lambda y: cj.eval_fn(0.0, y, **pj))(jnp.asarray(y))
    np.testing.assert_allclose(
        np.asarray(got), c.eval_fn(0.0, y, **AGE_PARAMS), rtol=1e-13
    )
    jac = jax.jacfwd(lambda y: cj.eval_fn(0.0, y, **pj))(jnp.asarray(y))
    np.testing.assert_allclose(
        c.jacobian()(0.0, y, **AGE_PARAMS), np.asarray(jac), atol=1e-13
    )

    def total_births(b: Any) -> Any:
        return jnp.sum(cj.flows(0.0, jnp.asarray(y), **{**pj, "b": b})[:3])

    grad = jax.grad(total_births)(pj["b"])
    np.testing.assert_allclose(np.asarray(grad), np.full(3, y.sum()), rtol=1e-13)


@pytest.mark.parametrize("seed", [9, 10])
def test_generated_models_with_sources_and_sinks(seed: int) -> None:
    """Generated transitions specs with some transitions cut into a source (their
    `from` dropped) or a sink (their `to` dropped): `dydt` equals an independent
    assembly of the 0.1.2-style expanded transitions, each rate evaluated from its
    string."""
    rng = np.random.default_rng(seed)
    checked = 0
    for case in generate_cases(200, seed=seed):
        spec = case["spec"]
        if spec.get("kind") != "transitions" or "chain" in spec:
            continue
        spec = copy.deepcopy(spec)
        plain = [
            tr
            for tr in spec.get("transitions", [])
            if isinstance(tr, dict) and "coord_shift" not in tr
        ]
        for tr in plain:
            u = rng.random()
            if u < 0.25:
                tr["from"] = None
            elif u < 0.5:
                tr["to"] = None
        try:
            rhs = normalize_rhs(spec)
            c = compile_rhs(rhs)
        except Exception:  # a mutant meant to be rejected
            continue
        y, params = scalar_inputs(rhs, rng)
        index = {n: i for i, n in enumerate(rhs.state_names)}
        with np.errstate(all="ignore"):
            got = np.asarray(c.eval_fn(0.2, y, **params), dtype=np.float64)
            ev = StringEvaluator(
                states=dict(zip(rhs.state_names, y)),
                params=params,
                aliases=dict(rhs.aliases),
                t=0.2,
            )
            want = np.zeros(len(y))
            for e in rhs.meta["transitions"]:
                rate = float(ev.evaluate(e["rate"]))
                flux = rate if e["from"] is None else rate * y[index[e["from"]]]
                if e["from"] is not None:
                    want[index[e["from"]]] -= flux
                if e["to"] is not None:
                    want[index[e["to"]]] += flux
        ok, why = _close(got, want)
        assert ok, (case["id"], why)
        checked += 1
    assert checked >= 10, checked


@pytest.mark.parametrize(
    ("transition", "match"),
    [
        ({"from": None, "to": None, "rate": "k"}, "neither from nor to"),
        (
            {"to": "X", "rate": "k"},
            r"from must be a string; for a source \(births\) write `from: null`",
        ),
        (
            {"from": "X", "rate": "k"},
            r"to must be a string; for a sink \(deaths\) write `to: null`",
        ),
        ({"from": None, "to": "Z", "rate": "k"}, "not in state"),
    ],
)
def test_bad_sources_and_sinks(transition: dict[str, Any], match: str) -> None:
    # in 0.1.2's language (0.9.0's lets a source leave `from` out: tests/lang/test_dialect.py)
    spec = {"kind": "transitions", "state": ["X"], "transitions": [transition]}
    with pytest.raises(SpecError, match=match):
        normalize_rhs({**spec, "dialect": "0.1"})
