"""`op-system validate` on a flepimop2 config checks it as flepimop2 will.

Each broken config is a copy of the shipped `seir_age_wrapper.yaml` example
with one mistake. The real `flepimop2 simulate` (flepimop2 0.3.0 with this
repository's plugin) is run on the first ones and must fail, as the reference
for "flepimop2 rejects this"; `op-system validate` must then fail too, with a
message naming the mistake at its line in the config. The unbroken example
passes both (the plugin tests run it to the end).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from op_system._cli.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "flepimop2_plugin" / "examples"
CONFIG = (EXAMPLES / "seir_age_wrapper.yaml").read_text()
LABELS = "labels: [child, adult, senior]"
GAMMA = "  gamma: 0.1\n"
CONTACT = "value: [[3.0, 1.0, 0.5], [1.0, 2.0, 0.7], [0.5, 0.7, 1.5]]"


def _broken(old: str, new: str) -> str:
    assert CONFIG.count(old) == 1
    return CONFIG.replace(old, new)


AXES_SECTION = (
    "axes:\n  age:\n    kind: categorical\n    "
    + LABELS
    + "  # the spec's coords, in the same order\n"
)
BROKEN = {
    # the labels in another order than the spec's coords
    "order": _broken(LABELS, "labels: [child, senior, adult]"),
    # no axes: section at all
    "no_axes": _broken(AXES_SECTION, ""),
    # a parameter the model reads is not configured
    "no_gamma": _broken(GAMMA, ""),
    # a matrix of the wrong size
    "contact_2x2": _broken(CONTACT, "value: [[3.0, 1.0], [1.0, 2.0]]"),
}
# what the real flepimop2 says about each
FLEPIMOP2_SAYS = {
    "order": "must equal the spec's coords",
    "no_axes": "which is not declared in the config's top-level axes",
    "no_gamma": "Required parameter 'gamma' was requested but not configured",
    "contact_2x2": "is not compatible with resolved shape",
}
# (line of the config, words of our message)
WE_SAY = {
    "order": (
        CONFIG.splitlines().index(
            "    " + LABELS + "  # the spec's coords, in the same order"
        )
        + 1,
        "axes.age.labels ['child', 'senior', 'adult'] must equal the spec's coords "
        "['child', 'adult', 'senior'] in the same order",
    ),
    "no_axes": (
        BROKEN["no_axes"].splitlines().index("  - module: op_system") + 1,
        "parameter 'contact' is indexed by axis 'age', which the config's top-level "
        "axes: section does not declare",
    ),
    "no_gamma": (
        BROKEN["no_gamma"].splitlines().index("parameter:") + 2,
        "parameter 'gamma' is not configured",
    ),
    "contact_2x2": (
        BROKEN["contact_2x2"].splitlines().index("  contact:") + 2,
        "parameter 'contact' has a value of shape (2, 2), but the model indexes it "
        "by ['age', 'age'], shape (3, 3)",
    ),
}


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    cwd = Path.cwd()
    os.chdir(tmp_path / "examples")
    try:
        yield tmp_path / "examples"
    finally:
        os.chdir(cwd)


def _validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["validate", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_flepimop2_rejects_it_and_so_does_validate(
    case: str, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(f"{case}.yaml").write_text(BROKEN[case])
    run = subprocess.run(
        [str(Path(sys.executable).with_name("flepimop2")), "simulate", f"{case}.yaml"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode != 0
    assert FLEPIMOP2_SAYS[case] in run.stderr, run.stderr[-2000:]
    status, _, err = _validate(capsys, f"{case}.yaml")
    assert status == 1
    line, words = WE_SAY[case]
    assert f"{case}.yaml:{line}:" in err, err
    assert words in err, err
    assert ": error: Flepimop2ConfigError: " in err


def test_the_shipped_examples_pass(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _validate(capsys, "*.yaml", "--strict")
    assert status == 0, err
    assert err == ""
    assert out.count("(flepimop2 config)") == len(list(folder.glob("*.yaml")))


def test_engines_and_unused_parameters(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("typo.yaml").write_text(
        _broken("module: wrapper", "module: wraper").replace(
            GAMMA, GAMMA + "  gama: 0.1\n"
        )
    )
    status, _, err = _validate(capsys, "typo.yaml")
    assert status == 1
    assert "engine module 'wraper' is not installed" in err
    assert "(did you mean 'wrapper'?)" in err
    assert (
        "warning: Flepimop2ConfigWarning: parameter 'gama' is configured but the model does not read it"
        in err
    )
    # diffrax integrates JAX systems only (its validate_system says so at run time)
    Path("diffrax.yaml").write_text(
        (EXAMPLES / "seir_age_diffrax.yaml")
        .read_text()
        .replace("array_backend: jax", "array_backend: numpy")
    )
    status, _, err = _validate(capsys, "diffrax.yaml")
    assert status == 1
    assert "does not set options.array_backend: jax" in err
    # state_change must be flow for op_system
    Path("delta.yaml").write_text(_broken("state_change: flow", "state_change: delta"))
    status, _, err = _validate(capsys, "delta.yaml")
    assert status == 1
    assert "write state_change: flow" in err
