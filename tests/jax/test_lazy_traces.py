"""Functions generated on first use work in every later trace.

`eval_fn` (default backend), `jvp`, `jacobian`, `flows`, `rates` and
`observables` generate their JAX program the first time they are called, which
is often inside a caller's trace. A program whose constant tables were made in
that trace would hold its tracers, and the next trace would fail with
`UnexpectedTracerError`. Each model below has generated array constants (an
`IN` filter, a per-cell override, a literal coordinate, a source into one cell,
a templated `sum_prefix`); each function is first used inside `make_jaxpr` and
then under `jit` and `grad`, and checked against the NumPy value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from op_system import compile_spec

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

AGE = [{"name": "age", "coords": ["y", "m", "o"]}]

MODELS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "in_filter": (
        {
            "axes": [{"name": "a", "coords": ["x", "y", "z"]}],
            "state": ["W[a]"],
            "equations": {"W[a]": "-k*sum_over(a=j IN [x, y], W[j])"},
        },
        {"k": 0.5},
    ),
    "per_cell_override": (
        {
            "axes": AGE,
            "state": ["S[age]", "I[age]"],
            "equations": {
                "S[age]": "-beta * S[age] * I[age]",
                "S__age_o": "-beta * S__age_o * I__age_o - mu * S__age_o",
                "I[age]": "beta * S[age] * I[age] - gamma * I[age]",
            },
        },
        {"beta": 0.3, "gamma": 0.1, "mu": 0.05},
    ),
    "literal_coordinate": (
        {
            "kind": "transitions",
            "axes": [*AGE, {"name": "vax", "coords": ["u", "v"]}],
            "state": ["S[age, vax]", "I[age, vax]"],
            "transitions": [
                {
                    "name": "infection[age, vax]",
                    "from": "S[age, vax]",
                    "to": "I[age, vax]",
                    "rate": "beta * I[age, vax] / sum_state()",
                },
                {
                    "name": "vaccination",
                    "from": "S[age, vax=u]",
                    "to": "S[age, vax=v]",
                    "rate": "nu[age]",
                },
            ],
            "observables": {
                "vaxed[age]": "vaccination[age]",
                "unvax_infections": "sum_over(age=j, infection[age=j, vax=u])",
            },
        },
        {"beta": 0.4, "nu": np.array([0.01, 0.02, 0.03])},
    ),
    "source_into_one_cell": (
        {
            "kind": "transitions",
            "axes": AGE,
            "state": ["S[age]", "I[age]"],
            "transitions": [
                {"name": "birth", "from": None, "to": "S[age=y]", "rate": "mu"},
                {
                    "name": "infection[age]",
                    "from": "S[age]",
                    "to": "I[age]",
                    "rate": "beta * I[age]",
                },
            ],
            "observables": {"births": "birth"},
        },
        {"beta": 0.2, "mu": 3.0},
    ),
    "templated_sum_prefix": (
        {
            "kind": "transitions",
            "axes": AGE,
            "state": ["S[age]", "I[age]", "R[age]"],
            "transitions": [
                {
                    "from": "S[age]",
                    "to": "I[age]",
                    "rate": "beta * sum_prefix('I[age]') / sum_state()",
                },
                {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
            ],
            "observables": {"prevalence[age]": "sum_prefix('I[age]')"},
        },
        {"beta": 0.3, "gamma": 0.1},
    ),
}


def _views(
    c: Any, xp: Any, spec: dict[str, Any]
) -> dict[str, Callable[[Any, Any, dict[str, Any]], Any]]:
    """Each lazily generated function as `f(t, y, params)`, built on first call."""
    out: dict[str, Callable[[Any, Any, dict[str, Any]], Any]] = {
        "eval_fn": lambda t, y, p: c.eval_fn(t, y, **p),
        "jvp": lambda t, y, p: c.jvp(xp)(t, y, y[::-1], **p),
        "jacobian": lambda t, y, p: c.jacobian(xp)(t, y, **p),
    }
    if spec.get("kind") == "transitions":
        out["flows"] = lambda t, y, p: c.flows(t, y, **p)
        out["rates"] = lambda t, y, p: c.rates(t, y, **p)
    if "observables" in spec:
        out["observables"] = lambda t, y, p: c.observables(t, y, **p)
    return out


CASES = [
    (model, view)
    for model, (spec, _) in MODELS.items()
    for view in ("eval_fn", "jvp", "jacobian", "flows", "rates", "observables")
    if (view not in ("flows", "rates") or spec.get("kind") == "transitions")
    and (view != "observables" or "observables" in spec)
]


@pytest.mark.parametrize("backend", ["auto", "jax"])
@pytest.mark.parametrize(("model", "view"), CASES)
def test_first_used_in_one_trace_then_in_another(
    model: str, view: str, backend: str
) -> None:
    spec, params = MODELS[model]
    reference = compile_spec(spec)
    c = compile_spec(spec, backend=backend)
    n = len(c.state_names)
    y = np.linspace(1.0, 2.0, n)
    expected = np.asarray(_views(reference, np, spec)[view](0.0, y, params))

    # a fresh model: its JAX program is generated inside this first trace
    f = _views(c, jnp, spec)[view]
    jax.make_jaxpr(lambda yy: f(0.0, yy, params))(jnp.asarray(y))
    got = jax.jit(lambda yy: f(0.0, yy, params))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-15)
    g = jax.grad(lambda yy: jnp.sum(f(0.0, yy, params) ** 2))(jnp.asarray(y))
    assert np.all(np.isfinite(np.asarray(g)))
