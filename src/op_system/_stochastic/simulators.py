"""Stochastic simulation of a transitions model: chain-binomial steps.

The simulator reads the same generated code as the ODE: `rates(t, y, **params)`
(`lower_model(mode="rates")`) gives every flow's rate per cell, per capita for a
transition out of a compartment and the total flux for a source (`from: null`).
A step of length `dt` from integer counts `y` moves, with the rates at the start
of the step (Euler-multinomial, as pomp's `reulermultinom`):

* out of each state cell `i` with exits `k = 1..m` at per-capita rates `r_k`:
  `D_i ~ Binomial(y_i, 1 - exp(-dt * sum_k r_k))` individuals in all, split among
  the exits by sequential conditional binomials
  `n_k ~ Binomial(D_i - sum_{j<k} n_j, r_k / sum_{j>=k} r_j)` (the last exit takes
  what remains), so the counts are a multinomial draw, never exceed `y_i`, and do not
  depend on the order the transitions are listed in;
* into the model from each source: `n ~ Poisson(dt * flux)`.

`gempyor` is flepiMoP's gempyor step, kept for comparison: every exit draws
independently, `n_k ~ Binomial(y_i, 1 - exp(-dt r_k))`, and the draws are clipped
in the order the transitions are listed so their total stays within `y_i`. With
competing exits this is biased (the first listed exit takes more than its share).

Tau-leaping (`tau_leap`) draws every flow's count as `Poisson(tau * flow)` (flows
at the start of the step), with `tau = dt` fixed, or without `dt` chosen at every
step by Cao, Gillespie & Petzold's rule (`adaptive_tau`, epsilon = 0.03); a step
that would make a count negative is rejected and retried with half the step.

The exact stochastic simulation algorithm (`ssa`, Gillespie's direct method) draws
one event at a time from the flows (`rate * source`, the propensities): the time
to the next event is exponential with their total, the event is flow `k` with
probability `flow_k / total`. The state recorded at an output time is the state
after every event up to it (before the first event after it). Propensities are
held between events, so time-varying parameters are read at the last event.

The state then changes by `stoichiometry @ n`, so incidence counters count the
moves too. NumPy draws with a `numpy.random.Generator`; JAX with a key, under
`jax.jit` and `jax.vmap` (one key per particle). See `CompiledRhs.simulate`.

Every method is one function that advances one trajectory over one output
interval (`advance_numpy`, `advance_jax`); `run_numpy` / `run_jax` chain them over
the output grid, and the particle filter (`_stochastic/filter.py`) over the data's intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from .._core.model import Model

__all__ = [
    "METHODS",
    "Simulation",
    "StepPlan",
    "advance_jax",
    "advance_numpy",
    "run_jax",
    "run_numpy",
    "step_plan",
]

#: Simulation methods (`CompiledRhs.simulate(method=...)`).
METHODS = ("chain_binomial", "gempyor", "tau_leap", "ssa")


class Simulation(NamedTuple):
    """`CompiledRhs.simulate(..., return_flows=True)`: the counts at the output
    times, `(n, len(times), n_state)`, and the interval flows,
    `(n, len(times) - 1, n_flow)`: how many individuals each flow (in
    `flow_names` order; a source: how many arrived) moved over each interval."""

    states: Any
    flows: Any


@dataclass(frozen=True, eq=False)
class StepPlan:
    """Where each flow leaves from and what it changes, as index arrays.

    `exits[c, j]` is the `j`-th flow out of state cell `cells[c]` (`-1`: none);
    `sources` are the flows from outside the model; `rows, cols, vals` the
    stoichiometry (state x flow) entries.
    """

    n_state: int
    n_flow: int
    #: the model's own states (before the incidence counters)
    n_model: int
    cells: np.ndarray
    exits: np.ndarray
    sources: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray


def step_plan(model: Model) -> StepPlan:
    from .._core.cells import flow_sources, stoichiometry_entries

    src = flow_sources(model)
    by_cell: dict[int, list[int]] = {}
    sources: list[int] = []
    for k, cell in enumerate(src):
        if cell is None:
            sources.append(k)
        else:
            by_cell.setdefault(cell, []).append(k)
    cells = sorted(by_cell)
    m = max((len(v) for v in by_cell.values()), default=0)
    exits = np.full((len(cells), m), -1, dtype=np.int64)
    for c, cell in enumerate(cells):
        exits[c, : len(by_cell[cell])] = by_cell[cell]
    rows, cols, vals = stoichiometry_entries(model)
    return StepPlan(
        n_state=model.n_state,
        n_flow=len(src),
        n_model=model.n_model_state,
        cells=np.asarray(cells, dtype=np.int64),
        exits=exits,
        sources=np.asarray(sources, dtype=np.int64),
        rows=np.asarray(rows, dtype=np.int64),
        cols=np.asarray(cols, dtype=np.int64),
        vals=np.asarray(vals, dtype=np.int64),
    )


def n_steps(times: np.ndarray, dt: float | None) -> int:
    """Steps per output interval for the chain-binomial methods' steps of at most
    `dt`: every interval is split into this many equal steps (on a regular grid,
    exactly steps of `gap / k`). 1 without `dt` (the methods that need none)."""
    gaps = np.diff(times)
    if dt is None or not gaps.size:
        return 1
    return int(np.max(np.ceil(gaps / dt - 1e-9)))


def _exit_rates(plan: StepPlan, rates: Any, xp: Any) -> Any:
    """Per exit cell, the rates of its exits (padded with 0; negative rates as 0)."""
    safe = np.where(plan.exits >= 0, plan.exits, 0)
    return xp.maximum(xp.where(xp.asarray(plan.exits >= 0), rates[safe], 0.0), 0.0)


def numpy_step(
    plan: StepPlan,
    rng: np.random.Generator,
    y: np.ndarray,
    rates: np.ndarray,
    dt: float,
    gempyor: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One chain-binomial step on NumPy: the new counts and the moves per flow."""
    n = np.zeros(plan.n_flow, dtype=np.int64)
    if plan.cells.size and gempyor:
        r = _exit_rates(plan, rates, np)
        size = y[plan.cells]
        left = size
        for j in range(plan.exits.shape[1]):
            got = np.minimum(rng.binomial(size, 1.0 - np.exp(-r[:, j] * dt)), left)
            left = left - got
            valid = plan.exits[:, j] >= 0
            n[plan.exits[valid, j]] = got[valid]
    elif plan.cells.size:
        r = _exit_rates(plan, rates, np)
        p_leave = 1.0 - np.exp(-r.sum(axis=1) * dt)
        left = rng.binomial(y[plan.cells], np.clip(p_leave, 0.0, 1.0))
        m = plan.exits.shape[1]
        for j in range(m):
            if j == m - 1:  # the last exit takes what remains: no draw
                got = left
            else:
                tail = r[:, j:].sum(axis=1)
                p = np.divide(r[:, j], tail, out=np.zeros_like(tail), where=tail > 0)
                got = rng.binomial(left, np.clip(p, 0.0, 1.0))
            left = left - got
            valid = plan.exits[:, j] >= 0
            n[plan.exits[valid, j]] = got[valid]
    if plan.sources.size:
        n[plan.sources] = rng.poisson(np.maximum(rates[plan.sources], 0.0) * dt)
    dy = np.zeros(plan.n_state, dtype=np.int64)
    np.add.at(dy, plan.rows, plan.vals * n[plan.cols])
    return y + dy, n


