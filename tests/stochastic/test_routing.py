"""Stochastic simulation of op-system 0.9.0's routing (`_core/routing.py`).

A routing transition is one flow over every pair of cells of its axis, so each
source cell has several competing exits. Exact simulation (SSA) of this linear
model has the ODE's solution as its mean: 300 seeded trajectories must agree
with it within 4.5 standard errors in each of the 6 cells (a false alarm
about 4e-5 of the time under the normal approximation), and conserve the
population exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from op_system import compile_spec

SPEC = {
    "kind": "transitions",
    "axes": [
        {"name": "loc", "coords": ["CA", "NY"]},
        {"name": "imm", "type": "ordinal", "coords": ["x0", "x1", "x2"]},
    ],
    "state": ["X[loc, imm]"],
    "transitions": [
        {
            "name": "move",
            "from": "X[loc, imm:i]",
            "to": "X[loc, imm:j]",
            "rate": "w[loc] * G[imm:i, imm:j]",
        }
    ],
}
G = np.array([[0.0, 0.2, 0.1], [0.0, 0.0, 0.3], [0.05, 0.0, 0.0]])
W = np.array([1.0, 2.0])


def test_exact_simulation_of_routing_has_the_ode_as_its_mean() -> None:
    model = compile_spec(SPEC)
    y0 = np.array([1000, 0, 0, 500, 200, 0])
    runs = model.simulate(y0, [0.0, 1.0], method="ssa", seed=11, n=300, w=W, G=G)
    end = runs[:, -1, :]
    assert (end.sum(axis=1) == y0.sum()).all()
    ode = solve_ivp(
        lambda t, y: model.eval_fn(t, y, w=W, G=G),
        (0.0, 1.0),
        y0.astype(float),
        rtol=1e-10,
        atol=1e-8,
    ).y[:, -1]
    se = end.std(axis=0, ddof=1) / np.sqrt(len(end))
    assert (np.abs(end.mean(axis=0) - ode) <= 4.5 * se + 1e-9).all()
    assert model.flow_names[1] == "move__loc_CA__imm_x0__imm_x1"
