"""`to_latex` writes valid LaTeX for every model: no double subscripts or
superscripts, balanced braces, `\\left`/`\\right` and environments.

Two independent checks of each line of the `aligned` block: matplotlib's
mathtext parser (a real TeX-math parser, which rejects `S_{a}_{b}`; it does not
know `cases`, so lines with `cases` are left to the second check), and a small
scanner here that tracks each atom's subscript and superscript. Over every
model of `tests/models.py`, every spec op-system 0.9.0 accepted in
`tests/compat09/refs.json`, and names and labels chosen to need escaping.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from matplotlib.mathtext import MathTextParser
from tests.models import ALL

from op_system import OpSystemError, normalize_rhs
from op_system._views.latex import _coord, to_latex

PARSER = MathTextParser("path")
REFS = Path(__file__).resolve().parents[1] / "compat09" / "refs.json"
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}_^]|\s+|.")


class Invalid(Exception):
    """The TeX is not valid."""


def scan(tex: str) -> None:
    """Raise `Invalid` for unbalanced groups or an atom with two subscripts (or superscripts)."""
    stack: list[str] = []
    # per group: whether the current atom has a subscript / superscript, and
    # whether the next token is a script's argument (which does not start an atom)
    state: list[dict[str, bool]] = [{"_": False, "^": False, "arg": False}]
    envs: list[str] = []
    tokens = _TOKEN.findall(tex)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok.isspace():
            continue
        top = state[-1]
        if tok in "_^":
            if top["arg"] or top[tok]:
                raise Invalid(
                    f"double {'sub' if tok == '_' else 'super'}script in {tex!r}"
                )
            top[tok] = True
            top["arg"] = True
            continue
        is_arg = top["arg"]
        top["arg"] = False
        if tok == "{":
            stack.append("{")
            state.append({"_": False, "^": False, "arg": False})
            state[-2]["pending_arg"] = is_arg
            continue
        if tok == "}":
            if not stack or stack[-1] != "{":
                raise Invalid(f"unbalanced }} in {tex!r}")
            stack.pop()
            state.pop()
            outer = state[-1]
            if not outer.pop("pending_arg", False):  # a group is an atom
                outer["_"] = outer["^"] = False
            continue
        if tok in ("\\begin", "\\end"):
            name = re.match(r"\s*\{(\w+\*?)\}", "".join(tokens[i:]))
            if name is None:
                raise Invalid(f"{tok} without an environment in {tex!r}")
            if tok == "\\begin":
                envs.append(name[1])
            elif not envs or envs.pop() != name[1]:
                raise Invalid(f"unbalanced \\end{{{name[1]}}} in {tex!r}")
        if tok == "\\left":
            stack.append("left")
        elif tok == "\\right" and (not stack or stack.pop() != "left"):
            raise Invalid(f"unbalanced \\right in {tex!r}")
        if not is_arg:  # a new atom
            top["_"] = top["^"] = False
    if stack or envs:
        raise Invalid(f"unclosed {stack or envs} in {tex!r}")


def lines(tex: str) -> list[str]:
    """The equations of an `aligned` block (row breaks inside `cases` kept)."""
    body = tex.removeprefix("\\begin{aligned}\n").removesuffix("\n\\end{aligned}")
    out, depth, start = [], 0, 0
    for m in re.finditer(r"\\begin\{cases\}|\\end\{cases\}|\\\\", body):
        if m[0] == "\\begin{cases}":
            depth += 1
        elif m[0] == "\\end{cases}":
            depth -= 1
        elif depth == 0:
            out.append(body[start : m.start()].strip())
            start = m.end()
    out.append(body[start:].strip())
    return [line for line in out if line]


def check(tex: str, *, mathtext: bool = True) -> None:
    assert tex.startswith("\\begin{aligned}\n"), tex
    assert tex.endswith("\n\\end{aligned}"), tex
    for line in lines(tex):
        scan(line)
        if mathtext and "\\begin{cases}" not in line:
            math = line.replace("&&", "\\quad ").replace("&=", "=")
            PARSER.parse(f"${math}$")


def test_the_checks_reject_invalid_tex() -> None:
    for bad in (
        "S_{a}_{b}",
        "S_a_b",
        "\\dot{S}_{a}_{b}",
        "x^{2}^{3}",
        "{a",
        "a}",
        "\\left( a",
    ):
        with pytest.raises(Invalid):
            scan(bad)
    for bad in ("S_{a}_{b}", "x^{2}^{3}", "{a"):
        with pytest.raises(ValueError, match=r"Double sub|Double super|Expected"):
            PARSER.parse(f"${bad}$")
    for good in ("{S_{a}}_{b}", "\\dot{S_{v}}_{age}", "x_{a}^{2}", "\\sum_{s} s_{i}"):
        scan(good)
        PARSER.parse(f"${good}$")


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_test_model(name: str) -> None:
    check(to_latex(normalize_rhs(ALL[name]())))


UNDERSCORES: dict[str, Any] = {
    "kind": "transitions",
    "axes": [
        {"name": "age", "coords": ["young", "old"]},
        {"name": "vax", "coords": ["u", "v"]},
    ],
    "state": ["S_v[age, vax]", "I_v[age, vax]", "R[age, vax]"],
    "aliases": {
        "lam_a[age]": "beta_0 * sum_over(vax=k, I_v[age, vax=k]) / sum_state()"
    },
    "transitions": [
        {
            "name": "new_inf",
            "from": "S_v[age, vax]",
            "to": "I_v[age, vax]",
            "rate": "lam_a[age] * (1 - ve_x[vax]) + p_hosp_icu[age] * S_v__age_old__vax_u",
        },
        {"from": "I_v[age, vax]", "to": "R[age, vax]", "rate": "gamma_1"},
        {
            "name": "vax_campaign",
            "from": "S_v[age, vax=u]",
            "to": "S_v[age, vax=v]",
            "rate": "nu_t[age]",
        },
        {"name": "birth", "from": None, "to": "S_v[age=young, vax=u]", "rate": "mu_b"},
    ],
    "incidence": {"new_cases": "new_inf"},
}


def test_names_with_underscores_indexed() -> None:
    check(to_latex(normalize_rhs(UNDERSCORES)))
    cellwise = {
        "kind": "expr",
        "state": ["S__age_a", "I_1", "x_y_z"],
        "equations": {
            "S__age_a": "-beta_1 * S__age_a * I_1**2",
            "I_1": "beta_1 * S__age_a",
            "x_y_z": "-x_y_z**0.5",
        },
    }
    check(to_latex(normalize_rhs(cellwise)))


def test_labels_with_tex_markup_are_escaped() -> None:
    for label in ("a^b^c", "x\\y", "a~b", "c{d}_e", "65+", "0-17", "50%", "#1&$"):
        tex = _coord(label)
        scan(f"S_{{{tex}}}^{{2}}")
        if not set(label) & set("#&$"):  # mathtext lacks \# \& \$ (TeX has them)
            PARSER.parse(f"$S_{{{tex}}}$")


def _accepted_09_specs() -> list[tuple[str, Any]]:
    return [
        (r["id"], r["spec"])
        for r in json.loads(REFS.read_text())["specs"]
        if r.get("accepted")
    ]


def test_every_spec_0_9_0_accepted() -> None:
    """The scanner on all; mathtext (70 ms a line) on every tenth spec."""
    checked = 0
    for i, (ident, spec) in enumerate(_accepted_09_specs()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dialect notes; not what is checked here
            try:
                tex = to_latex(normalize_rhs(spec))
            except OpSystemError:
                continue  # one we reject (see tests/compat09/compare.py)
        try:
            check(tex, mathtext=i % 10 == 0)
        except (Invalid, ValueError) as exc:
            raise AssertionError(f"{ident}: {exc}") from None
        checked += 1
    assert checked > 450  # of the 488 0.9.0 accepted
