"""Constant folding: arithmetic, comparisons and namespace functions of
constants, computed once in float64 exactly as NumPy computes them at run time
(None where the result must be left to run time or is a spec error)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["_compare", "_fold", "_fold_call"]


def _compare(op: str, a: float, b: float) -> bool:
    """A comparison of two constants, in float64 as the generated code compares."""
    x, y = np.float64(a), np.float64(b)
    ops = {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y}
    return bool(ops[op]) if op in ops else bool(x != y)


def _fold_call(func: str, args: list[float]) -> float | None:
    """A namespace function of constants, computed once in float64 (bitwise what
    NumPy computes at run time), or None when the result is not finite (left to
    run time, where NumPy gives inf or nan as 0.1.2 did)."""
    xs = [np.float64(a) for a in args]
    with np.errstate(all="ignore"):
        if func == "clip":
            r = np.minimum(np.maximum(xs[0], xs[1]), xs[2])
        else:
            fn = getattr(np, func, None)
            if fn is None:  # pragma: no cover - the parser allows numpy's names only
                return None
            r = fn(*xs)
    return float(r) if np.isfinite(r) else None


def _fold(op: str, a: float, b: float) -> float | None:
    with np.errstate(all="ignore"):
        x, y = np.float64(a), np.float64(b)
        if op == "+":
            r = x + y
        elif op == "-":
            r = x - y
        elif op == "*":
            r = x * y
        elif op == "/":
            if y == 0:
                return None
            r = x / y
        elif op == "**":
            r = np.power(x, y)
        elif op == "%":
            if y == 0:
                return None
            r = np.remainder(x, y)
        else:  # pragma: no cover
            return None
    if not np.isfinite(r) and math.isfinite(a) and math.isfinite(b):
        return None  # overflow (or nan) from finite operands
    if not np.isfinite(r):
        return float(r)
    if (
        isinstance(a, int)
        and isinstance(b, int)
        and op in "+-*"
        and float(r).is_integer()
        and abs(r) < 2**53
    ):
        return int(r)
    return float(r)
