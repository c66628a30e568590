"""Time-varying parameters: tables over the time axis, read at the current time.

A parameter indexed by the *time axis* (a continuous axis, named `time` unless the
spec's `time_axis` names another) outside any template over that axis is a table:
`beta[time]` is passed at call time as an array with one entry per time coordinate,
`nu[time, age]` as an array of shape `(n_time, n_age)` (the time axis may stand at
any position). The model reads the table's value at `t`, interpolated by the
spec's `time_interpolation` (`previous`, `linear` or `monotone_cubic`; one method,
or one per parameter). The grid is the axis's coordinates, or an array passed at
call time under the axis's name.

This module holds the rule on both sides: which axis and which method a model
uses (read by `_build`), and the runtime functions the generated code calls
(`runtime`): table checks in the parameter reads, and interpolation at `t`
written as `searchsorted` and gathers, so it traces under `jax.jit` and is
differentiable with respect to the table values.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .._support.errors import ParameterError, SpecError, SpecWarning, did_you_mean

if TYPE_CHECKING:
    from .._spec.axes import Axis
    from .model import Model, ParamDef

__all__ = [
    "METHODS",
    "pchip_slopes",
    "runtime",
    "table_shape",
    "time_axis",
    "time_varying",
]

#: Interpolation methods, in `time_interpolation`.
METHODS = ("previous", "linear", "monotone_cubic")


def time_axis(spec: Mapping[str, Any], axes: Mapping[str, Axis]) -> Axis | None:
    """The model's time axis: the one `time_axis` names, else a continuous `time`
    axis; none with `time_axis: null`."""
    if "time_axis" in spec and spec["time_axis"] is None:
        return None  # explicitly none: `time` is an ordinary axis (as in 0.1.2)
    raw = spec.get("time_axis")
    if raw is None:
        ax = axes.get("time")
        return ax if ax is not None and ax.kind == "continuous" else None
    if not isinstance(raw, str) or not raw.strip():
        raise SpecError(
            "time_axis must be the name of a continuous axis",
            path="time_axis",
            token=repr(raw),
        )
    ax = axes.get(raw.strip())
    if ax is None:
        raise SpecError(
            f"time_axis {raw!r} is not an axis{did_you_mean(raw, axes)} "
            f"(axes: {sorted(axes) or 'none'})",
            path="time_axis",
            token=raw,
        )
    if ax.kind != "continuous":
        raise SpecError(
            f"time_axis {raw!r} must be a continuous axis (numeric coordinates), "
            f"got a {ax.kind} one",
            path="time_axis",
            token=raw,
        )
    return ax


def full_axes(p: ParamDef, time_name: str) -> tuple[str, ...]:
    """A time-varying parameter's index axes, the time axis included, in order."""
    names = [ax.name for ax in p.axes]
    assert p.time_pos is not None
    names.insert(p.time_pos, time_name)
    return tuple(names)


def time_varying(spec: Mapping[str, Any], model: Model, meta: dict[str, Any]) -> None:
    """Give each time-varying parameter its method; record them in `meta`."""
    from .._support.errors import outside_package

    if "time_varying" in spec:
        # op-system 0.9.0 removed this key and refuses it, with this message
        raise SpecError(
            "the top-level 'time_varying' field has been removed; declare "
            "time-varying parameters implicitly by subscripting them with the "
            "configured time axis (default 'time'), e.g. 'beta[time, age]'.",
            path="time_varying",
        )
    tv = [p for p in model.params.values() if p.time_varying]
    raw = spec.get("time_interpolation")
    if "time_interpolation" in spec and (raw is None or raw == {}):
        # 0.9.0 refuses an empty policy (it wants 'linear' or 'previous'); ours
        # also takes a mapping of parameter -> method, which must name one
        raise SpecError(
            f"time_interpolation must be 'linear' or 'previous' (or one of {list(METHODS)}, "
            f"or a mapping of parameter -> method), got {raw!r}",
            path="time_interpolation",
            token=repr(raw),
        )
    if raw is not None and not tv:
        warnings.warn(
            "time_interpolation is given but no parameter is indexed by the time "
            "axis (write e.g. beta[time] with a continuous axis named 'time', or "
            "name one with time_axis); it is ignored",
            SpecWarning,
            stacklevel=outside_package(),
        )
        return
    if not tv:
        return
    bases = {p.base: p for p in tv}
    default = "linear"
    chosen: dict[str, str] = {}
    if isinstance(raw, str):
        default = _method(raw, "time_interpolation")
    elif isinstance(raw, Mapping):
        for key, val in raw.items():
            path = f"time_interpolation[{key!r}]"
            if key == "default":
                default = _method(val, path)
            elif key in bases:
                chosen[key] = _method(val, path)
            else:
                raise SpecError(
                    f"time_interpolation names {key!r}, which is not a time-varying "
                    f"parameter{did_you_mean(str(key), bases)} "
                    f"(time-varying: {sorted(bases)})",
                    path=path,
                    token=str(key),
                )
    elif raw is not None:
        raise SpecError(
            f"time_interpolation must be one of {list(METHODS)} or a mapping of "
            "parameter -> method (with an optional 'default')",
            path="time_interpolation",
            token=repr(raw),
        )
    for key, p in model.params.items():  # the binder names these (`_core/bind.py`)
        if p.time_varying:
            model.params[key] = replace(p, interpolation=chosen.get(p.base, default))
    tv = [p for p in model.params.values() if p.time_varying]
    ax = model.time_axis
    assert ax is not None  # a parameter is time-varying only with a time axis
    if any(b <= a for a, b in zip(ax.values, ax.values[1:], strict=False)):
        raise SpecError(
            f"the time axis {ax.name!r} must have strictly increasing coordinates "
            f"to interpolate on, got {list(ax.values)}",
            path="axes",
            token=ax.name,
        )
    meta["time_axis"] = ax.name
    meta["forcing_breakpoints"] = tuple(ax.values)
    meta["time_varying_params"] = tuple((p.base, full_axes(p, ax.name)) for p in tv)
    meta["time_interpolation"] = {p.base: p.interpolation for p in tv}


