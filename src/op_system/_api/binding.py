"""`CompiledRhs.bind` and `check_params`: parameters read once, the two-argument
functions engines call (the right-hand side, flows, rates, observables, Jacobian).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._backends.backend import (
    not_numpy,
)
from .._support.errors import (
    ParameterError,
    did_you_mean,
)
from . import jacobians

if TYPE_CHECKING:
    from .compiled import CompiledRhs


def bind(
    self: CompiledRhs,
    params: Mapping[str, object],
    output: str = "rhs",
    *,
    sparse: bool = False,
) -> Callable[[Any, Any], Any]:
    params_dict = dict(params)
    if output == "jacobian":
        return bound_jacobian(self, params_dict, sparse)
    if output != "rhs":
        if output not in ("flows", "rates", "propensities", "observables"):
            raise ValueError(
                "output must be 'rhs', 'flows', 'rates', 'propensities', "
                f"'observables' or 'jacobian', got {output!r}"
            )
        be = self._backend_for(np.zeros(1))
        fn = self._output_fn(output, be)
        prep_o, core_o = fn.split()
        bound_o = prep_o(params_dict)

        def out_bound(t: Any, y: Any) -> Any:
            return core_o(t, y, *bound_o)

        return out_bound
    eval_fn = self.eval_fn
    split = getattr(eval_fn, "split", None)
    if split is None:

        def rhs(t: Any, y: Any) -> Any:
            return eval_fn(t, y, **params_dict)

        return rhs
    prep, core = split()
    bound = prep(params_dict)
    if self.backend is not None and self.backend.infer:
        ndarray = np.ndarray

        def rhs_default(t: Any, y: Any) -> Any:
            if y.__class__ is ndarray or not not_numpy(y):
                return core(t, y, *bound)
            return eval_fn(t, y, **params_dict)  # a JAX array: the traced path

        return rhs_default

    def rhs_bound(t: Any, y: Any) -> Any:
        return core(t, y, *bound)

    return rhs_bound


def bound_jacobian(
    self: CompiledRhs, params: dict[str, Any], sparse: bool
) -> Callable[[Any, Any], Any]:
    if self._rhs is None:
        raise ValueError("a bound Jacobian needs a CompiledRhs built by compile_rhs")
    be = jacobians.jac_backend(self, None)
    if be.is_jax:
        jac_jax = jacobians.jax_jacobian(self, be)
        return lambda t, y: jac_jax(t, y, **params)
    plan = jacobians.jacobian_plan(self)
    split = getattr(plan.batched, "split", None)
    if split is None:  # no batched program: the colors one by one
        jac = plan.function(sparse)
        return lambda t, y: jac(t, y, **params)
    prep, core = split()
    return plan.bound(core, prep(params), sparse)


def check_params(self: CompiledRhs, params: Mapping[str, Any]) -> None:
    model = self._rhs._model if self._rhs is not None else None
    expected = set(self.param_names)
    bases = (
        {p.base for p in model.params.values() if p.array_ok}
        if model is not None
        else set()
    )
    given = set(params)
    missing = []
    if model is not None:
        for p in model.params.values():
            if p.base in given and (p.array_ok or not p.axes):
                continue
            if not all(n in given for n in p.used_names()):
                missing.append(p.key)
    else:
        missing = sorted(expected - given)
    unexpected = sorted(given - expected - bases)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing parameter(s): {missing}")
        if unexpected:
            hints = "".join(
                did_you_mean(u, sorted(expected | bases)) for u in unexpected[:1]
            )
            parts.append(f"unexpected parameter(s): {unexpected}{hints}")
        raise ParameterError(
            "; ".join(parts), path="params", token=(missing or unexpected)[0]
        )
