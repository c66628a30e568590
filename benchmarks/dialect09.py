"""op-system 0.9.0's language at size: routing over 81 bins and an axis-wide
`coord_shift` over 200 bins.

Two models, each written as a 0.9.0 spec (the same dict op_system and the real
0.9.0 compile) and by hand:

* **routing**: `X[loc, imm]` over `n_loc` locations and 81 ordinal immunity
  bins, one transition `from: X[loc, imm:i]`, `to: X[loc, imm:j]` at rate
  `w[loc] * G[imm:i, imm:j]` (every bin to every bin). By hand (NumPy and
  `jax.numpy`): `w[:, None] * (X @ G - X * G.sum(axis=1))`, one matrix product;
* **coord_shift**: `S[age]` over 200 ordinal age bins, aged one bin at rate
  `r[age]` (`boundary: stay`), and deaths `S[age] -> D` at rate `mu[age]`. By
  hand: the outflow `r * S` subtracted, and added back one bin on (shifted
  slices); the last bin keeps its own.

For each: the op_system compile time (`compile_spec`, first and median), the
NumPy per-call time of `eval_fn` against the hand-written RHS (paired rounds),
the `jax.jit` per-call time and trace+XLA-compile time against hand-written
`jax.numpy`, and the peer op-system 0.9.0 (compile and NumPy per call) run in
its own venv by `_worker09.py`. Every implementation is checked against the
hand-written RHS before it is timed.
"""

from __future__ import annotations

import copy
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from op_system import compile_spec

from ._external import pinned_venv, run_worker
from .models import Model
from .suite import _assert_close, _jax_inputs, _us, setup_jax
from .timing import Settings, measure_once, measure_pair

__all__ = ["bench_dialect09", "coord_shift_model", "ensure_venv09", "routing_model"]

ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = ROOT / ".venv-bench-090"
WORKER = Path(__file__).resolve().parent / "_worker09.py"
COMPILE_TARGET_S = 0.5
RATIO_TARGET = 1.5

Log = Callable[[str], None]


# -- models ------------------------------------------------------------------------


def routing_spec(n_loc: int, n_bins: int) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": [
            {"name": "loc", "coords": [f"l{i}" for i in range(n_loc)]},
            {
                "name": "imm",
                "type": "ordinal",
                "coords": [f"x{i}" for i in range(n_bins)],
            },
        ],
        "state": ["X[loc, imm]"],
        "transitions": [
            {
                "name": "waning",
                "from": "X[loc, imm:i]",
                "to": "X[loc, imm:j]",
                "rate": "w[loc] * G[imm:i, imm:j]",
            }
        ],
    }


def routing_np(t: Any, y: np.ndarray, w: np.ndarray, G: np.ndarray) -> np.ndarray:
    X = y.reshape(w.shape[0], G.shape[0])
    return (w[:, None] * (X @ G - X * G.sum(axis=1))).reshape(-1)


def routing_jax(t: Any, y: Any, w: Any, G: Any) -> Any:
    X = y.reshape(w.shape[0], G.shape[0])
    return (w[:, None] * (X @ G - X * G.sum(axis=1))).reshape(-1)


def routing_model(n_loc: int = 4, n_bins: int = 81) -> Model:
    rng = np.random.default_rng(81)
    n = n_loc * n_bins
    spec = routing_spec(n_loc, n_bins)
    return Model(
        key=f"routing_{n_loc}x{n_bins}",
        label=f"routing {n_loc} loc × {n_bins} bins",
        family="routing",
        spec=spec,
        spec_012=spec,
        params={
            "w": rng.uniform(0.1, 1.0, n_loc),
            "G": rng.uniform(0.0, 0.02, (n_bins, n_bins)),
        },
        ref_np=routing_np,
        ref_jax=routing_jax,
        n_state=n,
        y_call=rng.uniform(0.5, 2.0, n),
        y0=rng.uniform(0.5, 2.0, n),
        t1=10.0,
    )


