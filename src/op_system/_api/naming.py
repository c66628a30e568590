"""`CompiledRhs`'s names in and out: a state vector from named blocks and cells
(`pack`), named blocks from state vectors (`unpack`), and the spec's
`initial_state` for given seeds. A mixin, so that `compiled.py` stays one
concept; the work is done by `_results/` (layout, selection, packing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._core.model import Model
    from .normalized import NormalizedRhs

__all__ = ["NamedStates"]


class NamedStates:
    """`pack`, `unpack` and `initial_state` of a compiled model."""

    __slots__ = ()

    if TYPE_CHECKING:  # provided by `CompiledRhs`
        _rhs: NormalizedRhs | None

        @property
        def meta(self) -> Mapping[str, Any]: ...

        def _model_of_rhs(self) -> Model: ...

    def pack(
        self,
        mapping: Mapping[str, Any] | None = None,
        /,
        fill: Any = 0.0,
        **blocks: Any,
    ) -> Any:
        """The state vector `y` (1-D, in `state_names` order) from named values.

        Keys are block names with an array in the block's axis order (`"S":
        array(age, vax)`; a scalar is broadcast), cell keys (`"I[age=old, vax=u]"`;
        an axis left out, or written without a coordinate, is ranged over and
        takes an array over the axes left) and expanded names
        (`"I__age_old__vax_u"`); as a mapping, or as keywords for block names.
        Incidence counters are blocks too. Cells no key names hold `fill`. Where
        keys overlap the more specific wins (a cell over a block); an unknown name
        is a `StateNameError` (a `KeyError`) with did-you-mean. With JAX arrays
        (or under `jax.jit`) the result is a JAX array.

        !!! example
            ```python
            >>> import numpy as np
            >>> from op_system import compile_spec
            >>> c = compile_spec({
            ...     "kind": "transitions",
            ...     "axes": [{"name": "age", "coords": ["young", "old"]}],
            ...     "state": ["S[age]", "I[age]", "R[age]"],
            ...     "transitions": [
            ...         {"from": "S[age]", "to": "I[age]", "rate": "beta * I[age] / sum_state()"},
            ...         {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
            ...     ],
            ... })
            >>> y0 = c.pack({"I[age=old]": 10.0}, S=[600.0, 390.0])
            >>> dict(zip(c.state_names, y0.tolist()))  # doctest: +NORMALIZE_WHITESPACE
            {'S__age_young': 600.0, 'S__age_old': 390.0, 'I__age_young': 0.0,
             'I__age_old': 10.0, 'R__age_young': 0.0, 'R__age_old': 0.0}
            >>> c.unpack(y0)["I"]
            array([ 0., 10.])

            ```
        """
        from .._results.layout import layout_of
        from .._results.packing import pack

        return pack(layout_of(self), {**(mapping or {}), **blocks}, fill)

    def unpack(self, y: Any) -> dict[str, Any]:
        """Named blocks of a state vector or of many: `{block: array(..., *axes)}`
        for `y` of shape `(..., n_state)` (leading dimensions such as time and
        trajectory are kept), states and incidence counters alike. NumPy or JAX
        (traceable under `jax.jit`)."""
        from .._results.layout import layout_of
        from .._results.packing import unpack

        return unpack(layout_of(self), y)

    def initial_state(self, **params: Any) -> Any:
        """The state vector the spec's `initial_state:` block gives for these
        seed values (parameter names in the block; a shaped seed takes its
        array). Cells the block does not list start at 0. A `SpecError` when the
        spec has no `initial_state:`.

        !!! example
            ```python
            >>> from op_system import compile_spec
            >>> c = compile_spec({
            ...     "kind": "transitions",
            ...     "state": ["S", "I", "R"],
            ...     "transitions": [
            ...         {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
            ...         {"from": "I", "to": "R", "rate": "gamma"},
            ...     ],
            ...     "initial_state": {"S": "S0", "I": "I0"},
            ... })
            >>> c.initial_state(S0=990.0, I0=10.0)
            array([990.,  10.,   0.])

            ```
        """
        from .._results.initial import initial_state
        from .._results.layout import layout_of

        axes = self._model_of_rhs().axes if self._rhs is not None else {}
        return initial_state(
            layout_of(self), self.meta.get("initial_state"), axes, params
        )
