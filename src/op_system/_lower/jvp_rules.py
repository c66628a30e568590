"""The jvp's rules: the tangent of each function and operator of the language, one
table entry each (as JAX registers a jvp rule per primitive), applied by `_Tangent`.

A rule receives the primal values of the arguments it reads and the tangents of
those it is differentiable in (None: identically zero, never all of them) and
returns the tangent of the result, or None when it is zero. Values and tangents
are `_Val`s whose ops may appear several times in the result: a rule keeps an
operand it repeats in a temporary (`Temps.temp`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from .ops import Bin, Fn, Int, Lit, Neg, Op, Where
from .values import _Val

__all__ = [
    "BINARY_RULES",
    "FUNCTION_RULES",
    "IF_RULE",
    "UNARY_RULES",
    "Rule",
    "Temps",
    "add",
    "mul",
    "product_rule",
    "select",
    "zero_or",
]


class Temps(Protocol):
    """What a rule needs of the lowering: a value kept in a temporary."""

    def temp(self, op: Op, prefix: str = "v") -> Op: ...


#: How a rule takes an argument: "x" its value (as a number) and its tangent;
#: "dx" its tangent only (the result is linear in it); "test" its value only, as a
#: boolean (the result is piecewise constant in it: its tangent is zero).
Role = Literal["x", "dx", "test"]

#: (lowering, values of the "x" and "test" arguments, tangents of the "x" and "dx"
#: arguments, each in argument order) -> the tangent
Jvp = Callable[[Temps, list[_Val], list[_Val | None]], _Val | None]


@dataclass(frozen=True)
class Rule:
    """The tangent of a function or operator, and how it takes each argument."""

    jvp: Jvp
    roles: tuple[Role, ...]


# -- tangent algebra ------------------------------------------------------------------
def zero_or(v: _Val | None) -> Op:
    """The op of a tangent, a literal zero for a zero tangent."""
    return Lit(0.0) if v is None else v.op


def add(a: _Val | None, b: _Val | None, sign: str = "+") -> _Val | None:
    """`a + b` or `a - b` of tangents."""
    if b is None:
        return a
    if a is None:
        return b if sign == "+" else _Val(Neg(b.op), b.dims)
    return _Val(Bin(sign, a.op, b.op), a.dims | b.dims)


def mul(a: _Val | None, b: _Val) -> _Val | None:
    """A tangent `a` times a value `b`."""
    if a is None:
        return None
    return _Val(Bin("*", a.op, b.op), a.dims | b.dims)


def select(
    cond: Op, a: _Val | None, b: _Val | None, dims: frozenset[str]
) -> _Val | None:
    """The tangent `a` where `cond` holds, else `b` (`cond` depending on `dims`)."""
    if a is None and b is None:
        return None
    all_dims = dims | (a.dims if a else frozenset()) | (b.dims if b else frozenset())
    return _Val(Where(cond, zero_or(a), zero_or(b)), all_dims)


def product_rule(
    op: str, da: _Val | None, a: _Val, db: _Val | None, b: _Val
) -> _Val | None:
    """Tangent of `a * b` or `a / b` from the operands' values and tangents.

    For `/`, `b` should be a temporary: it appears three times.
    """
    if op == "*":
        return add(mul(da, b), mul(db, a))
    first = None if da is None else _Val(Bin("/", da.op, b.op), da.dims | b.dims)
    second = (
        None
        if db is None
        else _Val(
            Bin("/", Bin("*", a.op, db.op), Bin("*", b.op, b.op)),
            a.dims | db.dims | b.dims,
        )
    )
    return add(first, second, "-")


# -- rules ----------------------------------------------------------------------------
_ONE = Lit(1.0)


def _elementwise(derivative: Callable[[Op], Op]) -> Rule:
    """The rule of a one-argument function from its derivative `f'(x)` (given `x`
    as a temporary): `f'(x) * dx`."""

    def jvp(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
        (x,), (dx,) = xs, ds
        if dx is None:
            return None
        factor = derivative(lw.temp(x.op))
        return _Val(Bin("*", factor, dx.op), x.dims | dx.dims)

    return Rule(jvp, ("x",))


def _extremum(cmp: str) -> Rule:
    """`maximum` (`cmp` ">=") or `minimum` ("<="): the tangent of the argument
    chosen, the first one on a tie."""

    def jvp(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
        (a, b), (da, db) = xs, ds
        return select(Bin(cmp, a.op, b.op), da, db, a.dims | b.dims)

    return Rule(jvp, ("x", "x"))


def _clip(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    # clip(x, lo, hi) is minimum(maximum(x, lo), hi), as the lowering computes it
    (x, lo, hi), (dx, dlo, dhi) = xs, ds
    m = _Val(Fn("maximum", (x.op, lo.op)), x.dims | lo.dims)
    dm = select(Bin(">=", x.op, lo.op), dx, dlo, x.dims | lo.dims)
    return select(Bin("<=", m.op, hi.op), dm, dhi, m.dims | hi.dims)


def _hypot(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    (a, b), (da, db) = xs, ds
    at, bt = lw.temp(a.op), lw.temp(b.op)
    dims = a.dims | b.dims
    h = lw.temp(Fn("hypot", (at, bt)))
    return add(
        mul(da, _Val(Bin("/", at, h), dims)), mul(db, _Val(Bin("/", bt, h), dims))
    )


def _arctan2(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    # d arctan2(a, b) = (b da - a db) / (a^2 + b^2)
    (a, b), (da, db) = xs, ds
    at, bt = lw.temp(a.op), lw.temp(b.op)
    dims = a.dims | b.dims
    r2 = lw.temp(Bin("+", Bin("*", at, at), Bin("*", bt, bt)))
    return add(
        mul(da, _Val(Bin("/", bt, r2), dims)),
        mul(db, _Val(Bin("/", at, r2), dims)),
        "-",
    )


def _where(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    (c,), (da, db) = xs, ds
    return select(c.op, da, db, c.dims)


def _if(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    # like `where`, but a constant test picks its branch (as the primal does)
    (c,), (db, do) = xs, ds
    if c.const is not None:
        return db if c.const else do
    return select(c.op, db, do, c.dims)


def _times(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    (a, b), (da, db) = xs, ds
    return product_rule("*", da, a, db, b)


def _divide(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    (a, b), (da, db) = xs, ds
    return product_rule("/", da, a, db, _Val(lw.temp(b.op), b.dims))


def _power(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    # d a**b = b a**(b-1) da + a**b log(a) db
    (a, b), (da, db) = xs, ds
    at, bt = lw.temp(a.op), lw.temp(b.op)
    first = (
        None
        if da is None
        else _Val(
            Bin("*", Bin("*", bt, Bin("**", at, Bin("-", bt, Int(1)))), da.op),
            da.dims | a.dims | b.dims,
        )
    )
    second = (
        None
        if db is None
        else _Val(
            Bin("*", Bin("*", Bin("**", at, bt), Fn("log", (at,))), db.op),
            db.dims | a.dims | b.dims,
        )
    )
    return add(first, second)


def _modulo(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    # a % b = a - floor(a / b) * b, the floor piecewise constant
    (a, b), (da, db) = xs, ds
    second = (
        None
        if db is None
        else _Val(
            Bin("*", Fn("floor", (Bin("/", a.op, b.op),)), db.op),
            db.dims | a.dims | b.dims,
        )
    )
    return add(da, second, "-")


def _linear(sign: str) -> Rule:
    """`a + b` or `a - b`: the tangents added, no value needed."""

    def jvp(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
        return add(ds[0], ds[1], sign)

    return Rule(jvp, ("dx", "dx"))


def _negate(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    (dv,) = ds
    return None if dv is None else _Val(Neg(dv.op), dv.dims)


def _identity(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    return ds[0]


def _zero(lw: Temps, xs: list[_Val], ds: list[_Val | None]) -> _Val | None:
    return None  # pragma: no cover - a rule without tangents is never called


#: `np.<name>` of `ALLOWED_FUNCS` -> its rule (all are differentiable almost
#: everywhere; at a kink, the one-sided choice noted)
FUNCTION_RULES: dict[str, Rule] = {
    "abs": _elementwise(lambda x: Fn("sign", (x,))),  # 0 at 0
    "exp": _elementwise(lambda x: Fn("exp", (x,))),
    "expm1": _elementwise(lambda x: Fn("exp", (x,))),
    "log": _elementwise(lambda x: Bin("/", _ONE, x)),
    "log1p": _elementwise(lambda x: Bin("/", _ONE, Bin("+", _ONE, x))),
    "log2": _elementwise(lambda x: Bin("/", _ONE, Bin("*", x, Lit(math.log(2.0))))),
    "log10": _elementwise(lambda x: Bin("/", _ONE, Bin("*", x, Lit(math.log(10.0))))),
    "sqrt": _elementwise(lambda x: Bin("/", Lit(0.5), Fn("sqrt", (x,)))),
    "sin": _elementwise(lambda x: Fn("cos", (x,))),
    "cos": _elementwise(lambda x: Neg(Fn("sin", (x,)))),
    "tan": _elementwise(
        lambda x: Bin("/", _ONE, Bin("*", Fn("cos", (x,)), Fn("cos", (x,))))
    ),
    "sinh": _elementwise(lambda x: Fn("cosh", (x,))),
    "cosh": _elementwise(lambda x: Fn("sinh", (x,))),
    "tanh": _elementwise(
        lambda x: Bin("-", _ONE, Bin("*", Fn("tanh", (x,)), Fn("tanh", (x,))))
    ),
    "maximum": _extremum(">="),
    "minimum": _extremum("<="),
    "clip": Rule(_clip, ("x", "x", "x")),  # at a bound, x's tangent
    "hypot": Rule(_hypot, ("x", "x")),
    "arctan2": Rule(_arctan2, ("x", "x")),
    "where": Rule(_where, ("test", "dx", "dx")),
}

#: operator of `BINARY_OPS` -> its rule
BINARY_RULES: dict[str, Rule] = {
    "+": _linear("+"),
    "-": _linear("-"),
    "*": Rule(_times, ("x", "x")),
    "/": Rule(_divide, ("x", "x")),
    "**": Rule(_power, ("x", "x")),
    "%": Rule(_modulo, ("x", "x")),
}

#: unary operator -> its rule (`not` is piecewise constant: no tangent)
UNARY_RULES: dict[str, Rule] = {
    "+": Rule(_identity, ("dx",)),
    "-": Rule(_negate, ("dx",)),
    "not": Rule(_zero, ("test",)),
}

#: `body if test else orelse`, its arguments `(test, body, orelse)`
IF_RULE = Rule(_if, ("test", "dx", "dx"))
