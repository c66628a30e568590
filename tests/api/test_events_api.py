"""Timed events for integrators (`CompiledRhs.event_schedule`, `event_times`,
`apply_events`): an ODE integrated piecewise through the schedule equals a
hand-written piecewise solve with the events applied by hand, on NumPy; on JAX
the times and amounts may be traced parameters (one trace serves new values)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from op_system import compile_spec

SIR_EVENTS: dict[str, Any] = {
    "kind": "transitions",
    "state": ["S", "I", "R"],
    "aliases": {"N": "S + I + R"},
    "transitions": [
        {"from": "S", "to": "I", "rate": "beta * I / N"},
        {"from": "I", "to": "R", "rate": "gamma"},
    ],
    "events": [
        {"time": 12, "set": {"I": 20}},  # the same time as the next: spec order
        {"time": "t_seed", "move": {"from": "S", "to": "I", "amount": "n_seed"}},
        {"time": "t_pulse", "add": {"I": "n_seed / 2"}},
        {"time": 12, "add": {"I": 3, "R": -1.5}},
    ],
}
PARAMS = {"beta": 0.6, "gamma": 0.25, "t_seed": 5.0, "n_seed": 10.0, "t_pulse": 8.3}
Y0 = np.array([990.0, 0.0, 0.0])
TIMES = np.arange(0.0, 21.0)
TOL = {"rtol": 1e-10, "atol": 1e-10}


def _hand(t: float, y: np.ndarray) -> np.ndarray:
    s, i, r = y
    inf = 0.6 * s * i / (s + i + r)
    return np.array([-inf, inf - 0.25 * i, 0.25 * i])


def _hand_solution() -> np.ndarray:
    """The SIR solved piecewise by hand, each event applied by hand between
    (the recorded state at an event time is the one after it)."""
    pieces = [
        (0.0, 5.0, lambda y: y + np.array([-10.0, 10.0, 0.0])),
        (5.0, 8.3, lambda y: y + np.array([0.0, 5.0, 0.0])),
        (8.3, 12.0, lambda y: np.array([y[0], 20.0 + 3.0, y[2] - 1.5])),
        (12.0, 20.0, lambda y: y),
    ]
    out = {0.0: Y0}
    y, times = Y0, TIMES
    for a, b, event in pieces:
        grid = sorted({*times[(times > a) & (times <= b)], b})
        sol = solve_ivp(_hand, (a, b), y, t_eval=grid, method="RK45", **TOL)
        out.update(zip(sol.t, sol.y.T))
        y = out[b] = event(sol.y[:, -1])
    return np.array([out[t] for t in TIMES])


def _through_schedule(c: Any, params: dict[str, float]) -> np.ndarray:
    """What an integrator does with the schedule: stop at each event time, apply
    the event there, restart from the new state; record after the events."""
    rhs = c.bind({k: params[k] for k in c.param_names})
    times = TIMES
    stops = sorted({t for t, _ in c.event_schedule(**params)} | {times[-1]})
    y, t0 = c.apply_events(times[0], Y0, **params), times[0]
    out = {t0: y}
    for stop in stops:
        grid = times[(times > t0) & (times <= stop)]
        sol = solve_ivp(rhs, (t0, stop), y, method="RK45", dense_output=True, **TOL)
        out.update(zip(grid, sol.sol(grid).T))
        y = out[stop] = c.apply_events(stop, sol.y[:, -1], **params)
        t0 = stop
    return np.array([out[t] for t in times])


def test_ode_through_the_schedule_equals_a_hand_written_piecewise_solve() -> None:
    c = compile_spec(SIR_EVENTS)
    assert c.event_param_names == ("t_seed", "n_seed", "t_pulse")
    assert [t for t, _ in c.event_schedule(**PARAMS)] == [5.0, 8.3, 12.0, 12.0]
    assert [float(t) for t in c.event_times(**PARAMS)] == [12.0, 5.0, 8.3, 12.0]
    np.testing.assert_allclose(
        _through_schedule(c, PARAMS), _hand_solution(), rtol=1e-7, atol=1e-7
    )


def test_events_at_one_time_apply_in_spec_order_and_moves_are_exact() -> None:
    """At t = 12 the set comes first, then the add (23, not 20); a move takes its
    exact amount even past zero (the ODE's meaning), and conserves the total."""
    c = compile_spec(SIR_EVENTS)
    y = c.apply_events(12.0, np.array([1.0, 2.0, 3.0]), **PARAMS)
    np.testing.assert_array_equal(y, [1.0, 23.0, 1.5])
    y = c.apply_events(5.0, np.array([4.0, 2.0, 3.0]), **PARAMS)
    np.testing.assert_array_equal(y, [-6.0, 12.0, 3.0])
    untouched = np.array([4.0, 2.0, 3.0])
    assert c.apply_events(5.5, untouched, **PARAMS) is untouched


def test_an_expr_model_takes_events_too() -> None:
    spec = {
        "kind": "expr",
        "state": ["X", "Y"],
        "equations": {"X": "-k * X", "Y": "k * X"},
        "events": [{"time": 1, "move": {"from": "Y", "to": "X", "amount": 0.5}}],
    }
    c = compile_spec(spec)
    np.testing.assert_array_equal(
        c.apply_events(1.0, np.array([1.0, 2.0]), k=1), [1.5, 1.5]
    )


def test_per_cell_amounts_broadcast_over_a_selection() -> None:
    """A whole block takes one amount for every cell, a list one per cell, an
    array parameter its own shape; a pinned axis selects its cells."""
    spec = {
        "kind": "transitions",
        "axes": [
            {"name": "age", "coords": ["0-17", "18+"]},
            {"name": "v", "coords": ["u", "w"]},
        ],
        "state": ["S[age, v]", "I[age, v]"],
        "transitions": [{"from": "S[age, v]", "to": "I[age, v]", "rate": "beta"}],
        "events": [
            {"time": 1, "add": {"S": "a"}},
            {"time": 2, "add": {"S": [1, 2, 3, 4]}},
            {
                "time": 3,
                "move": {"from": "S[age, v=w]", "to": "I[age, v=w]", "amount": "m"},
            },
        ],
    }
    c = compile_spec(spec)
    y = np.zeros(8)
    p = {
        "beta": 0.1,
        "a": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "m": np.array([5.0, 6.0]),
    }
    np.testing.assert_array_equal(c.apply_events(1, y, **p)[:4], [1, 2, 3, 4])
    np.testing.assert_array_equal(c.apply_events(2, y, **p)[:4], [1, 2, 3, 4])
    got = c.apply_events(3, np.full(8, 10.0), **p)
    np.testing.assert_array_equal(got, [10, 5, 10, 4, 10, 15, 10, 16])


def test_jax_event_times_are_traced_under_jit_one_trace_for_new_values() -> None:
    """A piecewise solve (classical RK4 in `lax.fori_loop`) through a pulse at a
    traced time: one trace serves a second time and amount, and each matches the
    hand-written SciPy solve; `apply_events` with traced times applies where the
    time matches."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    if not jax.config.jax_enable_x64:
        pytest.skip("needs x64")
    spec = {**SIR_EVENTS, "events": [SIR_EVENTS["events"][2]]}
    c = compile_spec(spec, xp=jnp)
    traces = []

    def rk4(params: dict[str, Any], y: Any, t0: Any, t1: Any) -> Any:
        h = (t1 - t0) / 400

        def step(k: Any, y: Any) -> Any:
            t = t0 + k * h
            k1 = c.eval_fn(t, y, **params)
            k2 = c.eval_fn(t + h / 2, y + h / 2 * k1, **params)
            k3 = c.eval_fn(t + h / 2, y + h / 2 * k2, **params)
            k4 = c.eval_fn(t + h, y + h * k3, **params)
            return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

        return jax.lax.fori_loop(0, 400, step, y)

    def solve(t_pulse: Any, n_seed: Any) -> Any:
        traces.append(1)
        params = {**PARAMS, "t_pulse": t_pulse, "n_seed": n_seed}
        ((time, pulse),) = c.event_schedule(**params)
        y = pulse(rk4(params, jnp.asarray(Y0), 0.0, time))
        at = c.apply_events(time, jnp.zeros(3), **params)
        return rk4(params, y, time, 20.0), at

    jitted = jax.jit(solve)
    for t_pulse, n_seed in [(8.3, 10.0), (3.7, 4.0)]:
        y_end, at = jitted(t_pulse, n_seed)
        a = solve_ivp(_hand, (0.0, t_pulse), Y0, **TOL).y[:, -1] + [0, n_seed / 2, 0]
        ref = solve_ivp(_hand, (t_pulse, 20.0), a, **TOL).y[:, -1]
        np.testing.assert_allclose(np.asarray(y_end), ref, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(at), [0.0, n_seed / 2, 0.0])
    assert len(traces) == 1


def test_counts_round_and_never_go_negative() -> None:
    """`counts=True` (the stochastic methods' meaning): amounts rounded to the
    nearest integer, a move takes at most what is there (4 of S, not 10; and a
    negative amount moves nothing), a set or an add stops at zero; the dtype
    stays the counts'."""
    c = compile_spec(SIR_EVENTS)
    schedule = dict(c.event_schedule(counts=True, **{**PARAMS, "n_seed": 9.6}))
    y = schedule[5.0](np.array([4, 1, 0]))
    np.testing.assert_array_equal(y, [0, 5, 0])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(schedule[8.3](np.array([4, 1, 0])), [4, 6, 0])
    back = dict(c.event_schedule(counts=True, **{**PARAMS, "n_seed": -3.0}))
    np.testing.assert_array_equal(back[5.0](np.array([4, 1, 0])), [4, 1, 0])
    np.testing.assert_array_equal(back[8.3](np.array([4, 1, 0])), [4, 0, 0])
