"""Generated programs are statement IR printed last; the helpers they call are
declared once (`_stmts.RUNTIME`) and defined by the runtime for each family."""

from __future__ import annotations

import ast

import pytest

from op_system import normalize_rhs
from op_system._backends.backend import resolve_backend
from op_system._backends.runtime import _runtime
from op_system._core.rhs import model_of
from op_system._lower.batch import runtime as batch_runtime
from op_system._lower.codegen import lower_model
from op_system._lower.ops import NUMPY, Var
from op_system._lower.stmts import (
    NUMPY_ONLY,
    RUNTIME,
    Assign,
    Call,
    Function,
    Return,
    Store,
    print_function,
)

SPECS = {
    "sir": {
        "state": ["S", "I", "R"],
        "equations": {"S": "-b*S*I", "I": "b*S*I - g*I", "R": "g*I"},
    },
    "templated": {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ["y", "o"]}],
        "state": ["S[age]", "I[age]", "R[age]"],
        "transitions": [
            {"from": "S[age]", "to": "I[age]", "rate": "b[age]*I[age]/sum_state()"},
            {"from": "I[age]", "to": "R[age]", "rate": "g"},
            {"from": None, "to": "S[age=y]", "rate": "mu"},
        ],
    },
    "time-varying": {
        "kind": "transitions",
        "axes": [
            {"name": "age", "coords": ["y", "o"]},
            {"name": "time", "type": "continuous", "coords": [0.0, 5.0, 10.0]},
        ],
        "state": ["S[age]", "I[age]"],
        "transitions": [
            {
                "from": "S[age]",
                "to": "I[age]",
                "rate": "beta[time] * m[age, time] * I[age]",
            },
        ],
    },
}
#: helpers a model calls only when it has time-varying parameters
TIME_VARYING = {n for n in RUNTIME if n.startswith("_tv_")}


def test_a_call_of_an_undeclared_helper_is_refused() -> None:
    with pytest.raises(ValueError, match="not a runtime helper"):
        Call("_eval", (Var("x"),))


def test_statements_print_as_python() -> None:
    fn = Function(
        "f",
        ("t", "y"),
        (
            Assign("out", Call("_empty", ())),
            Store("out", 0, Var("y"), "+"),
            Return(Var("out")),
        ),
        kwargs="params",
    )
    src = print_function(fn, NUMPY)
    assert src.splitlines() == [
        "def f(t, y, **params):",
        "    out = _empty()",
        "    out[0] += y",
        "    return out",
    ]


def _called(source: str) -> set[str]:
    return {
        n.func.id
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_every_declared_helper_is_defined_and_every_call_is_defined(
    name: str, backend: str
) -> None:
    if backend == "jax":
        pytest.importorskip("jax")
    model = model_of(normalize_rhs(SPECS[name]))
    be = resolve_backend(backend)
    lowered = lower_model(model, backend)
    g = _runtime(be, model, lowered, force_f64=backend == "numpy")
    extra = {"_not_numpy", "_other"}  # given by the dispatching function
    if backend == "numpy":
        g.update(batch_runtime())
    family = set(RUNTIME) if backend == "numpy" else set(RUNTIME) - NUMPY_ONLY
    if name != "time-varying":
        family -= TIME_VARYING
    assert family - extra <= set(g), sorted(family - extra - set(g))
    modes = ["rhs", "jvp"] + (["flows", "rates"] if model.kind == "transitions" else [])
    if backend == "numpy":
        modes += ["jvps", "jacobian"]
    for mode in modes:
        low = lower_model(model, backend, mode)
        for src in (low.source, low.bound_source):
            assert _called(src) <= set(g), (mode, sorted(_called(src) - set(g)))
