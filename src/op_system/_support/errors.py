"""Error hierarchy of op_system.

Every error raised for bad user input is an `OpSystemError`. Each class also
subclasses the built-in exception that op-system 0.1.2 raised in the same
situation (`ValueError`, `TypeError`, `NotImplementedError`, `RuntimeError`), and
its message starts with the same prefix, so code written against 0.1.2 that
catches those keeps working.

Messages say *where* (a spec path such as `equations['I[age]']` or
`transitions[3].rate`), *what* (the offending token), and, where obvious, what to
do instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "BackendError",
    "CompilationError",
    "ExpressionError",
    "OpSystemError",
    "ParameterError",
    "SpecError",
    "SpecWarning",
    "StateShapeError",
    "UnsupportedFeatureError",
]

_DOCS = "https://op-system.readthedocs.io/en/latest/errors/"


class OpSystemError(Exception):
    """Base class of every error raised by op_system for bad input."""

    prefix: str = ""
    anchor: str = "opsystemerror"

    def __init__(
        self, detail: str, *, path: str | None = None, token: str | None = None
    ) -> None:
        self.detail = detail
        self.path = path
        self.token = token
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [self.prefix] if self.prefix else []
        where = f" (at {self.path})" if self.path else ""
        parts.append(f"Detail: {self._detail_with_token()}{where}")
        return " ".join(parts)

    def _detail_with_token(self) -> str:
        if self.token and self.token not in self.detail:
            return f"{self.detail} [token: {self.token!r}]"
        return self.detail

    def __reduce__(
        self,
    ) -> tuple[Any, ...]:  # keep picklable despite keyword-only arguments
        return (_rebuild, (type(self), self.detail, self.path, self.token))


def _rebuild(  # pragma: no cover - pickle helper
    cls: type[OpSystemError], detail: str, path: str | None, token: str | None
) -> OpSystemError:
    return cls(detail, path=path, token=token)


class SpecWarning(UserWarning):
    """A spec that loads, but probably not as meant (e.g. an unknown top-level key)."""


class SpecError(OpSystemError, ValueError):
    """The spec's structure is invalid (a missing key, a wrong type, an unknown axis)."""

    prefix = "Invalid op_system RHS specification."
    anchor = "specerror"


class ExpressionError(OpSystemError, ValueError):
    """An expression string is invalid or uses something outside the language."""

    prefix = "Invalid op_system expression."
    anchor = "expressionerror"


class ParameterError(OpSystemError, TypeError):
    """Parameters passed at call time are missing or malformed."""

    prefix = "Invalid parameters for op_system."
    anchor = "parametererror"

    def _format(self) -> str:
        where = f" (at {self.path})" if self.path else ""
        return f"{self.prefix} {self._detail_with_token()}{where}"


class StateShapeError(OpSystemError, ValueError):
    """The state vector `y` has the wrong shape."""

    prefix = "state has an invalid shape/value."
    anchor = "stateshapeerror"

    def _format(self) -> str:
        return f"{self.prefix} {self.detail}"


class UnsupportedFeatureError(OpSystemError, NotImplementedError):
    """The spec asks for a feature that is not supported."""

    prefix = "Unsupported op_system feature."
    anchor = "unsupportedfeatureerror"

    def _format(self) -> str:
        return f"{self.prefix} {self.detail}"


class CompilationError(OpSystemError, RuntimeError):
    """Generating or compiling the right-hand side failed (a bug: please report)."""

    prefix = "op_system compilation failed."
    anchor = "compilationerror"


class BackendError(OpSystemError, ValueError):
    """The requested array backend is unknown or conflicting."""

    prefix = "Invalid op_system array backend."
    anchor = "backenderror"


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return `" (did you mean 'x'?)"` for the closest candidate, or `""`."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def outside_package() -> int:
    """`stacklevel` of the first caller outside op_system (warnings point at user code)."""
    import sys
    from pathlib import Path

    pkg = str(Path(__file__).parent)
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(pkg):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
