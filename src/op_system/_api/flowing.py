"""`CompiledRhs`'s flows: their names and values, per-capita rates, the
stoichiometry and the incidence counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from .._core.model import Model
from .._support.errors import (
    UnsupportedFeatureError,
)

if TYPE_CHECKING:
    from .compiled import CompiledRhs


def flow_model(self: CompiledRhs, what: str) -> Model:
    if self._rhs is None:
        raise ValueError(f"{what} needs a CompiledRhs built by compile_rhs")
    model = self._model_of_rhs()
    if model.kind != "transitions":
        raise UnsupportedFeatureError(
            f"{what} is defined for transitions models, where every term of dydt "
            f"is a flow between states; this model is kind={model.kind!r}, whose "
            "equations are not split into flows",
            path="kind",
            token=model.kind,
        )
    return model


def flow_names(self: CompiledRhs) -> tuple[str, ...]:
    got = self._cache.get("flow_names")
    if got is None:
        from .._core.cells import flow_names

        got = self._cache["flow_names"] = flow_names(flow_model(self, "flow_names"))
    return cast("tuple[str, ...]", got)


def flows(self: CompiledRhs, t: Any, y: Any, **params: Any) -> Any:
    be = self._backend_for(y)
    return self._output_fn("flows", be)(t, y, **params)


def rates(self: CompiledRhs, t: Any, y: Any, **params: Any) -> Any:
    be = self._backend_for(y)
    return self._output_fn("rates", be)(t, y, **params)


def stoichiometry(self: CompiledRhs) -> Any:
    got = self._cache.get("stoichiometry")
    if got is None:
        from scipy.sparse import csr_matrix

        from .._core.cells import stoichiometry_entries

        model = flow_model(self, "stoichiometry")
        rows, cols, vals = stoichiometry_entries(model)
        shape = (model.n_state, len(self.flow_names))
        got = self._cache["stoichiometry"] = csr_matrix(
            (vals, (rows, cols)), shape=shape
        )
    return got


def incidence_names(self: CompiledRhs) -> dict[str, tuple[str, ...]]:
    model = self._model_of_rhs() if self._rhs is not None else None
    if model is None:
        return {}
    return {c.block.base: tuple(c.block.names()) for c in model.counters}


def interval_incidence(self: CompiledRhs, ys: Any, counter: str | None = None) -> Any:
    names = self.incidence_names
    if not names:
        raise UnsupportedFeatureError(
            "interval_incidence needs incidence counters: add `incidence: "
            "{name: [transition names]}` to the spec",
            path="incidence",
        )
    if counter is not None and counter not in names:
        from .._support.errors import SpecError, did_you_mean

        raise SpecError(
            f"no incidence counter {counter!r}{did_you_mean(counter, names)};"
            f" the spec's counters are {sorted(names)}",
            path="incidence",
            token=counter,
        )
    index = {n: i for i, n in enumerate(self.state_names)}
    picked = names[counter] if counter is not None else sum(names.values(), ())
    # counters are appended after the states, each block's cells in order
    lo, hi = index[picked[0]], index[picked[-1]] + 1
    block = ys[..., lo:hi]
    return block[1:] - block[:-1]
