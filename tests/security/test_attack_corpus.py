"""Attack corpus: hostile or pathological expressions and specs.

Every entry must be rejected at normalize/compile time with an op_system error
(`OpSystemError`), the message must name the offending token, and nothing may
run: each payload, if it were ever executed, would create a sentinel file,
which must not exist afterwards.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from op_system import OpSystemError, compile_spec

SENTINEL = Path(__file__).with_name("SENTINEL_SHOULD_NOT_EXIST")
S = str(SENTINEL)
TOUCH = f"open({S!r}, 'w')"
IMPORT_TOUCH = f"__import__('pathlib').Path({S!r}).touch()"

# (expression, token that the message must contain)
EXPRESSIONS: list[tuple[str, str]] = [
    ("().__class__.__bases__[0].__subclasses__()", "__class__"),
    ("beta.__class__", "__class__"),
    ("x.__dict__", "__dict__"),
    ("x.real", "x.real"),
    ("np.__builtins__", "np.__builtins__"),
    (IMPORT_TOUCH, "__import__"),
    ("__import__('os').system('touch " + S + "')", "__import__"),
    ("__builtins__", "__builtins__"),
    (f"eval({TOUCH!r})", "eval"),
    (f"exec({TOUCH!r})", "exec"),
    (TOUCH, "open"),
    ("getattr(x, '__class__')", "getattr"),
    ("globals()", "globals"),
    ("locals()", "locals"),
    ("vars()", "vars"),
    ("compile('1', 'f', 'eval')", "compile"),
    ("breakpoint()", "breakpoint"),
    ("input()", "input"),
    ("print(x)", "print"),
    ("type(x)", "type"),
    ("lambda: " + TOUCH, "lambda"),
    ("(lambda q: q)(x)", "lambda"),
    ("[" + TOUCH + " for q in [1]]", "ListComp"),
    ("{q for q in [x]}", "SetComp"),
    ("{q: q for q in [x]}", "DictComp"),
    ("sum(q for q in [x])", "sum"),
    ("(q := x)", "NamedExpr"),
    ("f'{x}'", "JoinedStr"),
    ("np.exp(*[x])", "np.exp"),
    ("np.exp(x=x)", "np.exp"),
    ("np.clip(x, a_min=0, a_max=1)", "np.clip"),
    ("sum_state(**{})", "sum_state"),
    ("np.load('" + S + "')", "np.load"),
    ("np.save('" + S + "', x)", "np.save"),
    ("np.ctypeslib", "np.ctypeslib"),
    ("np.lib.format.open_memmap('" + S + "')", "np.lib"),
    ("np.fromfile('" + S + "')", "np.fromfile"),
    ("np.frompyfunc(print, 1, 1)(x)", "np.frompyfunc"),
    ("np.vectorize(print)(x)", "np.vectorize"),
    ("np.testing", "np.testing"),
    ("np.os.system('x')", "np.os"),
    ("np", "np"),
    ("np.exp.__globals__", "np.exp.__globals__"),
    ("x[0]", "0"),
    ("x[1:2]", ":"),
    ("'abc'", "'abc'"),
    ("b'abc'", "b'abc'"),
    ("1j", "1j"),
    ("x if x else " + TOUCH, "open"),
    ("x and " + IMPORT_TOUCH, "__import__"),
    ("x // 2", "FloorDiv"),
    ("x @ x", "MatMult"),
    ("x << 2", "LShift"),
    ("~x", "Invert"),
    ("x is None", "Is"),
    ("x in [1]", "In"),
    ("None", "None"),
    ("...", "Ellipsis"),
    ("await x", "Await"),
    ("yield x", "yield"),
    ("x; " + TOUCH, "invalid expression syntax"),
    ("import os", "invalid expression syntax"),
    ("x\n" + TOUCH, "open"),
    ("\u0435xec('1')", "\u0435xec"),  # Cyrillic 'е' look-alike
    ("ｅｘｅｃ('1')", "exec"),  # full-width letters normalize to exec
    ("10**10**10", "10 ** 10 ** 10"),
    ("1 / 0 * x", "1 / 0"),
    ("9" * 5000, "integer literal is too large"),
    ("(" * 100_000 + "x" + ")" * 100_000, "too long"),
    ("-" * 5000 + "x", "nested too deeply"),
    ("x" + " + x" * 60_000, "too long"),
    ("+".join(["x"] * 30_000), "nested too deeply"),
    ("sum_over(age=j, " * 300 + "x" + ")" * 300, "nested too deeply"),
    ("\x00", "NUL"),
]


def _expr_spec(expr: str) -> dict:
    return {"kind": "expr", "state": ["x"], "equations": {"x": expr}}


@pytest.fixture(autouse=True)
def _no_sentinel():
    SENTINEL.unlink(missing_ok=True)
    yield
    assert not SENTINEL.exists(), "a payload was executed"


@pytest.mark.parametrize(
    ("expr", "token"), EXPRESSIONS, ids=[f"expr{i}" for i in range(len(EXPRESSIONS))]
)
def test_hostile_expression_rejected(expr: str, token: str) -> None:
    limit = sys.getrecursionlimit()
    with pytest.raises(OpSystemError) as info:
        compile_spec(_expr_spec(expr))
    assert sys.getrecursionlimit() == limit
    msg = str(info.value)
    assert token in msg, msg
    assert "equations['x']" in msg, msg


# (spec, token)
SPECS: list[tuple[dict, str]] = [
    ({"kind": "expr", "state": ["np"], "equations": {"np": "1"}}, "np"),
    (
        {"kind": "expr", "state": ["sum_state"], "equations": {"sum_state": "1"}},
        "sum_state",
    ),
    ({"kind": "expr", "state": ["x"], "equations": {"x": "xp * x"}}, "xp"),
    (
        {
            "kind": "expr",
            "state": ["x"],
            "aliases": {"np": "x"},
            "equations": {"x": "np"},
        },
        "np",
    ),
    (
        {"kind": "expr", "state": ["x"], "equations": {"x": "sum_prefix * x"}},
        "sum_prefix",
    ),
    ({"kind": "expr", "state": ["__x"], "equations": {"__x": "1"}}, "__x"),
    ({"kind": "expr", "state": ["x-y"], "equations": {"x-y": "1"}}, "x-y"),
    ({"kind": "expr", "state": ["x", "x"], "equations": {"x": "1"}}, "x"),
    # (a finite number is an expression: `{"x": 3}` is accepted)
    ({"kind": "expr", "state": ["x"], "equations": {"x": True}}, "True"),
    ({"kind": "expr", "state": ["x"], "equations": {"x": math.inf}}, "inf"),
    ({"kind": "expr", "state": ["x"], "equations": {"x": math.nan}}, "nan"),
    ({"kind": "expr", "state": ["x"], "equations": {"x": None}}, "None"),
    ({"kind": "expr", "state": ["x"], "equations": {"x": ["x"]}}, "['x']"),
    ({"kind": "expr", "state": [1], "equations": {"x": "1"}}, "1"),
    ({"kind": "expr", "state": "x", "equations": {"x": "1"}}, "state"),
    ({"kind": "expr", "state": ["x"], "equations": "x"}, "equations"),
    (
        {
            "kind": "expr",
            "state": ["x"],
            "aliases": {"a": "b + 1", "b": "a + 1"},
            "equations": {"x": "a"},
        },
        "could not resolve alias dependencies",
    ),
    ({"kind": "expr", "state": ["S[age]"], "equations": {"S[age]": "1"}}, "age"),
    (
        {
            "kind": "expr",
            "axes": [{"name": "age", "coords": ["y"]}],
            "state": ["S[age]"],
            "equations": {"S[age]": "S[age=z]"},
        },
        "z",
    ),
    (
        {
            "kind": "expr",
            "axes": [{"name": "age", "coords": ["y"]}],
            "state": ["S[age]"],
            "equations": {"S[age]": "sum_over(vax=j, S[age])"},
        },
        "vax",
    ),
    (
        {
            "kind": "expr",
            "axes": [{"name": "age", "coords": ["y"]}],
            "state": ["S"],
            "equations": {"S": "S * x[age]"},
        },
        "age",
    ),
    (
        {
            "kind": "expr",
            "axes": [{"name": "age", "coords": ["y", "y"]}],
            "state": ["S"],
            "equations": {"S": "1"},
        },
        "y",
    ),
    (
        {
            "kind": "expr",
            "axes": [{"name": "__class__", "coords": ["y"]}],
            "state": ["S"],
            "equations": {"S": "1"},
        },
        "__class__",
    ),
    (
        {
            "kind": "transitions",
            "state": ["S", "I"],
            "transitions": [{"from": "S", "to": "I", "rate": TOUCH}],
        },
        "open",
    ),
    (
        {
            "kind": "transitions",
            "state": ["S", "I"],
            "transitions": [{"from": TOUCH, "to": "I", "rate": "b"}],
        },
        "from",
    ),
    (
        {
            "kind": "transitions",
            "state": ["S", "I"],
            "transitions": [{"from": "S", "to": "I", "rate": "b", "name": 3}],
        },
        "name",
    ),
    (
        {
            "kind": "transitions",
            "state": ["S", "I"],
            "chain": [{"name": "E", "length": 2, "forward": IMPORT_TOUCH}],
            "transitions": [],
        },
        "__import__",
    ),
    (
        {
            "kind": "transitions",
            "state": ["S", "I"],
            "transitions": [
                {"from": "S", "to": "I", "rate": "np.exp(" * 250 + "b" + ")" * 250}
            ],
        },
        "nested too deeply",
    ),
    ({"kind": "pde", "state": ["u"], "equations": {"u": "0"}}, "pde"),
    (
        {
            "kind": "expr",
            "state": ["x"],
            "equations": {"x": "x"},
            "kernels": [{"name": "K", "form": "__import__"}],
        },
        "__import__",
    ),
]


@pytest.mark.parametrize(
    ("spec", "token"), SPECS, ids=[f"spec{i}" for i in range(len(SPECS))]
)
def test_hostile_spec_rejected(spec: dict, token: str) -> None:
    with pytest.raises(OpSystemError) as info:
        compile_spec(spec)(0.0, [1.0]) if False else compile_spec(spec).eval_fn(
            0.0, [1.0] * 2
        )
    assert token in str(info.value), str(info.value)


def test_corpus_size() -> None:
    assert len(EXPRESSIONS) + len(SPECS) >= 60
