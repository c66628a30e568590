"""Spec-language features beyond what op-system 0.1.2 could evaluate, checked against
hand-written NumPy right-hand sides (the examples of 0.1.2's README among them)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from op_system import compile_spec, normalize_rhs

AGE_VAX = [
    {"name": "age", "coords": ["child", "adult"]},
    {"name": "vax", "coords": ["u", "v"]},
]
STRAIN = {"name": "strain", "coords": ["wt", "var"]}


def _y(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(1.0, 10.0, n)


def test_readme_asymmetric_vax_expr_positional_sum_over() -> None:
    spec = {
        "kind": "expr",
        "axes": AGE_VAX,
        "state": ["S[age,vax]", "I[age,vax]", "R[age,vax]"],
        "aliases": {
            "lambda[age,vax]": "beta * (1 - ve[vax]) * sum_over(vax=j, I[age,j]) / sum_state()"
        },
        "equations": {
            "S[age,vax]": "-lambda[age,vax] * S[age,vax]",
            "I[age,vax]": "lambda[age,vax] * S[age,vax] - gamma[vax] * I[age,vax]",
            "R[age,vax]": "gamma[vax] * I[age,vax]",
        },
    }
    c = compile_spec(spec)
    assert c.state_names[:4] == (
        "S__age_child__vax_u",
        "S__age_child__vax_v",
        "S__age_adult__vax_u",
        "S__age_adult__vax_v",
    )
    assert c.param_names == (
        "beta",
        "gamma__vax_u",
        "gamma__vax_v",
        "ve__vax_u",
        "ve__vax_v",
    )
    y = _y(12)
    s, i, _ = y.reshape(3, 2, 2)
    ve, g = np.array([0.0, 0.6]), np.array([0.1, 0.2])
    lam = 0.3 * (1 - ve)[None, :] * i.sum(1)[:, None] / y.sum()
    want = np.concatenate(
        [(-lam * s).ravel(), (lam * s - g * i).ravel(), (g * i).ravel()]
    )
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, beta=0.3, ve=ve, gamma=g), want, rtol=1e-13
    )
    # the same through 0.1.2-style expanded scalar parameters
    scalars = {
        "beta": 0.3,
        "ve__vax_u": 0.0,
        "ve__vax_v": 0.6,
        "gamma__vax_u": 0.1,
        "gamma__vax_v": 0.2,
    }
    np.testing.assert_allclose(c.eval_fn(0.0, y, **scalars), want, rtol=1e-13)
    # keyword form with the missing axis filled from the template: I[vax=j]
    spec["aliases"] = {
        "lambda[age,vax]": "beta * (1 - ve[vax]) * sum_over(vax=j, I[vax=j]) / sum_state()"
    }
    np.testing.assert_allclose(
        compile_spec(spec).eval_fn(0.0, y, **scalars), want, rtol=1e-13
    )


def test_readme_asymmetric_vax_transitions_sum_over_in_rate() -> None:
    spec = {
        "kind": "transitions",
        "axes": AGE_VAX,
        "state": ["S[age,vax]", "I[age,vax]", "R[age,vax]"],
        "transitions": [
            {
                "from": "S[age,vax]",
                "to": "I[age,vax]",
                "rate": "beta * (1 - ve[vax]) * sum_over(vax=j, I[age,j]) / sum_state()",
            },
            {"from": "I[age,vax]", "to": "R[age,vax]", "rate": "gamma[vax]"},
        ],
    }
    y = _y(12, 1)
    s, i, _ = y.reshape(3, 2, 2)
    ve, g = np.array([0.2, 0.6]), np.array([0.1, 0.2])
    lam = 0.3 * (1 - ve)[None, :] * i.sum(1)[:, None] / y.sum()
    want = np.concatenate(
        [(-lam * s).ravel(), (lam * s - g * i).ravel(), (g * i).ravel()]
    )
    np.testing.assert_allclose(
        compile_spec(spec).eval_fn(0.0, y, beta=0.3, ve=ve, gamma=g), want, rtol=1e-13
    )


@pytest.mark.parametrize("kind", ["expr", "transitions"])
def test_readme_three_axes_strain(kind: str) -> None:
    axes = [*AGE_VAX, STRAIN]
    state = ["S[age,vax]", "I[age,vax,strain]", "R[age,vax]"]
    if kind == "expr":
        spec = {
            "kind": "expr",
            "axes": axes,
            "state": state,
            "aliases": {
                "foi[age,vax,strain]": "beta[strain] * I[age,vax,strain] / sum_state()"
            },
            "equations": {
                "S[age,vax]": "-sum_over(strain=s, foi[age,vax,s] * S[age,vax])",
                "I[age,vax,strain]": "foi[age,vax,strain] * S[age,vax] - gamma[strain] * I[age,vax,strain]",
                # `strain` inside a sum over strain means the loop variable
                "R[age,vax]": "sum_over(strain=s, gamma[strain] * I[age,vax,s])",
            },
        }
    else:
        spec = {
            "kind": "transitions",
            "axes": axes,
            "state": state,
            "transitions": [
                {
                    "from": "S[age,vax]",
                    "to": "I[age,vax,strain]",
                    "rate": "beta[strain] * I[age,vax,strain] / sum_state()",
                },
                {
                    "from": "I[age,vax,strain]",
                    "to": "R[age,vax]",
                    "rate": "gamma[strain]",
                },
            ],
        }
    c = compile_spec(spec)
    assert len(c.state_names) == 16
    y = _y(16, 2)
    s, i, _ = y[:4].reshape(2, 2), y[4:12].reshape(2, 2, 2), y[12:]
    b, g = np.array([0.3, 0.5]), np.array([0.1, 0.2])
    foi = b * i / y.sum()
    want = np.concatenate(
        [
            (-(foi * s[..., None]).sum(-1)).ravel(),
            (foi * s[..., None] - g * i).ravel(),
            (g * i).sum(-1).ravel(),
        ]
    )
    np.testing.assert_allclose(c.eval_fn(0.0, y, beta=b, gamma=g), want, rtol=1e-13)


def test_readme_subgroup_axis_with_literal_coordinates() -> None:
    spec = {
        "kind": "transitions",
        "axes": [
            {"name": "age", "coords": ["u65", "o65"]},
            {"name": "vax", "coords": ["u", "v"]},
        ],
        "state": ["S_u65", "I_u65", "R_u65", "S_o65[vax]", "I_o65[vax]", "R_o65[vax]"],
        "aliases": {"I_total": "sum_prefix('I_')"},
        "transitions": [
            {
                "from": "S_u65",
                "to": "I_u65",
                "rate": "beta_u65 * I_total / sum_state()",
            },
            {"from": "I_u65", "to": "R_u65", "rate": "gamma_u65"},
            {
                "from": "S_o65[vax]",
                "to": "I_o65[vax]",
                "rate": "beta_o65[vax] * I_total / sum_state()",
            },
            {"from": "I_o65[vax]", "to": "R_o65[vax]", "rate": "gamma_o65[vax]"},
            {"from": "S_o65[u]", "to": "S_o65[v]", "rate": "vax_rate_o65"},
        ],
    }
    c = compile_spec(spec)
    y = _y(9, 3)
    p = {
        "beta_u65": 0.3,
        "gamma_u65": 0.1,
        "beta_o65": np.array([0.4, 0.2]),
        "gamma_o65": np.array([0.1, 0.15]),
        "vax_rate_o65": 0.05,
    }
    su, iu, _ru, so, io, _ro = y[0], y[1], y[2], y[3:5], y[5:7], y[7:9]
    itot = iu + io.sum()
    inf_u = p["beta_u65"] * itot / y.sum() * su
    inf_o = p["beta_o65"] * itot / y.sum() * so
    vac = p["vax_rate_o65"] * so[0]
    want = np.concatenate(
        [
            [-inf_u, inf_u - 0.1 * iu, 0.1 * iu],
            -inf_o + np.array([-vac, vac]),
            inf_o - p["gamma_o65"] * io,
            p["gamma_o65"] * io,
        ]
    )
    np.testing.assert_allclose(c.eval_fn(0.0, y, **p), want, rtol=1e-13)
    vax_flows = [t for t in c.meta["transitions"] if t["rate"] == "vax_rate_o65"]
    assert [(t["from"], t["to"]) for t in vax_flows] == [
        ("S_o65__vax_u", "S_o65__vax_v")
    ]


def test_readme_expr_chain_with_base_state() -> None:
    spec = {
        "kind": "expr",
        "state": ["S", "I", "R"],
        "chain": [
            {
                "name": "I",
                "length": 3,
                "forward": ["g12", "g23"],
                "exit": {"to": "R", "rate": "g3r"},
            }
        ],
        "equations": {"S": "-beta * S * I1 / sum_state()", "R": "g3r * I3"},
    }
    c = compile_spec(spec)
    assert c.state_names == ("S", "I", "R", "I1", "I2", "I3")
    y = np.array([10.0, 0.0, 0.0, 1.0, 2.0, 3.0])
    out = c.eval_fn(0.0, y, beta=0.5, g12=0.1, g23=0.2, g3r=0.3)
    want = [-0.5 * 10 * 1 / 16, 0.0, 0.9, -0.1, 0.1 - 0.4, 0.4 - 0.9]
    np.testing.assert_allclose(out, want, rtol=1e-13)
    assert normalize_rhs(spec).equations[4] == "(g12)*I1 - (g23)*I2"


@pytest.mark.parametrize("length", [2, 3, 50])
def test_vectorized_chain_equals_scalar_transitions(length: int) -> None:
    chain = {
        "kind": "transitions",
        "state": ["S", "R"],
        "chain": [
            {
                "name": "E",
                "length": length,
                "entry": {"from": "S", "rate": "beta * sum_prefix('E') / sum_state()"},
                "forward": "sigma",
                "exit": {"to": "R"},
            }
        ],
        "transitions": [],
    }
    stages = [f"E{i}" for i in range(1, length + 1)]
    explicit = {
        "kind": "transitions",
        "state": ["S", "R", *stages],
        "transitions": [
            {"from": "S", "to": "E1", "rate": "beta * sum_prefix('E') / sum_state()"},
            *(
                {"from": a, "to": b, "rate": "sigma"}
                for a, b in itertools.pairwise(stages)
            ),
            {"from": stages[-1], "to": "R", "rate": "sigma"},
        ],
    }
    a, b = compile_spec(chain), compile_spec(explicit)
    assert a.state_names == b.state_names
    y = _y(length + 2, 4)
    np.testing.assert_allclose(
        a.eval_fn(0.0, y, beta=0.4, sigma=0.3),
        b.eval_fn(0.0, y, beta=0.4, sigma=0.3),
        rtol=1e-13,
    )
    assert "for" not in a.source
    assert a.source.count("\n") < 30


def test_chain_with_per_stage_rates_and_override() -> None:
    spec = {
        "kind": "expr",
        "state": ["S"],
        "chain": [{"name": "I", "length": 3, "forward": ["a", "b"]}],
        "equations": {"S": "-S", "I2": "7 * I1"},
    }
    c = compile_spec(spec)
    y = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, a=0.1, b=0.2),
        [-1.0, -0.2, 14.0, 0.2 * 3 - 0.2 * 4],
        rtol=1e-13,
    )


def test_contact_matrix_as_one_array_and_as_scalars() -> None:
    n = 3
    coords = ["a", "b", "c"]
    spec = {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": coords}],
        "state": ["S[age]", "I[age]", "R[age]"],
        "aliases": {
            "N[age]": "S[age] + I[age] + R[age]",
            "foi[age]": "beta * sum_over(age=j, C[age, age=j] * I[age=j] / N[age=j])",
        },
        "transitions": [
            {"from": "S[age]", "to": "I[age]", "rate": "foi[age]"},
            {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
        ],
    }
    c = compile_spec(spec)
    assert "C__age_a__age_c" in c.param_names
    y = _y(3 * n, 5)
    cm = np.random.default_rng(6).uniform(0, 2, (n, n))
    s, i, r = y.reshape(3, n)
    foi = 0.2 * cm @ (i / (s + i + r))
    want = np.concatenate([-foi * s, foi * s - 0.1 * i, 0.1 * i])
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, beta=0.2, gamma=0.1, C=cm), want, rtol=1e-13
    )
    scalars = {
        f"C__age_{a}__age_{b}": cm[k, m]
        for k, a in enumerate(coords)
        for m, b in enumerate(coords)
    }
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, beta=0.2, gamma=0.1, **scalars), want, rtol=1e-13
    )
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, beta=0.2, gamma=0.1, C=cm.tolist()), want, rtol=1e-13
    )
    assert "_matmul" in c.source  # sum_over of matrix x vector is a matrix product


def test_nested_sum_over_and_in_filter() -> None:
    spec = {
        "kind": "expr",
        "axes": AGE_VAX,
        "state": ["X[age,vax]", "tot", "part"],
        "equations": {
            "X[age,vax]": "0.0",
            "tot": "sum_over(age=a, sum_over(vax=v, X[a, v] * w[vax=v]))",
            "part": "sum_over(vax=v IN [v], X[age=adult, vax=v])",
        },
    }
    c = compile_spec(spec)
    y = _y(6, 7)
    x = y[:4].reshape(2, 2)
    w = np.array([2.0, 3.0])
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, w=w), [0, 0, 0, 0, (x * w).sum(), x[1, 1]], rtol=1e-13, atol=0
    )


def test_coord_shift_vectorized_matches_explicit() -> None:
    axes = [
        {"name": "age", "coords": ["y", "o"]},
        {"name": "vax", "coords": ["u", "v", "w"]},
    ]
    base = {"kind": "transitions", "axes": axes, "state": ["S[age,vax]", "R[age,vax]"]}
    shifted = {
        **base,
        "transitions": [
            {"from": "S[age,vax]", "to": "R[age,vax]", "rate": "gamma[age]"},
            {
                "coord_shift": {"vax": "u -> v"},
                "apply_to": ["S", "R"],
                "rate": "nu[age]",
            },
        ],
    }
    explicit = {
        **base,
        "transitions": [
            {"from": "S[age,vax]", "to": "R[age,vax]", "rate": "gamma[age]"},
            {"from": "S[age,vax=u]", "to": "S[age,vax=v]", "rate": "nu[age]"},
            {"from": "R[age,vax=u]", "to": "R[age,vax=v]", "rate": "nu[age]"},
        ],
    }
    y = _y(12, 8)
    p = {"gamma": np.array([0.1, 0.2]), "nu": np.array([0.01, 0.05])}
    got = compile_spec(shifted).eval_fn(0.0, y, **p)
    np.testing.assert_allclose(
        got, compile_spec(explicit).eval_fn(0.0, y, **p), rtol=1e-13
    )
    s = y[:6].reshape(2, 3)
    ds = -p["gamma"][:, None] * s
    ds[:, 0] -= p["nu"] * s[:, 0]
    ds[:, 1] += p["nu"] * s[:, 0]
    np.testing.assert_allclose(got[:6], ds.ravel(), rtol=1e-13)


@pytest.mark.parametrize(
    ("form", "params", "fn"),
    [
        (
            "gaussian",
            {"scale": 2.0, "sigma": 0.5},
            lambda d: 2.0 * np.exp(-(d**2) / 0.5),
        ),
        (
            "exponential",
            {"scale": 1.5, "lambda": 0.7},
            lambda d: 1.5 * np.exp(-d / 0.7),
        ),
        (
            "erfc",
            {"scale": 1.0, "sigma": 2.0},
            lambda d: np.array([math.erfc(v / 2.0) for v in d.ravel()]).reshape(
                d.shape
            ),
        ),
        (
            "gamma",
            {"scale": 1.0, "k": 2.0, "theta": 1.5},
            lambda d: (
                (np.clip(d, 1e-12, None) / 1.5) * np.exp(-np.clip(d, 1e-12, None) / 1.5)
            ),
        ),
        (
            "power_law",
            {"scale": 0.5, "sigma": 1.0, "p": 2.0},
            lambda d: 0.5 * (1 + d) ** -2.0,
        ),
    ],
)
def test_kernels_in_integrate_over(form: str, params: dict, fn) -> None:
    spec = {
        "kind": "expr",
        "axes": [{"name": "x", "type": "continuous", "coords": [0.0, 1.0, 3.0, 4.0]}],
        "state": ["u[x]"],
        "state_axes": {"u": ["x"]},
        "kernels": [{"name": "K", "axes": ["x"], "form": form, "params": params}],
        "equations": {"u[x]": "integrate_over(x=xi, K[x, xi] * u[xi]) - decay * u[x]"},
    }
    c = compile_spec(spec)
    assert c.param_names == ("decay",)
    xs = np.array([0.0, 1.0, 3.0, 4.0])
    w = np.array([0.5, 1.5, 1.5, 0.5])
    y = _y(4, 9)
    kmat = fn(np.abs(xs[:, None] - xs[None, :]))
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, decay=0.2), (kmat * w * y).sum(1) - 0.2 * y, rtol=1e-12
    )


def test_custom_value_kernel_matrix() -> None:
    spec = {
        "kind": "expr",
        "axes": [{"name": "g", "coords": ["a", "b"]}],
        "state": ["u[g]"],
        "kernels": [
            {"name": "M", "axes": ["g", "g"], "value": [[1.0, 2.0], [3.0, 4.0]]}
        ],
        "equations": {"u[g]": "sum_over(g=h, M[g, g=h] * u[g=h])"},
    }
    y = np.array([1.0, 10.0])
    np.testing.assert_allclose(compile_spec(spec).eval_fn(0.0, y), [21.0, 43.0])


def test_readme_continuous_axis_example() -> None:
    spec = {
        "kind": "expr",
        "axes": [
            {
                "name": "x",
                "type": "continuous",
                "domain": {"lb": 0.0, "ub": 10.0},
                "size": 5,
                "spacing": "linear",
            }
        ],
        "state": ["u[x]"],
        "state_axes": {"u": ["x"]},
        "kernels": [
            {
                "name": "K",
                "axes": ["x"],
                "form": "gaussian",
                "params": {"scale": 1.0, "sigma": 0.5},
            }
        ],
        "equations": {"u[x]": "integrate_over(x=xi, K[xi] * u[xi]) - decay * u[x]"},
    }
    c = compile_spec(spec)
    xs = np.linspace(0, 10, 5)
    w = np.array([1.25, 2.5, 2.5, 2.5, 1.25])
    y = _y(5, 10)
    kv = np.exp(-(xs**2) / 0.5)
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, decay=0.1), (w * kv * y).sum() - 0.1 * y, rtol=1e-13
    )


def test_conditionals_and_boolean_values() -> None:
    spec = {
        "kind": "expr",
        "state": ["x", "y"],
        "equations": {
            "x": "a if x > 1 and not y > 5 else b",
            "y": "(x > 0) * 2 + (y or 3) + (0 and x)",
        },
    }
    c = compile_spec(spec)
    np.testing.assert_allclose(
        c.eval_fn(0.0, [2.0, 1.0], a=1.5, b=-1.0), [1.5, 2 + 1 + 0]
    )
    np.testing.assert_allclose(
        c.eval_fn(0.0, [0.5, 0.0], a=1.5, b=-1.0), [-1.0, 2 + 3 + 0]
    )


def test_same_base_with_several_index_signatures_is_several_parameters() -> None:
    """As in 0.1.2: `k`, `k[age]` and `k[vax]` are distinct parameters (expanded names)."""
    a = {"name": "age", "coords": ["y", "o"]}
    v = {"name": "vax", "coords": ["u", "v"]}
    c = compile_spec(
        {
            "axes": [a],
            "state": ["S[age]"],
            "equations": {"S[age]": "-k[age]*S[age] - k*S[age]"},
        }
    )
    assert c.param_names == ("k", "k__age_o", "k__age_y")
    np.testing.assert_allclose(
        c.eval_fn(0.0, [1.0, 1.0], k=0.5, k__age_y=1.0, k__age_o=2.0), [-1.5, -2.5]
    )
    c = compile_spec(
        {
            "axes": [a, v],
            "state": ["S[age,vax]"],
            "equations": {"S[age,vax]": "-k[age]*k[vax]*S[age,vax]"},
        }
    )
    assert c.param_names == ("k__age_o", "k__age_y", "k__vax_u", "k__vax_v")
    out = c.eval_fn(
        0.0, [1.0] * 4, k__age_y=1.0, k__age_o=2.0, k__vax_u=3.0, k__vax_v=4.0
    )
    np.testing.assert_allclose(out, [-3.0, -4.0, -6.0, -8.0])


def test_diagonal_index_reads_only_the_diagonal() -> None:
    a = {"name": "age", "coords": ["y", "o"]}
    c = compile_spec(
        {
            "axes": [a],
            "state": ["S[age]"],
            "equations": {"S[age]": "-C[age,age]*S[age]"},
        }
    )
    assert c.param_names == ("C__age_o__age_o", "C__age_y__age_y")
    np.testing.assert_allclose(
        c.eval_fn(0.0, [1.0, 2.0], C__age_y__age_y=2.0, C__age_o__age_o=3.0),
        [-2.0, -6.0],
    )
    np.testing.assert_allclose(
        c.eval_fn(0.0, [1.0, 2.0], C=np.array([[2.0, 9.0], [9.0, 3.0]])), [-2.0, -6.0]
    )


def test_flow_to_a_fixed_coordinate_stays_in_its_cell() -> None:
    """A non-finite flow into `I[age=o]` must not turn the other cells into NaN."""
    spec = {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ["y", "o"]}],
        "state": ["S[age]", "I[age]"],
        "transitions": [{"from": "S[age=y]", "to": "I[age=o]", "rate": "k"}],
    }
    c = compile_spec(spec)
    with np.errstate(all="ignore"):
        out = c.eval_fn(0.0, [np.inf, 1.0, 2.0, 3.0], k=1.0)
    assert out[1] == 0.0  # S[o]
    assert out[2] == 0.0  # I[y]
    assert out[3] == np.inf
    np.testing.assert_allclose(
        c.eval_fn(0.0, [4.0, 1.0, 2.0, 3.0], k=0.5), [-2.0, 0.0, 0.0, 2.0]
    )
