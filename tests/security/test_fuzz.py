"""Fuzzing: random spec dicts and random expression text either compile or raise an
op_system error — never another exception, never a hang, never a crash.

CI runs a few hundred cases. To run 10^5 locally:

    OP_SYSTEM_FUZZ_EXAMPLES=100000 .venv/bin/python -m pytest tests/security/test_fuzz.py -q

Each case is bounded in time (`TIME_LIMIT` seconds, checked with a timer signal).
"""

from __future__ import annotations

import os
import signal
import string
import sys
import warnings
from contextlib import contextmanager

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from op_system import OpSystemError, SpecWarning, compile_spec

N_EXAMPLES = int(os.environ.get("OP_SYSTEM_FUZZ_EXAMPLES", "150"))
TIME_LIMIT = 5.0
FUZZ = settings(
    max_examples=N_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@contextmanager
def time_limit(seconds: float):
    def handler(signum, frame):  # pragma: no cover - only on a hang
        raise TimeoutError(f"case took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check(spec: object) -> None:
    limit = sys.getrecursionlimit()
    with time_limit(TIME_LIMIT):
        try:
            with warnings.catch_warnings():
                # unknown top-level keys are a SpecWarning, which is fine here
                warnings.simplefilter("ignore", SpecWarning)
                c = compile_spec(spec)  # type: ignore[arg-type]
        except OpSystemError:
            return
        # Compiled: it must also evaluate (or reject its parameters) cleanly.
        y = np.ones(len(c.state_names))
        params = {p: 0.5 for p in c.param_names}
        with np.errstate(all="ignore"):
            try:
                out = c.eval_fn(0.0, y, **params)
            except OpSystemError:
                return
        assert out.shape == y.shape
    assert sys.getrecursionlimit() == limit


NAMES = st.sampled_from(
    [
        "S",
        "I",
        "R",
        "x",
        "beta",
        "gamma",
        "age",
        "vax",
        "j",
        "np",
        "t",
        "sum_state",
        "lambda",
        "__class__",
        "C",
    ]
)
TOKENS = st.sampled_from(
    [
        "S",
        "I",
        "beta",
        "1",
        "2.5",
        "+",
        "-",
        "*",
        "/",
        "**",
        "%",
        "(",
        ")",
        "[",
        "]",
        ",",
        "=",
        "age",
        "j",
        "np.exp(",
        "np.log(",
        "sum_over(",
        "integrate_over(",
        "sum_state()",
        "sum_prefix('I')",
        " if ",
        " else ",
        " and ",
        " or ",
        "not ",
        "<",
        ">=",
        "==",
        "IN",
        "lambda",
        ":",
        "'",
        "__import__",
        ".",
        "x",
    ]
)
EXPR_TEXT = st.lists(TOKENS, max_size=25).map("".join)
BYTE_TEXT = st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
ANY_TEXT = st.one_of(
    EXPR_TEXT, BYTE_TEXT, st.text(alphabet=string.printable, max_size=80)
)

JSONISH = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.floats(allow_nan=True),
        ANY_TEXT,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(ANY_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)

AXES = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["age", "vax", "x"]),
            "coords": st.lists(
                st.sampled_from(["u", "v", "w", "0", "1"]), min_size=1, max_size=3
            ),
        },
        optional={"type": st.sampled_from(["categorical", "continuous", "weird"])},
    ),
    max_size=2,
)
STATE_ENTRIES = st.lists(
    st.one_of(NAMES, NAMES.map(lambda n: f"{n}[age]"), st.just("S[age,vax]")),
    min_size=1,
    max_size=4,
)


@st.composite
def specs(draw):
    kind = draw(st.sampled_from(["expr", "transitions", "other"]))
    spec: dict = {"kind": kind, "state": draw(st.one_of(STATE_ENTRIES, JSONISH))}
    if draw(st.booleans()):
        spec["axes"] = draw(st.one_of(AXES, JSONISH))
    if draw(st.booleans()):
        spec["aliases"] = draw(st.dictionaries(NAMES, ANY_TEXT, max_size=3))
    states = spec["state"] if isinstance(spec["state"], list) else []
    if kind != "transitions":
        keys = st.one_of(
            st.sampled_from([s for s in states if isinstance(s, str)] or ["S"]),
            ANY_TEXT,
        )
        spec["equations"] = draw(
            st.one_of(
                st.dictionaries(keys, st.one_of(EXPR_TEXT, JSONISH), max_size=4),
                JSONISH,
            )
        )
    else:
        tr = st.fixed_dictionaries(
            {
                "from": st.one_of(NAMES, ANY_TEXT),
                "to": st.one_of(NAMES, ANY_TEXT),
                "rate": st.one_of(EXPR_TEXT, JSONISH),
            },
            optional={"name": ANY_TEXT},
        )
        spec["transitions"] = draw(st.one_of(st.lists(tr, max_size=3), JSONISH))
    if draw(st.integers(0, 4)) == 0:
        spec["chain"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "name": NAMES,
                        "length": st.one_of(st.integers(-1, 4), JSONISH),
                        "forward": st.one_of(EXPR_TEXT, JSONISH),
                    },
                    optional={"exit": st.fixed_dictionaries({"to": NAMES})},
                ),
                max_size=2,
            )
        )
    for key in ("kernels", "operators", "constraints", "initial_state", "state_axes"):
        if draw(st.integers(0, 6)) == 0:
            spec[key] = draw(JSONISH)
    return spec


@FUZZ
@given(spec=specs())
def test_random_specs_compile_or_raise_our_error(spec: dict) -> None:
    check(spec)


@FUZZ
@given(text=ANY_TEXT)
def test_random_expression_text_compiles_or_raises_our_error(text: str) -> None:
    check(
        {
            "kind": "expr",
            "axes": [{"name": "age", "coords": ["u", "v"]}],
            "state": ["S", "I[age]"],
            "equations": {"S": text, "I[age]": text},
        }
    )


@FUZZ
@given(spec=JSONISH)
def test_random_json_compiles_or_raises_our_error(spec: object) -> None:
    check(spec)
