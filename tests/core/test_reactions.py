"""Reactions with any stoichiometry in the deterministic model
(`reaction: "2 P -> P2"`; `_core/reactions.py`): one flow each, its ends the
written states with their coefficients, its flow the mass-action flux
`rate * prod(X**c / c!)`.

Every expected value is an independent evaluation: a hand-written right-hand
side, finite differences, `jax.jacfwd` of a hand-written function.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from op_system import SpecError, compile_spec, normalize_rhs

DIMER = {
    "kind": "transitions",
    "state": ["P", "P2"],
    "transitions": [
        {"name": "dimerise", "reaction": "2 P -> P2", "rate": "k1"},
        {"name": "split", "reaction": "P2 -> 2P", "rate": "k2"},
    ],
}
K = {"k1": 0.003, "k2": 0.07}


def _dimer_rhs(y: Any, k1: float, k2: float) -> Any:
    """By hand: `2P -> P2` at events k1 P^2/2, two P each; `P2 -> 2P` at k2 P2."""
    p, p2 = y[0], y[1]
    dim, split = k1 * p**2 / 2, k2 * p2
    return [-2 * dim + 2 * split, dim - split]


@pytest.mark.parametrize("spec", [DIMER, {**DIMER, "dialect": "0.9"}])
def test_dimerisation_ode_flows_and_stoichiometry(spec: dict[str, Any]) -> None:
    """The right-hand side equals the hand-written one (both dialects); the flows
    are the events per unit time, the stoichiometry their coefficients, and
    `dydt = S @ flows`."""
    c = compile_spec(spec)
    rng = np.random.default_rng(1)
    for y in rng.uniform(0.0, 200.0, size=(5, 2)):
        np.testing.assert_allclose(
            c.eval_fn(0.0, y, **K), _dimer_rhs(y, **K), rtol=1e-14
        )
        f = c.flows(0.0, y, **K)
        np.testing.assert_allclose(
            f, [K["k1"] * y[0] ** 2 / 2, K["k2"] * y[1]], rtol=1e-14
        )
        np.testing.assert_allclose(
            c.stoichiometry @ f, c.eval_fn(0.0, y, **K), rtol=1e-13
        )
    np.testing.assert_array_equal(c.stoichiometry.toarray(), [[-2, 2], [1, -1]])
    assert c.flow_names == ("dimerise", "split")


def test_dimerisation_jacobian_against_finite_differences_and_jax() -> None:
    """`jacobian()` (derived from the IR) against central differences of the
    hand-written right-hand side and `jax.jacfwd` of it."""
    c = compile_spec(DIMER)
    y = np.array([73.0, 11.0])
    jac = c.jacobian()(0.0, y, **K)
    h = 1e-4
    fd = np.column_stack(
        [
            (
                np.array(_dimer_rhs(y + h * e, **K))
                - np.array(_dimer_rhs(y - h * e, **K))
            )
            / (2 * h)
            for e in np.eye(2)
        ]
    )
    np.testing.assert_allclose(jac, fd, rtol=1e-7)
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    want = jax.jacfwd(lambda v: jnp.stack(_dimer_rhs(v, **K)))(jnp.asarray(y))
    np.testing.assert_allclose(jac, np.asarray(want), rtol=1e-13)
    cj = compile_spec(DIMER, xp=jnp)
    got = jax.jacfwd(lambda v: cj.eval_fn(0.0, v, **K))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-13)
    v = np.array([0.3, -1.2])
    np.testing.assert_allclose(c.jvp()(0.0, y, v, **K), jac @ v, rtol=1e-13)


def test_batch_source_catalyst_and_templates() -> None:
    """`0 -> 5 X` adds five per event at the rate itself; a catalyst (`A + B ->
    2 B`) changes by the difference of its sides; templated species read their
    cells; an incidence counter counts events. Against a hand loop over cells."""
    spec = {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ["y", "o"]}],
        "state": ["X[age]", "A[age]", "B[age]"],
        "transitions": [
            {"reaction": "0 -> 5 X[age]", "rate": "alpha[age]"},
            {
                "name": "convert[age]",
                "reaction": "A[age] + B[age] -> 2 B[age]",
                "rate": "beta",
            },
            {"reaction": "3 X[age] -> A[age]", "rate": "g"},
        ],
        "incidence": {"conversions": "convert"},
    }
    c = compile_spec(spec)
    assert c.flow_names[2:4] == ("convert__age_y", "convert__age_o")
    alpha, beta, g = np.array([0.4, 0.9]), 0.02, 0.001
    y = np.array([12.0, 7.0, 30.0, 40.0, 5.0, 9.0, 0.0, 0.0])
    want = np.zeros(8)
    for a in range(2):
        x, ca, cb = y[a], y[2 + a], y[4 + a]
        conv = beta * ca * cb
        trim = g * x**3 / 6
        want[a] = 5 * alpha[a] - 3 * trim
        want[2 + a] = -conv + trim
        want[4 + a] = conv  # one B taken, two back
        want[6 + a] = conv
    got = c.eval_fn(0.0, y, alpha=alpha, beta=beta, g=g)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    jac = c.jacobian()(0.0, y, alpha=alpha, beta=beta, g=g)
    h = 1e-5
    fd = np.column_stack(
        [
            (
                c.eval_fn(0.0, y + h * e, alpha=alpha, beta=beta, g=g)
                - c.eval_fn(0.0, y - h * e, alpha=alpha, beta=beta, g=g)
            )
            / (2 * h)
            for e in np.eye(8)
        ]
    )
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-9)
    # per-capita rates: the catalysed conversion takes one A (beta * B per A)
    rates = c.rates(0.0, y, alpha=alpha, beta=beta, g=g)
    np.testing.assert_allclose(rates[2:4], beta * y[4:6], rtol=1e-14)


def test_views_read_the_reaction() -> None:
    """The sympy view, `describe()` and the flow diagram read the same ends."""
    sp = pytest.importorskip("sympy")
    c = compile_spec(DIMER)
    eqs = c.to_sympy()
    names = {str(s): s for e in eqs.values() for s in e.free_symbols}
    p, p2, k1, k2 = (names[n] for n in ("P", "P2", "k1", "k2"))
    assert sp.simplify(eqs["P"] - (-k1 * p**2 + 2 * k2 * p2)) == 0
    assert sp.simplify(eqs["P2"] - (k1 * p**2 / 2 - k2 * p2)) == 0
    assert "2 P -> P2  at  k1" in c.describe()
    assert 'P["P"] -->|"k1"| P2["P2"]' in c.flow_diagram()
    assert c.check() == []  # each event changes the total by its net coefficient
    meta = normalize_rhs(DIMER).meta["transitions"]
    assert meta[0] == {"name": "dimerise", "reaction": "2 P -> P2", "rate": "k1"}
    templated = {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ["y", "o"]}],
        "state": ["P[age]", "P2[age]"],
        "transitions": [
            {"reaction": "P2[age] + P[age] -> 3 P[age]", "rate": "k2"},
        ],
    }
    tex = compile_spec(templated).to_latex()
    assert "3 \\, \\mathrm{k2}" in tex  # three P per event, in the block form


@pytest.mark.parametrize(
    ("reaction", "token", "fragment"),
    [
        ("2 P => P2", "2 P => P2", "no '->'"),
        ("2 P -> P2 -> P", "2 P -> P2 -> P", "more than one '->'"),
        ("0 P -> P2", "0 P", "positive integer"),
        ("2 P + -> P2", "+", "not a state with an optional"),
        ("2 P -> PP2", "PP2", "did you mean 'P2'"),
        ("2 k1 -> P2", "k1", "is not a state"),
        ("0 -> 0", "0 -> 0", "no state on either side"),
    ],
)
def test_bad_reaction_text(reaction: str, token: str, fragment: str) -> None:
    """Bad reaction text: a `SpecError` naming the path, the token and the fix."""
    spec = {**DIMER, "transitions": [{"reaction": reaction, "rate": "k1"}]}
    with pytest.raises(SpecError, match=fragment) as err:
        compile_spec(spec)
    assert err.value.path == "transitions[0].reaction"
    assert err.value.token == token


def test_reaction_with_from_or_without_rate() -> None:
    with pytest.raises(SpecError, match="leave from/to out") as err:
        compile_spec(
            {
                **DIMER,
                "transitions": [{"reaction": "P -> P2", "from": "P", "rate": "k"}],
            }
        )
    assert err.value.path == "transitions[0].from"
    with pytest.raises(SpecError, match="rate of one combination") as err:
        compile_spec({**DIMER, "transitions": [{"reaction": "P -> P2"}]})
    assert err.value.path == "transitions[0].rate"


def test_plain_reaction_is_the_transition() -> None:
    """`S + I -> 2 I` at beta is the transition S -> I at beta * I: the same
    right-hand side, flows, per-capita rates and Jacobian."""
    plain = {
        "kind": "transitions",
        "state": ["S", "I", "R"],
        "transitions": [
            {"from": "S", "to": "I", "rate": "beta * I"},
            {"from": "I", "to": "R", "rate": "gamma"},
        ],
    }
    react = {
        **plain,
        "transitions": [
            {"reaction": "S + I -> 2 I", "rate": "beta"},
            {"reaction": "I -> R", "rate": "gamma"},
        ],
    }
    a, b = compile_spec(plain), compile_spec(react)
    y, p = np.array([900.0, 30.0, 70.0]), {"beta": 3e-4, "gamma": 0.1}
    for name in ("eval_fn", "flows", "rates"):
        np.testing.assert_allclose(
            getattr(b, name)(0.0, y, **p), getattr(a, name)(0.0, y, **p), rtol=1e-14
        )
    np.testing.assert_allclose(b.jacobian()(0.0, y, **p), a.jacobian()(0.0, y, **p))
    np.testing.assert_array_equal(b.stoichiometry.toarray(), a.stoichiometry.toarray())
