"""op-system 0.1.2 and sympy `lambdify`, measured in a separate venv.

op-system 0.1.2 installs under the same import name (`op_system`) as this
package, so it cannot be imported next to it. `ensure_venv` creates
`.venv-bench-012/` at the repository root (gitignored) with
`pip install op-system==0.1.2 sympy numpy` (NumPy and sympy pinned to the
versions of the running interpreter, so both sides use the same NumPy), and
`run_external` runs `_worker012.py` there once per (implementation, model),
each in its own process with a timeout.

Builds of 0.1.2 and (above all) of sympy grow faster than linearly with the
model (sympy's `lambdify(cse=True)` about cubically at these sizes): before each
build its time is predicted conservatively from the previous (smaller) model of
the same family as `t_prev * (n / n_prev) ** 3`; a build predicted to take more
than `BUILD_BUDGET_S` seconds is skipped and reported as such (as are the larger
models of that family).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .models import Model
from .timing import Settings

__all__ = [
    "BUILD_BUDGET_S",
    "VENV_DIR",
    "ensure_venv",
    "pinned_venv",
    "run_external",
    "run_worker",
]

ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = ROOT / ".venv-bench-012"
WORKER = Path(__file__).resolve().parent / "_worker012.py"
BUILD_BUDGET_S = 60.0
IMPLS = ("op012", "sympy")
GROWTH_EXPONENT = 3.0


def _requirements() -> list[str]:
    reqs = ["op-system==0.1.2", f"numpy=={np.__version__}"]
    try:
        import importlib.metadata as md

        reqs.append(f"sympy=={md.version('sympy')}")
    except Exception:  # sympy not installed here: take the newest
        reqs.append("sympy")
    return reqs


def pinned_venv(
    venv_dir: Path, reqs: Sequence[str], log: Callable[[str], None] = print
) -> Path:
    """The interpreter of a venv at `venv_dir` with `reqs` installed: created
    once, and again whenever the requirements change (a stamp file records them)."""
    py = venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    stamp = venv_dir / ".bench-installed"
    if py.exists() and stamp.exists() and stamp.read_text() == "\n".join(reqs):
        return py
    log(f"creating {venv_dir.name}/ with {' '.join(reqs)} (first run only)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv_dir)], check=True)
    subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *reqs,
        ],
        check=True,
    )
    stamp.write_text("\n".join(reqs))
    return py


def ensure_venv(log: Callable[[str], None] = print) -> Path:
    """Create (once) the separate venv and return its interpreter."""
    return pinned_venv(VENV_DIR, _requirements(), log)


def run_worker(
    py: Path,
    worker: Path,
    job: dict[str, Any],
    timeout: float,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run `worker` on `job` (a JSON file) with the interpreter `py`, in a
    temporary folder: its last output line (JSON), or `error`/`skipped`."""
    with tempfile.TemporaryDirectory(prefix="op-bench-") as tmp:
        path = Path(tmp) / "job.json"
        path.write_text(json.dumps(job))
        try:
            proc = subprocess.run(
                [str(py), str(worker), str(path)],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=tmp,  # never pick up this repository's op_system
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"skipped": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit {proc.returncode}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run_external(
    models: Sequence[Model],
    settings: Settings,
    log: Callable[[str], None] = print,
    budget_s: float = BUILD_BUDGET_S,
) -> dict[str, dict[str, Any]]:
    """`{model.key: {"op012": result, "sympy": result}}`; a result is a dict with
    `build_s`, `per_call` (see `timing.measure`), or `skipped` / `error`."""
    py = ensure_venv(log)
    out: dict[str, dict[str, Any]] = {m.key: {} for m in models}
    for impl in IMPLS:
        last: dict[str, tuple[int, float]] = {}  # family -> (n_state, build seconds)
        for m in sorted(models, key=lambda m: (m.family, m.n_state)):
            prev = last.get(m.family)
            if prev is not None and prev[1] < 0:
                out[m.key][impl] = {
                    "skipped": "a smaller model of this family was skipped"
                }
                log(f"  {impl:6s} {m.label:32s} skipped: {out[m.key][impl]['skipped']}")
                continue
            if prev is not None:
                predicted = prev[1] * (m.n_state / prev[0]) ** GROWTH_EXPONENT
                if predicted > budget_s:
                    out[m.key][impl] = {
                        "skipped": f"build predicted {predicted:.0f} s > {budget_s:.0f} s",
                        "predicted_build_s": predicted,
                    }
                    last[m.family] = (m.n_state, -1.0)
                    log(
                        f"  {impl:6s} {m.label:32s} skipped: {out[m.key][impl]['skipped']}"
                    )
                    continue
            job = {
                "impl": impl,
                "spec": m.spec_012,
                "params": m.scalar_params(),
                "y": m.y_call.tolist(),
                "expected": m.ref_np(0.0, m.y_call, **m.params).tolist(),
                "repeat": min(settings.repeat, 5),
                "min_time": settings.min_time,
            }
            res = run_worker(py, WORKER, job, timeout=budget_s + 120.0)
            out[m.key][impl] = res
            if "build_s" in res:
                last[m.family] = (m.n_state, res["build_s"])
                log(
                    f"  {impl:6s} {m.label:32s} build {res['build_s']:8.3f} s   "
                    f"per call {1e6 * res['per_call']['median']:12.1f} µs"
                )
            else:
                last[m.family] = (m.n_state, -1.0)
                log(f"  {impl:6s} {m.label:32s} {res}")
    return out
