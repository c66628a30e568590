"""Progress of long stochastic runs: a tqdm bar over a NumPy run's intervals and
a one-line note before a JAX run is compiled, on standard error when asked
(`progress=True`, or `OP_SYSTEM_PROGRESS=1`), never with `progress=False`, and by
default only on a terminal (so not here: pytest captures standard error). The
bar draws no random numbers: the trajectories are the same with it or without.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from op_system import compile_spec

SIR = {
    "kind": "transitions",
    "state": ["S", "I", "R"],
    "transitions": [
        {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
        {"from": "I", "to": "R", "rate": "gamma"},
    ],
}
Y0 = np.array([290, 10, 0])
TIMES = np.arange(0.0, 6.0)  # 5 intervals
PARAMS = {"beta": 0.5, "gamma": 0.2}
MODEL = compile_spec(SIR)


def _simulate(progress: bool | None = None, **kw: Any) -> Any:
    kw = {"dt": 0.5, "seed": 3, "n": 4, **kw}
    return MODEL.simulate(Y0, TIMES, progress=progress, **kw, **PARAMS)


def test_a_numpy_run_shows_its_bar_when_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("tqdm")
    quiet = _simulate(progress=False)
    assert capsys.readouterr().err == ""
    shown = _simulate(progress=True)
    err = capsys.readouterr().err
    # 4 trajectories × 5 intervals, every one ticked
    assert "simulate chain_binomial (4 traj × 5 intervals)" in err
    assert "20/20" in err
    np.testing.assert_array_equal(shown, quiet)
    _simulate(method="ssa", dt=None, seed=np.random.default_rng(0), progress=True)
    assert "simulate ssa (4 traj × 5 intervals)" in capsys.readouterr().err


def test_the_default_is_quiet_off_a_terminal_and_follows_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tqdm")
    assert not sys.stderr.isatty()
    _simulate()
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("OP_SYSTEM_PROGRESS", "1")
    _simulate()
    assert "20/20" in capsys.readouterr().err
    _simulate(progress=False)  # the keyword wins over the environment
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("OP_SYSTEM_PROGRESS", "0")
    _simulate()
    assert capsys.readouterr().err == ""


def test_without_tqdm_there_is_no_bar_and_nothing_else_changes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` fails
    out = _simulate(progress=True)
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(out, _simulate(progress=False))


def test_worker_processes_tick_by_chunk(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    out = _simulate(progress=True, workers=2)
    err = capsys.readouterr().err
    assert "simulate chain_binomial (2 processes)" in err
    assert "4/4" in err
    np.testing.assert_array_equal(out, _simulate(progress=False))


def test_a_jax_run_says_it_compiles_the_first_time_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    jax = pytest.importorskip("jax")
    model = compile_spec(SIR, xp="jax")

    def run(seed: int, beta: float, progress: bool | None, n: int = 4) -> Any:
        return model.simulate(
            Y0,
            TIMES,
            dt=0.5,
            key=jax.random.PRNGKey(seed),
            n=n,
            progress=progress,
            beta=beta,
            gamma=0.2,
        )

    run(0, 0.5, progress=True)
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert (
        "op_system: compiling simulate (method 'chain_binomial', 4 trajectories)" in err
    )
    run(1, 0.7, progress=True)  # kept: nothing to say
    assert capsys.readouterr().err == ""
    run(1, 0.7, progress=False, n=2)  # a new run, but switched off
    assert capsys.readouterr().err == ""
