"""A number written where an expression is expected (`rate: 0.2`).

YAML reads `rate: 0.2` as a float: a number is accepted wherever an expression
string is (a transition's or reaction's rate, an equation, an alias, an
observable), and read as the expression of its text.
"""

from __future__ import annotations

import math

__all__ = ["expression_text"]


def expression_text(value: object) -> object:
    """The text of a finite real number (`0.2` -> `"0.2"`); anything else as given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return value
    return repr(value)
