"""The spec's `initial_state:` block, expanded to one entry per state cell.

    initial_state:
      S[age, vax]: "S0[age, vax]"          # a parameter name per cell (0.1.2)
      S[age, vax=u, imm=X0]: "S0_u"         # 0.9.0: pinned axes select cells
      C[loc]: 0.0                           # 0.9.0: a number for every cell
      E[loc]: {shaped: E0, axes: [loc]}     # one cell of an array

Every key selects cells of a state: its positional items are the axes it
ranges over, its `axis=coord` items pin one coordinate (0.9.0's language;
op_system reads them in 0.1.2's too, where such a key had no meaning), by a
label as declared or quoted (`S[age='0-17']`, `_spec/labels.py`).
A text value is substituted per cell as op-system 0.1.2 substitutes
templates (`name[age, vax]` becomes the cell's expanded name; a pinned
`imm=X0` inside it stays pinned). The result is metadata (`meta["initial_state"]`,
by expanded state name), read by callers such as the flepimop2 plugin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._spec.axes import Axis, fragment
from .._spec.labels import split_items, split_pin
from .._spec.seeds import ShapedSeed, seed_value
from .._support.errors import SpecError, did_you_mean
from .defs import INLINE_RE, cell_name
from .templates import _check_ident

__all__ = ["expand_initial_state"]

_KEY_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(.*)\])?\s*")


def _selection(
    key: str, axes: dict[str, Axis], path: str
) -> tuple[str, list[tuple[Axis, str | None]]]:
    """A key's state name and, per item, its axis and pinned coordinate (None: all)."""
    m = _KEY_RE.fullmatch(key)
    if m is None:
        raise SpecError(f"invalid initial_state key {key!r}", path=path, token=key)
    base, inside = m.group(1), m.group(2)
    _check_ident(base, path, "initial_state")
    items: list[tuple[Axis, str | None]] = []
    for part in split_items(inside) if inside else ():
        name, label, _ = split_pin(part)
        coord = label or ""
        if name not in axes:
            raise SpecError(
                f"initial_state template axis {name!r} not defined"
                f"{did_you_mean(name, axes)}",
                path=path,
                token=name,
            )
        axis = axes[name]
        if any(ax is axis for ax, _ in items):
            raise SpecError(
                f"initial_state key {key!r} repeats axis {name!r}",
                path=path,
                token=name,
            )
        if label is None:
            items.append((axis, None))
            continue
        at = axis.lookup(coord)
        if at is None:
            raise SpecError(
                f"initial_state key {key!r}: {coord!r} is not a coordinate of axis "
                f"{name!r}{did_you_mean(coord, axis.coords)}",
                path=path,
                token=coord,
            )
        items.append((axis, axis.coords[at]))  # as declared (`1` of `1.0`)
    return base, items


def _cells(
    items: list[tuple[Axis, str | None]],
) -> list[tuple[tuple[int, ...], dict[str, str]]]:
    """Each selected cell: its coordinate indices and its assignment by axis name."""
    out: list[tuple[tuple[int, ...], dict[str, str]]] = [((), {})]
    for axis, coord in items:
        chosen = [coord] if coord is not None else list(axis.coords)
        out = [
            ((*idx, axis.coords.index(c)), {**a, axis.name: c})
            for idx, a in out
            for c in chosen
        ]
    return out


def _substitute(text: str, assignment: Mapping[str, str]) -> str:
    """0.1.2's substitution of `name[ax, ...]` in a value, pins allowed."""

    def repl(m: re.Match[str]) -> str:
        parts = [p for p in split_items(m.group(2)) if p]
        frags = []
        for p in parts:
            name, coord, _ = split_pin(p)
            value = coord or assignment.get(name)
            if value is None:
                return m.group(0)
            frags.append(f"{name}_{fragment(value)}")
        return m.group(1) + "__" + "__".join(frags) if frags else m.group(0)

    return INLINE_RE.sub(repl, text)


def expand_initial_state(
    raw: Mapping[object, object], axes: dict[str, Axis], dialect: str
) -> dict[str, Any]:
    """Every cell's initial-state entry (see the module doc), by expanded name.
    The values are checked by `_spec/seeds.py`."""
    result: dict[str, Any] = {}
    new_language = dialect == "0.9"
    for key, val in raw.items():
        path = f"initial_state[{key!r}]"
        base, items = _selection(str(key), axes, path)
        key_axes = tuple(ax for ax, _ in items)
        seed = seed_value(str(key), val, path, axes)
        number = float(val) if new_language and isinstance(val, (int, float)) else None
        for idx, assignment in _cells(items):
            name = cell_name(base, key_axes, idx)
            if name in result:
                raise SpecError(
                    "expanded initial_state keys contain duplicates",
                    path=path,
                    token=name,
                )
            if isinstance(seed, ShapedSeed):
                result[name] = {
                    "shaped": seed.name,
                    "axes": seed.axes,
                    "coords": {ax: assignment[ax] for ax in seed.axes},
                }
            elif number is not None:  # 0.9.0 keeps a literal as a number
                result[name] = number
            else:
                result[name] = _substitute(seed, assignment) if items else seed
    return result
