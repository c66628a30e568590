"""JAX's precision said out loud (`_backends/precision.py`).

JAX computes in float32 unless `jax_enable_x64` is on, and op_system never
turns it on. What used to happen: a JAX model silently computed in float32, and
`simulate(key=...)` returned int32 counts whose large draws come out rounded
(at a population of 3.3e8, a day's flows in steps of 2 to 16). Now a JAX model
built while x64 is off gives one `PrecisionWarning` (once per model), and the
stochastic runs on JAX raise `BackendError` unless `x64=False` asks for float32.

The tests run with x64 on (tests/conftest.py) and switch it off locally with
`jax.enable_x64(False)`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import op_system
from op_system import BackendError, PrecisionWarning, compile_spec

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

SIR = {
    "kind": "transitions",
    "state": ["S", "I", "R"],
    "transitions": [
        {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
        {"from": "I", "to": "R", "rate": "gamma"},
    ],
}
Y = np.array([990.0, 10.0, 0.0])


def test_precision_warning_is_public() -> None:
    assert op_system.PrecisionWarning is PrecisionWarning
    assert issubclass(PrecisionWarning, UserWarning)
    assert "PrecisionWarning" in op_system.__all__


def _warnings(run: object) -> list[warnings.WarningMessage]:
    """The warnings `run()` gives, every one (not once per line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()  # type: ignore[operator]
    return caught


def test_a_float32_jax_model_warns_once_per_model() -> None:
    with jax.enable_x64(False):
        made = []

        def use() -> None:
            m = compile_spec(SIR, backend="jax")
            made.append(m.eval_fn(0.0, Y, beta=0.3, gamma=0.1))
            m.flows(0.0, jnp.asarray(Y), beta=0.3, gamma=0.1)  # another program
            jax.jit(lambda y: m.eval_fn(0.0, y, beta=0.3, gamma=0.1))(Y)

        record = _warnings(use)
        assert made[0].dtype == jnp.float32
        assert [w.category for w in record] == [PrecisionWarning]
        message = str(record[0].message)
        for fragment in (
            "float32",
            "jax_enable_x64 is off",
            'jax.config.update("jax_enable_x64", True)',
            "JAX_ENABLE_X64=1",
            "PrecisionWarning",
        ):
            assert fragment in message, (fragment, message)
        assert record[0].filename == __file__  # it points at the caller's line
        assert not jax.config.jax_enable_x64  # op_system did not turn it on
        # the default backend hands a JAX state to a JAX program: warned there too
        default = compile_spec(SIR)

        def call_twice() -> None:
            default.eval_fn(0.0, jnp.asarray(Y), beta=0.3, gamma=0.1)
            default.eval_fn(0.0, jnp.asarray(Y), beta=0.3, gamma=0.1)

        record = _warnings(call_twice)
        assert [w.category for w in record] == [PrecisionWarning]
        assert record[0].filename == __file__


def test_no_warning_in_float64_or_on_numpy() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = compile_spec(SIR, backend="jax")  # x64 on (tests/conftest.py)
        assert m.eval_fn(0.0, Y, beta=0.3, gamma=0.1).dtype == jnp.float64
        with jax.enable_x64(False):
            compile_spec(SIR).eval_fn(0.0, Y, beta=0.3, gamma=0.1)  # NumPy


SEVERAL = 330_000_000  # the population of the United States
Y_BIG = np.array([SEVERAL - 87_655, 87_655, 0])
DAYS = np.arange(0.0, 31.0)


def _big_flows(m: object, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    """A fast SIR at 3.3e8, one step a day: each day's S->I flow is one draw."""
    sim = m.simulate(  # type: ignore[attr-defined]
        Y_BIG,
        DAYS,
        dt=1.0,
        key=jax.random.PRNGKey(0),
        n=1,
        return_flows=True,
        beta=3.0,
        gamma=1.0,
        **kw,
    )
    flows = np.asarray(sim.flows)[0, :, 0]
    return np.asarray(sim.states), flows[flows > 2**24]


def test_float32_simulation_is_an_error_unless_asked_for() -> None:
    m = compile_spec(SIR)
    with jax.enable_x64(False):
        for run in (
            lambda **kw: m.simulate(
                Y_BIG,
                DAYS,
                dt=1.0,
                key=jax.random.PRNGKey(0),
                beta=3.0,
                gamma=1.0,
                **kw,
            ),
            lambda **kw: m.particle_filter(
                Y_BIG,
                DAYS[:3],
                np.array([1, 2]),
                key=jax.random.PRNGKey(0),
                counter=None,
                states=["I"],
                dt=1.0,
                n_particles=4,
                beta=3.0,
                gamma=1.0,
                **kw,
            ),
        ):
            with pytest.raises(BackendError) as info:
                run()
            message = str(info.value)
            for fragment in (
                "jax_enable_x64 is off",
                "int32",
                'jax.config.update("jax_enable_x64", True)',
                "x64=False",
            ):
                assert fragment in message, (fragment, message)
        with pytest.raises(TypeError, match="x64 must be True or False"):
            m.simulate(
                Y_BIG,
                DAYS,
                dt=1.0,
                key=jax.random.PRNGKey(0),
                x64="no",
                beta=3.0,
                gamma=1.0,
            )
        # asked for: it runs, without a PrecisionWarning (warnings are errors here),
        # and shows why float32 is refused by default: int32 counts, and every
        # large draw is a float32 number (a multiple of 2, 4, 8 or 16 above 2**24)
        states, big = _big_flows(m, x64=False)
        assert states.dtype == np.int32
        assert big.size >= 3
        assert all(int(np.float32(f)) == f for f in big), big
        assert max(int(f) & -int(f) for f in big) >= 8  # steps of 8 or more
    # float64: exact counts (a model of its own: programs built while x64 was off
    # keep their float32 constants; JAX's mode is meant to be set once, first)
    states, big = _big_flows(compile_spec(SIR))
    assert states.dtype == np.int64
    assert big.size >= 3
    # not all float32 numbers by chance: each is with probability <= 1/2, and the
    # largest (above 2**26) with probability <= 1/8 (fixed key: no false alarm
    # unless JAX's random streams change)
    assert not all(int(np.float32(f)) == f for f in big), big
