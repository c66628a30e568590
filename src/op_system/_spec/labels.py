"""Coordinate labels as written in keys: `S[age='0-17', vax=u]`, `X[region="06037"]`.

A categorical axis's coordinates are labels of any text (`0-17`, `65+`,
`06037`, `New York`). In a key that names cells (an `initial_state` key, an
equation key, a `coord_shift` arrow) a label is written as it is, or quoted
with `'` or `"` when it holds characters the key's grammar uses (`,`, `=`,
`:`, `]`, a quote) or to say plainly that it is a label. Expressions read
labels the same way (`_lang/parse.py`).

These helpers only split and unquote text: nothing is evaluated.

!!! example
    ```python
    >>> split_items("age='0-17', vax = u, region")
    ["age='0-17'", 'vax = u', 'region']
    >>> split_pin("age='0-17'")
    ('age', '0-17', True)
    >>> split_pin("region")
    ('region', None, False)
    >>> quote_label("65+"), quote_label("it's")
    ("'65+'", '"it\\'s"')

    ```
"""

from __future__ import annotations

__all__ = ["quote_label", "split_items", "split_pin", "unquote"]

_QUOTES = ("'", '"')


def unquote(text: str) -> tuple[str, bool]:
    """`text` without one pair of surrounding quotes, and whether it had them.

    Surrounding blanks are dropped first; inside the quotes, the label is kept
    exactly (blanks too)."""
    text = text.strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
        return text[1:-1], True
    return text, False


def _outside_quotes(text: str) -> list[tuple[int, str]]:
    """Each character of `text` outside quoted runs, with its offset."""
    out: list[tuple[int, str]] = []
    quote: str | None = None
    for i, ch in enumerate(text):
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in _QUOTES:
            quote = ch
        else:
            out.append((i, ch))
    return out


def split_items(inside: str) -> list[str]:
    """The items of a bracket's contents, split at commas outside quotes
    (blanks around each item dropped, empty items kept as `""`)."""
    cuts = [i for i, ch in _outside_quotes(inside) if ch == ","]
    parts: list[str] = []
    start = 0
    for cut in cuts:
        parts.append(inside[start:cut].strip())
        start = cut + 1
    parts.append(inside[start:].strip())
    return parts


def split_pin(item: str) -> tuple[str, str | None, bool]:
    """An item `axis=label` (or 0.9.0's `axis:label`) as `(axis, label, quoted)`;
    an item without `=`/`:` outside quotes as `(item, None, False)`."""
    for i, ch in _outside_quotes(item):
        if ch in "=:":
            label, quoted = unquote(item[i + 1 :])
            return item[:i].strip(), label, quoted
    return item.strip(), None, False


def quote_label(label: str) -> str:
    """`label` in quotes, as a key or an expression writes it (`'65+'`)."""
    quote = '"' if "'" in label and '"' not in label else "'"
    return f"{quote}{label}{quote}"
