"""`to_latex`: every flow where it lands, valid TeX for every name.

The expected lines are the models' equations written out by hand; the
generated specs check that the TeX of any model parses (matplotlib's mathtext
parser, which rejects double subscripts and unbalanced groups) and that every
state block and incidence counter has its line. Every model's TeX is also read
back by an independent reader (`tests/latex_reader.py`) and evaluated against
`eval_fn`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from tests import models
from tests.differential.compare import _close
from tests.differential.generate import generate_cases
from tests.latex_reader import Unreadable, read_latex

from op_system import compile_spec

mathtext = pytest.importorskip("matplotlib.mathtext")


def _lines(tex: str) -> list[str]:
    body = tex.splitlines()
    assert body[0] == "\\begin{aligned}"
    assert body[-1] == "\\end{aligned}"
    return [line.removesuffix(" \\\\") for line in body[1:-1]]


def _valid(tex: str) -> None:
    parser = mathtext.MathTextParser("path")
    for line in _lines(tex):
        for side in line.split("&=", 1):
            side = side.split("&&")[0]
            if "\\begin{cases}" not in side:  # mathtext has no environments
                parser.parse(f"${side}$")


def _reads_back(c: Any) -> None:
    """The TeX, read back by `tests/latex_reader.py`, gives `eval_fn`'s dydt."""
    rng = np.random.default_rng(0)
    y = rng.uniform(0.5, 2.0, len(c.rhs.state_names))
    p = {name: float(rng.uniform(0.5, 1.5)) for name in c.rhs.param_names}
    got = read_latex(c.to_latex(), c.rhs, y, p, 0.7)
    ok, why = _close(np.asarray(got), np.asarray(c.eval_fn(0.7, y, **p)))
    assert ok, why


def test_chain_stages_counters_and_parenthesized_rates() -> None:
    c = compile_spec(
        {
            "kind": "transitions",
            "axes": [{"name": "age", "coords": ["y", "o"]}],
            "state": ["S", "R", "V[age]", "W[age]"],
            "chain": [
                {
                    "name": "E",
                    "length": 2,
                    "entry": {"from": "S", "rate": "beta"},
                    "forward": "sigma",
                    "exit": {"to": "R"},
                }
            ],
            "transitions": [
                {"name": "vax", "from": "V[age]", "to": "W[age]", "rate": "a + b"}
            ],
            "incidence": {"vaxed": ["vax"]},
        }
    )
    assert _lines(c.to_latex()) == [
        "\\dot{S} &= - \\beta \\, S",
        "\\dot{R} &= \\sigma \\, \\mathrm{E2}",
        "\\dot{V}_{age} &= - \\left(a + b\\right) \\, V_{age}",
        "\\dot{W}_{age} &= \\left(a + b\\right) \\, V_{age}",
        "\\dot{\\mathrm{E1}} &= \\beta \\, S - \\sigma \\, \\mathrm{E1}",
        "\\dot{\\mathrm{E2}} &= \\sigma \\, \\mathrm{E1} - \\sigma \\, \\mathrm{E2}",
        "\\dot{\\mathrm{vaxed}}_{age} &= \\left(a + b\\right) \\, V_{age}"
        " && \\text{(counter)}",
    ]
    _valid(c.to_latex())
    _reads_back(c)


def test_sums_over_missing_axes_and_deltas_for_pinned_cells() -> None:
    c = compile_spec(
        {
            "kind": "transitions",
            "axes": [
                {"name": "age", "coords": ["y", "o"]},
                {"name": "vax", "coords": ["u", "v"]},
                {"name": "strain", "coords": ["wt", "var"]},
            ],
            "state": ["S[age,vax]", "I[age,vax,strain]", "R[age,vax]"],
            "transitions": [
                {
                    "from": "S[age,vax]",
                    "to": "I[age,vax,strain]",
                    "rate": "beta[strain] * I[age,vax,strain]",
                },
                {"from": "I[age,vax,strain]", "to": "R[age,vax]", "rate": "gamma"},
                {"from": "S[age, vax=u]", "to": "S[age, vax=v]", "rate": "nu[age]"},
            ],
        }
    )
    flux = "\\beta_{strain} \\, I_{age,vax,strain} \\, S_{age,vax}"
    move = "\\nu_{age} \\, S_{age,u}"
    assert _lines(c.to_latex()) == [
        f"\\dot{{S}}_{{age,vax}} &= -\\sum_{{strain}} {flux}"
        f" - \\delta_{{vax,\\mathrm{{u}}}} \\, {move}"
        f" + \\delta_{{vax,\\mathrm{{v}}}} \\, {move}",
        f"\\dot{{I}}_{{age,vax,strain}} &= {flux} - \\gamma \\, I_{{age,vax,strain}}",
        "\\dot{R}_{age,vax} &= \\sum_{strain} \\gamma \\, I_{age,vax,strain}",
    ]
    _valid(c.to_latex())
    _reads_back(c)


