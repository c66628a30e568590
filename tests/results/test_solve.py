"""`solve` on a model with a piecewise-constant vaccination campaign whose
breakpoints (12.5, 37.5) fall between output days, against independent
references: the model's right-hand side written by hand, integrated segment by
segment with SciPy (LSODA, restarting from the state at each breakpoint), and
a diffrax solve with `jump_ts`. Also the two ways a hand-written solve goes
wrong: restarting from the last output day (measured: the vaccinated are
11.5% off) and one solve stepping across the switches (off at SciPy's default
tolerances)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from tests.results._campaign import BREAKS, NU, PARAMS, SPEC, hand_rhs, y0_vector

from op_system import BackendError, StateNameError, StateShapeError, compile_spec, solve
from op_system._results import segments

C = compile_spec(SPEC)
TIMES = np.arange(0.0, 61.0, 5.0)
TOL = {"rtol": 1e-11, "atol": 1e-9}


def hand_solve(jumps: tuple[tuple[float, Any], ...] = ()) -> np.ndarray:
    """The hand-written model, one LSODA solve per regime (and per jump),
    each restarting from the state at its first time."""
    edges = sorted({*BREAKS[1:], *(t for t, _ in jumps), 0.0, 60.0})
    out = np.empty((TIMES.size, 16))
    y = y0_vector()
    out[0] = y
    for a, b in itertools.pairwise(edges):
        regime = int(np.searchsorted(BREAKS, a, side="right")) - 1
        inside = (a < TIMES) & (b > TIMES)
        r = solve_ivp(
            hand_rhs(NU[regime]),
            (a, b),
            y,
            method="LSODA",
            t_eval=np.append(TIMES[inside], b),
            **TOL,
        )
        out[inside] = r.y[:, :-1].T
        y = r.y[:, -1]
        for t, fn in jumps:
            if t == b:
                y = fn(y)
        out[b == TIMES] = y
    return out


REF = hand_solve()


def vaccinated(ys: np.ndarray) -> float:
    return float(ys[-1, [1, 3]].sum())  # S__age_*__vax_v at day 60


def rel(a: Any, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


@pytest.mark.parametrize("method", ["LSODA", "BDF", "Radau", "RK45"])
def test_scipy_matches_the_hand_written_restarts(method: str) -> None:
    sol = solve(C, y0_vector(), TIMES, params=PARAMS, method=method, **TOL)
    assert rel(sol.y, REF) < 1e-7
    assert sol.stats["breakpoints"] == (12.5, 37.5)
    assert sol.stats["segments"] == 3


def test_diffrax_matches_a_hand_written_diffrax_solve_with_jump_ts() -> None:
    pytest.importorskip("diffrax")
    import diffrax
    import jax.numpy as jnp

    sol = solve(C, y0_vector(), TIMES, params=PARAMS, backend="diffrax", **TOL)
    jp = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    hand = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: C.eval_fn(t, y, **args)),
        diffrax.Tsit5(),
        0.0,
        60.0,
        None,
        jnp.asarray(y0_vector()),
        args=jp,
        saveat=diffrax.SaveAt(ts=jnp.asarray(TIMES)),
        stepsize_controller=diffrax.ClipStepSizeController(
            diffrax.PIDController(**TOL), jump_ts=jnp.asarray(BREAKS)
        ),
        max_steps=100_000,
    )
    assert rel(sol.y, np.asarray(hand.ys)) < 1e-7
    assert rel(sol.y, REF) < 1e-7  # and the SciPy reference


def test_the_hand_written_mistakes_are_measurably_off() -> None:
    f = C.bind(PARAMS)
    # restarting each regime from the last output day before its breakpoint
    out = np.empty_like(REF)
    out[0] = y0_vector()
    edges = [0.0, 12.5, 37.5, 60.0]
    for a, b in itertools.pairwise(edges):
        start = out[np.flatnonzero(TIMES[a >= TIMES].max() == TIMES)[0]]
        inside = (a < TIMES) & (b >= TIMES)
        r = solve_ivp(f, (a, b), start, t_eval=TIMES[inside], method="LSODA", **TOL)
        out[inside] = r.y.T
    assert abs(vaccinated(out) / vaccinated(REF) - 1) > 0.05  # measured: 11.5%
    # one solve across the switches, at SciPy's default tolerances
    naive = solve_ivp(f, (0.0, 60.0), y0_vector(), t_eval=TIMES).y.T
    assert rel(naive, REF) > 5e-4  # measured: 1.6e-3
    # `solve` with the same default method and tolerances stops at the switches
    fixed = solve(
        C, y0_vector(), TIMES, params=PARAMS, method="RK45", rtol=1e-3, atol=1e-6
    )
    assert rel(fixed.y, REF) < rel(naive, REF) / 3


def test_the_exact_jacobian_goes_to_implicit_methods(monkeypatch: Any) -> None:
    import scipy.integrate

    seen: list[dict[str, Any]] = []
    real = scipy.integrate.solve_ivp

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(scipy.integrate, "solve_ivp", spy)
    y = y0_vector() + 1.0
    h = 1e-6
    for method, sparse in (("BDF", True), ("Radau", True), ("LSODA", False)):
        seen.clear()
        solve(C, y0_vector(), TIMES[:3], params=PARAMS, method=method)
        jac = seen[0]["jac"](1.0, y)
        assert hasattr(jac, "toarray") is sparse
        dense = jac.toarray() if sparse else np.asarray(jac)
        f = hand_rhs(NU[0])  # central differences of the hand-written model
        fd = np.stack(
            [(f(1.0, y + h * e) - f(1.0, y - h * e)) / (2 * h) for e in np.eye(16)],
            axis=1,
        )
        np.testing.assert_allclose(dense, fd, rtol=1e-6, atol=1e-8)
    seen.clear()
    solve(C, y0_vector(), TIMES[:3], params=PARAMS, method="RK45")
    assert "jac" not in seen[0]


def test_a_grid_passed_at_call_time_moves_the_breakpoints() -> None:
    grid = np.array([0.0, 20.0, 30.0])
    sol = solve(C, y0_vector(), TIMES, params={**PARAMS, "time": grid}, **TOL)
    assert sol.stats["breakpoints"] == (20.0, 30.0)


def test_the_jump_hook_restarts_from_the_jumped_state(monkeypatch: Any) -> None:
    """`_jumps` is where timed events plug in: a jump at 15.3 (between output
    days and breakpoints) and one on output day 40 match the hand-written
    restarts, on both backends."""
    seed = np.zeros(16)
    seed[6] = 10.0  # I__age_adult__vax_u

    def add(y: Any) -> Any:
        return y + seed

    jumps = ((15.3, add), (40.0, add))
    monkeypatch.setattr(segments, "_jumps", lambda rhs, params: list(jumps))
    want = hand_solve(jumps)
    assert rel(want, REF) > 1e-3  # the jumps matter
    got = solve(C, y0_vector(), TIMES, params=PARAMS, **TOL)
    assert rel(got.y, want) < 1e-7
    assert got.stats["segments"] == 5  # 0, 12.5, 15.3, 37.5, 40, 60
    pytest.importorskip("diffrax")
    got = solve(C, y0_vector(), TIMES, params=PARAMS, backend="diffrax", **TOL)
    assert rel(got.y, want) < 1e-7


def test_y0_by_name_and_bad_input() -> None:
    from tests.results._campaign import I0, S0

    named = solve(C, {"S": S0, "I": I0}, TIMES, params=PARAMS, **TOL)
    assert rel(named.y, REF) < 1e-7
    with pytest.raises(StateNameError, match="did you mean 'S'"):
        solve(C, {"SS": S0}, TIMES, params=PARAMS)
    with pytest.raises(StateShapeError, match=r"\(16,\)"):
        solve(C, np.zeros(3), TIMES, params=PARAMS)
    with pytest.raises(BackendError, match="scipy"):
        solve(C, y0_vector(), TIMES, params=PARAMS, backend="odeint")
    with pytest.raises(ValueError, match="strictly increasing"):
        solve(C, y0_vector(), [0.0, 2.0, 1.0], params=PARAMS)
    one = solve(C, y0_vector(), [3.0], params=PARAMS)
    np.testing.assert_array_equal(one.y, y0_vector()[None, :])
