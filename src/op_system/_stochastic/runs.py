"""The JAX runs of `simulate(key=...)` and `particle_filter`, compiled once and
kept with the model.

A run is one `jax.jit` of the whole computation (every output interval, every
trajectory or particle). It is built the first time a model runs with given
static options — the method, `dt` (so the number of steps per interval), the
number of trajectories or particles, the sharding mesh; for the filter also the
observation law and what is measured — and kept in the model's cache
(`CompiledRhs._cache["jax_runs"]`) under those options. Everything that may
change from call to call — the key, the parameter values, `y0`, `times`, the
data, `reporting`, `concentration` — is an argument of the jitted function, so
`jax.jit` traces it again only for new shapes or dtypes.

The jitted functions close over nothing traced (the model, Python numbers and
index tuples): called inside a user's `jax.jit`, `vmap` or `grad`, a run is
inlined into that trace with the tracers as its arguments, and nothing of that
trace is kept in the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from . import events as _events
from . import progress as _progress

__all__ = ["filter_run", "simulation_run"]


def _kept(
    c: Any,
    options: tuple[Hashable, ...],
    build: Callable[[], Any],
    note: str,
    progress: bool | None,
) -> Any:
    """The run of `options` kept on model `c`, built (and `note` said, when
    progress is on) the first time."""
    runs: dict[tuple[Hashable, ...], Any] = c._cache.setdefault("jax_runs", {})
    fn = runs.get(options)
    if fn is None:
        _progress.note(
            f"compiling {note} for JAX (once; kept with the model)", progress
        )
        fn = runs[options] = build()
    return fn


def simulation_run(
    c: Any,
    method: str,
    dt: float | None,
    steps: int,
    n: int,
    mesh: Any = None,
    progress: bool | None = None,
    *,
    advance_of: Callable[[dict[str, Any]], Any],
    events: Any,
) -> Callable[[dict[str, Any], Any, Any, Any], Any]:
    """`run(params, y0, times, key) -> (states, flows)`: `n` trajectories by
    `method`, `steps` steps per interval, sharded over `mesh` when given.
    `advance_of(params)` is the method's one-interval step (`simulation.py`'s
    `jax_advance`, passed in so that this module does not import that one) and
    `events` the model's timed events."""
    from . import simulators as _simulators

    dt = None if dt is None else float(dt)  # a key of the cache: hashable

    def build() -> Any:
        import jax

        def run(params: dict[str, Any], y0: Any, times: Any, key: Any) -> Any:
            advance = advance_of(params)
            y0 = _events.at_start(events, params, y0, times[0])
            return _simulators.run_jax(advance, y0, times, key, n, mesh)

        return jax.jit(run)

    sharded = "" if mesh is None else f", sharded over {mesh.size} device(s)"
    return _kept(  # type: ignore[no-any-return]
        c,
        ("simulate", method, dt, steps, n, mesh),
        build,
        f"simulate (method {method!r}, {n} trajectories{sharded})",
        progress,
    )


def filter_run(
    c: Any,
    *,
    observation: str,
    method: str,
    dt: float | None,
    steps: int,
    n_particles: int,
    cells: tuple[int, ...],
    incidence: bool,
    total: bool,
    progress: bool | None = None,
    advance_of: Callable[[dict[str, Any]], Any],
    events: Any,
) -> Callable[..., Any]:
    """`run(params, y0, times, data, key, reporting, concentration) ->
    FilterResult`: the bootstrap filter of `n_particles` particles measuring the
    state `cells` (their increase over each interval when `incidence`; summed
    when `total`, the data then 1-D); `advance_of` and `events` as for
    `simulation_run`."""
    from . import filter as _filter

    dt = None if dt is None else float(dt)  # a key of the cache: hashable

    def build() -> Any:
        import jax
        import jax.numpy as jnp

        def run(
            params: dict[str, Any],
            y0: Any,
            times: Any,
            data: Any,
            key: Any,
            reporting: Any,
            concentration: Any,
        ) -> Any:
            idx = jnp.asarray(cells)

            def measure(prev: Any, new: Any) -> Any:
                x = new[idx] - prev[idx] if incidence else new[idx]
                return jnp.sum(x, keepdims=True) if total else x

            def log_obs(d: Any, x: Any) -> Any:
                return _filter.log_density(observation, d, x, reporting, concentration)

            advance = advance_of(params)
            return _filter.run_filter(
                advance,
                measure,
                _events.at_start(events, params, y0, times[0]),
                times,
                data[:, None] if total else data,
                key,
                n_particles,
                log_obs,
            )

        return jax.jit(run)

    return _kept(  # type: ignore[no-any-return]
        c,
        (
            "particle_filter",
            observation,
            method,
            dt,
            steps,
            n_particles,
            cells,
            incidence,
            total,
        ),
        build,
        f"particle_filter (method {method!r}, {n_particles} particles)",
        progress,
    )
