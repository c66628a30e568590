"""Plots of named results (matplotlib, imported on first use): line panels of a
solve, fan charts of a simulation."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .select import select
from .tables import Named

__all__ = ["fan_panels", "line_panels"]


def _keys(result: Named, blocks: Sequence[str] | str | None) -> list[str]:
    if blocks is None:
        return [p.base for p in result._layout.parts if not p.counter]
    return [blocks] if isinstance(blocks, str) else list(blocks)


def _panels(n: int, axes: Any) -> Any:
    import matplotlib.pyplot as plt

    if axes is not None:
        got = np.atleast_1d(np.asarray(axes, dtype=object)).reshape(-1)
        if got.size < n:
            raise ValueError(f"plot needs {n} axes, got {got.size}")
        return got
    cols = min(n, 3)
    rows = -(-n // cols)
    _fig, grid = plt.subplots(
        rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False, sharex=True
    )
    flat = grid.reshape(-1)
    for extra in flat[n:]:
        extra.set_visible(False)
    return flat[:n]


def _labels(result: Named, key: str) -> list[str]:
    """The label of each cell of `result[key]`, in C order over its free dims."""
    sel = select(result._layout, key)
    part = sel.part
    free = [
        (d, c)
        for d, c, i in zip(part.dims, part.coords, sel.index, strict=True)
        if isinstance(i, slice)
    ]
    if not free:
        return [key]
    return [
        ", ".join(f"{d}={c}" for (d, _), c in zip(free, combo, strict=True))
        for combo in itertools.product(*(c for _, c in free))
    ]


def line_panels(
    result: Named, blocks: Sequence[str] | str | None, *, total: bool, axes: Any
) -> Any:
    keys = _keys(result, blocks)
    panels = _panels(len(keys), axes)
    t = np.asarray(result.t)
    for ax, key in zip(panels, keys, strict=False):
        values = np.asarray(result[key]).reshape(t.size, -1)
        if total:
            ax.plot(t, values.sum(axis=1), label=key)
        else:
            for col, label in zip(values.T, _labels(result, key), strict=True):
                ax.plot(t, col, label=label)
            if values.shape[1] > 1:
                ax.legend(fontsize="small")
        ax.set_title(key)
        ax.set_xlabel("time")
    return panels


def fan_panels(
    result: Named,
    blocks: Sequence[str] | str | None,
    *,
    q: Sequence[float],
    axes: Any,
) -> Any:
    """Per key, the total over its cells: the median and bands between the
    quantiles `q` paired from the outside in (`q[0]..q[-1]`, `q[1]..q[-2]`, ...)."""
    keys = _keys(result, blocks)
    panels = _panels(len(keys), axes)
    t = np.asarray(result.t)
    qs = sorted(q)
    for ax, key in zip(panels, keys, strict=False):
        values = np.asarray(result[key])
        totals = values.reshape(values.shape[0], t.size, -1).sum(axis=2)
        bands = np.quantile(totals, qs, axis=0)
        for i in range(len(qs) // 2):
            ax.fill_between(
                t,
                bands[i],
                bands[-1 - i],
                alpha=0.2 + 0.15 * i,
                color="C0",
                linewidth=0,
                label=f"{qs[i]:g}–{qs[-1 - i]:g}",
            )
        ax.plot(t, np.median(totals, axis=0), color="C0", label="median")
        ax.set_title(key)
        ax.set_xlabel("time")
        ax.legend(fontsize="small")
    return panels
