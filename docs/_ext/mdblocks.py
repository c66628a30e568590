"""Fenced code blocks of a Markdown page, and the fences that are broken.

One reader of code fences, shared by the documentation's tests
(`tests/test_docs.py` runs every block it returns), the docs build
(`fence_check.py`, a mkdocs hook: a broken fence fails `mkdocs build --strict`)
and `figures.py` (which re-makes the pages' plots).

A fence opens with three or more backticks or tildes and an optional info
string (its first word is the block's language), and closes, as in CommonMark,
with a line of the same character, at least as long, and nothing else. Markdown
itself never reports a broken fence: a closing line with text after it
(```` ``` A state ...````) is not a closing fence, so the block runs on,
rendering the paragraphs after it as code, and a fence never closed runs to the
end of the page. `scan` reports both, and a closing fence indented differently
from its opening (in a list or an admonition the block then ends with the
container, not where the page means it to).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_TEST = "<!-- no-test -->"
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its page, language, opening line and text."""

    page: str
    lang: str
    line: int  # 1-based line of the opening fence
    code: str
    skip: bool  # preceded by the marker `<!-- no-test -->`

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


class FenceError(ValueError):
    """A page whose code fences are broken; `problems` lists each as `page:line: ...`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _language(info: str) -> str:
    word = info.strip().split(maxsplit=1)[0] if info.strip() else ""
    return word.strip("{}").lstrip(".").lower()


def scan(text: str, page: str) -> tuple[list[Block], list[str]]:
    """The page's fenced blocks (indented fences dedented) and its fence problems."""
    lines = text.splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        # a backtick "fence" whose info string holds a backtick is inline code
        if not m or (m.group("fence")[0] == "`" and "`" in m.group("info")):
            i += 1
            continue
        indent, fence = m.group("indent"), m.group("fence")
        char, width = fence[0], len(fence)
        prev = next((ln.strip() for ln in reversed(lines[:i]) if ln.strip()), "")
        body: list[str] = []
        j = i + 1
        closed = False
        while j < len(lines):
            ln = lines[j]
            stripped = ln.strip()
            run = len(stripped) - len(stripped.lstrip(char))
            if run >= width:
                if stripped == char * run:
                    closed = True
                    close_indent = ln[: len(ln) - len(ln.lstrip())]
                    if close_indent != indent:
                        problems.append(
                            f"{page}:{j + 1}: the closing fence is indented "
                            f"{len(close_indent)} characters, its opening at line "
                            f"{i + 1} {len(indent)}"
                        )
                    break
                problems.append(
                    f"{page}:{j + 1}: {stripped[:40]!r} is not a closing fence "
                    f"(a closing fence has nothing after it), so the block opened "
                    f"at line {i + 1} runs on"
                )
            body.append(ln[len(indent) :] if ln.startswith(indent) else ln.lstrip())
            j += 1
        if not closed:
            problems.append(
                f"{page}:{i + 1}: the code fence {fence!r} opened here is never "
                f"closed (it runs to the end of the page)"
            )
        blocks.append(
            Block(
                page,
                _language(m.group("info")),
                i + 1,
                "\n".join(body) + "\n",
                prev == NO_TEST,
            )
        )
        i = j + 1
    return blocks, problems


def extract_blocks(text: str, page: str) -> list[Block]:
    """The page's fenced blocks; a `FenceError` if a fence is broken."""
    blocks, problems = scan(text, page)
    if problems:
        raise FenceError(problems)
    return blocks
