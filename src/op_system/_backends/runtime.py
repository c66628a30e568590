"""The globals of a generated program and its compilation.

`_runtime` builds the namespace a generated function runs in: the backend's
array functions, the state and parameter readers (`_state`, `_fill_params`,
`_param_array`, `_pvec`, ...), time-varying tables, the helpers of batched
tangents, and the program's constant tables made as arrays of its namespace
(eagerly, outside any caller's trace). `build_function` compiles the source
into it; `dispatching` is the default backend's NumPy function that hands
foreign arrays (JAX arrays and tracers) to a program generated for them.
"""

from __future__ import annotations

import functools
import linecache
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._core import timevarying as _timevarying
from .._core.model import Model, flat_index
from .._lower.batch import runtime as _batch_runtime
from .._lower.codegen import lower_model
from .._lower.lowerer import Lowered
from .._support.errors import (
    ExpressionError,
    ParameterError,
    StateShapeError,
    misspelt_parameter,
)
from .backend import Backend, backend_for_array, not_numpy, resolve_backend
from .paramcheck import SlowPath, check_array, check_scalar, check_vector
from .precision import warn_float32

__all__ = ["_runtime", "build_function", "dispatching"]

#: the classes of parameter values that need no check: plain numbers
_PLAIN = frozenset({float, int, np.float64})


# -- runtime helpers bound into the generated function's globals ----------------------


def _runtime(
    be: Backend, model: Model, lowered: Lowered, *, force_f64: bool
) -> dict[str, Any]:
    xp = be.xp
    f = be.fns
    n_state = model.n_state
    pdefs = [model.params[p] for p in lowered.param_order]
    g: dict[str, Any] = {"__builtins__": {}, "KeyError": KeyError}
    for name, fn in f.items():
        g[f"_{name}"] = fn
    g["_INF"] = float("inf")
    g["_NAN"] = float("nan")

    def _bad_shape(y: Any) -> None:
        raise StateShapeError(
            f"Expected (n_state={n_state},). Got: {tuple(y.shape)!r}."
        )

    def _alias_cycle(names: list[str]) -> None:
        raise ExpressionError(
            f"could not resolve alias dependencies: {names}", path="aliases"
        )

    if be.is_numpy:
        h = _numpy_helpers(g, n_state, force_f64)
        consts = dict(lowered.constants)
    else:
        h = _array_api_helpers(be, n_state)
        consts = _constants(be, lowered.constants)
    ph = _param_helpers(be, model, pdefs, h)
    tv = _timevarying.runtime(model, xp if xp is not None else np, be.is_numpy, pdefs)
    picks = None
    if lowered.fill_order is not None:
        at = {p: i for i, p in enumerate(lowered.param_order)}
        picks = [at[p] for p in lowered.fill_order]
    _fill_params = _fill_params_fn(model, pdefs, picks, g, tv, ph, force_f64)
    g.update(
        _state=h["_state"],
        _bad_shape=_bad_shape,
        _alias_cycle=_alias_cycle,
        _stack_scalars=h["_stack_scalars"],
        _concat=h["_concat"],
        _as_out=h["_as_out"],
        _bcast=h["_bcast"],
        _param_array=ph["_param_array"],
        _scalar=ph["_scalar"],
        _fill_params=_fill_params,
        _cells=ph["_cells"],
        _pvec=ph["_pvec"],
        **tv,
    )
    g.update(consts)
    g.update({f"_{k}": v for k, v in consts.items()})  # originals, for per-dtype casts
    return g


