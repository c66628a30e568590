"""`python -m benchmarks`: run the benchmark suite, print the table, write
`benchmarks/output/results.json`, `table.md` and `performance.png` (copied to
`docs/performance.png` after a full run).

    python -m benchmarks                 # full run (a few minutes)
    python -m benchmarks --quick         # small sizes, few repeats (smoke test)
    python -m benchmarks --no-external   # skip op-system 0.1.2 / sympy (separate venv)
    python -m benchmarks --sections dialect09 --venv09 /path/to/venv/bin/python
                                         # 0.9.0's routing and coord_shift at size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import models as M
from . import report, suite
from .timing import Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "output"
DOCS_PLOT = ROOT / "docs" / "performance.png"
SECTIONS = (
    "import",
    "build",
    "numpy",
    "forms",
    "scipy",
    "jax",
    "diffrax",
    "compile",
    "jacobian",
    "op_engine",
    "stochastic",
    "external",
    "dialect09",
)


def machine_info() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": model,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    info["load_avg_start"] = _loadavg()
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()
        info["memory_gb"] = round(int(mem[1]) / 2**20, 1)
    except (OSError, IndexError, ValueError):
        pass
    return info


def _loadavg() -> list[float] | None:
    """1/5/15-minute load averages (other processes on the machine skew timings)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for dist in ("op-system", "numpy", "scipy", "jax", "jaxlib", "diffrax", "sympy"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def plan(quick: bool) -> dict[str, Any]:
    """Which models each measurement uses."""
    if quick:
        sir, s4, s16 = M.sir(), M.age_seir(4), M.age_seir(16)
        chain = M.erlang_chain(20)
        regions = [M.region_seir(2, 5), M.region_seir(4, 5), M.region_seir(8, 5)]
        per_call = [sir, s4, s16, chain, *regions]
        return {
            "forms": [M.age_seir_counted(4), chain],
            "flat_slope": [100, 300, 1000],
            "per_call": per_call,
            "build": per_call,
            "build_slope": regions,
            "big": regions[-1],
            "external": [sir, s4, chain],
            "scipy": chain,
            "diffrax": [s4],
            "grad": [],  # jit of grad-through-solve alone takes ~10 s: full runs only
            "compile_big": s16,
            "compile_eqns": [s4, s16],
            "import_repeat": 2,
            "op_engine": [(2, 2)],
            "stochastic": [1],
            "jacobian": [1, 4],
        }
    sir = M.sir()
    seirs = [M.age_seir(n) for n in (4, 16, 64, 256)]
    chain = M.erlang_chain(200)
    regions = [M.region_seir(r) for r in (10, 20, 40, 100)]  # 1,000 .. 10,000 states
    per_call = [sir, *seirs, chain, *regions]
    return {
        "forms": [
            *seirs[1:],
            *(M.age_seir_counted(n) for n in (16, 64, 256)),
            chain,
            M.erlang_chain(800),
        ],
        "flat_slope": [1000, 3000, 10000],
        "per_call": per_call,
        "build": per_call,
        "build_slope": regions,
        "big": regions[-1],
        "external": per_call,
        "scipy": chain,
        "diffrax": [sir, seirs[1], seirs[3], chain, regions[-1]],
        "grad": [seirs[1], seirs[3], chain, regions[-1]],
        "compile_big": seirs[3],
        "compile_eqns": [*seirs, chain, regions[0], regions[-1]],
        "import_repeat": 7,
        "op_engine": [(4, 5), (6, 10)],
        "stochastic": [1, 100, 10_000],
        "jacobian": [1, 4, 16, 64],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--quick", action="store_true", help="small sizes and few repeats (smoke test)"
    )
    ap.add_argument(
        "--no-external",
        action="store_true",
        help="skip op-system 0.1.2 and sympy (separate venv)",
    )
    ap.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output directory (default {DEFAULT_OUT})",
    )
    ap.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    ap.add_argument(
        "--venv09",
        default=None,
        help="interpreter of a venv with op-system 0.9.0, the dialect09 peer "
        "(default: create .venv-bench-090/; skipped with --no-external)",
    )
    ap.add_argument(
        "--no-docs",
        action="store_true",
        help="do not copy the plot to docs/performance.png",
    )
    args = ap.parse_args(argv)

    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s): {sorted(unknown)}")
    if args.no_external:
        sections.discard("external")
    settings = Settings.quick() if args.quick else Settings()
    p = plan(args.quick)
    log: Callable[[str], None] = lambda msg: print(msg, flush=True)  # noqa: E731

    results: dict[str, Any] = {
        "quick": args.quick,
        "machine": machine_info(),
        "versions": versions(),
        "settings": {"repeat": settings.repeat, "min_time_s": settings.min_time},
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    t_start = time.perf_counter()

    def section(name: str, title: str, fn: Callable[[], Any]) -> None:
        if name not in sections:
            return
        log(f"\n== {title}")
        t0 = time.perf_counter()
        results[name] = fn()
        log(f"   ({time.perf_counter() - t0:.1f} s)")

    section(
        "import",
        "import time (fresh interpreter)",
        lambda: suite.bench_import(p["import_repeat"], log),
    )
    section(
        "build",
        "build time: normalize_rhs + compile_rhs",
        lambda: suite.bench_build(p["build"], settings, log),
    )
    section(
        "numpy",
        "NumPy per call: eval_fn vs hand-written NumPy",
        lambda: suite.bench_numpy_per_call(p["per_call"], settings, log),
    )
    section(
        "forms",
        "spec forms: templated, mixed, flat per-cell (NumPy via bind; jax.jit with parameters closed over)",
        lambda: {
            "rows": suite.bench_forms(p["forms"], settings, log),
            "build_slope": suite.bench_flat_build_slope(p["flat_slope"], log),
        },
    )
    section(
        "scipy",
        "scipy solve_ivp (RK45)",
        lambda: suite.bench_solve_ivp(p["scipy"], settings, log),
    )
    section(
        "jax",
        "JAX per call under jax.jit vs hand-written jax.numpy",
        lambda: suite.bench_jax_per_call(p["per_call"], settings, log),
    )

    def run_diffrax() -> dict[str, Any]:
        solves, grads = suite.bench_diffrax(p["diffrax"], p["grad"], settings, log)
        return {"solve": solves, "grad": grads}

    section(
        "diffrax",
        "diffrax.diffeqsolve (Tsit5, PIDController) and jax.grad through it",
        run_diffrax,
    )
    section(
        "compile",
        "jit trace + XLA compile, jaxpr size",
        lambda: suite.bench_jit_compile(
            p["compile_big"], p["compile_eqns"], 3 if args.quick else 5, log
        ),
    )

    def run_jacobian() -> list[dict[str, Any]]:
        from .jacobian import bench_jacobian

        return bench_jacobian(p["jacobian"], settings, log)

    section(
        "jacobian",
        "exact Jacobian (NumPy, bound) vs a hand-written dense Jacobian",
        run_jacobian,
    )

    def run_op_engine() -> list[dict[str, Any]]:
        from .op_engine_implicit import bench_op_engine_implicit

        return bench_op_engine_implicit(p["op_engine"], log)

    section(
        "op_engine",
        "op_engine's implicit SDIRK2 (flepimop2 plugin): exact Jacobian vs finite differences",
        run_op_engine,
    )

    def run_stochastic() -> dict[str, Any]:
        from .stochastic import bench_stochastic

        suite.setup_jax()  # float64, as the other JAX sections
        return bench_stochastic(p["stochastic"], 3 if args.quick else 5, log)

    section(
        "stochastic",
        "stochastic simulation: generated chain-binomial step vs hand-written JAX and NumPy; SSA throughput",
        run_stochastic,
    )

    def run_external() -> dict[str, Any]:
        from ._external import run_external as ext

        return ext(p["external"], settings, log)

    section(
        "external", "op-system 0.1.2 and sympy lambdify (separate venv)", run_external
    )

    def run_dialect09() -> list[dict[str, Any]]:
        from .dialect09 import bench_dialect09

        return bench_dialect09(
            settings,
            log,
            quick=args.quick,
            peer=not args.no_external,
            venv09=args.venv09,
        )

    section(
        "dialect09",
        "op-system 0.9.0's language at size: routing over 81 bins, axis-wide coord_shift over 200 bins",
        run_dialect09,
    )

    results["elapsed_s"] = time.perf_counter() - t_start
    results["machine"]["load_avg_end"] = _loadavg()
    results["targets"] = report.evaluate_targets(results, p)
    out_dir: Path = args.output
    out_dir.mkdir(parents=True, exist_ok=True)
    table = report.tables(results)
    print("\n" + table)
    (out_dir / "table.md").write_text(table + "\n")
    (out_dir / "results.json").write_text(
        json.dumps(results, indent=1, default=_json_default) + "\n"
    )
    plot = report.plot(results, out_dir / "performance.png")
    forms_plot = report.plot_forms(results, out_dir / "performance-forms.png")
    if (
        forms_plot is not None
        and not args.quick
        and not args.no_docs
        and args.output == DEFAULT_OUT
    ):
        shutil.copyfile(forms_plot, ROOT / "docs" / "performance-forms.png")
        log("forms plot copied to docs/performance-forms.png")
    if (
        plot is not None
        and not args.quick
        and not args.no_docs
        and args.output == DEFAULT_OUT
        and {"numpy", "build"} <= sections
    ):
        shutil.copyfile(plot, DOCS_PLOT)
        log(f"plot copied to {DOCS_PLOT.relative_to(ROOT)}")
    log(
        f"results: {out_dir / 'results.json'}   table: {out_dir / 'table.md'}   plot: {plot}"
    )
    log(f"total {results['elapsed_s']:.0f} s")
    return 0


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj)}")


if __name__ == "__main__":
    sys.exit(main())
