"""Run op-system 0.1.2's own test suite, unchanged, against the installed op_system.

The sdist of op-system 0.1.2 on PyPI ships its `tests/`. This script downloads
it (`pip download --no-deps --no-binary :all: op-system==0.1.2`), extracts only
`tests/` into a temporary directory and runs pytest there, so the tests import
*our* installed `op_system`. Nothing from the sdist is copied into this repo.

Run: `python tests/compat/run_upstream_tests.py` (part of `make test`).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from _upstream import extract, run_pytest

VERSION = "0.1.2"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="op-system-upstream-") as tmp:
        tmp_path = Path(tmp)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"op-system=={VERSION}",
                "-d",
                str(tmp_path / "dl"),
            ],
            check=True,
        )
        (sdist,) = (tmp_path / "dl").glob("op_system-*.tar.gz")
        work = tmp_path / "upstream"

        def relpath(
            name: str,
        ) -> str | None:  # `op_system-0.1.2/tests/...` -> `tests/...`
            return name.split("/", 1)[1] if "/tests/" in name else None

        with tarfile.open(sdist) as tar:
            if not extract(tar, work, relpath):
                print("no tests/ in the sdist", file=sys.stderr)
                return 1
        return run_pytest(work, ["tests"], f"op-system {VERSION}'s tests")


if __name__ == "__main__":
    raise SystemExit(main())
