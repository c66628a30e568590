"""A flepimop2 `wrapper`-engine runner that integrates with scipy's solve_ivp.

flepimop2's wrapper engine calls `runner(system.bind(), times, initial_state,
params, model_state=...)`: the runner sees only the bound stepper, so it reads
the model layout (state order, initial-condition seeds) from
`stepper.option(...)`, which the op_system plugin attaches to every bound stepper.
The spec's timed events (`events:`) come as the option `event_schedule`: the
runner stops at each event time, replaces the state by the event's `fn(state)`
and restarts from there (an output time holds the state after its events).
"""

from typing import Any

import numpy as np
from flepimop2.system.op_system import initial_state_vector
from scipy.integrate import solve_ivp


def runner(
    stepper: Any,
    times: Any,
    initial_state: Any,
    params: Any,
    model_state: Any = None,
    **kwargs: Any,
) -> np.ndarray:
    y = initial_state_vector(
        stepper.option, params
    )  # ordered like stepper.option("state_names")
    raw = {name: value.value for name, value in params.items()}  # unwrap ParameterValue
    t = np.asarray(times, dtype=np.float64)
    events = stepper.option("event_schedule", None)
    schedule = [
        (time, fn)
        for time, fn in (events(**raw) if events is not None else [])
        if t[0] <= time <= t[-1]
    ]
    out = {}
    start = t[0]
    for stop, event in [*schedule, (t[-1], None)]:
        if stop > start:
            sol = solve_ivp(
                lambda s, y: stepper(s, y, **raw),
                (start, stop),
                y,
                dense_output=True,
                method="DOP853",
                rtol=1e-10,
                atol=1e-10,
            )
            if not sol.success:
                raise RuntimeError(sol.message)
            inside = t[(t >= start) & (t < stop)]
            out.update(zip(inside, sol.sol(inside).T))
            y = sol.y[:, -1]
        if event is not None:
            y = event(y)  # the state just after the event
        start = stop
    out[t[-1]] = y
    return np.column_stack([t, np.array([out[s] for s in t])])
