"""Validation of the metadata blocks: `state_axes`, `kernels`, `operators`, `constraints`.

These blocks are preserved in `NormalizedRhs.meta` for downstream engines, with
the same normalization op-system 0.1.2 applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .._support.errors import SpecError, did_you_mean

__all__ = [
    "KERNEL_FORMS",
    "ConstraintRule",
    "kernel_array",
    "normalize_constraints",
    "normalize_kernels",
    "normalize_operators",
    "normalize_state_axes",
]

#: Kernel forms and their required parameters.
KERNEL_FORMS: dict[str, tuple[str, ...]] = {
    "erfc": ("scale", "sigma"),
    "gaussian": ("scale", "sigma"),
    "exponential": ("scale", "lambda"),
    "gamma": ("scale", "k", "theta"),
    "power_law": ("scale", "sigma", "p"),
    "custom_value": (),
}


def _mapping(x: object, path: str) -> Mapping[str, Any]:
    if not isinstance(x, dict):
        raise SpecError(f"{path} must be a mapping", path=path)
    return x


def _nonempty_str(
    x: object, path: str, what: str = "must be a non-empty string"
) -> str:
    if not isinstance(x, str) or not x.strip():
        raise SpecError(f"{path} {what}", path=path, token=repr(x))
    return x.strip()


def normalize_state_axes(
    raw: object, *, axis_names: set[str], state_set: set[str]
) -> dict[str, tuple[str, ...]]:
    """Validate `state_axes: {state: [axis, ...]}`.

    Keys may be plain state names or the base name of a templated state.
    """
    if raw is None:
        return {}
    mapping = _mapping(raw, "state_axes")
    out: dict[str, tuple[str, ...]] = {}
    for state, axes in mapping.items():
        if state not in state_set:
            raise SpecError(
                f"state_axes key {state!r} not in state",
                path="state_axes",
                token=str(state),
            )
        path = f"state_axes[{state!r}]"
        if not isinstance(axes, (list, tuple)) or not axes:
            raise SpecError(f"{path} must be a non-empty list of axis names", path=path)
        resolved: list[str] = []
        for i, ax in enumerate(axes):
            name = _nonempty_str(ax, f"{path}[{i}]")
            if name not in axis_names:
                raise SpecError(
                    f"{path} references unknown axis {name!r}", path=path, token=name
                )
            if name in resolved:
                raise SpecError(
                    f"{path} contains duplicate axis {name!r}", path=path, token=name
                )
            resolved.append(name)
        out[state] = tuple(resolved)
    return out


def normalize_kernels(raw: object, *, axis_names: set[str]) -> list[dict[str, Any]]:
    """Validate `kernels: [{name, form, params, axes, value, kind}]`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SpecError("kernels must be a list", path="kernels")
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for idx, mk in enumerate(raw):
        path = f"kernels[{idx}]"
        mk = _mapping(mk, path)
        name = mk.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SpecError(
                f"transitions[{idx}].name must be a string", path=f"{path}.name"
            )
        name = name.strip()
        if name in seen:
            raise SpecError(
                f"duplicate kernel name: {name!r}", path=f"{path}.name", token=name
            )
        seen.add(name)
        axes_field = mk.get("axes")
        axes_resolved: tuple[str, ...] | None = None
        if axes_field is not None:
            if not isinstance(axes_field, (list, tuple)) or not axes_field:
                raise SpecError(
                    f"{path}.axes must be a non-empty list if provided",
                    path=f"{path}.axes",
                )
            resolved = []
            for j, ax in enumerate(axes_field):
                ax_name = _nonempty_str(ax, f"{path}.axes[{j}]")
                if ax_name not in axis_names:
                    raise SpecError(
                        f"{path} references unknown axis {ax_name!r}",
                        path=f"{path}.axes",
                        token=ax_name,
                    )
                resolved.append(ax_name)
            axes_resolved = tuple(resolved)
        value, form, params = mk.get("value"), mk.get("form"), mk.get("params")
        params_map: Mapping[str, Any] | None
        if value is None:
            if not isinstance(form, str) or not form.strip():
                raise SpecError(
                    f"{path}.form is required when value is not provided",
                    path=f"{path}.form",
                )
            form_name = form.strip().lower()
            if form_name not in KERNEL_FORMS:
                raise SpecError(
                    f"{path} form {form_name!r} is not supported (expected one of {sorted(KERNEL_FORMS)})",
                    path=f"{path}.form",
                    token=form_name,
                )
            params_map = _mapping(params, f"{path}.params")
            for req in KERNEL_FORMS[form_name]:
                if req not in params_map:
                    raise SpecError(
                        f"{path}.params missing required key {req!r}",
                        path=f"{path}.params",
                        token=req,
                    )
        else:
            form_name = (
                form.strip().lower()
                if isinstance(form, str) and form.strip()
                else "custom_value"
            )
            if form_name not in KERNEL_FORMS:
                raise SpecError(
                    f"{path} form {form_name!r} is not supported",
                    path=f"{path}.form",
                    token=form_name,
                )
            params_map = (
                _mapping(params, f"{path}.params") if params is not None else None
            )
        entry: dict[str, Any] = {
            "name": name,
            "kind": str(mk.get("kind", "analytic")).strip().lower(),
            "form": form_name,
        }
        if axes_resolved is not None:
            entry["axes"] = axes_resolved
        if params_map is not None:
            entry["params"] = params_map
        if value is not None:
            entry["value"] = value
        out.append(entry)
    return out


