"""Coordinate labels of any text (`0-17`, `65+`, `06037`) named everywhere a
coordinate can be: references in expressions (0.1.2's `S[age='0-17']` and
0.9.0's `S[age:'0-17']`), transition endpoints, per-cell equation keys,
`initial_state` keys, observables, `sum_over` filters and `coord_shift`.

Each model is compared with the same model written independently with the
expanded names (`S__age_0_17__region_06037`), spelled out here by hand: the
compiled right-hand sides (and observables) must agree at random states and
parameters, and the expanded names must be the ones 0.1.2 gives.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from op_system import compile_spec, model_info, normalize_rhs
from op_system._spec.dialect import spec_dialect
from op_system._support.errors import ExpressionError, SpecError

AGES = ["0-17", "18-64", "65+"]
REGIONS = ["06037", "36061"]
AXES = [{"name": "age", "coords": AGES}, {"name": "region", "coords": REGIONS}]
#: the expanded-name fragments of the labels, written out by hand
A = {"0-17": "0_17", "18-64": "18_64", "65+": "65"}
R = {"06037": "06037", "36061": "36061"}
CELLS = list(itertools.product(AGES, REGIONS))


def cell(base: str, age: str, region: str) -> str:
    return f"{base}__age_{A[age]}__region_{R[region]}"


def _states(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return [rng.uniform(0.1, 2.0, n) for _ in range(4)]


# -- references in an expression and per-cell equation keys (0.1.2's language) --------

LABELLED_EXPR = {
    "axes": AXES,
    "state": ["S[age,region]", "I[age,region]", "T"],
    "equations": {
        # a template reading one label of each axis, quoted and bare
        "S[age,region]": "-beta * S[age,region] * (I[age, region='06037'] "
        '+ I[age="65+", region] + I[age=0-17, region=36061])',
        "I[age,region]": "beta * S[age,region] * I[age,region] - gamma * I[age,region]",
        # a per-cell equation named by its labels (it overrides the template)
        "S[age='65+', region=\"36061\"]": "-mu * S[age='65+', region='36061']",
        # positional labels, a sum over a filter of labels, a parameter by label
        "T": "S['0-17', '06037'] + 2 * I[\"18-64\", 36061] "
        "+ sum_over(age=j IN ['0-17', '65+'], S[age=j, region='06037']) "
        "+ c[age='18-64'] + c['65+']",
    },
}


def _sanitized_expr() -> dict[str, Any]:
    """`LABELLED_EXPR` with every reference written as an expanded name."""
    eqs: dict[str, str] = {}
    for age, region in CELLS:
        s, i = cell("S", age, region), cell("I", age, region)
        eqs[s] = (
            f"-beta * {s} * ({cell('I', age, '06037')} + {cell('I', '65+', region)}"
            f" + {cell('I', '0-17', '36061')})"
        )
        eqs[i] = f"beta * {s} * {i} - gamma * {i}"
    eqs[cell("S", "65+", "36061")] = f"-mu * {cell('S', '65+', '36061')}"
    eqs["T"] = (
        f"{cell('S', '0-17', '06037')} + 2 * {cell('I', '18-64', '36061')}"
        f" + {cell('S', '0-17', '06037')} + {cell('S', '65+', '06037')}"
        " + c__age_18_64 + c__age_65"
    )
    return {
        "axes": AXES,
        "state": ["S[age,region]", "I[age,region]", "T"],
        "equations": eqs,
    }


@pytest.fixture(scope="module")
def expr_pair() -> tuple[Any, Any]:
    # `c[...]` read at two labels only: the sanitized model has those two scalars
    spec = dict(LABELLED_EXPR)
    return compile_spec(spec), compile_spec(_sanitized_expr())


def test_expanded_names_are_unchanged(expr_pair: tuple[Any, Any]) -> None:
    labelled, sanitized = expr_pair
    assert labelled.state_names == sanitized.state_names
    assert labelled.state_names[:2] == (
        "S__age_0_17__region_06037",
        "S__age_0_17__region_36061",
    )
    assert labelled.state_names[4:6] == (
        "S__age_65__region_06037",
        "S__age_65__region_36061",
    )


def test_references_and_cell_keys_equal_the_expanded_names(
    expr_pair: tuple[Any, Any],
) -> None:
    labelled, sanitized = expr_pair
    rng = np.random.default_rng(7)
    for y in _states(rng, len(labelled.state_names)):
        beta, gamma, mu, c1, c2 = rng.uniform(0.1, 1.0, 5)
        got = labelled.eval_fn(
            0.0, y, beta=beta, gamma=gamma, mu=mu, c=np.array([0.0, c1, c2])
        )
        want = sanitized.eval_fn(
            0.0, y, beta=beta, gamma=gamma, mu=mu, c__age_18_64=c1, c__age_65=c2
        )
        np.testing.assert_allclose(got, want, rtol=1e-13)
    # the override replaced the template at its cell (a hand value)
    y = np.ones(len(labelled.state_names))
    out = labelled.eval_fn(0.0, y, beta=1.0, gamma=0.0, mu=0.25, c=np.zeros(3))
    assert out[labelled.state_names.index("S__age_65__region_36061")] == -0.25


# -- transition endpoints, rates and observables (both languages) ---------------------


def _transitions(dialect: str) -> dict[str, Any]:
    """Endpoints pinned by labels, rates reading labels, observables by labels."""
    new = dialect == "0.9"
    pin = ":" if new else "="  # 0.9.0's references bind with `axis:...`
    young = f"I[age{pin}'0-17', region]"
    return {
        "kind": "transitions",
        "dialect": dialect,
        "axes": AXES,
        "state": ["S[age,region]", "I[age,region]", "V"],
        "transitions": [
            {
                "name": "infection",
                "from": "S[age,region]",
                "to": "I[age,region]",
                "rate": f"beta * (I[age,region] + 0.5 * {young})",
            },
            {"from": "I[age,region]", "to": "V", "rate": "gamma"},
            # one cell vaccinated: endpoints pinned by quoted labels
            {"from": "S[age=\"65+\", region='06037']", "to": "V", "rate": "nu"},
            {
                "from": "S[age='0-17', region='36061']",
                "to": "I[age='18-64', region=\"36061\"]",
                "rate": f"k[age{pin}'0-17']",
            },
        ],
        "observables": {
            "hosp[region]": f"ihr * infection[age{pin}'65+', region]",
            "young": f"I[age{pin}'0-17', region{pin}'06037'] + I[age=0-17, region=36061]",
        },
    }


def _sanitized_transitions() -> dict[str, Any]:
    trs: list[dict[str, Any]] = []
    for age, region in CELLS:
        i = cell("I", age, region)
        rate = f"beta * ({i} + 0.5 * {cell('I', '0-17', region)})"
        trs.append({"from": cell("S", age, region), "to": i, "rate": rate})
    for age, region in CELLS:
        trs.append({"from": cell("I", age, region), "to": "V", "rate": "gamma"})
    trs.append({"from": cell("S", "65+", "06037"), "to": "V", "rate": "nu"})
    trs.append(
        {
            "from": cell("S", "0-17", "36061"),
            "to": cell("I", "18-64", "36061"),
            "rate": "k__age_0_17",
        }
    )

    def flow(region: str) -> str:  # infection's flux in cell (65+, region)
        rate = (
            f"beta * ({cell('I', '65+', region)} + 0.5 * {cell('I', '0-17', region)})"
        )
        return f"({rate}) * {cell('S', '65+', region)}"

    return {
        "kind": "transitions",
        "dialect": "0.1",
        "axes": AXES,
        "state": ["S[age,region]", "I[age,region]", "V"],
        "transitions": trs,
        "observables": {
            "h1": f"ihr * {flow('06037')}",
            "h2": f"ihr * {flow('36061')}",
            "young": f"{cell('I', '0-17', '06037')} + {cell('I', '0-17', '36061')}",
        },
    }


@pytest.fixture(scope="module")
def sanitized_transitions() -> Any:
    return compile_spec(_sanitized_transitions())


@pytest.mark.parametrize("dialect", ["0.1", "0.9"])
def test_endpoints_rates_and_observables_equal_the_expanded_names(
    dialect: str, sanitized_transitions: Any
) -> None:
    labelled = compile_spec(_transitions(dialect))
    want_model = sanitized_transitions
    assert labelled.state_names == want_model.state_names
    assert labelled.observable_names[:2] == ("hosp__region_06037", "hosp__region_36061")
    rng = np.random.default_rng(11)
    for y in _states(rng, len(labelled.state_names)):
        beta, gamma, nu, k0, k1, k2, ihr = rng.uniform(0.1, 1.0, 7)
        got = labelled.eval_fn(
            0.0, y, beta=beta, gamma=gamma, nu=nu, k=np.array([k0, k1, k2])
        )
        want = want_model.eval_fn(0.0, y, beta=beta, gamma=gamma, nu=nu, k__age_0_17=k0)
        np.testing.assert_allclose(got, want, rtol=1e-13)
        obs = labelled.observables(
            0.0, y, beta=beta, gamma=gamma, nu=nu, k=np.array([k0, k1, k2]), ihr=ihr
        )
        obs_want = want_model.observables(
            0.0, y, beta=beta, gamma=gamma, nu=nu, k__age_0_17=k0, ihr=ihr
        )
        np.testing.assert_allclose(obs, obs_want, rtol=1e-13)


def test_routing_selector_and_quoted_pin_differ_in_0_9() -> None:
    """On a 0.9.0 endpoint `axis:name` is a routing alias; a quoted label is a
    pin, and a bare label there is refused with the spelling that pins it."""
    spec = _transitions("0.9")
    bare = {
        **spec,
        "transitions": [{"from": "S[age:0-17, region]", "to": "V", "rate": "nu"}],
    }
    with pytest.raises(SpecError, match=r"write age='0-17' to pin the coordinate"):
        normalize_rhs(bare)


# -- initial_state keys ----------------------------------------------------------------


def test_initial_state_keys_by_labels() -> None:
    """0.9.0's pinned keys with quoted and bare labels, against a hand listing."""
    spec = {
        "kind": "transitions",
        "dialect": "0.9",
        "axes": AXES,
        "state": ["S[age,region]", "V"],
        "transitions": [{"from": "S[age,region]", "to": "V", "rate": "mu"}],
        "initial_state": {
            "S[age='0-17', region]": "s0_young",
            "S[age:\"65+\", region:'06037']": 2.5,
            "S[age=18-64, region=36061]": "s0[age='18-64', region]",
            "V": 0,
        },
    }
    got = normalize_rhs(spec).meta["initial_state"]
    assert got == {
        "S__age_0_17__region_06037": "s0_young",
        "S__age_0_17__region_36061": "s0_young",
        "S__age_65__region_06037": 2.5,
        "S__age_18_64__region_36061": "s0__age_18_64__region_36061",
        "V": 0.0,
    }


