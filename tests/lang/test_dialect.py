"""The two spec languages: which one a spec is read in (`_spec/dialect.py`), and
0.9.0's spellings parsed into the same IR as 0.1.2's.

0.9.0's numbers themselves are checked against the real 0.9.0 in
`tests/compat09/` (its recorded specs and probes).
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.compat09.survey import has_apply_along, has_selector
from tests.differential.generate import generate_cases
from tests.parity.cases import CASES

from op_system import compile_spec
from op_system._lang.ir import Invalid, walk
from op_system._lang.parse import parse_expr
from op_system._spec.dialect import spec_dialect
from op_system._support.errors import (
    ExpressionError,
    SpecError,
    SpecWarning,
    UnsupportedFeatureError,
)

REFS = json.loads((Path(__file__).parents[1] / "compat09" / "refs.json").read_text())[
    "specs"
]


def test_0_1_2_specs_are_read_as_0_1_2s() -> None:
    specs = [c["spec"] for c in CASES] + [
        c["spec"] for c in generate_cases(200, seed=4)
    ]
    assert all(spec_dialect(s) == "0.1" for s in specs if isinstance(s, dict))


def test_0_9_0_spellings_mark_0_9_0_specs() -> None:
    marked = [
        s["spec"] for s in REFS if has_selector(s["spec"]) or has_apply_along(s["spec"])
    ]
    assert len(marked) > 100
    assert all(spec_dialect(s) == "0.9" for s in marked)


@pytest.mark.parametrize(
    ("value", "dialect"),
    [("0.9", "0.9"), ("0.9.0", "0.9"), ("0.1", "0.1"), ("0.1.2", "0.1")],
)
def test_the_dialect_key_decides(value: str, dialect: str) -> None:
    # an expression with a 0.9.0 spelling does not overrule the key
    spec = {"state": ["S"], "equations": {"S": "-k * S"}, "dialect": value}
    assert spec_dialect(spec) == dialect


def test_a_bad_dialect_names_the_choices() -> None:
    with pytest.raises(SpecError, match=r"dialect must be one of .*did you mean '0.9'"):
        spec_dialect({"state": ["S"], "dialect": "0.99"})


@pytest.mark.parametrize(
    ("new", "old"),
    [
        ("I[age:j]", "I[age=j]"),
        ("C[age, age:a] * I[age:a]", "C[age, age=a] * I[age=a]"),
        ("sum_over(I[age:j] * k, age=j)", "sum_over(age=j, I[age=j] * k)"),
        ("integrate_over(u[x:i], x=i)", "integrate_over(x=i, u[x=i])"),
        ("apply_along(u[x:i], x=i, kernel=sum)", "sum_over(x=i, u[x=i])"),
        ("apply_along(u[x:i], x=i, kernel=integrate)", "integrate_over(x=i, u[x=i])"),
        (
            "sum_over(W[a:i, v:j] * I[a:i, v:j], a=i, v=j)",
            "sum_over(a=i, sum_over(v=j, W[a=i, v=j] * I[a=i, v=j]))",
        ),
    ],
)
def test_0_9_0_spellings_parse_as_their_0_1_2_equivalents(new: str, old: str) -> None:
    assert parse_expr(new, dialect="0.9") == parse_expr(old)


def test_apply_along_without_a_kernel_is_decided_by_the_axis() -> None:
    node = parse_expr("apply_along(u[x:i], x=i)", dialect="0.9")
    assert node.kind == "apply_along"  # type: ignore[union-attr]
    spec: dict[str, Any] = {
        "axes": [{"name": "x", "coords": ["p", "q", "r"]}],
        "state": ["u[x]"],
        "equations": {"u[x]": "apply_along(u[x:i], x=i)"},
    }
    y = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(compile_spec(spec).eval_fn(0.0, y), [7.0] * 3)
    cont = copy.deepcopy(spec)
    cont["axes"] = [{"name": "x", "type": "continuous", "coords": [0.0, 1.0, 3.0]}]
    want = compile_spec(
        {**cont, "equations": {"u[x]": "integrate_over(x=i, u[x=i])"}}
    ).eval_fn(0.0, y)
    np.testing.assert_allclose(compile_spec(cont).eval_fn(0.0, y), want)


@pytest.mark.parametrize(
    "text",
    [
        "apply_along(u[x:i], x=i, kernel=mean)",
        "sum_over(I[age:j])",
        "sum_over(I[age:j], I[age:j], age=j)",
    ],
)
def test_0_9_0_reductions_we_cannot_read_are_refused(text: str) -> None:
    node = parse_expr(text, dialect="0.9")
    assert any(isinstance(n, Invalid) for n in walk(node))


def test_0_9_0_spellings_are_errors_in_0_1_2s_language() -> None:
    with pytest.raises(ExpressionError, match="slices are not supported"):
        parse_expr("I[age:j]")
    assert isinstance(parse_expr("apply_along(u[x=i], x=i)"), Invalid)
    spec = {
        "dialect": "0.1",
        "axes": [{"name": "age", "coords": ["a", "b"]}],
        "state": ["I[age]"],
        "equations": {"I[age]": "sum_over(I[age:j], age=j)"},
    }
    with pytest.raises(ExpressionError):
        compile_spec(spec)


def test_a_source_may_leave_from_out_in_0_9_0s_language() -> None:
    spec: dict[str, Any] = {
        "kind": "transitions",
        "state": ["S", "I"],
        "transitions": [
            {"to": "S", "rate": "mu"},
            {"from": "S", "to": "I", "rate": "b*S"},
        ],
    }
    assert spec_dialect(spec) == "0.9"
    with pytest.raises(SpecError, match=r"leave it out in op-system 0\.9.s language"):
        compile_spec({**spec, "dialect": "0.1"})
    nulled = copy.deepcopy(spec)
    nulled["transitions"][0]["from"] = None
    want = compile_spec(nulled).eval_fn(0.0, np.array([1.0, 2.0]), mu=0.5, b=0.1)
    got = compile_spec(spec).eval_fn(0.0, np.array([1.0, 2.0]), mu=0.5, b=0.1)
    np.testing.assert_allclose(got, want)


def test_the_rules_that_differ_follow_the_spec_language() -> None:
    pinned = {
        "dialect": "0.9",
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ["a0", "a1"]}],
        "state": ["N[age]"],
        "transitions": [{"from": None, "to": "N[age=a0]", "rate": "B[age]*2"}],
    }
    B = np.array([0.1, 0.2])
    y = np.array([1.0, 2.0])
    # 0.9.0's: the rate read at the cell `to` pins; 0.1.2's: the flow summed over age
    np.testing.assert_allclose(compile_spec(pinned).eval_fn(0.0, y, B=B), [0.2, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summed = compile_spec({**pinned, "dialect": "0.1"})
    np.testing.assert_allclose(summed.eval_fn(0.0, y, B=B), [0.6, 0])
    moved = {**pinned, "state": ["N[age]", "M"]}
    moved["transitions"] = [{"from": "N[age=a1]", "to": "M", "rate": "B[age]"}]
    np.testing.assert_allclose(
        compile_spec(moved).eval_fn(0.0, [*y.tolist(), 0], B=B), [0, -0.4, 0.4]
    )
    nowhere = {**moved, "state": ["N[age]", "M", "K"]}
    nowhere["transitions"] = [{"from": "M", "to": "K", "rate": "B[age]"}]
    with pytest.raises(
        UnsupportedFeatureError, match="neither from nor to ranges over or pins"
    ):
        compile_spec(nowhere)
    kernel = {
        "dialect": "0.9",
        "axes": [{"name": "x", "type": "continuous", "coords": [0.0, 1.0, 2.0]}],
        "kernels": [
            {
                "name": "K",
                "axes": ["x"],
                "form": "gaussian",
                "params": {"scale": 1.0, "sigma": 0.5},
            }
        ],
        "state": ["u[x]"],
        "equations": {"u[x]": "K[x] * u[x]"},
    }
    y = np.array([1.0, 2.0, 3.0])
    ours = compile_spec({**kernel, "dialect": "0.1"})  # 0.1.2's: the spec's kernel
    gauss = np.exp(-(np.array([0.0, 1.0, 2.0]) ** 2) / (2 * 0.5**2))
    np.testing.assert_allclose(ours.eval_fn(0.0, y), gauss * y, rtol=1e-14)
    theirs = compile_spec(kernel)  # 0.9.0's: an array passed at each call
    with pytest.raises(ValueError, match="missing parameter"):
        theirs.eval_fn(0.0, y)
    got = theirs.eval_fn(0.0, y, K=np.array([1.0, 2.0, 4.0]))
    np.testing.assert_allclose(got, [1.0, 4.0, 12.0], rtol=1e-14)


def test_an_ordinal_axis_is_read_as_categorical_in_order() -> None:
    spec: dict[str, Any] = {
        "axes": [{"name": "age", "type": "ordinal", "coords": ["a0", "a1", "a2"]}],
        "state": ["I[age]"],
        "equations": {"I[age]": "-k[age] * I[age] + sum_over(I[age:j], age=j)"},
    }
    assert spec_dialect({k: v for k, v in spec.items() if k != "equations"}) == "0.9"
    y, k = np.array([1.0, 2.0, 4.0]), np.array([0.1, 0.2, 0.3])
    ordinal = compile_spec(spec)
    categorical = compile_spec(
        {**spec, "axes": [{"name": "age", "coords": ["a0", "a1", "a2"]}]}
    )
    np.testing.assert_allclose(
        ordinal.eval_fn(0.0, y, k=k), categorical.eval_fn(0.0, y, k=k)
    )
    assert ordinal.meta["axes"][0]["type"] == "ordinal"
    with pytest.raises(SpecError, match="did you mean 'ordinal'"):
        compile_spec(
            {**spec, "axes": [{"name": "age", "type": "ordinl", "coords": ["a"]}]}
        )


@pytest.mark.parametrize("interpolation", ["linear", "previous"])
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_a_time_axis_of_one_point_is_a_constant_table(
    interpolation: str, backend: str
) -> None:
    spec: dict[str, Any] = {
        "time_axis": "day",
        "axes": [{"name": "day", "type": "continuous", "coords": [1.0]}],
        "state": ["A", "B"],
        "equations": {"A": "-rate[day] * A", "B": "rate[day] * A"},
        "time_interpolation": interpolation,
    }
    assert spec_dialect(spec) == "0.9"
    xp = pytest.importorskip("jax.numpy") if backend == "jax" else np
    m = compile_spec(spec, xp=xp)
    y = np.array([2.0, 1.0])
    for t in (-3.0, 1.0, 7.5):
        got = np.asarray(m.eval_fn(t, xp.asarray(y), rate=xp.asarray([0.25])))
        np.testing.assert_allclose(got, [-0.5, 0.5], rtol=1e-6)
    with pytest.raises(SpecError, match=">=2 coords"):
        compile_spec({**spec, "dialect": "0.1"})  # 0.1.2's language: two at least
    other = copy.deepcopy(spec)
    other["axes"].append({"name": "x", "type": "continuous", "coords": [0.0]})
    with pytest.raises(SpecError, match=">=2 coords"):
        compile_spec(other)  # only the time axis may be one point


def _observed(observables: dict[str, Any]) -> dict[str, Any]:
    return {
        "axes": [
            {"name": "age", "coords": ["y", "o"]},
            {"name": "r", "coords": ["n", "s"]},
        ],
        "state": ["I[age, r]"],
        "equations": {"I[age, r]": "-g * I[age, r]"},
        "observables": observables,
    }


def test_observables_as_mappings_sum_over_their_reduced_axes() -> None:
    spec = _observed(
        {
            "by_age": {
                "expr": "rho * I[age, r]",
                "axes": ["age"],
                "reduction": {"kind": "sum", "axes": ["r"]},
            },
            "total": {
                "expr": "I[age, r]",
                "reduction": {"kind": "sum", "axes": ["age", "r"]},
            },
            "cell": {"expr": "I[age:o, r:s]"},
        }
    )
    assert spec_dialect(spec) == "0.9"
    m = compile_spec(spec)
    y = np.array([1.0, 2.0, 3.0, 5.0])
    got = m.observables(0.0, y, g=0.1, rho=0.5)
    assert list(m.observable_names) == [
        "by_age__age_y",
        "by_age__age_o",
        "total",
        "cell",
    ]
    np.testing.assert_allclose(got, [1.5, 4.0, 11.0, 5.0])


@pytest.mark.parametrize(
    ("entry", "error", "match"),
    [
        (
            # 0.9.0's own refusal comes first: the axis declares no measure
            {"expr": "I[age, r]", "reduction": {"kind": "integral", "axes": ["r"]}},
            SpecError,
            "requires an explicit measure on 'r'",
        ),
        (
            {"expr": "I[age, r]", "reduction": {"kind": "mean", "axes": ["r"]}},
            SpecError,
            "'sum' or 'integral'",
        ),
        (
            {
                "expr": "I[age, r]",
                "axes": ["age"],
                "reduction": {"kind": "sum", "axes": ["age"]},
            },
            SpecError,
            "not in",
        ),
        ({"expr": "I[age, r]", "axis": ["age"]}, SpecError, "unknown field"),
        ({"expr": "I[age, r]", "axes": ["ag"]}, SpecError, "did you mean 'age'"),
        ({"axes": ["age"]}, SpecError, "expr must be an expression"),
    ],
)
def test_bad_observable_mappings_are_refused(
    entry: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        compile_spec(_observed({"o": entry}))


def test_observable_units_are_not_dropped_silently() -> None:
    with pytest.warns(UserWarning, match="units of an observable are not kept yet"):
        compile_spec(_observed({"o": {"expr": "I[age:y, r:n]", "units": "people"}}))


def test_filtered_bindings_follow_the_axis_type() -> None:
    """A set of a categorical axis, an inclusive range of an ordinal one (0.9.0's
    probes check the numbers); a continuous one is refused until built."""
    node = parse_expr("sum_over(I[age:j], age=j in [a0, a2])", dialect="0.9")
    assert node == parse_expr("sum_over(age=j IN [a0, a2], I[age=j])")
    spec: dict[str, Any] = {
        "axes": [{"name": "age", "coords": ["a0", "a1", "a2"]}],
        "state": ["I[age]"],
        "equations": {"I[age]": "apply_along(I[age:j], age=j in [a0, a2])"},
    }
    y = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(compile_spec(spec).eval_fn(0.0, y), [5.0] * 3)
    ordinal = copy.deepcopy(spec)
    ordinal["axes"][0]["type"] = "ordinal"
    np.testing.assert_allclose(compile_spec(ordinal).eval_fn(0.0, y), [7.0] * 3)
    backwards = copy.deepcopy(ordinal)
    backwards["equations"]["I[age]"] = "apply_along(I[age:j], age=j in [a2, a0])"
    with pytest.raises(SpecError, match="is a range"):
        compile_spec(backwards)
    cont = {
        "axes": [{"name": "x", "type": "continuous", "coords": [0.0, 1.0, 3.0]}],
        "state": ["u[x]"],
        "equations": {"u[x]": "apply_along(u[x:i], x=i in [0.5, 4.0])"},
    }
    # the coordinates in [0.5, 4]: 1 and 3, with their own trapezoid weights (1, 1)
    np.testing.assert_allclose(compile_spec(cont).eval_fn(0.0, y), [6.0] * 3)
    for bad, match in [
        ("[0.0, 1.0, 3.0]", "2-element"),
        ("[3.0, 1.0]", "lo <= hi"),
        ("[1.5, 2.5]", "selects no coordinate"),
    ]:
        cont["equations"]["u[x]"] = f"apply_along(u[x:i], x=i in {bad})"
        with pytest.raises(SpecError, match=match):
            compile_spec(cont)


def _compile_quietly(spec: dict[str, Any]) -> Any:
    """Compiled, whatever is said of the metadata it carries (kept or dropped)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecWarning)
        return compile_spec(spec)


