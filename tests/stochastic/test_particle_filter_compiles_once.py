"""`particle_filter` compiles once per model, static options and shapes, and so
does `simulate(key=..., mesh=...)`: a new key, new parameter values or new data
values reuse the kept run (the trace count is the number of times the run's
Python body executes); the kept run works first inside a user's trace and then
inside another, leaking no tracer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy

import op_system._stochastic.filter as filter_module  # noqa: E402
import op_system._stochastic.simulators as simulators  # noqa: E402
from op_system import compile_spec  # noqa: E402

SIS = {
    "kind": "transitions",
    "state": ["S", "I"],
    "transitions": [
        {"name": "infection", "from": "S", "to": "I", "rate": "beta * I / sum_state()"},
        {"name": "recovery", "from": "I", "to": "S", "rate": "gamma"},
    ],
    "incidence": {"cases": "infection"},
}
Y0 = np.array([190, 10, 0])
TIMES = np.arange(0.0, 7.0)
DATA = np.array([3, 4, 2, 5, 3, 4])


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Count the calls of `module.name` (a run's body calls it once per trace)."""
    count = [0]
    inner = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return inner(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return count


def _filter(model: Any, key: Any, beta: Any, data: Any = DATA, **kw: Any) -> Any:
    return model.particle_filter(
        Y0,
        TIMES,
        data,
        key=key,
        counter="cases",
        dt=0.5,
        n_particles=kw.pop("n_particles", 64),
        beta=beta,
        gamma=0.25,
        **kw,
    )


def test_new_keys_parameters_and_data_do_not_trace_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    traces = _counting(monkeypatch, filter_module, "run_filter")
    model = compile_spec(SIS, xp="jax")
    key0, key1 = jax.random.PRNGKey(0), jax.random.PRNGKey(1)
    first = _filter(model, key0, 0.5)
    again = _filter(model, key0, 0.5)
    other_key = _filter(model, key1, 0.5)
    other_beta = _filter(model, key0, 0.9, reporting=0.8)
    other_data = _filter(model, key0, 0.5, data=DATA + 2)
    assert traces == [1]
    assert first.log_likelihood == again.log_likelihood
    lls = [float(r.log_likelihood) for r in (first, other_key, other_beta, other_data)]
    assert np.isfinite(lls).all()
    assert len(set(lls)) == 4, lls  # every change reached the kept run
    # a new static option or new shapes: a run of their own
    nb = _filter(model, key0, 0.5, observation="negative_binomial", concentration=5.0)
    assert traces == [2]
    assert float(nb.log_likelihood) != lls[0]
    _filter(model, key0, 0.5, data=DATA[:, None])
    assert traces == [3]  # 2-D data: per-cell columns, not their total


def test_the_filter_works_in_one_trace_then_another() -> None:
    """First used inside `jax.jit` of `jax.value_and_grad`, then inside
    `jax.vmap`, then eagerly: the same numbers, and no tracer leaks into the
    kept run (`jax.checking_leaks` raises on one)."""
    model = compile_spec(SIS, xp="jax")
    key = jax.random.PRNGKey(4)

    def ll(beta: Any, reporting: Any = 0.9) -> Any:
        return _filter(model, key, beta, reporting=reporting).log_likelihood

    with jax.checking_leaks():
        inside, slope = jax.jit(jax.value_and_grad(ll, argnums=1))(0.6, 0.9)
        vmapped = jax.vmap(ll)(jnp.array([0.6, 0.7]))
        outside = ll(0.6)
    np.testing.assert_allclose(float(inside), float(outside), rtol=1e-12)
    np.testing.assert_allclose(float(vmapped[0]), float(outside), rtol=1e-12)
    assert float(vmapped[1]) != float(outside)
    assert np.isfinite(float(slope))


def test_sharded_runs_are_kept_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """`simulate(key=..., mesh=...)` over a 1-device mesh: traced once for two
    keys and two parameter values, and the same trajectories as without mesh
    (tests/stochastic/test_stochastic.py checks 8 devices in a subprocess)."""
    from jax.sharding import Mesh

    traces = _counting(monkeypatch, simulators, "run_jax")
    model = compile_spec(SIS, xp="jax")
    mesh = Mesh(np.array(jax.devices()[:1]), ("particles",))

    def run(key: Any, beta: float, mesh: Any = mesh) -> Any:
        return model.simulate(
            Y0, TIMES, key=key, n=8, dt=0.5, mesh=mesh, beta=beta, gamma=0.25
        )

    a = run(jax.random.PRNGKey(0), 0.5)
    b = run(jax.random.PRNGKey(1), 0.9)
    assert traces == [1]
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    plain = run(jax.random.PRNGKey(1), 0.9, mesh=None)
    assert traces == [2]  # the unsharded run is a run of its own
    np.testing.assert_array_equal(np.asarray(plain), np.asarray(b))
