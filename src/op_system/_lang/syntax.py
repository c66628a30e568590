"""Syntax errors and calls outside the language, said in the language's own terms.

An expression is parsed by Python's parser, whose messages carry hints for
Python programs ("Maybe you meant '==' or ':=' instead of '='?", "Perhaps you
forgot a comma?", "Did you mean print(...)?") that mislead in a spec: an
unclosed parenthesis in `sum_over(age=j, I[age=j]` is reported by Python as a
misplaced `=`. Here brackets are matched first (an unclosed or unmatched one is
reported with its column), and Python's hints are replaced by the language's.
A call of a function outside the language gets the function meant
(`np.exponential` -> `np.exp`, `sum_states` -> `sum_state`, `exp` -> `np.exp`).
"""

from __future__ import annotations

import re

from .._support.errors import did_you_mean
from .ir import ALLOWED_FUNCS

__all__ = ["bracket_problem", "function_hint", "syntax_detail"]

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}


def bracket_problem(src: str) -> tuple[str, int, str] | None:
    """The first unbalanced bracket of `src` (quoted text skipped): its
    message, its offset in `src` and the bracket; None when all match."""
    stack: list[tuple[str, int]] = []
    quote: str | None = None
    for i, ch in enumerate(src):
        if quote is not None:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            stack.append((ch, i))
        elif ch in _CLOSE:
            if not stack:
                return f"unmatched {ch!r}: no {_CLOSE[ch]!r} opens it", i, ch
            opened, at = stack.pop()
            if _OPEN[opened] != ch:
                return (
                    f"{ch!r} does not close the {opened!r} opened at column {at + 1} "
                    f"(expected {_OPEN[opened]!r})",
                    i,
                    ch,
                )
    if stack:
        opened, at = stack[-1]
        return (
            f"{opened!r} is never closed (a {_OPEN[opened]!r} is missing)",
            at,
            opened,
        )
    return None


#: Python's hints (a sentence each), and what the language says instead ("": nothing)
_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\.?\s*Maybe you meant '==' or ':=' instead of '='\?"),
        ": '=' binds an axis only in an index (I[age=j]) or a reduction "
        "(sum_over(age=j, ...)); write '==' to compare",
    ),
    (
        re.compile(r"\.?\s*Perhaps you forgot a comma\?"),
        ": an operator or a comma is missing between two terms",
    ),
    (re.compile(r"\.?\s*Did you mean [^?]*\?"), ""),
    (re.compile(r"\.?\s*Maybe you meant [^?]*\?"), ""),
    (re.compile(r"\s*\(detected at line \d+\)"), ""),
    (re.compile(r"^Missing parentheses in call to '[^']*'"), "invalid syntax"),
)


def syntax_detail(msg: str) -> str:
    """Python's syntax error message `msg` without Python's hints."""
    for pattern, instead in _HINTS:
        msg = pattern.sub(instead, msg, count=1)
    return msg.strip()


def function_hint(root: str | None, fname: str) -> str:
    """`" (did you mean 'np.exp'?)"` for a call `root.fname(...)` (`root` None:
    a bare `fname(...)`) outside the language; `""` when nothing is close."""
    if root in (None, "math", "numpy", "jnp", "xp") and fname in ALLOWED_FUNCS:
        return f" (did you mean 'np.{fname}'?)"
    if root is None:
        helper = did_you_mean(
            fname, ("sum_state", "sum_prefix", "sum_over", "integrate_over")
        )
        if helper:
            return helper
    if fname in ("power", "pow"):
        return " (write a ** b for a power)"
    low = fname.lower()
    for f in ALLOWED_FUNCS:  # a longer or shorter spelling: np.exponential, np.max
        if len(low) >= 3 and (low.startswith(f) or f.startswith(low)):
            return f" (did you mean 'np.{f}'?)"
    return did_you_mean(f"np.{fname}", [f"np.{f}" for f in ALLOWED_FUNCS])
