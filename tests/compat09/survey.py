"""Count the 0.9.0 constructs in the harvested specs (the numbers in SURVEY.md).

Run with any Python >= 3.10 (it reads JSON only), from the repository root::

    python tests/compat09/survey.py [--compare report.json]

It reads ``refs.json`` and, for each construct of issue 23's table, counts the
unique harvested specs that contain it: all of them, those 0.9.0 accepts
(``compile_spec`` succeeds), and, given a report written by ``compare.py
--json``, those this project accepts too. It then lists the spec keys in use
(top level, transitions, axes, observables) with their counts.

How each construct is detected (on the spec's data, never by running it):
expression strings are parsed with Python's ``ast`` (0.9.0's expressions are
Python syntax, ``X[axis:var]`` a slice); one that does not parse (0.1.2's
keyword-first ``sum_over(age=j, ...)``, say) is matched by regular expression
instead. The detectors are the functions named ``has_*`` below.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REDUCERS = {"apply_along", "sum_over", "integrate_over"}
SELECTOR = re.compile(
    r"[A-Za-z_]\w*\s*\[[^\[\]]*?\b[A-Za-z_]\w*\s*:\s*[A-Za-z_]\w*[^\[\]]*\]"
)
SELECTOR_PAIR = re.compile(r"\b([A-Za-z_]\w*)\s*:\s*([A-Za-z_]\w*)")
DESCRIPTIVE = {"description", "units", "notes", "title"}

Spec = dict[str, Any]


def strings(value: Any, skip: frozenset[str] = frozenset(DESCRIPTIVE)) -> Iterator[str]:
    """Every string in `value` (keys included), descriptive fields left out."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in skip:
                continue
            if isinstance(key, str):
                yield key
            yield from strings(item, skip)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item, skip)


