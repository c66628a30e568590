"""Known, documented intentional differences from op-system 0.1.2 (test-time only).

`KNOWN` maps a predicate on `(case, record, divergence)` to the reason and the
documentation anchor that documents it. Only differences written down in
`docs/compatibility.md` belong here; everything else the differential tests
find is a bug (or an undocumented difference to decide on).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: 0.1.2 lists these in `param_names`; op_system does not (compare.py drops them).
NOT_PARAMS = frozenset({"np", "t", "sum_state", "sum_prefix"})

Predicate = Callable[[dict[str, Any], dict[str, Any], dict[str, str]], bool]


@dataclass(frozen=True)
class KnownDifference:
    """One documented difference."""

    predicate: Predicate
    reason: str
    anchor: str


def _mutant(*names: str) -> Predicate:
    def pred(case: dict[str, Any], record: dict[str, Any], div: dict[str, str]) -> bool:
        tags = set(case.get("constructs", ()))
        return div["kind"] == "error" and any(f"mutant:{n}" in tags for n in names)

    return pred


def _ref_rejects_we_accept(*names: str) -> Predicate:
    inner = _mutant(*names)

    def pred(case: dict[str, Any], record: dict[str, Any], div: dict[str, str]) -> bool:
        return record["status"] == "error" and inner(case, record, div)

    return pred


def _ref_accepts_we_reject(*names: str) -> Predicate:
    inner = _mutant(*names)

    def pred(case: dict[str, Any], record: dict[str, Any], div: dict[str, str]) -> bool:
        return record["status"] == "ok" and inner(case, record, div)

    return pred


def _coord_shift_indexed_rate(
    case: dict[str, Any], record: dict[str, Any], div: dict[str, str]
) -> bool:
    return div["kind"] in (
        "dydt",
        "rendered",
    ) and "coord_shift_indexed_rate" in case.get("constructs", ())


def _sum_prefix_no_match(
    case: dict[str, Any], record: dict[str, Any], div: dict[str, str]
) -> bool:
    return (
        div["kind"] == "error"
        and record["status"] == "ok"
        and "sum_prefix(" in div["detail"]
        and "matches no state" in div["detail"]
    )


def _pairwise_state_sum_rounding(
    case: dict[str, Any], record: dict[str, Any], div: dict[str, str]
) -> bool:
    """Rounding of a state sum, amplified by `%` (`N ** 1.5 % 3` keeps few digits)."""
    tags = set(case.get("constructs", ()))
    if div["kind"] not in ("dydt", "rendered") or "modulo" not in tags:
        return False
    if not tags & {"sum_state", "sum_prefix"}:
        return False
    m = re.search(r"\(rel ([0-9.e+-]+)\)", div["detail"])
    return m is not None and float(m.group(1)) < 1e-9


def _long_sum_rounding(
    case: dict[str, Any], record: dict[str, Any], div: dict[str, str]
) -> bool:
    """Rounding of a re-rolled long sum (a reduction or matrix product, not left to
    right), amplified by cancellation (`beta*S*(sum)/N - gamma*I` near zero)."""
    tags = set(case.get("constructs", ()))
    if div["kind"] not in ("dydt", "rendered") or "long_sum" not in tags:
        return False
    m = re.search(r"\(rel ([0-9.e+-]+)\)", div["detail"])
    return m is not None and float(m.group(1)) < 1e-9


KNOWN: list[KnownDifference] = [
    KnownDifference(
        _ref_rejects_we_accept(
            "ext:not",
            "ext:literal_index",
            "ext:positional_index",
            "ext:sum_over_in_rate",
            "ext:kernel_twice_indexed",
            "ext:nested_sum_over",
        ),
        "op_system accepts `not`, keyword/literal/positional indices anywhere, sum_over in rates and K[x, x=i]; 0.1.2 rejects them",
        "docs/compatibility.md#more-of-the-language-works",
    ),
    KnownDifference(
        _ref_accepts_we_reject("ext:reserved_state_name", "ext:alias_shadows_state"),
        "op_system rejects states/aliases named like helpers or namespaces, and aliases named like a state",
        "docs/compatibility.md#stricter-validation-earlier",
    ),
    KnownDifference(
        _sum_prefix_no_match,
        "a sum_prefix that matches no state is an error; 0.1.2 sums nothing (0)",
        "docs/compatibility.md#stricter-validation-earlier",
    ),
    KnownDifference(
        _pairwise_state_sum_rounding,
        "sum_state()/sum_prefix() add with NumPy's pairwise summation, 0.1.2 left to right; `%` can amplify the last-bit difference past 1e-12",
        "docs/compatibility.md#rounding-of-state-sums",
    ),
    KnownDifference(
        _long_sum_rounding,
        "a long sum of one shape is one reduction or matrix product, 0.1.2 adds left to right; cancellation can amplify the last-bit difference past 1e-12",
        "docs/compatibility.md#rounding-of-state-sums",
    ),
    KnownDifference(
        _coord_shift_indexed_rate,
        "a coord_shift rate indexed by the states' other axes (nu[age]): 0.1.2 expands it into wrong equations",
        "docs/compatibility.md#more-of-the-language-works",
    ),
]


def explain(
    case: dict[str, Any], record: dict[str, Any], div: dict[str, str]
) -> KnownDifference | None:
    """The documented difference that explains `div`, if any."""
    for known in KNOWN:
        if known.predicate(case, record, div):
            return known
    return None
