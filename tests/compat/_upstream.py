"""What both upstream runners share: copy test files out of an archive, run pytest there."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path

import op_system


def extract(
    tar: tarfile.TarFile, work: Path, relpath: Callable[[str], str | None]
) -> int:
    """Write the archive's files for which `relpath(name)` gives a path under `work`.

    Returns the number of files written; a path that would leave `work` is refused.
    """
    count = 0
    for member in tar.getmembers():
        rel = relpath(member.name) if member.isfile() else None
        if rel is None:
            continue
        dest = work / rel
        if not dest.resolve().is_relative_to(work.resolve()):
            raise SystemExit(f"refusing to extract {member.name!r}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = tar.extractfile(member)
        assert src is not None
        dest.write_bytes(src.read())
        count += 1
    return count


def run_pytest(
    work: Path, folders: Sequence[str], what: str, extra: Sequence[str] = ()
) -> int:
    """Run pytest on `folders` of `work`, isolated from this repository's configuration."""
    (work / "pytest.ini").write_text("[pytest]\n")
    print(
        f"running {what} against op_system {op_system.__version__} from {Path(op_system.__file__).parent}"
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *folders,
        *extra,
    ]
    return subprocess.run(cmd, cwd=work, check=False).returncode
