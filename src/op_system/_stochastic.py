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
at the start of the step) for steps of at most `tau`; a step that would make a
count negative is rejected and retried with half the step.

The exact stochastic simulation algorithm (`ssa`, Gillespie's direct method) draws
one event at a time from the flows (`rate * source`, the propensities): the time
to the next event is exponential with their total, the event is flow `k` with
probability `flow_k / total`. The state recorded at an output time is the state
after every event up to it (before the first event after it). Propensities are
held between events, so time-varying parameters are read at the last event.

The state then changes by `stoichiometry @ n`, so incidence counters count the
moves too. NumPy draws with a `numpy.random.Generator`; JAX with a key, under
`jax.jit` and `jax.vmap` (one key per particle). See `CompiledRhs.simulate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._model import Model

__all__ = ["METHODS", "StepPlan", "simulate_jax", "simulate_numpy", "step_plan"]

#: Simulation methods (`CompiledRhs.simulate(method=...)`).
METHODS = ("chain_binomial", "gempyor", "tau_leap", "ssa")


@dataclass(frozen=True, eq=False)
class StepPlan:
    """Where each flow leaves from and what it changes, as index arrays.

    `exits[c, j]` is the `j`-th flow out of state cell `cells[c]` (`-1`: none);
    `sources` are the flows from outside the model; `rows, cols, vals` the
    stoichiometry (state x flow) entries.
    """

    n_state: int
    n_flow: int
    cells: np.ndarray
    exits: np.ndarray
    sources: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray


def step_plan(model: Model) -> StepPlan:
    from ._cells import flow_sources, stoichiometry_entries

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
        cells=np.asarray(cells, dtype=np.int64),
        exits=exits,
        sources=np.asarray(sources, dtype=np.int64),
        rows=np.asarray(rows, dtype=np.int64),
        cols=np.asarray(cols, dtype=np.int64),
        vals=np.asarray(vals, dtype=np.int64),
    )


def time_steps(times: np.ndarray, dt: float) -> tuple[np.ndarray, int]:
    """Steps per output interval (each interval split into equal steps of at most
    `dt`) and the most steps of any interval."""
    gaps = np.diff(times)
    steps = np.maximum(np.ceil(gaps / dt - 1e-9), 1).astype(np.int64)
    return steps, int(steps.max()) if steps.size else 0


def _split(plan: StepPlan, rates: Any, dt: Any, xp: Any) -> tuple[Any, Any, Any]:
    """Per exit cell: the exit rates (padded with 0), their total, and the
    probability that an individual leaves within `dt`."""
    safe = np.where(plan.exits >= 0, plan.exits, 0)
    r = xp.where(xp.asarray(plan.exits >= 0), rates[safe], 0.0)
    r = xp.maximum(r, 0.0)
    total = xp.sum(r, axis=1)
    return r, total, 1.0 - xp.exp(-total * dt)


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
        r, _total, _p = _split(plan, rates, dt, np)
        left = y[plan.cells]
        for j in range(plan.exits.shape[1]):
            got = np.minimum(
                rng.binomial(y[plan.cells], 1.0 - np.exp(-r[:, j] * dt)), left
            )
            left = left - got
            valid = plan.exits[:, j] >= 0
            n[plan.exits[valid, j]] = got[valid]
    elif plan.cells.size:
        r, _total, p_leave = _split(plan, rates, dt, np)
        left = rng.binomial(y[plan.cells], np.clip(p_leave, 0.0, 1.0))
        m = plan.exits.shape[1]
        for j in range(m):
            tail = r[:, j:].sum(axis=1)
            if j == m - 1:
                p = (tail > 0).astype(np.float64)
            else:
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


def jax_step(
    plan: StepPlan, key: Any, y: Any, rates: Any, dt: Any, gempyor: bool = False
) -> tuple[Any, Any]:
    """One chain-binomial step on JAX (traceable): the new counts and the moves."""
    import jax
    import jax.numpy as jnp

    n = jnp.zeros(plan.n_flow, dtype=y.dtype)
    k_leave, k_split, k_src = jax.random.split(key, 3)
    if plan.cells.size and gempyor:
        r, _total, _p = _split(plan, rates, dt, jnp)
        size = y[plan.cells].astype(rates.dtype)
        left = size
        keys = jax.random.split(k_split, plan.exits.shape[1])
        for j in range(plan.exits.shape[1]):
            got = jax.random.binomial(keys[j], size, 1.0 - jnp.exp(-r[:, j] * dt))
            got = jnp.minimum(got, left)
            left = left - got
            valid = plan.exits[:, j] >= 0
            n = n.at[plan.exits[valid, j]].set(got[valid].astype(y.dtype))
    elif plan.cells.size:
        r, _total, p_leave = _split(plan, rates, dt, jnp)
        left = jax.random.binomial(
            k_leave, y[plan.cells].astype(rates.dtype), jnp.clip(p_leave, 0.0, 1.0)
        )
        m = plan.exits.shape[1]
        keys = jax.random.split(k_split, m)
        for j in range(m):
            tail = jnp.sum(r[:, j:], axis=1)
            if j == m - 1:
                p = (tail > 0).astype(rates.dtype)
            else:
                p = jnp.where(tail > 0, r[:, j] / jnp.where(tail > 0, tail, 1.0), 0.0)
            got = jax.random.binomial(keys[j], left, jnp.clip(p, 0.0, 1.0))
            left = left - got
            valid = plan.exits[:, j] >= 0
            n = n.at[plan.exits[valid, j]].set(got[valid].astype(y.dtype))
    if plan.sources.size:
        lam = jnp.maximum(rates[plan.sources], 0.0) * dt
        n = n.at[plan.sources].set(jax.random.poisson(k_src, lam).astype(y.dtype))
    dy = (
        jnp.zeros(plan.n_state, dtype=y.dtype)
        .at[plan.rows]
        .add(jnp.asarray(plan.vals, dtype=y.dtype) * n[plan.cols])
    )
    return y + dy, n


def simulate_numpy(
    plan: StepPlan,
    rates_fn: Callable[[Any, Any], Any],
    y0: np.ndarray,
    times: np.ndarray,
    dt: float,
    rng: np.random.Generator,
    n: int,
    gempyor: bool = False,
) -> np.ndarray:
    steps, _ = time_steps(times, dt)
    out = np.empty((n, len(times), plan.n_state), dtype=np.int64)
    for p in range(n):
        y = y0.copy()
        out[p, 0] = y
        for i, k in enumerate(steps):
            h = (times[i + 1] - times[i]) / k
            for s in range(int(k)):
                t = times[i] + s * h
                rates = np.asarray(rates_fn(t, y.astype(np.float64)))
                y, _ = numpy_step(plan, rng, y, rates, h, gempyor)
            out[p, i + 1] = y
    return out


def simulate_jax(
    plan: StepPlan,
    rates_fn: Callable[[Any, Any], Any],
    y0: Any,
    times: np.ndarray,
    dt: float,
    key: Any,
    n: int,
    gempyor: bool = False,
) -> Any:
    import jax
    import jax.numpy as jnp

    steps, most = time_steps(times, dt)
    h = jnp.asarray(np.diff(times) / steps)
    starts = jnp.asarray(times[:-1])
    counts = jnp.asarray(steps)
    fdtype = jnp.result_type(float)

    def one(key: Any) -> Any:
        def interval(carry: Any, inp: Any) -> Any:
            y, key = carry
            t0, hi, k = inp

            def step(c: Any, s: Any) -> Any:
                y, key = c
                key, sub = jax.random.split(key)
                active = s < k
                dt_s = jnp.where(active, hi, 0.0)
                rates = rates_fn(t0 + s.astype(hi.dtype) * hi, y.astype(fdtype))
                y_new, _ = jax_step(plan, sub, y, rates, dt_s, gempyor)
                return (jnp.where(active, y_new, y), key), None

            (y, key), _ = jax.lax.scan(step, (y, key), jnp.arange(most))
            return (y, key), y

        _, ys = jax.lax.scan(interval, (y0, key), (starts, h, counts))
        return jnp.concatenate([y0[None, :], ys], axis=0)

    keys = jax.random.split(key, n)
    return jax.vmap(one)(keys)


def dense_stoichiometry(plan: StepPlan) -> np.ndarray:
    s = np.zeros((plan.n_state, plan.n_flow), dtype=np.int64)
    np.add.at(s, (plan.rows, plan.cols), plan.vals)
    return s


def ssa_numpy(
    plan: StepPlan,
    flows_fn: Callable[[Any, Any], Any],
    y0: np.ndarray,
    times: np.ndarray,
    rng: np.random.Generator,
    n: int,
) -> np.ndarray:
    """Gillespie's direct method on NumPy, one trajectory after another."""
    stoich = dense_stoichiometry(plan)
    out = np.empty((n, len(times), plan.n_state), dtype=np.int64)
    for p in range(n):
        y = y0.copy()
        t = float(times[0])
        out[p, 0] = y
        for i in range(1, len(times)):
            end = float(times[i])
            while True:
                a = np.maximum(np.asarray(flows_fn(t, y.astype(np.float64))), 0.0)
                total = float(a.sum())
                if total <= 0.0:
                    t = end
                    break
                t_next = t + rng.exponential(1.0 / total)
                if t_next > end:  # memoryless: the next event is drawn again from `end`
                    t = end
                    break
                k = int(np.searchsorted(np.cumsum(a), rng.random() * total, "right"))
                y = y + stoich[:, min(k, plan.n_flow - 1)]
                t = t_next
            out[p, i] = y
    return out


def ssa_jax(
    plan: StepPlan,
    flows_fn: Callable[[Any, Any], Any],
    y0: Any,
    times: np.ndarray,
    key: Any,
    n: int,
) -> Any:
    """Gillespie's direct method on JAX: a `lax.while_loop` of events per output
    interval, `vmap`ped over the `n` trajectories."""
    import jax
    import jax.numpy as jnp

    stoich = jnp.asarray(dense_stoichiometry(plan), dtype=y0.dtype)
    fdtype = jnp.result_type(float)
    ends = jnp.asarray(times[1:], dtype=fdtype)

    def one(key: Any) -> Any:
        def interval(carry: Any, end: Any) -> Any:
            def cond(c: Any) -> Any:
                return jnp.logical_not(c[3])

            def body(c: Any) -> Any:
                y, t, key, _ = c
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
                y = jnp.where(fire, y + stoich[:, k], y)
                return y, jnp.where(fire, t_next, end), key, jnp.logical_not(fire)

            y, t, key = carry
            y, t, key, _ = jax.lax.while_loop(
                cond, body, (y, t, key, jnp.asarray(False))
            )
            return (y, t, key), y

        t0 = jnp.asarray(times[0], dtype=fdtype)
        _, ys = jax.lax.scan(interval, (y0, t0, key), ends)
        return jnp.concatenate([y0[None, :], ys], axis=0)

    return jax.vmap(one)(jax.random.split(key, n))


def tau_numpy(
    plan: StepPlan,
    flows_fn: Callable[[Any, Any], Any],
    y0: np.ndarray,
    times: np.ndarray,
    tau: float,
    rng: np.random.Generator,
    n: int,
) -> np.ndarray:
    """Tau-leaping with fixed `tau` on NumPy (a negative step halved and retried)."""
    stoich = dense_stoichiometry(plan)
    out = np.empty((n, len(times), plan.n_state), dtype=np.int64)
    for p in range(n):
        y = y0.copy()
        t = float(times[0])
        out[p, 0] = y
        for i in range(1, len(times)):
            end = float(times[i])
            h = tau
            while end - t > 1e-12 * max(1.0, abs(end)):
                step = min(h, end - t)
                a = np.maximum(np.asarray(flows_fn(t, y.astype(np.float64))), 0.0)
                y_new = y + stoich @ rng.poisson(a * step)
                if (y_new < 0).any():
                    h = step / 2
                    continue
                y, t, h = y_new, t + step, tau
            t = end
            out[p, i] = y
    return out


def tau_jax(
    plan: StepPlan,
    flows_fn: Callable[[Any, Any], Any],
    y0: Any,
    times: np.ndarray,
    tau: float,
    key: Any,
    n: int,
) -> Any:
    """Tau-leaping with fixed `tau` on JAX: a `lax.while_loop` of steps per output
    interval (a negative step halved and retried), `vmap`ped over trajectories."""
    import jax
    import jax.numpy as jnp

    stoich = jnp.asarray(dense_stoichiometry(plan), dtype=y0.dtype)
    fdtype = jnp.result_type(float)
    ends = jnp.asarray(times[1:], dtype=fdtype)
    tau_a = jnp.asarray(tau, dtype=fdtype)

    def one(key: Any) -> Any:
        def interval(carry: Any, end: Any) -> Any:
            eps = 1e-12 * jnp.maximum(1.0, jnp.abs(end))

            def cond(c: Any) -> Any:
                return end - c[1] > eps

            def body(c: Any) -> Any:
                y, t, h, key = c
                key, sub = jax.random.split(key)
                step = jnp.minimum(h, end - t)
                a = jnp.maximum(flows_fn(t, y.astype(fdtype)), 0.0)
                moves = jax.random.poisson(sub, a * step).astype(y.dtype)
                y_new = y + stoich @ moves
                ok = jnp.all(y_new >= 0)
                return (
                    jnp.where(ok, y_new, y),
                    jnp.where(ok, t + step, t),
                    jnp.where(ok, tau_a, step / 2),
                    key,
                )

            y, t, key = carry
            y, _, _, key = jax.lax.while_loop(cond, body, (y, t, tau_a, key))
            return (y, end, key), y

        t0 = jnp.asarray(times[0], dtype=fdtype)
        _, ys = jax.lax.scan(interval, (y0, t0, key), ends)
        return jnp.concatenate([y0[None, :], ys], axis=0)

    return jax.vmap(one)(jax.random.split(key, n))
