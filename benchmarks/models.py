"""Benchmark models: op_system specs and hand-written reference right-hand sides.

Every model has

* `spec`: the op_system spec (templates, `sum_over`, `chain`; array-valued parameters);
* `spec_012`: the same model in the subset of the language op-system 0.1.2 accepts
  (0.1.2 cannot index a parameter by two axes inside `sum_over`, so the contact
  matrix product is written out cell by cell in per-cell aliases, as a 0.1.2 user
  would have to); identical for models that need no rewrite;
* `params`: parameter values, array-valued where the parameter is indexed
  (`C` is an (N, N) array), and `scalar_params()`: the same values under
  0.1.2's expanded names (`C__age_a0__age_a1`);
* `ref_np` / `ref_jax`: hand-written right-hand sides `f(t, y, **params)` in plain
  vectorized NumPy and in `jax.numpy`, written the way a careful person would
  (reshape the state into blocks, one matrix product for the contacts, no loops);
* `y_call`: a positive state vector for per-call timing, `y0`/`t1`: an initial
  state and horizon for the ODE solves.

This module imports only NumPy at import time (`ref_jax` imports `jax.numpy`
when first called), so the external 0.1.2 worker can reuse it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Model",
    "age_seir",
    "age_seir_flat",
    "age_seir_jax",
    "age_seir_np",
    "age_seir_overrides",
    "age_seir_spec",
    "erlang_chain",
    "erlang_flat",
    "erlang_jax",
    "erlang_listed",
    "erlang_np",
    "erlang_spec",
    "region_seir",
    "region_seir_jax",
    "region_seir_np",
    "region_seir_spec",
    "sir",
    "sir_jax",
    "sir_np",
    "spec_forms",
]


@dataclass
class Model:
    """One benchmark model (see the module docstring)."""

    key: str
    label: str
    family: str
    spec: dict[str, Any]
    spec_012: dict[str, Any]
    params: dict[str, Any]
    ref_np: Callable[..., Any]
    ref_jax: Callable[..., Any]
    n_state: int
    y_call: np.ndarray
    y0: np.ndarray
    t1: float
    # (name, axes) of indexed parameters, for 0.1.2's expanded scalar names.
    indexed: dict[str, tuple[tuple[str, list[str]], ...]] = field(default_factory=dict)
    # the flows by hand, in `flow_names` order (models whose flows are benchmarked)
    ref_flows_np: Callable[..., Any] | None = None

    def scalar_params(self) -> dict[str, float]:
        """Parameters under op-system 0.1.2's expanded scalar names."""
        out: dict[str, float] = {}
        for name, value in self.params.items():
            axes = self.indexed.get(name)
            if not axes:
                out[name] = float(value)
                continue
            arr = np.asarray(value, dtype=np.float64)
            for idx in np.ndindex(arr.shape):
                frag = "__".join(
                    f"{ax}_{coords[i]}"
                    for (ax, coords), i in zip(axes, idx, strict=True)
                )
                out[f"{name}__{frag}"] = float(arr[idx])
        return out


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _contacts(n: int, seed: int) -> np.ndarray:
    """A positive N×N contact matrix with row sums around 10."""
    return _rng(seed).uniform(0.5, 1.5, size=(n, n)) * (10.0 / n)


# ----------------------------------------------------------------------------------
# SIR (3 states)
# ----------------------------------------------------------------------------------

