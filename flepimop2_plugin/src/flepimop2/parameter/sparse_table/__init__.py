"""flepimop2 parameter module `sparse_table`: a dense array from a declared support.

The matrix of a routing transition (`rate: nu * eta[time, imm:i, imm:j]`) is
mostly zeros; `sparse_table` lists only its non-zero entries, and is the
parameter module of flepimop2-op-system 0.9.0 of that name (same config):

```yaml
parameter:
  eta:
    module: sparse_table
    indices: [imm, imm]            # the trailing axes of the request
    entries:
      - index: [x0, x3]            # one label per index axis
        value: {module: fixed, value: 0.2}   # any parameter config ...
      - index: [x5, x7]
        value: 1.0                 # ... or a number
```

A request over `(*leading, *indices)` (for example `(time, imm, imm)`) gets an
array of that shape, zero off the support. A number fills its entry across
the leading axes; a nested parameter config is sampled with a request over
the leading axes only (`broadcast: true`), so it gives a scalar or one value
per leading coordinate (a time series, say).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flepimop2.axis import AxisCollection
from flepimop2.parameter.abc import (
    ParameterABC,
    ParameterRequest,
    ParameterValue,
    build,
)
from pydantic import BaseModel, PrivateAttr, model_validator

__all__ = ["SparseTableEntry", "SparseTableParameter"]


class SparseTableEntry(BaseModel):
    """One entry of the support: its labels (one per index axis) and its value."""

    index: tuple[str, ...]
    value: float | dict[str, Any]


class SparseTableParameter(ParameterABC, module="sparse_table"):
    """A dense array over `(*leading, *indices)`, zero outside `entries`.

    Attributes:
        indices: The table's axes: the request's trailing axes (an axis may
            appear twice, `[imm, imm]`).
        entries: The support; each index at most once.
    """

    indices: tuple[str, ...]
    entries: list[SparseTableEntry]
    _built: dict[int, ParameterABC] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> SparseTableParameter:
        if not self.indices:
            msg = "sparse_table: indices must name at least one axis"
            raise ValueError(msg)
        seen: set[tuple[str, ...]] = set()
        for i, entry in enumerate(self.entries):
            if len(entry.index) != len(self.indices):
                msg = (
                    f"sparse_table entries[{i}].index {list(entry.index)} has "
                    f"{len(entry.index)} labels, but indices {list(self.indices)} has "
                    f"{len(self.indices)} axes"
                )
                raise ValueError(msg)
            if entry.index in seen:
                msg = f"sparse_table entries[{i}].index {list(entry.index)} is declared twice"
                raise ValueError(msg)
            seen.add(entry.index)
        return self

    def support(self, axes: AxisCollection) -> tuple[tuple[int, ...], ...]:
        """The positions of the entries along the index axes, in declaration order."""
        return tuple(self._where(axes, i) for i in range(len(self.entries)))

    def _where(self, axes: AxisCollection, i: int) -> tuple[int, ...]:
        out = []
        for axis, label in zip(self.indices, self.entries[i].index, strict=True):
            runtime = axes.get(axis)
            labels = None if runtime is None else runtime.labels
            if labels is None or label not in labels:
                msg = (
                    f"sparse_table entries[{i}].index: {label!r} is not a label of axis "
                    f"{axis!r} (labels: {None if labels is None else list(labels)})"
                )
                raise ValueError(msg)
            out.append(list(labels).index(label))
        return tuple(out)

    def _value(
        self, axes: AxisCollection, i: int, name: str, leading: tuple[str, ...]
    ) -> np.ndarray:
        entry = self.entries[i]
        if not isinstance(entry.value, dict):
            return np.asarray(float(entry.value))
        module = self._built.get(i)
        if module is None:
            module = self._built[i] = build(entry.value)
        sub = ParameterRequest(
            name="__".join((name, *entry.index)), axes=leading, broadcast=True
        )
        got = module.sample(axes=axes, request=sub)
        return np.asarray(getattr(got, "value", got), dtype=np.float64)

    def sample(
        self,
        *,
        axes: AxisCollection | None = None,
        request: ParameterRequest | None = None,
    ) -> ParameterValue:
        """The dense table for `request` (its trailing axes must be `indices`)."""
        if axes is None or request is None:
            msg = "sparse_table needs the run's axes and the system's request"
            raise ValueError(msg)
        requested = tuple(request.axes)
        k = len(self.indices)
        if requested[len(requested) - k :] != self.indices:
            msg = (
                f"sparse_table for {request.name!r}: indices {list(self.indices)} must be "
                f"the trailing axes of the request, which are {list(requested)}"
            )
            raise ValueError(msg)
        leading = requested[: len(requested) - k]
        shape = axes.resolve_shape(requested)
        lead = tuple(shape.sizes[: len(leading)])
        out = np.zeros(tuple(shape.sizes), dtype=np.float64)
        for i in range(len(self.entries)):
            where = self._where(axes, i)
            value = self._value(axes, i, request.name, leading)
            if value.shape not in {(), lead}:
                msg = (
                    f"sparse_table entries[{i}] ({list(self.entries[i].index)}) has shape "
                    f"{value.shape}; expected () or {lead} (leading axes {list(leading)})"
                )
                raise ValueError(msg)
            key: tuple[Any, ...] = (
                Ellipsis,
                *where,
            )  # the entry, across the leading axes
            out[key] = value
        return ParameterValue(value=out, shape=shape)