def _density(
    measure: dict[str, Any] | None, metadata: dict[str, Any] | None
) -> dict[str, Any]:
    axis: dict[str, Any] = {
        "name": "x",
        "type": "continuous",
        "coords": [0.0, 1.0, 3.0],
    }
    if measure is not None:
        axis["measure"] = measure
    spec: dict[str, Any] = {
        "kind": "expr",
        "axes": [axis],
        "state": ["u[x]"],
        "equations": {"u[x]": "-u[x]"},
        "observables": {
            "mass": {
                "expr": "g * u[x]",
                "reduction": {"kind": "integral", "axes": ["x"]},
            }
        },
    }
    if metadata is not None:
        spec["state_metadata"] = {"u": metadata}
    return spec


@pytest.mark.parametrize(
    ("measure", "weights"),
    [
        ({"kind": "cell", "weights": [1.0, 10.0, 100.0]}, [1.0, 10.0, 100.0]),
        ({"kind": "quadrature", "weights": [0.5, 2, 1.5]}, [0.5, 2.0, 1.5]),
    ],
)
def test_an_observable_integral_weighs_by_the_axis_measure(
    measure: dict[str, Any], weights: list[float]
) -> None:
    m = _compile_quietly(
        _density(measure, {"representation": "density", "measure_axes": ["x"]})
    )
    y = np.array([1.0, 2.0, 3.0])
    want = 0.5 * float(np.dot(weights, y))
    np.testing.assert_allclose(m.observables(0.0, y, g=0.5), [want], rtol=1e-14)


