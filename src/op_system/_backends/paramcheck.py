"""Parameter values checked at the call: shape and dtype against the axes.

A generated program reads each parameter by name (see `_lower/codegen.py`
`_param_reads`); these are the checks behind those reads, each raising a
`ParameterError` that names the parameter, what its axes want and what was
given. Without them NumPy would apply `beta=[0.3, 0.2]` for a scalar `beta`
cell by cell, read `"0.3"` as a number, `None` as NaN, and answer a list of
strings or a ragged list with an error that names no parameter.

The checks cost nothing on the fast path: NumPy's scalar read (`_f64s`) checks
only what is not a Python or NumPy float or int, and defers to the generated
slow path (`SlowPath`), which checks every parameter by name; arrays of the
right shape and class pass the program's own one-line test. Under `jax.jit`
shapes and dtypes are static, so the checks run once, when the program is
traced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._support.errors import ParameterError

__all__ = [
    "SlowPath",
    "check_array",
    "check_scalar",
    "check_vector",
    "numeric_kinds",
]

#: dtype kinds of numbers: bool, signed and unsigned int, float (and complex
#: where the program does not compute in float64)
_REAL = "biuf"
_NUMBER = "biufc"


class SlowPath(KeyError):
    """Raised by NumPy's fast scalar read for a value that is not a plain scalar
    number: a `KeyError`, so the generated program takes its slow path
    (`_fill_params`), which checks every parameter by name and says which."""


def numeric_kinds(f64: bool) -> str:
    """The dtype kinds a parameter may have: real numbers when the program
    computes in float64 (NumPy's default), numbers otherwise."""
    return _REAL if f64 else _NUMBER


def _kind(dtype: Any) -> str | None:
    """`dtype`'s NumPy kind, `"f"` for JAX's extra floats (`bfloat16`, kind
    `"V"` in NumPy), `None` for a namespace whose dtypes NumPy cannot read
    (then the namespace itself checks)."""
    try:
        d = np.dtype(dtype)
    except TypeError:
        return None
    if d.kind == "V" and d.names is None and "float" in d.name:
        return "f"
    return str(d.kind)


def _shown(x: Any) -> str:
    """A short description of a value for a message."""
    text = repr(x)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(x).__name__} {text}"


def _axes_text(axes: Sequence[str]) -> str:
    return f"axes {', '.join(axes)}" if axes else "a scalar: no axes"


def _not_numbers(name: str, x: Any, what: str) -> ParameterError:
    return ParameterError(
        f"parameter {name!r} must be {what}, got {_shown(x)}",
        path=f"params[{name!r}]",
        token=name,
    )


def check_scalar(x: Any, name: str, *, f64: bool) -> Any:
    """`x` as the value of the scalar parameter `name`: float64 when the program
    computes in float64 (`f64`), else as given; `ParameterError` unless it is
    one number (a Python or NumPy number, a 0-d array or tracer)."""
    cls = x.__class__
    if cls is float or cls is int:
        return np.float64(x) if f64 else x
    kinds = numeric_kinds(f64)
    kind: str | None
    shape = getattr(x, "shape", None)
    if shape is None:  # not an array: a list, a string, None, a Decimal, ...
        if x is None or isinstance(x, (str, bytes)):
            raise _not_numbers(name, x, "a number")
        try:
            a = np.asarray(x)
            if a.dtype.kind == "O" and a.shape == ():  # Decimal, Fraction, ...
                a = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise _not_numbers(name, x, "a number") from None
        shape, kind = a.shape, a.dtype.kind
    else:
        kind = _kind(x.dtype)
    if tuple(shape) != ():
        raise ParameterError(
            f"parameter {name!r} is a scalar (shape ()), got shape {tuple(shape)}: "
            f"one value of {name!r} applies to every cell; for one value per "
            f"coordinate, index it by that axis in the spec (`{name}[axis]`)",
            path=f"params[{name!r}]",
            token=name,
        )
    if kind is not None and kind not in kinds:
        raise _not_numbers(name, x, "a real number" if f64 else "a number")
    return np.asarray(x, dtype=np.float64) if f64 else x


def check_array(
    v: Any,
    name: str,
    shape: tuple[int, ...],
    axes: Sequence[str],
    asarray: Callable[[Any], Any],
    *,
    f64: bool,
) -> Any:
    """`v` as the array of the indexed parameter `name` (of `shape`, over
    `axes`): a scalar is broadcast by the caller (the array comes back 0-d);
    `ParameterError` for another shape or values that are not numbers."""
    what = f"an array of numbers of shape {shape} ({_axes_text(axes)})"
    if isinstance(v, (str, bytes)) or v is None:
        raise _not_numbers(name, v, what)
    try:
        if not hasattr(v, "dtype"):  # a list: NumPy reads what it holds first
            kind = _kind(np.asarray(v).dtype)
            if kind is not None and kind not in numeric_kinds(f64):
                raise _not_numbers(name, v, what)
        a = asarray(v)
    except (TypeError, ValueError):  # ragged lists, ...
        raise _not_numbers(name, v, what) from None
    got = tuple(a.shape)
    if got != shape and got != ():
        raise ParameterError(
            f"parameter {name!r} must have shape {shape} ({_axes_text(axes)}), "
            f"got shape {got}",
            path=f"params[{name!r}]",
            token=name,
        )
    kind = _kind(a.dtype)
    if kind is not None and kind not in numeric_kinds(f64):
        raise _not_numbers(name, v, what)
    return a


def check_vector(
    vals: Sequence[Any], names: Sequence[str], got: Any, *, f64: bool
) -> None:
    """After a vector of scalar parameters came out wrong (`got`: its shape, or
    `None` if it could not be made): the `ParameterError` of the first of
    `names` whose value in `vals` is not one number."""
    for v, n in zip(vals, names, strict=True):
        check_scalar(v, n, f64=f64)
    raise ParameterError(  # pragma: no cover - each value alone is a number
        f"parameters {list(names)[:4]} do not make a vector (got {got})",
        path="params",
        token=names[0],
    )
