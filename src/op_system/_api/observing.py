"""`CompiledRhs`'s observables: the observed model, its generated function,
names and parameters, and `observe` over a trajectory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._backends.backend import (
    Backend,
)
from .._backends.runtime import build_function
from .._core.model import Model, cell_names
from .._lower.codegen import lower_model
from .._support.errors import (
    StateShapeError,
    UnsupportedFeatureError,
)

if TYPE_CHECKING:
    from .compiled import CompiledRhs


def output_fn(self: CompiledRhs, output: str, be: Backend) -> Any:
    key = f"{output}:{be.name}"
    fn = self._cache.get(key)
    if fn is None:
        model = (
            observed_model(self)
            if output == "observables"
            else self._flow_model(f"{output}()")
        )
        lowered = lower_model(model, be.name, mode=output)
        fn = self._cache[key] = build_function(
            lowered, model, be, force_f64=be.is_numpy, name=output
        )
    return fn


def observed_model(self: CompiledRhs) -> Model:
    if self._rhs is None:
        raise ValueError("observables need a CompiledRhs built by compile_rhs")
    observed = self._model_of_rhs().observed
    if observed is None:
        raise UnsupportedFeatureError(
            "this model has no observables; add an `observables:` mapping of "
            "name -> expression to the spec",
            path="observables",
            token="observables",
        )
    return observed


def observable_names(self: CompiledRhs) -> tuple[str, ...]:
    got = self._cache.get("observable_names")
    if got is None:
        model = self._model_of_rhs() if self._rhs is not None else None
        observed = model.observed if model is not None else None
        got = self._cache["observable_names"] = (
            ()
            if observed is None
            else tuple(
                n for o in observed.observables for n in cell_names(o.base, o.axes)
            )
        )
    return cast("tuple[str, ...]", got)


def observable_param_names(self: CompiledRhs) -> tuple[str, ...]:
    observed = observed_model(self)
    own = set(self.param_names)
    return tuple(
        sorted(
            n for p in observed.params.values() for n in p.used_names() if n not in own
        )
    )


def observables(self: CompiledRhs, t: Any, y: Any, **params: Any) -> Any:
    be = self._backend_for(y)
    return output_fn(self, "observables", be)(t, y, **params)


def observe(self: CompiledRhs, ts: Any, ys: Any, **params: Any) -> Any:
    be = self._backend_for(ys)
    if be.is_jax:
        import jax

        return jax.vmap(lambda t, y: self.observables(t, y, **params))(ts, ys)
    ys = np.asarray(ys, dtype=np.float64)
    ts = np.broadcast_to(np.asarray(ts, dtype=np.float64), ys.shape[:1])
    if ys.ndim != 2 or ys.shape[1] != len(self.state_names):
        raise StateShapeError(
            f"observe needs ys of shape (n_times, {len(self.state_names)}), got "
            f"{ys.shape}"
        )
    f = self.bind(params, output="observables")  # parameters read once
    out = np.empty((ys.shape[0], len(self.observable_names)))
    for k in range(ys.shape[0]):
        out[k] = f(ts[k], ys[k])
    return out
