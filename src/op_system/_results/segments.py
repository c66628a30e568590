"""Where a solve must stop and start again: the model's forcing breakpoints and
its timed jumps.

An adaptive solver that steps across a breakpoint of a time-varying parameter
(a `previous` table switching value, or the kink of a `linear` one) smears the
switch over a step and may not notice it at all; restarting from the last
*output* time instead of the breakpoint is off by the part of the interval
before it. `solve` therefore integrates segment by segment between these
stops, restarting each from the state at the stop itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Jump", "Plan", "breakpoints", "plan"]

#: A jump: at `time`, the state `y` becomes `fn(y)`.
Jump = tuple[float, Callable[[Any], Any]]


def _jumps(rhs: Any, params: Mapping[str, Any]) -> list[Jump]:
    """The model's timed jumps for these parameter values: `(time, fn)` pairs,
    where `fn(y) -> y` maps the state just before `time` to the state at
    `time`. The hook where timed events of the spec plug into `solve`.

    Contract for the code that fills it:

    * `time` is a Python float (an event time given by a parameter is read
      from `params` here, before the solve, so the segment plan is fixed);
    * `fn` takes and returns a 1-D state vector (`state_names` order) of the
      solve's namespace (NumPy for SciPy, JAX for diffrax): write it with
      array operations, without casting the values to Python numbers;
    * several jumps at one time are applied in list order;
    * a jump at the first output time changes the initial state; one at a
      later output time is reported in that output (states are
      right-continuous: the output at an event's time is after the event);
      jumps outside `[times[0], times[-1]]` are not applied.

    The model has no timed events yet: no jumps.
    """
    return []


def breakpoints(rhs: Any, params: Mapping[str, Any]) -> tuple[float, ...]:
    """The forcing breakpoints in force: the time grid passed under the time
    axis's name, else the time axis's coordinates (`rhs.forcing_breakpoints`)."""
    axis = rhs.meta.get("time_axis")
    if axis is not None and params.get(axis) is not None:
        grid = np.asarray(params[axis], dtype=np.float64).reshape(-1)
        return tuple(float(g) for g in grid)
    return tuple(float(b) for b in rhs.forcing_breakpoints)


@dataclass(frozen=True)
class Plan:
    """A solve's segments: `edges[k] .. edges[k+1]`; at each edge, the jumps applied
    there (`jumps[k]`, for `edges[k]`); `breaks` are the breakpoints inside."""

    edges: tuple[float, ...]
    jumps: tuple[tuple[Callable[[Any], Any], ...], ...]
    breaks: tuple[float, ...]


def plan(
    rhs: Any, params: Mapping[str, Any], t0: float, t1: float, split: bool = True
) -> Plan:
    """The segments of a solve over `[t0, t1]`: split at every breakpoint and jump
    time inside (`split=True`, for solvers that cannot be told where to stop),
    or at jump times only (`split=False`: the solver steps onto the breakpoints
    itself, as diffrax does with `jump_ts`)."""
    jumps = [(float(t), fn) for t, fn in _jumps(rhs, params) if t0 <= t <= t1]
    inside = tuple(b for b in breakpoints(rhs, params) if t0 < b < t1)
    stops = {t for t, _ in jumps if t0 < t < t1}
    if split:
        stops |= set(inside)
    edges = (t0, *sorted(stops), t1) if t1 > t0 else (t0,)
    at = tuple(tuple(fn for t, fn in jumps if t == e) for e in edges)
    return Plan(edges, at, inside)
