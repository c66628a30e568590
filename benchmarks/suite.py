"""The measurements of the benchmark suite, one function per target group.

Every function takes the models and `Settings`, checks each implementation
against the hand-written reference (`allclose`) before timing it, and returns
plain JSON-able dicts (seconds). Ratios are op_system / hand-written, measured
in the same process and the same run.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from op_system import compile_rhs, compile_spec, normalize_rhs

from .models import Model
from .timing import Settings, measure, measure_once, measure_pair

__all__ = [
    "bench_build",
    "bench_diffrax",
    "bench_forms",
    "bench_import",
    "bench_jax_per_call",
    "bench_jit_compile",
    "bench_numpy_per_call",
    "bench_solve_ivp",
    "count_jaxpr_eqns",
    "loglog_slope",
]

Log = Callable[[str], None]


def _assert_close(got: Any, expected: Any, what: str, rtol: float = 1e-9) -> float:
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(expected))) or 1.0
    if got.shape != expected.shape or not np.allclose(
        got, expected, rtol=rtol, atol=rtol * 1e-3 * scale
    ):
        diff = (
            np.max(np.abs(got - expected))
            if got.shape == expected.shape
            else f"shape {got.shape}"
        )
        raise AssertionError(
            f"{what}: op_system and the hand-written RHS disagree (max abs diff {diff})"
        )
    return float(np.max(np.abs(got - expected)) / scale)


def _us(seconds: float) -> str:
    return f"{1e6 * seconds:10.1f} µs"


# -- NumPy -------------------------------------------------------------------------


def _pair_row(
    m: Model,
    hand: dict[str, Any],
    op: dict[str, Any],
    ratio: float,
    err: float,
    **extra: Any,
) -> dict[str, Any]:
    """The common fields of a hand-written vs op_system measurement (plus `extra`)."""
    return {
        "model": m.key,
        "label": m.label,
        "n_state": m.n_state,
        **extra,
        "hand_s": hand["median"],
        "op_s": op["median"],
        "ratio": ratio,
        "max_rel_err": err,
    }


def bench_numpy_per_call(
    models: Sequence[Model], settings: Settings, log: Log
) -> list[dict[str, Any]]:
    """Per-call `eval_fn(0.0, y, **params)` vs the hand-written NumPy RHS."""
    rows = []
    for m in models:
        # The default compile (NumPy, handing JAX inputs to JAX) and strict xp=numpy.
        compiled = compile_spec(m.spec)
        strict = compile_spec(m.spec, xp=np)
        y, params = m.y_call, m.params
        expected = m.ref_np(0.0, y, **params)
        err = _assert_close(compiled.eval_fn(0.0, y, **params), expected, m.label)
        _assert_close(strict.eval_fn(0.0, y, **params), expected, m.label)
        hand, op, ratio = measure_pair(
            lambda m=m, y=y, params=params: m.ref_np(0.0, y, **params),
            lambda c=compiled, y=y, params=params: c.eval_fn(0.0, y, **params),
            settings,
        )
        _, op_strict, ratio_strict = measure_pair(
            lambda m=m, y=y, params=params: m.ref_np(0.0, y, **params),
            lambda c=strict, y=y, params=params: c.eval_fn(0.0, y, **params),
            settings,
        )
        rows.append(
            _pair_row(m, hand, op, ratio, err, family=m.family)
            | {
                "hand": hand,
                "op": op,
                "op_strict_s": op_strict["median"],
                "ratio_strict": ratio_strict,
            }
        )
        log(
            f"  {m.label:32s} hand {_us(hand['median'])}  op_system {_us(op['median'])}  ratio {rows[-1]['ratio']:6.2f}"
            f"  (xp=numpy {ratio_strict:5.2f})"
        )
    return rows


def bench_solve_ivp(
    m: Model, settings: Settings, log: Log, rtol: float = 1e-6, atol: float = 1e-6
) -> dict[str, Any]:
    """scipy `solve_ivp` (RK45) with `compiled.bind(params)` vs the hand-written RHS."""
    from scipy.integrate import solve_ivp

    compiled = compile_spec(m.spec)
    rhs_op = compiled.bind(m.params)
    params = m.params

    def rhs_hand(t: float, y: np.ndarray) -> np.ndarray:
        return m.ref_np(t, y, **params)

    def solve(rhs: Callable[[float, np.ndarray], np.ndarray]) -> Any:
        return solve_ivp(rhs, (0.0, m.t1), m.y0, method="RK45", rtol=rtol, atol=atol)

    sol_hand, sol_op = solve(rhs_hand), solve(rhs_op)
    if not (sol_hand.success and sol_op.success):
        raise AssertionError(f"solve_ivp failed on {m.label}")
    err = _assert_close(
        sol_op.y[:, -1], sol_hand.y[:, -1], f"solve_ivp {m.label}", rtol=1e-6
    )
    hand, op, ratio = measure_pair(
        lambda: solve(rhs_hand), lambda: solve(rhs_op), settings
    )
    row = _pair_row(
        m,
        hand,
        op,
        ratio,
        err,
        method="RK45",
        rtol=rtol,
        atol=atol,
        t1=m.t1,
        nfev_hand=int(sol_hand.nfev),
        nfev_op=int(sol_op.nfev),
    )
    log(
        f"  {m.label:32s} hand {1e3 * hand['median']:8.2f} ms  op_system {1e3 * op['median']:8.2f} ms  "
        f"ratio {row['ratio']:6.2f}  ({row['nfev_op']} RHS calls)"
    )
    return row


# -- JAX ---------------------------------------------------------------------------


def setup_jax() -> Any:
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_enable_compilation_cache", False)
    return jax


def _jax_inputs(m: Model) -> tuple[Any, dict[str, Any]]:
    import jax.numpy as jnp

    return jnp.asarray(m.y_call), {k: jnp.asarray(v) for k, v in m.params.items()}


def bench_jax_per_call(
    models: Sequence[Model], settings: Settings, log: Log
) -> list[dict[str, Any]]:
    """`jax.jit` of `eval_fn` vs `jax.jit` of the hand-written `jax.numpy` RHS (block_until_ready)."""
    jax = setup_jax()
    import jax.numpy as jnp

    rows = []
    for m in models:
        compiled = compile_spec(m.spec, xp=jnp)
        y, p = _jax_inputs(m)
        f_op = jax.jit(lambda y, p, c=compiled: c.eval_fn(0.0, y, **p))
        f_hand = jax.jit(lambda y, p, m=m: m.ref_jax(0.0, y, **p))
        expected = m.ref_np(0.0, m.y_call, **m.params)
        _assert_close(f_hand(y, p), expected, f"hand-written jax {m.label}")
        err = _assert_close(f_op(y, p), expected, f"jax {m.label}")
        hand, op, ratio = measure_pair(
            lambda f=f_hand, y=y, p=p: f(y, p).block_until_ready(),
            lambda f=f_op, y=y, p=p: f(y, p).block_until_ready(),
            settings,
        )
        rows.append(_pair_row(m, hand, op, ratio, err, family=m.family))
        log(
            f"  {m.label:32s} hand {_us(hand['median'])}  op_system {_us(op['median'])}  ratio {rows[-1]['ratio']:6.2f}"
        )
    return rows


def _diffrax_solver(
    m: Model, vector_field: Callable[..., Any], rtol: float, atol: float
) -> Callable[..., Any]:
    import diffrax

    term = diffrax.ODETerm(vector_field)
    solver = diffrax.Tsit5()
    controller = diffrax.PIDController(rtol=rtol, atol=atol)

    def solve(y0: Any, args: dict[str, Any]) -> tuple[Any, Any]:
        sol = diffrax.diffeqsolve(
            term,
            solver,
            t0=0.0,
            t1=m.t1,
            dt0=0.01,
            y0=y0,
            args=args,
            saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=controller,
            max_steps=100_000,
        )
        return sol.ys[-1], sol.stats["num_steps"]

    return solve


def _time_jitted(
    f_hand: Callable[..., Any],
    f_op: Callable[..., Any],
    args: tuple[Any, ...],
    settings: Settings,
) -> tuple[dict[str, float], dict[str, float], float]:
    import jax

    return measure_pair(
        lambda: jax.block_until_ready(f_hand(*args)),
        lambda: jax.block_until_ready(f_op(*args)),
        settings,
    )


def bench_diffrax(
    models: Sequence[Model],
    grad_models: Sequence[Model],
    settings: Settings,
    log: Log,
    rtol: float = 1e-6,
    atol: float = 1e-6,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`diffrax.diffeqsolve` (Tsit5, PIDController) and `jax.grad` through it, jitted."""
    jax = setup_jax()
    import jax.numpy as jnp

    solve_rows: list[dict[str, Any]] = []
    grad_rows: list[dict[str, Any]] = []
    grad_keys = {m.key for m in grad_models}
    solve_keys = {m.key for m in models}
    for m in list(models) + [g for g in grad_models if g.key not in solve_keys]:
        compiled = compile_spec(m.spec, xp=jnp)

        def vf_hand(t: Any, y: Any, args: Any, m: Model = m) -> Any:
            return m.ref_jax(t, y, **args)

        y0 = jnp.asarray(m.y0)
        _, p = _jax_inputs(m)
        impls = {
            "hand": _diffrax_solver(m, vf_hand, rtol, atol),
            "op": _diffrax_solver(m, compiled.vector_field, rtol, atol),
        }
        if m.key in solve_keys:
            jitted = {k: jax.jit(s) for k, s in impls.items()}
            out = {k: f(y0, p) for k, f in jitted.items()}
            err = _assert_close(
                out["op"][0], out["hand"][0], f"diffrax {m.label}", rtol=1e-6
            )
            t_hand, t_op, ratio = _time_jitted(
                jitted["hand"], jitted["op"], (y0, p), settings
            )
            row = _pair_row(
                m,
                t_hand,
                t_op,
                ratio,
                err,
                steps_hand=int(out["hand"][1]),
                steps_op=int(out["op"][1]),
            )
            solve_rows.append(row)
            log(
                f"  solve {m.label:26s} hand {1e3 * row['hand_s']:8.2f} ms  op_system {1e3 * row['op_s']:8.2f} ms  "
                f"ratio {row['ratio']:6.2f}  ({row['steps_op']} steps)"
            )
        if m.key in grad_keys:
            w = jnp.asarray(
                np.random.default_rng(3).uniform(0.0, 1.0, m.n_state) / m.n_state
            )

            def make_grad(
                solve: Callable[..., Any], w: Any = w, p: dict[str, Any] = p
            ) -> Callable[..., Any]:
                def loss(beta_value: Any, y_init: Any) -> Any:
                    yT, _ = solve(y_init, {**p, "beta": beta_value})
                    return jnp.vdot(w, yT)

                return jax.jit(jax.grad(loss))

            grads = {k: make_grad(s) for k, s in impls.items()}
            beta = p["beta"]
            g = {k: f(beta, y0) for k, f in grads.items()}
            err = _assert_close(g["op"], g["hand"], f"grad {m.label}", rtol=1e-5)
            t_hand, t_op, ratio = _time_jitted(
                grads["hand"], grads["op"], (beta, y0), settings
            )
            row = _pair_row(m, t_hand, t_op, ratio, err)
            grad_rows.append(row)
            log(
                f"  grad  {m.label:26s} hand {1e3 * row['hand_s']:8.2f} ms  op_system {1e3 * row['op_s']:8.2f} ms  "
                f"ratio {row['ratio']:6.2f}"
            )
    return solve_rows, grad_rows


