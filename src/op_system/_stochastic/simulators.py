"""Stochastic simulation of a transitions model: the loops over the laws.

`CompiledRhs.simulate(method=...)` runs one of four methods: `chain_binomial`
(Euler-multinomial steps of at most `dt`), `gempyor` (flepiMoP's step, kept for
comparison), `tau_leap` (Poisson leaps, of `dt` or adaptive) and `ssa`
(Gillespie's direct method). What one step of each does, its law, is written
once in `laws.py`, over an array namespace and the draws of a sampler
(`samplers.py`). This module runs the laws: on NumPy in Python loops, drawing
from a `numpy.random.Generator`; on JAX in `lax.scan` (the chain-binomial
methods' fixed steps) and `lax.while_loop` (tau-leaping's and the SSA's steps of
varying number), drawing with a key, under `jax.jit` and `jax.vmap` (one key per
particle). See `CompiledRhs.simulate`.

Every method is one function that advances one trajectory over one output
interval (`advance_numpy`, `advance_jax`); `run_numpy` / `run_jax` chain them over
the output grid, and the particle filter (`filter.py`) over the data's intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .laws import Chain, Event, Laws, Leap
from .laws import StepPlan as StepPlan
from .laws import dense_stoichiometry as dense_stoichiometry
from .laws import step_plan as step_plan
from .samplers import JaxSampler, NumpySampler

__all__ = [
    "METHODS",
    "Simulation",
    "StepPlan",
    "advance_jax",
    "advance_numpy",
    "dense_stoichiometry",
    "n_steps",
    "run_jax",
    "run_numpy",
    "step_plan",
]

#: Simulation methods (`CompiledRhs.simulate(method=...)`).
METHODS = ("chain_binomial", "gempyor", "tau_leap", "ssa")

Fn = Callable[[Any, Any], Any]


class Simulation(NamedTuple):
    """`CompiledRhs.simulate(..., return_flows=True)`: the counts at the output
    times, `(n, len(times), n_state)`, and the interval flows,
    `(n, len(times) - 1, n_flow)`: how many individuals each flow (in
    `flow_names` order; a source: how many arrived) moved over each interval."""

    states: Any
    flows: Any


def n_steps(times: np.ndarray, dt: float | None) -> int:
    """Steps per output interval for the chain-binomial methods' steps of at most
    `dt`: every interval is split into this many equal steps (on a regular grid,
    exactly steps of `gap / k`). 1 without `dt` (the methods that need none)."""
    gaps = np.diff(times)
    if dt is None or not gaps.size:
        return 1
    return int(np.max(np.ceil(gaps / dt - 1e-9)))


def advance_numpy(
    plan: StepPlan,
    method: str,
    rates_fn: Fn,
    flows_fn: Fn,
    dt: float | None,
    steps: int,
) -> Callable[
    [np.random.Generator, np.ndarray, float, float], tuple[np.ndarray, np.ndarray]
]:
    """`advance(rng, y, t0, t1) -> (y, moves)`: one trajectory from `t0` to `t1` by
    `method`, and how many times each flow moved in between."""
    laws = Laws(plan, np, rates_fn, flows_fn, dt)
    gempyor = method == "gempyor"

    def chain(
        rng: np.random.Generator, y: np.ndarray, t0: float, t1: float
    ) -> tuple[np.ndarray, np.ndarray]:
        h = (t1 - t0) / steps
        c = Chain(y, np.zeros(plan.n_flow, dtype=np.int64), NumpySampler(rng))
        for s in range(steps):
            c = laws.chain(c, t0 + s * h, h, gempyor)
        return c.y, c.moves

    def tau_leap(
        rng: np.random.Generator, y: np.ndarray, t0: float, end: float
    ) -> tuple[np.ndarray, np.ndarray]:
        moves = np.zeros(plan.n_flow, dtype=np.int64)
        c = Leap(y, moves, t0, -1.0, NumpySampler(rng))
        leaping = laws.leaping(end)
        while leaping(c):
            c = laws.leap(c, end)
        return c.y, c.moves

    def ssa(
        rng: np.random.Generator, y: np.ndarray, t0: float, end: float
    ) -> tuple[np.ndarray, np.ndarray]:
        moves = np.zeros(plan.n_flow, dtype=np.int64)
        c = Event(y, moves, t0, False, NumpySampler(rng))
        while not c.done:
            c = laws.event(c, end)
        return c.y, c.moves

    return {"ssa": ssa, "tau_leap": tau_leap}.get(method, chain)


def run_numpy(
    advance: Callable[
        [np.random.Generator, np.ndarray, float, float], tuple[np.ndarray, np.ndarray]
    ],
    plan: StepPlan,
    y0: np.ndarray,
    times: np.ndarray,
    rngs: list[np.random.Generator],
) -> tuple[np.ndarray, np.ndarray]:
    """One trajectory per generator, one after another: the states at `times`,
    `(n, len(times), n_state)`, and the moves of each flow over each interval,
    `(n, len(times) - 1, n_flow)`."""
    out = np.empty((len(rngs), len(times), y0.shape[0]), dtype=np.int64)
    moved = np.empty((len(rngs), len(times) - 1, plan.n_flow), dtype=np.int64)
    for p, rng in enumerate(rngs):
        y = y0.copy()
        out[p, 0] = y
        for i in range(1, len(times)):
            y, moved[p, i - 1] = advance(rng, y, float(times[i - 1]), float(times[i]))
            out[p, i] = y
    return out, moved


def advance_jax(
    plan: StepPlan,
    method: str,
    rates_fn: Fn,
    flows_fn: Fn,
    dt: float | None,
    steps: int,
) -> Callable[[Any, Any, Any, Any], Any]:
    """`advance(key, y, t0, t1) -> (y, moves)`: one trajectory from `t0` to `t1` by
    `method` and the moves of each flow in between, traceable (`t0`, `t1` may be
    traced; the step count of the chain-binomial methods is fixed)."""
    import jax
    import jax.numpy as jnp

    laws = Laws(plan, jnp, rates_fn, flows_fn, dt)
    gempyor = method == "gempyor"
    fdtype = jnp.result_type(float)

    def chain(key: Any, y: Any, t0: Any, t1: Any) -> Any:
        h = (t1 - t0) / steps

        def step(c: Chain, s: Any) -> tuple[Chain, None]:
            return laws.chain(c, t0 + s.astype(fdtype) * h, h, gempyor), None

        moves = jnp.zeros(plan.n_flow, dtype=y.dtype)
        c, _ = jax.lax.scan(step, Chain(y, moves, JaxSampler(key)), jnp.arange(steps))
        return c.y, c.moves

    def tau_leap(key: Any, y: Any, t0: Any, end: Any) -> Any:
        t0 = jnp.asarray(t0, dtype=fdtype)
        moves = jnp.zeros(plan.n_flow, dtype=y.dtype)
        retry = jnp.asarray(-1.0, dtype=fdtype)
        c = jax.lax.while_loop(
            laws.leaping(end),
            lambda c: laws.leap(c, end),
            Leap(y, moves, t0, retry, JaxSampler(key)),
        )
        return c.y, c.moves

    def ssa(key: Any, y: Any, t0: Any, end: Any) -> Any:
        t0 = jnp.asarray(t0, dtype=fdtype)
        moves = jnp.zeros(plan.n_flow, dtype=y.dtype)
        c = jax.lax.while_loop(
            lambda c: jnp.logical_not(c.done),
            lambda c: laws.event(c, end),
            Event(y, moves, t0, jnp.asarray(False), JaxSampler(key)),
        )
        return c.y, c.moves

    return {"ssa": ssa, "tau_leap": tau_leap}.get(method, chain)


def run_jax(
    advance: Callable[[Any, Any, Any, Any], Any],
    y0: Any,
    times: Any,
    key: Any,
    n: int,
    mesh: Any = None,
) -> Any:
    """`n` trajectories recorded at `times` (and the moves of each flow over each
    interval, as `run_numpy`): a `lax.scan` over the intervals,
    `vmap`ped over one key per trajectory. With a 1-D `jax.sharding.Mesh`, the keys
    (so the trajectories) are sharded over its devices: the same numbers, computed
    where they live."""
    import jax
    import jax.numpy as jnp

    fdtype = jnp.result_type(float)
    t = jnp.asarray(times, dtype=fdtype)

    def one(key: Any) -> Any:
        def interval(carry: Any, ends: Any) -> Any:
            y, key = carry
            key, sub = jax.random.split(key)
            y, moves = advance(sub, y, ends[0], ends[1])
            return (y, key), (y, moves)

        ends = jnp.stack([t[:-1], t[1:]], axis=1)
        _, (ys, moved) = jax.lax.scan(interval, (y0, key), ends)
        return jnp.concatenate([y0[None, :], ys], axis=0), moved

    keys = jax.random.split(key, n)
    if mesh is None:
        return jax.vmap(one)(keys)
    from jax.sharding import NamedSharding, PartitionSpec

    if len(mesh.axis_names) != 1 or n % mesh.size:
        raise ValueError(
            f"mesh must be 1-D with a size that divides n={n}, got axes "
            f"{mesh.axis_names} of size {mesh.size}"
        )
    spec: Any = PartitionSpec  # (untyped in some JAX releases)
    spread = NamedSharding(mesh, spec(mesh.axis_names[0]))
    return jax.jit(jax.vmap(one), out_shardings=spread)(jax.device_put(keys, spread))
