"""NumPy users: solve a compiled model with `scipy.integrate.solve_ivp`.

No JAX needed: `compile_spec(spec)` returns a NumPy right-hand side (float64,
as op-system 0.1.2), `compiled.bind(params)` turns it into the `f(t, y)` that
scipy expects, and `compiled.unpack` names the blocks of the solution;
`op_system.solve` does the same in one call and returns the states by name.
The age-indexed parameters are NumPy arrays (or, equivalently, 0.1.2's
expanded scalars such as `susc__age_0_19`).

    python examples/scipy_solve_ivp.py            # 5 values of beta, 365 days
    python examples/scipy_solve_ivp.py --quick    # 3 values of beta, 180 days (CI)

Writes `examples/output/scipy_solve_ivp.png` (or `--out DIR`).
"""

from __future__ import annotations

import time

import numpy as np
from _age_seir import (
    AGES,
    CONTACTS,
    POP_COUNTS,
    SEED_COUNTS,
    age_seir_spec,
    example_parser,
)
from scipy.integrate import solve_ivp

from op_system import compile_spec, solve

PARAMS = {
    "sigma": 1 / 3,
    "gamma": 1 / 5,
    "susc": np.array([0.6, 1.0, 1.0, 1.2]),
    "C": CONTACTS,
}
SPEC = age_seir_spec(susceptibility=True)
POP = POP_COUNTS


def main() -> int:
    opts = example_parser(__doc__).parse_args()
    days = 180 if opts.quick else 365
    betas = [0.03, 0.045, 0.06] if opts.quick else [0.02, 0.03, 0.04, 0.05, 0.06]

    rhs = compile_spec(SPEC)  # NumPy backend (the default)
    print(f"{len(rhs.state_names)} states: {', '.join(rhs.state_names[:4])}, ...")
    # the state vector by name: S and I over `age`, E and R 0
    y0 = rhs.pack(S=POP_COUNTS - SEED_COUNTS, I=SEED_COUNTS)
    t_eval = np.linspace(0.0, days, days + 1)

    # Indexed parameters: one array each (as below), or 0.1.2's expanded scalars.
    flat = {**PARAMS, "beta": 0.05}
    for i, coord in enumerate(
        ["0_19", "20_39", "40_59", "60"]
    ):  # coordinate names as identifiers
        flat[f"susc__age_{coord}"] = PARAMS["susc"][i]
    del flat["susc"]
    same = np.allclose(
        rhs.eval_fn(0.0, y0, **flat),
        rhs.eval_fn(0.0, y0, **PARAMS, beta=0.05),
        rtol=1e-15,
    )
    print(f"susc as an array or as susc__age_0_19, ...: same dydt: {same}")
    if not same:
        return 1

    solutions = {}
    for beta in betas:
        f = rhs.bind({**PARAMS, "beta": beta})  # f(t, y) -> dydt
        t0 = time.perf_counter()
        sol = solve_ivp(
            f, (0.0, days), y0, t_eval=t_eval, method="LSODA", rtol=1e-8, atol=1e-6
        )
        if not sol.success:
            print(f"solve_ivp failed for beta={beta}: {sol.message}")
            return 1
        blocks = rhs.unpack(sol.y.T)  # {"S": (time, age), ...}
        solutions[beta] = blocks
        attack = blocks["R"][-1].sum() / POP.sum()
        print(
            f"beta={beta:<5}: {sol.nfev:4d} RHS evaluations in {1e3 * (time.perf_counter() - t0):6.1f} ms; "
            f"final attack rate {attack:.3f}"
        )
        drift = np.max(np.abs(sol.y.sum(axis=0) - POP.sum())) / POP.sum()
        if drift > 1e-6:
            print(f"population not conserved (drift {drift:.1e})")
            return 1

    # the same solve in one call, by name (LSODA with the model's exact Jacobian)
    beta = betas[len(betas) // 2]
    named = solve(
        rhs, y0, t_eval, params={**PARAMS, "beta": beta}, rtol=1e-8, atol=1e-6
    )
    diff = np.max(np.abs(named["R"] - solutions[beta]["R"])) / POP.max()
    print(f"{named}: max |R - R(solve_ivp)| / N = {diff:.1e}")
    if diff > 1e-5:
        return 1

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for b, blocks in solutions.items():
        axes[0].plot(t_eval, blocks["I"].sum(axis=1) / POP.sum(), label=f"beta = {b}")
    axes[0].set(
        title="Prevalence, all ages (solve_ivp, LSODA)", xlabel="day", ylabel="I / N"
    )
    axes[0].legend()
    for k, age in enumerate(AGES):
        axes[1].plot(named.t, named["R"][:, k] / POP[k], label=age)
    axes[1].set(
        title=f"Attack rate by age (beta = {beta}, op_system.solve)",
        xlabel="day",
        ylabel="R / N",
    )
    axes[1].legend()
    fig.tight_layout()
    opts.out.mkdir(parents=True, exist_ok=True)
    path = opts.out / "scipy_solve_ivp.png"
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
