"""Stochastic simulation and particle filtering of a compiled model.

`CompiledRhs.simulate` and `CompiledRhs.particle_filter` delegate here: the
arguments both check (`stochastic_inputs`), the step plan of the model's flows
(`stochastic_plan`), the NumPy runs (one stream per trajectory, optionally over
worker processes) and the JAX `advance` the steppers and the filter iterate.
The loops over the laws are in `simulators.py` (the laws in `laws.py`), the
filter in `filter.py`.
(`c` is the `CompiledRhs`; typed `Any` so that this module, which `compile.py`
imports, does not import it back.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._backends.backend import resolve_backend
from .._support.errors import StateShapeError, UnsupportedFeatureError, did_you_mean
from . import events as _events
from . import progress as _progress
from . import runs as _runs
from . import simulators as _stochastic

__all__ = ["particle_filter", "simulate"]


def simulate(
    c: Any,
    y0: Any,
    times: Any,
    method: str,
    dt: float | None,
    seed: int | np.random.Generator | None,
    key: Any,
    n: int,
    mesh: Any,
    workers: int,
    params: Mapping[str, Any],
    *,
    progress: bool | None = None,
) -> tuple[Any, Any]:
    t_host, y_int = stochastic_inputs(
        c, "simulate()", method, dt, times, y0, min_times=1
    )
    if key is not None:
        # one compiled run for every key and parameter value (kept on the model;
        # it takes the NumPy arrays as they are, with no dispatch of our own)
        steps = _stochastic.n_steps(t_host, dt)
        run = _runs.simulation_run(
            c,
            method,
            dt,
            steps,
            int(n),
            mesh,
            progress,
            advance_of=_advance_of(c, method, dt, steps),
            events=_model_events(c),
        )
        return run(dict(params), y_int, t_host, key)  # type: ignore[no-any-return]
    if isinstance(seed, np.random.Generator):
        if workers > 1:
            raise ValueError("workers > 1 needs an integer seed, not a Generator")
        rngs = [seed] * int(n)  # one stream, trajectory after trajectory
        with _numpy_bar(progress, method, int(n), t_host) as bar:
            return simulate_numpy(c, y_int, t_host, method, dt, rngs, params, bar)
    # one independent stream per trajectory: the same trajectories whatever the
    # number of worker processes
    children = np.random.SeedSequence(seed).spawn(int(n))
    if workers > 1:
        with _progress.bar(
            progress, int(n), f"simulate {method} ({workers} processes)", "traj"
        ) as bar:
            return simulate_in_processes(
                c, y_int, t_host, method, dt, children, params, workers, bar
            )
    with _numpy_bar(progress, method, int(n), t_host) as bar:
        return simulate_chunk(c, y_int, t_host, method, dt, children, params, bar)


def _numpy_bar(progress: bool | None, method: str, n: int, times: np.ndarray) -> Any:
    """The progress bar of a NumPy run: one tick per trajectory and output
    interval."""
    intervals = times.size - 1
    return _progress.bar(
        progress,
        n * intervals,
        f"simulate {method} ({n} traj × {intervals} intervals)",
        "interval",
    )


def simulate_numpy(
    c: Any,
    y0: np.ndarray,
    times: np.ndarray,
    method: str,
    dt: float | None,
    rngs: list[np.random.Generator],
    params: Mapping[str, Any],
    bar: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    plan = stochastic_plan(c)
    advance = _stochastic.advance_numpy(
        plan,
        method,
        c.bind(params, output="rates"),
        c.bind(params, output=drawn_output(c)),
        dt,
        _stochastic.n_steps(times, dt),
    )
    # timed events: the runs stop at their times (`events.py`)
    events = _model_events(c)
    advance = _events.numpy_with_events(events, params, advance)
    y0 = _events.at_start(events, params, y0, times[0])
    if bar is not None:  # one tick per trajectory and output interval
        advance = _ticking(advance, bar)
    return _stochastic.run_numpy(advance, plan, y0, times, rngs)


def _advance_of(
    c: Any, method: str, dt: float | None, steps: int
) -> Callable[[dict[str, Any]], Any]:
    """The JAX one-interval step for given parameter values (for `runs.py`)."""
    dt = None if dt is None else float(dt)
    return lambda params: jax_advance(c, method, dt, steps, params)


def _model_events(c: Any) -> Any:
    """The model's timed events (`_core/events.py`)."""
    return c._flow_model("simulate()").events


