"""Fixtures for the flepimop2 plugin tests (`flepimop2_plugin/`).

The end-to-end tests run the real `flepimop2` CLI (flepimop2 0.3.0 from PyPI,
installed next to this interpreter) in temporary working directories; the
examples they run are copied from `flepimop2_plugin/examples/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "flepimop2_plugin"
EXAMPLES_DIR = PLUGIN_DIR / "examples"


def _flepimop2_executable() -> str:
    candidate = Path(sys.executable).with_name("flepimop2")
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("flepimop2")
    if found is None:  # the plugin tests need flepimop2; fail loudly, never skip
        raise RuntimeError(
            "the flepimop2 CLI is not installed (pip install flepimop2==0.3.0)"
        )
    return found


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A fresh copy of `flepimop2_plugin/examples/` in `tmp_path/examples`."""
    dest = tmp_path / "examples"
    shutil.copytree(
        EXAMPLES_DIR, dest, ignore=shutil.ignore_patterns("model_output", "__pycache__")
    )
    return dest


@pytest.fixture
def load_yaml() -> Callable[[Path], Any]:
    def load(path: Path) -> Any:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def write_yaml() -> Callable[[Path, Any], Path]:
    def write(path: Path, data: Any) -> Path:
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return Path(path)

    return write


@pytest.fixture
def flepimop2() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `flepimop2 ARGS...` in `cwd`; returns the completed process."""
    exe = _flepimop2_executable()

    def run(
        *args: str, cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
        return subprocess.run(
            [exe, *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return run


@pytest.fixture
def read_output() -> Callable[[Path], np.ndarray]:
    """The one CSV the csv backend wrote into `directory/model_output`."""

    def read(directory: Path) -> np.ndarray:
        files = sorted((Path(directory) / "model_output").glob("*.csv"))
        assert len(files) == 1, files
        return np.loadtxt(files[0], delimiter=",", ndmin=2)

    return read