def coord_shift_spec(n_bins: int) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": [
            {
                "name": "age",
                "type": "ordinal",
                "coords": [f"a{i}" for i in range(n_bins)],
            }
        ],
        "state": ["S[age]", "D"],
        "transitions": [
            {
                "name": "aging",
                "coord_shift": {
                    "axis": "age",
                    "step": 1,
                    "rate": "r[age]",
                    "boundary": "stay",
                },
                "apply_to": ["S"],
            },
            {"name": "death", "from": "S[age]", "to": "D", "rate": "mu[age]"},
        ],
    }


def coord_shift_np(t: Any, y: np.ndarray, r: np.ndarray, mu: np.ndarray) -> np.ndarray:
    S = y[:-1]
    aging = r * S
    deaths = mu * S
    out = np.empty_like(y)
    out[:-1] = -aging - deaths
    out[1:-1] += aging[:-1]
    out[-2] += aging[-1]  # boundary `stay`: the last bin keeps what it ages
    out[-1] = deaths.sum()
    return out


def coord_shift_jax(t: Any, y: Any, r: Any, mu: Any) -> Any:
    import jax.numpy as jnp

    S = y[:-1]
    aging = r * S
    deaths = mu * S
    inflow = jnp.concatenate([jnp.zeros(1), aging[:-1]]).at[-1].add(aging[-1])
    return jnp.concatenate([inflow - aging - deaths, deaths.sum()[None]])


def coord_shift_model(n_bins: int = 200) -> Model:
    rng = np.random.default_rng(200)
    spec = coord_shift_spec(n_bins)
    return Model(
        key=f"coord_shift_{n_bins}",
        label=f"coord_shift {n_bins} bins + sink",
        family="coord_shift",
        spec=spec,
        spec_012=spec,
        params={
            "r": rng.uniform(0.05, 0.2, n_bins),
            "mu": rng.uniform(0.0, 0.01, n_bins),
        },
        ref_np=coord_shift_np,
        ref_jax=coord_shift_jax,
        n_state=n_bins + 1,
        y_call=rng.uniform(0.5, 2.0, n_bins + 1),
        y0=rng.uniform(0.5, 2.0, n_bins + 1),
        t1=10.0,
    )


def models(quick: bool) -> list[Model]:
    del quick  # the sizes are the targets' own: small enough for a quick run too
    return [routing_model(4, 81), coord_shift_model(200)]


# -- the peer: op-system 0.9.0 in its own venv ---------------------------------------


def ensure_venv09(python: str | None, log: Log = print) -> Path:
    """The interpreter of a venv with op-system 0.9.0: `python` if given (or the
    `OP_SYSTEM_090_PYTHON` environment variable), else `.venv-bench-090/` at the
    repository root (gitignored), created once with `pip install op-system==0.9.0`
    and this interpreter's NumPy version."""
    given = python or os.environ.get("OP_SYSTEM_090_PYTHON")
    if given:
        return Path(given)
    return pinned_venv(VENV_DIR, ["op-system==0.9.0", f"numpy=={np.__version__}"], log)


def run_peer(
    py: Path, m: Model, settings: Settings, compile_repeat: int
) -> dict[str, Any]:
    """op-system 0.9.0's compile and per-call times on `m` (or `error`/`skipped`)."""
    job = {
        "spec": m.spec,
        "params": {k: np.asarray(v).tolist() for k, v in m.params.items()},
        "y": m.y_call.tolist(),
        "expected": m.ref_np(0.0, m.y_call, **m.params).tolist(),
        "repeat": min(settings.repeat, 5),
        "min_time": settings.min_time,
        "compile_repeat": compile_repeat,
    }
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return run_worker(py, WORKER, job, 600, env)


# -- the measurements ----------------------------------------------------------------


def _compile_times(m: Model, repeat: int) -> dict[str, float]:
    """`compile_spec` of a fresh copy of the spec: the first call and the median."""
    first = measure_once(lambda: compile_spec(copy.deepcopy(m.spec)), 1)["median"]
    again = measure_once(lambda: compile_spec(copy.deepcopy(m.spec)), repeat)
    return {"first_s": first, "median_s": again["median"]}


