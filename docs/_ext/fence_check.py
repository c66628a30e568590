"""mkdocs hook: a broken code fence is a warning, so `mkdocs build --strict` fails.

Markdown renders a fence that never closes, or a closing line with text after
it, without complaint (the paragraphs after it become code); `mdblocks.scan`
finds both, and this hook reports what it finds on every page.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mdblocks import scan

log = logging.getLogger("mkdocs.hooks.fence_check")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    for problem in scan(markdown, page.file.src_uri)[1]:
        log.warning("broken code fence: %s", problem)
    return markdown
