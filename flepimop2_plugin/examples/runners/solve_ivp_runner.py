"""A flepimop2 `wrapper`-engine runner that integrates with scipy's solve_ivp.

flepimop2's wrapper engine calls `runner(system.bind(), times, initial_state,
params, model_state=...)`: the runner sees only the bound stepper, so it reads
the model layout (state order, initial-condition seeds) from
`stepper.option(...)`, which the op_system plugin attaches to every bound stepper.
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
    y0 = initial_state_vector(
        stepper.option, params
    )  # ordered like stepper.option("state_names")
    raw = {name: value.value for name, value in params.items()}  # unwrap ParameterValue
    t = np.asarray(times, dtype=np.float64)
    sol = solve_ivp(
        lambda s, y: stepper(s, y, **raw),
        (t[0], t[-1]),
        y0,
        t_eval=t,
        method="DOP853",
        rtol=1e-10,
        atol=1e-10,
    )
    if not sol.success:
        raise RuntimeError(sol.message)
    return np.column_stack([sol.t, sol.y.T])
