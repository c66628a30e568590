"""`Trajectories`: stochastic simulations by name (`simulate(..., named=True)`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .layout import layout_of
from .tables import Named

__all__ = ["Trajectories"]


class Trajectories(Named):
    """`n` simulated trajectories at the output times, by name.

    Attributes:
        t: The output times, `(time,)`.
        states: The counts, `(trajectory, time, n_state)` (as `simulate`
            returns them).
        interval_flows: How many individuals each flow (`flow_names`) moved
            over each output interval, `(trajectory, time - 1, n_flow)`.

    `traj["I"]` is block `I` over `(trajectory, time, *axes)`.
    """

    __slots__ = ("interval_flows",)
    _lead_dims = ("trajectory",)

    interval_flows: Any

    def __init__(self, rhs: Any, t: Any, states: Any, flows: Any) -> None:
        super().__init__(rhs, np.asarray(t, dtype=np.float64), states, layout_of(rhs))
        object.__setattr__(self, "interval_flows", flows)

    @property
    def states(self) -> Any:
        return self._states

    @property
    def n(self) -> int:
        """The number of trajectories."""
        return int(self._states.shape[0])

    def _lead_coords(self) -> dict[str, Any]:
        return {"trajectory": np.arange(self.n)}

    def __repr__(self) -> str:
        blocks = ", ".join(self.blocks[:8]) + (", ..." if len(self.blocks) > 8 else "")
        t0, t1 = (f"{float(x):g}" for x in (self.t[0], self.t[-1]))
        return (
            f"Trajectories({self.n} trajectories, {self.t.size} times from {t0} to "
            f"{t1}, blocks {blocks})"
        )

    def quantiles(
        self, q: Sequence[float] | float, blocks: Sequence[str] | str | None = None
    ) -> dict[str, Any]:
        """Quantiles over the trajectories: `{key: array(len(q), time, *axes)}`
        (`(time, *axes)` for a single `q`), for every block or the keys given
        (blocks, cells or cell keys)."""
        keys = (
            list(self.blocks)
            if blocks is None
            else [blocks]
            if isinstance(blocks, str)
            else list(blocks)
        )
        return {k: np.quantile(np.asarray(self[k]), q, axis=0) for k in keys}

    def plot(
        self,
        blocks: Sequence[str] | str | None = None,
        *,
        q: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
        axes: Any = None,
    ) -> Any:
        """A fan chart per block (default: every state block, no counters) or
        per key given (cells and cell keys too): the median over trajectories of
        the key's total and bands between the quantiles `q`, paired from the
        outside in. Returns the matplotlib axes. Needs matplotlib."""
        from .plots import fan_panels

        return fan_panels(self, blocks, q=q, axes=axes)
