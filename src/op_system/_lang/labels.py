"""Coordinate labels in expressions: the index values read as labels.

A quoted label (`S[age='0-17']`) is a string literal in an index, which
Python's parser reads as such. A label written bare (`S[age=0-17]`, `65+`,
`06037`: text an index cannot otherwise hold, as an index never computes) is
found here, in the tokens of a subscript, and rewritten into a string literal
marked `BARE`; the parser (`_lang/parse.py`) reads both into `IndexItem`s with
`quoted` or `bare` set, and the resolver reads a bare one only where it is
exactly a label of its axis. Nothing is evaluated.
"""

from __future__ import annotations

import keyword
import tokenize
from collections.abc import Callable

from .._spec.labels import split_items, unquote

__all__ = ["BARE", "bare_labels", "filter_items"]

#: marks a label written bare (`S[age=0-17]`) in the string literal the
#: rewrite makes of it: user text never holds a NUL (`parse_expr` refuses it)
BARE = "\x00"
#: tokens that end or split an index item, or open a nested one: never in a
#: bare label
_NOT_IN_LABEL = frozenset("=:,;()[]{}")


def _canonical_number(text: str) -> bool:
    """Whether a number token reads back as written (`1.5`, `10`, `1e-05`): then
    it is a number; otherwise (`1.50`, `1e3`, `0x1F`) its text may be a label."""
    for kind in (int, float):
        try:
            return repr(kind(text)) == text
        except ValueError:
            continue
    return False


def _bare_runs(
    toks: list[tokenize.TokenInfo], open_at: int, new: bool
) -> list[tuple[int, int]]:
    """The index values of the subscript opened at `toks[open_at]` that can only
    be labels written bare: each `(first, last)` token of such a value.

    An index value is a name, a number or a quoted label; a value of several
    tokens (`0-17`, `65+`, `New York`; `06037` is two number tokens) or a
    number not written as Python writes it is not, in this language (an index
    never computes), so its text as written is read as a label: the
    resolver reads it only where it is exactly a label of the axis, and
    otherwise says to quote it. Items with nested brackets, keywords or
    strings are left to Python's parser.
    """
    items: list[list[int]] = [[]]
    depth = 0
    for j in range(open_at + 1, len(toks)):
        tok = toks[j]
        if tok.type in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            continue
        if tok.type == tokenize.ENDMARKER:
            return []  # unbalanced: Python's parser reports it
        if tok.string in "([{" and tok.type == tokenize.OP:
            depth += 1
        elif tok.string in ")]}" and tok.type == tokenize.OP:
            if depth == 0:
                break
            depth -= 1
        elif tok.string == "," and depth == 0:
            items.append([])
            continue
        items[-1].append(j if depth == 0 else -1)
    out = []
    for item in items:
        if -1 in item:  # nested brackets
            continue
        value = item
        if (
            len(item) >= 2
            and toks[item[0]].type == tokenize.NAME
            and toks[item[1]].string in (("=", ":") if new else ("=",))
        ):
            value = item[2:]
        if not value or _plain_value([toks[j] for j in value]):
            continue
        if any(
            toks[j].type == tokenize.STRING
            or (toks[j].type == tokenize.NAME and keyword.iskeyword(toks[j].string))
            or (toks[j].type == tokenize.OP and toks[j].string in _NOT_IN_LABEL)
            or toks[j].type not in (tokenize.NAME, tokenize.NUMBER, tokenize.OP)
            for j in value
        ):
            continue
        out.append((value[0], value[-1]))
    return out


def _plain_value(value: list[tokenize.TokenInfo]) -> bool:
    """Whether an index value is what the language has always read: one name,
    one string, a number as Python writes it, or its negative."""
    if len(value) == 2 and value[0].string == "-":
        value = value[1:]
    if len(value) != 1:
        return False
    tok = value[0]
    if tok.type == tokenize.NUMBER:
        return _canonical_number(tok.string)
    return tok.type in (tokenize.NAME, tokenize.STRING)


def bare_labels(
    toks: list[tokenize.TokenInfo],
    open_at: int,
    new: bool,
    src: str,
    offset: Callable[[tuple[int, int]], int],
    edits: list[tuple[int, int, str]],
) -> dict[int, int]:
    """Rewrite the bare labels of the subscript opened at `toks[open_at]` (of
    `src`; `offset` maps a token position to an offset) into marked string
    literals, appended to `edits`; return each one's first token -> its last
    (the tokens the rewrite then skips). `new`: 0.9.0's language (`axis:label`)."""
    out: dict[int, int] = {}
    for first, last in _bare_runs(toks, open_at, new):
        start, end = offset(toks[first].start), offset(toks[last].end)
        edits.append((start, end, repr(BARE + src[start:end])))
        out[first] = last
    return out


def filter_items(raw: str) -> str:
    """The items of a `sum_over` filter `IN [0-4, '65+']` (the text between its
    brackets) as a Python list's items: each a string literal of its label, as
    0.1.2 reads them (split at commas; a quoted label is the label)."""
    return ", ".join(repr(unquote(c)[0]) for c in split_items(raw) if c)
