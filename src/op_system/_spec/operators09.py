"""op-system 0.9.0's rules for the `operators:` entries, beyond 0.1.2's.

Operators are metadata in both languages (they never change the right-hand
side). 0.9.0 narrowed some of them and added one: an advection's `direction`
is `increasing` or `decreasing`; a `jump_integral` is a conservative matrix
jump (`kernel: {form: matrix, params: {matrix: J}, param_axes: {J: [x, x]}}`,
`bc: reflecting`, `direction: both` on a categorical axis); an `axis_kernel`
names a generator or stochastic matrix over its axis, with an optional
`transfer` between two coordinates of another axis. These checks run on specs
in 0.9.0's language (`_spec/dialect.py`; the 0.9.0-only fields mark one), after
0.1.2's (`_spec/meta.py`), with 0.9.0's messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._support.errors import SpecError, did_you_mean

__all__ = ["check_operators_09", "has_09_operator"]

_ADVECTION = ("advection", "transport")
_DIRECTIONS = ("decreasing", "increasing")


def has_09_operator(raw: object) -> bool:
    """Whether an `operators:` list uses a field only 0.9.0's language has."""
    if not isinstance(raw, list):
        return False
    for op in raw:
        if not isinstance(op, Mapping):
            continue
        kind = str(op.get("kind", "")).strip().lower()
        kernel = op.get("kernel")
        if kind == "axis_kernel":
            return True
        if kind in _ADVECTION and "direction" in op:
            return True
        if (
            kind == "jump_integral"
            and isinstance(kernel, Mapping)
            and ("param_axes" in kernel or kernel.get("form") == "matrix")
        ):
            return True
    return False


def _axis_types(axes: object) -> dict[str, tuple[str, list[str]]]:
    out: dict[str, tuple[str, list[str]]] = {}
    for ax in axes if isinstance(axes, list) else ():
        if isinstance(ax, Mapping) and isinstance(ax.get("name"), str):
            coords = ax.get("coords")
            out[ax["name"]] = (
                str(ax.get("type", "categorical")),
                [str(c) for c in coords] if isinstance(coords, list) else [],
            )
    return out


def _matrix(kernel: Mapping[str, Any], where: str, axis: str) -> str:
    params = kernel.get("params")
    matrix = params.get("matrix") if isinstance(params, Mapping) else None
    if not isinstance(matrix, str) or not matrix.strip().isidentifier():
        raise SpecError(
            f"{where}.kernel.params.matrix must name a parameter",
            path=f"{where}.kernel.params.matrix",
        )
    matrix = matrix.strip()
    param_axes = kernel.get("param_axes")
    declared = param_axes.get(matrix) if isinstance(param_axes, Mapping) else None
    if not isinstance(declared, (list, tuple)) or list(declared) != [axis, axis]:
        raise SpecError(
            f"{where}.kernel.param_axes[{matrix!r}] must be [{axis}, {axis}]",
            path=f"{where}.kernel.param_axes",
        )
    return matrix


def _jump_integral(
    op: Mapping[str, Any],
    where: str,
    axis: str,
    types: Mapping[str, tuple[str, list[str]]],
) -> None:
    kernel = op.get("kernel")
    if not isinstance(kernel, Mapping):
        return  # 0.1.2's check already refused it
    form = kernel.get("form")
    if not isinstance(form, str) or form.strip().lower() != "matrix":
        raise SpecError(
            f"{where}.kernel.form must be 'matrix' for 'jump_integral'",
            path=f"{where}.kernel.form",
            token=repr(form),
        )
    params = kernel.get("params")
    if not isinstance(params, Mapping):
        raise SpecError(
            f"{where}.kernel.params must be a mapping", path=f"{where}.kernel"
        )
    if set(params) != {"matrix"}:
        raise SpecError(
            f"{where}.kernel.params must contain only 'matrix'",
            path=f"{where}.kernel.params",
        )
    _matrix(kernel, where, axis)
    direction = str(op.get("direction", "both")).strip().lower()
    if types.get(axis, ("categorical", []))[0] == "categorical" and direction != "both":
        raise SpecError(
            f"{where}.direction must be 'both' for a categorical axis",
            path=f"{where}.direction",
            token=direction,
        )
    bc = op.get("bc", "reflecting")
    if not isinstance(bc, str) or bc.strip().lower() != "reflecting":
        raise SpecError(
            f"{where}.bc must be 'reflecting' for 'jump_integral'",
            path=f"{where}.bc",
            token=repr(bc),
        )


