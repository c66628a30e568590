"""`solve` through the spec's timed events (the `_jumps` hook reads
`CompiledRhs.event_schedule`): SciPy and diffrax equal the SIR solved piecewise
by hand with each event applied by hand (`tests/api/test_events_api.py`'s
reference: a seeding at t = 5, a pulse at t = 8.3 between output times, a set
and an add at t = 12 in spec order)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.api.test_events_api import PARAMS, SIR_EVENTS, TIMES, Y0, _hand_solution

from op_system import compile_spec, solve


@pytest.mark.parametrize("method", ["RK45", "LSODA"])
def test_scipy_solve_through_events_equals_the_hand_written_pieces(method: str) -> None:
    sol = solve(
        compile_spec(SIR_EVENTS),
        Y0,
        TIMES,
        params=PARAMS,
        method=method,
        rtol=1e-10,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        np.asarray(sol.y), _hand_solution(), rtol=1e-7, atol=1e-6
    )


def test_diffrax_solve_through_events_equals_the_hand_written_pieces() -> None:
    jax = pytest.importorskip("jax")
    pytest.importorskip("diffrax")
    if not jax.config.jax_enable_x64:
        pytest.skip("needs x64")
    c = compile_spec(SIR_EVENTS, xp=jax.numpy)
    sol = solve(c, Y0, TIMES, params=PARAMS, backend="diffrax", rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        np.asarray(sol.y), _hand_solution(), rtol=1e-7, atol=1e-6
    )
