"""Worker run inside a venv that has op-system 0.9.0 (the peer of `dialect09`).

op-system 0.9.0 shares the import name `op_system` with this package, so it is
measured in its own interpreter: `benchmarks/dialect09.py` writes a JSON job and
runs `python benchmarks/_worker09.py JOB.json`; this prints one JSON object.

Job fields: `spec` (a 0.9.0 spec, the same one op_system compiles), `params`
(scalars, or nested lists passed as float64 arrays, 0.9.0's way), `y`,
`expected` (the hand-written NumPy `dydt` at `y`), `repeat`, `min_time`,
`compile_repeat`.

Measured: compile = `compile_spec(spec)` (fresh copy of the spec each time;
median of `compile_repeat`), per call = `eval_fn(0.0, y, **params)`, checked
against `expected` (`allclose`) before timing. Only the standard library, NumPy
and op-system 0.9.0 are imported here.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import Settings, measure


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    warnings.simplefilter("ignore")  # 0.9.0's deprecation notes are not timed
    import op_system

    times = []
    compiled = None
    for _ in range(job["compile_repeat"]):
        spec = copy.deepcopy(job["spec"])
        t0 = time.perf_counter()
        compiled = op_system.compile_spec(spec)
        times.append(time.perf_counter() - t0)
    assert compiled is not None
    y = np.asarray(job["y"], dtype=np.float64)
    params = {
        k: np.asarray(v, dtype=np.float64) if isinstance(v, list) else v
        for k, v in job["params"].items()
    }
    got = np.asarray(compiled.eval_fn(0.0, y, **params), dtype=np.float64)
    expected = np.asarray(job["expected"], dtype=np.float64)
    scale = float(np.max(np.abs(expected))) or 1.0
    if got.shape != expected.shape or not np.allclose(
        got, expected, rtol=1e-9, atol=1e-12 * scale
    ):
        raise AssertionError("op-system 0.9.0 and the hand-written RHS disagree")
    settings = Settings(repeat=job["repeat"], min_time=job["min_time"])
    per_call = measure(lambda: compiled.eval_fn(0.0, y, **params), settings)
    print(
        json.dumps(
            {
                "version": op_system.__version__,
                "compile_s": statistics.median(times),
                "compile_first_s": times[0],
                "per_call": per_call,
                "max_rel_err": float(np.max(np.abs(got - expected)) / scale),
            }
        )
    )


if __name__ == "__main__":
    main()