def _ticking(advance: Any, bar: Any) -> Any:
    """`advance` that ticks `bar` once per output interval it runs."""

    def ticking(*args: Any) -> Any:
        out = advance(*args)
        bar.update(1)
        return out

    return ticking


def drawn_output(c: Any) -> str:
    """The output the stochastic methods draw events from: the flows, with each
    reaction at its stochastic propensity (`"propensities"`; the same program as
    `"flows"` for a model without reactions, which reads that one)."""
    model = c._flow_model("simulate()")
    if any(td.reaction is not None for td in model.transitions):
        return "propensities"
    return "flows"


def stochastic_plan(c: Any) -> Any:
    plan = c._cache.get("step_plan")
    if plan is None:
        model = c._flow_model("simulate()")
        plan = c._cache["step_plan"] = _stochastic.step_plan(model)
    return plan


def stochastic_inputs(
    c: Any,
    what: str,
    method: str,
    dt: float | None,
    times: Any,
    y0: Any,
    *,
    min_times: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Check the arguments `simulate` and `particle_filter` share; return the
    time grid (float64) and the initial counts (int64)."""
    if method not in _stochastic.METHODS:
        raise ValueError(
            f"method must be one of {list(_stochastic.METHODS)}, got {method!r}"
            f"{did_you_mean(str(method), _stochastic.METHODS)}"
        )
    if method not in ("ssa", "tau_leap") and (dt is None or not dt > 0):
        raise ValueError(f"method {method!r} needs a step dt > 0, got {dt!r}")
    if dt is not None and not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    model = c._flow_model("simulate()")
    if method in ("chain_binomial", "gempyor"):
        refused = [
            td
            for td in model.transitions
            if td.reaction is not None and not td.reaction.chain_ok
        ]
        if refused:
            r = refused[0].reaction
            raise UnsupportedFeatureError(
                f"method {method!r} moves individuals out of one cell per flow, "
                f"but reaction {r.text!r} takes from several cells or more than "
                "one individual of a cell per event; simulate it with method='ssa' "
                "or 'tau_leap'",
                path=f"{refused[0].path}.reaction",
                token=r.text,
            )
    t_host = np.asarray(times, dtype=np.float64)
    if t_host.ndim != 1 or t_host.size < min_times or np.any(np.diff(t_host) <= 0):
        raise ValueError(
            f"times must be a strictly increasing 1-D grid of at least {min_times} "
            f"time(s), got {t_host!r}"
        )
    y_host = np.asarray(y0)
    if y_host.shape != (model.n_state,):
        raise StateShapeError(
            f"y0 must have shape ({model.n_state},), got {y_host.shape}"
        )
    if not (
        np.all(y_host >= 0) and np.all(np.asarray(y_host, dtype=np.float64) % 1 == 0)
    ):
        raise ValueError("y0 must hold non-negative integer counts")
    return t_host, y_host.astype(np.int64)


def jax_advance(
    c: Any,
    method: str,
    dt: float | None,
    steps: int,
    params: Mapping[str, Any],
) -> Any:
    """`advance(key, y, t0, t1)` of `method` on JAX, with `params` bound (`steps`
    steps per interval: at most `dt` long)."""
    be = (
        c.backend
        if c.backend is not None and c.backend.is_jax
        else resolve_backend(backend="jax")
    )
    rates, flows = (c._output_fn(o, be) for o in ("rates", drawn_output(c)))
    plan = stochastic_plan(c)
    advance = _stochastic.advance_jax(
        plan,
        method,
        lambda t, y: rates(t, y, **params),
        lambda t, y: flows(t, y, **params),
        dt,
        steps,
    )
    return _events.jax_with_events(_model_events(c), params, advance, plan.n_flow)


def particle_filter(
    c: Any,
    y0: Any,
    times: Any,
    data: Any,
    *,
    key: Any,
    counter: str | None,
    states: Sequence[str] | None,
    observation: str,
    reporting: Any,
    concentration: Any,
    method: str,
    dt: float | None,
    n_particles: int,
    params: Mapping[str, Any],
    progress: bool | None = None,
) -> Any:
    """`CompiledRhs.particle_filter`: check the arguments, then filter on JAX."""
    import jax

    from . import filter as _filter

    if observation not in _filter.OBSERVATIONS:
        raise ValueError(
            f"observation must be one of {list(_filter.OBSERVATIONS)}, got "
            f"{observation!r}{did_you_mean(str(observation), _filter.OBSERVATIONS)}"
        )
    if observation == "negative_binomial" and concentration is None:
        raise ValueError("observation='negative_binomial' needs a concentration")
    if (counter is None) == (states is None):
        raise ValueError("give exactly one of counter= (incidence) or states=")
    t_host, y_host = stochastic_inputs(
        c, "particle_filter()", method, dt, times, y0, min_times=2
    )
    if counter is not None:
        names = c.incidence_names
        if counter not in names:
            raise ValueError(
                f"no incidence counter {counter!r}{did_you_mean(counter, names)} "
                f"(counters: {sorted(names)})"
            )
        cells = names[counter]
    else:
        assert states is not None
        cells = tuple(states)
    index = {name: i for i, name in enumerate(c.state_names)}
    missing = [cell for cell in cells if cell not in index]
    if missing:
        raise ValueError(
            f"unknown state {missing[0]!r}{did_you_mean(missing[0], index)}"
        )
    d = data if isinstance(data, jax.Array) else np.asarray(data)  # or a tracer
    if (
        d.shape[0] != t_host.size - 1
        or d.ndim > 2
        or (d.ndim == 2 and d.shape[1] != len(cells))
    ):
        raise ValueError(
            f"data must have {t_host.size - 1} rows (one per interval) and 1 or "
            f"{len(cells)} columns, got shape {tuple(d.shape)}"
        )
    # one compiled filter for every key, parameter value and data value (kept
    # on the model)
    run = _runs.filter_run(
        c,
        observation=observation,
        method=method,
        dt=dt,
        steps=_stochastic.n_steps(t_host, dt),
        n_particles=int(n_particles),
        cells=tuple(index[cell] for cell in cells),
        incidence=counter is not None,
        total=d.ndim == 1,
        progress=progress,
        advance_of=_advance_of(c, method, dt, _stochastic.n_steps(t_host, dt)),
        events=_model_events(c),
    )
    return run(dict(params), y_host, t_host, d, key, reporting, concentration)


def simulate_chunk(
    compiled: Any,
    y0: np.ndarray,
    times: np.ndarray,
    method: str,
    dt: float | None,
    seeds: list[np.random.SeedSequence],
    params: Mapping[str, Any],
    bar: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """NumPy trajectories, one per seed (here, or in a worker process)."""
    rngs = [np.random.default_rng(s) for s in seeds]
    return simulate_numpy(compiled, y0, times, method, dt, rngs, params, bar)


def simulate_in_processes(
    compiled: Any,
    y0: np.ndarray,
    times: np.ndarray,
    method: str,
    dt: float | None,
    seeds: list[np.random.SeedSequence],
    params: Mapping[str, Any],
    workers: int,
    bar: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """NumPy trajectories in `workers` processes (the compiled model pickles):
    contiguous chunks of the per-trajectory streams, results in order (`bar`
    ticks by a chunk's trajectories as each comes back)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = [c.tolist() for c in np.array_split(np.arange(len(seeds)), workers)]
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that runs JAX
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        parts = pool.map(
            simulate_chunk,
            *zip(
                *[
                    (compiled, y0, times, method, dt, [seeds[i] for i in c], params)
                    for c in chunks
                    if c
                ]
            ),
        )
        states: list[np.ndarray] = []
        flows: list[np.ndarray] = []
        for part_states, part_flows in parts:
            states.append(part_states)
            flows.append(part_flows)
            if bar is not None:
                bar.update(part_states.shape[0])
        return np.concatenate(states, axis=0), np.concatenate(flows, axis=0)
