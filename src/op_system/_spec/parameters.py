"""The `parameters:` block: declarations of the model's runtime parameters.

A declaration is data about a parameter (its support, units, description,
whether inference should hold it fixed); it never changes the right-hand side.
The rules and messages are op-system 0.9.0's (`_parameter_meta.py` there). On
top of them, in both dialects: once a `parameters:` block is present, every
name an expression reads as a parameter must be declared, so that a typo
(`gamme` for `gamma`) is an error instead of a new parameter.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from numbers import Real

from .._support.errors import SpecError, did_you_mean
from .science import optional_text

__all__ = [
    "ParameterDeclaration",
    "ParameterSupport",
    "check_declared",
    "parameter_declarations",
]

_SUPPORTS = ("real", "positive", "unit_interval")
_FIELDS = ("support", "units", "description", "fixed")


@dataclass(frozen=True)
class ParameterSupport:
    """A parameter's declared domain: bounds are inclusive, positivity strict.

    Attributes:
        kind: `real`, `positive`, `unit_interval` (zero and one included) or `bounded`.
        lower: The finite lower bound of a `bounded` support, else `None`.
        upper: The finite upper bound of a `bounded` support, else `None`.
    """

    kind: str
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class ParameterDeclaration:
    """One entry of `parameters:`.

    Attributes:
        support: The declared domain, `None` when not declared.
        units: Unit text (not checked dimensionally), or `None`.
        description: Free text, or `None`.
        fixed: Whether inference should hold the parameter fixed (it stays a
            runtime parameter all the same).
    """

    support: ParameterSupport | None = None
    units: str | None = None
    description: str | None = None
    fixed: bool = False


def _bound(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise SpecError("parameter bounds must be finite numbers", path=path)
    try:
        bound = float(value)
    except OverflowError:
        bound = math.inf
    if not math.isfinite(bound):
        raise SpecError("parameter bounds must be finite numbers", path=path)
    return bound


def _support(value: object, path: str) -> ParameterSupport:
    if isinstance(value, str) and value in _SUPPORTS:
        return ParameterSupport(value)
    if not isinstance(value, Mapping) or set(value) != {"kind", "lower", "upper"}:
        hint = did_you_mean(value, _SUPPORTS) if isinstance(value, str) else ""
        raise SpecError(
            "parameter support must be real, positive, unit_interval, "
            f"or a bounded mapping with kind, lower and upper{hint}",
            path=path,
            token=value if isinstance(value, str) else None,
        )
    lower = _bound(value["lower"], f"{path}.lower")
    upper = _bound(value["upper"], f"{path}.upper")
    if value["kind"] != "bounded" or lower >= upper:
        raise SpecError(
            "bounded parameter support requires finite numeric lower < upper",
            path=path,
        )
    return ParameterSupport("bounded", lower, upper)


def _declaration(value: object, path: str) -> ParameterDeclaration:
    if not isinstance(value, Mapping) or any(k not in _FIELDS for k in value):
        bad = (
            next((k for k in value if k not in _FIELDS), None)
            if isinstance(value, Mapping)
            else None
        )
        hint = did_you_mean(bad, _FIELDS) if isinstance(bad, str) else ""
        raise SpecError(
            "parameter declaration must contain only support, units, "
            f"description and fixed{hint}",
            path=path,
            token=bad if isinstance(bad, str) else None,
        )
    fixed = value.get("fixed", False)
    if not isinstance(fixed, bool):
        raise SpecError("parameter fixed must be a boolean", path=f"{path}.fixed")
    support = (
        _support(value["support"], f"{path}.support") if "support" in value else None
    )
    return ParameterDeclaration(
        support,
        optional_text(value, "units", path, "parameter"),
        optional_text(value, "description", path, "parameter"),
        fixed,
    )


def parameter_declarations(
    value: object, known: Collection[str]
) -> dict[str, ParameterDeclaration]:
    """Read `parameters:` against the runtime parameter names `known`.

    Raises:
        SpecError: a malformed declaration, or one that names no parameter of
            the model (op-system 0.9.0's "is not an inferred runtime parameter").
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError("parameters must be a declaration mapping", path="parameters")
    out: dict[str, ParameterDeclaration] = {}
    for name, raw in value.items():
        path = f"parameters[{name!r}]"
        if not isinstance(name, str) or name not in known:
            hint = did_you_mean(name, known) if isinstance(name, str) else ""
            raise SpecError(
                f"parameter declaration {name!r} is not an inferred runtime parameter{hint}",
                path=path,
                token=name if isinstance(name, str) else None,
            )
        out[name] = _declaration(raw, path)
    return out


def check_declared(used: Mapping[str, str], declared: Collection[str]) -> None:
    """With a `parameters:` block, every parameter an expression reads is declared.

    Arguments:
        used: parameter name -> the spec path of an expression reading it.
        declared: the names `parameters:` declares.
    """
    for name, path in used.items():
        if name not in declared:
            raise SpecError(
                f"{name!r} is neither a state, alias, coordinate, kernel, function "
                f"nor a parameter declared in parameters{did_you_mean(name, declared)}",
                path=path,
                token=name,
            )
