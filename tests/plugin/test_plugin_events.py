"""Timed events (`events:` in the spec) through the real `flepimop2 simulate` CLI.

The system publishes the events as the option `event_schedule` and asks
flepimop2 for the parameters only the events read; the diffrax engine and the
example `solve_ivp` runner (flepimop2's wrapper engine) stop at each event,
apply it and restart. Each run's CSV is compared with an SIR solved piecewise
by hand with scipy's DOP853 (rtol = atol = 1e-12), the events applied by hand:
nobody is infected until the seeding at t = 5 (a move of 10 from S to I), and
100 arrive in R at t = 30.5, between output times. Tolerance 1e-6 relative +
1e-6 absolute (populations of 1000; the engines run at rtol 1e-8 or tighter).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.integrate import solve_ivp

SPEC: dict[str, Any] = {
    "kind": "transitions",
    "state": ["S", "I", "R"],
    "aliases": {"N": "S + I + R"},
    "transitions": [
        {"from": "S", "to": "I", "rate": "beta * I / N"},
        {"from": "I", "to": "R", "rate": "gamma"},
    ],
    "events": [
        {"time": "t_seed", "move": {"from": "S", "to": "I", "amount": "n_seed"}},
        {"time": 30.5, "add": {"R": 100}},
    ],
    "initial_state": {"S": "s0", "I": "i0", "R": "r0"},
}
PARAMS = {"beta": 0.4, "gamma": 0.1, "s0": 1000.0, "i0": 0.0, "r0": 0.0}
EVENT_PARAMS = {"t_seed": 5.0, "n_seed": 10.0}
TIMES = np.arange(0.0, 61.0)

ENGINES: dict[str, dict[str, Any]] = {
    "diffrax": {"module": "diffrax", "solver": "tsit5", "rtol": 1e-10, "atol": 1e-10},
    "wrapper": {"module": "wrapper", "state_change": "flow", "script": "runner.py"},
}


def _hand(t: float, y: np.ndarray) -> np.ndarray:
    s, i, r = y
    inf = 0.4 * s * i / (s + i + r)
    return np.array([-inf, inf - 0.1 * i, 0.1 * i])


def _reference() -> np.ndarray:
    out = {}
    y = np.array([1000.0, 0.0, 0.0])
    pieces = [
        (0.0, 5.0, lambda y: y + np.array([-10.0, 10.0, 0.0])),
        (5.0, 30.5, lambda y: y + np.array([0.0, 0.0, 100.0])),
        (30.5, 60.0, lambda y: y),
    ]
    times = TIMES
    for a, b, event in pieces:
        sol = solve_ivp(
            _hand, (a, b), y, method="DOP853", dense_output=True, rtol=1e-12, atol=1e-12
        )
        inside = times[(times >= a) & (times < b)]
        out.update(zip(inside, sol.sol(inside).T))
        y = event(sol.y[:, -1])
    out[60.0] = y
    return np.array([out[t] for t in times])


@pytest.mark.parametrize("engine", list(ENGINES))
def test_events_pass_through_to_the_engines(
    engine: str, tmp_path: Path, flepimop2: Any, read_output: Any, write_yaml: Any
) -> None:
    backend = "jax" if engine == "diffrax" else "numpy"
    config = {
        "name": f"events_{engine}",
        "system": [
            {"module": "op_system", "spec": SPEC, "options": {"array_backend": backend}}
        ],
        "engine": [ENGINES[engine]],
        "backend": [{"module": "csv"}],
        "simulate": {"demo": {"times": "0.0:1.0:60.0"}},
        "parameter": {**PARAMS, **EVENT_PARAMS},
    }
    write_yaml(tmp_path / "events.yaml", config)
    shutil.copy(
        Path(__file__).resolve().parents[2]
        / "flepimop2_plugin/examples/runners/solve_ivp_runner.py",
        tmp_path / "runner.py",
    )
    env = {"JAX_ENABLE_X64": "1" if backend == "jax" else "0"}
    proc = flepimop2("simulate", "events.yaml", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = read_output(tmp_path)
    np.testing.assert_array_equal(out[:, 0], TIMES)
    ref = _reference()
    np.testing.assert_allclose(out[:, 1:], ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out[:6, 2], [0, 0, 0, 0, 0, 10])  # seeded at 5
    assert out[31, 1:].sum() == pytest.approx(1100.0, rel=1e-9)  # the pulse, at 30.5


def test_the_system_asks_for_the_event_parameters() -> None:
    from flepimop2.system.op_system import OpSystemSystem

    system = OpSystemSystem(spec=SPEC)
    requests = system.requested_parameters(None)  # type: ignore[arg-type]
    assert {"t_seed", "n_seed"} <= set(requests)
    schedule = system.option("event_schedule")(**PARAMS, **EVENT_PARAMS)
    assert [t for t, _ in schedule] == [5.0, 30.5]
    assert OpSystemSystem(spec={**SPEC, "events": []}).option("event_schedule") is None
