"""The `gauges:` block: declared positive scaling actions (op-system 0.9.0's).

A gauge `{name, states: {base: w}, parameters: {base: w}}` says that scaling
each named state by `s**w` (and each parameter likewise) should leave the
model covariant. The declaration is data: it is validated with 0.9.0's rules
and messages and kept; whether the model really is covariant is not checked.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from numbers import Real

from .._support.errors import SpecError, did_you_mean

__all__ = ["ScalingGauge", "gauge_declarations"]


@dataclass(frozen=True)
class ScalingGauge:
    """One scaling generator.

    Attributes:
        name: Its unique label.
        states: `(state base, exponent)` pairs, nonzero exponents only.
        parameters: `(parameter base, exponent)` pairs, nonzero exponents only.
    """

    name: str
    states: tuple[tuple[str, float], ...] = ()
    parameters: tuple[tuple[str, float], ...] = ()


def _exponents(
    value: object, known: Collection[str], field: str, path: str
) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, Mapping):
        raise SpecError(
            f"gauge {field} must be a base-name exponent mapping", path=path
        )
    out: list[tuple[str, float]] = []
    for name, exponent in value.items():
        if not isinstance(name, str) or name not in known:
            hint = did_you_mean(name, known) if isinstance(name, str) else ""
            raise SpecError(
                f"Unknown gauge {field} base {name!r}; use declared base names{hint}",
                path=f"{path}[{name!r}]",
                token=name if isinstance(name, str) else None,
            )
        if (
            isinstance(exponent, bool)
            or not isinstance(exponent, Real)
            or not math.isfinite(float(exponent))
        ):
            raise SpecError(
                f"Gauge exponent for {name!r} must be a finite real number",
                path=f"{path}[{name!r}]",
            )
        if exponent:
            out.append((name, float(exponent)))
    return tuple(out)


def gauge_declarations(
    value: object, states: Collection[str], parameters: Collection[str]
) -> tuple[ScalingGauge, ...]:
    """Read `gauges:` against the model's state and parameter base names."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise SpecError("gauges must be a list of scaling declarations", path="gauges")
    out: list[ScalingGauge] = []
    names: set[str] = set()
    for i, decl in enumerate(value):
        path = f"gauges[{i}]"
        if not isinstance(decl, Mapping) or set(decl) - {
            "name",
            "states",
            "parameters",
        }:
            raise SpecError(
                "A gauge declaration allows only name, states and parameters", path=path
            )
        name = decl.get("name")
        if (
            not isinstance(name, str)
            or not name.isidentifier()
            or keyword.iskeyword(name)
            or name in names
        ):
            raise SpecError(
                "Gauge names must be unique identifiers", path=f"{path}.name"
            )
        st = _exponents(decl.get("states", {}), states, "states", f"{path}.states")
        pa = _exponents(
            decl.get("parameters", {}), parameters, "parameters", f"{path}.parameters"
        )
        if not st and not pa:
            raise SpecError(f"Gauge {name!r} must have a nonzero exponent", path=path)
        names.add(name)
        out.append(ScalingGauge(name, st, pa))
    return tuple(out)