def _numpy_helpers(g: dict[str, Any], n_state: int, force_f64: bool) -> dict[str, Any]:
    """NumPy's state and output helpers (and its fast paths, written into `g`)."""
    asarray = np.asarray

    if force_f64:

        def _state(y: Any) -> Any:
            return np.asarray(y, dtype=np.float64)

    else:

        def _state(y: Any) -> Any:
            y = np.asarray(y)
            return y if y.dtype.kind == "f" else y.astype(np.float64)

    def _stack_scalars(xs: list[Any], dtype: Any) -> Any:
        return np.array(xs, dtype=dtype)

    def _concat(xs: list[Any]) -> Any:
        return np.concatenate(xs)

    def _as_out(x: Any, dtype: Any) -> Any:
        return np.array(np.broadcast_to(x, (n_state,)), dtype=dtype)

    _bcast: Callable[[Any, tuple[int, ...]], Any] = np.broadcast_to

    def _np_astype(x: Any, dtype: Any) -> Any:
        return np.asarray(x).astype(dtype, copy=False)

    g["_astype"] = _np_astype
    g["_ndarray"] = np.ndarray
    g["_empty"] = np.empty
    g["_add_reduce"] = np.add.reduce
    g["_add_at"] = np.add.at
    # reshape/transpose as the array methods (C-level, no np.reshape wrapper);
    # generated code only reshapes and transposes arrays, never scalars
    g["_reshape"] = np.ndarray.reshape
    g["_permute_dims"] = np.ndarray.transpose
    g["_subtract_at"] = np.subtract.at
    g["_subtract"] = np.subtract
    g.update(_batch_runtime())  # helpers of batched tangents (the Jacobian)
    g["_f64"] = np.dtype(np.float64)
    g["_INF"] = np.float64("inf")
    g["_NAN"] = np.float64("nan")
    _np_f64 = np.float64
    _np_asarray = np.asarray

    def _f64s(x: Any) -> Any:
        # Python and NumPy scalars -> float64 scalars (NumPy semantics); other
        # numbers (0-d arrays, float32, bool) as 0-d float64. Anything else (an
        # array for a scalar parameter, a string, None) takes the generated slow
        # path, which checks every parameter by name (`paramcheck.SlowPath`).
        cls = x.__class__
        if cls is float or cls is int or cls is _np_f64:
            return _np_f64(x)
        try:
            return check_scalar(x, "", f64=True)
        except ParameterError:
            raise SlowPath(f"not one number: {x!r:.60}") from None

    g["_f64s"] = _f64s
    _add_reduce: Callable[..., Any] = np.add.reduce

    def _sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        # np.sum without its Python-level dispatch (same result)
        return _add_reduce(x, axis=axis, keepdims=keepdims)

    g["_sum"] = _sum
    return {
        "asarray": asarray,
        "_state": _state,
        "_stack_scalars": _stack_scalars,
        "_concat": _concat,
        "_as_out": _as_out,
        "_bcast": _bcast,
    }


def _array_api_helpers(be: Backend, n_state: int) -> dict[str, Any]:
    """The state and output helpers of an Array API namespace (JAX, ...)."""
    xp = be.xp
    f = be.fns
    assert xp is not None
    asarray = xp.asarray
    is_jax = be.is_jax

    def _state(y: Any) -> Any:
        y = xp.asarray(y)
        if is_jax:
            import jax.numpy as jnp

            if not jnp.issubdtype(y.dtype, jnp.floating):
                y = y.astype(jnp.result_type(float))
            return y
        if not xp.isdtype(y.dtype, "real floating"):
            y = xp.astype(y, xp.float64)
        return y

    def _stack_scalars(xs: list[Any], dtype: Any) -> Any:
        return xp.stack([xp.asarray(x, dtype=dtype) for x in xs])

    def _concat(xs: list[Any]) -> Any:
        dtype = None
        for x in xs:
            if hasattr(x, "dtype"):
                dtype = x.dtype
                break
        return f["concat"]([xp.asarray(x, dtype=dtype) for x in xs])

    def _as_out(x: Any, dtype: Any) -> Any:
        return xp.broadcast_to(xp.asarray(x, dtype=dtype), (n_state,))

    def _bcast(x: Any, shape: tuple[int, ...]) -> Any:
        return (
            xp.broadcast_to(xp.asarray(x), shape)
            if not hasattr(x, "shape")
            else xp.broadcast_to(x, shape)
        )

    return {
        "asarray": asarray,
        "_state": _state,
        "_stack_scalars": _stack_scalars,
        "_concat": _concat,
        "_as_out": _as_out,
        "_bcast": _bcast,
    }


