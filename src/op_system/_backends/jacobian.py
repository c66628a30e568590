"""The exact Jacobian on NumPy: one generated program for all its colors.

The structural pattern (`jacobian_sparsity`) is colored so that columns sharing
no row get one color; the Jacobian is then `J @ P` for the `(n, n_colors)`
matrix `P` of the colors' indicator vectors, read back at the pattern. The
batched jvp program (`lower_model(mode="jvps")`, see `_lower/batch.py`) computes
`J @ P` in one call, vectorized over the colors, so a Jacobian costs one
program run instead of one per color. When every column is its own color (`P`
the identity: `sum_state()` makes rows dense), the program is made for identity
directions (`lower_model(mode="jacobian")`), which places the entries that are
not zero rather than multiplying into `n` dense columns. Models whose jvp has an
op without a batching rule keep a loop over the colors of the one-direction jvp.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
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
    """What every evaluation of one model's Jacobian shares: the pattern, its
    coloring and the probe matrix `P` (`(n, n_colors)`); on NumPy also the
    batched program, made on first use (`make_batched()`: None when an op has
    no batching rule; then `single()`, the one-direction jvp, is called per
    color). The JAX Jacobian reads the same pattern and probes."""

    def __init__(
        self,
        rows: Any,
        cols: Any,
        n: int,
        make_batched: Callable[[bool], Callable[..., Any] | None],
        single: Callable[[], Callable[..., Any]],
    ) -> None:
        self.rows, self.cols, self.n = rows, cols, n
        colors = color_columns(rows, cols, n)
        self.colors = colors
        self.n_colors = int(colors.max()) + 1 if n else 0
        self.probes = np.zeros((n, self.n_colors))
        self.probes[np.arange(n), colors] = 1.0
        self.pick = colors[cols]  # the color whose jvp holds each entry
        self.mask = np.zeros((n, n), dtype=bool)
        self.mask[rows, cols] = True
        self.own_colors = bool(np.array_equal(colors, np.arange(n)))
        # CSR of the pattern: the entries in row order, filled at each call
        order = np.lexsort((cols, rows))
        # where each entry is in the flattened `J @ P` (one gather, no 2-d indexing)
        self.csr_at = rows[order] * self.n_colors + self.pick[order]
        self.indptr = np.searchsorted(rows[order], np.arange(n + 1)).astype(np.int32)
        self.indices = cols[order].astype(np.int32)
        self._make_batched = make_batched
        self._single = single

    @functools.cached_property
    def batched(self) -> Callable[..., Any] | None:
        """The batched jvp program `jvp(t, y, P, **params) = J @ P`, or None; when
        every column is its own color (`P` the identity), the program made for
        identity directions (`make_batched(True)`, `lower_model(mode="jacobian")`)."""
        return self._make_batched(self.own_colors)

    def from_products(self, jp: Any, sparse: bool) -> Any:
        """The Jacobian from `J @ P`: a dense `(n, n)` array, or a SciPy CSR
        matrix. Column c of J is the product of c's color where the pattern has
        entries, and 0 elsewhere."""
        if sparse:
            from scipy.sparse import csr_matrix

            return csr_matrix(
                (jp.reshape(-1).take(self.csr_at), self.indices, self.indptr),
                shape=(self.n, self.n),
            )
        if self.own_colors:
            # `jp` is `J` itself; outside the pattern its entries are exactly zero
            # (sums of products with zero tangents) unless a value is not finite
            # (`0 * inf`): one finite sum of squares shows none is
            flat = jp.reshape(-1)
            if np.isfinite(flat @ flat):
                return jp
            return np.where(self.mask, jp, 0.0)
        return np.where(self.mask, jp[:, self.colors], 0.0)

    def function(self, sparse: bool) -> Callable[..., Any]:
        """`J(t, y, **params)`."""
        batched, probes = self.batched, self.probes
        if batched is not None:

            def jac(t: Any, y: Any, **params: Any) -> Any:
                return self.from_products(batched(t, y, probes, **params), sparse)

            return jac
        jvp = self._single()

        def per_color(t: Any, y: Any, **params: Any) -> Any:
            jp = np.zeros((self.n, self.n_colors))
            for c in range(self.n_colors):
                jp[:, c] = jvp(t, y, probes[:, c], **params)
            return self.from_products(jp, sparse)

        return per_color

    def bound(
        self, core: Callable[..., Any], prepared: tuple[Any, ...], sparse: bool
    ) -> Callable[[Any, Any], Any]:
        """`J(t, y)` from the batched program's `core` and its read parameters."""
        probes = self.probes

        def jac(t: Any, y: Any) -> Any:
            return self.from_products(core(t, y, probes, *prepared), sparse)

        return jac
