"""The stochastic laws of a transitions model: what one step of each method does.

The simulators read the same generated code as the ODE: `rates(t, y, **params)`
(`lower_model(mode="rates")`) gives every flow's rate per cell, per capita for a
transition out of a compartment and the total flux for a source (`from: null`);
`flows(t, y, **params)` every flow's value (`rate * source`), each reaction at its
stochastic propensity (`lower_model(mode="propensities")`, see `defs.Reaction`).

A chain-binomial step (`Laws.chain`) of length `dt` from integer counts `y`
moves, with the rates at the start of the step (Euler-multinomial, as pomp's
`reulermultinom`):

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

Tau-leaping (`Laws.leap`) draws every flow's count as `Poisson(tau * flow)` (flows
at the start of the step), with `tau = dt` fixed, or without `dt` chosen at every
step by Cao, Gillespie & Petzold's rule (`adaptive_tau`, epsilon = 0.03); a step
that would make a count negative is rejected and retried with half the step.

The exact stochastic simulation algorithm (`Laws.event`, Gillespie's direct
method) draws one event at a time from the flows (the propensities): the time to
the next event is exponential with their total, the event is flow `k` with
probability `flow_k / total`. The state recorded at an output time is the state
after every event up to it (before the first event after it). Propensities are
held between events, so time-varying parameters are read at the last event.

The state then changes by `stoichiometry @ n`, so incidence counters count the
moves too. Each law is one step of a loop, written once over an array namespace
`xp` (NumPy or `jax.numpy`) and a `Sampler` (`samplers.py`); its carry (counts,
moves so far, the sampler, and the method's clock) goes in and out whole, so
`simulators.py` runs it in a Python loop or in `lax.scan` / `lax.while_loop`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from .._core.model import Model
    from .samplers import Sampler

__all__ = [
    "DENSE_STOICHIOMETRY",
    "Chain",
    "Event",
    "Laws",
    "Leap",
    "StepPlan",
    "dense_stoichiometry",
    "step_plan",
]

#: up to this many stoichiometry entries (state x flow), a step applies its moves
#: as one dense product, above as a scatter of the nonzero entries
DENSE_STOICHIOMETRY = 16384

#: the error control parameter of the adaptive tau-leap (Cao, Gillespie & Petzold)
EPSILON = 0.03

Fn = Callable[[Any, Any], Any]


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
    #: reactions' reactant terms that raise the adaptive tau-leap's `g_i` above 2
    #: (`reaction_g`): state, the reaction's order, the state's coefficient
    g_terms: tuple[np.ndarray, np.ndarray, np.ndarray] = (
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
    )

    @cached_property
    def stoichiometry(self) -> np.ndarray:
        """The dense stoichiometry, state x flow (made once: NumPy reads it at
        every step)."""
        return dense_stoichiometry(self)

    @cached_property
    def columns(self) -> tuple[np.ndarray, ...]:
        """Per exit column `j`, which exit cells have a `j`-th exit."""
        return tuple(self.exits[:, j] >= 0 for j in range(self.exits.shape[1]))

    @cached_property
    def flow_order(self) -> np.ndarray:
        """The gather that puts the moves of the exit columns (their valid cells)
        then of the sources in flow order: every flow is an exit of one cell or a
        source. (Under `vmap`, XLA's scatters cost more on the CPU than a gather.)"""
        order = [self.exits[valid, j] for j, valid in enumerate(self.columns)]
        return np.argsort(np.concatenate([*order, self.sources]))


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
        g_terms=_g_terms(model),
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


def _g_terms(model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reactant terms where Cao, Gillespie & Petzold's `g_i` exceeds 2: those
    taking `c >= 2` of a cell or of a reaction of order `n >= 3`, as arrays of
    state cells, orders and coefficients."""
    from .._core.cells import reactant_orders

    out = [(cell, n, c) for cell, n, c in reactant_orders(model) if c >= 2 or n >= 3]
    cols = list(zip(*out)) if out else [(), (), ()]
    return (
        np.asarray(cols[0], dtype=np.int64),
        np.asarray(cols[1], dtype=np.int64),
        np.asarray(cols[2], dtype=np.int64),
    )


def reaction_g(plan: StepPlan, y: Any, xp: Any) -> Any:
    """Cao, Gillespie & Petzold's `g_i` of every model state: 2 (every rate taken as
    up to second order), raised for reactants of reactions of order `n` taking `c`
    of the state to `(n / c) * sum_{j < c} x / (x - j)` (their eq. 27 for n <= 3:
    `2 + 1/(x-1)` for two of `x` in a second-order reaction, ...)."""
    g = xp.full(plan.n_model, 2.0, dtype=y.dtype)
    states, order, coef = plan.g_terms
    if not states.size:
        return g
    x = y[states]
    total = xp.zeros(states.size, dtype=y.dtype)
    for j in range(int(coef.max())):  # x / (x - j) over j < c (x < c cannot fire)
        term = x / xp.maximum(x - j, 1.0)
        total = total + xp.where(xp.asarray(j < coef), term, 0.0)
    gs = xp.asarray(order / coef, dtype=y.dtype) * total
    if xp is np:
        np.maximum.at(g, states, gs)
        return g
    return g.at[states].max(gs)


def dense_stoichiometry(plan: StepPlan) -> np.ndarray:
    s = np.zeros((plan.n_state, plan.n_flow), dtype=np.int64)
    np.add.at(s, (plan.rows, plan.cols), plan.vals)
    return s


def adaptive_tau(own: Any, a: Any, y: Any, xp: Any, g: Any = 2.0) -> Any:
    """The step of Cao, Gillespie & Petzold (2006) for propensities `a` at `y`: the
    largest `tau` for which the expected change of every state, and its standard
    deviation, stay within `max(EPSILON * y_i / g_i, 1)`, with `g_i = 2` for every
    state (the rates of a spec are arbitrary expressions, so every reaction is
    taken as up to second order) unless a reaction raises it (`reaction_g`).
    `own` is the stoichiometry of the model's own states."""
    mu = xp.abs(own @ a)
    var = (own * own) @ a
    bound = xp.maximum(EPSILON * y[: own.shape[0]] / g, 1.0)
    big = xp.asarray(np.inf)
    t1 = xp.where(mu > 0, bound / xp.where(mu > 0, mu, 1.0), big)
    t2 = xp.where(var > 0, bound * bound / xp.where(var > 0, var, 1.0), big)
    return xp.min(xp.minimum(t1, t2))


class Chain(NamedTuple):
    """A chain-binomial trajectory between steps."""

    y: Any
    moves: Any
    sampler: Sampler


class Leap(NamedTuple):
    """A tau-leaping trajectory between leaps: `retry` is the halved step after a
    rejected leap (`-1`: none)."""

    y: Any
    moves: Any
    t: Any
    retry: Any
    sampler: Sampler


class Event(NamedTuple):
    """An SSA trajectory between events: `done` once the next event is past the
    end of the interval (or none can happen)."""

    y: Any
    moves: Any
    t: Any
    done: Any
    sampler: Sampler


class Laws:
    """Each method's step for one model on one namespace `xp`: the plan of its
    flows, its `rates` and `flows` (parameters bound) and tau-leaping's fixed
    step `dt` (None: adaptive)."""

    def __init__(
        self, plan: StepPlan, xp: Any, rates: Fn, flows: Fn, dt: float | None
    ) -> None:
        self.plan, self.xp, self.rates, self.flows = plan, xp, rates, flows
        self.fdtype = fdtype = xp.result_type(float)
        # NumPy's values are concrete, JAX's traced: see `where` and `add_at`
        self.concrete = xp is np
        # tau-leaping's constants, made once
        self.dt = None if dt is None else xp.asarray(dt, dtype=fdtype)
        self.no_retry = xp.asarray(-1.0, dtype=fdtype)
        self.own = xp.asarray(plan.stoichiometry[: plan.n_model], dtype=fdtype)

    def g(self, y: Any) -> Any:
        """The adaptive tau-leap's `g_i` at `y` (2, or a reaction's; `reaction_g`)."""
        if not self.plan.g_terms[0].size:
            return 2.0  # the same arithmetic as before reactions: y / 2.0
        return reaction_g(self.plan, y[: self.plan.n_model], self.xp)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """`a` if `cond` else `b`: on NumPy a branch on the scalar `cond` (no
        array made, so the clock stays a float), on JAX `where`."""
        if self.concrete:
            return a if cond else b
        return self.xp.where(cond, a, b)

    def add_at(self, x: Any, index: Any, values: Any) -> Any:
        """`x` with `values` added at `index` (repeated indices add up), cast to
        `x`'s dtype: NumPy's `x` in place, JAX's (immutable) by `.at[...].add`."""
        if not self.concrete:
            return x.at[index].add(values.astype(x.dtype))
        if isinstance(index, np.ndarray):
            np.add.at(x, index, values)
        else:  # one index: a plain add (`np.add.at` costs a microsecond more)
            x[index] += values
        return x

    def chain(self, c: Chain, t: Any, dt: Any, gempyor: bool) -> Chain:
        """One chain-binomial (or gempyor) step of length `dt` from time `t`."""
        xp = self.xp
        sampler, sub = c.sampler.split(2)
        rates = xp.asarray(self.rates(t, c.y.astype(self.fdtype)))
        n = self.chain_moves(sub, c.y, rates, dt, gempyor)
        return Chain(self.apply(c.y, n), c.moves + n.astype(c.y.dtype), sampler)

    def chain_moves(
        self, s: Sampler, y: Any, rates: Any, dt: Any, gempyor: bool
    ) -> Any:
        """The moves of every flow over one step, in flow order (in `s`'s counts)."""
        xp, plan = self.xp, self.plan
        s_leave, s_split, s_src = s.split(3)
        pieces: list[Any] = []
        if plan.cells.size:
            safe = np.where(plan.exits >= 0, plan.exits, 0)
            # per exit cell, the rates of its exits (padded with 0; negative as 0)
            r = xp.where(xp.asarray(plan.exits >= 0), rates[safe], 0.0)
            r = xp.maximum(r, 0.0)
            size = s.counts(y[plan.cells], rates.dtype)
            columns = s_split.split(plan.exits.shape[1])
            got = (
                self._gempyor_exits(columns, r, size, dt)
                if gempyor
                else self._multinomial_exits(s_leave, columns, r, size, dt)
            )
            pieces = [g[valid] for g, valid in zip(got, plan.columns)]
        if plan.sources.size:
            lam = xp.maximum(rates[plan.sources], 0.0) * dt
            pieces.append(s.counts(s_src.poisson(lam), rates.dtype))
        return xp.concatenate(pieces)[plan.flow_order]

    def _multinomial_exits(
        self, s_leave: Sampler, columns: tuple[Sampler, ...], r: Any, size: Any, dt: Any
    ) -> list[Any]:
        """Per exit column, how many leave by it: how many leave at all, split
        among the exits by sequential conditional binomials."""
        xp = self.xp
        p_leave = 1.0 - xp.exp(-xp.sum(r, axis=1) * dt)
        left = s_leave.binomial(size, xp.clip(p_leave, 0.0, 1.0))
        m = len(columns)
        got = []
        for j in range(m):
            if j == m - 1:  # the last exit takes what remains: no draw
                g = left
            else:
                tail = xp.sum(r[:, j:], axis=1)
                p = xp.where(tail > 0, r[:, j] / xp.where(tail > 0, tail, 1.0), 0.0)
                g = columns[j].binomial(left, xp.clip(p, 0.0, 1.0))
            left = left - g
            got.append(g)
        return got

    def _gempyor_exits(
        self, columns: tuple[Sampler, ...], r: Any, size: Any, dt: Any
    ) -> list[Any]:
        """Per exit column, gempyor's independent draws, clipped in listed order."""
        xp = self.xp
        left = size
        got = []
        for j, col in enumerate(columns):
            g = xp.minimum(col.binomial(size, 1.0 - xp.exp(-r[:, j] * dt)), left)
            left = left - g
            got.append(g)
        return got

    def apply(self, y: Any, n: Any) -> Any:
        """`y` moved by the moves `n` (float or integer counts, in flow order)."""
        xp, plan = self.xp, self.plan
        if plan.n_state * plan.n_flow <= DENSE_STOICHIOMETRY:
            dy = xp.asarray(plan.stoichiometry, dtype=n.dtype) @ n
        else:
            vals = xp.asarray(plan.vals, dtype=n.dtype) * n[plan.cols]
            dy = self.add_at(xp.zeros(plan.n_state, dtype=n.dtype), plan.rows, vals)
        # float counts (exact below 2**53), cast once
        return y + xp.round(dy).astype(y.dtype)

    def leaping(self, end: Any) -> Callable[[Leap], Any]:
        """The loop condition of tau-leaping up to `end`: whether a trajectory has
        time left (beyond rounding, whose tolerance is computed once)."""
        eps = 1e-12 * self.xp.maximum(1.0, self.xp.abs(end))
        return lambda c: end - c.t > eps

    def leap(self, c: Leap, end: Any) -> Leap:
        """One leap: Poisson counts of every flow over the step (`dt`, or the
        adaptive step, or the halved step being retried; at most to `end`),
        accepted if no count goes negative."""
        xp = self.xp
        sampler, sub = c.sampler.split(2)
        y_float = c.y.astype(self.fdtype)
        a = xp.maximum(xp.asarray(self.flows(c.t, y_float)), 0.0)
        fresh = (
            self.dt
            if self.dt is not None
            else adaptive_tau(self.own, a, y_float, xp, self.g(y_float))
        )
        step = xp.minimum(self.where(c.retry > 0, c.retry, fresh), end - c.t)
        n = sub.poisson(a * step).astype(c.y.dtype)
        y = c.y + xp.asarray(self.plan.stoichiometry, dtype=c.y.dtype) @ n
        ok = (y >= 0).all()
        return Leap(
            self.where(ok, y, c.y),
            self.where(ok, c.moves + n, c.moves),
            self.where(ok, c.t + step, c.t),
            self.where(ok, self.no_retry, step / 2),
            sampler,
        )

    def event(self, c: Event, end: Any) -> Event:
        """The next event of Gillespie's direct method, if it comes by `end`."""
        xp = self.xp
        sampler, s_wait, s_pick = c.sampler.split(3)
        a = xp.maximum(xp.asarray(self.flows(c.t, c.y.astype(self.fdtype))), 0.0)
        total = a.sum()
        t_next = c.t + s_wait.exponential(total)
        fire = (total > 0) & (t_next <= end)
        k = s_pick.categorical(a, total, fire)
        stoich = xp.asarray(self.plan.stoichiometry, dtype=c.y.dtype)
        return Event(
            self.where(fire, c.y + stoich[:, k], c.y),
            self.add_at(c.moves, k, fire),
            self.where(fire, t_next, end),
            ~fire,
            sampler,
        )