def _param_helpers(
    be: Backend, model: Model, pdefs: list[Any], h: dict[str, Any]
) -> dict[str, Any]:
    """Readers of the parameters: arrays checked against their axes, indexed
    parameters assembled from 0.1.2's expanded names, scalar vectors, tables."""
    xp = be.xp
    f = be.fns
    asarray, _bcast, _stack_scalars = h["asarray"], h["_bcast"], h["_stack_scalars"]
    shapes = {p.key: p.shape for p in pdefs if p.axes}  # the arrays read whole
    axes = {p.key: [ax.name for ax in p.axes] for p in pdefs if p.axes}
    #: values are real numbers where the program computes in float64 (NumPy)
    f64 = be.is_numpy

    def _param_array(v: Any, name: str) -> Any:
        shape = shapes[name]
        a = check_array(v, name, shape, axes[name], asarray, f64=f64)
        if tuple(a.shape) != shape:  # a scalar: the same value in every cell
            return _bcast(a, shape)
        return a

    def _scalar(x: Any, name: str) -> Any:
        # JAX and other namespaces' scalar read (NumPy's is `_f64s`); under
        # `jax.jit` the check runs once, when the program is traced
        cls = x.__class__
        if cls is float or cls is int:
            return x
        return check_scalar(x, name, f64=False)

    def _assemble(p: Any, params: Mapping[str, Any]) -> Any:
        """An indexed parameter from 0.1.2's expanded scalar names.

        Cells the model never reads (their equations are overridden) get 1.0: a
        value that keeps the template finite there, so that neither the result
        nor a gradient through `where` picks up a NaN.
        """
        names = p.names()
        if p.used is None:
            vals = [params[n] for n in names]  # KeyError if one is missing
            used_vals = vals
        else:
            used_flat = {flat_index(p.axes, i) for i in p.used}
            vals = [params[n] if k in used_flat else 1.0 for k, n in enumerate(names)]
            used_vals = [v for k, v in enumerate(vals) if k in used_flat]
        if not all(v.__class__ in _PLAIN for v in used_vals):
            for v, n in zip(vals, names, strict=True):
                check_scalar(v, n, f64=f64)  # each cell one number
        if be.is_numpy:
            dtype = np.result_type(*used_vals) if used_vals else np.dtype(np.float64)
            if dtype.kind != "f":
                dtype = np.dtype(np.float64)
            arr = np.array(vals, dtype=dtype)
        else:
            arr = _stack_scalars(vals, None)
        return f["reshape"](arr, p.shape)

    def _pvec(params: Mapping[str, Any], names: tuple[str, ...], dtype: Any) -> Any:
        """Scalar parameters gathered by name into one vector (re-rolled cells)."""
        try:
            vals = [params[n] for n in names]
        except KeyError:
            absent = sorted({n for n in names if n not in params})
            raise ParameterError(
                f"missing parameter(s): {', '.join(absent[:4])}{', ...' if len(absent) > 4 else ''}"
                f"{misspelt_parameter(absent, params, _known_name(pdefs))}",
                path="params",
                token=absent[0],
            ) from None
        if be.is_numpy:
            try:
                a = np.array(vals, dtype=dtype)
            except (TypeError, ValueError):
                a = None
            if a is None or a.ndim != 1:  # a value that is not one number
                check_vector(vals, names, None if a is None else a.shape, f64=True)
            return a
        if all(v.__class__ in (float, int) for v in vals):
            return asarray(np.asarray(vals))  # one constant, not a stack of scalars
        for v, n in zip(vals, names, strict=True):
            check_scalar(v, n, f64=False)  # once, at trace time under jax.jit
        return _stack_scalars(vals, None)

    def _cells(params: Mapping[str, Any], key: str) -> Any:
        return _assemble(by_key[key], params)

    by_key = {p.key: p for p in pdefs}

    def _series(p: Any, params: Mapping[str, Any], grid: Any) -> Any:
        """A time-varying parameter's table from one series per expanded name."""
        n = grid.shape[0]
        used = None if p.used is None else {flat_index(p.axes, i) for i in p.used}
        mod: Any = np if be.is_numpy else xp
        cols = [
            mod.asarray(params[name])
            if used is None or k in used
            else mod.ones((n,), dtype=grid.dtype)
            for k, name in enumerate(p.names())
        ]
        if not p.axes:
            return cols[0]
        a = mod.reshape(mod.stack(cols, axis=-1), (cols[0].shape[0], *p.shape))
        return mod.moveaxis(a, 0, p.time_pos) if p.time_pos else a

    return {
        "_param_array": _param_array,
        "_scalar": _scalar,
        "_assemble": _assemble,
        "_pvec": _pvec,
        "_cells": _cells,
        "_series": _series,
    }


def _known_name(pdefs: list[Any]) -> Callable[[str], bool]:
    """Whether a name passed at the call is one of the parameters `pdefs`, by
    any accepted spelling (a base name or an expanded cell name)."""

    def known(name: str) -> bool:
        for p in pdefs:
            if name == p.base or (p.axes and name.startswith(p.base + "__")):
                return True
        return False

    return known