def test_initial_state_shaped_seed_by_labels() -> None:
    spec = {
        "kind": "transitions",
        "dialect": "0.9",
        "axes": AXES,
        "state": ["S[age,region]", "V"],
        "transitions": [{"from": "S[age,region]", "to": "V", "rate": "mu"}],
        "initial_state": {"S[age, region='36061']": {"shaped": "s0", "axes": ["age"]}},
    }
    got = normalize_rhs(spec).meta["initial_state"]
    assert got == {
        cell("S", a, "36061"): {"shaped": "s0", "axes": ("age",), "coords": {"age": a}}
        for a in AGES
    }


# -- coord_shift and sum_over filters ------------------------------------------------


def test_coord_shift_arrow_with_quoted_labels() -> None:
    def spec(arrow: str) -> dict[str, Any]:
        return {
            "kind": "transitions",
            "axes": AXES,
            "state": ["S[age,region]"],
            "transitions": [
                {"coord_shift": {"age": arrow}, "apply_to": ["S"], "rate": "r"}
            ],
        }

    labelled = compile_spec(spec("'0-17' -> \"18-64\""))
    bare = compile_spec(spec("0-17 -> 18-64"))
    y = np.arange(1.0, 7.0)
    want = np.zeros(6)
    for region in REGIONS:  # ageing moves r * S(0-17) in each region
        src = labelled.state_names.index(cell("S", "0-17", region))
        dst = labelled.state_names.index(cell("S", "18-64", region))
        want[src] -= 0.5 * y[src]
        want[dst] += 0.5 * y[src]
    np.testing.assert_allclose(labelled.eval_fn(0.0, y, r=0.5), want)
    np.testing.assert_allclose(bare.eval_fn(0.0, y, r=0.5), want)