def _method(val: Any, path: str) -> str:
    if isinstance(val, str) and val in METHODS:
        return val
    hint = did_you_mean(val, METHODS) if isinstance(val, str) else ""
    raise SpecError(
        f"unknown interpolation {val!r}{hint}; expected one of {list(METHODS)}",
        path=path,
        token=str(val),
    )


def table_shape(shape: tuple[int, ...], time_pos: int, n_time: int) -> tuple[int, ...]:
    """The shape of a table on `n_time` times, for a value of `shape` at one time."""
    return (*shape[:time_pos], n_time, *shape[time_pos:])


def pchip_slopes(x: Any, y: Any, xp: Any) -> Any:
    """Fritsch-Carlson slopes of the monotone cubic through `(x, y)` along axis 0.

    Interior slopes are the weighted harmonic mean of the neighbouring secant
    slopes, or zero where those change sign (so the curve never overshoots the
    data); the end slopes are the three-point estimate, limited to keep monotone.
    """
    n = x.shape[0]
    shape = (n - 1,) + (1,) * (y.ndim - 1)
    h = xp.reshape(x[1:] - x[:-1], shape)
    m = (y[1:] - y[:-1]) / h
    if n == 2:
        return xp.concat([m, m])
    h0, h1, m0, m1 = h[:-1], h[1:], m[:-1], m[1:]
    same = m0 * m1 > 0
    w1 = 2 * h1 + h0
    w2 = h1 + 2 * h0
    one = xp.ones_like(m0)
    # guarded denominators: the unused branch of `where` stays finite (and so do grads)
    inner = xp.where(
        same,
        (w1 + w2) / (w1 / xp.where(same, m0, one) + w2 / xp.where(same, m1, one)),
        0 * m0,
    )

    def edge(ha: Any, hb: Any, ma: Any, mb: Any) -> Any:
        d = ((2 * ha + hb) * ma - ha * mb) / (ha + hb)
        flip = xp.sign(d) != xp.sign(ma)
        over = (xp.sign(ma) != xp.sign(mb)) & (xp.abs(d) > 3 * xp.abs(ma))
        return xp.where(flip, 0 * d, xp.where(over, 3 * ma, d))

    first = edge(h[:1], h[1:2], m[:1], m[1:2])
    last = edge(h[-1:], h[-2:-1], m[-1:], m[-2:-1])
    return xp.concat([first, inner, last])


