"""A transition's declared `reactants:` (and a `coord_shift`'s `catalysts:`).

op-system 0.9.0 lets a transition say which states react in it, with what
order: `reactants: [{state: "S[age]", order: 1}, {state: "I[age]", order: 1}]`
or `reactants: auto`. The declaration is data (reaction bookkeeping for
engines); it never changes the right-hand side. The checks and messages are
0.9.0's: each reactant is a known state selected over its own axes in order,
its wildcard axes are among the transition's channels (the `from` state's
wildcard axes), none is repeated, and the consumed `from` state is one of
them. A `coord_shift` entry generates one transition per `apply_to` state
(named `<name>_<state>`): it takes `catalysts` (the reactants beyond the
shifted state), never `reactants`. `auto` is kept as is: inferring the
reactants from the rate is not done.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from .._support.errors import SpecError, did_you_mean
from .labels import split_items, split_pin

__all__ = ["AUTO", "Reactant", "read_catalysts", "read_reactants"]

AUTO = "auto"
_SELECTOR = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\[(.*)\])?\s*$")


@dataclass(frozen=True)
class Reactant:
    """One declared reactant.

    Attributes:
        state: The state base.
        axes: Its wildcard axes (over which the reaction's channels range).
        pinned: `(axis, coordinate)` pairs it is read at.
        order: Its (positive integer) order in the rate law.
    """

    state: str
    axes: tuple[str, ...]
    pinned: tuple[tuple[str, str], ...]
    order: int


def _selector(text: str) -> tuple[str, list[tuple[str, str | None]]] | None:
    m = _SELECTOR.match(text)
    if m is None:
        return None
    tokens: list[tuple[str, str | None]] = []
    for raw in split_items(m.group(2)) if m.group(2) else ():
        axis, label, _ = split_pin(raw)  # a label as declared or quoted
        tokens.append((axis, label))
    return m.group(1), tokens


def _base(text: str) -> str:
    parsed = _selector(text)
    return parsed[0] if parsed is not None else text


def _key(r: Reactant) -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    return (r.state, r.axes, r.pinned)


def _entries(raw: Sequence[object], path: str) -> list[tuple[str, int, str]]:
    """(state text, order, path) of each entry; 0.9.0's shape checks."""
    out: list[tuple[str, int, str]] = []
    for i, entry in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(entry, Mapping):
            raise SpecError(f"{where} must be a mapping", path=where)
        unknown = set(entry) - {"state", "order"}
        if unknown:
            raise SpecError(
                f"{where} has unknown fields: {sorted(map(str, unknown))!r}", path=where
            )
        state = entry.get("state")
        if not isinstance(state, str) or not state.strip():
            raise SpecError(f"{where}.state must be a non-empty string", path=where)
        order = entry.get("order")
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise SpecError(
                f"{where}.order must be a positive integer",
                path=f"{where}.order",
                token=repr(order),
            )
        out.append((state, order, where))
    return out


def _reactant(
    text: str,
    order: int,
    where: str,
    name: str,
    state_axes: Mapping[str, tuple[str, ...]],
    coords: Mapping[str, Collection[str]],
) -> Reactant:
    parsed = _selector(text)
    base = parsed[0] if parsed else text
    if parsed is None or base not in state_axes:
        raise SpecError(
            f"transition {name!r} reactant state {text!r} has unknown state base "
            f"{base!r}{did_you_mean(base, state_axes)}",
            path=where,
            token=base,
        )
    tokens = parsed[1]
    if tuple(axis for axis, _ in tokens) != state_axes[base]:
        raise SpecError(
            f"transition {name!r} reactant state {text!r} must select axes "
            f"{state_axes[base]!r} in declaration order",
            path=where,
            token=text,
        )
    pinned = tuple((a, c) for a, c in tokens if c is not None)
    for axis, coord in pinned:
        if coord not in coords.get(axis, ()):
            raise SpecError(
                f"transition {name!r} reactant state {text!r} pins unknown "
                f"coordinate {axis}={coord}{did_you_mean(coord, coords.get(axis, ()))}",
                path=where,
                token=coord,
            )
    return Reactant(base, tuple(a for a, c in tokens if c is None), pinned, order)


def _explicit(
    entries: list[tuple[str, int, str]],
    name: str,
    source: Reactant | None,
    state_axes: Mapping[str, tuple[str, ...]],
    coords: Mapping[str, Collection[str]],
) -> tuple[Reactant, ...]:
    channels = source.axes if source is not None else ()
    out: list[Reactant] = []
    seen: set[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]] = set()
    for text, order, where in entries:
        r = _reactant(text, order, where, name, state_axes, coords)
        extra = tuple(a for a in r.axes if a not in channels)
        if extra:
            raise SpecError(
                f"transition {name!r} reactant state {text!r} has wildcard axes "
                f"outside reaction channels: {extra!r}",
                path=where,
                token=text,
            )
        if _key(r) in seen:
            raise SpecError(
                f"transition {name!r} repeats reactant state {text!r}; express "
                "multiplicity with one order",
                path=where,
                token=text,
            )
        seen.add(_key(r))
        out.append(r)
    if source is not None and _key(source) not in seen:
        raise SpecError(
            f"transition {name!r} explicit reactants must include its consumed "
            "from-state selector",
            path=entries[0][2].rsplit("[", 1)[0] if entries else "reactants",
        )
    return tuple(out)


