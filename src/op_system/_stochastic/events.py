"""Timed events in the stochastic runs: every method stops at an event's time.

Each method advances a trajectory over an output interval (`advance(rng_or_key,
y, t0, t1)`, `simulators.py`). With events, the interval `(t0, t1]` is cut at
the times of the events inside it: the method runs up to the event time exactly
(the SSA's clock stops there, and restarts after it: the waiting time is
memoryless, so this is exact; a fixed-step method's steps end there), the event
is applied to the counts (`_core/events.py`, integer meaning: amounts rounded,
no count below zero, moves conserve the total), and the run goes on. An event
at the first output time applies to `y0` (`at_start`); the recorded state at
an event time is the one after its events. The flows counted over an interval
are the method's moves only: an event is not a flow.

NumPy knows the event times (host numbers): an interval without events runs
exactly as before. On JAX the times may be traced parameters, so every
interval runs the same fixed sequence: one piece per event (in time order, of
length 0 when the event is outside the interval) and a last piece to `t1`, the
event applied where its time falls in the interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._core.events import Event, schedule

__all__ = ["at_start", "jax_with_events", "numpy_with_events"]


def at_start(
    events: tuple[Event, ...], params: Mapping[str, Any], y0: Any, t0: Any
) -> Any:
    """`y0` after the events at time `t0` (in spec order), counts."""
    for time, fn in schedule(events, params, counts=True):
        if isinstance(y0, np.ndarray) and not _traced(time):
            if float(time) == float(t0):
                y0 = fn(y0)
        else:
            import jax.numpy as jnp

            y0 = jnp.where(jnp.asarray(time) == t0, fn(y0), y0)
    return y0


def _traced(value: Any) -> bool:
    try:
        float(value)
    except Exception:  # a JAX tracer
        return True
    return False


def numpy_with_events(
    events: tuple[Event, ...],
    params: Mapping[str, Any],
    advance: Callable[[Any, np.ndarray, float, float], tuple[np.ndarray, np.ndarray]],
) -> Callable[[Any, np.ndarray, float, float], tuple[np.ndarray, np.ndarray]]:
    """`advance` that stops at the events (NumPy: known times, sorted, ties in
    spec order)."""
    if not events:
        return advance
    sched = sorted(
        ((float(t), fn) for t, fn in schedule(events, params, counts=True)),
        key=lambda pair: pair[0],
    )

    def advance_events(
        rng: Any, y: np.ndarray, t0: float, t1: float
    ) -> tuple[np.ndarray, np.ndarray]:
        moves: np.ndarray | None = None
        cur = t0
        for te, fn in sched:
            if not t0 < te <= t1:
                continue
            if te > cur:
                y, m = advance(rng, y, cur, te)
                moves = m if moves is None else moves + m
                cur = te
            y = fn(y)
        if cur < t1 or moves is None:
            y, m = advance(rng, y, cur, t1)
            moves = m if moves is None else moves + m
        return y, moves

    return advance_events


def jax_with_events(
    events: tuple[Event, ...],
    params: Mapping[str, Any],
    advance: Callable[[Any, Any, Any, Any], Any],
    n_flow: int,
) -> Callable[[Any, Any, Any, Any], Any]:
    """`advance` that stops at the events, traceable (the times may be traced):
    a `lax.scan` over the pieces, so the method's step is traced once."""
    if not events:
        return advance
    import jax
    import jax.numpy as jnp

    sched = schedule(events, params, counts=True)
    fdtype = jnp.result_type(float)
    times = jnp.stack([jnp.asarray(t, dtype=fdtype) for t, _ in sched])
    order = jnp.argsort(times, stable=True)  # ties in spec order
    fns = [fn for _, fn in sched]
    n = len(fns)

    def advance_events(key: Any, y: Any, t0: Any, t1: Any) -> Any:
        t0 = jnp.asarray(t0, dtype=fdtype)
        t1 = jnp.asarray(t1, dtype=fdtype)
        # piece k ends at the k-th event (in time order), the last one at t1
        ends = jnp.concatenate([times[order], t1[None]])
        which = jnp.concatenate([order, jnp.zeros(1, dtype=order.dtype)])

        def piece(carry: Any, k: Any) -> Any:
            y, cur, moves = carry
            te = ends[k]
            end = jnp.clip(te, cur, t1)
            y, m = advance(jax.random.fold_in(key, k), y, cur, end)
            fire = (k < n) & (te > t0) & (te <= t1)
            y = jnp.where(fire, jax.lax.switch(which[k], fns, y), y)
            return (y, end, moves + m), None

        moves = jnp.zeros(n_flow, dtype=y.dtype)
        (y, _, moves), _ = jax.lax.scan(piece, (y, t0, moves), jnp.arange(n + 1))
        return y, moves

    return advance_events