def count_jaxpr_eqns(fn: Callable[..., Any], *args: Any) -> dict[str, int]:
    """Equations of `jax.make_jaxpr(fn)(*args)`: top level and including sub-jaxprs."""
    import jax

    closed = jax.make_jaxpr(fn)(*args)

    def subjaxprs(value: Any) -> list[Any]:
        if hasattr(value, "jaxpr") and hasattr(value, "consts"):  # ClosedJaxpr
            return [value.jaxpr]
        if hasattr(value, "eqns"):  # Jaxpr
            return [value]
        if isinstance(value, (tuple, list)):
            return [j for v in value for j in subjaxprs(v)]
        return []

    def total(jaxpr: Any) -> int:
        n = 0
        for eqn in jaxpr.eqns:
            n += 1
            for v in eqn.params.values():
                n += sum(total(j) for j in subjaxprs(v))
        return n

    return {"top": len(closed.jaxpr.eqns), "total": total(closed.jaxpr)}


def bench_jit_compile(
    big: Model, models: Sequence[Model], repeat: int, log: Log
) -> dict[str, Any]:
    """Trace+lower and XLA compile time of the jitted RHS (`jit(f).lower(...).compile()`)
    for `big`, and jaxpr equation counts for all `models`."""
    setup_jax()
    import jax
    import jax.numpy as jnp

    eqns = []
    for m in models:
        compiled = compile_spec(m.spec, xp=jnp)
        y, p = _jax_inputs(m)
        op = count_jaxpr_eqns(lambda y, p, c=compiled: c.eval_fn(0.0, y, **p), y, p)
        hand = count_jaxpr_eqns(lambda y, p, m=m: m.ref_jax(0.0, y, **p), y, p)
        eqns.append(
            {
                "model": m.key,
                "label": m.label,
                "n_state": m.n_state,
                "op": op,
                "hand": hand,
            }
        )
        log(
            f"  jaxpr equations {m.label:32s} op_system {op['total']:6d}   hand {hand['total']:6d}"
        )

    compiled = compile_spec(big.spec, xp=jnp)
    y, p = _jax_inputs(big)
    fns = {
        "hand": lambda: lambda y, p: big.ref_jax(0.0, y, **p),
        "op": lambda: lambda y, p: compiled.eval_fn(0.0, y, **p),
    }
    out: dict[str, Any] = {
        "model": big.key,
        "label": big.label,
        "n_state": big.n_state,
        "eqns": eqns,
    }
    times: dict[str, dict[str, list[float]]] = {
        k: {"lower": [], "compile": [], "total": []} for k in fns
    }
    for i in range(repeat + 1):
        for name, make in fns.items():  # alternate hand / op_system rounds
            f = jax.jit(make())  # a fresh function: nothing cached
            t0 = time.perf_counter()
            lowered = f.lower(y, p)
            t1 = time.perf_counter()
            lowered.compile()
            t2 = time.perf_counter()
            if i:  # the first round warms up JAX itself
                times[name]["lower"].append(t1 - t0)
                times[name]["compile"].append(t2 - t1)
                times[name]["total"].append(t2 - t0)
    for name, tt in times.items():
        out[name] = {f"{k}_s": statistics.median(v) for k, v in tt.items()}
    out["ratio"] = out["op"]["total_s"] / out["hand"]["total_s"]
    log(
        f"  trace+compile {big.label}: hand {1e3 * out['hand']['total_s']:.1f} ms "
        f"(lower {1e3 * out['hand']['lower_s']:.1f}), op_system {1e3 * out['op']['total_s']:.1f} ms "
        f"(lower {1e3 * out['op']['lower_s']:.1f}); ratio {out['ratio']:.2f}"
    )
    return out