#: up to this many stoichiometry entries (state x flow), a JAX step applies its
#: moves as one dense product, above as a scatter of the nonzero entries
DENSE_STOICHIOMETRY = 16384


def jax_step(
    plan: StepPlan, key: Any, y: Any, rates: Any, dt: Any, gempyor: bool = False
) -> tuple[Any, Any]:
    """One chain-binomial step on JAX (traceable): the new counts and the moves."""
    import jax
    import jax.numpy as jnp

    from .sampling import binomial

    # the moves of each exit column and of the sources, put in flow order by one
    # gather (every flow is an exit of one cell or a source): under vmap,
    # XLA's scatters cost more on the CPU than the gather and a dense product
    pieces: list[Any] = []
    order: list[np.ndarray] = []
    k_leave, k_split, k_src = jax.random.split(key, 3)
    if plan.cells.size and gempyor:
        r = _exit_rates(plan, rates, jnp)
        size = y[plan.cells].astype(rates.dtype)
        left = size
        keys = jax.random.split(k_split, plan.exits.shape[1])
        for j in range(plan.exits.shape[1]):
            got = binomial(keys[j], size, 1.0 - jnp.exp(-r[:, j] * dt))
            got = jnp.minimum(got, left)
            left = left - got
            valid = plan.exits[:, j] >= 0
            pieces.append(got[valid])
            order.append(plan.exits[valid, j])
    elif plan.cells.size:
        r = _exit_rates(plan, rates, jnp)
        p_leave = 1.0 - jnp.exp(-jnp.sum(r, axis=1) * dt)
        left = binomial(
            k_leave, y[plan.cells].astype(rates.dtype), jnp.clip(p_leave, 0.0, 1.0)
        )
        m = plan.exits.shape[1]
        keys = jax.random.split(k_split, m)
        for j in range(m):
            if j == m - 1:  # the last exit takes what remains: no draw
                got = left
            else:
                tail = jnp.sum(r[:, j:], axis=1)
                p = jnp.where(tail > 0, r[:, j] / jnp.where(tail > 0, tail, 1.0), 0.0)
                got = binomial(keys[j], left, jnp.clip(p, 0.0, 1.0))
            left = left - got
            valid = plan.exits[:, j] >= 0
            pieces.append(got[valid])
            order.append(plan.exits[valid, j])
    if plan.sources.size:
        lam = jnp.maximum(rates[plan.sources], 0.0) * dt
        pieces.append(jax.random.poisson(k_src, lam).astype(rates.dtype))
        order.append(plan.sources)
    # float counts (exact below 2**53), cast once
    moves = jnp.concatenate(pieces)[np.argsort(np.concatenate(order))]
    if plan.n_state * plan.n_flow <= DENSE_STOICHIOMETRY:
        dense = jnp.asarray(dense_stoichiometry(plan), dtype=moves.dtype)
        dy = dense @ moves
    else:
        vals = jnp.asarray(plan.vals, dtype=moves.dtype)
        dy = (
            jnp.zeros(plan.n_state, moves.dtype)
            .at[plan.rows]
            .add(vals * moves[plan.cols])
        )
    return y + jnp.round(dy).astype(y.dtype), moves.astype(y.dtype)


