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

import op_system

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
        with tarfile.open(sdist) as tar:
            members = [
                m for m in tar.getmembers() if "/tests/" in m.name and m.isfile()
            ]
            if not members:
                print("no tests/ in the sdist", file=sys.stderr)
                return 1
            for m in members:
                rel = m.name.split("/", 1)[1]
                dest = work / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                assert src is not None
                dest.write_bytes(src.read())
        (work / "pytest.ini").write_text("[pytest]\n")  # isolate from our config
        print(
            f"running op-system {VERSION}'s tests against op_system {op_system.__version__} "
            f"from {Path(op_system.__file__).parent}"
        )
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=work,
            check=False,
        ).returncode


if __name__ == "__main__":
    raise SystemExit(main())