SIR_SPEC = {
    "kind": "transitions",
    "state": ["S", "I", "R"],
    "transitions": [
        {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
        {"from": "I", "to": "R", "rate": "gamma"},
    ],
}


def sir_np(t: Any, y: np.ndarray, beta: float, gamma: float) -> np.ndarray:
    s, i, r = y
    infection = beta * s * i / (s + i + r)
    recovery = gamma * i
    return np.array([-infection, infection - recovery, recovery])


def sir_jax(t: Any, y: Any, beta: Any, gamma: Any) -> Any:
    import jax.numpy as jnp

    s, i, r = y[0], y[1], y[2]
    infection = beta * s * i / (s + i + r)
    recovery = gamma * i
    return jnp.stack([-infection, infection - recovery, recovery])


def sir() -> Model:
    return Model(
        key="sir",
        label="SIR (3)",
        family="sir",
        spec=SIR_SPEC,
        spec_012=SIR_SPEC,
        params={"beta": 0.3, "gamma": 0.1},
        ref_np=sir_np,
        ref_jax=sir_jax,
        n_state=3,
        y_call=np.array([990.0, 10.0, 5.0]),
        y0=np.array([990.0, 10.0, 0.0]),
        t1=100.0,
    )


# ----------------------------------------------------------------------------------
# Age-structured SEIR with an N×N contact matrix (4N states)
# ----------------------------------------------------------------------------------

_SEIR_TRANSITIONS = [
    {"from": "S[age]", "to": "E[age]", "rate": "foi[age]"},
    {"from": "E[age]", "to": "I[age]", "rate": "sigma"},
    {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
]


def age_seir_spec(n: int) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": [f"a{i}" for i in range(n)]}],
        "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
        "aliases": {
            "foi[age]": "beta * sum_over(age=j, C[age, age=j] * I[age=j]) / sum_state()"
        },
        "transitions": _SEIR_TRANSITIONS,
    }


def age_seir_spec_012(n: int) -> dict[str, Any]:
    ages = [f"a{i}" for i in range(n)]
    aliases = {
        f"foi__age_{a}": "beta * ("
        + " + ".join(f"C__age_{a}__age_{b} * I__age_{b}" for b in ages)
        + ") / sum_state()"
        for a in ages
    }
    return {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ages}],
        "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
        "aliases": aliases,
        "transitions": _SEIR_TRANSITIONS,
    }


def age_seir_np(
    t: Any, y: np.ndarray, beta: float, sigma: float, gamma: float, C: np.ndarray
) -> np.ndarray:
    s, e, i, _r = y.reshape(4, -1)
    infection = (beta / y.sum()) * (C @ i) * s
    onset = sigma * e
    recovery = gamma * i
    return np.concatenate([-infection, infection - onset, onset - recovery, recovery])


def age_seir_jax(t: Any, y: Any, beta: Any, sigma: Any, gamma: Any, C: Any) -> Any:
    import jax.numpy as jnp

    s, e, i, _r = jnp.reshape(y, (4, -1))
    infection = (beta / jnp.sum(y)) * (C @ i) * s
    onset = sigma * e
    recovery = gamma * i
    return jnp.concatenate([-infection, infection - onset, onset - recovery, recovery])


def age_seir(n: int) -> Model:
    rng = _rng(1000 + n)
    pop = rng.uniform(1e4, 1e5, size=n)
    y_call = rng.uniform(1.0, 1e4, size=4 * n)
    seed_inf = np.full(n, 10.0)
    y0 = np.concatenate([pop - seed_inf, np.zeros(n), seed_inf, np.zeros(n)])
    ages = [f"a{i}" for i in range(n)]
    return Model(
        key=f"seir{n}",
        label=f"age SEIR N={n} ({4 * n})",
        family="age_seir",
        spec=age_seir_spec(n),
        spec_012=age_seir_spec_012(n),
        params={
            "beta": 0.05,
            "sigma": 1 / 3,
            "gamma": 1 / 5,
            "C": _contacts(n, seed=n),
        },
        ref_np=age_seir_np,
        ref_jax=age_seir_jax,
        n_state=4 * n,
        y_call=y_call,
        y0=y0,
        t1=100.0,
        indexed={"C": (("age", ages), ("age", ages))},
    )


