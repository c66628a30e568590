"""Run this project's op_system over the specs op-system 0.9.0 accepted; compare numbers.

Run with the project's interpreter, from the repository root::

    PYTHONPATH=src .venv/bin/python tests/compat09/compare.py [--json report.json]

It reads ``refs.json`` (written by ``harvest.py`` under the real 0.9.0) and,
for every spec 0.9.0 compiled *and* evaluated, compiles the same spec with
``op_system.compile_spec`` (warnings silenced, counted) and evaluates it at
the recorded inputs (``t``, ``y`` in 0.9.0's ``state_names`` order, the
recorded parameters, arrays as arrays). It then counts:

* ``accepted``: we compile the spec;
* ``same_names``: our ``state_names`` equal 0.9.0's, in order (a permutation
  of them is compared after reordering, and counted as ``reordered``);
* ``agree``: ``dydt`` equal to 0.9.0's at ``rtol=1e-10, atol=1e-12``
  (non-finite entries must match exactly).

Only ``op_system`` and the refs file are read; nothing here imports 0.9.0.
Prints a summary, the reasons we reject (error class and the first line of
the message, grouped), and the ids that disagree.
"""

from __future__ import annotations

import argparse
import json
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

import op_system

HERE = Path(__file__).resolve().parent
RTOL = 1e-10
ATOL = 1e-12


def _array(value: Any) -> Any:
    """A recorded value as 0.9.0 received it: a float, or a float64 array."""
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float64)
    return value


def _ref(value: list[Any]) -> Any:
    return np.asarray([np.nan if v is None else v for v in value], dtype=np.float64)


def check(case: dict[str, Any]) -> dict[str, Any]:
    """Our outcome on one recorded case."""
    result: dict[str, Any] = {"id": case["id"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            compiled = op_system.compile_spec(json.loads(json.dumps(case["spec"])))
        except Exception as exc:
            result["status"] = "rejected"
            result["error"] = (
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
            return result
    result["warnings"] = len(caught)
    ours, theirs = list(compiled.state_names), case["state_names"]
    inputs = case["inputs"]
    y = np.asarray(inputs["y"], dtype=np.float64)
    if ours == theirs:
        order = None
    elif sorted(ours) == sorted(theirs):
        position = {name: i for i, name in enumerate(theirs)}
        order = [position[name] for name in ours]
        y = y[order]
        result["reordered"] = True
    else:
        result["status"] = "different_names"
        missing = sorted(set(theirs) - set(ours))[:3]
        extra = sorted(set(ours) - set(theirs))[:3]
        result["error"] = f"0.9.0 only: {missing}, ours only: {extra}"
        return result
    params = {name: _array(value) for name, value in inputs["params"].items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dydt = np.asarray(
                compiled.eval_fn(inputs["t"], y, **params), dtype=np.float64
            )
    except Exception as exc:
        result["status"] = "eval_error"
        result["error"] = (
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
        return result
    ref = _ref(case["dydt"])
    if order is not None:
        ref = ref[order]
    same = dydt.shape == ref.shape and bool(
        np.allclose(dydt, ref, rtol=RTOL, atol=ATOL, equal_nan=True)
    )
    result["status"] = "agree" if same else "differ"
    if not same and dydt.shape == ref.shape:
        result["max_abs_diff"] = float(np.nanmax(np.abs(dydt - ref)))
    return result


def _group(error: str) -> str:
    """An error message with positions and names taken out, to group alike rejections."""
    text = re.sub(r"\[\d+\]", "[i]", error)
    text = re.sub(r"(observables|initial_state)\['[^']*'\]", r"\1[name]", text)
    text = re.sub(r" \(at .*$", "", text)
    return text.replace("Invalid op_system RHS specification. Detail: ", "").replace(
        "Invalid op_system expression. Detail: ", ""
    )[:120]


def rejected_by_upstream(refs: dict[str, Any]) -> tuple[int, list[str], Counter[str]]:
    """Of the specs 0.9.0 rejects: the ids we accept, and the classes we reject the rest with."""
    rejected = [s for s in refs["specs"] if s["accepted"] is False]
    ours: Counter[str] = Counter()
    accepted: list[str] = []
    for case in rejected:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                op_system.compile_spec(json.loads(json.dumps(case["spec"])))
                accepted.append(case["id"])
            except Exception as exc:
                ours[f"{case['error']['class']} -> {type(exc).__name__}"] += 1
    return len(rejected), accepted, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refs", type=Path, default=HERE / "refs.json")
    parser.add_argument("--json", type=Path, help="write every case's outcome here")
    args = parser.parse_args()
    refs = json.loads(args.refs.read_text(encoding="utf-8"))
    cases = [s for s in refs["specs"] if s["accepted"] is True and "dydt" in s]
    results = [check(case) for case in cases]
    status = Counter(r["status"] for r in results)
    accepted = len(results) - status["rejected"]
    summary = {
        "harvested_unique": refs["counts"]["unique_specs"],
        "accepted_by_0.9.0": refs["counts"]["accepted"],
        "evaluated_by_0.9.0": len(cases),
        "accepted_by_us": accepted,
        "same_state_names_in_order": accepted
        - status["different_names"]
        - sum(1 for r in results if r.get("reordered")),
        "same_state_names_reordered": sum(1 for r in results if r.get("reordered")),
        "different_state_names": status["different_names"],
        "eval_error": status["eval_error"],
        "agree": status["agree"],
        "differ": status["differ"],
        "compiled_with_warnings": sum(1 for r in results if r.get("warnings")),
    }
    n_rejected, we_accept, classes = rejected_by_upstream(refs)
    summary["rejected_by_0.9.0"] = n_rejected
    summary["rejected_by_0.9.0_accepted_by_us"] = len(we_accept)
    print(json.dumps(summary, indent=2))
    reasons = Counter(_group(r["error"]) for r in results if r["status"] == "rejected")
    print("\nwhy we reject (count, error):")
    for reason, n in reasons.most_common():
        print(f"{n:4d}  {reason}")
    print("\nspecs 0.9.0 rejects that we reject too (0.9.0 class -> our class):")
    for pair, n in classes.most_common():
        print(f"{n:4d}  {pair}")
    for label in ("different_names", "eval_error", "differ"):
        rows = [r for r in results if r["status"] == label]
        if rows:
            print(f"\n{label}:")
            for r in rows:
                print(f"  {r['id']}: {r.get('error', r.get('max_abs_diff'))}")
    if args.json:
        report = {
            "summary": summary,
            "results": results,
            "upstream_rejected_we_accept": we_accept,
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
