"""Drop-in semantics on constructs found by differential testing against 0.1.2.

The numbers of these constructs are pinned against the real op-system 0.1.2 in
`tests/parity` (cases `sum_prefix_placeholder_*`, `loop_variable_value_*`,
`long_flat_sum_300`, `flat_age_seir_12`, `in_filter_*`, `override_*`,
`chain_*`) and by the generated specs of `tests/differential`. Here: what
0.1.2 has no reference for — our errors and warnings, JAX, derivatives, and
the intentional differences listed in docs/compatibility.md.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from op_system import (
    ExpressionError,
    SpecError,
    SpecWarning,
    compile_spec,
    normalize_rhs,
)

AGE_VAX = [
    {"name": "age", "coords": ["child", "adult", "senior"]},
    {"name": "vax", "coords": ["u", "v"]},
]


def _prefix_model() -> dict:
    return {
        "kind": "transitions",
        "axes": AGE_VAX,
        "state": ["S[age,vax]", "I[age,vax]"],
        "aliases": {"lam[age]": "beta * sum_prefix('I[age]') / sum_state()"},
        "transitions": [{"from": "S[age,vax]", "to": "I[age,vax]", "rate": "lam[age]"}],
    }


def _prefix_by_hand(y: np.ndarray, beta: float) -> np.ndarray:
    s, i = y[:6].reshape(3, 2), y[6:].reshape(3, 2)
    lam = beta * i.sum(axis=1) / y.sum()
    flow = lam[:, None] * s
    return np.concatenate([-flow.ravel(), flow.ravel()])


def test_sum_prefix_placeholder_is_substituted_per_cell() -> None:
    c = compile_spec(_prefix_model())
    y = np.linspace(1.0, 12.0, 12)
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, beta=0.4), _prefix_by_hand(y, 0.4), rtol=1e-13
    )
    assert (
        c.rhs.aliases["lam__age_adult"]
        == "beta * sum_prefix('I__age_adult') / sum_state()"
    )


def test_sum_prefix_placeholder_jit_and_jvp() -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    spec = _prefix_model()
    y = np.linspace(1.0, 12.0, 12)
    cj = compile_spec(spec, xp=jnp)
    got = jax.jit(lambda y: cj.eval_fn(0.0, y, beta=0.4))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), _prefix_by_hand(y, 0.4), rtol=1e-12)
    jac = compile_spec(spec).jacobian()(0.0, y, beta=0.4)
    ref = np.asarray(jax.jacfwd(lambda y: cj.eval_fn(0.0, y, beta=0.4))(jnp.asarray(y)))
    np.testing.assert_allclose(jac, ref, rtol=1e-12, atol=1e-15)


def test_sum_prefix_matching_no_state_is_an_error() -> None:
    spec = {
        "kind": "expr",
        "state": ["Infected", "R"],
        "equations": {"Infected": "-Infected", "R": "sum_prefix('Infectd')"},
    }
    with pytest.raises(
        ExpressionError, match=r"sum_prefix\('Infectd'\) matches no state"
    ) as err:
        normalize_rhs(spec)
    assert "did you mean 'Infected'" in str(err.value)
    assert "equations['R']" in str(err.value)
    templated = _prefix_model()
    templated["aliases"] = {"lam[age]": "beta * sum_prefix('J[age]') / sum_state()"}
    with pytest.raises(ExpressionError, match=r"here 'J__age_child'"):
        normalize_rhs(templated)


def test_loop_variable_as_a_value_on_a_continuous_axis() -> None:
    spec = {
        "kind": "expr",
        "axes": [{"name": "size", "type": "continuous", "coords": [1.0, 2.0, 4.0]}],
        "state": ["n[size]", "mass"],
        "equations": {
            "n[size]": "-k * n[size]",
            "mass": "integrate_over(size=s, s * n[size=s]) - mass",
        },
    }
    rhs = normalize_rhs(spec)
    assert rhs.param_names == ("k",)
    y = np.array([3.0, 5.0, 7.0, 1.0])
    w = np.array([0.5, 1.5, 1.0])  # trapezoidal weights of [1, 2, 4]
    want_mass = float(np.sum(w * np.array([1.0, 2.0, 4.0]) * y[:3]) - y[3])
    np.testing.assert_allclose(
        compile_spec(spec).eval_fn(0.0, y, k=0.1)[3], want_mass, rtol=1e-14
    )


def test_loop_variable_as_a_value_needs_numeric_coordinates() -> None:
    spec = {
        "kind": "expr",
        "axes": [{"name": "age", "coords": ["child", "adult"]}],
        "state": ["X[age]", "Y"],
        "equations": {"X[age]": "-X[age]", "Y": "sum_over(age=j, j * X[age=j])"},
    }
    with pytest.raises(ExpressionError, match=r"non-numeric coordinate 'child'") as err:
        normalize_rhs(spec)
    assert err.value.token == "j"


def _long_sum_spec(n: int) -> dict:
    return {
        "kind": "expr",
        "state": [f"x{i}" for i in range(n)],
        "aliases": {"tot": " + ".join(f"w{i} * x{i}" for i in range(n))},
        "equations": {f"x{i}": f"-tot * x{i}" for i in range(n)},
    }


@pytest.mark.parametrize("n", [201, 2500])
def test_long_flat_sums_compile(n: int) -> None:
    c = compile_spec(_long_sum_spec(n))
    rng = np.random.default_rng(n)
    y, w = rng.uniform(0.5, 2.0, n), rng.uniform(0.0, 1.0, n)
    tot = 0.0
    for i in range(n):  # left to right, like Python evaluates the text
        tot = tot + w[i] * y[i]
    got = c.eval_fn(0.0, y, **{f"w{i}": w[i] for i in range(n)})
    # the isomorphic terms are gathered and summed as one vector: equal up to rounding
    np.testing.assert_allclose(got, -tot * y, rtol=1e-13)
    assert c.source.count("\n") < 30


def test_long_sum_of_different_terms_adds_left_to_right() -> None:
    n = 250
    terms = [f"w{i} * x{i}" if i % 2 else f"x{i} / w{i}" for i in range(n)]
    spec = {
        "kind": "expr",
        "state": [f"x{i}" for i in range(n)],
        "aliases": {"tot": " + ".join(terms)},
        "equations": {f"x{i}": f"-tot * x{i}" for i in range(n)},
    }
    rng = np.random.default_rng(1)
    y, w = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 1.0, n)
    tot = 0.0
    for i in range(n):
        tot = tot + (w[i] * y[i] if i % 2 else y[i] / w[i])
    got = compile_spec(spec).eval_fn(0.0, y, **{f"w{i}": w[i] for i in range(n)})
    np.testing.assert_array_equal(got, -tot * y)


def test_long_flat_sum_jvp_matches_finite_differences() -> None:
    n = 300
    spec = {
        "kind": "expr",
        "state": [f"x{i}" for i in range(n)],
        "equations": {
            **{
                f"x{i}": f"-x{i} * "
                + " * ".join(f"(1 + x{j} / 1000)" for j in range(20))
                for i in range(n - 1)
            },
            f"x{n - 1}": " - ".join(f"x{i}" for i in range(n))
            + " / "
            + " / ".join(["2"] * 20),
        },
    }
    c = compile_spec(spec)
    y = np.linspace(1.0, 2.0, n)
    v = np.cos(np.arange(n))
    h = 1e-6
    fd = (c.eval_fn(0.0, y + h * v) - c.eval_fn(0.0, y - h * v)) / (2 * h)
    np.testing.assert_allclose(c.jvp()(0.0, y, v), fd, rtol=1e-6, atol=1e-8)


def test_genuinely_deep_nesting_is_still_rejected() -> None:
    text = "x"
    for _ in range(260):
        text = f"np.exp({text})"
    spec = {"kind": "expr", "state": ["x"], "equations": {"x": text}}
    with pytest.raises(ExpressionError, match="nested too deeply"):
        normalize_rhs(spec)


def test_in_filter_coordinates_are_texts() -> None:
    spec = {
        "kind": "expr",
        "axes": [{"name": "age", "coords": ["0-4", "5-17", "65+"]}],
        "state": ["S[age]", "T"],
        "equations": {
            "S[age]": "-S[age]",
            "T": "sum_over(age=j IN [0-4, 65+], S[age=j])",
        },
    }
    y = np.array([1.0, 10.0, 100.0, 0.0])
    assert compile_spec(spec).eval_fn(0.0, y)[3] == 101.0
    spec["equations"]["T"] = "sum_over(age=j IN [0-4, 70+], S[age=j])"
    with pytest.raises(SpecError, match=r"unknown coord '70\+'"):
        normalize_rhs(spec)


@pytest.mark.parametrize("kind", ["expr", "transitions"])
def test_state_named_t_is_rejected(kind: str) -> None:
    spec: dict = {"kind": kind, "state": ["S", "t"]}
    if kind == "expr":
        spec["equations"] = {"S": "-S", "t": "1.0"}
    else:
        spec["transitions"] = [{"from": "S", "to": "t", "rate": "k"}]
    with pytest.raises(SpecError, match="reserved for time") as err:
        normalize_rhs(spec)
    assert err.value.path == "state[1]"


def test_override_of_every_cell_drops_the_template() -> None:
    spec = {
        "kind": "expr",
        "axes": [{"name": "age", "coords": ["y", "o"]}],
        "state": ["S[age]"],
        "equations": {
            "S[age]": "-mu[age] * S[age] * k",
            "S__age_y": "-S__age_y",
            "S__age_o": "-2 * S__age_o",
        },
    }
    c = compile_spec(spec)
    assert c.param_names == ()
    np.testing.assert_array_equal(c.eval_fn(0.0, [1.0, 3.0]), [-1.0, -6.0])


def test_unknown_top_level_key_warns_with_a_suggestion() -> None:
    spec = {
        "kind": "expr",
        "state": ["S"],
        "equations": {"S": "-S"},
        "equatons": {"S": "S"},
    }
    with pytest.warns(SpecWarning, match=r"'equatons' \(did you mean 'equations'\?\)"):
        normalize_rhs(spec)
    spec.pop("equatons")
    spec["description"] = "a descriptive key is fine"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normalize_rhs(spec)


# -- intentional differences (docs/compatibility.md) --------------------------------


def test_unbound_axis_in_a_binding_template_is_bound() -> None:
    """`Istrain[strain]: sum_over(age=a, I[age=a])` sums each strain's cells.

    0.1.2 leaves `strain` unbound there and turns `I__age_child` into a parameter.
    """
    spec = {
        "kind": "expr",
        "axes": [
            {"name": "age", "coords": ["child", "adult"]},
            {"name": "strain", "coords": ["a", "b"]},
        ],
        "state": ["I[age,strain]"],
        "aliases": {"Istrain[strain]": "sum_over(age=x, I[age=x])"},
        "equations": {"I[age,strain]": "-k * I[age,strain] + Istrain[strain]"},
    }
    c = compile_spec(spec)
    assert c.param_names == ("k",)
    y = np.array([1.0, 2.0, 3.0, 4.0])
    istrain = y.reshape(2, 2).sum(axis=0)
    np.testing.assert_allclose(c.eval_fn(0.0, y, k=0.5), -0.5 * y + np.tile(istrain, 2))


def test_coord_shift_rate_over_an_axis_the_states_lack_is_rejected() -> None:
    """0.1.2 adds one transition per coordinate of `reg` (summing the rate)."""
    spec = {
        "kind": "transitions",
        "axes": [
            {"name": "age", "coords": ["y", "o"]},
            {"name": "reg", "coords": ["n", "s"]},
        ],
        "state": ["S[age]"],
        "transitions": [
            {"coord_shift": {"age": "y -> o"}, "apply_to": ["S"], "rate": "nu[reg]"}
        ],
    }
    with pytest.raises(ExpressionError, match=r"'reg' in nu\[reg\] is not bound"):
        normalize_rhs(spec)
