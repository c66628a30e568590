"""The values of `initial_state:` entries other than a parameter name.

An entry maps a state (or a template, `X[age, vax]`) to the name of the
parameter that seeds it. op-system 0.9.0 also takes a literal number (every
selected cell starts at it) and a shaped seed, `{shaped: x0, axes: [age,
vax]}`: one array parameter indexed by axes the key binds. A seed is data for
engines; it never changes the right-hand side. The checks and messages are
0.9.0's.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from numbers import Number
from typing import Any

from .._support.errors import SpecError, did_you_mean
from .labels import split_items, split_pin

__all__ = ["ShapedSeed", "seed_value"]

_SHAPED_KEYS = ("axes", "shaped")


@dataclass(frozen=True)
class ShapedSeed:
    """A shaped seed: the array parameter `name`, indexed by `axes` in order."""

    name: str
    axes: tuple[str, ...]


def _key_axes(key: str) -> set[str]:
    """The axes a key such as `X[age, vax=u]` names (wildcard or pinned)."""
    inner = key[key.index("[") + 1 : key.rindex("]")] if "[" in key else ""
    return {split_pin(t)[0] for t in split_items(inner) if t}


def _shaped(
    key: str, val: Mapping[object, object], path: str, axes: Collection[str]
) -> ShapedSeed:
    extra = sorted(str(k) for k in set(val) - set(_SHAPED_KEYS))
    if extra:
        raise SpecError(
            f"initial_state[{key!r}] shaped entry has unknown keys {extra!r}; "
            f"allowed keys are {list(_SHAPED_KEYS)!r}"
            f"{did_you_mean(extra[0], _SHAPED_KEYS)}",
            path=path,
            token=extra[0],
        )
    name = val.get("shaped")
    if not isinstance(name, str) or not name.strip():
        raise SpecError(
            f"initial_state[{key!r}] shaped entry must set 'shaped' to a non-empty string",
            path=path,
        )
    name = name.strip()
    if not name.isidentifier():
        raise SpecError(
            f"initial_state[{key!r}] shaped name {name!r} is not a valid identifier",
            path=path,
            token=name,
        )
    raw_axes = val.get("axes")
    if not isinstance(raw_axes, (list, tuple)) or not raw_axes:
        raise SpecError(
            f"initial_state[{key!r}] shaped entry must set 'axes' to a non-empty "
            "list of axis names",
            path=path,
        )
    out: list[str] = []
    for ax in raw_axes:
        if not isinstance(ax, str) or not ax.strip():
            raise SpecError(
                f"initial_state[{key!r}] shaped axes must be non-empty strings",
                path=path,
            )
        ax = ax.strip()
        if ax in out:
            raise SpecError(
                f"initial_state[{key!r}] shaped axes contain duplicate {ax!r}",
                path=path,
                token=ax,
            )
        if ax not in axes:
            raise SpecError(
                f"initial_state[{key!r}] shaped axis {ax!r} not defined in spec axes"
                f"{did_you_mean(ax, axes)}",
                path=path,
                token=ax,
            )
        out.append(ax)
    missing = [ax for ax in out if ax not in _key_axes(key)]
    if missing:
        raise SpecError(
            f"initial_state[{key!r}] shaped axes {missing!r} are not bound by the LHS "
            "selector (each shaped axis must appear as a wildcard or pinned coord on "
            "the key)",
            path=path,
            token=missing[0],
        )
    return ShapedSeed(name, tuple(out))


def seed_value(
    key: str, val: object, path: str, axes: Collection[str]
) -> str | ShapedSeed:
    """An `initial_state` value: a parameter name or literal as text, or a shaped seed."""
    if isinstance(val, bool) or (isinstance(val, Number) and not _finite(val)):
        raise SpecError(
            f"initial_state[{key!r}] literal value {val!r} must be a finite real "
            "number (booleans are not numbers here)",
            path=path,
            token=repr(val),
        )
    if isinstance(val, Mapping):
        return _shaped(key, val, path, axes)
    text = str(val).strip()
    if not text:
        raise SpecError(f"initial_state[{key!r}] must be a non-empty string", path=path)
    return text


def _finite(val: Any) -> bool:
    try:
        return math.isfinite(float(val))
    except (TypeError, OverflowError, ValueError):
        return False
