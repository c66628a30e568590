"""Regenerate `frozen.json`: generated cases with the outputs of op-system 0.1.2.

    .venv/bin/python -m tests.differential.make_frozen [--ref-python /tmp/ref012/bin/python]

Generates `N_CASES` cases with `SEED` (`generate.py`), runs `oracle012.py`
under the 0.1.2 interpreter and writes `frozen.json` next to this file:
`{"generator", "seed", "cases": [{"case": {...}, "record": {...}}, ...]}`.
`test_differential.py` replays it without 0.1.2. Output is deterministic.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from .fuzz import DEFAULT_REF_PYTHON, run_oracle_batches
from .generate import generate_cases

HERE = Path(__file__).resolve().parent
OUT_PATH = HERE / "frozen.json"
SEED = 20240601
N_CASES = 400


def main(argv: list[str] | None = None) -> int:
    """Write frozen.json."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ref-python", default=DEFAULT_REF_PYTHON)
    ap.add_argument("--n", type=int, default=N_CASES)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    version = subprocess.run(
        [
            args.ref_python,
            "-c",
            "import op_system, numpy; print(op_system.__version__, numpy.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    cases = generate_cases(args.n, args.seed)
    records = run_oracle_batches(cases, args.ref_python, batch=200, jobs=2)
    doc = {
        "generator": f"op-system=={version[0]}",
        "numpy": version[1],
        "seed": args.seed,
        "cases": [{"case": c, "record": r} for c, r in zip(cases, records)],
    }
    OUT_PATH.write_text(
        json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n", encoding="utf-8"
    )
    n_err = sum(r["status"] == "error" for r in records)
    print(
        f"wrote {len(cases)} cases ({n_err} rejected by 0.1.2) to {OUT_PATH} ({OUT_PATH.stat().st_size / 1e6:.2f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