def _source(
    text: object,
    state_axes: Mapping[str, tuple[str, ...]],
) -> Reactant | None:
    if not isinstance(text, str):
        return None
    parsed = _selector(text)
    if parsed is None or parsed[0] not in state_axes:
        return None
    base, tokens = parsed
    if not tokens:  # a bare templated state stands for all its cells
        tokens = [(a, None) for a in state_axes[base]]
    return Reactant(
        base,
        tuple(a for a, c in tokens if c is None),
        tuple((a, c) for a, c in tokens if c is not None),
        1,
    )


def read_reactants(
    raw: object,
    path: str,
    name: str,
    source: object,
    state_axes: Mapping[str, tuple[str, ...]],
    coords: Mapping[str, Collection[str]],
) -> tuple[Reactant, ...] | str:
    """A transition's `reactants:` (`AUTO`, or the validated list).

    `source` is the transition's `from` text (`None` for a source term).
    """
    if raw == AUTO:
        return AUTO
    if not isinstance(raw, list):
        raise SpecError(
            f"{path} must be a list or {AUTO!r}", path=path, token=repr(raw)
        )
    entries = _entries(raw, path)
    return _explicit(entries, name, _source(source, state_axes), state_axes, coords)


def read_catalysts(
    tr: Mapping[str, object],
    path: str,
    name: str,
    sources: Sequence[str],
    state_axes: Mapping[str, tuple[str, ...]],
    coords: Mapping[str, Collection[str]],
) -> dict[str, tuple[Reactant, ...] | str]:
    """A `coord_shift` entry's `catalysts:`: the reactants of each transition it
    generates (`<name>_<state>`: the shifted state, order 1, and the catalysts).

    `sources`: the `from` selector of each generated transition.
    """
    if "reactants" in tr:
        raise SpecError(
            "coord_shift does not accept 'reactants'; declare reactants beyond the "
            "shifted state as 'catalysts'",
            path=f"{path}.reactants",
        )
    raw = tr.get("catalysts")
    if raw is None:
        return {}
    if raw == AUTO:
        return {f"{name}_{_base(s)}": AUTO for s in sources}
    if not isinstance(raw, list):
        raise SpecError(
            f"coord_shift.catalysts must be a list or {AUTO!r}",
            path=f"{path}.catalysts",
            token=repr(raw),
        )
    entries = _entries(raw, f"{path}.catalysts")
    out: dict[str, tuple[Reactant, ...] | str] = {}
    for text in sources:
        source = _source(text, state_axes)
        if source is None:
            continue
        generated = f"{name}_{source.state}"
        own = [(text, 1, f"{path}.apply_to")]
        out[generated] = _explicit(own + entries, generated, source, state_axes, coords)
    return out