#: Operator kinds that move mass along their axis and need a `velocity`.
ADVECTION_KINDS = frozenset({"advection", "transport"})

#: Accepted `direction` values of a `jump_integral` operator.
JUMP_DIRECTIONS = ("up", "down", "both")


def _scalar_or_expr(value: object, path: str) -> str | float:
    """A non-empty expression string (stripped) or a finite real number (as float)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise SpecError(
        f"{path} must be a non-empty string or number", path=path, token=repr(value)
    )


def _operator_apply_to(raw: object, path: str, state_set: set[str] | None) -> list[str]:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise SpecError(
            f"{path} must be a non-empty list of state names if provided", path=path
        )
    out: list[str] = []
    for j, name in enumerate(raw):
        item = _nonempty_str(name, f"{path}[{j}]")
        if state_set is not None and item not in state_set:
            raise SpecError(
                f"{path}[{j}]={item!r} not in state{did_you_mean(item, state_set)}",
                path=f"{path}[{j}]",
                token=item,
            )
        out.append(item)
    return out


def _jump_integral_fields(
    op_map: Mapping[str, Any], path: str, entry: dict[str, Any]
) -> None:
    rate = op_map.get("rate")
    if rate is None:
        raise SpecError(
            f"{path}.rate is required for 'jump_integral'", path=f"{path}.rate"
        )
    entry["rate"] = _scalar_or_expr(rate, f"{path}.rate")
    kernel = op_map.get("kernel")
    if not isinstance(kernel, dict):
        raise SpecError(
            f"{path}.kernel must be a mapping for 'jump_integral'",
            path=f"{path}.kernel",
        )
    form = kernel.get("form")
    if not isinstance(form, str) or not form.strip():
        raise SpecError(
            f"{path}.kernel.form must be a non-empty string for 'jump_integral'",
            path=f"{path}.kernel.form",
            token=repr(form),
        )
    params = kernel.get("params")
    if params is not None and not isinstance(params, dict):
        raise SpecError(
            f"{path}.kernel.params must be a mapping if provided for 'jump_integral'",
            path=f"{path}.kernel.params",
        )
    entry["kernel"] = {**kernel, "form": form.strip()}
    direction = op_map.get("direction")
    if direction is not None:
        if (
            not isinstance(direction, str)
            or direction.strip().lower() not in JUMP_DIRECTIONS
        ):
            raise SpecError(
                f"{path}.direction must be one of 'up', 'down', or 'both'",
                path=f"{path}.direction",
                token=repr(direction),
            )
        entry["direction"] = direction.strip().lower()


def normalize_operators(
    raw: object, *, axis_names: set[str], state_set: set[str] | None = None
) -> object:
    """Validate `operators` given as a list; other forms are preserved as given.

    Each entry needs an `axis` (a defined axis or `subgroup`) and a `kind`
    (lower-cased); `name` and `bc` are optional non-empty strings; `apply_to`, if
    given, is a non-empty list of states (checked against `state_set`: the
    `state` entries, their base names and expanded names). An `advection` or
    `transport` operator's `velocity`, and a `jump_integral` operator's `rate`,
    are an expression string or a number; a `jump_integral` operator also needs
    a `kernel` mapping with a `form` (and optional `params` mapping) and may
    have a `direction` of `up`, `down` or `both`. Other keys are kept.
    """
    if not isinstance(raw, list):
        return raw
    out: list[dict[str, Any]] = []
    for idx, op in enumerate(raw):
        path = f"operators[{idx}]"
        op_map = _mapping(op, path)
        name = op_map.get("name")
        if name is not None:
            name = _nonempty_str(
                name, f"{path}.name", "must be a non-empty string if provided"
            )
        axis = _nonempty_str(op_map.get("axis"), f"{path}.axis")
        if axis not in axis_names:
            raise SpecError(
                f"{path} references unknown axis {axis!r}",
                path=f"{path}.axis",
                token=axis,
            )
        kind = _nonempty_str(
            op_map.get("kind"),
            f"{path}.kind",
            "must be a non-empty string (e.g., advection/jump_integral)",
        ).lower()
        bc = op_map.get("bc")
        if bc is not None:
            bc = _nonempty_str(
                bc, f"{path}.bc", "must be a non-empty string if provided"
            )
        entry = dict(op_map)
        if name is not None:
            entry["name"] = name
        entry["axis"] = axis
        entry["kind"] = kind
        if bc is not None:
            entry["bc"] = bc
        if op_map.get("apply_to") is not None:
            entry["apply_to"] = _operator_apply_to(
                op_map["apply_to"], f"{path}.apply_to", state_set
            )
        if kind in ADVECTION_KINDS:
            velocity = op_map.get("velocity")
            if velocity is None:
                # An operator that moves named states needs its velocity (as on
                # upstream's main branch); a bare operator declaration without
                # `apply_to` stays valid metadata, as op-system 0.1.2 accepted it.
                if op_map.get("apply_to") is not None:
                    raise SpecError(
                        f"{path}.velocity is required for {kind!r} operators that apply_to states",
                        path=f"{path}.velocity",
                    )
            else:
                entry["velocity"] = _scalar_or_expr(velocity, f"{path}.velocity")
        elif kind == "jump_integral":
            _jump_integral_fields(op_map, path, entry)
        out.append(entry)
    return out


class ConstraintRule(NamedTuple):
    """A validated cross-axis constraint (`allow` or `exclude` coordinate combinations)."""

    axes: tuple[str, ...]
    mode: str
    rules: tuple[dict[str, list[str]], ...]


def normalize_constraints(
    raw: object, *, axes: Sequence[Mapping[str, Any]]
) -> list[ConstraintRule]:
    """Validate `constraints: [{axes: [a, b], allow|exclude: [{a: c, b: [c, ...]}]}]`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SpecError("constraints must be a list", path="constraints")
    lookup = {ax["name"]: {str(c) for c in ax.get("coords", [])} for ax in axes}
    out: list[ConstraintRule] = []
    for idx, entry in enumerate(raw):
        path = f"constraints[{idx}]"
        entry = _mapping(entry, path)
        rule_axes_raw = entry.get("axes")
        if not isinstance(rule_axes_raw, (list, tuple)) or len(rule_axes_raw) < 2:
            raise SpecError(
                f"{path}.axes must be a list of at least two axis names",
                path=f"{path}.axes",
            )
        rule_axes: list[str] = []
        for j, ax in enumerate(rule_axes_raw):
            name = _nonempty_str(ax, f"{path}.axes[{j}]")
            if name not in lookup:
                raise SpecError(
                    f"{path}.axes references unknown axis {name!r}",
                    path=f"{path}.axes",
                    token=name,
                )
            if name in rule_axes:
                raise SpecError(
                    f"{path}.axes contains duplicate axis {name!r}",
                    path=f"{path}.axes",
                    token=name,
                )
            rule_axes.append(name)
        has_allow, has_exclude = "allow" in entry, "exclude" in entry
        if has_allow and has_exclude:
            raise SpecError(
                f"{path} must specify either 'allow' or 'exclude', not both", path=path
            )
        if not has_allow and not has_exclude:
            raise SpecError(f"{path} must specify 'allow' or 'exclude'", path=path)
        mode = "allow" if has_allow else "exclude"
        raw_rules = entry[mode]
        if not isinstance(raw_rules, list) or not raw_rules:
            raise SpecError(
                f"{path}.{mode} must be a non-empty list", path=f"{path}.{mode}"
            )
        rules = []
        for r_idx, rule in enumerate(raw_rules):
            label = f"{path}.{mode}[{r_idx}]"
            rule_map = _mapping(rule, label)
            validated: dict[str, list[str]] = {}
            for key, val in rule_map.items():
                key_s = str(key).strip()
                if key_s not in rule_axes:
                    raise SpecError(
                        f"{label} references axis {key_s!r} not in constraint axes {sorted(rule_axes)}",
                        path=label,
                        token=key_s,
                    )
                if isinstance(val, str):
                    coords = [val.strip()]
                elif isinstance(val, (list, tuple)):
                    coords = [str(v).strip() for v in val]
                else:
                    coords = [str(val).strip()]
                for coord in coords:
                    if coord not in lookup[key_s]:
                        raise SpecError(
                            f"{label} references unknown coord {coord!r} for axis {key_s!r}",
                            path=label,
                            token=coord,
                        )
                validated[key_s] = coords
            if not validated:
                raise SpecError(f"{label} must specify at least one axis", path=label)
            rules.append(validated)
        out.append(ConstraintRule(axes=tuple(rule_axes), mode=mode, rules=tuple(rules)))
    return out


