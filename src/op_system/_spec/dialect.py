"""Which spec language a spec is written in: op-system 0.1.2's or 0.9.0's.

The two languages share most of their constructs and differ in some spellings:
0.9.0 writes a reference's axis binding `I[age:j]` (0.1.2: `I[age=j]`), puts a
reduction's body first, `sum_over(I[age:j], age=j)` (0.1.2:
`sum_over(age=j, I[age=j])`), and has `apply_along(body, axis=var, ...,
kernel=...)`. A spec says its language with the top-level key
`dialect: "0.9"` (or `"0.1"`); otherwise a spec whose expressions use one of
0.9.0's spellings is read as 0.9.0's (so is a spec with an ordinal axis or an axis `measure`, one of
0.9.0's declaration blocks `parameters`, `state_metadata`, `gauges`, `factorize_axes`, a time axis of one point, an
axis-wide `coord_shift`, observables written as mappings, or a source that
leaves `from` out), and any other as 0.1.2's.

!!! example
    ```python
    >>> spec_dialect({"state": ["S"], "equations": {"S": "-k * S"}})
    '0.1'
    >>> spec_dialect({"axes": [{"name": "a", "coords": ["x", "y"]}], "state": ["I[a]"],
    ...               "equations": {"I[a]": "-sum_over(I[a:j], a=j)"}})
    '0.9'

    ```
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from .._support.errors import SpecError, did_you_mean

__all__ = [
    "DECLARATION_KEYS",
    "Dialect",
    "check_fields",
    "is_axis_shift",
    "spec_dialect",
    "time_axis_name",
]

Dialect = Literal["0.1", "0.9"]

#: top-level blocks only 0.9.0's language has: declarations about the model
DECLARATION_KEYS = ("parameters", "state_metadata", "gauges", "factorize_axes")

#: the values the `dialect` key takes, and what each means
_NAMES: dict[str, Dialect] = {
    "0.1": "0.1",
    "0.1.2": "0.1",
    "0.9": "0.9",
    "0.9.0": "0.9",
}

# Spellings only 0.9.0 has: `apply_along(`, a reduction whose first argument is
# not a binding `axis=var` (its body), and `name[...axis:var...]`.
_MARKERS = re.compile(
    r"\bapply_along\s*\("
    r"|\b(?:sum_over|integrate_over)\s*\(\s*(?![A-Za-z_]\w*\s*=(?!=))"
    r"|\b[A-Za-z_]\w*\s*\[[^\]\[]*\b[A-Za-z_]\w*\s*:\s*[A-Za-z_0-9.+-]"
)


def spec_dialect(spec: Mapping[str, Any]) -> Dialect:
    """The language `spec` is written in (see the module doc)."""
    raw = spec.get("dialect")
    if raw is not None:
        key = str(raw).strip() if isinstance(raw, (str, int, float)) else None
        got = _NAMES.get(key) if key is not None else None
        if got is None:
            raise SpecError(
                f"dialect must be one of {sorted(_NAMES)}, got {raw!r}"
                f"{did_you_mean(str(raw), _NAMES)}",
                path="dialect",
                token=repr(raw),
            )
        return got
    for text in _expressions(spec):
        # each marker holds one of these substrings: a plain search first, as a
        # flat spec's thousands of long expressions hold none
        if ("_along" in text or "_over" in text or ":" in text) and _MARKERS.search(
            text
        ):
            return "0.9"
    if any(key in spec for key in DECLARATION_KEYS):
        return "0.9"  # only 0.9.0 has these declaration blocks
    from .operators09 import has_09_operator

    if has_09_operator(spec.get("operators")):
        return "0.9"  # an operator field only 0.9.0 has
    axes = spec.get("axes")
    if isinstance(axes, list) and any(
        isinstance(ax, Mapping) and (ax.get("type") == "ordinal" or "measure" in ax)
        for ax in axes
    ):
        return "0.9"  # only 0.9.0 has ordinal axes and axis measures
    now = time_axis_name(spec)
    if (
        now is not None
        and isinstance(axes, list)
        and any(
            isinstance(ax, Mapping)
            and ax.get("name") == now
            and ax.get("type") == "continuous"
            and isinstance(ax.get("coords"), list)
            and len(ax["coords"]) == 1
            for ax in axes
        )
    ):
        return "0.9"  # a time axis of one point (a constant table)
    transitions = spec.get("transitions")
    if isinstance(transitions, list) and any(
        isinstance(tr, Mapping) and "from" not in tr and "to" in tr and "rate" in tr
        for tr in transitions
    ):
        return "0.9"  # a source without `from` (0.1.2 writes `from: null`)
    if isinstance(transitions, list) and any(
        isinstance(tr, Mapping) and ("reactants" in tr or "catalysts" in tr)
        for tr in transitions
    ):
        return "0.9"  # a transition's declared reactants
    if isinstance(transitions, list) and any(
        isinstance(tr, Mapping) and is_axis_shift(tr.get("coord_shift"))
        for tr in transitions
    ):
        return "0.9"  # an axis-wide coord_shift
    observables = spec.get("observables")
    if isinstance(observables, Mapping) and any(
        isinstance(v, Mapping) for v in observables.values()
    ):
        return "0.9"  # observables as mappings `{expr, axes, reduction, ...}`
    return "0.1"


def time_axis_name(spec: Mapping[str, Any]) -> str | None:
    """The name the spec gives its time axis (`time_axis`, default `time`; None
    with `time_axis: null`): 0.9.0 lets it be a single point."""
    name = spec.get("time_axis", "time")
    return name if isinstance(name, str) else None


def is_axis_shift(shift: object) -> bool:
    """Whether a `coord_shift` value is 0.9.0's axis-wide form `{axis, step, rate,
    boundary}` (0.1.2's pairwise form is `{axis_name: "from -> to"}`, and an axis
    may be named `axis`)."""
    if not isinstance(shift, Mapping) or "axis" not in shift:
        return False
    only = len(shift) == 1 and isinstance(shift["axis"], str) and "->" in shift["axis"]
    return not only


def _expressions(spec: Mapping[str, Any]) -> Iterator[str]:
    """The expression texts of `spec` (equations, aliases, observables, and the
    rates and endpoints of transitions)."""
    for key in ("equations", "aliases", "observables"):
        block = spec.get(key)
        if isinstance(block, Mapping):
            for value in block.values():
                if isinstance(value, str):
                    yield value
                elif isinstance(value, Mapping) and isinstance(value.get("expr"), str):
                    yield value["expr"]
    transitions = spec.get("transitions")
    if isinstance(transitions, list):
        for tr in transitions:
            if isinstance(tr, Mapping):
                for key in ("rate", "from", "to"):  # `X[imm:j]`: a routing alias
                    if isinstance(tr.get(key), str):
                        yield tr[key]


def check_fields(entry: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    """Refuse fields of a 0.9.0 mapping that are not `allowed` (with a did-you-mean)."""
    unknown = sorted(str(k) for k in set(entry) - allowed)
    if unknown:
        raise SpecError(
            f"{path} has unknown field(s) {unknown}"
            f"{did_you_mean(unknown[0], allowed)}; expected {sorted(allowed)}",
            path=path,
            token=unknown[0],
        )
