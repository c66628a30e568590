"""The `op-system` command line, run as a subprocess (as a user runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = """\
kind: transitions
state: [S, I, R]
transitions:
  - {name: infection, from: S, to: I, rate: "beta * I / sum_state()"}
  - {from: I, to: R, rate: gamma}
"""
BAD = """\
kind: transitions
state: [S, I, R]
transitions:
  - from: S
    to: I
    rate: "beta * I / sum_stat()"
  - {from: I, to: R, rate: gamma}
"""
CONFIG = """\
name: demo
system:
  - module: op_system
    spec_file: good.yaml
  - module: op_system
    spec:
      state: [x]
      equations:
        x: "-k * y"
engine:
  - module: wrapper
parameter:
  beta: 0.3
  gamma: 0.1
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "op_system", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "other.yaml").write_text("system:\n  - module: something_else\n")
    return tmp_path


def test_validate_reports_ok_and_errors_with_positions(files: Path) -> None:
    ok = _run("validate", "good.yaml", cwd=files)
    assert ok.returncode == 0, ok.stderr
    assert (
        "ok: good.yaml: transitions model, 3 states, 2 parameters: beta, gamma"
        in ok.stdout
    )
    bad = _run("validate", "bad.yaml", cwd=files)
    assert bad.returncode == 1
    # the position of the bad token itself: line 6, column 23 is `sum_stat`
    assert bad.stderr.startswith("bad.yaml:6:23: error: ExpressionError:"), bad.stderr
    line = BAD.splitlines()[5]
    assert line[22:].startswith("sum_stat")
    assert "sum_stat" in bad.stderr


def test_validate_a_flepimop2_config_as_json(files: Path) -> None:
    out = _run("validate", "config.yaml", "--json", cwd=files)
    assert out.returncode == 1  # the second system is invalid
    results = json.loads(out.stdout)
    assert [r["ok"] for r in results] == [True, False, True]
    assert results[0]["n_state"] == 3
    err = results[1]
    assert err["entry"] == "config.yaml (system[1])"
    assert err["path"] == "equations['x']"
    assert err["location"] == "config.yaml:9:12"  # the line of x's equation
    assert err["token"] == "y"
    assert "clashes with the state argument" in err["message"]
    # the config as flepimop2 reads it: a list keeps its first entry only
    (warning,) = results[2]["diagnostics"]
    assert results[2]["entry"] == "config.yaml (flepimop2 config)"
    assert warning["level"] == "warning"
    assert warning["line"] == 5
    assert "first entry only" in warning["message"]


def test_files_without_a_spec_and_missing_files_fail_clearly(files: Path) -> None:
    other = _run("validate", "other.yaml", cwd=files)
    assert other.returncode == 1
    assert "holds no op_system spec" in other.stderr
    missing = _run("validate", "nope.yaml", cwd=files)
    assert missing.returncode == 1
    assert "No such file" in missing.stderr


def test_describe_render_and_source(files: Path) -> None:
    described = _run("describe", "good.yaml", cwd=files)
    assert described.returncode == 0
    assert described.stdout.startswith("transitions model: 3 states")
    mermaid = _run("render", "good.yaml", "--mermaid", cwd=files)
    assert mermaid.stdout.startswith("flowchart LR")
    dot = _run("render", "good.yaml", "--dot", cwd=files)
    assert dot.stdout.startswith("digraph model {")
    latex = _run("render", "good.yaml", "--latex", cwd=files)
    assert latex.stdout.startswith("\\begin{aligned}"), latex.stderr
    numpy_src = _run("source", "good.yaml", cwd=files)
    assert numpy_src.stdout.startswith("def rhs(t, y, **params):")
    jax_src = _run("source", "good.yaml", "--backend", "jax", cwd=files)
    assert "_sum(y)" in jax_src.stdout
    assert "_add_reduce" not in jax_src.stdout
    both = _run("describe", "config.yaml", cwd=files)
    assert both.returncode == 1  # the second system is invalid: reported, not a trace
    assert "Traceback" not in both.stderr
    assert "# config.yaml (system[0])" in both.stdout
    assert _run("render", "good.yaml", cwd=files).returncode == 2  # a format is needed


def test_the_console_script_is_installed(files: Path) -> None:
    script = Path(sys.executable).parent / "op-system"
    assert script.exists(), "reinstall the package (pip install -e .)"
    out = subprocess.run(
        [str(script), "validate", "good.yaml"],
        cwd=files,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