def dense_stoichiometry(plan: StepPlan) -> np.ndarray:
    s = np.zeros((plan.n_state, plan.n_flow), dtype=np.int64)
    np.add.at(s, (plan.rows, plan.cols), plan.vals)
    return s


Fn = Callable[[Any, Any], Any]

#: the error control parameter of the adaptive tau-leap (Cao, Gillespie & Petzold)
EPSILON = 0.03


def adaptive_tau(own: Any, a: Any, y: Any, xp: Any) -> Any:
    """The step of Cao, Gillespie & Petzold (2006) for propensities `a` at `y`: the
    largest `tau` for which the expected change of every state, and its standard
    deviation, stay within `max(EPSILON * y_i / g, 1)`, with `g = 2` for every state
    (the rates of a spec are arbitrary expressions, so every reaction is taken as
    up to second order). `own` is the stoichiometry of the model's own states."""
    mu = xp.abs(own @ a)
    var = (own * own) @ a
    bound = xp.maximum(EPSILON * y[: own.shape[0]] / 2.0, 1.0)
    big = xp.asarray(np.inf)
    t1 = xp.where(mu > 0, bound / xp.where(mu > 0, mu, 1.0), big)
    t2 = xp.where(var > 0, bound * bound / xp.where(var > 0, var, 1.0), big)
    return xp.min(xp.minimum(t1, t2))


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
    stoich = dense_stoichiometry(plan)

    def chain(
        rng: np.random.Generator, y: np.ndarray, t0: float, t1: float
    ) -> tuple[np.ndarray, np.ndarray]:
        h = (t1 - t0) / steps
        moves = np.zeros(plan.n_flow, dtype=np.int64)
        for s in range(steps):
            rates = np.asarray(rates_fn(t0 + s * h, y.astype(np.float64)))
            y, n = numpy_step(plan, rng, y, rates, h, method == "gempyor")
            moves += n
        return y, moves

    own = stoich[: plan.n_model]

    def tau_leap(
        rng: np.random.Generator, y: np.ndarray, t: float, end: float
    ) -> tuple[np.ndarray, np.ndarray]:
        retry = None  # the halved step after a rejected one
        moves = np.zeros(plan.n_flow, dtype=np.int64)
        while end - t > 1e-12 * max(1.0, abs(end)):
            a = np.maximum(np.asarray(flows_fn(t, y.astype(np.float64))), 0.0)
            h = retry if retry is not None else (dt or adaptive_tau(own, a, y, np))
            step = min(h, end - t)
            n = rng.poisson(a * step)
            y_new = y + stoich @ n
            if (y_new < 0).any():
                retry = step / 2
                continue
            y, t, retry = y_new, t + step, None
            moves += n
        return y, moves

    def ssa(
        rng: np.random.Generator, y: np.ndarray, t: float, end: float
    ) -> tuple[np.ndarray, np.ndarray]:
        moves = np.zeros(plan.n_flow, dtype=np.int64)
        while True:
            a = np.maximum(np.asarray(flows_fn(t, y.astype(np.float64))), 0.0)
            total = float(a.sum())
            if total <= 0.0:
                return y, moves
            t_next = t + rng.exponential(1.0 / total)
            if t_next > end:  # memoryless: the next event is drawn again from `end`
                return y, moves
            k = min(
                int(np.searchsorted(np.cumsum(a), rng.random() * total, "right")),
                plan.n_flow - 1,
            )
            y = y + stoich[:, k]
            moves[k] += 1
            t = t_next

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

    stoich = jnp.asarray(dense_stoichiometry(plan))
    fdtype = jnp.result_type(float)

    def chain(key: Any, y: Any, t0: Any, t1: Any) -> Any:
        h = (t1 - t0) / steps

        def step(c: Any, s: Any) -> Any:
            y, moves, key = c
            key, sub = jax.random.split(key)
            rates = rates_fn(t0 + s.astype(fdtype) * h, y.astype(fdtype))
            y_new, n = jax_step(plan, sub, y, rates, h, method == "gempyor")
            return (y_new, moves + n, key), None

        moves = jnp.zeros(plan.n_flow, dtype=y.dtype)
        (y, moves, _), _ = jax.lax.scan(step, (y, moves, key), jnp.arange(steps))
        return y, moves

    own = stoich[: plan.n_model].astype(fdtype)

    def tau_leap(key: Any, y: Any, t0: Any, end: Any) -> Any:
        eps = 1e-12 * jnp.maximum(1.0, jnp.abs(end))
        no_retry = jnp.asarray(-1.0, dtype=fdtype)

        def cond(c: Any) -> Any:
            return end - c[2] > eps

        def body(c: Any) -> Any:
            y, moves, t, retry, key = c
            key, sub = jax.random.split(key)
            a = jnp.maximum(flows_fn(t, y.astype(fdtype)), 0.0)
            fresh = (
                jnp.asarray(dt, dtype=fdtype)
                if dt is not None
                else adaptive_tau(own, a, y.astype(fdtype), jnp)
            )
            step = jnp.minimum(jnp.where(retry > 0, retry, fresh), end - t)
            n = jax.random.poisson(sub, a * step).astype(y.dtype)
            y_new = y + stoich.astype(y.dtype) @ n
            ok = jnp.all(y_new >= 0)
            return (
                jnp.where(ok, y_new, y),
                jnp.where(ok, moves + n, moves),
                jnp.where(ok, t + step, t),
                jnp.where(ok, no_retry, step / 2),
                key,
            )

        t0 = jnp.asarray(t0, dtype=fdtype)
        moves = jnp.zeros(plan.n_flow, dtype=y.dtype)
        y, moves, _, _, _ = jax.lax.while_loop(
            cond, body, (y, moves, t0, no_retry, key)
        )
        return y, moves

    def ssa(key: Any, y: Any, t0: Any, end: Any) -> Any:
        def cond(c: Any) -> Any:
            return jnp.logical_not(c[4])

        def body(c: Any) -> Any:
            y, moves, t, key, _ = c
            key, k_t, k_j = jax.random.split(key, 3)
            a = jnp.maximum(flows_fn(t, y.astype(fdtype)), 0.0)
            total = jnp.sum(a)
            live = total > 0
            wait = jax.random.exponential(k_t, dtype=fdtype) / jnp.where(
                live, total, 1.0
            )
            t_next = t + wait
            fire = live & (t_next <= end)
            logits = jnp.where(a > 0, jnp.log(jnp.where(a > 0, a, 1.0)), -jnp.inf)
            k = jax.random.categorical(k_j, logits)
            y = jnp.where(fire, y + stoich[:, k].astype(y.dtype), y)
            moves = moves.at[k].add(fire.astype(y.dtype))
            return y, moves, jnp.where(fire, t_next, end), key, jnp.logical_not(fire)

        t0 = jnp.asarray(t0, dtype=fdtype)
        moves = jnp.zeros(plan.n_flow, dtype=y.dtype)
        init = (y, moves, t0, key, jnp.asarray(False))
        y, moves, _, _, _ = jax.lax.while_loop(cond, body, init)
        return y, moves

    return {"ssa": ssa, "tau_leap": tau_leap}.get(method, chain)


def run_jax(
    advance: Callable[[Any, Any, Any, Any], Any],
    y0: Any,
    times: np.ndarray,
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