def test_overrides_expr_chains_and_names_with_underscores() -> None:
    c = compile_spec(
        {
            "axes": [{"name": "age", "coords": ["0-4", "65+"]}],
            "state": ["S[age]", "R"],
            "aliases": {"f_x[age]": "beta[age] * S[age]"},
            "chain": [{"name": "I", "length": 2, "forward": "g", "exit": {"to": "R"}}],
            "equations": {
                "S[age]": "-f_x[age]",
                "S__age_65": "-mu * S__age_65",
                "I1": "sum_over(age=j, f_x[j]) - g * I1",
            },
        }
    )
    assert _lines(c.to_latex()) == [
        "{f_{x}}_{age} &= \\beta_{age} \\, S_{age}",
        "\\dot{S}_{age} &= -{f_{x}}_{age} && \\text{(other cells)}",
        "\\dot{S}_{\\mathrm{65+}} &= -\\mu \\, S_{\\mathrm{65+}}",
        "\\dot{R} &= g \\, \\mathrm{I2}",
        "\\dot{\\mathrm{I2}} &= g \\, \\mathrm{I1} - g \\, \\mathrm{I2}",
        "\\dot{\\mathrm{I1}} &= \\sum_{j \\in age} {f_{x}}_{j} - g \\, \\mathrm{I1}",
    ]
    _valid(c.to_latex())
    _reads_back(c)


def test_what_a_reader_needs_to_evaluate_the_lines() -> None:
    """Regressions found by reading the TeX back (tests/latex_reader.py): a
    reference is indexed in its object's axis order with every axis (keywords in
    another order, axes implied by the template, a bare templated name); a sum
    says what it ranges over; a factor that starts with a sign is parenthesized
    (`a \\, -b` reads as a subtraction); numbers are not written as `1e-05`."""
    c = compile_spec(
        {
            "axes": [
                {"name": "age", "coords": ["y", "o"]},
                {"name": "vax", "coords": ["u", "v"]},
                {"name": "x", "type": "continuous", "coords": [0, 0.5, 1.5]},
            ],
            "state": ["I[age,vax]", "J[age]", "u[x]"],
            "aliases": {"tot[age]": "sum_over(vax=jj, I[vax=jj])"},
            "equations": {
                "I[age,vax]": "beta * -I + I[vax=u, age=o] * +beta",
                "J[age]": "1e-05 * tot + 2.5e20 - sum_over(age=j, 0.5)",
                "u[x]": "integrate_over(x=ii, ii * u[x=ii]) - integrate_over(x=x, u[x])",
            },
        }
    )
    assert _lines(c.to_latex()) == [
        "\\mathrm{tot}_{age} &= \\sum_{jj \\in vax} I_{age,jj}",
        "\\dot{I}_{age,vax} &= \\beta \\, \\left(-I_{age,vax}\\right)"
        " + I_{o,u} \\, \\left(+\\beta\\right)",
        "\\dot{J}_{age} &= 1 \\cdot 10^{-5} \\, \\mathrm{tot}_{age}"
        " + 2.5 \\cdot 10^{20} - \\sum_{j \\in age} 0.5",
        "\\dot{u}_{x} &= \\int_{x} \\mathrm{ii} \\, u_{ii} \\, dii - \\int u_{x} \\, dx",
    ]
    _valid(c.to_latex())
    _reads_back(c)
    shift = compile_spec(
        {
            "kind": "transitions",
            "axes": [{"name": "vax", "coords": ["u", "v"]}],
            "state": ["S[vax]"],
            "transitions": [
                {"coord_shift": {"vax": "u -> v"}, "apply_to": ["S"], "rate": "-(-nu)"}
            ],
        }
    )
    flux = "\\left(-\\left(-\\nu\\right)\\right) \\, S_{u}"
    assert _lines(shift.to_latex()) == [
        f"\\dot{{S}}_{{vax}} &= - \\delta_{{vax,\\mathrm{{u}}}} \\, {flux}"
        f" + \\delta_{{vax,\\mathrm{{v}}}} \\, {flux}"
    ]
    _reads_back(shift)


