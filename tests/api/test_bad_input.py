"""Invalid specs, expressions and call arguments: exact error class, path, token.

Every case asserts

* the exact op_system exception class (`SpecError`, `ExpressionError`, ...),
* that it is also an instance of the built-in exception op-system 0.1.2 raised in
  the same situation (`ValueError`, `TypeError`, `NotImplementedError`), so
  `except ValueError:` written against 0.1.2 keeps working,
* that the message names the spec path (`equations['S']`, `transitions[1].rate`,
  `axes[0].coords`, ...) and the offending token,
* and the stage at which it is raised: `normalize_rhs` for structural errors;
  `compile_rhs` (after a successful `normalize_rhs`) for constructs outside the
  expression language, as in 0.1.2; `eval_fn` for call-time errors.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from tests import models

from op_system import (
    BackendError,
    ExpressionError,
    OpSystemError,
    ParameterError,
    SpecError,
    StateShapeError,
    UnsupportedFeatureError,
    compile_rhs,
    compile_spec,
    normalize_rhs,
)

# -- spec builders ------------------------------------------------------------------

AGE = {"name": "age", "coords": ["young", "old"]}
VAX = {"name": "vax", "coords": ["unvax", "vaxed"]}
GRID = {"name": "grid", "type": "continuous", "coords": [0.0, 1.0, 3.0]}


def expr1(eq: Any, state: str = "S") -> dict[str, Any]:
    """A one-state expr model `d state/dt = eq`."""
    return {"kind": "expr", "state": [state], "equations": {state: eq}}


def sir_expr(**extra: Any) -> dict[str, Any]:
    spec = models.sir_mass_action()
    spec.update(extra)
    return spec


def sir_tr(*transitions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    spec = models.sir_transitions()
    if transitions:
        spec["transitions"] = list(transitions)
    spec.update(extra)
    return spec


def aged(
    eq: str, *, axes: list[dict[str, Any]] | None = None, state: str = "S[age]"
) -> dict[str, Any]:
    """A templated expr model with one block `state` over `axes` (default: age)."""
    return {
        "kind": "expr",
        "axes": axes or [AGE],
        "state": [state],
        "equations": {state: eq},
    }


def with_axes(*axes: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "expr",
        "axes": list(axes),
        "state": ["S"],
        "equations": {"S": "-S"},
    }


def shift(coord_shift: Any, apply_to: Any = ("S",), rate: Any = "a") -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": [AGE],
        "state": ["S[age]", "Q"],
        "transitions": [
            {"coord_shift": coord_shift, "apply_to": list(apply_to), "rate": rate},
        ],
    }


def chained(**chain: Any) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "state": ["S", "R"],
        "transitions": [{"from": "S", "to": "R", "rate": "g"}],
        "chain": [{"name": "E", "length": 3, "forward": "sigma", **chain}],
    }


# -- cases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """One invalid input.

    stage: where the error must surface: "normalize" (normalize_rhs),
    "compile" (normalize_rhs succeeds, compile_rhs raises), "call" (eval_fn
    raises) or "backend" (compile_spec(spec, **compile_kwargs) raises).
    fragments: substrings (or compiled regexes) that must occur in the message:
    the spec path and the offending token.
    """

    id: str
    spec: Any
    exc: type[OpSystemError]
    builtin: type[Exception]
    fragments: tuple[str | re.Pattern[str], ...]
    stage: str = "normalize"
    y: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    compile_kwargs: dict[str, Any] = field(default_factory=dict)


def W(text: str) -> re.Pattern[str]:
    """`text` as a whole token (for short tokens such as numbers)."""
    return re.compile(rf"(?<![\w.]){re.escape(text)}(?![\w])")


SIR_Y = [990.0, 10.0, 0.0]

CASES: list[Bad] = [
    # --- top level / state -------------------------------------------------------------
    Bad("spec-not-mapping", ["S"], SpecError, ValueError, ("<spec>", "list")),
    Bad(
        "state-missing",
        {"kind": "expr", "equations": {"S": "1"}},
        SpecError,
        ValueError,
        ("state", "list"),
    ),
    Bad(
        "state-not-list",
        {"kind": "expr", "state": 5, "equations": {"S": "1"}},
        SpecError,
        ValueError,
        ("(at state)",),
    ),
    Bad(
        "state-entry-not-string",
        {"kind": "expr", "state": ["S", 3.5], "equations": {"S": "1"}},
        SpecError,
        ValueError,
        ("state[1]", "3.5"),
    ),
    Bad(
        "state-duplicate",
        {
            "kind": "expr",
            "state": ["Foo", "Bar", "Foo"],
            "equations": {"Foo": "1", "Bar": "2"},
        },
        SpecError,
        ValueError,
        ("(at state)", "Foo"),
    ),
    Bad(
        "kind-unknown",
        {"kind": "odeint", "state": ["S"]},
        UnsupportedFeatureError,
        NotImplementedError,
        ("kind", "odeint"),
    ),
    Bad(
        "state-shadows-np",
        expr1("-np", state="np"),
        SpecError,
        ValueError,
        ("state[0]", "'np'"),
    ),
    Bad(
        "state-shadows-sum_state",
        {
            "kind": "expr",
            "state": ["S", "sum_state"],
            "equations": {"S": "-S", "sum_state": "S"},
        },
        SpecError,
        ValueError,
        ("state[1]", "'sum_state'"),
    ),
    Bad(
        "alias-shadows-sum_prefix",
        sir_expr(aliases={"sum_prefix": "S + I"}),
        SpecError,
        ValueError,
        ("aliases['sum_prefix']", "'sum_prefix'"),
    ),
    # --- axes ------------------------------------------------------------------------------
    Bad(
        "axes-not-list",
        with_axes() | {"axes": {"name": "age"}},
        SpecError,
        ValueError,
        ("(at axes)",),
    ),
    Bad(
        "axis-missing-coords",
        with_axes({"name": "age"}),
        SpecError,
        ValueError,
        ("axes[0].coords", "requires coords"),
    ),
    Bad(
        "axis-empty-coords",
        with_axes(AGE, {"name": "vax", "coords": []}),
        SpecError,
        ValueError,
        ("axes[1].coords", "non-empty"),
    ),
    Bad(
        "axis-duplicate-coord",
        with_axes({"name": "age", "coords": ["kid", "adult", "kid"]}),
        SpecError,
        ValueError,
        ("axes[0].coords", "'kid'"),
    ),
    Bad(
        "axis-continuous-non-monotone",
        with_axes({"name": "grid", "type": "continuous", "coords": [0.0, 2.5, 1.25]}),
        SpecError,
        ValueError,
        ("axes[0].coords", "1.25"),
    ),
    Bad(
        "axis-continuous-repeated-coord",
        with_axes({"name": "grid", "type": "continuous", "coords": [0.0, 0.5, 0.5]}),
        SpecError,
        ValueError,
        ("axes[0].coords", "0.5"),
    ),
    Bad(
        "axis-continuous-coord-not-number",
        with_axes({"name": "grid", "type": "continuous", "coords": [0.0, "half", 1.0]}),
        SpecError,
        ValueError,
        ("axes[0].coords[1]", "'half'"),
    ),
    Bad(
        "axis-bad-spacing",
        with_axes(
            {
                "name": "grid",
                "type": "continuous",
                "domain": {"lb": 1, "ub": 9},
                "size": 3,
                "spacing": "cubic",
            }
        ),
        SpecError,
        ValueError,
        ("axes[0].spacing", "cubic"),
    ),
    Bad(
        "axis-size-below-2",
        with_axes(
            {
                "name": "grid",
                "type": "continuous",
                "domain": {"lb": 0, "ub": 1},
                "size": 1,
            }
        ),
        SpecError,
        ValueError,
        ("axes[0].size", W("1")),
    ),
    Bad(
        "axis-log-spacing-nonpositive",
        with_axes(
            {
                "name": "grid",
                "type": "continuous",
                "domain": {"lb": 0, "ub": 1},
                "size": 3,
                "spacing": "log",
            }
        ),
        SpecError,
        ValueError,
        ("axes[0].domain", "lb"),
    ),
    Bad(
        "axis-duplicate-name",
        with_axes(AGE, VAX, {"name": "age", "coords": ["a", "b"]}),
        SpecError,
        ValueError,
        ("axes[2].name", "'age'"),
    ),
    Bad(
        "axis-unknown-type",
        with_axes({"name": "age", "type": "nominal", "coords": ["a", "b"]}),
        SpecError,
        ValueError,
        ("axes[0].type", "nominal"),
    ),
    Bad(
        "state-unknown-template-axis",
        {
            "kind": "expr",
            "axes": [AGE],
            "state": ["S[agegroup]"],
            "equations": {"S[agegroup]": "-S"},
        },
        SpecError,
        ValueError,
        ("state[0]", "'agegroup'"),
    ),
    # --- equations ---------------------------------------------------------------------------
    Bad(
        "equations-not-mapping",
        {"kind": "expr", "state": ["S"], "equations": ["-S"]},
        SpecError,
        ValueError,
        ("(at equations)",),
    ),
    Bad(
        "equation-unknown-key",
        sir_expr() | {"equations": {**sir_expr()["equations"], "Qux": "1"}},
        SpecError,
        ValueError,
        ("(at equations)", "'Qux'"),
    ),
    Bad(
        "equation-missing",
        {"kind": "expr", "state": ["S", "Inf"], "equations": {"S": "-S"}},
        SpecError,
        ValueError,
        ("(at equations)", "'Inf'"),
    ),
    Bad(
        "equation-not-string",
        expr1(None),
        SpecError,
        ValueError,
        ("equations['S']", "None"),
    ),
    Bad("equation-blank", expr1("   "), SpecError, ValueError, ("equations['S']",)),
    Bad(
        "syntax-unclosed-paren",
        expr1("beta * (S + 1"),
        ExpressionError,
        ValueError,
        ("equations['S']", "'('"),
    ),
    Bad(
        "syntax-double-operator",
        expr1("beta * * S"),
        ExpressionError,
        ValueError,
        ("equations['S']", "'*'"),
    ),
    Bad(
        "syntax-in-alias",
        sir_expr(aliases={"N": "S +* I"}),
        ExpressionError,
        ValueError,
        ("aliases['N']", "'*'"),
    ),
    Bad(
        "syntax-in-rate",
        sir_tr(
            {"from": "S", "to": "I", "rate": "b"},
            {"from": "I", "to": "R", "rate": "g)"},
        ),
        ExpressionError,
        ValueError,
        ("transitions[1].rate", "')'"),
    ),
    # --- disallowed constructs (0.1.2 raised these in compile_rhs) ---------------------
    Bad(
        "call-np-floor",
        expr1("np.floor(S)"),
        ExpressionError,
        ValueError,
        ("equations['S']", "np.floor"),
        stage="compile",
    ),
    Bad(
        "call-np-load",
        expr1("np.load('x.npy')"),
        ExpressionError,
        ValueError,
        ("equations['S']", "np.load"),
        stage="compile",
    ),
    Bad(
        "call-unknown-function",
        expr1("foo(S)"),
        ExpressionError,
        ValueError,
        ("equations['S']", "foo"),
        stage="compile",
    ),
    Bad(
        "call-getattr",
        expr1("getattr(S, 'real')"),
        ExpressionError,
        ValueError,
        ("equations['S']", "getattr"),
        stage="compile",
    ),
    Bad(
        "call-dunder-import",
        expr1("__import__('os')"),
        ExpressionError,
        ValueError,
        ("equations['S']", "__import__"),
        stage="compile",
    ),
    Bad(
        "call-in-rate",
        sir_tr(
            {"from": "S", "to": "I", "rate": "b"},
            {"from": "I", "to": "R", "rate": "np.random(I)"},
        ),
        ExpressionError,
        ValueError,
        ("transitions[1].rate", "np.random"),
        stage="compile",
    ),
    Bad(
        "call-in-alias",
        sir_expr(aliases={"N": "open(S)"}),
        ExpressionError,
        ValueError,
        ("aliases['N']", "open"),
        stage="compile",
    ),
    Bad(
        "call-wrong-arity",
        expr1("np.exp(S, 2)"),
        ExpressionError,
        ValueError,
        ("equations['S']", "np.exp"),
        stage="compile",
    ),
    Bad(
        "attr-real",
        expr1("S.real"),
        ExpressionError,
        ValueError,
        ("equations['S']", "S.real"),
        stage="compile",
    ),
    Bad(
        "attr-np-linalg",
        expr1("np.linalg"),
        ExpressionError,
        ValueError,
        ("equations['S']", "np.linalg"),
        stage="compile",
    ),
    Bad(
        "attr-np-linalg-call",
        expr1("np.linalg.det(S)"),
        ExpressionError,
        ValueError,
        ("equations['S']", "np.linalg"),
        stage="compile",
    ),
    Bad(
        "attr-dunder-class",
        expr1("S.__class__"),
        ExpressionError,
        ValueError,
        ("equations['S']", "__class__"),
        stage="compile",
    ),
    Bad(
        "name-dunder-builtins",
        expr1("S * __builtins__"),
        ExpressionError,
        ValueError,
        ("equations['S']", "__builtins__"),
        stage="compile",
    ),
    Bad(
        "node-lambda",
        expr1("(lambda x: x)(S)"),
        ExpressionError,
        ValueError,
        ("equations['S']", "lambda"),
        stage="compile",
    ),
    Bad(
        "node-listcomp",
        expr1("[x for x in S]"),
        ExpressionError,
        ValueError,
        ("equations['S']", "ListComp"),
        stage="compile",
    ),
    Bad(
        "node-genexp",
        expr1("np.abs(x for x in S)"),
        ExpressionError,
        ValueError,
        ("equations['S']", "GeneratorExp"),
        stage="compile",
    ),
    Bad(
        "node-walrus",
        expr1("(z := S)"),
        ExpressionError,
        ValueError,
        ("equations['S']", "NamedExpr"),
        stage="compile",
    ),
    Bad(
        "node-fstring",
        expr1('f"{S}"'),
        ExpressionError,
        ValueError,
        ("equations['S']", "JoinedStr"),
        stage="compile",
    ),
    Bad(
        "node-floordiv",
        expr1("S // 2"),
        ExpressionError,
        ValueError,
        ("equations['S']", "FloorDiv"),
        stage="compile",
    ),
    Bad(
        "node-bitand",
        expr1("S & 1"),
        ExpressionError,
        ValueError,
        ("equations['S']", "BitAnd"),
        stage="compile",
    ),
    Bad(
        "node-string-literal",
        expr1("S + 'abc'"),
        ExpressionError,
        ValueError,
        ("equations['S']", "'abc'"),
        stage="compile",
    ),
    # --- templates ---------------------------------------------------------------------------
    Bad(
        "unknown-coord-keyword-index",
        aged("-S[age, vax=zzz]", axes=[AGE, VAX], state="S[age,vax]"),
        ExpressionError,
        ValueError,
        ("equations['S[age,vax]']", "'zzz'", "vax"),
    ),
    Bad(
        "unknown-axis-keyword-index",
        aged("-S[agegrp=young]"),
        ExpressionError,
        ValueError,
        ("equations['S[age]']", "'agegrp'"),
    ),
    Bad(
        "unbound-axis-placeholder",
        {
            "kind": "expr",
            "axes": [AGE],
            "state": ["S[age]", "Tot"],
            "equations": {"S[age]": "-S[age]", "Tot": "S[age]"},
        },
        ExpressionError,
        ValueError,
        ("equations['Tot']", "'age'"),
    ),
    Bad(
        "templated-name-unindexed",
        {
            "kind": "expr",
            "axes": [AGE],
            "state": ["S[age]", "Tot"],
            "equations": {"S[age]": "-S[age]", "Tot": "S"},
        },
        ExpressionError,
        ValueError,
        ("equations['Tot']", "'S'"),
    ),
    Bad(
        "loop-var-outside-index",
        aged("sum_over(age=jj, jj * S[age=jj])"),
        ExpressionError,
        ValueError,
        ("equations['S[age]']", "'jj'"),
    ),
    Bad(
        "in-filter-empty",
        aged("sum_over(age=j IN [], S[age=j])"),
        SpecError,
        ValueError,
        ("equations['S[age]']", "'age'", "empty"),
    ),
    Bad(
        "in-filter-duplicate",
        aged("sum_over(age=j IN [old, old], S[age=j])"),
        SpecError,
        ValueError,
        ("equations['S[age]']", "'old'"),
    ),
    Bad(
        "in-filter-unknown-coord",
        aged("sum_over(age=j IN [young, middle], S[age=j])"),
        SpecError,
        ValueError,
        ("equations['S[age]']", "'middle'"),
    ),
    Bad(
        "sum-over-continuous",
        aged("sum_over(grid=j, S[grid=j])", axes=[GRID], state="S[grid]"),
        SpecError,
        ValueError,
        ("equations['S[grid]']", "'grid'", "categorical"),
    ),
    Bad(
        "integrate-over-categorical",
        aged("integrate_over(age=j, S[age=j])"),
        SpecError,
        ValueError,
        ("equations['S[age]']", "'age'", "continuous"),
    ),
    Bad(
        "sum-over-unknown-axis",
        aged("sum_over(agegrp=j, S[age=j])"),
        SpecError,
        ValueError,
        ("equations['S[age]']", "'agegrp'"),
    ),
    # --- transitions -------------------------------------------------------------------------
    Bad(
        "transitions-not-list",
        sir_tr() | {"transitions": {"from": "S"}},
        SpecError,
        ValueError,
        ("(at transitions)",),
    ),
    Bad(
        "transition-from-not-state",
        sir_tr(
            {"from": "S", "to": "I", "rate": "b"},
            {"from": "Qux", "to": "R", "rate": "g"},
        ),
        SpecError,
        ValueError,
        ("transitions[1].from", "'Qux'"),
    ),
    Bad(
        "transition-to-alias",
        sir_tr(
            {"from": "S", "to": "Nalias", "rate": "b"}, aliases={"Nalias": "S + I + R"}
        ),
        SpecError,
        ValueError,
        ("transitions[0].to", "'Nalias'"),
    ),
    Bad(
        "transition-missing-rate",
        sir_tr({"from": "S", "to": "I", "rate": "b"}, {"from": "I", "to": "R"}),
        SpecError,
        ValueError,
        ("transitions[1].rate", "None"),
    ),
    Bad(
        "transition-not-mapping",
        sir_tr({"from": "S", "to": "I", "rate": "b"}, "I -> R"),
        SpecError,
        ValueError,
        ("transitions[1]",),
    ),
    Bad(
        "transition-templated-from-not-state",
        {
            "kind": "transitions",
            "axes": [AGE],
            "state": ["S[age]", "I[age]"],
            "transitions": [{"from": "Z[age]", "to": "I[age]", "rate": "b"}],
        },
        SpecError,
        ValueError,
        ("transitions[0].from", "Z[age]"),
    ),
    Bad(
        "chain-length-below-2",
        chained(length=1),
        SpecError,
        ValueError,
        ("chain[0].length", W("1")),
    ),
    Bad(
        "chain-length-not-number",
        chained(length="three"),
        SpecError,
        ValueError,
        ("chain[0].length", "'three'"),
    ),
    Bad(
        "chain-forward-list-length",
        chained(forward=["s1", "s2", "s3"]),
        SpecError,
        ValueError,
        ("chain[0].forward", W("2"), W("3")),
    ),
    Bad(
        "chain-exit-to-not-state",
        chained(exit={"to": "Rx", "rate": "g"}),
        SpecError,
        ValueError,
        ("chain[0].exit.to", "'Rx'"),
    ),
    Bad(
        "chain-entry-from-not-state",
        chained(entry={"from": "Sx", "rate": "b"}),
        SpecError,
        ValueError,
        ("chain[0].entry.from", "'Sx'"),
    ),
    Bad(
        "chain-not-list",
        chained() | {"chain": {"name": "E"}},
        SpecError,
        ValueError,
        ("(at chain)",),
    ),
    Bad(
        "coord-shift-unknown-axis",
        shift({"agegrp": "young -> old"}),
        SpecError,
        ValueError,
        ("transitions[0].coord_shift", "'agegrp'"),
    ),
    Bad(
        "coord-shift-unknown-coord",
        shift({"age": "young -> middle"}),
        SpecError,
        ValueError,
        ("transitions[0].coord_shift", "'middle'"),
    ),
    Bad(
        "coord-shift-bad-arrow",
        shift({"age": "young"}),
        SpecError,
        ValueError,
        ("transitions[0].coord_shift", "'young'"),
    ),
    Bad(
        "coord-shift-two-axes",
        shift({"age": "young -> old", "vax": "unvax -> vaxed"}),
        SpecError,
        ValueError,
        ("transitions[0].coord_shift", "exactly one"),
    ),
    Bad(
        "coord-shift-apply-to-scalar",
        shift({"age": "young -> old"}, apply_to=("Q",)),
        SpecError,
        ValueError,
        ("transitions[0].apply_to", "'Q'"),
    ),
    Bad(
        "coord-shift-missing-rate",
        shift({"age": "young -> old"}, rate=None),
        SpecError,
        ValueError,
        ("transitions[0].rate",),
    ),
    # --- aliases (0.1.2 reported alias cycles when evaluating) ------------------------------
    Bad(
        "alias-cycle",
        expr1("-Aaa * S") | {"aliases": {"Aaa": "Bbb + 1", "Bbb": "2 * Aaa"}},
        ExpressionError,
        ValueError,
        ("could not resolve alias dependencies", "aliases", "Aaa", "Bbb"),
        stage="call",
        y=[1.0],
    ),
    Bad(
        "param-named-y",
        expr1("-y * S"),
        SpecError,
        ValueError,
        ("equations['S']", "'y'"),
    ),
    Bad(
        "alias-same-as-state",
        sir_expr(aliases={"I": "S"}),
        SpecError,
        ValueError,
        ("aliases['I']", "'I'"),
    ),
    # --- call time ------------------------------------------------------------------------------
    Bad(
        "param-missing",
        sir_expr(),
        ParameterError,
        TypeError,
        ("params", "gamma"),
        stage="call",
        y=SIR_Y,
        params={"beta": 0.3},
    ),
    Bad(
        "param-typo-did-you-mean",
        sir_expr(),
        ParameterError,
        TypeError,
        (
            "missing parameter(s): gamma",
            "unknown parameter 'gama' (did you mean 'gamma'?)",
        ),
        stage="call",
        y=SIR_Y,
        params={"beta": 0.3, "gama": 0.1},
    ),
    Bad(
        "param-indexed-missing",
        aged("-beta[age] * S[age]"),
        ParameterError,
        TypeError,
        ("beta", "beta__age_young"),
        stage="call",
        y=[1.0, 2.0],
    ),
    Bad(
        "y-too-short",
        sir_expr(),
        StateShapeError,
        ValueError,
        ("n_state=3", "(2,)"),
        stage="call",
        y=[1.0, 2.0],
        params={"beta": 0.3, "gamma": 0.1},
    ),
    Bad(
        "y-2d",
        sir_expr(),
        StateShapeError,
        ValueError,
        ("n_state=3", "(3, 1)"),
        stage="call",
        y=[[1.0], [2.0], [3.0]],
        params={"beta": 0.3, "gamma": 0.1},
    ),
    Bad(
        "param-array-wrong-shape",
        aged("-beta[age] * S[age]"),
        ParameterError,
        TypeError,
        ("params['beta']", "(2,)", "(3,)"),
        stage="call",
        y=[1.0, 2.0],
        params={"beta": np.array([0.1, 0.2, 0.3])},
    ),
    Bad(
        "param-matrix-wrong-shape",
        aged("-sum_over(age=j, C[age, age=j] * S[age=j])"),
        ParameterError,
        TypeError,
        ("params['C']", "(2, 2)", "(2,)"),
        stage="call",
        y=[1.0, 2.0],
        params={"C": np.array([1.0, 2.0])},
    ),
    # --- backends ---------------------------------------------------------------------------------
    Bad(
        "backend-conflict",
        sir_expr(),
        BackendError,
        ValueError,
        ("backend", "'jax'", "'numpy'"),
        stage="backend",
        compile_kwargs={"xp": "numpy", "backend": "jax"},
    ),
    Bad(
        "backend-unknown-xp-name",
        sir_expr(),
        BackendError,
        ValueError,
        ("xp", "torch"),
        stage="backend",
        compile_kwargs={"xp": "torch"},
    ),
    Bad(
        "backend-unknown-backend",
        sir_expr(),
        BackendError,
        ValueError,
        ("backend", "cupy"),
        stage="backend",
        compile_kwargs={"backend": "cupy"},
    ),
    Bad(
        "backend-xp-wrong-type",
        sir_expr(),
        BackendError,
        ValueError,
        ("xp", "42"),
        stage="backend",
        compile_kwargs={"xp": 42},
    ),
]


def _raise(case: Bad) -> BaseException:
    """Run `case` at its stage and return the exception it raised."""
    spec = copy.deepcopy(case.spec)
    if case.stage == "normalize":
        with pytest.raises(OpSystemError) as info:
            normalize_rhs(spec)
        return info.value
    if case.stage == "compile":
        rhs = normalize_rhs(spec)  # 0.1.2 accepted these at normalize time
        with pytest.raises(OpSystemError) as info:
            compile_rhs(rhs)
        return info.value
    if case.stage == "backend":
        with pytest.raises(OpSystemError) as info:
            compile_spec(spec, **case.compile_kwargs)
        return info.value
    assert case.stage == "call"
    compiled = compile_spec(spec)
    with pytest.raises(OpSystemError) as info:
        compiled.eval_fn(0.0, case.y, **case.params)
    return info.value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Bad) -> None:
    err = _raise(case)
    assert type(err) is case.exc, (
        f"expected {case.exc.__name__}, got {type(err).__name__}: {err}"
    )
    assert isinstance(err, case.builtin)
    msg = str(err)
    for frag in case.fragments:
        if isinstance(frag, re.Pattern):
            assert frag.search(msg), f"{frag.pattern!r} not in message: {msg}"
        else:
            assert frag in msg, f"{frag!r} not in message: {msg}"


def test_case_ids_unique_and_enough() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40


# -- errors that must not be raised too early ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "np.floor(S)",
        "np.load('x')",
        "foo(S)",
        "S.real",
        "np.linalg",
        "getattr(S, 'x')",
        "__import__('os')",
    ],
)
def test_disallowed_constructs_normalize_then_fail_at_compile(text: str) -> None:
    rhs = normalize_rhs(expr1(text))  # as in 0.1.2: normalize accepts, compile rejects
    assert rhs.state_names == ("S",)
    with pytest.raises(ExpressionError) as info:
        compile_rhs(rhs)
    assert isinstance(info.value, ValueError)
    assert info.value.path == "equations['S']"
    assert info.value.token is not None
    assert info.value.token in str(info.value)


def test_error_attributes_carry_path_and_token() -> None:
    with pytest.raises(SpecError) as info:
        normalize_rhs(
            sir_tr(
                {"from": "S", "to": "I", "rate": "b"},
                {"from": "Qux", "to": "R", "rate": "g"},
            )
        )
    assert info.value.path == "transitions[1].from"
    assert info.value.token == "Qux"


def test_alias_cycle_normalizes_and_compiles_like_0_1_2() -> None:
    # 0.1.2 reported alias cycles only when evaluating; keep that.
    spec = expr1("-Aaa * S") | {"aliases": {"Aaa": "Bbb + 1", "Bbb": "2 * Aaa"}}
    compiled = compile_spec(spec)
    with pytest.raises(ExpressionError, match="could not resolve alias dependencies"):
        compiled.eval_fn(0.0, [1.0])


def test_missing_params_lists_every_missing_name() -> None:
    compiled = compile_spec(sir_expr())
    with pytest.raises(ParameterError) as info:
        compiled.eval_fn(0.0, SIR_Y)
    assert "beta" in str(info.value)
    assert "gamma" in str(info.value)
    assert isinstance(info.value, TypeError)
