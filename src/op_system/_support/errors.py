"""Error hierarchy of op_system.

Every error raised for bad user input is an `OpSystemError`. Each class also
subclasses the built-in exception that op-system 0.1.2 raised in the same
situation (`ValueError`, `TypeError`, `NotImplementedError`, `RuntimeError`), and
its message starts with the same prefix, so code written against 0.1.2 that
catches those keeps working.

Messages say *where* (a spec path such as `equations['I[age]']` or
`transitions[3].rate`, and the column of the offending token in an expression),
*what* (the offending token), and, where obvious, what to do instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

__all__ = [
    "BackendError",
    "CompilationError",
    "ExpressionError",
    "InvalidExpressionError",
    "InvalidRhsSpecError",
    "NearIndex",
    "OpSystemError",
    "ParameterError",
    "PlannedFeatureError",
    "PrecisionWarning",
    "SpecError",
    "SpecWarning",
    "StateNameError",
    "StateShapeError",
    "UnsupportedFeatureError",
    "misspelt_parameter",
    "name_hint",
    "near_names",
    "warn_spec",
]

_DOCS = "https://op-system.readthedocs.io/en/latest/errors/"


class OpSystemError(Exception):
    """Base class of every error raised by op_system for bad input."""

    prefix: str = ""
    anchor: str = "opsystemerror"

    def __init__(
        self,
        detail: str,
        *,
        path: str | None = None,
        token: str | None = None,
        pos: tuple[int, int] | None = None,
        location: str | None = None,
    ) -> None:
        self.detail = detail
        self.path = path
        self.token = token
        #: where in the expression at `path` the token stands: (line, column), 1-based
        self.pos = pos
        #: `file:line:column` of the token, for a spec loaded from a file
        self.location = location
        super().__init__(self._format())

    def at(self, pos: tuple[int, int] | None) -> OpSystemError:
        """This error with the expression position `pos`, unless it has one already
        (the innermost position, the token's own, wins)."""
        if pos is None or self.pos is not None:
            return self
        return self._copy(pos=pos)

    def located(self, location: str | None) -> OpSystemError:
        """This error with the `file:line:column` it comes from."""
        return self if location is None else self._copy(location=location)

    def _fields(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this error with its `detail`."""
        return {
            "path": self.path,
            "token": self.token,
            "pos": self.pos,
            "location": self.location,
        }

    def _copy(self, **changes: Any) -> OpSystemError:
        new = type(self)(self.detail, **{**self._fields(), **changes})
        new.__cause__, new.__context__ = self.__cause__, self.__context__
        return new

    def _where(self) -> str:
        if not self.path:
            return ""
        file = f", {self.location}" if self.location else ""
        return f" (at {self.path}{expression_position(self.pos)}{file})"

    def _format(self) -> str:
        parts = [self.prefix] if self.prefix else []
        parts.append(f"Detail: {self._detail_with_token()}{self._where()}")
        return " ".join(parts)

    def _detail_with_token(self) -> str:
        if self.token and self.token not in self.detail:
            return f"{self.detail} [token: {self.token!r}]"
        return self.detail

    def __reduce__(
        self,
    ) -> tuple[Any, ...]:  # keep picklable despite keyword-only arguments
        return (_rebuild, (type(self), self.detail, self._fields()))


def _rebuild(  # pragma: no cover - pickle helper
    cls: type[OpSystemError], detail: str, fields: dict[str, Any]
) -> OpSystemError:
    return cls(detail, **fields)


def expression_position(pos: tuple[int, int] | None) -> str:
    """`", column 7"` (or `", line 2, column 7"` in a multi-line expression)."""
    if pos is None:
        return ""
    line, col = pos
    return f", column {col}" if line == 1 else f", line {line}, column {col}"


class SpecWarning(UserWarning):
    """A spec that loads, but probably not as meant (e.g. an unknown top-level key).

    Like an error, a warning may say where: `path` (the spec path, e.g.
    `transitions[0].rate`), `token` (the offending text) and `location`
    (`file:line:column`); each is `None` when unknown. `warn_spec` raises one.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        token: str | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.token = token
        self.location = location


#: while a spec loaded from a file is built: its spec path -> `file:line:column`
SPEC_LOCATOR: ContextVar[Callable[[str | None], str | None] | None] = ContextVar(
    "SPEC_LOCATOR", default=None
)


def warn_spec(
    message: str, *, path: str | None = None, token: str | None = None
) -> None:
    """Issue a `SpecWarning` (pointing at the caller outside op_system) that
    carries its spec `path` and `token`, and its `location` for a spec loaded
    from a file (`SPEC_LOCATOR`)."""
    import warnings

    locate = SPEC_LOCATOR.get()
    location = locate(path) if locate is not None else None
    warnings.warn(
        SpecWarning(message, path=path, token=token, location=location),
        stacklevel=outside_package(),
    )


class PrecisionWarning(UserWarning):
    """A model computes in less precision than asked or than it looks: on JAX
    with `jax_enable_x64` off, in float32 (warned once per model)."""


class InvalidRhsSpecError(OpSystemError, ValueError):
    """The spec is invalid: op-system 0.9.0's name for the class of every spec error.

    `SpecError` (the structure) and `ExpressionError` (an expression in it) both
    subclass it: op-system 0.9.0 raises `InvalidRhsSpecError` for an invalid
    expression inside a spec too (it wraps the expression's error), so code
    written against 0.9.0 that catches it catches both.
    """

    prefix = "Invalid op_system RHS specification."
    anchor = "invalidrhsspecerror"


class SpecError(InvalidRhsSpecError):
    """The spec's structure is invalid (a missing key, a wrong type, an unknown axis)."""

    prefix = "Invalid op_system RHS specification."
    anchor = "specerror"


class ExpressionError(InvalidRhsSpecError):
    """An expression string is invalid or uses something outside the language."""

    prefix = "Invalid op_system expression."
    anchor = "expressionerror"


#: op-system 0.9.0's name for an invalid expression (its `InvalidExpressionError`).
InvalidExpressionError = ExpressionError


class ParameterError(OpSystemError, TypeError, ValueError):
    """Parameters passed at call time are missing or malformed (a `TypeError` as
    op-system 0.1.2 raised, and a `ValueError` as 0.9.0 raises)."""

    prefix = "Invalid parameters for op_system."
    anchor = "parametererror"

    def _format(self) -> str:
        return f"{self.prefix} {self._detail_with_token()}{self._where()}"


class StateShapeError(OpSystemError, ValueError):
    """The state vector `y` has the wrong shape."""

    prefix = "state has an invalid shape/value."
    anchor = "stateshapeerror"

    def _format(self) -> str:
        return f"{self.prefix} {self.detail}"


class StateNameError(OpSystemError, KeyError, ValueError):
    """A state block, cell or coordinate the model does not have, named where
    states are named by the caller (`pack`, `Solution[...]`): a `KeyError` as
    a mapping's missing key, and a `ValueError`."""

    prefix = "Unknown op_system state name."
    anchor = "statenameerror"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnsupportedFeatureError(OpSystemError, NotImplementedError):
    """The spec asks for a feature that is not supported."""

    prefix = "Unsupported op_system feature."
    anchor = "unsupportedfeatureerror"

    def _format(self) -> str:
        return f"{self.prefix} {self.detail}"


class PlannedFeatureError(ExpressionError, UnsupportedFeatureError):
    """A planned construct that is not part of the language yet (the history
    operators `history(...)`, `delay(...)`): an `ExpressionError` (a
    `ValueError`, as op-system 0.1.2 raised it) and an `UnsupportedFeatureError`
    (op-system 0.9.0's class for it)."""

    prefix = ExpressionError.prefix
    anchor = "plannedfeatureerror"
    _format = OpSystemError._format


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


def name_hint(word: str, candidates: Iterable[str]) -> str:
    """`did_you_mean`, or else the closest of `near_names` (which also catches
    a doubled letter, `Ii` for `I`, that a similarity ratio misses)."""
    names = list(candidates)
    hint = did_you_mean(word, names)
    if hint:
        return hint
    close = near_names(word, names)
    return f" (did you mean {close[0]!r}?)" if close else ""


def misspelt_parameter(
    missing: Iterable[str], given: Iterable[object], known: Callable[[str], bool]
) -> str:
    """`"; unknown parameter 'gama' (did you mean 'gamma'?)"` when a name passed
    at the call (`given`) that the model does not know (`known(name)` false) is
    close to a `missing` one; `""` otherwise (the suggestion goes from the
    name passed to the name expected, never the other way)."""
    unknown = [g for g in given if isinstance(g, str) and not known(g)]
    for m in missing:
        close = difflib.get_close_matches(m, unknown, n=1, cutoff=0.75)
        if close:
            return f"; unknown parameter {close[0]!r} (did you mean {m!r}?)"
    return ""


def outside_package() -> int:
    """`stacklevel` of the first caller outside op_system (warnings point at user code)."""
    import sys
    from pathlib import Path

    # the op_system package, and the programs it generates (`<op_system-generated-N>`)
    ours = (str(Path(__file__).parents[1]), "<op_system-")
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(ours):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions
    and transpositions of neighbours each count one (`gmama` -> `gamma`: 1)."""
    if a == b:
        return 0
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def near_names(word: str, candidates: Iterable[str]) -> list[str]:
    """The candidates `word` is probably a misspelling of (closest first).

    The rule, tuned so that ordinary parameter names next to short state names
    (`R0`, `Rt` next to `R`; `beta1` next to `beta2`) are not caught:

    * `word` has at least two characters and is not a candidate;
    * names ending in digits match only names with the same digits, by
      their stems (`Ii1` / `I1`, but never `w10` / `x10`);
    * a one-character candidate `I` is matched only by its doubled letter in
      any case (`Ii`, `II`, `ii`); a longer one by a case variant (`foi` /
      `FOI`) or by one edit (an insertion, deletion, substitution or swap of
      neighbours: `lamda` / `lambda`) when one of the two has at least three
      characters;
    * names that differ in their trailing digits (`E1` / `E3`, `lam` /
      `lam0`) never match.
    """
    return NearIndex(candidates).near(word)


class NearIndex:
    """`near_names` against one set of candidates, asked for many words.

    Each candidate is indexed by its trailing digits and by its stem, lower
    case, with each one character left out (two names within one edit, or
    equal but for case, share such a key): a word is compared only with the
    few candidates it shares a key with, so a flat spec's thousands of
    parameters and states take time linear in their number.
    """

    def __init__(self, candidates: Iterable[str]) -> None:
        self._keys: dict[tuple[str, str], set[str]] = {}
        for c in candidates:
            for key in _near_keys(c):
                self._keys.setdefault(key, set()).add(c)

    def near(self, word: str) -> list[str]:
        """The candidates `word` is probably a misspelling of (closest first)."""
        if len(word) < 2:
            return []
        pool: set[str] = set()
        for key in _near_keys(word):
            pool |= self._keys.get(key, set())
        found = [(d, c) for c in pool if (d := _near(word, c)) is not None]
        return [c for _, c in sorted(found)]


def _near_keys(name: str) -> set[tuple[str, str]]:
    stem, digits = _split_digits(name)
    low = stem.lower()
    return {(digits, low)} | {(digits, low[:i] + low[i + 1 :]) for i in range(len(low))}


def _near(word: str, c: str) -> int | None:
    """How near `word` is to the name `c` by `near_names`' rule (None: not near)."""
    if len(word) < 2 or c == word or not c:
        return None
    stem, digits = _split_digits(word)
    c_stem, c_digits = _split_digits(c)
    if digits != c_digits:
        return None  # `E1` / `E3`, `lam` / `lam0`: a family of names
    if digits:  # `Ii1` / `I1` as `Ii` / `I`; `w10` / `x10` as `w` / `x`
        word, c = stem, c_stem
        if not word or not c or word == c:
            return None
    low = word.lower()
    if len(c) == 1:
        return 1 if low == 2 * c.lower() else None
    if low == c.lower():
        return 0
    if max(len(word), len(c)) < 3 or abs(len(word) - len(c)) > 1:
        return None
    return 1 if edit_distance(word, c) == 1 else None


def _split_digits(name: str) -> tuple[str, str]:
    stem = name.rstrip("0123456789")
    return stem, name[len(stem) :]
