"""The plugin uses op_system's public API only: no private module, name or attribute."""

from __future__ import annotations

import ast
from pathlib import Path

import op_system

PLUGIN = Path(__file__).resolve().parents[2] / "flepimop2_plugin" / "src"


def _sources() -> list[Path]:
    files = sorted(PLUGIN.rglob("*.py"))
    assert len(files) >= 2, files  # the system and the engine
    return files


def test_imports_only_public_op_system_names() -> None:
    public = set(op_system.__all__)
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "op_system"
            ):
                assert node.module == "op_system", f"{path}: imports {node.module}"
                for alias in node.names:
                    assert alias.name in public, f"{path}: imports {alias.name}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("op_system."), (
                        f"{path}: {alias.name}"
                    )


def test_reads_no_private_attribute_of_op_system_objects() -> None:
    private = {"_model", "_meta", "_rhs", "_cache", "_param_names"}
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not used & private, f"{path}: {sorted(used & private)}"