def _counted(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with its transitions named and incidence counters of infections and
    onsets (appended after the model's states)."""
    out = dict(spec)
    out["transitions"] = [
        {**tr, "name": name}
        for tr, name in zip(spec["transitions"], ("infection", "onset", "recovery"))
    ]
    out["incidence"] = {"cases": "infection", "onsets": "onset"}
    return out


def age_seir_counted_np(
    t: Any, y: np.ndarray, beta: float, sigma: float, gamma: float, C: np.ndarray
) -> np.ndarray:
    n = y.shape[0] // 6
    s, e, i, _r = y[: 4 * n].reshape(4, -1)
    infection = (beta / y[: 4 * n].sum()) * (C @ i) * s
    onset = sigma * e
    recovery = gamma * i
    return np.concatenate(
        [-infection, infection - onset, onset - recovery, recovery, infection, onset]
    )


def age_seir_counted_jax(
    t: Any, y: Any, beta: Any, sigma: Any, gamma: Any, C: Any
) -> Any:
    import jax.numpy as jnp

    n = y.shape[0] // 6
    s, e, i, _r = jnp.reshape(y[: 4 * n], (4, -1))
    infection = (beta / jnp.sum(y[: 4 * n])) * (C @ i) * s
    onset = sigma * e
    recovery = gamma * i
    return jnp.concatenate(
        [-infection, infection - onset, onset - recovery, recovery, infection, onset]
    )


def age_seir_flows_np(
    t: Any, y: np.ndarray, beta: float, sigma: float, gamma: float, C: np.ndarray
) -> np.ndarray:
    """The age SEIR's flows by hand, in `flow_names` order (infection, onset, recovery)."""
    n = y.shape[0] // 6
    s, e, i, _r = y[: 4 * n].reshape(4, -1)
    return np.concatenate(
        [(beta / y[: 4 * n].sum()) * (C @ i) * s, sigma * e, gamma * i]
    )


def age_seir_counted(n: int) -> Model:
    """The age SEIR with incidence counters of infections and onsets (6n states)."""
    m = age_seir(n)
    rng = _rng(2000 + n)
    m.key = f"seir{n}+inc"
    m.label = f"age SEIR+incidence N={n} ({6 * n})"
    m.family = "age_seir_counted"
    m.spec = _counted(m.spec)
    m.spec_012 = _counted(m.spec_012)
    m.ref_np = age_seir_counted_np
    m.ref_jax = age_seir_counted_jax
    m.ref_flows_np = age_seir_flows_np
    m.n_state = 6 * n
    m.y_call = np.concatenate([m.y_call, rng.uniform(0.0, 1e3, size=2 * n)])
    m.y0 = np.concatenate([m.y0, np.zeros(2 * n)])
    return m


# ----------------------------------------------------------------------------------
# Erlang chain: S -> I1 -> ... -> I_n -> R (n + 2 states, state order S, R, I1..In)
# ----------------------------------------------------------------------------------


def erlang_spec(n: int) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "state": ["S", "R"],
        "chain": [
            {
                "name": "I",
                "length": n,
                "forward": "gamma",
                "entry": {"from": "S", "rate": "beta * sum_prefix('I') / sum_state()"},
                "exit": {"to": "R"},
            }
        ],
    }


def erlang_np(t: Any, y: np.ndarray, beta: float, gamma: float) -> np.ndarray:
    s = y[0]
    stages = y[2:]
    infection = beta * s * stages.sum() / y.sum()
    out = gamma * stages  # outflow of every stage
    dydt = np.empty_like(y)
    dydt[0] = -infection
    dydt[1] = out[-1]
    dydt[2] = infection - out[0]
    np.subtract(out[:-1], out[1:], out=dydt[3:])
    return dydt


def erlang_jax(t: Any, y: Any, beta: Any, gamma: Any) -> Any:
    import jax.numpy as jnp

    s = y[0]
    stages = y[2:]
    infection = beta * s * jnp.sum(stages) / jnp.sum(y)
    out = gamma * stages
    inflow = jnp.concatenate([infection[None], out[:-1]])
    return jnp.concatenate([-infection[None], out[-1:], inflow - out])


def erlang_chain(n: int = 200) -> Model:
    rng = _rng(7)
    y_call = rng.uniform(1.0, 100.0, size=n + 2)
    y0 = np.zeros(n + 2)
    y0[0], y0[2] = 990.0, 10.0
    spec = erlang_spec(n)
    return Model(
        key=f"erlang{n}",
        label=f"Erlang chain {n} ({n + 2})",
        family="erlang",
        spec=spec,
        spec_012=spec,
        params={"beta": 0.3, "gamma": n / 5.0},  # mean infectious period 5 days
        ref_np=erlang_np,
        ref_jax=erlang_jax,
        n_state=n + 2,
        y_call=y_call,
        y0=y0,
        t1=20.0,
    )


# ----------------------------------------------------------------------------------
# Region × age SEIR (4 · regions · ages states): the 10,000-state template model
# ----------------------------------------------------------------------------------

_REGION_TRANSITIONS = [
    {"from": "S[region,age]", "to": "E[region,age]", "rate": "foi[region,age]"},
    {"from": "E[region,age]", "to": "I[region,age]", "rate": "sigma"},
    {"from": "I[region,age]", "to": "R[region,age]", "rate": "gamma[age]"},
]


def _region_axes(n_region: int, n_age: int) -> list[dict[str, Any]]:
    return [
        {"name": "region", "coords": [f"r{i}" for i in range(n_region)]},
        {"name": "age", "coords": [f"a{i}" for i in range(n_age)]},
    ]


def region_seir_spec(n_region: int, n_age: int = 25) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": _region_axes(n_region, n_age),
        "state": ["S[region,age]", "E[region,age]", "I[region,age]", "R[region,age]"],
        "aliases": {
            "Npop[region,age]": "S[region,age] + E[region,age] + I[region,age] + R[region,age]",
            "foi[region,age]": (
                "beta[region] * sum_over(age=j, C[age, age=j] * I[region, age=j] / Npop[region, age=j])"
            ),
        },
        "transitions": _REGION_TRANSITIONS,
    }


