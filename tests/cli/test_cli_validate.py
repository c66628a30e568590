"""`op-system validate`: diagnostics as `file:line:column: level: ...` and JSON,
logical parameter counts, several files and globs, `--strict`.

Run in-process (`main(argv)`) with the working directory in a temporary folder;
`test_cli.py` runs the installed command as a subprocess.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from op_system._cli.cli import main

GOOD = """\
kind: transitions
state: [S, I, R]
transitions:
  - {name: infection, from: S, to: I, rate: "beta * I / sum_state()"}
  - {from: I, to: R, rate: gamma}
"""
# line 3 is `equations: {}`: the flow sequence opened on line 2 is never closed
BROKEN = "kind: expr\nstate: [x\nequations: {}\n"
# a typo in a top-level key: a warning (0.1.2 ignored unknown keys), on line 6
TYPO = GOOD + "equatons: {}\n"
REGIONS = 10
METAPOP = f"""\
kind: transitions
axes:
  - {{name: region, coords: [{", ".join(f"r{i}" for i in range(REGIONS))}]}}
state: ["S[region]", "I[region]", "R[region]"]
transitions:
  - from: "S[region]"
    to: "I[region]"
    rate: "beta * sum_over(region=j, M[region, region=j] * I[region=j]) / sum_state()"
  - {{from: "I[region]", to: "R[region]", rate: gamma}}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text(BROKEN)
    (tmp_path / "typo.yaml").write_text(TYPO)
    (tmp_path / "metapop.yaml").write_text(METAPOP)
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_yaml_syntax_errors_have_file_line_column_and_json(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "validate", "broken.yaml")
    assert status == 1
    assert out == ""
    # the parser stops at the ':' after `equations` (line 3, column 10)
    assert BROKEN.splitlines()[2][9] == ":"
    assert err.startswith("broken.yaml:3:10: error: SpecError: invalid YAML: "), err
    status, out, _ = _run(capsys, "validate", "broken.yaml", "--json")
    assert status == 1
    (record,) = json.loads(out)
    (diag,) = record["diagnostics"]
    assert record["ok"] is False
    assert (diag["file"], diag["line"], diag["column"]) == ("broken.yaml", 3, 10)
    assert diag["level"] == "error"
    assert "invalid YAML" in diag["message"]


def test_warnings_are_diagnostics_and_strict_fails_on_them(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "validate", "typo.yaml")
    assert status == 0
    assert out.startswith("ok: typo.yaml: transitions model")
    # one line in our form, at the key's value (line 6, column 11: `{}`), and no
    # raw Python warning (`...py:NN: SpecWarning: ...` with the source line)
    assert TYPO.splitlines()[5][10:] == "{}"
    (line,) = err.splitlines()
    assert line.startswith("typo.yaml:6:11: warning: SpecWarning: unknown top-level")
    assert "did you mean 'equations'?" in line
    status, out, err = _run(capsys, "validate", "typo.yaml", "--strict")
    assert status == 1
    assert out == ""
    assert "typo.yaml:6:11: warning:" in err
    status, out, _ = _run(capsys, "validate", "typo.yaml", "--json", "--strict")
    (record,) = json.loads(out)
    assert status == 1
    assert record["ok"] is False
    (diag,) = record["diagnostics"]
    assert (diag["level"], diag["category"], diag["line"]) == (
        "warning",
        "SpecWarning",
        6,
    )


def test_expression_errors_point_at_the_token(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = GOOD.replace("sum_state()", "sum_stat()")
    Path("bad.yaml").write_text(bad)
    status, _, err = _run(capsys, "validate", "bad.yaml")
    assert status == 1
    col = bad.splitlines()[3].index("sum_stat") + 1
    assert err.startswith(f"bad.yaml:4:{col}: error: ExpressionError:"), err
    assert "sum_stat" in err


def test_parameters_are_counted_as_written_with_their_shapes(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(capsys, "validate", "metapop.yaml")
    assert status == 0
    # three parameters as written: M (REGIONS x REGIONS), beta, gamma -- not the
    # REGIONS**2 + 2 = 102 expanded scalar names
    assert (
        f"3 parameters: M[region, region] ({REGIONS}×{REGIONS}), beta, gamma" in out
    ), out
    status, out, _ = _run(capsys, "validate", "metapop.yaml", "--json")
    (record,) = json.loads(out)
    assert record["n_params"] == 3
    assert record["n_param_values"] == REGIONS * REGIONS + 2
    assert [(p["name"], p["axes"], p["shape"]) for p in record["parameters"]] == [
        ("M", ["region", "region"], [REGIONS, REGIONS]),
        ("beta", [], []),
        ("gamma", [], []),
    ]


def test_several_files_and_globs_in_one_call(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("sub").mkdir()
    Path("sub/a.yaml").write_text(GOOD)
    Path("sub/b.yaml").write_text(METAPOP)
    status, out, err = _run(capsys, "validate", "good.yaml", "sub/*.yaml")
    assert status == 0, err
    assert [line.split(":")[1].strip() for line in out.splitlines()] == [
        "good.yaml",
        os.path.join("sub", "a.yaml"),
        os.path.join("sub", "b.yaml"),
    ]
    # one bad file among good ones: all are reported, the status is 1
    status, out, err = _run(capsys, "validate", "*.yaml")
    assert status == 1
    assert out.count("ok: ") == 3  # good, metapop, typo
    assert "broken.yaml:3:10: error:" in err
    status, out, _ = _run(capsys, "validate", "good.yaml", "broken.yaml", "--json")
    assert [r["ok"] for r in json.loads(out)] == [True, False]
    status, _, err = _run(capsys, "validate", "nothing/*.yaml")
    assert status == 1
    assert "no file matches 'nothing/*.yaml'" in err
    status, _, err = _run(capsys, "validate", "missing.yaml")
    assert status == 1
    assert err.startswith("missing.yaml: error: ")


def test_other_commands_print_warnings_and_errors_as_diagnostics(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "render", "typo.yaml", "--mermaid")
    assert status == 0
    assert out.startswith("flowchart LR")
    (line,) = err.splitlines()
    assert line.startswith("typo.yaml:6:11: warning: SpecWarning: unknown top-level")
    status, out, err = _run(capsys, "describe", "broken.yaml")
    assert status == 1
    assert out == ""
    assert err.startswith("broken.yaml:3:10: error: SpecError: invalid YAML")
