"""The spec's `events:` list, checked as data (its shape and keys).

    events:
      - {time: 30, move: {from: "S[age=adult]", to: "E[age=adult]", amount: n_seed}}
      - {time: 25, set: {X: 50}}
      - {time: t_pulse, add: {"I[age=child]": 5}}

Each event has a `time` and exactly one action: `move` (`from`, `to`,
`amount`), `set` or `add` (a mapping of state references to amounts); an
optional `name` describes it. A time or amount is a number or an expression
text; an amount may also be a list, one entry per selected cell. What the
references select and what the expressions read is the model's business
(`_core/events.py`); this module only checks the data, so that a misspelt key
is an error naming its spec path (`events[2].move.amuont`), never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

from .._support.errors import SpecError, did_you_mean

__all__ = ["ACTIONS", "RawChange", "RawEvent", "raw_events"]

#: What an event does: one of these keys per event.
ACTIONS = ("move", "set", "add")
_EVENT_KEYS = ("time", "name", *ACTIONS)
_MOVE_KEYS = ("from", "to", "amount")

#: An amount as written: a number or expression text, or one per selected cell.
Amount = str | float | int | list[str | float | int]


@dataclass(frozen=True)
class RawChange:
    """One change of an event: `target` (a state reference) gets `amount`;
    for a move, `source` is where the amount comes from."""

    target: str
    amount: Amount
    path: str
    source: str | None = None


@dataclass(frozen=True)
class RawEvent:
    """One entry of `events:` with its keys checked."""

    action: str
    time: str | float | int
    changes: tuple[RawChange, ...]
    path: str
    name: str | None


def _keys(value: Mapping[Any, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in value:
        if key not in allowed:
            raise SpecError(
                f"unknown key {key!r} at {path}.{key}{did_you_mean(str(key), allowed)}"
                f" (allowed keys: {list(allowed)})",
                path=f"{path}.{key}",
                token=str(key),
            )


def _scalar(value: object, path: str, what: str) -> str | float | int:
    if isinstance(value, bool) or not isinstance(value, (str, Real)):
        raise SpecError(
            f"{what} must be a number or an expression text, got {value!r}",
            path=path,
            token=repr(value),
        )
    if isinstance(value, str):
        if not value.strip():
            raise SpecError(f"{what} must not be empty", path=path)
        return value.strip()
    return value if isinstance(value, int) else float(value)


def _amount(value: object, path: str) -> Amount:
    if isinstance(value, (list, tuple)):
        if not value:
            raise SpecError("an amount list must not be empty", path=path)
        return [_scalar(v, f"{path}[{i}]", "an amount") for i, v in enumerate(value)]
    return _scalar(value, path, "an amount")


def _reference(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(
            f'{path} must name a state, e.g. "S[age=adult]", got {value!r}',
            path=path,
            token=repr(value),
        )
    return value.strip()


def _event(raw: object, path: str) -> RawEvent:
    if not isinstance(raw, Mapping):
        raise SpecError(
            f"{path} must be a mapping with a time and one of {list(ACTIONS)}, "
            f"got {raw!r}",
            path=path,
        )
    _keys(raw, _EVENT_KEYS, path)
    if "time" not in raw:
        raise SpecError(f"{path} has no 'time'", path=path)
    time = _scalar(raw["time"], f"{path}.time", "an event's time")
    actions = [a for a in ACTIONS if a in raw]
    if len(actions) != 1:
        raise SpecError(
            f"{path} must have exactly one of {list(ACTIONS)}, got {actions or 'none'}",
            path=path,
        )
    action = actions[0]
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise SpecError(f"{path}.name must be a text", path=f"{path}.name")
    body = raw[action]
    where = f"{path}.{action}"
    if not isinstance(body, Mapping) or not body:
        raise SpecError(
            f"{where} must be a non-empty mapping"
            + (
                " with from, to and amount"
                if action == "move"
                else ' of state references to amounts, e.g. {"I[age=child]": 5}'
            ),
            path=where,
        )
    if action == "move":
        _keys(body, _MOVE_KEYS, where)
        missing = [k for k in _MOVE_KEYS if k not in body]
        if missing:
            raise SpecError(f"{where} has no {missing[0]!r}", path=where)
        change = RawChange(
            _reference(body["to"], f"{where}.to"),
            _amount(body["amount"], f"{where}.amount"),
            where,
            _reference(body["from"], f"{where}.from"),
        )
        return RawEvent(action, time, (change,), path, name)
    changes = tuple(
        RawChange(
            _reference(key, f"{where}[{key!r}]"),
            _amount(value, f"{where}[{key!r}]"),
            f"{where}[{key!r}]",
        )
        for key, value in body.items()
    )
    return RawEvent(action, time, changes, path, name)


def raw_events(value: object) -> tuple[RawEvent, ...]:
    """The spec's `events:` entries (none without the key), their data checked."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SpecError(
            "events must be a list of events, e.g. [{time: 30, add: {I: 5}}]",
            path="events",
        )
    return tuple(_event(raw, f"events[{i}]") for i, raw in enumerate(value))