def calls(text: str) -> list[ast.Call] | None:
    """The reducer calls of an expression, or None when it is not Python syntax."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return None
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in REDUCERS
    ]


def _reducer_calls(spec: Spec) -> Iterator[tuple[str, ast.Call | None, str]]:
    for text in strings(spec):
        if not any(name + "(" in text.replace(" (", "(") for name in REDUCERS):
            continue
        found = calls(text)
        if found is None:
            yield text, None, text
        else:
            for call in found:
                yield text, call, text


def transitions(spec: Spec) -> list[dict[str, Any]]:
    value = spec.get("transitions")
    return [t for t in value if isinstance(t, dict)] if isinstance(value, list) else []


def axes(spec: Spec) -> list[dict[str, Any]]:
    value = spec.get("axes")
    return [a for a in value if isinstance(a, dict)] if isinstance(value, list) else []


def observables(spec: Spec) -> dict[str, Any]:
    value = spec.get("observables")
    return value if isinstance(value, dict) else {}


# --- detectors -------------------------------------------------------------------


def has_selector(spec: Spec) -> bool:
    return any(SELECTOR.search(text) for text in strings(spec))


def has_ordinal(spec: Spec) -> bool:
    return any(a.get("type") == "ordinal" for a in axes(spec))


def has_apply_along(spec: Spec) -> bool:
    return any(
        (call is not None and call.func.id == "apply_along")  # type: ignore[attr-defined]
        or (call is None and "apply_along(" in text)
        for text, call, _ in _reducer_calls(spec)
    )


def has_apply_along_kernel(spec: Spec) -> bool:
    return any(
        (
            call is not None
            and call.func.id == "apply_along"  # type: ignore[attr-defined]
            and any(k.arg == "kernel" for k in call.keywords)
        )
        or (call is None and re.search(r"apply_along\(.*kernel\s*=", text) is not None)
        for text, call, _ in _reducer_calls(spec)
    )


def has_structured_observable(spec: Spec) -> bool:
    return any(isinstance(v, dict) for v in observables(spec).values())


def has_observable_reduction(spec: Spec) -> bool:
    return any(
        isinstance(v, dict) and "reduction" in v for v in observables(spec).values()
    )


def has_observable_integral(spec: Spec) -> bool:
    return any(
        isinstance(v, dict)
        and isinstance(v.get("reduction"), dict)
        and v["reduction"].get("kind") == "integral"
        for v in observables(spec).values()
    )


def has_observable_units(spec: Spec) -> bool:
    return any(isinstance(v, dict) and "units" in v for v in observables(spec).values())


def has_from_omitted(spec: Spec) -> bool:
    return any(
        "to" in t and "from" not in t and "coord_shift" not in t
        for t in transitions(spec)
    )


def has_body_first(
    spec: Spec, names: tuple[str, ...] = ("sum_over", "integrate_over")
) -> bool:
    return any(
        call is not None and call.func.id in names and call.args  # type: ignore[attr-defined]
        for _, call, _ in _reducer_calls(spec)
    )


def has_body_first_sum_over(spec: Spec) -> bool:
    return has_body_first(spec, ("sum_over",))


def has_body_first_integrate_over(spec: Spec) -> bool:
    return has_body_first(spec, ("integrate_over",))


def has_several_bindings(spec: Spec) -> bool:
    return any(
        call is not None and sum(1 for k in call.keywords if k.arg != "kernel") >= 2
        for _, call, _ in _reducer_calls(spec)
    )


def has_filtered_binding(spec: Spec) -> bool:
    """``axis=var in [c1, c2]``: a binding restricted to some coordinates."""
    return any(
        call is not None
        and any(isinstance(k.value, ast.Compare) for k in call.keywords)
        for _, call, _ in _reducer_calls(spec)
    )


def is_axis_wide(shift: Any) -> bool:
    """0.9.0's own rule (``_normalize_chains._is_axis_wide_shift``): an ``axis`` key,
    unless it is the only key and its value holds an arrow (an axis named ``axis``)."""
    if not isinstance(shift, dict) or "axis" not in shift:
        return False
    return not (
        len(shift) == 1 and isinstance(shift["axis"], str) and "->" in shift["axis"]
    )


def has_axis_coord_shift(spec: Spec) -> bool:
    return any(is_axis_wide(t.get("coord_shift")) for t in transitions(spec))


def has_pairwise_coord_shift(spec: Spec) -> bool:
    return any(
        isinstance(t.get("coord_shift"), dict) and not is_axis_wide(t["coord_shift"])
        for t in transitions(spec)
    )


def has_pairwise_shift_reading_axis(spec: Spec) -> bool:
    """A pairwise ``coord_shift: {age: a0 -> a1}`` whose rate reads the shifted axis."""
    for t in transitions(spec):
        shift = t.get("coord_shift")
        if (
            isinstance(shift, dict)
            and not is_axis_wide(shift)
            and isinstance(t.get("rate"), str)
            and any(_mentions_axis(t["rate"], axis) for axis in shift)
        ):
            return True
    return False


def _selector_pairs(text: Any) -> dict[str, str]:
    if not isinstance(text, str) or "[" not in text:
        return {}
    inside = text[text.index("[") + 1 : text.rindex("]")] if "]" in text else ""
    return dict(SELECTOR_PAIR.findall(inside))


def _mentions_axis(text: Any, axis: str) -> bool:
    if not isinstance(text, str) or "[" not in text:
        return False
    inside = text[text.index("[") + 1 :]
    return re.search(rf"\b{re.escape(axis)}\b", inside) is not None


def has_routing(spec: Spec) -> bool:
    """``from: X[imm:i]`` → ``to: X[imm:j]``: one axis bound under two names."""
    for t in transitions(spec):
        src, dst = _selector_pairs(t.get("from")), _selector_pairs(t.get("to"))
        if any(axis in src and src[axis] != var for axis, var in dst.items()):
            return True
    return False


def has_fanout(spec: Spec) -> bool:
    """``to: X[age, imm:j]`` from a source without ``imm``."""
    for t in transitions(spec):
        dst = _selector_pairs(t.get("to"))
        if t.get("from") and any(
            not _mentions_axis(t.get("from"), axis) for axis in dst
        ):
            return True
    return False


def has_key(key: str) -> Callable[[Spec], bool]:
    def detect(spec: Spec) -> bool:
        return key in spec

    detect.__name__ = f"has_{key}"
    return detect


def has_transition_key(key: str) -> Callable[[Spec], bool]:
    def detect(spec: Spec) -> bool:
        return any(key in t for t in transitions(spec)) or any(
            isinstance(c, dict) and key in json.dumps(c)
            for c in spec.get("chain", []) or []
        )

    detect.__name__ = f"has_transition_{key}"
    return detect


def has_measure(spec: Spec) -> bool:
    return any("measure" in a for a in axes(spec))


def has_operators(spec: Spec) -> bool:
    return bool(spec.get("operators"))


def has_convolve_history(spec: Spec) -> bool:
    return any("convolve_history(" in text for text in strings(spec))


def has_observable_named_like_state(spec: Spec) -> bool:
    states = spec.get("state")
    if not isinstance(states, list):
        return False
    bases = {s.split("[")[0].strip() for s in states if isinstance(s, str)}
    return bool(bases & set(observables(spec)))


def has_one_coord_time_axis(spec: Spec) -> bool:
    return any(
        a.get("name") == spec.get("time_axis", "time")
        and isinstance(a.get("coords"), list)
        and len(a["coords"]) == 1
        for a in axes(spec)
    )


def has_pinned_initial_state(spec: Spec) -> bool:
    init = spec.get("initial_state")
    return isinstance(init, dict) and any("=" in k for k in init if isinstance(k, str))


def has_shaped_seed(spec: Spec) -> bool:
    init = spec.get("initial_state")
    return isinstance(init, dict) and any(
        isinstance(v, dict) and "shaped" in v for v in init.values()
    )


def has_templated_chain_name(spec: Spec) -> bool:
    chain = spec.get("chain")
    return isinstance(chain, list) and any(
        isinstance(c, dict) and "[" in str(c.get("name", "")) for c in chain
    )


DETECTORS: list[tuple[str, Callable[[Spec], bool]]] = [
    ("`X[axis:var]` selectors", has_selector),
    ("`type: ordinal` axes", has_ordinal),
    ("`apply_along(...)`", has_apply_along),
    ("`apply_along(..., kernel=...)`", has_apply_along_kernel),
    ("observables as mappings `{expr, ...}`", has_structured_observable),
    ("  with `reduction:`", has_observable_reduction),
    ("  with `reduction: {kind: integral}`", has_observable_integral),
    ("  with `units:`", has_observable_units),
    ("`from` left out (a source)", has_from_omitted),
    ("body-first `sum_over(body, axis=var)`", has_body_first_sum_over),
    ("body-first `integrate_over(body, ...)`", has_body_first_integrate_over),
    ("several bindings in one reducer call", has_several_bindings),
    ("filtered binding `axis=var in [...]`", has_filtered_binding),
    ("axis-wide `coord_shift: {axis, step, rate, boundary}`", has_axis_coord_shift),
    ("pairwise `coord_shift: {age: a0 -> a1}`", has_pairwise_coord_shift),
    ("  whose rate reads the shifted axis", has_pairwise_shift_reading_axis),
    ("routing `from: X[ax:i]` → `to: X[ax:j]`", has_routing),
    ("target-only fan-out `to: X[..., ax:j]`", has_fanout),
    ("`reactants`", has_transition_key("reactants")),
    ("`catalysts`", has_transition_key("catalysts")),
    ("`factorize_axes`", has_key("factorize_axes")),
    ("`state_metadata`", has_key("state_metadata")),
    ("`parameters`", has_key("parameters")),
    ("axis `measure`", has_measure),
    ("`gauges`", has_key("gauges")),
    ("`operators` (non-empty)", has_operators),
    ("`kernels`", has_key("kernels")),
    ("`convolve_history(...)`", has_convolve_history),
    ("an observable named like a state", has_observable_named_like_state),
    ("a one-coordinate time axis", has_one_coord_time_axis),
    ("pinned `initial_state` keys (`X[age=a0]`)", has_pinned_initial_state),
    ("`{shaped: S0, axes}` seeds", has_shaped_seed),
    ("templated chain names `I[age,vax]`", has_templated_chain_name),
]


def inventory(specs: list[Spec]) -> dict[str, Counter[str]]:
    """How many specs use each key, per place."""
    places: dict[str, Counter[str]] = {
        "top level": Counter(),
        "transitions[]": Counter(),
        "axes[]": Counter(),
        "observables{} (mapping form)": Counter(),
        "axis type": Counter(),
    }
    for spec in specs:
        if not isinstance(spec, dict):
            continue
        places["top level"].update(k for k in spec if isinstance(k, str))
        places["transitions[]"].update({k for t in transitions(spec) for k in t})
        places["axes[]"].update({k for a in axes(spec) for k in a})
        places["axis type"].update({str(a.get("type", "(none)")) for a in axes(spec)})
        places["observables{} (mapping form)"].update(
            {k for v in observables(spec).values() if isinstance(v, dict) for k in v}
        )
    return places


def origin(spec_id: str) -> str:
    """Where a harvested spec was first seen, by kind of source."""
    if spec_id.startswith("doctest:"):
        return "docstrings (doctests)"
    if spec_id.startswith("flepimop2-op_system/tests/"):
        return "provider test suite"
    if spec_id.startswith("tests/"):
        return "core test suite"
    if spec_id.startswith("examples/"):
        return "examples"
    if "#yaml-" in spec_id:
        return "README/docs yaml fences"
    return "README/docs python blocks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refs", type=Path, default=HERE / "refs.json")
    parser.add_argument("--compare", type=Path, help="a compare.py --json report")
    args = parser.parse_args()
    refs = json.loads(args.refs.read_text(encoding="utf-8"))
    specs = refs["specs"]
    ours: dict[str, str] = {}
    report: dict[str, Any] = {}
    if args.compare:
        report = json.loads(args.compare.read_text(encoding="utf-8"))
        ours = {r["id"]: r["status"] for r in report["results"]}
    header = "| construct | harvested | accepted by 0.9.0 | evaluated by 0.9.0 |"
    header += " accepted by us (of those evaluated) |" if ours else ""
    print(header)
    print("| --- | ---: | ---: | ---: |" + (" ---: |" if ours else ""))
    for label, detect in DETECTORS:
        hits = [s for s in specs if isinstance(s["spec"], dict) and detect(s["spec"])]
        row = [
            len(hits),
            sum(1 for s in hits if s["accepted"] is True),
            sum(1 for s in hits if "dydt" in s),
        ]
        if ours:
            row.append(
                sum(1 for s in hits if ours.get(s["id"]) not in (None, "rejected"))
            )
        print(f"| {label} | " + " | ".join(str(n) for n in row) + " |")
    print()
    print("| first seen in | harvested | accepted by 0.9.0 | evaluated by 0.9.0 |")
    print("| --- | ---: | ---: | ---: |")
    by_origin: dict[str, list[int]] = {}
    for s in specs:
        row = by_origin.setdefault(origin(s["id"]), [0, 0, 0])
        row[0] += 1
        row[1] += s["accepted"] is True
        row[2] += "dydt" in s
    for name, row in sorted(by_origin.items(), key=lambda item: -item[1][0]):
        print(f"| {name} | " + " | ".join(str(n) for n in row) + " |")
    if args.compare and report.get("upstream_rejected_we_accept"):
        ids = set(report["upstream_rejected_we_accept"])
        print(
            "\nwhy 0.9.0 rejects the specs we accept (0.9.0's error, positions and names taken out):"
        )
        why: Counter[str] = Counter()
        for s in specs:
            if s["id"] in ids:
                text = s["error"]["message"].replace(
                    "Invalid op_system RHS specification. Detail: ", ""
                )
                text = re.sub(r"\[\d+\]", "[i]", text)
                text = re.sub(r"'[^']*'", "'…'", text)
                why[f"{s['error']['class']}: {text[:90]}"] += 1
        for text, n in sorted(why.items(), key=lambda item: (-item[1], item[0])):
            print(f"{n:4d}  {text}")
    print()
    for place, counter in inventory([s["spec"] for s in specs]).items():
        ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        print(f"{place}: " + ", ".join(f"{k} {n}" for k, n in ranked))


if __name__ == "__main__":
    main()
