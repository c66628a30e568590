"""Generate parity reference data from the real op-system==0.1.2.

This script must be run with an interpreter that has the *upstream* package
installed (not our re-implementation).  Create that environment once with::

    python3 -m venv /tmp/ref012
    /tmp/ref012/bin/pip install op-system==0.1.2

then regenerate the references from the repository root::

    /tmp/ref012/bin/python tests/parity/make_refs.py

It reads ``CASES`` from ``cases.py`` next to this file and writes
``refs.json`` next to this file::

    {"generator": "op-system==0.1.2", "numpy": "<version>",
     "cases": [{"name", "spec", "state_names", "param_names", "equations",
                "aliases", "meta_keys", "meta", "samples": [
                    {"t", "y", "params", "dydt"}, ...]}, ...]}

For every case the spec is normalized and compiled by 0.1.2, then evaluated at
3 random points drawn from ``numpy.random.default_rng(SEED_BASE + case_index)``:
``t ~ U[0, 100]``, one ``y ~ U[0.5, 100]`` per state (in ``state_names``
order) and one value ``~ U[0.01, 1.0]`` per parameter (in ``param_names``
order).  Upstream 0.1.2 lists helper/time names (``np``, ``t``,
``sum_state``, ``sum_prefix``) in ``param_names``; those are recorded raw but
not sampled or passed.  All floats are stored with ``json`` (shortest repr),
so they round-trip exactly.  ``meta`` is a JSON-safe copy of
``NormalizedRhs.meta`` (tuples become lists) for optional metadata checks.

Determinism: 0.1.2 iterates over a Python ``set`` of placeholders when
expanding templated transitions, so the order of expanded transitions (and of
terms inside transition equation strings) depends on string hashing.  To make
``refs.json`` byte-for-byte reproducible the script re-executes itself with
``PYTHONHASHSEED=0`` whenever that variable is not already ``0``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import os
import sys
from pathlib import Path

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import numpy as np

import op_system
from op_system import compile_rhs, normalize_rhs

HERE = Path(__file__).resolve().parent
OUT_PATH = HERE / "refs.json"

EXPECTED_VERSION = "0.1.2"
SEED_BASE = 20240601
N_SAMPLES = 3
SKIP_PARAMS = frozenset({"np", "t", "sum_state", "sum_prefix"})


def _load_cases() -> list[dict]:
    spec = importlib.util.spec_from_file_location("parity_cases", HERE / "cases.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


def _json_safe(obj: object) -> object:
    """Convert meta structures (tuples, numpy scalars) into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    msg = f"meta value of type {type(obj).__name__} is not JSON-serialisable"
    raise TypeError(msg)


def _make_case(index: int, case: dict) -> dict:
    name = case["name"]
    spec = case["spec"]
    rhs = normalize_rhs(copy.deepcopy(spec))
    compiled = compile_rhs(rhs)

    state_names = list(rhs.state_names)
    param_names = list(rhs.param_names)
    sampled = [p for p in param_names if p not in SKIP_PARAMS]

    rng = np.random.default_rng(SEED_BASE + index)
    samples = []
    for _ in range(N_SAMPLES):
        t = float(rng.uniform(0.0, 100.0))
        y = [float(v) for v in rng.uniform(0.5, 100.0, size=len(state_names))]
        params = {p: float(rng.uniform(0.01, 1.0)) for p in sampled}
        dydt = compiled.eval_fn(t, y, **params)
        dydt_list = [float(v) for v in np.asarray(dydt, dtype=np.float64)]
        if len(dydt_list) != len(state_names):
            msg = f"{name}: dydt length {len(dydt_list)} != {len(state_names)}"
            raise RuntimeError(msg)
        if not all(math.isfinite(v) for v in dydt_list):
            msg = f"{name}: non-finite dydt {dydt_list}"
            raise RuntimeError(msg)
        samples.append({"t": t, "y": y, "params": params, "dydt": dydt_list})

    return {
        "name": name,
        "spec": spec,
        "state_names": state_names,
        "param_names": param_names,
        "equations": list(rhs.equations),
        "aliases": dict(rhs.aliases),
        "meta_keys": sorted(rhs.meta.keys()),
        "meta": _json_safe(dict(rhs.meta)),
        "samples": samples,
    }


def main() -> int:
    if op_system.__version__ != EXPECTED_VERSION:
        print(
            f"expected op_system {EXPECTED_VERSION}, found {op_system.__version__}",
            file=sys.stderr,
        )
        return 1

    cases = _load_cases()
    names = [c["name"] for c in cases]
    if len(names) != len(set(names)):
        print("duplicate case names in cases.py", file=sys.stderr)
        return 1

    out_cases = []
    failures = []
    for index, case in enumerate(cases):
        try:
            out_cases.append(_make_case(index, case))
        except Exception as exc:  # report every failing case
            failures.append(f"{case['name']}: {type(exc).__name__}: {exc}")

    if failures:
        print("cases failing under op-system 0.1.2:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1

    doc = {
        "generator": f"op-system=={EXPECTED_VERSION}",
        "numpy": np.__version__,
        "cases": out_cases,
    }
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    OUT_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {len(out_cases)} cases to {OUT_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
