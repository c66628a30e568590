"""The flepimop2 `wrapper`-engine runner of the op-system 0.9.0 configs.

flepimop2-op-system 0.9.0 ships no engine: its README leaves initial-state
assembly and integration to "the numerical consumer". This runner is that
consumer, written only against what both providers publish on the bound
stepper: `state_names`, `initial_state` (cell -> seed name, shaped seed
`{shaped, axes, coords}`, or a number), `axis_labels` and
`forcing_breakpoints` (where a `previous`-interpolated table changes value:
the solve restarts there, so no step straddles a jump). It integrates with
scipy's DOP853 at rtol = atol = 1e-10, the same in both venvs.
"""

from itertools import pairwise
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp


def _raw(value: Any) -> np.ndarray:
    return np.asarray(getattr(value, "value", value), dtype=np.float64)


def initial_state(stepper: Any, params: dict[str, Any]) -> np.ndarray:
    """y0 in `state_names` order, from the `initial_state` option and the seeds."""
    init = stepper.option("initial_state")
    labels = stepper.option("axis_labels")
    y0 = []
    for cell in stepper.option("state_names"):
        entry = init.get(cell, 0.0)
        if isinstance(entry, str):
            y0.append(float(_raw(params[entry])))
        elif isinstance(entry, dict):
            array = _raw(params[entry["shaped"]])
            index = tuple(
                list(labels[ax]).index(entry["coords"][ax]) for ax in entry["axes"]
            )
            y0.append(float(array[index]))
        else:
            y0.append(float(entry))
    return np.asarray(y0)


def runner(
    stepper: Any,
    times: Any,
    initial_state_: Any,
    params: Any,
    model_state: Any = None,
    **kwargs: Any,
) -> np.ndarray:
    raw = {name: _raw(value) for name, value in params.items()}
    t = np.asarray(times, dtype=np.float64)
    y = initial_state(stepper, params)
    cuts = [b for b in stepper.option("forcing_breakpoints", ()) if t[0] < b < t[-1]]
    edges = [t[0], *sorted(cuts), t[-1]]
    rows = [y]
    for lo, hi in pairwise(edges):
        inside = t[(t > lo) & (t <= hi)]
        sol = solve_ivp(
            lambda s, x: stepper(s, x, **raw),
            (lo, hi),
            y,
            t_eval=np.union1d(inside, [hi]),  # hi: where the next piece starts
            method="DOP853",
            rtol=1e-10,
            atol=1e-10,
        )
        if not sol.success:
            raise RuntimeError(sol.message)
        rows.extend(sol.y.T[np.isin(sol.t, inside)])
        y = sol.y[:, -1]
    return np.column_stack([t, np.asarray(rows)])