# -- mistakes --------------------------------------------------------------------------


def _one(rhs: str) -> dict[str, Any]:
    return {
        "axes": AXES,
        "state": ["S[age,region]", "T"],
        "equations": {"S[age,region]": "0", "T": rhs},
    }


@pytest.mark.parametrize(
    ("rhs", "message"),
    [
        # an unknown quoted label: did you mean, over the axis's labels
        (
            "S[age='65', region='06037']",
            r"unknown coord '65' for axis 'age'.*did you mean '65\+'\?",
        ),
        (
            "S[age='0-17', region='6037']",
            r"unknown coord '6037' for axis 'region'.*did you mean '06037'\?",
        ),
        # a bare text that is no label: the label to write, in quotes
        (
            "S[age=0 - 17, region=06037]",
            r"did you mean '0-17'\? write such a label in quotes: age='0-17'",
        ),
        (
            "S[age=0_17, region=06037]",
            r"did you mean '0-17'\? write such a label in quotes",
        ),
        (
            "S[age=1-2, region=06037]",
            r"an index names a coordinate and is never computed .*age='0-17'",
        ),
        # a number where the label has a leading zero
        (
            "S[age='0-17', region=6037]",
            r"did you mean '06037'\? write such a label in quotes: region='06037'",
        ),
        # a positional label of no axis
        ("c['99+']", r"'99\+' in c\['99\+'\] is not a coordinate of any axis"),
    ],
)
def test_unknown_labels(rhs: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message) as info:
        normalize_rhs(_one(rhs))
    assert info.value.path == "equations['T']"


