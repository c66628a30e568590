"""The model's timed events for integrators: `CompiledRhs.event_schedule`,
`event_times` and `apply_events` (a mixin of `CompiledRhs`, so that
`compiled.py` stays one concept; the meaning of an event is `_core/events.py`'s).

An ODE integration honours the events by stopping at each event time,
applying the event to the state there and restarting from the new state (the
state recorded at an event time is the one after it). `event_schedule` gives
exactly what such a loop needs, `[(time, fn)]` with `fn(y) -> y`; it works on
NumPy and on JAX (parameters passed as JAX arrays, traced under `jax.jit`, give
traced times and amounts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._core.events import namespace, schedule

if TYPE_CHECKING:
    from .._core.events import Event
    from .._core.model import Model
    from .compiled import CompiledRhs
    from .normalized import NormalizedRhs

__all__ = [
    "TimedEvents",
    "apply_events",
    "event_param_names",
    "event_schedule",
    "event_times",
]


class TimedEvents:
    """`event_param_names`, `event_schedule`, `event_times` and `apply_events`
    of a compiled model."""

    __slots__ = ()

    if TYPE_CHECKING:  # provided by `CompiledRhs`
        _rhs: NormalizedRhs | None

        def _model_of_rhs(self) -> Model: ...

    @property
    def event_param_names(self) -> tuple[str, ...]:
        """Parameters only the spec's timed events read (not in `param_names`)."""
        return event_param_names(self)  # type: ignore[arg-type]

    def event_schedule(
        self, *, counts: bool = False, **params: Any
    ) -> list[tuple[Any, Callable[[Any], Any]]]:
        """The timed events for `params` as `[(time, fn)]`, `fn(y) -> y` the state
        just after the event: what an integrator stops at (in time order, events
        at one time in spec order; in spec order when the times are traced JAX
        values). `counts=True`: the stochastic methods' integer meaning (amounts
        rounded, no count below zero); otherwise amounts are exact."""
        return event_schedule(self, params, counts)  # type: ignore[arg-type]

    def event_times(self, **params: Any) -> list[Any]:
        """When each timed event happens for `params`, in spec order."""
        return event_times(self, params)  # type: ignore[arg-type]

    def apply_events(self, t: Any, y: Any, **params: Any) -> Any:
        """`y` after every timed event at time `t` (exactly equal), in spec order
        (traceable under `jax.jit`; exact amounts, as for the ODE)."""
        return apply_events(self, t, y, params)  # type: ignore[arg-type]


def _events(c: CompiledRhs) -> tuple[Event, ...]:
    return c._model_of_rhs().events if c._rhs is not None else ()


def event_param_names(c: CompiledRhs) -> tuple[str, ...]:
    """Parameters only the events read (not in `param_names`)."""
    return c._model_of_rhs().event_params if c._rhs is not None else ()


def _concrete(time: Any) -> bool:
    try:
        float(time)
    except Exception:  # a JAX tracer: its value is not known here
        return False
    return True


def event_schedule(
    c: CompiledRhs, params: Mapping[str, Any], counts: bool = False
) -> list[tuple[Any, Callable[[Any], Any]]]:
    """`[(time, fn)]`, one per event: ordered by time when the times are known
    numbers (a stable order: events at one time in spec order), else (traced
    times) in spec order."""
    out = schedule(_events(c), params, counts=counts)
    if all(_concrete(t) for t, _ in out):
        out = [(float(t), fn) for t, fn in out]
        out.sort(key=lambda pair: pair[0])  # stable: ties keep the spec's order
    return out


def event_times(c: CompiledRhs, params: Mapping[str, Any]) -> list[Any]:
    """When each event happens, in spec order."""
    return [t for t, _ in schedule(_events(c), params, counts=False)]


def apply_events(
    c: CompiledRhs, t: Any, y: Any, params: Mapping[str, Any], counts: bool = False
) -> Any:
    """`y` after every event at time `t` (exactly), in spec order. Traceable:
    with traced times (or `t`), each event is applied where its time equals `t`."""
    for time, fn in schedule(_events(c), params, counts=counts):
        if _concrete(time) and _concrete(t):
            if float(time) == float(t):
                y = fn(y)
        else:
            xp = namespace(y, time, t)
            y = xp.where(xp.asarray(time) == t, fn(y), y)
    return y