def _transfer(
    transfer: object,
    where: str,
    axis: str,
    types: Mapping[str, tuple[str, list[str]]],
    params: set[object],
) -> None:
    path = f"{where}.kernel.transfer"
    if not isinstance(transfer, Mapping):
        raise SpecError(f"{path} must be a mapping", path=path)
    other = transfer.get("axis")
    if not isinstance(other, str) or other == axis:
        raise SpecError(f"{path}.axis must name a different axis", path=f"{path}.axis")
    if types and other not in types:
        raise SpecError(
            f"{path}.axis {other!r} is not defined{did_you_mean(other, types)}",
            path=f"{path}.axis",
            token=other,
        )
    allowed = types.get(other, ("", []))[1]
    for side in ("source", "target"):
        value = transfer.get(side)
        if not isinstance(value, str) or (allowed and value not in allowed):
            raise SpecError(
                f"{path}.{side} {value!r} is not a coordinate of {other!r}"
                f"{did_you_mean(str(value), allowed)}",
                path=f"{path}.{side}",
                token=str(value),
            )
    rate = transfer.get("rate")
    if (
        not isinstance(rate, list)
        or not rate
        or any(not isinstance(n, str) or n not in params for n in rate)
    ):
        raise SpecError(
            f"{path}.rate must list parameter names that also appear in kernel.params",
            path=f"{path}.rate",
        )


def _axis_kernel(
    op: Mapping[str, Any],
    where: str,
    axis: str,
    types: Mapping[str, tuple[str, list[str]]],
) -> None:
    kernel = op.get("kernel")
    if not isinstance(kernel, Mapping):
        raise SpecError(f"{where}.kernel must be a mapping", path=f"{where}.kernel")
    if kernel.get("form") not in ("generator", "stochastic"):
        raise SpecError(
            f"{where}.kernel.form must be 'generator' or 'stochastic'",
            path=f"{where}.kernel.form",
            token=repr(kernel.get("form")),
        )
    _matrix(kernel, where, axis)
    transfer = kernel.get("transfer")
    if transfer is None:
        return
    if kernel.get("form") != "stochastic":
        raise SpecError(
            f"{where}.kernel.transfer requires form 'stochastic'",
            path=f"{where}.kernel.transfer",
        )
    params = kernel.get("params")
    values = set(params.values()) if isinstance(params, Mapping) else set()
    _transfer(transfer, where, axis, types, values)


def check_operators_09(raw: object, axes: Sequence[object] | None) -> None:
    """Apply 0.9.0's operator rules to an `operators:` list (0.1.2's passed)."""
    if not isinstance(raw, list):
        return
    types = _axis_types(axes)
    for idx, op in enumerate(raw):
        if not isinstance(op, Mapping):
            continue
        where = f"operators[{idx}]"
        kind = str(op.get("kind", "")).strip().lower()
        axis = str(op.get("axis", "")).strip()
        if kind in _ADVECTION and op.get("direction") is not None:
            direction = op["direction"]
            if (
                not isinstance(direction, str)
                or direction.strip().lower() not in _DIRECTIONS
            ):
                raise SpecError(
                    f"{where}.direction must be one of: {', '.join(_DIRECTIONS)}",
                    path=f"{where}.direction",
                    token=repr(direction),
                )
        elif kind == "jump_integral":
            _jump_integral(op, where, axis, types)
        elif kind == "axis_kernel":
            _axis_kernel(op, where, axis, types)
