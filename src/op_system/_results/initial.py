"""The state vector the spec's `initial_state:` block describes, for given values
of its seed parameters.

The block is read once, when the model is built (`_core/initial_state.py`
expands it to one entry per cell, by expanded name); this module only
evaluates those entries: a seed parameter's name (a scalar), a number, or one
cell of a shaped seed (`{shaped: x0, axes: [...]}`: an array over those axes).
A cell the block does not list starts at 0, as do incidence counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._spec.axes import Axis
from .._support.errors import ParameterError, SpecError, did_you_mean
from .layout import Layout
from .packing import namespace

__all__ = ["initial_state"]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _param(name: str, cell: str, params: Mapping[str, Any]) -> Any:
    if name not in params:
        raise ParameterError(
            f"the initial state of {cell!r} is the parameter {name!r}, which was not "
            f"given{did_you_mean(name, params)}",
            path="initial_state",
            token=name,
        )
    return params[name]


def initial_state(
    layout: Layout,
    entries: Mapping[str, Any] | None,
    axes: Mapping[str, Axis],
    params: Mapping[str, Any],
) -> Any:
    """The state vector of `entries` (`meta["initial_state"]`) at `params`."""
    if entries is None:
        raise SpecError(
            "the spec has no initial_state block; add one (e.g. initial_state: "
            "{S: S0, I: I0}) or build the state with rhs.pack(...)",
            path="initial_state",
        )
    xp = namespace(params.values())
    dtype = np.float64 if xp is np else xp.zeros(()).dtype
    cells = []
    shaped: dict[str, Any] = {}
    for cell in layout.state_names:
        entry = entries.get(cell)
        if entry is None:
            value: Any = 0.0
        elif isinstance(entry, Mapping):
            name = str(entry["shaped"])
            if name not in shaped:
                seed_axes = tuple(axes[a] for a in entry["axes"])
                arr = xp.asarray(_param(name, cell, params), dtype=dtype)
                want = tuple(ax.size for ax in seed_axes)
                if tuple(arr.shape) != want:
                    raise ParameterError(
                        f"the shaped seed {name!r} is indexed by {list(entry['axes'])}: "
                        f"it takes shape {want}, got {tuple(arr.shape)}",
                        path="initial_state",
                        token=name,
                    )
                shaped[name] = arr
            index = tuple(
                axes[a].coords.index(entry["coords"][a]) for a in entry["axes"]
            )
            value = shaped[name][index]
        elif isinstance(entry, (int, float)):
            value = float(entry)
        else:
            text = str(entry)
            number = _number(text)
            value = number if number is not None else _param(text, cell, params)
        v = xp.asarray(value, dtype=dtype)
        if tuple(v.shape) != ():
            raise ParameterError(
                f"the initial state of {cell!r} is one number: {entry!r} must be a "
                f"scalar, got shape {tuple(v.shape)}",
                path="initial_state",
                token=str(entry),
            )
        cells.append(v)
    return xp.stack(cells) if cells else xp.zeros((0,), dtype=dtype)
