"""The `op-system` command line (`validate`, `describe`, `render`, `source`)."""

from .cli import main

__all__ = ["main"]
