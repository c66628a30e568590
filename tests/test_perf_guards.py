"""Performance regression guards that do not time anything (issue 6).

* the jaxpr of the jitted age-SEIR RHS does not grow with the number of age groups;
* the generated source of a templated model (and of a 200-stage chain) has no
  per-state statement;
* `import op_system` imports neither jax, sympy nor scipy;
* `python -m benchmarks --quick --no-external` runs (smoke test of the benchmark suite).

The timed benchmarks themselves live in `benchmarks/` (`make bench`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from op_system import compile_spec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the benchmarks package (not installed) holds the models

from benchmarks.models import age_seir, erlang_spec, region_seir  # noqa: E402


def _jaxpr_eqns(n: int) -> int:
    """Equations (sub-jaxprs included) of the jitted age-SEIR RHS with N age groups."""
    jnp = pytest.importorskip("jax.numpy")
    from benchmarks.suite import count_jaxpr_eqns

    m = age_seir(n)
    compiled = compile_spec(m.spec, xp=jnp)
    y = jnp.asarray(m.y_call)
    params = {k: jnp.asarray(v) for k, v in m.params.items()}
    return count_jaxpr_eqns(lambda y, p: compiled.eval_fn(0.0, y, **p), y, params)["total"]


def test_jaxpr_size_does_not_grow_with_n() -> None:
    small, big = _jaxpr_eqns(16), _jaxpr_eqns(256)
    assert big <= 2 * small, f"jaxpr of the N=256 age SEIR has {big} equations, N=16 has {small}"
    assert big < 200, f"jaxpr of the N=256 age SEIR has {big} equations (one op per state?)"


def _lines(spec: dict) -> int:
    return len(compile_spec(spec).source.splitlines())


@pytest.mark.parametrize(
    ("small", "big"),
    [
        (age_seir(4).spec, age_seir(256).spec),
        (region_seir(2, 3).spec, region_seir(40, 25).spec),
    ],
    ids=["age_seir", "region_seir"],
)
def test_templated_source_has_no_per_state_statement(small: dict, big: dict) -> None:
    c_small, c_big = compile_spec(small), compile_spec(big)
    src_small, src_big = c_small.source, c_big.source
    assert len(src_big.splitlines()) <= len(src_small.splitlines()), src_big
    # Shapes are spelled out (4 -> 256); nothing else may grow with the model.
    assert len(src_big) <= 1.5 * len(src_small) + 200, src_big
    named = [n for n in c_big.state_names if n in src_big]
    assert not named, f"expanded state names in the generated source: {named[:5]}"


def test_chain_source_has_no_per_stage_statement() -> None:
    # issue 6: chains lower to shifted slices, not one statement per stage
    assert _lines(erlang_spec(200)) <= _lines(erlang_spec(10)), compile_spec(erlang_spec(200)).source


def test_import_does_not_pull_heavy_modules() -> None:
    code = (
        "import sys, op_system\n"
        "heavy = [m for m in ('jax', 'jaxlib', 'sympy', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_benchmark_suite_quick_smoke(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    pytest.importorskip("diffrax")
    pytest.importorskip("scipy")
    docs_plot = ROOT / "docs" / "performance.png"
    before = docs_plot.stat().st_mtime_ns if docs_plot.exists() else None
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-external", "--output", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    assert {"numpy", "jax", "diffrax", "build", "import", "compile", "scipy"} <= results.keys()
    assert results["targets"], "no target evaluated"
    assert (tmp_path / "performance.png").stat().st_size > 0
    assert (tmp_path / "table.md").read_text().count("|") > 20
    after = docs_plot.stat().st_mtime_ns if docs_plot.exists() else None
    assert before == after, "a --quick run must not overwrite docs/performance.png"
