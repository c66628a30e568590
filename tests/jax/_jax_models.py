"""Models and helpers shared by the JAX-path tests (issue #4).

Each model comes with a state `y0`, a time `t` and float64 NumPy parameters;
tests convert them to the dtype under test. References are always computed
with the NumPy backend in float64.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REFS = json.loads((Path(__file__).parents[1] / "parity" / "refs.json").read_text())
PARITY_CASES: list[dict[str, Any]] = REFS["cases"]

SIR = {
    "kind": "transitions",
    "state": ["S", "I", "R"],
    "transitions": [
        {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
        {"from": "I", "to": "R", "rate": "gamma"},
    ],
}

AGES = ["young", "adult", "old"]

#: Age-structured SEIR: age-indexed susceptibility `beta[age]`, a contact matrix
#: `C[age, age=j]` inside `sum_over`, a templated alias and seasonal forcing in `t`.
AGE_SEIR = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": AGES}],
    "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
    "aliases": {
        "N[age]": "S[age] + E[age] + I[age] + R[age]",
        "foi[age]": "beta[age] * (1 + amp * np.cos(2 * np.pi * t / 365)) * sum_over(age=j, C[age, age=j] * I[age=j] / N[age=j])",
    },
    "transitions": [
        {
            "name": "infection[age]",
            "from": "S[age]",
            "to": "E[age]",
            "rate": "foi[age]",
        },
        {"from": "E[age]", "to": "I[age]", "rate": "sigma"},
        {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
    ],
}

#: Every conditional construct of the expression language, on traced values.
CONDITIONALS = {
    "kind": "expr",
    "state": ["x", "y", "z"],
    "equations": {
        "x": "(a if x > 1 else b) * y + (0.5 if (x > 0 and y < 5) else -0.5) * z",
        "y": "np.where(y > x, a * x, -b * y) + (x > 2 or z > 2) * c - (x <= y) * 0.1",
        "z": "((x and y) or c) * 0.01 * z + (c if not (z < x) else a * z) + np.clip(x * y, 0.5, 4.0) - np.maximum(x, z)",
    },
}


@dataclass
class Case:
    """A model with one evaluation point and a batch of parameter sets and states."""

    name: str
    spec: dict[str, Any]
    t: float
    y: np.ndarray
    params: dict[str, np.ndarray]
    y_batch: np.ndarray = field(repr=False)
    params_batch: dict[str, np.ndarray] = field(repr=False)


def _batch(
    rng: np.random.Generator, p: dict[str, np.ndarray], n: int
) -> dict[str, np.ndarray]:
    return {
        k: v[None, ...] * rng.uniform(0.6, 1.4, size=(n, *v.shape))
        for k, v in p.items()
    }


def _cases() -> dict[str, Case]:
    rng = np.random.default_rng(4)
    out: dict[str, Case] = {}
    y = np.array([990.0, 10.0, 0.0])
    p = {"beta": np.asarray(0.3), "gamma": np.asarray(0.1)}
    out["sir"] = Case(
        "sir",
        SIR,
        0.0,
        y,
        p,
        y[None] * rng.uniform(0.5, 1.5, (5, 3)),
        _batch(rng, p, 5),
    )

    pop = np.array([2.0e4, 5.0e4, 1.5e4])
    y = np.concatenate([pop * 0.97, pop * 0.01, pop * 0.015, pop * 0.005])
    p = {
        "beta": np.array([0.04, 0.05, 0.07]),
        "amp": np.asarray(0.2),
        "C": np.array([[8.0, 3.0, 1.0], [3.0, 6.0, 1.5], [1.0, 1.5, 2.5]]),
        "sigma": np.asarray(1 / 3),
        "gamma": np.asarray(1 / 5),
    }
    out["age_seir"] = Case(
        "age_seir",
        AGE_SEIR,
        30.0,
        y,
        p,
        y[None] * rng.uniform(0.5, 1.5, (5, 12)),
        _batch(rng, p, 5),
    )

    y = np.array([1.5, 3.0, 0.7])
    p = {"a": np.asarray(2.0), "b": np.asarray(0.5), "c": np.asarray(1.25)}
    # states on both sides of every branch (x > 1, y > x, x > 2, z < x, ...)
    yb = np.array(
        [
            [1.5, 3.0, 0.7],
            [0.6, 0.2, 2.5],
            [2.5, 1.0, 3.0],
            [-0.5, 6.0, -1.0],
            [3.2, 4.1, 0.3],
        ]
    )
    out["conditionals"] = Case(
        "conditionals", CONDITIONALS, 0.0, y, p, yb, _batch(rng, p, 5)
    )
    return out


CASES = _cases()


# -- numerical references (NumPy, float64) ------------------------------------------


def fd_grad(f: Any, x: np.ndarray, rel: float = 1e-6) -> np.ndarray:
    """Central finite differences of a scalar function `f(x)` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        h = rel * max(1.0, abs(float(x[i])))
        e = np.zeros(x.shape)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def fd_jacobian(f: Any, x: np.ndarray, rel: float = 1e-6) -> np.ndarray:
    """Central finite-difference Jacobian `d f_i / d x_j` of a vector function."""
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for j in range(x.size):
        h = rel * max(1.0, abs(float(x[j])))
        e = np.zeros(x.shape)
        e[j] = h
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return np.stack(cols, axis=-1)


# -- jaxpr inspection ---------------------------------------------------------------


def primitive_list(jaxpr: Any) -> list[str]:
    """Primitive names of every equation of a (closed) jaxpr, nested sub-jaxprs included."""
    inner = getattr(jaxpr, "jaxpr", jaxpr)
    names: list[str] = []
    for eqn in inner.eqns:
        names.append(eqn.primitive.name)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else (value,):
                if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    names.extend(primitive_list(sub))
    return names


def primitive_names(jaxpr: Any) -> set[str]:
    """All primitive names in a (closed) jaxpr, including nested sub-jaxprs."""
    return set(primitive_list(jaxpr))


def count_callbacks(jaxpr: Any) -> int:
    """Number of callback equations (host round trips) in a jaxpr."""
    return sum("callback" in n for n in primitive_list(jaxpr))


def callback_primitives(jaxpr: Any) -> set[str]:
    """Host round trips in a jaxpr (`pure_callback`, `io_callback`, `debug_callback`, ...)."""
    return {n for n in primitive_names(jaxpr) if "callback" in n}
