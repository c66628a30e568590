"""Typos that would otherwise become parameters, caught when a model is built.

Every name an expression reads that is not a state, alias, coordinate, kernel
or `t` is a parameter (as in op-system 0.1.2 and 0.9.0). So a misspelt state
(`Ii[age=j]` for `I[age=j]`), an alias never defined (`lam[age]`) or an alias
block dedented to the top level of the spec compiles into a model with one
parameter too many, and the mistake shows only when the call lacks it. Two
checks here say so at build time, naming the spec path and the token:

* a parameter whose name is a near miss of a state, chain stage, incidence
  counter, alias or helper function (`near_names` in `_support/errors.py`;
  a flow's name: `_core/observables.py`) gives a `SpecWarning` with the
  suggestion, unless the spec declares it in `parameters:`;
* a parameter named like an unknown top-level key of the spec (an alias block
  written one level too far left, or a parameter value written into the spec)
  is a `SpecError`.

Two more mistakes that load are warned about: an unknown top-level key, and a
transition from a state into itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from .._support.errors import NearIndex, SpecError, did_you_mean, warn_spec
from .model import Model

__all__ = [
    "check_parameter_names",
    "unknown_top_level_keys",
    "warn_self_move",
    "warn_unknown_keys",
]

#: helper functions an expression calls (a bare name close to one is a typo)
_FUNCTIONS = ("sum_state", "sum_prefix", "sum_over", "integrate_over")


def unknown_top_level_keys(
    spec: Mapping[str, Any], known: Collection[str]
) -> list[str]:
    """The top-level keys of `spec` that are not in `known` (in order)."""
    return [k for k in spec if isinstance(k, str) and k not in known]


def _kinds(model: Model) -> dict[str, str]:
    """Every name a parameter could be a misspelling of, with what it names."""
    out: dict[str, str] = dict.fromkeys(_FUNCTIONS, "function")
    out.update(dict.fromkeys(model.aliases, "alias"))
    counted = {id(c.block) for c in model.counters}
    for blk in model.blocks:
        if blk.custom is not None:
            out.update(dict.fromkeys(blk.custom, "chain stage"))
        else:
            out[blk.base] = "incidence counter" if id(blk) in counted else "state"
    return out


def _parameters(model: Model) -> Iterator[tuple[str, str, bool]]:
    """Each parameter base once: (name, first spec path, indexed)."""
    seen: set[str] = set()
    for m in (model, model.observed):
        for p in m.params.values() if m is not None else ():
            if p.base not in seen:
                seen.add(p.base)
                yield p.base, p.first_path, bool(p.axes)


def check_parameter_names(
    model: Model,
    unknown_keys: Collection[str],
    declared: Collection[str],
) -> None:
    """The two checks of the module doc.

    Arguments:
        model: The built model (its observables' model too).
        unknown_keys: The spec's unknown top-level keys.
        declared: The parameters the spec declares (`parameters:`): never warned about.
    """
    stray = {str(k).split("[", 1)[0].strip(): str(k) for k in unknown_keys}
    kinds = _kinds(model)
    index = NearIndex(kinds)
    for name, path, indexed in _parameters(model):
        key = stray.get(name)
        if key is not None:
            raise SpecError(
                f"{path} reads {name!r} as a parameter, and the spec has a top-level "
                f"key {key!r}, which is not a spec block: an alias belongs indented "
                "under `aliases:` (a block written one level too far left?), and a "
                "parameter's value is passed at the call, not in the spec",
                path=path,
                token=name,
            )
        if name in declared:
            continue
        close = index.near(name)
        if not close:
            continue
        what = kinds[close[0]]
        ref = f"{name}[...]" if indexed else name
        warn_spec(
            f"{path}: {ref!r} is not a state or alias, so it is read as a new "
            f"parameter {name!r} (did you mean the {what} {close[0]!r}?); if it is "
            "meant as a parameter, declare it in `parameters:` or rename it",
            path=path,
            token=name,
        )


def warn_unknown_keys(
    spec: Mapping[str, Any], known: Collection[str], descriptive: Collection[str]
) -> None:
    """A `SpecWarning` for each unknown top-level key (a typo like `equatons:`).

    A warning, not an error: 0.1.2 ignores such keys, so 0.1.2 specs keep
    loading (and 0.9.0's own tests keep `params:` lists next to the model).
    `descriptive` keys (`name`, `description`, ...) are never warned about.
    """
    for key in spec:
        if not isinstance(key, str) or key in known or key in descriptive:
            continue
        warn_spec(
            f"unknown top-level spec key {key!r}{did_you_mean(key, known)} is "
            f"ignored (known keys: {sorted(known)})",
            path=key,
            token=key,
        )


def warn_self_move(fields: Mapping[str, str | None], path: str) -> None:
    """Warn about a transition from a state into itself: it changes nothing.

    The natural spelling of a birth `X -> 2X` is not one: say how to write
    that. A warning, not an error: op-system 0.1.2 and 0.9.0 accept such a
    transition (as a no-op) and their own test suites use it as a placeholder.
    """
    src, dst = fields["from"], fields["to"]
    if src is None or dst is None or src.replace(" ", "") != dst.replace(" ", ""):
        return
    warn_spec(
        f"{path} moves {src!r} into itself (from == to): the flow changes nothing. "
        f"For a birth {src} -> 2 {src}, write a source {{from: null, to: {src}, "
        f"rate: 'b * {src}'}} or a reaction {{reaction: '{src} -> 2 {src}', rate: b}}",
        path=f"{path}.to",
        token=dst,
    )
