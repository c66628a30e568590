"""Every example runs on CPU in quick mode and writes its plot.

Each example is executed as a script (subprocess, `--quick`, output redirected to
a temporary directory) exactly as a user would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"

# example script -> PNG files it must write in quick mode
CASES = {
    "diffrax_age_seir.py": ["diffrax_age_seir.png"],
    "numpyro_fit.py": ["numpyro_fit_sir.png"],
    "vmap_ensemble.py": ["vmap_ensemble.png"],
    "grad_through_solve.py": ["grad_through_solve.png"],
    "scipy_solve_ivp.py": ["scipy_solve_ivp.png"],
    "incidence.py": ["incidence.png"],
    "fit_incidence.py": ["fit_incidence.png"],
    "stochastic.py": ["stochastic.png"],
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _quick(script: str, out: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "MPLBACKEND": "Agg",
        "OP_SYSTEM_EXAMPLES_QUICK": "1",
    }
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--out", str(out)],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def quick_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[Future[subprocess.CompletedProcess[str]], Path]]]:
    """Every example started at once, two at a time (their time is mostly XLA
    compiling on one core); each test then waits for its own."""
    slow_first = sorted(CASES, key=lambda s: s not in SLOW)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {}
        for script in slow_first:
            out = tmp_path_factory.mktemp(script.removesuffix(".py"))
            runs[script] = (pool.submit(_quick, script, out), out)
        yield runs


#: the longest quick runs, started first so that the two workers finish together
SLOW = ("fit_incidence.py", "stochastic.py", "numpyro_fit.py", "grad_through_solve.py")


@pytest.mark.parametrize("script", list(CASES))
def test_example_runs_in_quick_mode(
    script: str,
    quick_runs: dict[str, tuple[Future[subprocess.CompletedProcess[str]], Path]],
) -> None:
    future, out = quick_runs[script]
    proc = future.result()
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    for name in CASES[script]:
        png = out / name
        assert png.is_file(), f"{script} did not write {name}:\n{proc.stdout}"
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 10_000  # a real figure, not an empty canvas


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_main_demo_runs(tmp_path: Path) -> None:
    """`make demo`: compile, NumPy vs JAX, diffrax solve, gradient, table and plot."""
    proc = _run([str(EXAMPLES / "demo.py"), "--out", str(tmp_path)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "max relative difference NumPy vs JAX" in proc.stdout
    assert (tmp_path / "demo_seir.png").read_bytes().startswith(PNG_MAGIC)


def test_stiff_example_runs_in_quick_mode(tmp_path: Path) -> None:
    """BDF with and without our Jacobian agree; diffrax Kvaerno5 agrees with SciPy."""
    proc = _run([str(EXAMPLES / "stiff_age_region.py"), "--quick"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BDF, exact sparse jac" in proc.stdout
    assert "diffrax Kvaerno5" in proc.stdout
