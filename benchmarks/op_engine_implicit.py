"""op_engine's implicit SDIRK2 through the flepimop2 plugin: with op_system's exact
Jacobian (the system option `rhs_jacobian`) against a central finite-difference
Jacobian of the same right-hand side (what a system without one would have to
provide; op_engine refuses `sdirk2` without any).

The model is the stiff age × region SEIHR of `examples/stiff_age_region.py`
(fast hospital turnover), solved to t = 10 at rtol = atol = 1e-6. Both runs are
checked to agree; one run each (a run takes seconds).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _problem(n_age: int, n_reg: int) -> tuple[Any, Any, dict[str, Any]]:
    from flepimop2.axis import ResolvedShape
    from flepimop2.engine.op_engine import OpEngineFlepimop2Engine
    from flepimop2.parameter.abc import ParameterValue
    from flepimop2.system.op_system import OpSystemSystem

    sys.path.insert(0, str(ROOT / "examples"))
    from stiff_age_region import setup, spec

    from op_system import compile_spec

    s = spec(n_age, n_reg)
    s["initial_state"] = {
        "S[age,reg]": {"shaped": "s0", "axes": ["age", "reg"]},
        "E[age,reg]": 0,
        "I[age,reg]": {"shaped": "i0", "axes": ["age", "reg"]},
        "H[age,reg]": 0,
        "R[age,reg]": 0,
    }
    plain = compile_spec(spec(n_age, n_reg))
    params, y0 = setup(plain, n_age, n_reg)
    blocks = plain.unpack(y0)
    params["s0"] = blocks["S"]
    params["i0"] = blocks["I"]
    axes = {
        (): (),
        (n_reg,): ("reg",),
        (n_age,): ("age",),
        (n_age, n_age): ("age", "age"),
        (n_age, n_reg): ("age", "reg"),
    }

    def value(v: Any) -> Any:
        arr = np.asarray(v, dtype=np.float64)
        return ParameterValue(
            value=arr, shape=ResolvedShape(axis_names=axes[arr.shape], sizes=arr.shape)
        )

    system = OpSystemSystem(spec=s)
    engine = OpEngineFlepimop2Engine(
        state_change="flow",
        config={"method": "sdirk2", "adaptive": True, "rtol": 1e-6, "atol": 1e-6},
    )
    return system, engine, {name: value(v) for name, v in params.items()}


def _finite_differences(system: Any, n: int) -> Callable[[float, Any], Any]:
    def jac(t: float, y: Any) -> Any:
        y = np.asarray(y, dtype=np.float64).reshape(n)
        step = system.bind(system._jacobian_params)  # the engine's bound parameters
        out = np.empty((n, n))
        for j in range(n):
            h = 1e-7 * max(1.0, abs(y[j]))
            e = np.zeros(n)
            e[j] = h
            out[:, j] = (np.asarray(step(t, y + e)) - np.asarray(step(t, y - e))) / (
                2 * h
            )
        return out

    return jac


def bench_op_engine_implicit(
    sizes: Sequence[tuple[int, int]], log: Callable[[str], None]
) -> list[dict[str, Any]]:
    rows = []
    times = np.linspace(0.0, 10.0, 11)
    for n_age, n_reg in sizes:
        system, engine, params = _problem(n_age, n_reg)
        n = len(system.option("state_names"))
        results = {}
        for name, jac in (
            ("exact", system.options["rhs_jacobian"]),
            ("finite differences", _finite_differences(system, n)),
        ):
            system.options["rhs_jacobian"] = jac
            t0 = time.perf_counter()
            out = np.asarray(engine.run(system, times, {}, params))
            results[name] = (time.perf_counter() - t0, out)
        exact_s, exact_out = results["exact"]
        fd_s, fd_out = results["finite differences"]
        err = float(
            np.max(np.abs(exact_out - fd_out) / np.maximum(1.0, np.abs(exact_out)))
        )
        if err > 1e-6:
            raise AssertionError(f"the two solves differ by {err:.2g} (relative)")
        row = {
            "label": f"SEIHR {n_age} ages × {n_reg} regions ({n})",
            "n_state": n,
            "exact_s": exact_s,
            "fd_s": fd_s,
            "speedup": fd_s / exact_s,
            "max_rel_diff": err,
        }
        log(
            f"  {row['label']:40s} exact Jacobian {exact_s:7.2f} s   finite differences"
            f" {fd_s:7.2f} s   {row['speedup']:.1f}× faster"
        )
        rows.append(row)
    return rows