def region_seir_spec_012(n_region: int, n_age: int = 25) -> dict[str, Any]:
    aliases = {
        "Npop[region,age]": "S[region,age] + E[region,age] + I[region,age] + R[region,age]"
    }
    for r in range(n_region):
        for a in range(n_age):
            cell = f"region_r{r}__age_a{a}"
            terms = " + ".join(
                f"C__age_a{a}__age_a{b} * I__region_r{r}__age_a{b} / Npop__region_r{r}__age_a{b}"
                for b in range(n_age)
            )
            aliases[f"foi__{cell}"] = f"beta__region_r{r} * ({terms})"
    return {
        "kind": "transitions",
        "axes": _region_axes(n_region, n_age),
        "state": ["S[region,age]", "E[region,age]", "I[region,age]", "R[region,age]"],
        "aliases": aliases,
        "transitions": _REGION_TRANSITIONS,
    }


def region_seir_np(
    t: Any,
    y: np.ndarray,
    beta: np.ndarray,
    sigma: float,
    gamma: np.ndarray,
    C: np.ndarray,
) -> np.ndarray:
    n_age = C.shape[0]
    s, e, i, r = y.reshape(4, -1, n_age)
    prevalence = i / (s + e + i + r)  # (region, age)
    infection = beta[:, None] * (prevalence @ C.T) * s
    onset = sigma * e
    recovery = gamma * i
    return np.concatenate(
        [-infection, infection - onset, onset - recovery, recovery]
    ).reshape(-1)