def runtime(
    model: Model, xp: Any, numpy: bool, pdefs: list[ParamDef]
) -> dict[str, Callable[..., Any]]:
    """The functions generated code calls for time-varying parameters.

    `_tv_grid(params)` reads the grid (passed under the time axis's name, else the
    axis's coordinates); `_tv_table(value, key, grid)` checks a table's shape and
    puts its time axis first (a monotone cubic also gets its slopes, once per
    parameter read); `_tv_previous` / `_tv_linear` / `_tv_monotone_cubic(t, grid,
    table)` read the table at `t`. Outside the grid the first or last value holds.
    """
    ax = model.time_axis
    if ax is None or not any(p.time_varying for p in pdefs):
        return {}
    name = ax.name
    default = np.asarray(ax.values, dtype=np.float64)
    by_key = {p.key: p for p in pdefs}
    asarray = np.asarray if numpy else xp.asarray

    def _tv_grid(params: Mapping[str, Any]) -> Any:
        grid = params.get(name)
        if grid is None:
            return default if numpy else xp.asarray(default)
        g = asarray(grid)
        if len(g.shape) != 1 or g.shape[0] < 1:
            raise ParameterError(
                f"the time grid {name!r} must be a 1-D array of times, got shape "
                f"{tuple(g.shape)}",
                path=f"params[{name!r}]",
                token=name,
            )
        if isinstance(g, np.ndarray) and np.any(np.diff(g) <= 0):
            raise ParameterError(
                f"the time grid {name!r} must be strictly increasing, got {g.tolist()}",
                path=f"params[{name!r}]",
                token=name,
            )
        if numpy and g.dtype.kind != "f":
            g = g.astype(np.float64)
        return g

    def _tv_table(value: Any, key: str, grid: Any) -> Any:
        p = by_key[key]
        n = grid.shape[0]
        assert p.time_pos is not None
        want = table_shape(p.shape, p.time_pos, n)
        axes_txt = ", ".join(full_axes(p, name))
        try:
            a = asarray(value)
            numbers = not numpy or a.dtype.kind in "biuf"
        except (TypeError, ValueError):  # ragged lists; strings on JAX
            a, numbers = None, False
        if a is None or not numbers or isinstance(value, str):
            raise ParameterError(
                f"time-varying parameter {key!r} must be a table of numbers of shape "
                f"{want} (axes {axes_txt}), got {type(value).__name__} {value!r:.60}",
                path=f"params[{key!r}]",
                token=key,
            )
        if tuple(a.shape) != want:
            raise ParameterError(
                f"time-varying parameter {key!r} must be a table of shape {want} "
                f"(axes {axes_txt}; {n} times on the grid), got shape {tuple(a.shape)}",
                path=f"params[{key!r}]",
                token=key,
            )
        if numpy and a.dtype.kind != "f":
            a = a.astype(np.float64)
        if p.time_pos:
            a = xp.moveaxis(a, p.time_pos, 0)
        if p.interpolation == "monotone_cubic":
            if n < 2:
                return (a, a * 0)
            return (a, pchip_slopes(grid, a, xp))
        return a

    _where, _tv_previous = _locators(xp, numpy)

    def _tv_linear(t: Any, grid: Any, tab: Any) -> Any:
        if grid.shape[0] == 1:
            return tab[0]
        i, s = _where(t, grid)
        return (1 - s) * tab[i - 1] + s * tab[i]

    def _tv_monotone_cubic(t: Any, grid: Any, tab: tuple[Any, Any]) -> Any:
        y, d = tab
        if grid.shape[0] == 1:
            return y[0]
        i, s = _where(t, grid)
        h = grid[i] - grid[i - 1]
        s2 = s * s
        s3 = s2 * s
        return (
            (2 * s3 - 3 * s2 + 1) * y[i - 1]
            + (s3 - 2 * s2 + s) * h * d[i - 1]
            + (3 * s2 - 2 * s3) * y[i]
            + (s3 - s2) * h * d[i]
        )

    return {
        "_tv_grid": _tv_grid,
        "_tv_table": _tv_table,
        "_tv_previous": _tv_previous,
        "_tv_linear": _tv_linear,
        "_tv_monotone_cubic": _tv_monotone_cubic,
    }


def _locators(
    xp: Any, numpy: bool
) -> tuple[Callable[[Any, Any], tuple[Any, Any]], Callable[[Any, Any, Any], Any]]:
    """Where `t` lies on the grid: `_where(t, grid)` gives the right end of its
    interval and the position in it (clipped to the grid), `_tv_previous(t, grid,
    table)` the last value at or before `t`. NumPy with Python scalars (fast for
    one `t`), other namespaces traceable."""
    if numpy:
        searchsorted = np.searchsorted

        def _where(t: Any, grid: Any) -> tuple[Any, Any]:
            # the right end of t's interval (1 .. n-1) and where t lies in it (0 .. 1)
            n = grid.shape[0]
            i = int(searchsorted(grid, t, "right"))
            i = 1 if i < 1 else (n - 1 if i > n - 1 else i)
            g0 = grid[i - 1]
            s = (t - g0) / (grid[i] - g0)
            return i, (0.0 if s < 0 else (1.0 if s > 1 else s))

        def _tv_previous(t: Any, grid: Any, tab: Any) -> Any:
            i = int(searchsorted(grid, t, "right")) - 1
            return tab[0 if i < 0 else i]

    else:

        def _where(t: Any, grid: Any) -> tuple[Any, Any]:
            n = grid.shape[0]
            i = xp.clip(xp.searchsorted(grid, xp.asarray(t), side="right"), 1, n - 1)
            g0 = grid[i - 1]
            return i, xp.clip((t - g0) / (grid[i] - g0), 0.0, 1.0)

        def _tv_previous(t: Any, grid: Any, tab: Any) -> Any:
            i = xp.searchsorted(grid, xp.asarray(t), side="right") - 1
            return tab[xp.clip(i, 0, grid.shape[0] - 1)]

    return _where, _tv_previous