@pytest.mark.parametrize(
    ("measure", "metadata", "match"),
    [
        (
            None,
            {"representation": "density", "measure_axes": ["x"]},
            "explicit measure",
        ),
        ({"kind": "cell", "weights": [1, 2]}, {"representation": "density"}, "count"),
        (
            {"kind": "cell", "weights": [1, 2, 3]},
            {"representation": "cell_mass"},
            "intensive",
        ),
        ({"kind": "cell", "weights": [1, 2, 3]}, None, "intensive metadata for 'u'"),
        (
            {"kind": "cell", "weights": [1, 2, 3]},
            {"representation": "density"},
            "disagree",
        ),
        (
            {"kind": "cell", "weights": [1, 2, 3]},
            {"representation": "density", "measure_axes": []},
            "inconsistent physical axes",
        ),
        (
            {"kind": "counting", "weights": [1, 2, 3]},
            {"representation": "density", "measure_axes": []},
            "omit weights",
        ),
        (
            {"kind": "cell", "weights": [1, -2, 3]},
            {"representation": "density", "measure_axes": ["x"]},
            "finite and positive",
        ),
    ],
)
def test_an_observable_integral_is_refused_as_0_9_0_refuses_it(
    measure: dict[str, Any] | None, metadata: dict[str, Any] | None, match: str
) -> None:
    with pytest.raises(SpecError, match=match):
        _compile_quietly(_density(measure, metadata))


