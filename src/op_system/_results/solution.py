"""`Solution`: a solve's states at its output times, by name, with the model's
flows, observables and interval incidence along it, as tables and plots.

Flows, observables and incidence are computed by the compiled model's own
readers (`bind(output="flows")`, `observe`, `interval_incidence`) and only
named here: each is split into the blocks the model gives it (a named
transition's flows over its axes, an observable over its axes, a counter
over its axes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .layout import Layout, layout_of
from .packing import namespace
from .tables import Named

__all__ = ["Solution"]


class Solution(Named):
    """The states of a solve at its output times, by name (see `solve`).

    Attributes:
        t: The output times, `(time,)`.
        y: The states, `(time, n_state)` in `state_names` order (NumPy for
            SciPy, JAX for diffrax).
        params: The parameters it was solved with.
        method: The solver.
        backend: `"scipy"` or `"diffrax"`.
        stats: The solver's counts (evaluations, steps, segments) and the
            breakpoints it stopped at.

    `sol["I"]` is block `I` over `(time, *axes)`; `sol["I[age=old]"]` or
    `sol["I__age_old"]` one cell over time.
    """

    __slots__ = ("backend", "method", "params", "stats")

    params: Mapping[str, Any]
    method: str
    backend: str
    stats: Mapping[str, Any]

    def __init__(
        self,
        rhs: Any,
        t: np.ndarray,
        y: Any,
        params: Mapping[str, Any],
        *,
        method: str,
        backend: str,
        stats: Mapping[str, Any],
        layout: Layout | None = None,
    ) -> None:
        super().__init__(rhs, t, y, layout or layout_of(rhs))
        object.__setattr__(self, "params", dict(params))
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "backend", backend)
        object.__setattr__(self, "stats", dict(stats))

    @property
    def y(self) -> Any:
        return self._states

    def __repr__(self) -> str:
        blocks = ", ".join(self.blocks[:8]) + (", ..." if len(self.blocks) > 8 else "")
        t0, t1 = (f"{float(x):g}" for x in (self.t[0], self.t[-1]))
        return (
            f"Solution({self.t.size} times from {t0} to {t1}, blocks {blocks}; "
            f"{self.method} via {self.backend})"
        )

    # -- along the solution ---------------------------------------------------------
    @property
    def flows(self) -> dict[str, Any]:
        """Every flow at each output time (`rhs.flows`): a named transition's
        flows as one array `(time, *its axes)` under its name, any other flow
        under its own name (`flow_names`, e.g. `"I->R"`) as `(time,)`.
        Transitions models only."""
        from .._core.observables import flow_blocks

        names = self.rhs.flow_names
        y = self._states
        if namespace([y]) is np:
            f = self.rhs.bind(self.params, output="flows")  # parameters read once
            values = np.stack([np.asarray(f(t, yy)) for t, yy in zip(self.t, y)])
        else:
            import jax

            values = jax.vmap(lambda t, yy: self.rhs.flows(t, yy, **self.params))(
                self.t, y
            )
        blocks, _ = flow_blocks(self.rhs._model_of_rhs())
        out: dict[str, Any] = {}
        covered: set[int] = set()
        for name, b in blocks.items():
            sl = slice(b.offset, b.offset + b.size)
            out[name] = values[:, sl].reshape((self.t.size, *b.shape))
            covered.update(range(sl.start, sl.stop))
        for i, name in enumerate(names):
            if i not in covered:
                out[name] = values[:, i]
        return out

    @property
    def observables(self) -> dict[str, Any]:
        """The spec's observables at each output time (`rhs.observe`), each as
        `(time, *its axes)`. The parameters the observables read must be in
        `params`."""
        values = self.rhs.observe(self.t, self._states, **self.params)
        observed = self.rhs._model_of_rhs().observed
        out: dict[str, Any] = {}
        at = 0
        for o in observed.observables if observed is not None else ():
            size = int(np.prod([ax.size for ax in o.axes], dtype=int))
            shape = tuple(ax.size for ax in o.axes)
            out[o.base] = values[:, at : at + size].reshape((self.t.size, *shape))
            at += size
        return out

    @property
    def incidence(self) -> dict[str, Any]:
        """Each incidence counter's counts per output interval
        (`rhs.interval_incidence`): `(time - 1, *its axes)`, row `i` for
        `t[i] .. t[i+1]`."""
        out: dict[str, Any] = {}
        for part in self._layout.parts:
            if part.counter:
                counts = self.rhs.interval_incidence(self._states, part.base)
                out[part.base] = counts.reshape((self.t.size - 1, *part.shape))
        return out

    # -- plots ----------------------------------------------------------------------
    def plot(
        self,
        blocks: Sequence[str] | str | None = None,
        *,
        total: bool = False,
        axes: Any = None,
    ) -> Any:
        """Curves over time, one panel per block (default: every state block,
        no counters), one line per cell, or the block's sum with `total=True`.
        `blocks` may name cells or cell keys too (`"I[age=old]"`). Returns the
        matplotlib axes (an array, one per panel). Needs matplotlib."""
        from .plots import line_panels

        return line_panels(self, blocks, total=total, axes=axes)
