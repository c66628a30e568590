"""Worker run inside the separate venv (`.venv-bench-012`) that has op-system 0.1.2.

op-system 0.1.2 shares the import name `op_system` with this package, so it is
measured in its own interpreter. `benchmarks/_external.py` writes a JSON job and
runs `python benchmarks/_worker012.py JOB.json`; this prints one JSON object.

Job fields: `impl` (`"op012"` or `"sympy"`), `spec` (the 0.1.2 form of the
model), `params` (0.1.2's expanded scalar names), `y`, `expected` (the
hand-written NumPy `dydt` at `y`), `repeat`, `min_time`.

* `op012`: build = `normalize_rhs(spec)` + `compile_rhs(rhs)`; per call =
  `eval_fn(0.0, y, **params)`.
* `sympy`: 0.1.2's `normalize_rhs` expands the templates into one string per
  state and per alias (not timed); build = parse every string with sympy,
  substitute the aliases, `lambdify((t, states, params), equations, "numpy",
  cse=True)`; per call = `numpy.array(f(0.0, y, p))` with `p` the parameter
  vector.

Each result is checked against `expected` (`allclose`) before timing. Only the
standard library, NumPy, sympy and op-system 0.1.2 are imported here.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import Settings, measure

_HELPERS = ("np", "t", "sum_state", "sum_prefix")


def _check(got: np.ndarray, expected: np.ndarray) -> float:
    scale = float(np.max(np.abs(expected))) or 1.0
    if got.shape != expected.shape or not np.allclose(
        got, expected, rtol=1e-9, atol=1e-12 * scale
    ):
        raise AssertionError(
            f"result differs from the hand-written RHS (max abs diff {np.max(np.abs(got - expected))})"
        )
    return float(np.max(np.abs(got - expected)) / scale)


def run_op012(job: dict) -> dict:
    import op_system
    from op_system import compile_rhs, normalize_rhs

    t0 = time.perf_counter()
    rhs = normalize_rhs(job["spec"])
    compiled = compile_rhs(rhs)
    build = time.perf_counter() - t0
    y = np.asarray(job["y"], dtype=np.float64)
    params = job["params"]
    err = _check(compiled.eval_fn(0.0, y, **params), np.asarray(job["expected"]))
    settings = Settings(repeat=job["repeat"], min_time=job["min_time"])
    per_call = measure(lambda: compiled.eval_fn(0.0, y, **params), settings)
    return {
        "version": op_system.__version__,
        "build_s": build,
        "per_call": per_call,
        "max_rel_err": err,
    }


def run_sympy(job: dict) -> dict:
    import sympy as sp
    from sympy.parsing.sympy_parser import parse_expr

    from op_system import normalize_rhs

    rhs = normalize_rhs(job["spec"])
    equations, aliases = rhs.equations, rhs.aliases  # 0.1.2's expanded strings
    t0 = time.perf_counter()
    states = list(rhs.state_names)
    pnames = [p for p in rhs.param_names if p not in _HELPERS]
    s_syms = [sp.Symbol(n) for n in states]
    p_syms = [sp.Symbol(n) for n in pnames]
    t = sp.Symbol("t")
    local: dict[str, object] = dict(zip(states, s_syms, strict=True))
    local.update(zip(pnames, p_syms, strict=True))
    local["t"] = t
    total = sp.Add(*s_syms)
    local["sum_state"] = lambda: total
    local["sum_prefix"] = lambda prefix: sp.Add(
        *[s for n, s in zip(states, s_syms, strict=True) if n.startswith(prefix)]
    )
    for name, text in aliases.items():  # 0.1.2 keeps aliases in dependency order
        local[name] = parse_expr(text, local_dict=local)
    exprs = [parse_expr(text, local_dict=local) for text in equations]
    fn = sp.lambdify((t, s_syms, p_syms), exprs, modules="numpy", cse=True)
    build = time.perf_counter() - t0
    y = np.asarray(job["y"], dtype=np.float64)
    p = np.asarray([job["params"][n] for n in pnames], dtype=np.float64)
    err = _check(np.array(fn(0.0, y, p), dtype=np.float64), np.asarray(job["expected"]))
    settings = Settings(repeat=job["repeat"], min_time=job["min_time"])
    per_call = measure(lambda: np.array(fn(0.0, y, p), dtype=np.float64), settings)
    return {
        "version": sp.__version__,
        "build_s": build,
        "per_call": per_call,
        "max_rel_err": err,
    }


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[1]).read_text())
    result = run_op012(job) if job["impl"] == "op012" else run_sympy(job)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
