"""Statements of a generated program: the IR the lowering appends to, printed last.

A generated function is a `Function` whose body is a list of statements over
array-op trees (`_lower/ops.py`): assignments, stores into the output, calls of
runtime helpers for their effect, `if`, `try`/`except KeyError` and `return`.
Nothing before `print_function` writes source text; the emitter of the
namespace family prints every value.

The runtime helpers a program may call are declared once, in `RUNTIME`: a
`Call` of any other name is refused when printed, and `_backends/runtime.py` defines
exactly these names (`tests/lower/test_stmts.py` checks both).

>>> from op_system._lower.ops import NUMPY, Var
>>> f = Function("rhs", ("t", "y"), (Assign("x", Call("_state", (Var("y"),))),
...     Return(Var("x"))), kwargs="params")
>>> print(print_function(f, NUMPY))
def rhs(t, y, **params):
    x = _state(y)
    return x
<BLANKLINE>
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NoReturn, TypeAlias

from .ops import Bin, Emitter, Op, Span

__all__ = [
    "NUMPY_ONLY",
    "RUNTIME",
    "Assign",
    "Call",
    "Do",
    "Function",
    "If",
    "Return",
    "Stmt",
    "Store",
    "Try",
    "print_function",
]

#: The runtime helpers a generated program may call, and what each does. Their
#: definitions (per namespace family) are in `_backends/runtime.py`.
RUNTIME: dict[str, str] = {
    "_state": "the state as an array of the namespace (float64 on NumPy), checked",
    "_bad_shape": "raise: the state has the wrong shape",
    "_alias_cycle": "raise: the aliases depend on each other in a cycle",
    "_not_numpy": "whether a state is neither a NumPy array, a list nor a scalar",
    "_other": "the same function on the default backend's other namespace",
    "_f64s": "a Python scalar as a NumPy float64 (float64 semantics)",
    "_param_array": "an array parameter of its declared shape, checked",
    "_scalar": "a scalar parameter, checked (one number)",
    "_cells": "an indexed parameter assembled from its expanded cell names",
    "_fill_params": "every parameter, read through its expanded names (slow path)",
    "_pvec": "scalar parameters gathered by name into one vector",
    "_tv_grid": "the time grid of the time-varying parameters",
    "_tv_table": "a time-varying parameter's table, checked against the grid",
    "_tv_linear": "a time-varying table interpolated linearly at t",
    "_tv_previous": "a time-varying table held from the previous grid point at t",
    "_tv_monotone_cubic": "a time-varying table's monotone cubic interpolant at t",
    "_astype": "an array cast to a dtype",
    "_empty": "an uninitialized float64 array (NumPy outputs)",
    "_subtract": "NumPy's subtract, written into `out=`",
    "_add_at": "NumPy's unbuffered add at repeated indices",
    "_subtract_at": "NumPy's unbuffered subtract at repeated indices",
    "_as_out": "a value as a fresh output array of a dtype",
    "_bex": "an output without a batch axis given one (batched tangents)",
}

#: helpers only NumPy programs call (in-place output writes, float64 scalars);
#: `_not_numpy`/`_other` exist in the dispatching NumPy function, `_bex` in
#: batched tangent programs
NUMPY_ONLY = frozenset(
    {
        "_f64s",
        "_empty",
        "_subtract",
        "_add_at",
        "_subtract_at",
        "_not_numpy",
        "_other",
        "_bex",
    }
)


@dataclass(frozen=True)
class Call(Op):
    """A call of a runtime helper: the name must be one `RUNTIME` declares."""

    name: str
    args: tuple[Op, ...] = ()
    kwargs: tuple[tuple[str, Op], ...] = ()

    def __post_init__(self) -> None:
        if self.name not in RUNTIME:
            raise ValueError(f"{self.name!r} is not a runtime helper (see RUNTIME)")

    def emit(self, text: Callable[[Op], str]) -> str:
        args = [text(a) for a in self.args] + [f"{k}={text(v)}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(args)})"


@dataclass(frozen=True, slots=True)
class Assign:
    """`name = value`; with a tuple of names, `a, b, = value` (unpacked)."""

    target: str | tuple[str, ...]
    value: Op


@dataclass(frozen=True, slots=True)
class Store:
    """`target[index] = value`, or `+=` / `-=` with `aug` (an in-place update)."""

    target: str
    index: int | Span | Op
    value: Op
    aug: Literal["", "+", "-"] = ""


@dataclass(frozen=True, slots=True)
class Do:
    """A runtime helper called for its effect (a check that raises, an in-place
    NumPy update)."""

    call: Call


@dataclass(frozen=True, slots=True)
class Return:
    value: Op


@dataclass(frozen=True, slots=True)
class If:
    cond: Op
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class Try:
    """`try: body` / `except KeyError: handler` (a parameter missing by its base
    name: read through its expanded names)."""

    body: tuple[Stmt, ...]
    handler: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class Function:
    """`def name(args, **kwargs): body`."""

    name: str
    args: tuple[str, ...]
    body: tuple[Stmt, ...]
    kwargs: str | None = None


#: A statement of a generated function (a closed union: the printer handles each).
Stmt: TypeAlias = Assign | Store | Do | Return | If | Try | Function


def _lines(s: Stmt, e: Emitter, pad: str, out: list[str]) -> None:
    t = e.text
    match s:
        case Assign(target, value):
            names = target if isinstance(target, str) else ", ".join(target) + ","
            out.append(f"{pad}{names} = {t(value)}")
        case Store(target, index, value, aug):
            out.append(f"{pad}{target}[{e.item(index)}] {aug}= {t(value)}")
        case Do(call):
            out.append(f"{pad}{t(call)}")
        case Return(value):
            out.append(f"{pad}return {t(value)}")
        case If(cond, body):
            text = t(cond)  # a comparison's parentheses are the `if`'s own
            if text.startswith("(") and isinstance(cond, Bin):
                text = text[1:-1]
            out.append(f"{pad}if {text}:")
            _block(body, e, pad, out)
        case Try(body, handler):
            out.append(f"{pad}try:")
            _block(body, e, pad, out)
            out.append(f"{pad}except KeyError:")
            _block(handler, e, pad, out)
        case Function(name, args, body, kwargs):
            kw = f", **{kwargs}" if kwargs else ""
            out.append(f"{pad}def {name}({', '.join(args)}{kw}):")
            _block(body, e, pad, out)
        case _:
            _unhandled(s)


def _unhandled(s: NoReturn) -> NoReturn:
    """The type checker proves this unreachable: every statement kind is printed."""
    raise TypeError(f"not a statement: {s!r}")  # pragma: no cover


def _block(body: tuple[Stmt, ...], e: Emitter, pad: str, out: list[str]) -> None:
    for s in body:
        _lines(s, e, pad + "    ", out)


def print_function(fn: Function, e: Emitter) -> str:
    """The source text of `fn`, every value written by `e`."""
    out: list[str] = []
    _lines(fn, e, "", out)
    return "\n".join(out) + "\n"