def kernel_array(entry: Mapping[str, Any], axes: Sequence[Any], path: str) -> Any:
    """Values of a kernel over the axes it is indexed by, computed once at compile time.

    With one index `K[x]` the kernel is evaluated at each coordinate's distance
    from 0; with two indices `K[x, xi]` at the distance between coordinates,
    `d = |x - xi|` (the matrix flepimop2-op-system 0.1.2 builds for a kernel).
    Coordinates are the axis values (categorical coordinates that parse as numbers
    count as numbers, others by position). Forms, with `s = scale`:
    gaussian `s exp(-d²/(2σ²))`, exponential `s exp(-d/λ)`, erfc `s erfc(d/σ)`,
    gamma `s (d/θ)^(k-1) exp(-d/θ)` (d clipped at 1e-12), power_law
    `s (1 + d/σ)^(-p)`. A kernel with `value` is that constant (a scalar, or a
    nested list of the indexed axes' shape).
    """
    import math

    import numpy as np

    name = entry["name"]
    shape = tuple(ax.size for ax in axes)
    if entry.get("value") is not None:
        try:
            v = np.asarray(entry["value"], dtype=np.float64)
        except (TypeError, ValueError):
            raise SpecError(
                f"kernel {name!r} value must be numeric", path=path, token=name
            ) from None
        if v.shape == ():
            return np.full(shape, float(v))
        if v.shape != shape:
            raise SpecError(
                f"kernel {name!r} value has shape {v.shape}, but it is indexed with shape {shape}",
                path=path,
                token=name,
            )
        return v
    if len(axes) not in (1, 2):
        raise SpecError(
            f"kernel {name!r} takes one or two indices, got {len(axes)}",
            path=path,
            token=name,
        )
    params: dict[str, float] = {}
    for key, val in (entry.get("params") or {}).items():
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            raise SpecError(
                f"kernel {name!r} parameter {key!r} must be a number to be used in an expression",
                path=path,
                token=str(key),
            )
        params[key] = float(val)

    def coord_values(ax: Any) -> Any:
        if ax.kind == "continuous":
            return np.asarray(ax.values, dtype=np.float64)
        try:
            return np.asarray([float(c) for c in ax.coords], dtype=np.float64)
        except ValueError:
            return np.arange(ax.size, dtype=np.float64)

    coords = [coord_values(ax) for ax in axes]
    d = (
        np.abs(coords[0])
        if len(axes) == 1
        else np.abs(coords[0][:, None] - coords[1][None, :])
    )
    form, p = entry["form"], params
    scale = p.get("scale", 1.0)
    with np.errstate(all="ignore"):
        if form == "gaussian":
            out = scale * np.exp(-(d**2) / (2.0 * p["sigma"] ** 2))
        elif form == "exponential":
            out = scale * np.exp(-d / p["lambda"])
        elif form == "erfc":
            out = scale * np.vectorize(math.erfc)(d / p["sigma"])
        elif form == "gamma":
            k, theta = p["k"], p["theta"]
            dc = np.clip(d, 1e-12, None)
            out = scale * (dc / theta) ** (k - 1.0) * np.exp(-dc / theta)
        elif form == "power_law":
            out = scale * (1.0 + d / p["sigma"]) ** (-p["p"])
        else:
            raise SpecError(
                f"kernel {name!r} of form {form!r} needs a value", path=path, token=name
            )
    if not np.all(np.isfinite(out)):
        raise SpecError(
            f"kernel {name!r} is not finite on its axes", path=path, token=name
        )
    return np.asarray(out, dtype=np.float64)
