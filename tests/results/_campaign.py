"""The test model of `tests/results/`: an age × vaccination SIR with a
piecewise-constant vaccination campaign (a `previous` table over a time axis
whose breakpoints fall between output days), an incidence counter and an
observable; and its right-hand side written by hand, for the references."""

from __future__ import annotations

from typing import Any

import numpy as np

AGES = ("kid", "adult")
VAX = ("u", "v")
BREAKS = (0.0, 12.5, 37.5)

SPEC: dict[str, Any] = {
    "kind": "transitions",
    "axes": [
        {"name": "age", "coords": list(AGES)},
        {"name": "vax", "coords": list(VAX)},
        {"name": "time", "type": "continuous", "coords": list(BREAKS)},
    ],
    "state": ["S[age,vax]", "I[age,vax]", "R[age,vax]"],
    "time_interpolation": "previous",
    "transitions": [
        {
            "name": "infection",
            "from": "S[age,vax]",
            "to": "I[age,vax]",
            "rate": "beta * eff[vax] * sum_over(age=j, sum_over(vax=k, I[age=j, vax=k])) / sum_state()",
        },
        {"name": "recovery", "from": "I[age,vax]", "to": "R[age,vax]", "rate": "gamma"},
        {
            "name": "vaccination",
            "from": "S[age,vax=u]",
            "to": "S[age,vax=v]",
            "rate": "nu[time, age]",
        },
    ],
    "incidence": {"cases": "infection"},
    "observables": {"admissions[age]": "ihr * sum_over(vax=k, infection[age, vax=k])"},
}

#: the campaign: no vaccination, then a strong one from day 12.5 to 37.5, then none
NU = np.array([[0.0, 0.0], [0.08, 0.15], [0.0, 0.0]])  # (time, age)
PARAMS: dict[str, Any] = {
    "beta": 0.45,
    "eff": np.array([1.0, 0.2]),
    "gamma": 0.2,
    "nu": NU,
    "ihr": 0.05,
}

#: the initial state by block, (age, vax)
S0 = np.array([[3000.0, 0.0], [6000.0, 0.0]])
I0 = np.array([[0.0, 0.0], [20.0, 0.0]])


def hand_rhs(nu: np.ndarray) -> Any:
    """dy/dt of the model with the campaign's rates `nu` (per age) held fixed,
    on the state as blocks S, I, R, cases (each (age, vax)), written directly."""

    def f(t: float, y: np.ndarray) -> np.ndarray:
        S, I, R, _ = (y[4 * k : 4 * k + 4].reshape(2, 2) for k in range(4))  # noqa: E741
        n = S.sum() + I.sum() + R.sum()
        force = PARAMS["beta"] * I.sum() / n
        inf = force * PARAMS["eff"][None, :] * S
        rec = PARAMS["gamma"] * I
        vac = np.zeros((2, 2))
        vac[:, 0] = -nu * S[:, 0]
        vac[:, 1] = nu * S[:, 0]
        dS, dI, dR = -inf + vac, inf - rec, rec
        return np.concatenate([dS.ravel(), dI.ravel(), dR.ravel(), inf.ravel()])

    return f


def y0_vector() -> np.ndarray:
    """The initial state in state order, written out by hand (S, I, R, cases)."""
    return np.concatenate([S0.ravel(), I0.ravel(), np.zeros(4), np.zeros(4)])
