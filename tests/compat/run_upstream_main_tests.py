"""Run upstream op_system's test suite at a given commit, unchanged, against the installed op_system.

For developers. No release of op-system on PyPI ships the tests of upstream's
main branch between 0.1.2 and the JAX rework (0.1.2's sdist has 0.1.2's tests,
the next release has far more), so this script reads them from a local git
checkout or bare mirror of the upstream repository (ACCIDDA/op_system):

    python tests/compat/run_upstream_main_tests.py /path/to/op_system.git [COMMIT]

COMMIT defaults to the last upstream commit before the JAX rework: the merge of
the stricter `operators` validation, on top of 0.1.2. The script exports `tests/`
(and, with `--plugin`, `flepimop2-op_system/tests/`) at COMMIT with `git archive`
into a temporary directory and runs pytest there, so the tests import *our*
installed `op_system`. Nothing is copied into this repository. Extra arguments
after `--` go to pytest.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from _upstream import extract, run_pytest

#: Upstream's last commit before the JAX rework (operators validation merged on 0.1.2).
DEFAULT_COMMIT = "e3a751785d4181587dd38079340ec4b8549446e0"


def _git_dir(repo: Path) -> str:
    return str(repo / ".git") if (repo / ".git").exists() else str(repo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, help="upstream checkout or bare mirror")
    parser.add_argument("commit", nargs="?", default=DEFAULT_COMMIT)
    parser.add_argument(
        "--plugin", action="store_true", help="also run flepimop2-op_system/tests"
    )
    argv = sys.argv[1:] if argv is None else argv
    pytest_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)

    folders = ["tests"] + (["flepimop2-op_system/tests"] if args.plugin else [])
    archive = subprocess.run(
        [
            "git",
            "--git-dir",
            _git_dir(args.repo),
            "archive",
            "--format=tar",
            args.commit,
            *folders,
        ],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="op-system-upstream-main-") as tmp:
        work = Path(tmp)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            extract(tar, work, lambda name: name)
        what = f"upstream op_system tests at {args.commit[:12]}"
        return run_pytest(work, folders, what, ["-rfE", *pytest_args])


if __name__ == "__main__":
    raise SystemExit(main())
