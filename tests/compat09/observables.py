"""op-system 0.9.0's observable values over the recorded specs, and ours.

Run under the real 0.9.0 to record, under this project to compare::

    /work/venv09/bin/python tests/compat09/observables.py        # -> observables-0.9.0.json
    PYTHONPATH=src .venv/bin/python tests/compat09/observables.py --compare

For every spec of `refs.json` that 0.9.0 evaluated and that declares observables
as mappings (`{expr, axes, reduction, units}`), each observable is evaluated at
the spec's recorded inputs (`t`, `y` in 0.9.0's state order, its parameters),
plus the observable's own parameters (those 0.9.0 lists in `parameter_shapes`
that the right-hand side does not read), drawn here: uniform on [0.5, 1.5],
seeded by the spec id and the parameter name, so both sides get the same.
The recording holds each observable's values (C order over its axes) or
0.9.0's error.
"""

from __future__ import annotations

import argparse
import json
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RECORD = HERE / "observables-0.9.0.json"


def cases() -> list[dict[str, Any]]:
    """The recorded specs with observables written as mappings."""
    refs = json.loads((HERE / "refs.json").read_text())
    return [
        s
        for s in refs["specs"]
        if s.get("dydt") is not None
        and isinstance(s["spec"].get("observables"), dict)
        and any(isinstance(v, dict) for v in s["spec"]["observables"].values())
    ]


def draw(case_id: str, name: str, shape: list[int]) -> Any:
    """An observable's own parameter: the same on both sides."""
    rng = np.random.default_rng(zlib.crc32(f"{case_id}/{name}".encode()))
    value = rng.uniform(0.5, 1.5, tuple(shape))
    return float(value) if not shape else value


def inputs(case: dict[str, Any]) -> tuple[float, Any, dict[str, Any]]:
    given = case["inputs"]
    params = {
        k: np.asarray(v, dtype=np.float64) if isinstance(v, list) else v
        for k, v in given["params"].items()
    }
    return given["t"], np.asarray(given["y"], dtype=np.float64), params


def record() -> dict[str, Any]:
    """0.9.0's values (run in its venv)."""
    import op_system  # the real 0.9.0

    out: dict[str, Any] = {}
    for case in cases():
        t, y, params = inputs(case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = op_system.compile_spec(case["spec"])
        values: dict[str, Any] = {}
        own: dict[str, list[int]] = {}
        for name, obs in compiled.observables.items():
            extra = {
                p: draw(case["id"], p, list(shape))
                for p, shape in obs.parameter_shapes
                if p not in params
            }
            own.update(
                {p: list(shape) for p, shape in obs.parameter_shapes if p in extra}
            )
            try:
                got = obs.eval_fn(t, y, **params, **extra)
                values[name] = np.asarray(got, dtype=np.float64).ravel().tolist()
            except Exception as exc:  # recorded, compared as a rejection
                values[name] = {"error": f"{type(exc).__name__}: {exc}"}
        out[case["id"]] = {"values": values, "own_parameters": own}
    return out


def compare(recorded: dict[str, Any]) -> dict[str, Any]:
    """Our values against the recording: per case `agree`, `differ` (with the
    observable) or `rejected` (our error)."""
    import op_system  # this project's

    by_id = {c["id"]: c for c in cases()}
    out: dict[str, Any] = {}
    for case_id, rec in recorded.items():
        case = by_id[case_id]
        t, y, params = inputs(case)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compiled = op_system.compile_spec(case["spec"])
        except Exception as exc:
            out[case_id] = {
                "status": "rejected",
                "error": f"{type(exc).__name__}: {exc}",
            }
            continue
        extra = {
            p: draw(case_id, p, shape) for p, shape in rec["own_parameters"].items()
        }
        got = np.asarray(
            compiled.observables(t, y, **params, **extra), dtype=np.float64
        )
        names = list(compiled.observable_names)
        status: dict[str, Any] = {"status": "agree"}
        for name, want in rec["values"].items():
            if isinstance(want, dict):
                continue  # 0.9.0 could not evaluate it
            cells = [
                i for i, n in enumerate(names) if n == name or n.startswith(name + "__")
            ]
            mine = got[cells]
            if not np.allclose(mine, want, rtol=1e-10, atol=1e-12):
                status = {
                    "status": "differ",
                    "observable": name,
                    "ours": mine.tolist(),
                    "theirs": want,
                }
                break
        out[case_id] = status
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    if not args.compare:
        RECORD.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
        print(f"wrote {RECORD}")
        return
    result = compare(json.loads(RECORD.read_text()))
    counts: dict[str, int] = {}
    for case_id, r in sorted(result.items()):
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        if r["status"] != "agree":
            print(case_id, r)
    print(counts)


if __name__ == "__main__":
    main()
