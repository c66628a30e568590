"""Stochastic simulation: op_system's generated chain-binomial step against
hand-written ones, and SSA throughput.

The model is the age SEIR of the benchmarks (`models.age_seir`, 4 age groups),
simulated for 100 steps of dt = 0.5 with `n` particles:

* **op_system (JAX)**: `compiled.simulate(..., key=...)` under `jax.jit`;
* **hand-written JAX**: the same Euler-multinomial step written by hand for this
  model (its three transitions, one exit per compartment: one binomial each),
  `vmap`ped over particles and `lax.scan`ned over steps, drawing with
  op_system's sampler (`_sampling.binomial`): the limit reference, so the ratio
  measures the generated code around the sampler; and the same with
  `jax.random.binomial`, what a hand-written JAX simulator would use;
* **gempyor-style NumPy**: an eager NumPy step (one `Generator.binomial` call
  per transition on the age groups), one trajectory per call as gempyor runs
  its simulations, and the same step vectorized over the particles;
* **op_engine**: op_engine 0.8.0's own eager `TauLeapingSolver` with binomial
  firings (`_op_engine_stochastic.py`), one trajectory per run as its API is
  written, and with the particles as an extra state axis of one run.

SSA throughput: events per second of an SIR with N = 1,000 under `vmap` over
trajectories.

Kept runs (`bench_kept_runs`): `simulate(key=...)` and `particle_filter` compile
their run once and keep it with the model, so a second call with a new key and
new parameter values (and, for the filter, new data) costs what the same call
costs under a user's own `jax.jit`: both timed over calls that each take a new
key and new values, after a first call that compiles.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

STEPS = 100
DT = 0.5


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_stochastic(
    particles: Sequence[int], repeat: int, log: Callable[[str], None]
) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    from op_system import compile_spec

    from .models import age_seir

    m = age_seir(4)
    spec = m.spec
    c = compile_spec(spec, xp=jnp)
    beta, sigma, gamma = (m.params[k] for k in ("beta", "sigma", "gamma"))
    contacts = np.asarray(m.params["C"])
    y0 = np.round(m.y0).astype(np.int64)
    times = np.array([0.0, STEPS * DT])
    n_age = 4

    from op_system._stochastic.sampling import binomial as fast_binomial

    def hand_jax(key: Any, n: int, binomial: Callable[..., Any]) -> Any:
        cm = jnp.asarray(contacts)

        def one(key: Any) -> Any:
            def step(c: Any, _: Any) -> Any:
                y, key = c
                key, k1, k2, k3 = jax.random.split(key, 4)
                s, e, i, r = jnp.reshape(y, (4, n_age))
                fdt = y.astype(jnp.result_type(float))
                foi = beta * (cm @ fdt[2 * n_age : 3 * n_age]) / jnp.sum(fdt)
                inf = binomial(k1, s.astype(foi.dtype), 1 - jnp.exp(-foi * DT))
                ons = binomial(
                    k2, e.astype(foi.dtype), jnp.full(n_age, 1 - np.exp(-sigma * DT))
                )
                rec = binomial(
                    k3, i.astype(foi.dtype), jnp.full(n_age, 1 - np.exp(-gamma * DT))
                )
                inf, ons, rec = (v.astype(y.dtype) for v in (inf, ons, rec))
                y = jnp.concatenate([s - inf, e + inf - ons, i + ons - rec, r + rec])
                return (y, key), None

            (y, _), _ = jax.lax.scan(step, (jnp.asarray(y0), key), None, length=STEPS)
            return y

        return jax.vmap(one)(jax.random.split(key, n))

    def gempyor_numpy(rng: np.random.Generator, n: int) -> np.ndarray:
        y = np.tile(y0, (n, 1))
        p_ons, p_rec = 1 - np.exp(-sigma * DT), 1 - np.exp(-gamma * DT)
        for _ in range(STEPS):
            s, e, i, r = (y[:, k * n_age : (k + 1) * n_age] for k in range(4))
            foi = beta * (i @ contacts.T) / y.sum(axis=1, keepdims=True)
            inf = rng.binomial(s, 1 - np.exp(-foi * DT))
            ons = rng.binomial(e, p_ons)
            rec = rng.binomial(i, p_rec)
            y = np.concatenate([s - inf, e + inf - ons, i + ons - rec, r + rec], axis=1)
        return y

    def gempyor_loop(rng: np.random.Generator, n: int) -> np.ndarray:
        return np.concatenate([gempyor_numpy(rng, 1) for _ in range(n)])

    from ._op_engine_stochastic import (
        make_op_engine_batched_runner,
        make_op_engine_runner,
        op_engine_available,
    )

    engine = op_engine_available()
    if engine:
        oe_loop, oe_batched = make_op_engine_runner(m), make_op_engine_batched_runner(m)
        oe_loop(1, 0), oe_batched(1, 0)  # imports and first-call costs, untimed

    def eager(fn: Callable[[], Any], n: int) -> float:
        # the one-trajectory-per-call steppers take about a minute at 10,000
        return _best(fn, 1 if n >= 1000 else max(1, repeat // 2))

    rows = []
    params = {k: jnp.asarray(v) for k, v in m.params.items()}
    for n in particles:
        ours = jax.jit(
            lambda key, n=n: c.simulate(y0, times, dt=DT, key=key, n=n, **params)[:, -1]
        )
        hand = jax.jit(lambda key, n=n: hand_jax(key, n, fast_binomial))
        hand_jr = jax.jit(lambda key, n=n: hand_jax(key, n, jax.random.binomial))
        key = jax.random.PRNGKey(0)
        for f in (ours, hand, hand_jr):
            f(key).block_until_ready()
        t_ours = _best(lambda f=ours, k=key: f(k).block_until_ready(), repeat)
        t_hand = _best(lambda f=hand, k=key: f(k).block_until_ready(), repeat)
        t_jr = _best(lambda f=hand_jr, k=key: f(k).block_until_ready(), repeat)
        rng = np.random.default_rng(0)
        t_np = _best(lambda r=rng, n=n: gempyor_numpy(r, n), max(1, repeat // 2))
        t_np_loop = eager(lambda r=rng, n=n: gempyor_loop(r, n), n)
        t_oe = t_oe_b = None
        if engine:
            t_oe = eager(lambda n=n: oe_loop(n, 0), n)
            t_oe_b = _best(lambda n=n: oe_batched(n, 0), max(1, repeat // 2))
        # the JAX sides simulate the same law: their mean recovered agree
        mo = float(np.asarray(ours(key))[:, 12:16].mean())
        mh = float(np.asarray(hand(key))[:, 12:16].mean())
        mj = float(np.asarray(hand_jr(key))[:, 12:16].mean())
        row = {
            "particles": n,
            "op_s": t_ours,
            "hand_jax_s": t_hand,
            "hand_jax_random_s": t_jr,
            "numpy_s": t_np,
            "numpy_loop_s": t_np_loop,
            "op_engine_loop_s": t_oe,
            "op_engine_batched_s": t_oe_b,
            "ratio": t_ours / t_hand,
            "vs_jax_random": t_jr / t_ours,
            "vs_numpy": t_np / t_ours,
            "vs_numpy_loop": t_np_loop / t_ours,
            "vs_op_engine_loop": None if t_oe is None else t_oe / t_ours,
            "vs_op_engine_batched": None if t_oe_b is None else t_oe_b / t_ours,
            "mean_R_op": mo,
            "mean_R_hand": mh,
            "mean_R_hand_jax_random": mj,
        }
        rows.append(row)
        oe = (
            ""
            if t_oe is None or t_oe_b is None
            else f"; op_engine {t_oe:.2f} s one per run, {t_oe_b:.3f} s batched"
        )
        log(
            f"  {n:6d} particles: op_system {1e3 * t_ours:8.2f} ms  hand JAX "
            f"{1e3 * t_hand:8.2f} ms ({row['ratio']:.2f}x), with jax.random.binomial "
            f"{1e3 * t_jr:8.2f} ms; gempyor-style NumPy {t_np_loop:.2f} s one per "
            f"call, {t_np:.3f} s vectorized{oe}"
        )

    sir = compile_spec(
        {
            "kind": "transitions",
            "state": ["S", "I", "R"],
            "transitions": [
                {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
                {"from": "I", "to": "R", "rate": "gamma"},
            ],
        },
        xp=jnp,
    )
    n_traj = 1000
    ssa = jax.jit(
        lambda key: sir.simulate(
            np.array([990, 10, 0]),
            [0.0, 200.0],
            method="ssa",
            key=key,
            n=n_traj,
            beta=0.4,
            gamma=0.2,
        )
    )
    key = jax.random.PRNGKey(1)
    out = np.asarray(ssa(key))
    # events: each infection moves S -> I, each recovery I -> R
    events = int((990 - out[:, -1, 0]).sum() + out[:, -1, 2].sum())
    t_ssa = _best(lambda: ssa(key).block_until_ready(), repeat)
    log(
        f"  SSA, SIR N=1000, {n_traj} trajectories: {events} events in "
        f"{1e3 * t_ssa:.1f} ms = {events / t_ssa / 1e6:.2f} M events/s"
    )
    return {
        "chain_binomial": rows,
        "ssa": {"trajectories": n_traj, "events": events, "seconds": t_ssa},
        "kept": bench_kept_runs(repeat, log),
    }


def _per_new_call(
    calls: Sequence[Callable[[Any, float], Any]], repeat: int, n_calls: int = 20
) -> list[float]:
    """For each of `calls`: the best over `repeat` rounds of the mean time of
    `n_calls` calls, each with a new key and a new parameter value
    (`call(key, value)`, blocked until done). The calls take turns call by
    call, so that a busy machine slows them alike."""
    import jax

    best = [float("inf")] * len(calls)
    for r in range(repeat):
        keys = jax.random.split(jax.random.PRNGKey(100 + r), n_calls)
        values = np.linspace(0.4, 0.6, n_calls) + 0.001 * r
        spent = [0.0] * len(calls)
        for k, v in zip(keys, values):
            for i, call in enumerate(calls):
                t0 = time.perf_counter()
                jax.block_until_ready(call(k, float(v)))
                spent[i] += time.perf_counter() - t0
        best = [min(b, t / n_calls) for b, t in zip(best, spent)]
    return best


def bench_kept_runs(repeat: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """The second and later calls of `simulate(key=...)` (age SEIR N=4, 100
    trajectories, 100 steps) and `particle_filter` (SIS, 8 weekly intervals, 500
    particles; new data values at every call too): op_system's kept run against
    the same call under the user's own `jax.jit`, each call with a new key and
    new parameter values."""
    import jax
    import jax.numpy as jnp

    from op_system import compile_spec

    from .models import age_seir

    m = age_seir(4)
    y0 = np.round(m.y0).astype(np.int64)
    times = np.linspace(0.0, STEPS * DT, 11)  # 10 outputs, 10 steps each
    fixed = {k: jnp.asarray(v) for k, v in m.params.items() if k != "beta"}
    sis_spec = {
        "kind": "transitions",
        "state": ["S", "I"],
        "transitions": [
            {"name": "inf", "from": "S", "to": "I", "rate": "beta * I / sum_state()"},
            {"name": "rec", "from": "I", "to": "S", "rate": "gamma"},
        ],
        "incidence": {"cases": "inf"},
    }
    sis_y0 = np.array([990, 10, 0])
    weeks = np.arange(0.0, 57.0, 7.0)
    cases = np.array([12, 30, 61, 95, 110, 104, 98, 101])

    def sim(c: Any, jit: bool) -> Callable[[Any, float], Any]:
        def call(key: Any, beta: Any) -> Any:
            return c.simulate(y0, times, dt=DT, key=key, n=100, beta=beta, **fixed)

        return jax.jit(call) if jit else call

    def pf(c: Any, jit: bool) -> Callable[[Any, float], Any]:
        def call(key: Any, beta: Any, data: Any) -> Any:
            return c.particle_filter(
                sis_y0,
                weeks,
                data,
                key=key,
                counter="cases",
                dt=0.25,
                n_particles=500,
                beta=beta,
                gamma=0.25,
            ).log_likelihood

        run = jax.jit(call) if jit else call
        # new data values at every call, made on the host for both sides
        return lambda key, beta: run(key, beta, cases + round(100 * beta) % 5)

    rows = []
    for label, spec, make in (
        ("simulate(key=...), age SEIR N=4, 100 trajectories", m.spec, sim),
        ("particle_filter, SIS, 8 weekly intervals, 500 particles", sis_spec, pf),
    ):
        kept = make(compile_spec(spec, xp=jnp), False)  # each side its own model
        users = make(compile_spec(spec, xp=jnp), True)
        t0 = time.perf_counter()
        jax.block_until_ready(kept(jax.random.PRNGKey(0), 0.5))
        first = time.perf_counter() - t0
        jax.block_until_ready(users(jax.random.PRNGKey(0), 0.5))
        t_kept, t_user = _per_new_call([kept, users], repeat)
        row = {
            "label": label,
            "first_s": first,
            "kept_s": t_kept,
            "user_jit_s": t_user,
            "ratio": t_kept / t_user,
        }
        rows.append(row)
        log(
            f"  {label}: first call {first:.2f} s; then {1e3 * t_kept:.2f} ms per "
            f"call with a new key and values, {1e3 * t_user:.2f} ms under the "
            f"user's jax.jit ({row['ratio']:.2f}x)"
        )
    return rows
