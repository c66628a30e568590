"""Re-draw the figures that pages draw with their own code.

    python docs/_ext/figures.py docs/getting-started.md docs/using-jax.md

Each page's Python blocks run in order, in one namespace, in a fresh
interpreter and an empty directory, as `tests/test_docs.py` runs them (which
checks that they still write every figure they name); each image the page shows
and its code names is then copied into the page's folder, where it is committed.
Figures drawn by scripts (`examples/*.py`, `benchmarks/`) are re-drawn by those.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mdblocks import extract_blocks

_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.(?:png|svg|jpe?g))\)")


def _python(page: Path) -> list[tuple[str, str]]:
    blocks = extract_blocks(page.read_text(encoding="utf-8"), page.name)
    return [(b.code, b.where) for b in blocks if b.lang == "python" and not b.skip]


def run_here(page: Path) -> None:
    """Run the page's Python blocks in the current directory, in one namespace."""
    ns: dict[str, object] = {"__name__": "__main__"}
    for code, where in _python(page):
        exec(compile(code, where, "exec"), ns)


def redraw(page: Path) -> list[Path]:
    """Run the page in an empty directory; copy the figures its code draws beside it."""
    code = "".join(c for c, _ in _python(page))
    wanted = [
        name
        for name in _IMAGE.findall(page.read_text(encoding="utf-8"))
        if name in code
    ]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MPLBACKEND="Agg", JAX_PLATFORMS="cpu")
        subprocess.run(
            [sys.executable, __file__, "--run", str(page.resolve())],
            cwd=tmp,
            env=env,
            check=True,
        )
        out = []
        for name in wanted:
            shutil.copyfile(Path(tmp) / name, page.parent / name)
            out.append(page.parent / name)
    return out


def main(argv: list[str]) -> None:
    if argv[:1] == ["--run"]:
        run_here(Path(argv[1]))
        return
    for page in argv:
        for path in redraw(Path(page)):
            print(f"{page}: wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
