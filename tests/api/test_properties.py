"""Property-based tests (hypothesis) of the expression language and templates.

(a) random well-formed expressions compiled as a one-state `expr` model give the
    value of an independent reference evaluator (a walk over Python's `ast` with
    NumPy float64 semantics);
(b) parse -> print (`to_source`) -> parse is the identity on the IR, and the
    printed text means the same as the original;
(c) arbitrary text given as an equation either compiles or raises an
    `OpSystemError`, never another exception (also when the result is called);
(d) random templated models (axes, states over axis subsets, `sum_over` with and
    without `IN` filters, literal coordinates, indexed parameters) agree with a
    straightforward loop over expanded names, with 0.1.2 state/parameter naming.
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from op_system import (
    ExpressionError,
    OpSystemError,
    compile_rhs,
    compile_spec,
    normalize_rhs,
)
from op_system._lang.ir import to_source
from op_system._lang.parse import parse_expr


def cfg(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        report_multiple_bugs=False,
    )


# -- reference evaluator -------------------------------------------------------------------

_BIN: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_CMP: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_NP_CONST = {"pi": np.pi, "e": np.e, "inf": np.inf, "nan": np.nan}


def _f(x: Any) -> np.float64:
    """A value as float64 (booleans become 0.0/1.0), as in arithmetic."""
    return np.float64(x)


def _truthy(x: Any) -> bool:
    return bool(x) if isinstance(x, (bool, np.bool_)) else bool(_f(x) != 0)


def ref_eval(text: str, env: Mapping[str, Any]) -> float:
    """Evaluate `text` with NumPy float64 semantics, independently of op_system."""
    with np.errstate(all="ignore"):
        return float(_f(_ev(ast.parse(text, mode="eval").body, env)))


def _ev(n: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(n, ast.Constant):
        return np.bool_(n.value) if isinstance(n.value, bool) else np.float64(n.value)
    if isinstance(n, ast.Name):
        return env[n.id]
    if isinstance(n, ast.Attribute):
        assert isinstance(n.value, ast.Name)
        assert n.value.id == "np"
        return np.float64(_NP_CONST[n.attr])
    if isinstance(n, ast.BinOp):
        return np.float64(_BIN[type(n.op)](_f(_ev(n.left, env)), _f(_ev(n.right, env))))
    if isinstance(n, ast.UnaryOp):
        v = _ev(n.operand, env)
        if isinstance(n.op, ast.Not):
            return np.bool_(not _truthy(v))
        if (
            isinstance(n.op, ast.USub)
            and isinstance(n.operand, ast.Constant)
            and type(n.operand.value) is int
        ):
            return np.float64(
                -n.operand.value
            )  # a negative integer literal: Python has no -0
        return -_f(v) if isinstance(n.op, ast.USub) else +_f(v)
    if isinstance(n, ast.Compare):
        vals = [_f(_ev(x, env)) for x in (n.left, *n.comparators)]
        return np.bool_(
            all(_CMP[type(op)](vals[i], vals[i + 1]) for i, op in enumerate(n.ops))
        )
    if isinstance(n, ast.BoolOp):
        v = _ev(n.values[0], env)
        for nxt in n.values[1:]:
            if _truthy(v) == isinstance(n.op, ast.Or):
                return v
            v = _ev(nxt, env)
        return v
    if isinstance(n, ast.IfExp):
        return _ev(n.body, env) if _truthy(_ev(n.test, env)) else _ev(n.orelse, env)
    if isinstance(n, ast.Call):
        assert isinstance(n.func, ast.Attribute)
        name = n.func.attr
        if name == "where":
            c, a, b = n.args
            return np.float64(
                np.where(_truthy(_ev(c, env)), _f(_ev(a, env)), _f(_ev(b, env)))
            )
        args = [_f(_ev(a, env)) for a in n.args]
        return np.float64(getattr(np, name)(*args))
    raise AssertionError(f"reference evaluator: unexpected node {ast.dump(n)}")


def has_nonfinite_constant(text: str) -> bool:
    """Does `text` contain a variable-free operation or literal whose float64 value is not finite?"""
    for node in ast.walk(ast.parse(text, mode="eval")):
        if isinstance(node, (ast.BinOp, ast.Constant)) and not any(
            isinstance(n, ast.Name) and n.id != "np" for n in ast.walk(node)
        ):
            with np.errstate(all="ignore"):
                if not np.isfinite(_f(_ev(node, {}))):
                    return True
    return False


def same_float(got: float, want: float) -> bool:
    """Equal up to rounding; nan equals nan; infinities must match exactly."""
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    if math.isinf(want) or math.isinf(got):
        return got == want
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


def quiet_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call with floating-point warnings silenced (log of negatives, overflow, ...)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


# -- expression grammar ---------------------------------------------------------------------

VARS = ("S", "a", "b", "c", "t")
NUMBERS = ("0", "1", "2", "3", "0.5", "2.5", "1e-3", "10", "7", "True", "False")
FUNCS1 = ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "log1p", "expm1")
FUNCS2 = ("maximum", "minimum", "hypot", "arctan2")


@dataclass(frozen=True)
class E:
    """Expression text; `simple` is True when it may appear unparenthesized in a binop."""

    text: str
    simple: bool


def _wrap(e: E, paren: bool) -> str:
    return f"({e.text})" if paren or not e.simple else e.text


leaves = st.one_of(
    st.sampled_from(NUMBERS).map(lambda s: E(s, True)),
    st.sampled_from(VARS).map(lambda s: E(s, True)),
    st.sampled_from(("np.pi", "np.e", "np.inf", "np.nan")).map(lambda s: E(s, True)),
)


CMP_OPS = ("<", "<=", ">", ">=", "==", "!=")


def _chain(xs: list[E], ops: list[str]) -> str:
    out = f"({xs[0].text})"
    for op, x in zip(ops, xs[1:], strict=True):
        out += f" {op} ({x.text})"
    return out


def _extend(sub: st.SearchStrategy[E]) -> st.SearchStrategy[E]:
    binop = st.builds(
        lambda lhs, op, rhs, pl, pr: E(f"{_wrap(lhs, pl)} {op} {_wrap(rhs, pr)}", True),
        sub,
        st.sampled_from(("+", "-", "*", "/", "**", "%")),
        sub,
        st.booleans(),
        st.booleans(),
    )
    unary = st.builds(
        lambda x, op, p: E(f"{op}{_wrap(x, p)}", True),
        sub,
        st.sampled_from(("-", "+")),
        st.booleans(),
    )
    compare = st.lists(sub, min_size=2, max_size=3).flatmap(
        lambda xs: st.lists(
            st.sampled_from(CMP_OPS), min_size=len(xs) - 1, max_size=len(xs) - 1
        ).map(lambda ops: E(_chain(xs, ops), False))
    )
    ifexp = st.builds(
        lambda a, c, b: E(f"({a.text}) if ({c.text}) else ({b.text})", False),
        sub,
        sub,
        sub,
    )
    boolop = st.builds(
        lambda xs, op: E(f" {op} ".join(f"({x.text})" for x in xs), False),
        st.lists(sub, min_size=2, max_size=3),
        st.sampled_from(("and", "or")),
    )
    notop = st.builds(lambda x: E(f"not ({x.text})", False), sub)
    call1 = st.builds(
        lambda f, x: E(f"np.{f}({x.text})", True), st.sampled_from(FUNCS1), sub
    )
    call2 = st.builds(
        lambda f, x, y: E(f"np.{f}({x.text}, {y.text})", True),
        st.sampled_from(FUNCS2),
        sub,
        sub,
    )
    call3 = st.builds(
        lambda f, x, y, z: E(f"np.{f}({x.text}, {y.text}, {z.text})", True),
        st.sampled_from(("where", "clip")),
        sub,
        sub,
        sub,
    )
    return st.one_of(
        binop, binop, unary, compare, ifexp, boolop, notop, call1, call2, call3
    )


expressions = st.recursive(leaves, _extend, max_leaves=10).map(lambda e: e.text)
values = st.one_of(
    st.sampled_from((0.0, 1.0, -1.0, 0.5, 2.0, -2.5, 3.0)),
    st.floats(min_value=-20, max_value=20, allow_nan=False),
)


def _compile_one_state(text: str):
    return compile_spec({"kind": "expr", "state": ["S"], "equations": {"S": text}})


@cfg(600)
@given(text=expressions, s=values, a=values, b=values, c=values, t=values)
def test_random_expression_matches_reference(
    text: str, s: float, a: float, b: float, c: float, t: float
) -> None:
    env = {
        "S": np.float64(s),
        "a": np.float64(a),
        "b": np.float64(b),
        "c": np.float64(c),
        "t": np.float64(t),
    }
    want = ref_eval(text, env)
    if has_nonfinite_constant(text):
        # op_system may reject a variable-free part that is not finite (`1/0`, `10**400`).
        try:
            compiled = _compile_one_state(text)
        except ExpressionError as err:
            rejected: ExpressionError | None = err
        else:
            rejected = None
        if rejected is not None:
            assert rejected.path == "equations['S']"
            return
    compiled = _compile_one_state(text)
    out = quiet_call(compiled.eval_fn, t, [s], a=a, b=b, c=c)
    assert out.shape == (1,)
    assert out.dtype == np.float64
    got = float(out[0])
    assert same_float(got, want), (
        f"{text!r}: op_system {got!r} != reference {want!r}\n{compiled.source}"
    )


@cfg(200)
@given(text=expressions, s=values, a=values, b=values, c=values, t=values)
def test_rendered_equation_means_the_same(
    text: str, s: float, a: float, b: float, c: float, t: float
) -> None:
    """The 0.1.2-compatible `NormalizedRhs.equations` string evaluates to the same value."""
    env = {
        "S": np.float64(s),
        "a": np.float64(a),
        "b": np.float64(b),
        "c": np.float64(c),
        "t": np.float64(t),
    }
    rendered = normalize_rhs(
        {"kind": "expr", "state": ["S"], "equations": {"S": text}}
    ).equations[0]
    assert same_float(ref_eval(rendered, env), ref_eval(text, env)), (
        f"{text!r} rendered as {rendered!r}"
    )


def test_negative_literal_base_of_power() -> None:
    """Regression example for the random test: `(-2) ** a` is 4 at a=2, not -4."""
    compiled = _compile_one_state("(-2) ** a + 0 * S")
    assert compiled.eval_fn(0.0, [1.0], a=2.0)[0] == 4.0


@pytest.mark.parametrize(
    "text",
    [
        "S + 1/0",
        "S + 1 % 0",
        "S + 10 ** 400",
        "S + 0 ** -1",
        "S + (-8) ** 0.5",
        "S + 1e400",
        "S + np.inf % 0",
    ],
)
def test_nonfinite_constant_is_an_expression_error(text: str) -> None:
    """A variable-free part that is not finite is rejected by compile_rhs (0.1.2: ValueError at call)."""
    rhs = normalize_rhs({"kind": "expr", "state": ["S"], "equations": {"S": text}})
    with pytest.raises(ExpressionError) as info:
        compile_rhs(rhs)
    assert isinstance(info.value, ValueError)
    assert "equations['S']" in str(info.value)


def test_scalar_parameters_and_time_follow_float64_semantics() -> None:
    """Plain Python floats passed as `t` or scalar parameters behave like float64."""
    cases = [
        ("S + a / b", {"a": 1.0, "b": 0.0}, np.inf),
        ("S + 1 / t", {}, np.inf),
        ("S + a % b", {"a": 1.0, "b": 0.0}, np.nan),
        ("S + a ** b", {"a": 0.0, "b": -1.0}, np.inf),
        ("S + a ** b", {"a": 10.0, "b": 400.0}, np.inf),
        ("S + a ** b", {"a": -8.0, "b": 0.5}, np.nan),
        ("S + a % b", {"a": np.inf, "b": 2.0}, np.nan),
    ]
    for text, params, want in cases:
        got = float(
            quiet_call(_compile_one_state(text).eval_fn, 0.0, [1.0], **params)[0]
        )
        assert same_float(got, want), f"{text!r} with {params}: {got!r} != {want!r}"


def test_integer_literals_are_float64() -> None:
    """Integer literals must not switch NumPy functions to (overflowing) integer arithmetic."""
    cases = {
        "S + np.maximum(10, 3) ** 20": 1.0 + 1e20,
        "S + 0 % np.maximum(0, 0)": np.nan,
        "S + np.where(S > 0, 3, 2) ** 40": 1.0 + 3.0**40,
    }
    for text, want in cases.items():
        got = float(quiet_call(_compile_one_state(text).eval_fn, 0.0, [1.0])[0])
        assert same_float(got, want), f"{text!r}: {got!r} != {want!r}"


def test_sum_over_body_independent_of_loop_variable() -> None:
    """`sum_over(age=j, I[age])` is `n_age * I[age]` (the body ignores `j`)."""
    spec = {
        "kind": "expr",
        "axes": [{"name": "age", "coords": ["u", "v"]}],
        "state": ["I[age]", "S"],
        "equations": {
            "I[age]": "sum_over(age=j, I[age]) + sum_over(age=k IN [v], beta[age])",
            "S": "-S",
        },
    }
    got = compile_spec(spec).eval_fn(0.0, [1.0, 2.0, 3.0], beta=[10.0, 20.0])
    np.testing.assert_allclose(got, [12.0, 24.0, -3.0])


# -- (b) parse -> print -> parse round trip ---------------------------------------------------

AXES = ("age", "vax", "grid")
templated_leaves = st.one_of(
    leaves,
    st.sampled_from(
        (
            "X[age]",
            "X[age, vax]",
            "X[age=j]",
            "X[age, vax=u]",
            "C[age, age=j]",
            "lambda[age]",
            "X[grid=0.5]",
            "X[grid=-1]",
            "sum_state()",
            "sum_prefix('I')",
        )
    ).map(lambda s: E(s, True)),
)


def _extend_templated(sub: st.SearchStrategy[E]) -> st.SearchStrategy[E]:
    reduce_ = st.builds(
        lambda kind, ax, flt, body: E(
            f"{kind}({ax}=j{' IN [' + ', '.join(flt) + ']' if flt and kind == 'sum_over' else ''}, {body.text})",
            True,
        ),
        st.sampled_from(("sum_over", "integrate_over")),
        st.sampled_from(AXES),
        st.one_of(
            st.none(),
            st.lists(
                st.sampled_from(("u", "v", "w")), min_size=1, max_size=3, unique=True
            ),
        ),
        sub,
    )
    return st.one_of(_extend(sub), reduce_)


templated_expressions = st.recursive(
    templated_leaves, _extend_templated, max_leaves=10
).map(lambda e: e.text)


@cfg(400)
@given(text=templated_expressions)
def test_parse_print_parse_round_trip(text: str) -> None:
    node = parse_expr(text)
    printed = to_source(node)
    assert parse_expr(printed) == node, f"{text!r} printed as {printed!r}"
    assert to_source(parse_expr(printed)) == printed  # printing is a fixed point


@cfg(300)
@given(text=expressions, s=values, a=values, b=values, c=values, t=values)
def test_printed_text_means_the_same(
    text: str, s: float, a: float, b: float, c: float, t: float
) -> None:
    env = {
        "S": np.float64(s),
        "a": np.float64(a),
        "b": np.float64(b),
        "c": np.float64(c),
        "t": np.float64(t),
    }
    printed = to_source(parse_expr(text))
    assert same_float(ref_eval(printed, env), ref_eval(text, env)), (
        f"{text!r} printed as {printed!r}"
    )


# -- (c) arbitrary text ---------------------------------------------------------------------------

TOKENS = (
    "S",
    "I",
    "a",
    "beta",
    "t",
    "np",
    ".",
    "np.exp",
    "np.log",
    "np.where",
    "np.floor",
    "(",
    ")",
    "[",
    "]",
    ",",
    "+",
    "-",
    "*",
    "/",
    "**",
    "%",
    "//",
    "<",
    "==",
    "=",
    "!=",
    "not",
    "and",
    "or",
    "if",
    "else",
    "lambda",
    "sum_over",
    "sum_state",
    "sum_prefix",
    "integrate_over",
    "IN",
    "age",
    "j",
    "u",
    "0",
    "1",
    "2.5",
    "1e400",
    "'I'",
    ":",
    "__import__",
    "__x",
    "x.real",
    "@",
    "~",
    "\\",
    "#",
    "\n",
    "\t",
    "\x00",
    "é",
    ";",
    "{",
    "}",
)
token_soup = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join)
raw_text = st.one_of(
    st.text(max_size=40),
    token_soup,
    st.text(alphabet="Sab()+-*/%<>=!.,[]_ npexlogIN1234", max_size=30),
)


def _spec_with_equation(eq: str) -> dict[str, Any]:
    return {
        "kind": "expr",
        "axes": [{"name": "age", "coords": ["u", "w"]}],
        "state": ["S", "I[age]"],
        "equations": {"S": eq, "I[age]": "-I[age]"},
    }


@cfg(600)
@given(text=raw_text)
def test_arbitrary_text_compiles_or_raises_op_system_error(text: str) -> None:
    try:
        compiled = compile_spec(_spec_with_equation(text))
    except OpSystemError:
        return
    params = {p: 0.5 for p in compiled.param_names}
    try:
        out = quiet_call(compiled.eval_fn, 0.0, [1.0, 2.0, 3.0], **params)
    except OpSystemError:
        return
    assert np.shape(out) == (3,)


@cfg(200)
@given(text=raw_text)
def test_arbitrary_text_in_alias_and_rate(text: str) -> None:
    spec = {
        "kind": "transitions",
        "state": ["S", "I"],
        "aliases": {"N": text},
        "transitions": [{"from": "S", "to": "I", "rate": text}],
    }
    try:
        compiled = compile_spec(spec)
    except OpSystemError:
        return
    params = {p: 0.5 for p in compiled.param_names}
    try:
        quiet_call(compiled.eval_fn, 0.0, [1.0, 2.0], **params)
    except OpSystemError:
        return


def _templated_spec(eq: str) -> dict[str, Any]:
    return {
        "kind": "expr",
        "axes": [
            {"name": "age", "coords": ["u", "v", "w"]},
            {"name": "vax", "coords": ["u", "v"]},
            {"name": "grid", "type": "continuous", "coords": [0.0, 0.5, 1.0]},
        ],
        "state": ["S", "I[age]", "X[age,vax]", "G[grid]"],
        "equations": {
            "S": "-S",
            "I[age]": eq,
            "X[age,vax]": "-X[age,vax]",
            "G[grid]": "-G[grid]",
        },
    }


@cfg(400)
@given(text=templated_expressions, seed=st.integers(0, 2**32 - 1))
def test_random_templated_expression_compiles_or_raises_op_system_error(
    text: str, seed: int
) -> None:
    """Well-formed but possibly meaningless templated text: an op_system error or a result."""
    try:
        compiled = compile_spec(_templated_spec(text))
    except OpSystemError:
        return
    rng = np.random.default_rng(seed)
    params = {p: float(rng.uniform(0.1, 2.0)) for p in compiled.param_names}
    try:
        out = quiet_call(
            compiled.eval_fn,
            0.5,
            rng.uniform(0.5, 2.0, len(compiled.state_names)),
            **params,
        )
    except OpSystemError:
        return
    assert np.shape(out) == (len(compiled.state_names),)


# -- (d) random templated models vs a loop over expanded names -------------------------------------

AXIS_NAMES = ("age", "vax", "reg")
COORD_POOL = ("u", "v", "w", "lo", "mid", "hi", "y0", "y1")
STATE_NAMES = ("S", "I", "R")


def _frag(coord: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", coord).strip("_") or "_"


def _cell(base: str, axes: tuple[str, ...], assign: Mapping[str, str]) -> str:
    if not axes:
        return base
    return base + "__" + "__".join(f"{ax}_{_frag(assign[ax])}" for ax in axes)


@dataclass
class Coupling:
    """`coef * sum_over(...nested..., Y[...])`: each axis of Y is a placeholder, a loop or a literal."""

    src: str
    how: dict[
        str, tuple[str, Any]
    ]  # axis -> ("ph", None) | ("sum", coords or None) | ("lit", coord)
    #: an outer `sum_over(axis=d_axis [IN [...]], ...)` whose variable the body does not use
    dummy: tuple[str, tuple[str, ...] | None] | None = None


@dataclass
class StateEq:
    base: str
    axes: tuple[str, ...]
    k_axes: tuple[str, ...]  # axes of the decay parameter k_<base>
    couplings: list[Coupling]


@st.composite
def templated_models(
    draw: st.DrawFn,
) -> tuple[dict[str, tuple[str, ...]], list[StateEq]]:
    n_axes = draw(st.integers(1, 3))
    axes = {
        name: tuple(
            draw(
                st.lists(
                    st.sampled_from(COORD_POOL), min_size=2, max_size=3, unique=True
                )
            )
        )
        for name in AXIS_NAMES[:n_axes]
    }
    n_states = draw(st.integers(1, 3))
    states = []
    for base in STATE_NAMES[:n_states]:
        sub = draw(
            st.lists(st.sampled_from(list(axes)), max_size=len(axes), unique=True)
        )
        states.append((base, tuple(sub)))
    eqs = []
    for base, ax in states:
        k_axes = tuple(draw(st.permutations([a for a in ax if draw(st.booleans())])))
        couplings = []
        for _ in range(draw(st.integers(0, 2))):
            src, src_axes = draw(st.sampled_from(states))
            how: dict[str, tuple[str, Any]] = {}
            for a in src_axes:
                options = ["sum", "lit"] + (["ph"] if a in ax else [])
                kind = draw(st.sampled_from(options))
                if kind == "ph":
                    how[a] = ("ph", None)
                elif kind == "lit":
                    how[a] = ("lit", draw(st.sampled_from(axes[a])))
                else:
                    flt = draw(
                        st.one_of(
                            st.none(),
                            st.lists(st.sampled_from(axes[a]), min_size=1, unique=True),
                        )
                    )
                    how[a] = ("sum", tuple(flt) if flt is not None else None)
            dummy = None
            if draw(st.integers(0, 3)) == 0:
                d_ax = draw(st.sampled_from(list(axes)))
                flt = draw(
                    st.one_of(
                        st.none(),
                        st.lists(st.sampled_from(axes[d_ax]), min_size=1, unique=True),
                    )
                )
                dummy = (d_ax, tuple(flt) if flt is not None else None)
            couplings.append(Coupling(src, how, dummy))
        eqs.append(StateEq(base, ax, k_axes, couplings))
    return axes, eqs


def _key(base: str, axes: tuple[str, ...]) -> str:
    return f"{base}[{','.join(axes)}]" if axes else base


def _coupling_text(cp: Coupling, src_axes: tuple[str, ...], positional: bool) -> str:
    items = []
    for a in src_axes:
        kind, val = cp.how[a]
        if kind == "ph":
            items.append(a if positional else f"{a}={a}")
        elif kind == "lit":
            items.append(f"{a}={val}")
        else:
            items.append(f"{a}=j_{a}")
    text = _key(cp.src, ()) if not items else f"{cp.src}[{', '.join(items)}]"
    for a in reversed(src_axes):
        kind, val = cp.how[a]
        if kind == "sum":
            flt = f" IN [{', '.join(val)}]" if val is not None else ""
            text = f"sum_over({a}=j_{a}{flt}, {text})"
    if cp.dummy is not None:
        d_ax, d_flt = cp.dummy
        flt = f" IN [{', '.join(d_flt)}]" if d_flt is not None else ""
        text = f"sum_over({d_ax}=d_{d_ax}{flt}, {text})"
    return text


def _spec_for(
    axes: dict[str, tuple[str, ...]], eqs: list[StateEq], positional: bool
) -> dict[str, Any]:
    state_axes = {e.base: e.axes for e in eqs}
    equations = {}
    for e in eqs:
        k = f"k_{e.base}[{', '.join(e.k_axes)}]" if e.k_axes else f"k_{e.base}"
        terms = [f"-{k} * {_key(e.base, e.axes)}"]
        for i, cp in enumerate(e.couplings):
            terms.append(
                f"c_{e.base}_{i} * {_coupling_text(cp, state_axes[cp.src], positional)}"
            )
        equations[_key(e.base, e.axes)] = " + ".join(terms)
    return {
        "kind": "expr",
        "axes": [{"name": n, "coords": list(c)} for n, c in axes.items()],
        "state": [_key(e.base, e.axes) for e in eqs],
        "equations": equations,
    }


def _reference(
    axes: dict[str, tuple[str, ...]],
    eqs: list[StateEq],
    y: dict[str, float],
    params: dict[str, Any],
) -> list[float]:
    """dydt by looping over expanded cells, reading the state by expanded name."""
    state_axes = {e.base: e.axes for e in eqs}
    out = []
    for e in eqs:
        for combo in itertools.product(*(axes[a] for a in e.axes)):
            assign = dict(zip(e.axes, combo, strict=True))
            k = params[f"k_{e.base}"]
            kval = (
                np.asarray(k)[tuple(axes[a].index(assign[a]) for a in e.k_axes)]
                if e.k_axes
                else k
            )
            val = -kval * y[_cell(e.base, e.axes, assign)]
            for i, cp in enumerate(e.couplings):
                src_axes = state_axes[cp.src]
                loops = [a for a in src_axes if cp.how[a][0] == "sum"]
                total = 0.0
                for loop_combo in itertools.product(
                    *(
                        (cp.how[a][1] if cp.how[a][1] is not None else axes[a])
                        for a in loops
                    )
                ):
                    cell = {}
                    for a in src_axes:
                        kind, v = cp.how[a]
                        cell[a] = (
                            assign[a]
                            if kind == "ph"
                            else v
                            if kind == "lit"
                            else loop_combo[loops.index(a)]
                        )
                    total += y[_cell(cp.src, src_axes, cell)]
                if cp.dummy is not None:
                    d_ax, d_flt = cp.dummy
                    total *= len(d_flt) if d_flt is not None else len(axes[d_ax])
                val += params[f"c_{e.base}_{i}"] * total
            out.append(float(val))
    return out


@cfg(150)
@given(
    model=templated_models(),
    positional=st.booleans(),
    expanded_params=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_templated_model_matches_loop_reference(
    model, positional: bool, expanded_params: bool, seed: int
) -> None:
    axes, eqs = model
    spec = _spec_for(axes, eqs, positional)
    compiled = compile_spec(spec)

    # state names: C-order product of coords, `base__axis_fragment`, blocks in spec order
    names = [
        _cell(e.base, e.axes, dict(zip(e.axes, combo, strict=True)))
        for e in eqs
        for combo in itertools.product(*(axes[a] for a in e.axes))
    ]
    assert compiled.state_names == tuple(names)

    rng = np.random.default_rng(seed)
    y_vec = rng.uniform(0.5, 10.0, len(names))
    y = dict(zip(names, y_vec, strict=True))
    params: dict[str, Any] = {}
    expected_param_names: set[str] = set()
    for e in eqs:
        shape = tuple(len(axes[a]) for a in e.k_axes)
        params[f"k_{e.base}"] = (
            rng.uniform(0.1, 1.0, shape) if shape else float(rng.uniform(0.1, 1.0))
        )
        for combo in itertools.product(*(axes[a] for a in e.k_axes)):
            expected_param_names.add(
                _cell(f"k_{e.base}", e.k_axes, dict(zip(e.k_axes, combo, strict=True)))
            )
        for i in range(len(e.couplings)):
            params[f"c_{e.base}_{i}"] = float(rng.uniform(0.1, 1.0))
            expected_param_names.add(f"c_{e.base}_{i}")
    assert set(compiled.param_names) == expected_param_names

    call_params = dict(params)
    if expanded_params:  # 0.1.2 style: one scalar per expanded name
        for e in eqs:
            if e.k_axes:
                arr = call_params.pop(f"k_{e.base}")
                for combo in itertools.product(
                    *(range(len(axes[a])) for a in e.k_axes)
                ):
                    assign = {
                        a: axes[a][i] for a, i in zip(e.k_axes, combo, strict=True)
                    }
                    call_params[_cell(f"k_{e.base}", e.k_axes, assign)] = float(
                        arr[combo]
                    )
    got = compiled.eval_fn(0.0, y_vec, **call_params)
    want = _reference(axes, eqs, y, params)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=str(spec))

    # the 0.1.2-compatible rendered strings mean the same thing
    env: dict[str, Any] = dict(y)
    for e in eqs:
        for combo in itertools.product(*(range(len(axes[a])) for a in e.k_axes)):
            assign = {a: axes[a][i] for a, i in zip(e.k_axes, combo, strict=True)}
            k = params[f"k_{e.base}"]
            env[_cell(f"k_{e.base}", e.k_axes, assign)] = np.float64(
                k[combo] if e.k_axes else k
            )
        for i in range(len(e.couplings)):
            env[f"c_{e.base}_{i}"] = np.float64(params[f"c_{e.base}_{i}"])
    rendered = [ref_eval(text, env) for text in compiled.rhs.equations]
    np.testing.assert_allclose(
        rendered, want, rtol=1e-10, atol=1e-12, err_msg=str(spec)
    )


WEIRD_COORDS = ("0-4", "5-17", "65+", "a b", "x.y", "Q", "lo_hi", "7")


@cfg(100)
@given(
    axes=st.lists(
        st.lists(
            st.sampled_from(WEIRD_COORDS), min_size=2, max_size=4, unique_by=_frag
        ),
        min_size=1,
        max_size=3,
    ),
    data=st.data(),
)
def test_state_names_are_c_order_products_of_fragments(
    axes: list[list[str]], data: st.DataObject
) -> None:
    axis_defs = {AXIS_NAMES[i]: tuple(c) for i, c in enumerate(axes)}
    state_axes = [
        tuple(
            data.draw(st.permutations(list(axis_defs)))[
                : data.draw(st.integers(0, len(axis_defs)))
            ]
        )
        for _ in range(data.draw(st.integers(1, 3)))
    ]
    keys = [_key(STATE_NAMES[i], ax) for i, ax in enumerate(state_axes)]
    spec = {
        "kind": "expr",
        "axes": [{"name": n, "coords": list(c)} for n, c in axis_defs.items()],
        "state": keys,
        "equations": dict.fromkeys(keys, "0.0"),
    }
    rhs = normalize_rhs(spec)
    expected = [
        _cell(STATE_NAMES[i], ax, dict(zip(ax, combo, strict=True)))
        for i, ax in enumerate(state_axes)
        for combo in itertools.product(*(axis_defs[a] for a in ax))
    ]
    assert rhs.state_names == tuple(expected)
    assert len(set(expected)) == len(expected)