def test_an_observable_may_be_named_like_a_state() -> None:
    spec = {
        "kind": "expr",
        "state": ["x", "z"],
        "equations": {"x": "-a*x", "z": "a*x"},
        "observables": {"total": {"expr": "x+z"}, "x": {"expr": "2*x"}},
    }
    m = compile_spec(spec)
    assert m.observable_names == ("total", "x")
    np.testing.assert_allclose(m.observables(0.0, np.array([1.0, 2.0]), a=0.5), [3, 2])
    spec["observables"] = {"x": "2*x"}  # our form: one namespace with the states
    with pytest.raises(SpecError, match="already the name of a state"):
        compile_spec(spec)


def test_0_1_2s_spelling_in_a_spec_read_as_0_9_0s_says_why() -> None:
    spec: dict[str, Any] = {
        "axes": [{"name": "age", "type": "ordinal", "coords": ["a", "b"]}],
        "state": ["I[age]"],
        "equations": {"I[age]": "-sum_over(age=j, I[age=j])"},
    }
    with pytest.raises(ExpressionError, match="because axes\\[0\\] is ordinal") as info:
        compile_spec(spec)
    assert info.value.path == "equations['I[age]']"
    assert "sum_over(body, age=...)" in str(info.value)
    y = np.array([1.0, 2.0])
    np.testing.assert_allclose(
        compile_spec({**spec, "dialect": "0.1"}).eval_fn(0.0, y), [-3.0, -3.0]
    )


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        (
            {
                "kind": "transitions",
                "axes": [{"name": "age", "type": "ordinal", "coords": ["a", "b"]}],
                "state": ["N[age]"],
                "transitions": [{"to": "N[age=a]", "rate": "B[age]"}],
            },
            "reads axis 'age' at the coordinate 'a'",
        ),
        (
            {
                "axes": [{"name": "x", "type": "ordinal", "coords": ["p", "q"]}],
                "kernels": [{"name": "K", "axes": ["x"], "value": [1.0, 2.0]}],
                "state": ["u[x]"],
                "equations": {"u[x]": "K[x] * u[x]"},
            },
            "kernel 'K' is read as an array passed at each call",
        ),
    ],
)
def test_a_rule_of_0_9_0_in_a_spec_detected_as_0_9_0s_is_named(
    spec: dict[str, Any], rule: str
) -> None:
    with pytest.warns(SpecWarning, match=rule) as caught:
        compile_spec(spec)
    assert "because axes[0] is ordinal" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        compile_spec({**spec, "dialect": "0.9"})  # declared: nothing to say
