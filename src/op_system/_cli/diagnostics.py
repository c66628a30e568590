"""Errors and warnings of the command line as `file:line:column: level: message`.

One record type for everything `op-system validate` reports (a YAML syntax
error, an error or warning raised while building a spec, a flepimop2 config
check), printed in the form compilers use (editors jump to it) or as JSON.
Positions come from the YAML nodes' marks kept by `_spec.io` (`spec_position`):
an error or warning that names a spec path (and, in an expression, a position)
is placed at that node, and at its token where the expression stands in the
file as written.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass
from typing import Any

from .._spec.io import SpecDict, spec_position
from .._support.errors import OpSystemError

__all__ = ["Diagnostic", "from_error", "from_warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One error or warning, with where it is.

    Attributes:
        level: `"error"` or `"warning"`.
        category: The error or warning class (`ExpressionError`, `SpecWarning`).
        message: What is wrong (with the offending token and the spec path).
        file: The file it is in.
        line: 1-based line in `file` (`None` when unknown).
        column: 1-based column in `file` (`None` when unknown).
        path: The spec path (`transitions[3].rate`), when there is one.
        token: The offending token, when there is one.
    """

    level: str
    category: str
    message: str
    file: str
    line: int | None = None
    column: int | None = None
    path: str | None = None
    token: str | None = None

    def format(self) -> str:
        """`file:line:column: level: Category: message` (`file: level: ...` without a position)."""
        where = (
            self.file if self.line is None else f"{self.file}:{self.line}:{self.column}"
        )
        return f"{where}: {self.level}: {self.category}: {self.message}"

    def record(self) -> dict[str, Any]:
        """The JSON record of this diagnostic."""
        return asdict(self)


_LOCATION = re.compile(r"^(?P<file>.*):(?P<line>\d+):(?P<col>\d+)$")


def _split_location(location: str | None) -> tuple[str, int, int] | None:
    match = _LOCATION.match(location or "")
    if match is None:
        return None
    return match["file"], int(match["line"]), int(match["col"])


def _place(
    spec: object, path: str | None, pos: Any, location: str | None, file: str
) -> tuple[str, int | None, int | None]:
    """`(file, line, column)`: the spec path's node (its token where it maps), else
    an explicit `file:line:column`, else the spec's own node, else just `file`."""
    position = pos if isinstance(pos, tuple) and len(pos) == 2 else None
    found = spec_position(spec, path, position) or _split_location(location)
    if found is None and isinstance(spec, SpecDict):
        root = spec.marks.get(())
        if root is not None:
            found = (spec.source, root[0], root[1])
    if found is None:
        return file, None, None
    return found


def _message(detail: str, token: str | None, path: str | None) -> str:
    text = detail
    if token and token not in text:
        text += f" [token: {token!r}]"
    if path and path not in text and not _LOCATION.match(path):
        text += f" (at {path})"
    return text


def from_error(exc: BaseException, spec: object, file: str) -> Diagnostic:
    """The diagnostic of an error raised while reading or building `spec` (from `file`)."""
    if isinstance(exc, OpSystemError):
        # a YAML syntax error names its `file:line:column` as its path
        at_file = exc.path is not None and _LOCATION.match(exc.path) is not None
        path = None if at_file else exc.path
        location = exc.location or (exc.path if at_file else None)
        return Diagnostic(
            "error",
            type(exc).__name__,
            _message(exc.detail, exc.token, path),
            *_place(spec, path, exc.pos, location, file),
            path=path,
            token=exc.token,
        )
    return Diagnostic("error", type(exc).__name__, str(exc), file)


# a warning's text that starts with the spec path it is about: `transitions[2].rate: ...`
_LEADING_PATH = re.compile(r"^([A-Za-z_][\w]*(?:\[[^\]]*\]|\.[A-Za-z_]\w*)*): ")
_QUOTED = re.compile(r"'([A-Za-z_]\w*)'")


def from_warning(w: warnings.WarningMessage, spec: object, file: str) -> Diagnostic:
    """The diagnostic of a warning caught while building `spec` (from `file`).

    Its position is that of its `path` attribute (and `pos`, `location`) when the
    warning carries one, else of the spec path its text starts with.
    """
    message = w.message
    text = str(message)
    path: str | None = getattr(message, "path", None)
    token: str | None = getattr(message, "token", None)
    if path is None:
        lead = _LEADING_PATH.match(text)
        if lead is not None and spec_position(spec, lead.group(1)) is not None:
            path = lead.group(1)
    if path is None and isinstance(spec, SpecDict):
        # a warning about a top-level key names it quoted (`unknown ... key 'equatons'`)
        path = next(
            (k for k in _QUOTED.findall(text) if (k,) in spec.marks and k in spec), None
        )
    where = _place(
        spec,
        path,
        getattr(message, "pos", None),
        getattr(message, "location", None),
        file,
    )
    detail = getattr(message, "detail", None)
    return Diagnostic(
        "warning",
        w.category.__name__,
        _message(detail if isinstance(detail, str) else text, token, path),
        *where,
        path=path,
        token=token,
    )
