"""`CompiledRhs`'s derivatives: the generated jvp, the Jacobian (one batched
program on NumPy, `jacfwd` on JAX) and its sparsity pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._backends.backend import (
    Backend,
    resolve_backend,
)
from .._backends.jacobian import JacobianPlan
from .._backends.runtime import build_function
from .._lower.codegen import lower_model

if TYPE_CHECKING:
    from .compiled import CompiledRhs


def jvp(self: CompiledRhs, xp: object = None) -> Callable[..., Any]:
    if self._rhs is None:
        raise ValueError("jvp() needs a CompiledRhs built by compile_rhs")
    be = jac_backend(self, xp)
    key = f"jvp:{be.name}"
    cached = self._cache.get(key)
    if cached is not None:
        return cast("Callable[..., Any]", cached)
    model = self._model_of_rhs()
    lowered = lower_model(model, be.name, mode="jvp")
    fn = build_function(lowered, model, be, force_f64=be.is_numpy, name="jvp")
    self._cache[key] = fn
    return fn


def sparsity(self: CompiledRhs) -> tuple[Any, Any]:
    from .._views.symbolic import jacobian_sparsity

    got = self._cache.get("sparsity")
    if got is None:
        assert self._rhs is not None
        got = self._cache["sparsity"] = jacobian_sparsity(self._rhs)
    return cast("tuple[Any, Any]", got)


def jacobian(
    self: CompiledRhs, xp: object = None, *, sparse: bool = False
) -> Callable[..., Any]:
    be = jac_backend(self, xp)
    if be.is_jax:
        return jax_jacobian(self, be)
    return jacobian_plan(self).function(sparse)


def jacobian_plan(self: CompiledRhs) -> JacobianPlan:
    plan = self._cache.get("jacobian_plan")
    if plan is None:
        rows, cols = sparsity(self)
        plan = self._cache["jacobian_plan"] = JacobianPlan(
            rows,
            cols,
            len(self.state_names),
            lambda identity: batched_jvp(self, identity),
            lambda: self.jvp("numpy"),
        )
    return cast("JacobianPlan", plan)


def batched_jvp(self: CompiledRhs, identity: bool) -> Callable[..., Any] | None:
    """The NumPy jvp of a batch of directions (`_lower/batch.py`; `identity`: the
    directions are the identity), or None when an op of the model has no batching
    rule."""
    model = self._model_of_rhs()
    try:
        lowered = lower_model(model, "numpy", mode="jacobian" if identity else "jvps")
    except NotImplementedError:
        return None
    numpy = resolve_backend("numpy")
    return build_function(lowered, model, numpy, force_f64=True, name="jvp")


def jax_jacobian(self: CompiledRhs, be: Backend) -> Callable[..., Any]:
    import jax

    assert be.xp is not None  # the JAX backend always has its namespace
    jnp = be.xp
    jvp = self.jvp(jnp)
    plan = jacobian_plan(self)
    rows, cols, n, pick = plan.rows, plan.cols, plan.n, plan.pick
    probes = plan.probes.T  # one direction per row, for vmap

    def jac_jax(t: Any, y: Any, **params: Any) -> Any:
        y = jnp.asarray(y)
        v = jnp.asarray(probes, dtype=y.dtype)
        jv = jax.vmap(lambda p: jvp(t, y, p, **params))(v)
        return jnp.zeros((n, n), dtype=y.dtype).at[rows, cols].set(jv[pick, rows])

    return jac_jax


def jac_backend(self: CompiledRhs, xp: object) -> Backend:
    be = resolve_backend(xp) if xp is not None else self.backend
    if be is None or be.name == "auto":
        be = resolve_backend("numpy")
    return be


def jac_sparsity(self: CompiledRhs) -> Any:
    from scipy.sparse import csr_matrix

    if self._rhs is None:
        raise ValueError("jac_sparsity needs a CompiledRhs built by compile_rhs")
    rows, cols = sparsity(self)
    n = len(self.state_names)
    return csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
