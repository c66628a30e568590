"""docs/flepimop2.md shows the example files that the end-to-end tests run, verbatim.

(`tests/test_docs.py` runs the page's Python blocks and validates its YAML specs.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "flepimop2.md"
EXAMPLES = ROOT / "flepimop2_plugin" / "examples"


def _yaml_blocks() -> list[str]:
    return re.findall(
        r"^```yaml\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M
    )


@pytest.mark.parametrize("example", ["models/seir_age.yaml", "seir_age_diffrax.yaml"])
def test_page_embeds_the_tested_example(example: str) -> None:
    assert (EXAMPLES / example).read_text(encoding="utf-8") in _yaml_blocks()


def test_page_mentions_only_existing_examples() -> None:
    text = PAGE.read_text(encoding="utf-8")
    named = set(re.findall(r"`(?:examples/)?([\w/]+\.(?:yaml|py))`", text))
    assert {
        "seir_age_op_engine.yaml",
        "seir_age_wrapper.yaml",
        "sir_diffrax.yaml",
        "sir_op_engine.yaml",
    } <= named
    for name in named - {"config.yaml"}:
        if name.startswith("tests/"):
            assert (ROOT / name).is_file(), name
        elif name != "models/x.yaml":
            assert (EXAMPLES / name).is_file(), name
