"""Record what the real op-system 0.1.2 does with generated specs.

Run with the interpreter of a venv that has `op-system==0.1.2` installed::

    /tmp/ref012/bin/python tests/differential/oracle012.py < cases.json > records.json

Input: a JSON list of cases `{"id", "constructs", "spec"}`. Output: a JSON list
of records, one per case, in input order::

    {"id", "status": "ok" | "error", "stage": "normalize" | "compile" | "eval" | null,
     "error_type", "error_bases", "error_message",
     "state_names", "param_names", "equations", "aliases",
     "samples": [{"t", "y", "params", "dydt"}, ...]}

Each case is evaluated at `N_SAMPLES` points drawn from
`numpy.random.default_rng(sample_seed(case_id))`: `t ~ U[0, 100]`, one
`y ~ U[0.5, 100]` per state and one value `~ U[0.01, 1]` per parameter
(0.1.2's non-parameters `np`, `t`, `sum_state`, `sum_prefix` skipped). When
evaluation fails the samples are kept with `dydt: null`, so the comparison can
replay the same call. Floats go through `json`, which round-trips them exactly.

0.1.2 iterates a Python `set` when expanding templated transitions; the script
re-executes itself with `PYTHONHASHSEED=0` so its output is reproducible.
This file must not import anything from the repository (it runs in the 0.1.2
venv, where `op_system` is the reference package).
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import zlib
from typing import Any

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import numpy as np

EXPECTED_VERSION = "0.1.2"
N_SAMPLES = 2
SKIP_PARAMS = frozenset({"np", "t", "sum_state", "sum_prefix"})


def sample_seed(case_id: str) -> int:
    """Seed of the sample points of a case (stable across runs and platforms)."""
    return zlib.crc32(case_id.encode("utf-8"))


def make_samples(
    case_id: str, state_names: list[str], param_names: list[str]
) -> list[dict[str, Any]]:
    """Random evaluation points for a case."""
    rng = np.random.default_rng(sample_seed(case_id))
    sampled = [p for p in param_names if p not in SKIP_PARAMS]
    out = []
    for _ in range(N_SAMPLES):
        t = float(rng.uniform(0.0, 100.0))
        y = [float(v) for v in rng.uniform(0.5, 100.0, size=len(state_names))]
        params = {p: float(rng.uniform(0.01, 1.0)) for p in sampled}
        out.append({"t": t, "y": y, "params": params, "dydt": None})
    return out


def _error(record: dict[str, Any], stage: str, exc: BaseException) -> dict[str, Any]:
    record.update(
        status="error",
        stage=stage,
        error_type=type(exc).__name__,
        error_bases=[
            c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"
        ],
        error_message=str(exc)[:2000],
    )
    return record


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Normalize, compile and evaluate one case with 0.1.2."""
    from op_system import compile_rhs, normalize_rhs

    record: dict[str, Any] = {
        "id": case["id"],
        "status": "ok",
        "stage": None,
        "samples": [],
    }
    try:
        rhs = normalize_rhs(copy.deepcopy(case["spec"]))
    except Exception as exc:
        return _error(record, "normalize", exc)
    record.update(
        state_names=list(rhs.state_names),
        param_names=list(rhs.param_names),
        equations=list(rhs.equations),
        aliases=dict(rhs.aliases),
    )
    try:
        compiled = compile_rhs(rhs)
    except Exception as exc:
        return _error(record, "compile", exc)
    samples = make_samples(case["id"], record["state_names"], record["param_names"])
    record["samples"] = samples
    for sample in samples:
        try:
            with np.errstate(all="ignore"):
                dydt = compiled.eval_fn(
                    sample["t"], np.asarray(sample["y"]), **sample["params"]
                )
            values = [float(v) for v in np.asarray(dydt, dtype=np.float64)]
        except Exception as exc:
            return _error(record, "eval", exc)
        if not all(math.isfinite(v) for v in values):
            record["nonfinite"] = True
            values = [v if math.isfinite(v) else repr(v) for v in values]
        sample["dydt"] = values
    return record


def main() -> int:
    """Read cases on stdin, write records on stdout."""
    import op_system

    if op_system.__version__ != EXPECTED_VERSION:
        print(
            f"expected op_system {EXPECTED_VERSION}, found {op_system.__version__}",
            file=sys.stderr,
        )
        return 1
    cases = json.load(sys.stdin)
    records = [run_case(c) for c in cases]
    json.dump(records, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
