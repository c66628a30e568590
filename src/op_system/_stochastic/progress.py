"""Progress of long stochastic runs: a tqdm bar over a NumPy run's output
intervals and a one-line note before a JAX run is compiled.

`progress=True` shows both (the bar from the start); `progress=False` neither;
`progress=None`, the default, follows the environment variable
`OP_SYSTEM_PROGRESS` (`1` as True, `0` as False) and otherwise shows them only
when standard error is a terminal, the bar only once a run has lasted
`AUTO_DELAY` seconds (so short runs, scripts writing to a file and test runs
print nothing). Everything goes to standard error. tqdm is optional (the
`progress` extra): without it there is no bar, and nothing else changes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["AUTO_DELAY", "ENV", "bar", "note", "shown"]

#: The environment variable that sets the default (`progress=None`).
ENV = "OP_SYSTEM_PROGRESS"

#: Seconds a run lasts before its bar appears when progress is on by default.
AUTO_DELAY = 2.0


def _asked(progress: bool | None) -> bool | None:
    """`progress`, else what `OP_SYSTEM_PROGRESS` says, else None."""
    if progress is not None:
        return bool(progress)
    env = os.environ.get(ENV, "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    return None


def shown(progress: bool | None) -> bool:
    """Whether progress is shown: `progress`, else `OP_SYSTEM_PROGRESS`, else
    whether standard error is a terminal."""
    asked = _asked(progress)
    if asked is not None:
        return asked
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


def note(text: str, progress: bool | None) -> None:
    """One line on standard error (`op_system: text…`), when progress is shown."""
    if shown(progress):
        print(f"op_system: {text}…", file=sys.stderr, flush=True)


@contextmanager
def bar(progress: bool | None, total: int, desc: str, unit: str) -> Iterator[Any]:
    """A tqdm bar of `total` `unit`s on standard error, or `None` (progress not
    shown, or tqdm not installed); closed on exit."""
    if not shown(progress):
        yield None
        return
    try:
        from tqdm import tqdm
    except ImportError:  # the optional extra: no bar, nothing else changes
        yield None
        return
    delay = 0.0 if _asked(progress) else AUTO_DELAY
    with tqdm(
        total=total, desc=desc, unit=unit, file=sys.stderr, delay=delay
    ) as shown_bar:
        yield shown_bar