def region_seir_jax(t: Any, y: Any, beta: Any, sigma: Any, gamma: Any, C: Any) -> Any:
    import jax.numpy as jnp

    n_age = C.shape[0]
    s, e, i, r = jnp.reshape(y, (4, -1, n_age))
    prevalence = i / (s + e + i + r)
    infection = beta[:, None] * (prevalence @ C.T) * s
    onset = sigma * e
    recovery = gamma * i
    return jnp.concatenate(
        [-infection, infection - onset, onset - recovery, recovery]
    ).reshape(-1)


def region_seir(n_region: int, n_age: int = 25) -> Model:
    rng = _rng(5000 + n_region)
    shape = (n_region, n_age)
    pop = rng.uniform(1e3, 1e4, size=shape)
    seed_inf = np.full(shape, 5.0)
    y0 = np.concatenate(
        [
            (pop - seed_inf).ravel(),
            np.zeros(pop.size),
            seed_inf.ravel(),
            np.zeros(pop.size),
        ]
    )
    y_call = rng.uniform(1.0, 1e3, size=4 * pop.size)
    regions = [f"r{i}" for i in range(n_region)]
    ages = [f"a{i}" for i in range(n_age)]
    n = 4 * n_region * n_age
    return Model(
        key=f"region{n_region}x{n_age}",
        label=f"region×age SEIR {n_region}×{n_age} ({n})",
        family="region_seir",
        spec=region_seir_spec(n_region, n_age),
        spec_012=region_seir_spec_012(n_region, n_age),
        params={
            "beta": rng.uniform(0.03, 0.07, size=n_region),
            "sigma": 1 / 3,
            "gamma": rng.uniform(0.15, 0.25, size=n_age),
            "C": _contacts(n_age, seed=99),
        },
        ref_np=region_seir_np,
        ref_jax=region_seir_jax,
        n_state=n,
        y_call=y_call,
        y0=y0,
        t1=100.0,
        indexed={
            "beta": (("region", regions),),
            "gamma": (("age", ages),),
            "C": (("age", ages), ("age", ages)),
        },
    )


# ----------------------------------------------------------------------------------
# The same models in other spec forms (how 0.1.2 users write them)
# ----------------------------------------------------------------------------------


def age_seir_flat(
    m: Model, *, counted: bool = False
) -> tuple[dict[str, Any], dict[str, float]]:
    """The age SEIR cell by cell, as generated with a loop: per-cell states named
    `S_0`, ..., transitions per cell, the contact sum written out term by term with
    scalar parameters `C_i_j` (the state order is the templated model's). With
    `counted`, every transition is named per cell and counted per cell
    (`cases_i: infection_i`, `onsets_i: onset_i`)."""
    n = m.n_state // (6 if counted else 4)
    state = [f"{c}_{i}" for c in "SEIR" for i in range(n)]
    tr = []
    for i in range(n):
        contacts = " + ".join(f"C_{i}_{j} * I_{j}" for j in range(n))
        tr.append(
            {
                "from": f"S_{i}",
                "to": f"E_{i}",
                "rate": f"beta * ({contacts}) / sum_state()",
            }
        )
        tr.append({"from": f"E_{i}", "to": f"I_{i}", "rate": "sigma"})
        tr.append({"from": f"I_{i}", "to": f"R_{i}", "rate": "gamma"})
        if counted:
            for t, name in zip(tr[-3:], ("infection", "onset", "recovery")):
                t["name"] = f"{name}_{i}"
    c = np.asarray(m.params["C"])
    params = {k: float(v) for k, v in m.params.items() if k != "C"}
    params.update({f"C_{i}_{j}": float(c[i, j]) for i in range(n) for j in range(n)})
    spec: dict[str, Any] = {"kind": "transitions", "state": state, "transitions": tr}
    if counted:
        spec["incidence"] = {
            **{f"cases_{i}": f"infection_{i}" for i in range(n)},
            **{f"onsets_{i}": f"onset_{i}" for i in range(n)},
        }
    return spec, params


