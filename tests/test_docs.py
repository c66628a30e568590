"""The documentation's examples are tests.

* Every ```python block of each page in `docs/` runs, in order, in one namespace
  per page, in a fresh interpreter (so a page sees no state from other pages or
  from this test session's JAX configuration, exactly as a reader running it).
* Every ```yaml block is loaded with `yaml.safe_load`; when it holds a spec
  (a mapping with `state`, or a flepimop2 config `system: [{module: op_system,
  spec: ...}]`), the spec is validated with `normalize_rhs` and compiled with
  `compile_rhs`.

A block preceded by the HTML comment `<!-- no-test -->` is skipped (used
sparingly, and never silently: the marker is visible in the page source).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import op_system

DOCS = Path(__file__).resolve().parent.parent / "docs"
NO_TEST = "<!-- no-test -->"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


@dataclass(frozen=True)
class Block:
    page: str
    lang: str
    line: int  # 1-based line of the opening fence
    code: str
    skip: bool

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def extract_blocks(text: str, page: str) -> list[Block]:
    """Fenced code blocks of a Markdown page (indented fences are dedented)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = (
            m.group("indent"),
            m.group("fence"),
            m.group("lang").lower(),
        )
        prev = next((ln.strip() for ln in reversed(lines[:i]) if ln.strip()), "")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            ln = lines[j]
            body.append(ln[len(indent) :] if ln.startswith(indent) else ln.lstrip())
            j += 1
        blocks.append(Block(page, lang, i + 1, "\n".join(body) + "\n", prev == NO_TEST))
        i = j + 1
    return blocks


def _pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _blocks(lang: str) -> list[Block]:
    out: list[Block] = []
    for page in _pages():
        out.extend(
            b
            for b in extract_blocks(page.read_text(encoding="utf-8"), page.name)
            if b.lang == lang
        )
    return out


# -- python ----------------------------------------------------------------------------

_RUNNER = r"""
import json, sys, traceback
blocks = json.load(sys.stdin)
ns = {"__name__": "__main__"}
for b in blocks:
    try:
        exec(compile(b["code"], b["where"], "exec"), ns)
    except BaseException:
        print(f"block at {b['where']} raised:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


def _python_pages() -> list[str]:
    return sorted({b.page for b in _blocks("python")})


def test_docs_have_examples() -> None:
    assert len(_python_pages()) >= 3
    assert len(_blocks("yaml")) >= 5


def test_extract_blocks_honours_no_test_marker() -> None:
    text = "x\n\n<!-- no-test -->\n```python\nboom()\n```\n\n```python\nok = 1\n```\n"
    a, b = extract_blocks(text, "t.md")
    assert (a.skip, a.line, a.code) == (True, 4, "boom()\n")
    assert (b.skip, b.code) == (False, "ok = 1\n")


@pytest.mark.parametrize("page", _python_pages())
def test_python_examples_run(page: str, tmp_path: Path) -> None:
    blocks = [b for b in _blocks("python") if b.page == page and not b.skip]
    if not blocks:
        pytest.skip(f"every python block of {page} is marked {NO_TEST}")
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg", PYTHONHASHSEED="0")
    payload = json.dumps([{"code": b.code, "where": b.where} for b in blocks])
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=payload,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # examples that write files write them here
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{page}: an example failed\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    )


# -- yaml ------------------------------------------------------------------------------


def specs_in(doc: object) -> list[dict]:
    """The op_system specs a YAML document holds (bare, or in a flepimop2 `system:` list)."""
    if not isinstance(doc, dict):
        return []
    if "state" in doc:
        return [doc]
    found: list[dict] = []
    systems = doc.get("system")
    if isinstance(systems, dict):
        systems = [systems]
    if isinstance(systems, list):
        for entry in systems:
            if (
                isinstance(entry, dict)
                and entry.get("module") == "op_system"
                and isinstance(entry.get("spec"), dict)
            ):
                found.append(entry["spec"])
    if isinstance(doc.get("spec"), dict) and "state" in doc["spec"]:
        found.append(doc["spec"])
    return found


_YAML = [b for b in _blocks("yaml") if not b.skip]


@pytest.mark.parametrize("block", _YAML, ids=[b.where for b in _YAML])
def test_yaml_examples_are_valid(block: Block) -> None:
    doc = yaml.safe_load(block.code)
    for spec in specs_in(doc):
        rhs = op_system.normalize_rhs(spec)
        op_system.compile_rhs(rhs)
