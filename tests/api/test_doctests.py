"""Docstring examples are executable documentation: run them."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import op_system

MODULES = sorted(
    {"op_system"}
    | {m.name for m in pkgutil.walk_packages(op_system.__path__, "op_system.")}
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0