# -- build and import --------------------------------------------------------------


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x)."""
    lx, ly = np.log(np.asarray(xs, dtype=float)), np.log(np.asarray(ys, dtype=float))
    return float(np.polyfit(lx, ly, 1)[0])


def bench_build(
    models: Sequence[Model], settings: Settings, log: Log
) -> list[dict[str, Any]]:
    """`normalize_rhs(spec)` + `compile_rhs(rhs)` (NumPy): first build, median, and the
    tracemalloc peak of one build."""
    rows = []
    for m in models:

        def build(spec: dict[str, Any] = m.spec) -> Any:
            return compile_rhs(normalize_rhs(spec))

        first = measure_once(build, 1)["median"]
        timed = measure(
            build,
            Settings(repeat=min(settings.repeat, 5), min_time=settings.min_time),
            gc_off=False,
        )
        tracemalloc.start()
        build()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append(
            {
                "model": m.key,
                "label": m.label,
                "family": m.family,
                "n_state": m.n_state,
                "first_s": first,
                "op_s": timed["median"],
                "peak_mb": peak / 2**20,
            }
        )
        log(
            f"  {m.label:32s} build {1e3 * timed['median']:9.2f} ms (first {1e3 * first:9.2f} ms)  "
            f"peak {peak / 2**20:7.1f} MB"
        )
    return rows


_IMPORT_PROBE = (
    "import time, sys, json\n"
    "t0 = time.perf_counter()\n"
    "import {mod}\n"
    "t1 = time.perf_counter()\n"
    "heavy = sorted(m for m in ('jax', 'jaxlib', 'sympy', 'scipy', 'matplotlib', 'diffrax', 'equinox') if m in sys.modules)\n"
    "print(json.dumps({{'s': t1 - t0, 'heavy': heavy}}))\n"
)


def bench_import(repeat: int, log: Log) -> dict[str, Any]:
    """Import time of `op_system` (and of NumPy alone) in fresh interpreters."""
    out: dict[str, Any] = {}
    for mod in ("numpy", "op_system"):
        times, heavy = [], set()
        for _ in range(repeat):
            proc = subprocess.run(
                [sys.executable, "-c", _IMPORT_PROBE.format(mod=mod)],
                capture_output=True,
                text=True,
                check=True,
            )
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            times.append(res["s"])
            heavy.update(res["heavy"])
        out[mod] = {
            "median_s": statistics.median(times),
            "min_s": min(times),
            "heavy_modules": sorted(heavy),
        }
    if out["op_system"]["heavy_modules"]:
        raise AssertionError(
            f"`import op_system` imported {out['op_system']['heavy_modules']}"
        )
    log(
        f"  import op_system {1e3 * out['op_system']['median_s']:.0f} ms (numpy alone "
        f"{1e3 * out['numpy']['median_s']:.0f} ms); heavy modules imported: "
        f"{out['op_system']['heavy_modules'] or 'none'}"
    )
    return out


def fmt_seconds(s: float | None) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "—"
    if s < 1e-3:
        return f"{1e6 * s:.1f} µs"
    if s < 1:
        return f"{1e3 * s:.2f} ms"
    return f"{s:.2f} s"


# -- spec forms ------------------------------------------------------------------


def bench_forms(
    models: Sequence[Model], settings: Settings, log: Log, *, jit: bool = True
) -> list[dict[str, Any]]:
    """Each model in each spec form (`models.spec_forms`): build time, NumPy per call
    through `bind` (the parameters read once) and, under `jax.jit` with the parameters
    closed over, per call, trace + compile time and jaxpr size; all against the
    hand-written RHS in the same run."""
    from .models import spec_forms

    rows = []
    for m in models:
        y = m.y_call
        expected = m.ref_np(0.0, y, **m.params)
        for form, (spec, params) in spec_forms(m).items():
            build = measure_once(lambda spec=spec: compile_spec(spec), 3)["median"]
            compiled = compile_spec(spec)
            f = compiled.bind(params)
            err = _assert_close(f(0.0, y), expected, f"{m.label} {form}")
            hand, op, ratio = measure_pair(
                lambda m=m, y=y: m.ref_np(0.0, y, **m.params),
                lambda f=f, y=y: f(0.0, y),
                settings,
            )
            row: dict[str, Any] = {
                "model": m.key,
                "label": m.label,
                "family": m.family,
                "n_state": m.n_state,
                "form": form,
                "build_s": build,
                "hand_s": hand["median"],
                "op_s": op["median"],
                "ratio": ratio,
                "max_rel_err": err,
                "lines": len(compiled.source.splitlines()),
            }
            if m.ref_flows_np is not None:
                # flows(): the transitions' fluxes, against the flows by hand
                hand_flows = m.ref_flows_np(0.0, y, **m.params)
                if form == "flat per-cell":  # its transitions are listed cell by cell
                    hand_flows = hand_flows.reshape(3, -1).T.ravel()
                flows = compiled.bind(params, output="flows")  # as the RHS: bound
                _assert_close(flows(0.0, y), hand_flows, f"flows {form}")
                _, _, row["flows_ratio"] = measure_pair(
                    lambda m=m, y=y: m.ref_flows_np(0.0, y, **m.params),
                    lambda f=flows, y=y: f(0.0, y),
                    settings,
                )
            if jit:
                row.update(_forms_jax(m, spec, params, settings))
            rows.append(row)
            jx = (
                f"  jit {row['jit_ratio']:5.2f}x  compile {1e3 * row['compile_op_s']:7.1f} ms "
                f"(hand {1e3 * row['compile_hand_s']:6.1f})  eqns {row['eqns_op']}"
                if jit
                else ""
            )
            fl = f"  flows {row['flows_ratio']:5.2f}x" if "flows_ratio" in row else ""
            log(
                f"  {m.label:26s} {form:26s} build {1e3 * build:8.1f} ms  numpy {ratio:5.2f}x{jx}{fl}"
            )
    return rows


def _forms_jax(
    m: Model, spec: dict[str, Any], params: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    jax = setup_jax()
    import jax.numpy as jnp

    compiled = compile_spec(spec, xp=jnp)
    y = jnp.asarray(m.y_call)
    hand_p = {k: jnp.asarray(v) for k, v in m.params.items()}

    def op_fn(y: Any) -> Any:
        return compiled.eval_fn(0.0, y, **params)

    def hand_fn(y: Any) -> Any:
        return m.ref_jax(0.0, y, **hand_p)

    def compile_time(fn: Callable[..., Any]) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            jax.jit(lambda y: fn(y)).lower(
                y
            ).compile()  # a fresh function: nothing cached
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    # Best of three compilations each: XLA's CPU runtime runs a fresh executable
    # of the same few-microsecond program at one of two speeds, up to 3x apart.
    op_s, hand_s = [], []
    for _ in range(3):
        f_op = jax.jit(lambda y: op_fn(y))
        f_hand = jax.jit(lambda y: hand_fn(y))
        _assert_close(f_op(y), m.ref_np(0.0, m.y_call, **m.params), f"jax {m.label}")
        s_hand, s_op, _ = measure_pair(
            lambda f=f_hand: f(y).block_until_ready(),
            lambda f=f_op: f(y).block_until_ready(),
            settings,
        )
        op_s.append(s_op["median"])
        hand_s.append(s_hand["median"])
    jit_ratio = min(op_s) / min(hand_s)
    return {
        "jit_ratio": jit_ratio,
        "compile_op_s": compile_time(op_fn),
        "compile_hand_s": compile_time(hand_fn),
        "eqns_op": count_jaxpr_eqns(op_fn, y)["total"],
        "eqns_hand": count_jaxpr_eqns(hand_fn, y)["total"],
    }


def bench_flat_build_slope(sizes: Sequence[int], log: Log) -> dict[str, Any]:
    """Build time (`compile_spec`) of the Erlang chain written stage by stage, whose
    spec text grows linearly with the number of states, and its log-log slope."""
    from .models import erlang_chain, erlang_flat

    rows = []
    for n in sizes:
        spec, _ = erlang_flat(erlang_chain(n), prefix=True)
        chars = len(json.dumps(spec))
        build = measure_once(lambda spec=spec: compile_spec(spec), 5)[
            "min"
        ]  # least noisy
        rows.append({"n_state": n + 2, "chars": chars, "build_s": build})
        log(
            f"  flat Erlang chain, {n + 2:6d} states ({chars:8d} characters): build {1e3 * build:8.1f} ms"
        )
    slope = loglog_slope([r["chars"] for r in rows], [r["build_s"] for r in rows])
    log(f"  log-log slope of build time against spec length: {slope:.2f}")
    return {"rows": rows, "slope": slope}
