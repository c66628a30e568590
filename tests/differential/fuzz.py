"""Live differential fuzzer: op_system against the real op-system 0.1.2.

    .venv/bin/python -m tests.differential.fuzz --n 5000 --seed 1 \
        [--ref-python /tmp/ref012/bin/python] [--jobs 2] [--batch 200] \
        [--report fuzz_report.json] [--strict]

Generates `--n` cases (`generate.py`), runs `oracle012.py` under the 0.1.2
interpreter in one subprocess per batch, compares every case with
`compare.py`, prints a tally (by construct tag, divergence kind and triage
class) and writes a JSON report with the smallest failing spec of each class.
Documented differences (`known_differences.py`) are not counted unless
`--strict` is given.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .compare import compare_case
from .generate import generate_cases

HERE = Path(__file__).resolve().parent
ORACLE = HERE / "oracle012.py"
DEFAULT_REF_PYTHON = "/tmp/ref012/bin/python"

#: Triage of divergences into classes (first match wins): `known:` bug classes
#: already under repair, `new:` classes found by this fuzzer, `doc-gap:`
#: extensions that are not documented in docs/compatibility.md. Triage only
#: labels failures; every one of them still counts.
TRIAGE: list[tuple[str, Any]] = [
    (
        "new:sum_prefix_no_match_rejected",
        lambda c, d: "matches no state" in d["detail"],
    ),
    (
        "long_sum_nested_too_deeply",
        lambda c, d: "nested too deeply" in d["detail"] or "too deep" in d["detail"],
    ),
    (
        "chain_stage_endpoint",
        lambda c, d: "chain_endpoint" in c and d["kind"] == "error",
    ),
    (
        "in_filter_nonident_coord",
        lambda c, d: "in_filter_nonident" in c,
    ),
    (
        "override_params_required",
        lambda c, d: (
            "per_cell_override" in c
            and (
                "missing parameter" in d["detail"]
                or (d["kind"] == "params" and "only ours []" not in d["detail"])
            )
        ),
    ),
    (
        "doc-gap:nested_sum_over_accepted",
        lambda c, d: "mutant:ext:nested_sum_over" in c and d["kind"] == "error",
    ),
    ("sum_prefix_placeholder", lambda c, d: "sum_prefix_placeholder" in c),
    ("loopvar_value", lambda c, d: "loopvar_value" in c),
]


def run_oracle(cases: list[dict[str, Any]], ref_python: str) -> list[dict[str, Any]]:
    """Records of 0.1.2 for `cases` (one subprocess)."""
    proc = subprocess.run(
        [ref_python, str(ORACLE)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"oracle failed ({proc.returncode}): {proc.stderr[-2000:]}")
    records = json.loads(proc.stdout)
    if [r["id"] for r in records] != [c["id"] for c in cases]:
        raise RuntimeError("oracle returned records out of order")
    return records


def run_oracle_batches(
    cases: list[dict[str, Any]], ref_python: str, *, batch: int, jobs: int
) -> list[dict[str, Any]]:
    """Records for all cases, `batch` cases per subprocess, `jobs` at a time."""
    chunks = [cases[i : i + batch] for i in range(0, len(cases), batch)]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda ch: run_oracle(ch, ref_python), chunks))
    return [r for chunk in results for r in chunk]


def _normalize_detail(detail: str) -> str:
    s = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", detail)
    s = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", s)
    return s[:110]


def triage(case: dict[str, Any], div: dict[str, str]) -> str:
    """Class name of one divergence."""
    tags = set(case["constructs"])
    for name, pred in TRIAGE:
        if pred(tags, div):
            return name if ":" in name else f"known:{name}"
    return f"new:{div['kind']}:{_normalize_detail(div['detail'])}"


def fuzz(
    n: int,
    seed: int,
    ref_python: str,
    *,
    batch: int = 200,
    jobs: int = 2,
    strict: bool = False,
) -> dict[str, Any]:
    """Run the fuzzer and return the report."""
    t0 = time.perf_counter()
    cases = generate_cases(n, seed)
    records = run_oracle_batches(cases, ref_python, batch=batch, jobs=jobs)
    t_oracle = time.perf_counter() - t0
    by_construct: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_kind: Counter[str] = Counter()
    by_class: Counter[str] = Counter()
    examples: dict[str, dict[str, Any]] = {}
    failures = 0
    ref_rejected = 0
    for case, record in zip(cases, records):
        ref_rejected += record["status"] == "error"
        try:
            divs = compare_case(case, record, strict=strict)
        except Exception as exc:
            divs = [{"kind": "crash", "detail": f"{type(exc).__name__}: {exc}"}]
        for tag in case["constructs"]:
            by_construct[tag][0] += 1
        if not divs:
            continue
        failures += 1
        for tag in case["constructs"]:
            by_construct[tag][1] += 1
        classes = []
        for d in divs:
            by_kind[d["kind"]] += 1
            classes.append(triage(case, d))
        primary = classes[0]
        by_class[primary] += 1
        size = len(json.dumps(case["spec"]))
        old = examples.get(primary)
        if old is None or size < old["size"]:
            examples[primary] = {
                "size": size,
                "id": case["id"],
                "constructs": case["constructs"],
                "spec": case["spec"],
                "divergences": divs,
                "ref": {
                    k: record.get(k)
                    for k in (
                        "status",
                        "stage",
                        "error_type",
                        "error_message",
                        "equations",
                        "aliases",
                    )
                },
            }
    return {
        "seed": seed,
        "n": n,
        "failures": failures,
        "ref_rejected": ref_rejected,
        "seconds": {
            "oracle": round(t_oracle, 2),
            "total": round(time.perf_counter() - t0, 2),
        },
        "by_kind": dict(by_kind.most_common()),
        "by_class": dict(by_class.most_common()),
        "by_construct": {
            k: {"cases": v[0], "failures": v[1]}
            for k, v in sorted(by_construct.items())
        },
        "examples": examples,
    }


def print_tally(report: dict[str, Any]) -> None:
    """Human-readable summary of a report."""
    print(
        f"cases {report['n']} (seed {report['seed']}), 0.1.2 rejected {report['ref_rejected']}, failing {report['failures']}  [{report['seconds']}]"
    )
    print("\nby divergence kind:")
    for k, v in report["by_kind"].items():
        print(f"  {v:6d}  {k}")
    print("\nby class (primary divergence of each failing case):")
    for k, v in report["by_class"].items():
        print(f"  {v:6d}  {k}")
    print("\nby construct (cases / failing):")
    for k, v in report["by_construct"].items():
        mark = " *" if v["failures"] else ""
        print(f"  {v['cases']:6d} {v['failures']:6d}  {k}{mark}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ref-python", default=DEFAULT_REF_PYTHON)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--report", default="fuzz_report.json")
    ap.add_argument(
        "--strict", action="store_true", help="also count documented differences"
    )
    args = ap.parse_args(argv)
    report = fuzz(
        args.n,
        args.seed,
        args.ref_python,
        batch=args.batch,
        jobs=args.jobs,
        strict=args.strict,
    )
    print_tally(report)
    Path(args.report).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"\nreport: {args.report}")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
