"""Stiff age × region model: exact Jacobian and sparsity from op_system for implicit solvers.

An SEIHR model over 10 age groups × 50 regions (2,500 states) with fast
hospital admission/discharge rates (stiff). Compares SciPy's BDF
  (a) without Jacobian information (finite differences over all columns),
  (b) with `jac_sparsity=compiled.jac_sparsity`,
  (c) with the exact sparse Jacobian `jac=compiled.jacobian(sparse=True)`,
and solves the same model on JAX with diffrax's implicit Kvaerno5.

Run: `python examples/stiff_age_region.py` (`--quick` for a small, fast run).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from op_system import compile_spec, solve


def spec(n_age: int, n_reg: int) -> dict:
    return {
        "kind": "transitions",
        "axes": [
            {"name": "age", "coords": [f"a{i}" for i in range(n_age)]},
            {"name": "reg", "coords": [f"r{i}" for i in range(n_reg)]},
        ],
        "state": ["S[age,reg]", "E[age,reg]", "I[age,reg]", "H[age,reg]", "R[age,reg]"],
        "aliases": {
            "N[reg]": "sum_over(age=k, S[age=k, reg] + E[age=k, reg] + I[age=k, reg] + H[age=k, reg] + R[age=k, reg])",
            "foi[age,reg]": "beta[reg] * sum_over(age=j, C[age, age=j] * I[age=j, reg]) / N[reg]",
        },
        "transitions": [
            {"from": "S[age,reg]", "to": "E[age,reg]", "rate": "foi[age,reg]"},
            {"from": "E[age,reg]", "to": "I[age,reg]", "rate": "sigma"},
            {"from": "I[age,reg]", "to": "H[age,reg]", "rate": "eta[age]"},
            {"from": "I[age,reg]", "to": "R[age,reg]", "rate": "gamma"},
            # fast hospital turnover makes the system stiff
            {"from": "H[age,reg]", "to": "R[age,reg]", "rate": "kappa"},
            {"from": "H[age,reg]", "to": "I[age,reg]", "rate": "kappa_back"},
        ],
    }


def setup(c: Any, n_age: int, n_reg: int, seed: int = 0) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {
        "beta": rng.uniform(0.2, 0.4, n_reg),
        "C": rng.uniform(0.5, 2.0, (n_age, n_age)),
        "sigma": 1 / 3,
        "eta": np.linspace(0.001, 0.05, n_age),
        "gamma": 1 / 5,
        "kappa": 50.0,
        "kappa_back": 20.0,
    }
    pop = rng.uniform(1e4, 1e5, (n_age, n_reg))
    seed_inf = np.zeros((n_age, n_reg))
    seed_inf[:, :3] = 10.0
    # the state vector by name: S and I as (age, reg) arrays, E, H and R 0
    return params, c.pack(S=pop - seed_inf, I=seed_inf)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small model, short horizon (CI)"
    )
    args = parser.parse_args()
    n_age, n_reg, t1 = (4, 5, 20.0) if args.quick else (10, 50, 60.0)
    from scipy.integrate import solve_ivp

    c = compile_spec(spec(n_age, n_reg))
    params, y0 = setup(c, n_age, n_reg)
    n = len(c.state_names)
    print(f"model: {n} states ({n_age} ages x {n_reg} regions x 5 compartments)")
    t0 = time.perf_counter()
    pattern = c.jac_sparsity
    jac = c.jacobian(sparse=True)
    print(
        f"sparsity ({pattern.nnz} non-zeros, density {pattern.nnz / n**2:.4f}) and Jacobian built in {time.perf_counter() - t0:.2f} s"
    )

    def f(t: float, y: np.ndarray) -> np.ndarray:
        return c.eval_fn(t, y, **params)

    def jf(t: float, y: np.ndarray):
        return jac(t, y, **params)

    results = {}
    runs = [
        ("BDF, jac_sparsity", {"jac_sparsity": pattern}),
        ("BDF, exact sparse jac", {"jac": jf}),
    ]
    runs.insert(0, ("BDF, no Jacobian info", {}))
    for label, extra in runs:
        t0 = time.perf_counter()
        sol = solve_ivp(f, (0.0, t1), y0, method="BDF", rtol=1e-6, atol=1e-3, **extra)
        dt = time.perf_counter() - t0
        results[label] = (dt, sol)
        print(
            f"{label:<26} {dt:7.2f} s  nfev={sol.nfev:<6} njev={sol.njev:<4} success={sol.success}"
        )
        if not sol.success:
            return 1
    ref = results["BDF, exact sparse jac"][1].y[:, -1]
    for label, (_, sol) in results.items():
        err = np.max(np.abs(sol.y[:, -1] - ref) / (np.abs(ref) + 1.0))
        print(
            f"  {label:<24} final-state max rel. difference vs exact-jac run: {err:.1e}"
        )
        if err > 1e-3:
            return 1
    total = y0.sum()
    final_total = results["BDF, exact sparse jac"][1].y[:, -1].sum()
    print(f"population conserved to {abs(final_total - total) / total:.1e}")

    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp

    # diffrax's implicit solvers factorize a dense Jacobian (no sparse linear solver,
    # diffrax#545), so the JAX run uses fewer regions.
    n_reg_jax = min(n_reg, 6)
    cj = compile_spec(spec(n_age, n_reg_jax), xp=jnp)
    params, y0 = setup(cj, n_age, n_reg_jax)
    # the reference: op_system.solve (BDF with the exact sparse Jacobian)
    c_sub = compile_spec(spec(n_age, n_reg_jax))
    sub = solve(c_sub, y0, [0.0, t1], params=params, method="BDF", rtol=1e-8, atol=1e-6)
    ref = sub.y[-1]
    print(
        f"diffrax on {len(cj.state_names)} states ({n_age} ages x {n_reg_jax} regions):"
    )
    jparams = {k: jnp.asarray(v) for k, v in params.items()}
    diffrax_solve = jax.jit(
        lambda y0: diffrax.diffeqsolve(
            diffrax.ODETerm(cj.vector_field),
            diffrax.Kvaerno5(),
            t0=0.0,
            t1=t1,
            dt0=0.01,
            y0=y0,
            args=jparams,
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-3),
            max_steps=100_000,
        )
    )
    t0 = time.perf_counter()
    sol = diffrax_solve(jnp.asarray(y0))
    jax.block_until_ready(sol.ys)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    sol = diffrax_solve(jnp.asarray(y0))
    jax.block_until_ready(sol.ys)
    second = time.perf_counter() - t0
    err = float(np.max(np.abs(np.asarray(sol.ys[-1]) - ref) / (np.abs(ref) + 1.0)))
    print(
        f"diffrax Kvaerno5 (JAX): {first:.2f} s with compile, {second:.2f} s after; "
        f"{int(sol.stats['num_steps'])} steps; max rel. difference vs SciPy {err:.1e}"
    )
    return 0 if err < 1e-3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