def _fill_params_fn(
    model: Model,
    pdefs: list[Any],
    picks: list[int] | None,
    g: dict[str, Any],
    tv: dict[str, Callable[..., Any]],
    ph: dict[str, Any],
    force_f64: bool,
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """`_fill_params(params)`: the parameters at `picks` of `pdefs` (all if None)
    by any accepted spelling, or a `ParameterError` naming what is missing of all
    `pdefs` (the generated slow path)."""
    _param_array, _assemble, _series = (
        ph["_param_array"],
        ph["_assemble"],
        ph["_series"],
    )

    def _fill_params(params: Mapping[str, Any]) -> tuple[Any, ...]:
        out: list[Any] = []
        missing: list[str] = []
        grid = tv["_tv_grid"](params) if tv else None
        for p in pdefs:
            if p.time_varying:
                if p.base in params:
                    out.append(tv["_tv_table"](params[p.base], p.key, grid))
                    continue
                names = p.used_names()
                absent = [n for n in names if n not in params]
                if absent:
                    missing.append(
                        f"{p.base} (a table over the time axis) or "
                        f"{', '.join(absent[:4])}{', ...' if len(absent) > 4 else ''}"
                    )
                    out.append(None)
                else:
                    out.append(tv["_tv_table"](_series(p, params, grid), p.key, grid))
                continue
            if not p.axes:
                if p.base in params:
                    try:
                        out.append(check_scalar(params[p.base], p.base, f64=force_f64))
                    except ParameterError as exc:  # not the fast path's KeyError
                        raise exc from None
                else:
                    missing.append(p.base)
                    out.append(None)
                continue
            if p.array_ok and p.base in params:
                out.append(_param_array(params[p.base], p.key))
                continue
            need = p.used_names()
            absent = [n for n in need if n not in params]
            if not absent:
                out.append(_assemble(p, params))
                continue
            alt = f"{p.base} (an array of shape {p.shape}) or " if p.array_ok else ""
            missing.append(
                f"{alt}{', '.join(absent[:4])}{', ...' if len(absent) > 4 else ''}"
            )
            out.append(None)
        if missing:
            hint = misspelt_parameter(
                (m.split(" ")[0] for m in missing), params, _known_name(pdefs)
            )
            expected = sorted(
                {
                    n
                    for p in pdefs
                    for n in (p.used_names() if p.axes and not p.array_ok else [p.base])
                }
            )
            raise ParameterError(
                f"missing parameter(s): {'; '.join(missing)}{hint}. Expected: {expected}",
                path="params",
                token=missing[0].split(" ")[0],
            )
        return tuple(out) if picks is None else tuple(out[i] for i in picks)

    return _fill_params


def _constants(be: Backend, tables: Mapping[str, Any]) -> dict[str, Any]:
    """A generated program's constant tables as arrays of its namespace.

    Programs are often built lazily, on first use, which may be inside a caller's
    JAX trace: constants are then made eagerly (`ensure_compile_time_eval`), so that
    the cached program holds concrete arrays and not that trace's tracers.
    """
    xp = be.xp
    assert xp is not None

    def made() -> dict[str, Any]:  # tuples (of parameter names) stay as they are
        return {
            k: v if isinstance(v, tuple) else xp.asarray(v) for k, v in tables.items()
        }

    if not be.is_jax:
        return made()
    import jax

    with jax.ensure_compile_time_eval():
        return made()


_COUNTER = [0]


def build_function(
    lowered: Lowered,
    model: Model,
    be: Backend,
    *,
    force_f64: bool,
    name: str = "rhs",
    extra: Mapping[str, Any] | None = None,
) -> Callable[..., Any]:
    if be.is_jax:
        warn_float32(model)  # once per model, if JAX computes in float32
    g = _runtime(be, model, lowered, force_f64=force_f64)
    if extra:
        g.update(extra)
    _COUNTER[0] += 1
    filename = f"<op_system-generated-{_COUNTER[0]}>"
    code = compile(lowered.source, filename, "exec")
    linecache.cache[filename] = (
        len(lowered.source),
        None,
        lowered.source.splitlines(True),
        filename,
    )
    ns: dict[str, Any] = {}
    exec(code, g, ns)  # our generated source only: user text never reaches here
    fn: Callable[..., Any] = ns[name]
    fn.__qualname__ = fn.__name__ = "eval_fn" if name == "rhs" else name
    if lowered.bound_from is not None:

        @functools.cache  # engines bind at every step: compile once
        def split() -> tuple[Callable[..., Any], Callable[..., Any]]:
            """`prep(params)` and `core(t, y, *prepared)`, generated and compiled on
            first use (bind)."""
            bns: dict[str, Any] = {}
            exec(
                compile(lowered.bound_source, f"{filename}-bound", "exec"), g, bns
            )  # our generated source only
            return bns["prep"], bns["core"]

        fn.split = split  # type: ignore[attr-defined]
    return fn


def dispatching(model: Model) -> tuple[Callable[..., Any], str]:
    """The default `eval_fn`: strict NumPy (float64, as 0.1.2) unless `y` is foreign.

    The generated NumPy function starts with one class check of `y`; a JAX array
    or tracer (or another Array-API array) is handed to a function generated for
    that namespace (built on first use), so `jax.jit(lambda y: rhs.eval_fn(0.0, y,
    **p))` traces instead of failing to convert a tracer to NumPy.
    """
    lowered = lower_model(model, "numpy", dispatch=True)
    cache: dict[str, Callable[..., Any]] = {}

    def other(t: Any, y: Any, params: dict[str, Any]) -> Any:
        b = backend_for_array(y)
        fn = cache.get(b.name)
        if fn is None:
            fn = cache[b.name] = build_function(
                lower_model(model, b.name), model, b, force_f64=False
            )
        return fn(t, y, **params)

    fn = build_function(
        lowered,
        model,
        resolve_backend("numpy"),
        force_f64=True,
        extra={"_not_numpy": not_numpy, "_other": other},
    )
    return fn, lowered.source