def _jit_compile_times(m: Model, repeat: int) -> dict[str, Any]:
    """Trace + XLA compile of a fresh `jax.jit`, hand-written and op_system alternating."""
    jax = setup_jax()
    import jax.numpy as jnp

    compiled = compile_spec(m.spec, xp=jnp)
    y, p = _jax_inputs(m)
    makers = {
        "hand": lambda: lambda y, p: m.ref_jax(0.0, y, **p),
        "op": lambda: lambda y, p: compiled.eval_fn(0.0, y, **p),
    }
    times: dict[str, list[float]] = {k: [] for k in makers}
    for i in range(repeat + 1):
        for name, make in makers.items():
            f = jax.jit(make())
            t0 = time.perf_counter()
            f.lower(y, p).compile()
            if i:  # the first round warms JAX itself up
                times[name].append(time.perf_counter() - t0)
    hand, op = statistics.median(times["hand"]), statistics.median(times["op"])
    return {"hand_s": hand, "op_s": op, "ratio": op / hand}


def bench_dialect09(
    settings: Settings,
    log: Log,
    *,
    quick: bool = False,
    peer: bool = True,
    venv09: str | None = None,
) -> list[dict[str, Any]]:
    """One row per model: compile, NumPy per call, JAX per call and jit compile, the peer."""
    jax = setup_jax()
    import jax.numpy as jnp

    repeat = 3 if quick else 7
    py = ensure_venv09(venv09, log) if peer else None
    rows = []
    for m in models(quick):
        row: dict[str, Any] = {"model": m.key, "label": m.label, "n_state": m.n_state}
        row["compile"] = _compile_times(m, repeat)
        compiled = compile_spec(m.spec)
        y, params = m.y_call, m.params
        expected = m.ref_np(0.0, y, **params)
        err = _assert_close(compiled.eval_fn(0.0, y, **params), expected, m.label)
        hand, op, ratio = measure_pair(
            lambda m=m, y=y, params=params: m.ref_np(0.0, y, **params),
            lambda c=compiled, y=y, params=params: c.eval_fn(0.0, y, **params),
            settings,
        )
        row["numpy"] = {
            "hand_s": hand["median"],
            "op_s": op["median"],
            "ratio": ratio,
            "paired_ratio": op["paired_ratio"],
            "max_rel_err": err,
        }
        compiled_jax = compile_spec(m.spec, xp=jnp)
        yj, pj = _jax_inputs(m)
        f_op = jax.jit(lambda y, p, c=compiled_jax: c.eval_fn(0.0, y, **p))
        f_hand = jax.jit(lambda y, p, m=m: m.ref_jax(0.0, y, **p))
        _assert_close(f_hand(yj, pj), expected, f"hand-written jax {m.label}")
        _assert_close(f_op(yj, pj), expected, f"jax {m.label}")
        jhand, jop, jratio = measure_pair(
            lambda f=f_hand, yj=yj, pj=pj: f(yj, pj).block_until_ready(),
            lambda f=f_op, yj=yj, pj=pj: f(yj, pj).block_until_ready(),
            settings,
        )
        row["jax"] = {"hand_s": jhand["median"], "op_s": jop["median"], "ratio": jratio}
        row["jit_compile"] = _jit_compile_times(m, 3 if quick else 5)
        if py is not None:
            row["peer_090"] = run_peer(py, m, settings, repeat)
        rows.append(row)
        peer_text = ""
        res = row.get("peer_090")
        if res and "per_call" in res:
            peer_text = (
                f"; 0.9.0 compile {1e3 * res['compile_s']:.1f} ms, per call "
                f"{_us(res['per_call']['median'])}"
            )
        elif res:
            peer_text = f"; 0.9.0 {res}"
        log(
            f"  {m.label:30s} compile {1e3 * row['compile']['median_s']:.1f} ms"
            f" (first {1e3 * row['compile']['first_s']:.1f});"
            f" NumPy hand {_us(hand['median'])} op {_us(op['median'])} ratio {ratio:.2f};"
            f" jit per call ratio {jratio:.2f}; jit compile ratio"
            f" {row['jit_compile']['ratio']:.2f}{peer_text}"
        )
    return rows