def test_bare_label_that_also_reads_a_loop_variable_is_ambiguous() -> None:
    spec = {
        "axes": [{"name": "age", "coords": ["j-1", "j", "k"]}],
        "state": ["S[age]", "T"],
        "equations": {"S[age]": "0", "T": "sum_over(age=j, S[age=j-1])"},
    }
    with pytest.raises(
        ExpressionError,
        match=r"ambiguous.*'j' is a placeholder or loop variable.*age='j-1'",
    ):
        normalize_rhs(spec)
    spec["equations"]["T"] = "sum_over(age=j, S[age='j-1'])"  # quoted: the label
    m = compile_spec(spec)
    np.testing.assert_allclose(m.eval_fn(0.0, [2.0, 3.0, 5.0, 0.0])[-1], 3 * 2.0)


def test_label_is_never_a_placeholder() -> None:
    """A quoted label that is also an axis or loop name is the label."""
    spec = {
        "axes": [{"name": "age", "coords": ["age", "old"]}],
        "state": ["S[age]"],
        "equations": {"S[age]": "-S[age='age']"},
    }
    m = compile_spec(spec)
    np.testing.assert_allclose(m.eval_fn(0.0, [2.0, 3.0]), [-2.0, -2.0])


@pytest.mark.parametrize(
    ("coords", "message"),
    [
        (["0-17", "0_17"], r"'0-17' and '0_17' give one expanded name fragment '0_17'"),
        (["65", "65+"], r"'65' and '65\+' give one expanded name fragment '65'"),
        ([6037, "x"], r"got the number 6037: write a label in quotes"),
    ],
)
def test_labels_that_cannot_be_declared(coords: list[Any], message: str) -> None:
    spec = {
        "axes": [{"name": "r", "coords": coords}],
        "state": ["S[r]"],
        "equations": {"S[r]": "0"},
    }
    with pytest.raises(SpecError, match=message) as info:
        normalize_rhs(spec)
    assert info.value.path is not None
    assert info.value.path.startswith("axes[0].coords")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("S[age='0-17', region]", r"pins some axes of 'S' but not 'region'"),
        ("S[age='0-17']", r"does not pin axis 'region'"),
        (
            "S[age='0-17', regoin='06037']",
            r"has no axis 'regoin'.*did you mean 'region'\?",
        ),
        (
            "S[age='0-71', region='06037']",
            r"'0-71' is not a coordinate of axis 'age'.*did you mean '0-17'\?",
        ),
        (
            "S[age=0-17, region=06037]",
            r"both the equation of 'S__age_0_17__region_06037'",
        ),
    ],
)
def test_cell_keys_that_name_no_cell(key: str, message: str) -> None:
    equations = {"S[age,region]": "0", "T": "0", key: "1"}
    if "both" in message:
        equations["S__age_0_17__region_06037"] = "2"
    spec = {"axes": AXES, "state": ["S[age,region]", "T"], "equations": equations}
    with pytest.raises(SpecError, match=message):
        normalize_rhs(spec)