def age_seir_overrides(
    m: Model, *, written: str = "as the template"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The age SEIR as templated equations, with every fourth age group's
    equations overridden cell by cell (the same model, written out for those
    cells with the contact matrix's expanded names, as 0.1.2 users do).

    `written` is how the cells are written out: `"as the template"`, `"reversed"`
    (the contact sum over the ages in reverse) or `"explicit total"` (the population
    as a sum of the state cells instead of `sum_state()`, which the compiler does
    not take for the template: such overrides are computed as overrides)."""
    n = m.n_state // 4
    ages = [f"a{i}" for i in range(n)]
    terms = ages[::-1] if written == "reversed" else ages
    total = "sum_state()"
    if written == "explicit total":
        total = "(" + " + ".join(f"{c}__age_{a}" for c in "SEIR" for a in ages) + ")"
    foi = "sum_over(age=j, C[age, age=j] * I[age=j]) / sum_state()"
    eqs = {
        "S[age]": f"-beta * S[age] * {foi}",
        "E[age]": f"beta * S[age] * {foi} - sigma * E[age]",
        "I[age]": "sigma * E[age] - gamma * I[age]",
        "R[age]": "gamma * I[age]",
    }
    for a in ages[::4]:
        cell = (
            "("
            + " + ".join(f"C__age_{a}__age_{b} * I__age_{b}" for b in terms)
            + f") / {total}"
        )
        eqs[f"S__age_{a}"] = f"-beta * S__age_{a} * {cell}"
        eqs[f"E__age_{a}"] = f"beta * S__age_{a} * {cell} - sigma * E__age_{a}"
    spec = {
        "kind": "expr",
        "axes": [{"name": "age", "coords": ages}],
        "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
        "equations": eqs,
    }
    return spec, dict(m.params)


def erlang_listed(m: Model) -> tuple[dict[str, Any], dict[str, float]]:
    """The Erlang chain with its stages also listed in `state`."""
    n = m.n_state - 2
    spec = dict(m.spec)
    spec["state"] = ["S", "R", *(f"I{i}" for i in range(1, n + 1))]
    return spec, dict(m.params)


def erlang_flat(
    m: Model, *, prefix: bool = False
) -> tuple[dict[str, Any], dict[str, float]]:
    """The Erlang chain as explicit transitions between listed stages (the force of
    infection written out stage by stage, or with `sum_prefix('I')` for chains
    longer than Python's parser takes in one expression)."""
    n = m.n_state - 2
    stages = [f"I{i}" for i in range(1, n + 1)]
    infected = "sum_prefix('I')" if prefix else f"({' + '.join(stages)})"
    tr = [{"from": "S", "to": "I1", "rate": f"beta * {infected} / sum_state()"}]
    tr += [{"from": a, "to": b, "rate": "gamma"} for a, b in itertools.pairwise(stages)]
    tr.append({"from": stages[-1], "to": "R", "rate": "gamma"})
    return {
        "kind": "transitions",
        "state": ["S", "R", *stages],
        "transitions": tr,
    }, dict(m.params)


def spec_forms(m: Model) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """`{form: (spec, params)}`: templated, mixed and flat forms of one model."""
    if m.family == "age_seir":
        return {
            "templated": (m.spec, m.params),
            "mixed (per-cell aliases)": (m.spec_012, m.scalar_params()),
            "mixed (per-cell overrides)": age_seir_overrides(m),
            "flat per-cell": age_seir_flat(m),
        }
    if m.family == "age_seir_counted":  # transitions forms (incidence needs them)
        return {
            "templated": (m.spec, m.params),
            "mixed (per-cell aliases)": (m.spec_012, m.scalar_params()),
            "flat per-cell": age_seir_flat(m, counted=True),
        }
    if m.family == "erlang":
        return {
            "templated": (m.spec, m.params),
            "mixed (listed stages)": erlang_listed(m),
            "flat per-cell": erlang_flat(m),
        }
    return {"templated": (m.spec, m.params)}
