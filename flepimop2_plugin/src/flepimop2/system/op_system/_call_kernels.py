"""Kernels read in op-system 0.9.0's expressions: arrays the system passes at each call.

In op-system 0.9.0's language a kernel of the spec's `kernels:` block that an
expression reads (`apply_along(C[age:s, age] * S[age:s], age=s)`) is an array
*passed at each call*: op_system compiles `C` as an array parameter, and the
flepimop2 provider computes the array from the kernel's declaration once and
passes it as the parameter's default (a value given at the call replaces it).
This module gives the plugin 0.9.0's provider behaviour: the arrays
are computed here, by the provider's rules:

* `value:` given: that array;
* no `axes:`: the scalar `params.value` (0 when absent);
* `form: custom_value`: `params.value` (required);
* otherwise, over the declared axes' numeric coordinates (positions when a
  coordinate is not a number) `d = |x_i - y_j|`, the first axis giving the
  rows and the second (the first again when only one is declared) the
  columns, with `s = params.scale` (default 1): `erfc` `s erfc(d/sigma)`,
  `gaussian` `s exp(-d^2 / (2 sigma^2))`, `exponential` `s exp(-d/lambda)`,
  `gamma` `s (d'/theta)^(k-1) exp(-d'/theta)` with `d' = max(d, 1e-12)`, and
  `power_law` `s (1 + d/sigma)^(-p)`; an absent shape parameter is 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["call_kernels"]

_FORMS: dict[str, Callable[[np.ndarray, Callable[[str], float]], np.ndarray]] = {
    "erfc": lambda d, p: np.vectorize(math.erfc, otypes=[np.float64])(d / p("sigma")),
    "gaussian": lambda d, p: np.exp(-(d**2) / (2.0 * p("sigma") ** 2)),
    "exponential": lambda d, p: np.exp(-d / p("lambda")),
    "gamma": lambda d, p: (
        (np.clip(d, 1e-12, None) / p("theta")) ** (p("k") - 1.0)
        * np.exp(-np.clip(d, 1e-12, None) / p("theta"))
    ),
    "power_law": lambda d, p: (1.0 + d / p("sigma")) ** (-p("p")),
}


def _coords(axis: Mapping[str, Any]) -> np.ndarray:
    raw = axis.get("coords")
    try:
        return np.asarray([float(c) for c in raw], dtype=np.float64)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        size = int(axis.get("size") or len(raw or ()))
        return np.arange(size, dtype=np.float64)


def _one(
    entry: Mapping[str, Any], axes: Mapping[str, Mapping[str, Any]], where: str
) -> np.ndarray:
    if entry.get("value") is not None:
        return np.asarray(entry["value"], dtype=np.float64)
    params = dict(entry.get("params") or {})
    names: Sequence[str] = tuple(entry.get("axes") or ())
    form = str(entry.get("form", "custom_value")).lower()
    if not names:
        return np.asarray(params.get("value", 0.0), dtype=np.float64)
    if form == "custom_value":
        if params.get("value") is None:
            msg = f"{where}: a custom_value kernel needs params.value"
            raise ValueError(msg)
        return np.asarray(params["value"], dtype=np.float64)
    if form not in _FORMS:
        msg = f"{where}: kernel form {form!r} is not one of {', '.join(['custom_value', *_FORMS])}"
        raise ValueError(msg)
    for name in names:
        if name not in axes:
            msg = f"{where}: kernel axis {name!r} is not an axis of the spec"
            raise ValueError(msg)
    rows = _coords(axes[names[0]])
    cols = _coords(axes[names[1]]) if len(names) > 1 else rows
    d = np.abs(rows[:, None] - cols[None, :])

    def param(key: str) -> float:
        return float(params.get(key, 1.0))

    return np.asarray(param("scale") * _FORMS[form](d, param), dtype=np.float64)


def call_kernels(
    spec: Mapping[str, Any], meta_axes: Sequence[Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """The spec's kernels as the arrays passed at each call, by name.

    `meta_axes` are the compiled model's axes (`compiled.meta["axes"]`), whose
    coordinates include those of axes declared by `domain` and `size`.
    """
    axes = {str(ax["name"]): ax for ax in meta_axes}
    out: dict[str, np.ndarray] = {}
    for i, entry in enumerate(spec.get("kernels") or ()):
        name = str(entry.get("name"))
        if name not in out:  # the first declaration of a name wins, as in 0.9.0
            out[name] = _one(entry, axes, f"spec.kernels[{i}] ({name!r})")
    return out
