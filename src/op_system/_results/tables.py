"""What `Solution` and `Trajectories` share: states by name, and their xarray
and pandas forms (both optional: imported on first use).

Both hold states of shape `(*lead, time, n_state)` (`lead` is `()` for a solve,
`(trajectory,)` for a simulation); a block reads as `(*lead, time, *axes)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .layout import Layout, Part
from .packing import namespace
from .select import select

__all__ = ["Named"]


def _coord_values(part: Part) -> list[Any]:
    """Each dimension's labels: text for categorical axes and chain stages, the
    numbers of a continuous axis."""
    if part.chain:
        return [list(part.names)]
    return [
        [float(v) for v in ax.values] if ax.kind == "continuous" else list(ax.coords)
        for ax in part.axes
    ]


class Named:
    """States of `(*lead_dims, time, n_state)` read by block, cell or cell key."""

    __slots__ = ("_layout", "_states", "rhs", "t")
    _lead_dims: tuple[str, ...] = ()

    rhs: Any
    t: np.ndarray
    _states: Any
    _layout: Layout

    def __init__(self, rhs: Any, t: np.ndarray, states: Any, layout: Layout) -> None:
        object.__setattr__(self, "rhs", rhs)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "_states", states)
        object.__setattr__(self, "_layout", layout)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable (cannot set {key!r})")

    # -- names ----------------------------------------------------------------------
    @property
    def state_names(self) -> tuple[str, ...]:
        """Expanded state names: the last axis of the states."""
        return self._layout.state_names

    @property
    def blocks(self) -> tuple[str, ...]:
        """The block names, in state order (incidence counters included)."""
        return tuple(p.base for p in self._layout.parts)

    def dims(self, key: str) -> tuple[str, ...]:
        """The dimensions of `self[key]`: the leading ones, `time`, then the
        block's axes that `key` leaves free."""
        return (*self._lead_dims, "time", *select(self._layout, key).dims)

    def __getitem__(self, key: str) -> Any:
        """A block (`"I"`: `(*lead, time, *axes)`), a cell (`"I__age_y"` or
        `"I[age=y]"`: `(*lead, time)`) or a sub-block (`"I[vax=u]"`)."""
        sel = select(self._layout, key)
        part = sel.part
        y = self._states
        block = namespace([y]).reshape(y[..., part.slice], (*y.shape[:-1], *part.shape))
        lead = (slice(None),) * (len(self._lead_dims) + 1)
        return block[lead + sel.index]

    def __contains__(self, key: object) -> bool:
        try:
            select(self._layout, str(key))
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.blocks)

    def unpack(self) -> dict[str, Any]:
        """Every block by name: `{block: array(*lead, time, *axes)}`."""
        return {b: self[b] for b in self.blocks}

    # -- tables ---------------------------------------------------------------------
    def _lead_coords(self) -> dict[str, Any]:
        return {}

    def to_xarray(self) -> Any:
        """An `xarray.Dataset`: one variable per block, over the dimensions
        `(*lead, time, *axes)` with the axes' coordinate labels (a continuous
        axis's numbers). Needs xarray."""
        import xarray as xr

        data = {}
        coords: dict[str, Any] = {"time": np.asarray(self.t), **self._lead_coords()}
        for part in self._layout.parts:
            dims = (*self._lead_dims, "time", *part.dims)
            data[part.base] = (dims, np.asarray(self[part.base]))
            for dim, values in zip(part.dims, _coord_values(part), strict=True):
                coords.setdefault(dim, values)
        return xr.Dataset(data, coords=coords)

    def to_pandas(self) -> Any:
        """A long `pandas.DataFrame`: one row per (lead, time, cell), with the
        columns `*lead`, `time`, `block`, `cell` (the expanded name), one per
        axis of the model's blocks (empty where a block lacks the axis) and
        `value`. Needs pandas."""
        import pandas as pd

        axes: list[str] = []
        for part in self._layout.parts:
            for ax in part.axes:
                if ax.name not in axes:
                    axes.append(ax.name)
        y = np.asarray(self._states)
        lead_shape = y.shape[:-1]  # (*lead, time)
        grids = np.meshgrid(*(np.arange(s) for s in lead_shape), indexing="ij")
        n_rows = int(np.prod(lead_shape))
        frames = []
        for part in self._layout.parts:
            cell_axes = dict.fromkeys(axes)
            for j, name in enumerate(part.names):
                coords = _unflat(j, part)
                frame: dict[str, Any] = {}
                for d, g in zip(self._lead_dims, grids, strict=False):
                    frame[d] = g.reshape(-1)
                frame["time"] = np.asarray(self.t)[grids[-1].reshape(-1)]
                frame["block"] = np.full(n_rows, part.base, dtype=object)
                frame["cell"] = np.full(n_rows, name, dtype=object)
                for a in cell_axes:
                    frame[a] = np.full(n_rows, coords.get(a), dtype=object)
                frame["value"] = y[..., part.offset + j].reshape(-1)
                frames.append(pd.DataFrame(frame))
        return pd.concat(frames, ignore_index=True)


def _unflat(j: int, part: Part) -> dict[str, str]:
    """The `{axis: label}` of cell `j` of `part`."""
    out: dict[str, str] = {}
    for ax in reversed(part.axes):
        j, r = divmod(j, ax.size)
        out[ax.name] = str(ax.coords[r])
    return out