def test_initial_state_unknown_label() -> None:
    spec = {
        "kind": "transitions",
        "dialect": "0.9",
        "axes": AXES,
        "state": ["S[age,region]", "V"],
        "transitions": [{"from": "S[age,region]", "to": "V", "rate": "mu"}],
        "initial_state": {"S[age='65', region]": "s0"},
    }
    with pytest.raises(
        SpecError,
        match=r"'65' is not a coordinate of axis 'age' \(did you mean '65\+'\?\)",
    ):
        normalize_rhs(spec)


def test_pinned_initial_state_keys_in_0_1_2s_language() -> None:
    """A pinned key with 0.1.2's spelling of a sum: the spec is 0.1.2's (0.9.0's
    could not parse the sum), and the key selects its cells there too."""
    spec = {
        "kind": "transitions",
        "axes": AXES,
        "state": ["S[age,region]", "V"],
        "transitions": [
            {
                "from": "S[age,region]",
                "to": "V",
                "rate": "sum_over(age=j, S[j, region])",
            }
        ],
        "initial_state": {"S[age='65+', region=06037]": 1, "V": 0},
    }
    assert spec_dialect(spec) == "0.1"
    m = normalize_rhs(spec)
    assert m.meta["initial_state"] == {"S__age_65__region_06037": "1", "V": "0"}


def test_declared_reactants_pin_labels() -> None:
    """0.9.0's `reactants:` selectors pin quoted and bare labels."""
    spec = {
        "kind": "transitions",
        "dialect": "0.9",
        "axes": AXES,
        "state": ["S[age,region]", "I[age,region]"],
        "transitions": [
            {
                "name": "infect",
                "from": "S[age,region]",
                "to": "I[age,region]",
                "rate": "beta * I[age:'65+', region:'06037']",
                "reactants": [
                    {"state": "S[age,region]", "order": 1},
                    {"state": "I[age='65+', region=06037]", "order": 1},
                ],
            }
        ],
    }
    (_, i) = model_info(compile_spec(spec)).reactions["infect"]
    assert i.pinned == (("age", "65+"), ("region", "06037"))
    spec["transitions"][0]["reactants"][1]["state"] = "I[age='65', region=06037]"
    with pytest.raises(
        SpecError, match=r"pins unknown coordinate age=65 \(did you mean '65\+'\?\)"
    ):
        normalize_rhs(spec)


def test_two_keys_naming_one_equation() -> None:
    """Neither is dropped: two spellings of one key are an error."""
    spec = {
        "axes": AXES,
        "state": ["S[age,region]"],
        "equations": {"S[age,region]": "0", " S[ age , region ] ": "1"},
    }
    with pytest.raises(SpecError, match=r"are both the equation of 'S\[age,region\]'"):
        normalize_rhs(spec)


def test_numbers_written_otherwise_name_their_coordinate() -> None:
    """`1.50` (not as Python writes 1.5) reads the continuous coordinate 1.5,
    quoted or not; on a categorical axis it is the label `1.50`."""
    spec = {
        "axes": [
            {"name": "x", "type": "continuous", "coords": [0.5, 1.5]},
            {"name": "dose", "coords": ["1.50", "3"]},
        ],
        "state": ["u[x]", "d[dose]", "T"],
        "equations": {
            "u[x]": "0",
            "d[dose]": "0",
            "T": "u[x=1.50] + 10 * u[x='0.5'] + 100 * d[dose=1.50] + 1000 * d[dose=3]",
        },
    }
    m = compile_spec(spec)
    out = m.eval_fn(0.0, [1.0, 2.0, 3.0, 4.0, 0.0])
    assert out[-1] == 2.0 + 10 * 1.0 + 100 * 3.0 + 1000 * 4.0
