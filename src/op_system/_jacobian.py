"""The exact Jacobian on NumPy: one generated program for all its colors.

The structural pattern (`jacobian_sparsity`) is colored so that columns sharing
no row get one color; the Jacobian is then `J @ P` for the `(n, n_colors)`
matrix `P` of the colors' indicator vectors, read back at the pattern. The
batched jvp program (`lower_model(mode="jvps")`, see `_batch.py`) computes
`J @ P` in one call, vectorized over the colors, so a Jacobian costs one
program run instead of one per color. Models whose jvp has an op without a
batching rule keep a loop over the colors of the one-direction jvp.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["JacobianPlan", "color_columns"]


def color_columns(rows: Any, cols: Any, n: int) -> Any:
    """Greedy coloring: columns sharing no row of the pattern get the same color."""
    by_col: list[list[int]] = [[] for _ in range(n)]
    by_row: list[list[int]] = [[] for _ in range(n)]
    for r, c in zip(rows.tolist(), cols.tolist()):
        by_col[c].append(r)
        by_row[r].append(c)
    color = np.full(n, -1, dtype=np.int64)
    for j in range(n):
        taken = {int(color[k]) for r in by_col[j] for k in by_row[r] if color[k] >= 0}
        c = 0
        while c in taken:
            c += 1
        color[j] = c
    return color


class JacobianPlan:
    """What every evaluation of one model's NumPy Jacobian shares: the pattern,
    its coloring and the probe matrix, and the batched program when it exists."""

    def __init__(
        self,
        rows: Any,
        cols: Any,
        n: int,
        batched: Callable[..., Any] | None,
        single: Callable[[], Callable[..., Any]],
    ) -> None:
        self.rows, self.cols, self.n = rows, cols, n
        colors = color_columns(rows, cols, n)
        self.n_colors = int(colors.max()) + 1 if n else 0
        probes = np.zeros((n, self.n_colors))
        probes[np.arange(n), colors] = 1.0
        self.probes = probes
        self.pick = colors[cols]
        self.batched = batched
        self.colors = colors
        self.mask = np.zeros((n, n), dtype=bool)
        self.mask[rows, cols] = True
        self._single = single
        # CSR of the pattern, filled with values at each call (`sparse=True`)
        order = np.lexsort((cols, rows))
        self.csr_order = order
        self.indptr = np.searchsorted(rows[order], np.arange(n + 1)).astype(np.int32)
        self.indices = cols[order].astype(np.int32)

    def values(self, t: Any, y: Any, params: Mapping[str, Any]) -> Any:
        """The Jacobian's values at the pattern (`rows`, `cols` order)."""
        if self.batched is not None:
            jv = self.batched(t, y, self.probes, **params)
            return jv[self.rows, self.pick]
        jvp = self._single()
        jv = (
            np.stack(
                [jvp(t, y, self.probes[:, c], **params) for c in range(self.n_colors)]
            )
            if self.n_colors
            else np.zeros((0, self.n))
        )
        return jv[self.pick, self.rows]

    def assemble(self, vals: Any, sparse: bool) -> Any:
        """Dense `(n, n)` array, or a SciPy CSR matrix."""
        if sparse:
            from scipy.sparse import csr_matrix

            return csr_matrix(
                (vals[self.csr_order], self.indices, self.indptr),
                shape=(self.n, self.n),
            )
        out = np.zeros((self.n, self.n))
        out[self.rows, self.cols] = vals
        return out

    def function(self, sparse: bool) -> Callable[..., Any]:
        """`J(t, y, **params)`."""

        def jac(t: Any, y: Any, **params: Any) -> Any:
            return self.assemble(self.values(t, y, params), sparse)

        return jac

    def bound(
        self, core: Callable[..., Any], prepared: tuple[Any, ...], sparse: bool
    ) -> Callable[[Any, Any], Any]:
        """`J(t, y)` from the batched program's `core` and its read parameters."""
        probes, rows, pick = self.probes, self.rows, self.pick
        if sparse:

            def jac(t: Any, y: Any) -> Any:
                return self.assemble(core(t, y, probes, *prepared)[rows, pick], True)

            return jac
        colors, mask = self.colors, self.mask
        where = np.where
        if np.array_equal(colors, np.arange(self.n)):  # a color per column, in order

            def own_colors(t: Any, y: Any) -> Any:
                return where(mask, core(t, y, probes, *prepared), 0.0)

            return own_colors

        def dense(t: Any, y: Any) -> Any:
            # column c of J is the jvp of c's color, where the pattern has entries
            return where(mask, core(t, y, probes, *prepared)[:, colors], 0.0)

        return dense
