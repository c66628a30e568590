"""Lowered values and programs: `_Val`, an array op with the scope dimensions it
depends on, and `Lowered`, a generated program with its constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .._core.model import Dim
from .ops import (
    Emitter,
    Lit,
    Op,
    Reshape,
    reshape,
)
from .split import split_prep
from .stmts import Function, print_function

__all__ = ["Lowered", "_Val"]


@dataclass
class Lowered:
    """Generated source plus the constants it refers to."""

    source: str
    constants: dict[str, Any]
    param_order: list[str]
    alias_cycle: list[str] | None
    #: the parameters the slow path (`_fill_params`) returns, in order: those the
    #: program reads by name (the others it reads through `_pvec` only)
    fill_order: list[str] | None = None
    #: the function `bind` splits (from its parameter reads on), and its emitter;
    #: None for a program that is never bound
    bound_from: tuple[Function, Emitter] | None = None
    _bound: str | None = field(default=None, repr=False)

    @property
    def bound_source(self) -> str:
        """`prep(params)` and `core(t, y, *prepared)`: the same function split for
        `bind` (`_lower/split.py`), made when first asked for ("" if never bound)."""
        if self._bound is None:
            self._bound = ""
            if self.bound_from is not None:
                fn, emitter = self.bound_from
                prep, core = split_prep(fn)
                self._bound = print_function(prep, emitter) + print_function(
                    core, emitter
                )
        return self._bound


@dataclass(frozen=True)
class _Val:
    """A lowered value: its array op, the scope dimensions it depends on, and its kind.

    Its shape is implied: `()`-like scalar when `dims` is empty, else rank
    `len(scope)` with the dimension sizes where it depends and 1 elsewhere.
    """

    op: Op
    dims: frozenset[str]
    kind: Literal["num", "bool"] = "num"
    const: float | int | bool | None = None
    #: value number (see `_Lowerer.share`): equal numbers, equal values
    key: int | None = None
    #: the value this one is the negation of (`-x`), for sign hoisting
    neg: _Val | None = None


def _shape(v: _Val, scope: tuple[Dim, ...]) -> tuple[int, ...] | None:
    if not v.dims:
        return None
    return tuple(d.size if d.name in v.dims else 1 for d in scope)


def _reshape(v: _Val, cur: tuple[int, ...] | None, new: tuple[int, ...]) -> Op:
    """`v` reshaped to `new`, skipping no-op and chained reshapes."""
    return reshape(v.op, new, cur)


def _is_view(op: Op) -> bool:
    """A reshape of a reference (`index`): free to recompute, never shared."""
    return isinstance(op, Reshape) and op.before is not None


def _num_val(value: float | int | bool) -> _Val:
    kind: Literal["num", "bool"] = "bool" if isinstance(value, bool) else "num"
    return _Val(Lit(value), frozenset(), kind, value)
