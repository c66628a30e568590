"""The keys a transition or chain entry may have: any other key is an error.

op-system 0.1.2 and 0.9.0 both ignore an unknown key in a transition or a
chain, so a misspelt `rat:` reads as a transition without a rate, and
`stoichiometry: {...}` is silently dropped. Here an unknown key is a
`SpecError` naming the entry's path and the key, with the key meant
(`rat` -> `rate`, `source` -> `from`) or, for keys of other tools' languages,
what to write instead. Neither upstream suite, nor any spec 0.9.0 recorded,
has such a key (see docs/compatibility.md). `description` and `notes` are
kept as free text on any entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._support.errors import SpecError, did_you_mean

__all__ = ["CHAIN_KEYS", "TRANSITION_KEYS", "check_chain_keys", "check_keys"]

#: free text any entry may carry
_DESCRIPTIVE = frozenset({"description", "notes"})

#: a transition's keys: a move (`from`, `to`, `rate`), a reaction, 0.9.0's
#: axis-wide or 0.1.2's pairwise `coord_shift` with `apply_to`, 0.9.0's
#: declared `reactants`/`catalysts`, and its `name`
TRANSITION_KEYS = frozenset(
    {
        "name",
        "from",
        "to",
        "rate",
        "reaction",
        "coord_shift",
        "apply_to",
        "reactants",
        "catalysts",
    }
)
#: a chain's keys (`to` is 0.1.2's short form of `exit: {to: ...}`)
CHAIN_KEYS = frozenset(
    {"name", "length", "forward", "entry", "exit", "to", "catalysts"}
)
_ENTRY_KEYS = frozenset({"from", "rate", "catalysts"})
_EXIT_KEYS = frozenset({"to", "rate"})

_REACTION = (
    "a transition moves one unit from `from` to `to` per event; for any other "
    "stoichiometry write a reaction, e.g. {reaction: '2 X -> X + Y', rate: k} "
    "(a birth X -> 2X: {reaction: 'X -> 2 X', rate: b}, or a source "
    "{from: null, to: X, rate: 'b * X'})"
)
#: keys of other modelling languages, and what to write here instead
_INSTEAD: dict[str, str] = {
    "stoichiometry": _REACTION,
    "stoich": _REACTION,
    "products": _REACTION,
    "source": "write `from:` (the state the flow leaves)",
    "src": "write `from:` (the state the flow leaves)",
    "origin": "write `from:` (the state the flow leaves)",
    "target": "write `to:` (the state the flow enters)",
    "dest": "write `to:` (the state the flow enters)",
    "destination": "write `to:` (the state the flow enters)",
    "dst": "write `to:` (the state the flow enters)",
    "propensity": "write `rate:` (the per-capita rate of `from`, or a reaction's rate)",
    "rate_expr": "write `rate:`",
    "k": "write `rate:`",
}


def check_keys(
    entry: Mapping[str, Any], allowed: frozenset[str], path: str, what: str
) -> None:
    """Refuse a key of `entry` that is not `allowed` (nor descriptive)."""
    for key in entry:
        if key in allowed or key in _DESCRIPTIVE:
            continue
        name = str(key)
        hint = did_you_mean(name, allowed)
        instead = _INSTEAD.get(name.lower()) if not hint else None
        raise SpecError(
            f"{path} has unknown key {name!r}{hint}"
            + (f": {instead}" if instead else "")
            + f" ({what} keys: {', '.join(sorted(allowed))})",
            path=f"{path}.{name}",
            token=name,
        )


def check_chain_keys(chain: Mapping[str, Any], path: str) -> None:
    """A chain's keys, and those of its `entry` and `exit` mappings."""
    check_keys(chain, CHAIN_KEYS, path, "a chain's")
    for sub, allowed in (("entry", _ENTRY_KEYS), ("exit", _EXIT_KEYS)):
        value = chain.get(sub)
        if isinstance(value, Mapping):
            check_keys(value, allowed, f"{path}.{sub}", f"a chain {sub}'s")
