"""Which spec language a spec is written in: op-system 0.1.2's or 0.9.0's.

The two languages share most of their constructs and differ in some spellings:
0.9.0 writes a reference's axis binding `I[age:j]` (0.1.2: `I[age=j]`), puts a
reduction's body first, `sum_over(I[age:j], age=j)` (0.1.2:
`sum_over(age=j, I[age=j])`), and has `apply_along(body, axis=var, ...,
kernel=...)`. A spec says its language with the top-level key
`dialect: "0.9"` (or `"0.1"`); otherwise a spec whose expressions use one of
0.9.0's spellings is read as 0.9.0's (so is a spec with an ordinal axis or an
axis `measure`, one of 0.9.0's declaration blocks `parameters`,
`state_metadata`, `gauges`, `factorize_axes`, a transition's `reactants` or
`catalysts`, a time axis of one point, an axis-wide `coord_shift`, observables
written as mappings, a source that leaves `from` out, or an `initial_state`
key that pins a coordinate), and any other as 0.1.2's.

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

from .._support.errors import ExpressionError, SpecError, did_you_mean

__all__ = [
    "DECLARATION_KEYS",
    "Dialect",
    "check_fields",
    "is_axis_shift",
    "mixed_spelling",
    "rule_warning",
    "spec_dialect",
    "time_axis_name",
    "why_0_9",
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
    r"|\b[A-Za-z_]\w*\s*\[[^\]\[]*\b[A-Za-z_]\w*\s*:\s*[A-Za-z_0-9.+'\"-]"
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
    return "0.9" if why_0_9(spec) is not None else "0.1"


def why_0_9(spec: Mapping[str, Any]) -> str | None:
    """Why a spec without a `dialect` key is read as op-system 0.9.0's: the
    first of 0.9.0's own constructs it uses, and where (None: it is 0.1.2's)."""
    for where, text in _expressions(spec):
        # each marker holds one of these substrings: a plain search first, as a
        # flat spec's thousands of long expressions hold none
        if ("_along" in text or "_over" in text or ":" in text) and (
            found := _MARKERS.search(text)
        ):
            return f"{where} writes {found.group(0).strip()!r}"
    for key in DECLARATION_KEYS:
        if key in spec:
            return f"it declares {key!r}"  # only 0.9.0 has these blocks
    from .operators09 import has_09_operator

    if has_09_operator(spec.get("operators")):
        return "an operator has a field only 0.9.0 has"
    axes = spec.get("axes")
    axes = axes if isinstance(axes, list) else []
    for i, ax in enumerate(axes):
        if isinstance(ax, Mapping) and ax.get("type") == "ordinal":
            return f"axes[{i}] is ordinal"  # only 0.9.0 has ordinal axes
        if isinstance(ax, Mapping) and "measure" in ax:
            return f"axes[{i}] has a measure"
    now = time_axis_name(spec)
    for i, ax in enumerate(axes):
        if (
            now is not None
            and isinstance(ax, Mapping)
            and ax.get("name") == now
            and ax.get("type") == "continuous"
            and isinstance(ax.get("coords"), list)
            and len(ax["coords"]) == 1
        ):
            return f"axes[{i}] is a time axis of one point"  # a constant table
    transitions = spec.get("transitions")
    for i, tr in enumerate(transitions if isinstance(transitions, list) else []):
        if not isinstance(tr, Mapping):
            continue
        if "from" not in tr and "to" in tr and "rate" in tr:
            return f"transitions[{i}] leaves 'from' out"  # 0.1.2: `from: null`
        if "reactants" in tr or "catalysts" in tr:
            return f"transitions[{i}] declares its reactants"
        if is_axis_shift(tr.get("coord_shift")):
            return f"transitions[{i}] is an axis-wide coord_shift"
    observables = spec.get("observables")
    if isinstance(observables, Mapping):
        for name, v in observables.items():
            if isinstance(v, Mapping):
                return f"observables[{name!r}] is a mapping"
    initial = spec.get("initial_state")
    if isinstance(initial, Mapping) and not _keyword_first(spec):
        # (op_system reads a pinned key in 0.1.2's language too: with 0.1.2's
        # spelling of a reduction, which 0.9.0's cannot parse, the spec is 0.1.2's)
        for k in initial:
            if isinstance(k, str) and _PINNED_KEY.search(k):
                return f"initial_state key {k!r} pins a coordinate"
    return None


def _keyword_first(spec: Mapping[str, Any]) -> bool:
    """Whether an expression of `spec` writes 0.1.2's `sum_over(axis=var, ...)`."""
    return any(
        "_over" in text and _KEYWORD_FIRST.search(text)
        for _, text in _expressions(spec)
    )


#: `S[age, vax=u]`: an item pinned to a coordinate (in a key, not an expression)
_PINNED_KEY = re.compile(r"\[[^\]]*[=:]")


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


def _expressions(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The expression texts of `spec` (equations, aliases, observables, and the
    rates and endpoints of transitions), each with its path."""
    for key in ("equations", "aliases", "observables"):
        block = spec.get(key)
        if isinstance(block, Mapping):
            for name, value in block.items():
                if isinstance(value, str):
                    yield f"{key}[{name!r}]", value
                elif isinstance(value, Mapping) and isinstance(value.get("expr"), str):
                    yield f"{key}[{name!r}].expr", value["expr"]
    transitions = spec.get("transitions")
    if isinstance(transitions, list):
        for i, tr in enumerate(transitions):
            if isinstance(tr, Mapping):
                for key in ("rate", "from", "to"):  # `X[imm:j]`: a routing alias
                    if isinstance(tr.get(key), str):
                        yield f"transitions[{i}].{key}", tr[key]


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


#: 0.1.2's keyword-first reducer, `sum_over(age=j, ...)`: a syntax error in 0.9.0's
_KEYWORD_FIRST = re.compile(
    r"\b(sum_over|integrate_over)\s*\(\s*([A-Za-z_]\w*)\s*=(?!=)"
)


def mixed_spelling(text: object, path: str, why: str, error: Exception) -> None:
    """Raise a clear error for 0.1.2's spelling in a spec read as 0.9.0's
    (nothing if `text` has none; the caller raises `error` then)."""
    found = _KEYWORD_FIRST.search(text) if isinstance(text, str) else None
    if found is None:
        return
    raise ExpressionError(
        f"{found.group(0)}...) is op-system 0.1.2's spelling, but this spec is read in "
        f"0.9.0's language because {why}; write the body first "
        f"({found.group(1)}(body, {found.group(2)}=...)) or, for 0.1.2's language "
        'throughout, add `dialect: "0.1"` to the spec',
        path=path,
        token=found.group(0),
    ) from error


def rule_warning(why: str | None, rule: str, path: str) -> None:
    """Say which of 0.9.0's rules a spec detected as 0.9.0's (not declared so)
    follows where 0.1.2's would give another number."""
    if why is None:
        return
    import warnings

    from .._support.errors import SpecWarning, outside_package

    warnings.warn(
        f"{path}: {rule} (op-system 0.9.0's rule; this spec is read in 0.9.0's "
        f'language because {why}). Add `dialect: "0.9"` to say so, or '
        '`dialect: "0.1"` for 0.1.2\'s rule',
        SpecWarning,
        stacklevel=outside_package(),
    )