def test_sums_over_some_coordinates_read_back() -> None:
    c = compile_spec(
        {
            "axes": [{"name": "age", "coords": ["0-4", "5-17", "65+"]}],
            "state": ["S[age]", "T"],
            "equations": {
                "S[age]": "-beta * S[age] * sum_over(age=j IN [0-4, 65+], S[age=j])",
                "T": "sum_over(age=k IN [5-17], S[k]) % 0.3",
            },
        }
    )
    assert "\\sum_{j \\in \\{\\mathrm{0-4}, \\mathrm{65+}\\}} S_{j}" in c.to_latex()
    _reads_back(c)


def test_generated_specs_give_valid_tex_with_a_line_per_block_that_reads_back() -> None:
    written = 0
    for case in generate_cases(50, seed=3):  # mathtext parses about 6 models/s
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                c = compile_spec(case["spec"])
                tex = c.to_latex()
            except Exception:  # a mutant the generator meant to be rejected
                continue
        _valid(tex)
        with np.errstate(all="ignore"):
            _reads_back(c)
        m: Any = c.rhs._model
        templated = any(b.axes and b.custom is None for b in m.blocks)
        dots = [line for line in _lines(tex) if line.startswith("\\dot")]
        want = m.n_state if not templated else None
        if want is not None:
            assert len(dots) == want, case["id"]
        else:  # a line per block, per chain stage and per overridden cell
            assert len(dots) >= len([b for b in m.blocks if b.custom is None])
        written += 1
    assert written >= 25


def test_counter_lines_are_marked_and_not_summed_as_states() -> None:
    """`sum_state()` sums the model's states, not the incidence counters: the TeX
    marks a counter's line, and the read-back leaves it out of `\\sum_{s} s`."""
    c = compile_spec(
        {
            "kind": "transitions",
            "axes": [{"name": "age", "coords": ["y", "o"]}],
            "state": ["S[age]", "I[age]"],
            "transitions": [
                {
                    "name": "inf",
                    "from": "S[age]",
                    "to": "I[age]",
                    "rate": "beta * I[age] / sum_state()",
                }
            ],
            "incidence": {"cases": ["inf"]},
        }
    )
    flux = "\\frac{\\beta \\, I_{age}}{\\sum_{s} s} \\, S_{age}"
    assert _lines(c.to_latex())[-1] == (
        f"\\dot{{\\mathrm{{cases}}}}_{{age}} &= {flux} && \\text{{(counter)}}"
    )
    _reads_back(c)


@pytest.mark.parametrize("name", sorted(models.ALL))
def test_every_named_test_model_reads_back(name: str) -> None:
    c = compile_spec(models.ALL[name]())
    _valid(c.to_latex())
    _reads_back(c)


def test_a_name_that_reads_two_ways_is_refused_by_the_reader() -> None:
    """A known ambiguity, left as it is: a name `f_x` next to an `f` indexed by an
    axis `x` are both written `f_{x}`. The reader refuses to guess (generated
    specs have no names with underscores, so the views-agree test never meets it)."""
    c = compile_spec(
        {
            "axes": [{"name": "x", "coords": ["a", "b"]}],
            "state": ["S[x]"],
            "aliases": {"f[x]": "2 * S[x]"},
            "equations": {"S[x]": "f[x] + f_x"},
        }
    )
    assert "&= f_{x} + f_{x}" in c.to_latex()
    with pytest.raises(Unreadable, match="a cell of f or a name"):
        _reads_back(c)


def test_constants_are_not_written_as_names() -> None:
    """`np.e` is an upright e and `np.nan` is `\\text{NaN}`: a parameter may be named
    `e` (italic `e`) or `NaN` (`\\mathrm{NaN}`)."""
    c = compile_spec(
        {
            "axes": [{"name": "age", "coords": ["y", "o"]}],
            "state": ["S[age]"],
            "equations": {
                "S[age]": "NaN * e * S[age] + np.e * np.pi"
                " + (np.nan if S[age] > 100 else 0)"
            },
        }
    )
    tex = c.to_latex()
    assert "\\mathrm{NaN} \\, e \\, S_{age} + \\mathrm{e} \\, \\pi" in tex
    assert "\\text{NaN} & \\text{if }" in tex
    _reads_back(c)
