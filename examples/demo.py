"""op_system demo: one age-structured SEIR spec, run on NumPy and JAX, solved with diffrax and SciPy.

Run with `make demo` (bootstraps `.venv`), or `python examples/demo.py`.
Writes `examples/output/demo_seir.png`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from _age_seir import (
    AGES,
    CONTACTS,
    POP_COUNTS,
    SEED_COUNTS,
    age_seir_spec,
    example_parser,
)

from op_system import compile_spec, solve

SPEC = age_seir_spec()
POP = POP_COUNTS


def main() -> int:
    args = example_parser(__doc__).parse_args()
    params = {"beta": 0.05, "sigma": 1 / 3, "gamma": 1 / 5, "C": CONTACTS}

    print("1. compile the spec for NumPy")
    t0 = time.perf_counter()
    rhs_np = compile_spec(SPEC)
    print(
        f"   compiled {len(rhs_np.state_names)} states in {1e3 * (time.perf_counter() - t0):.1f} ms"
    )
    print(f"   states: {', '.join(rhs_np.state_names[:5])}, ...")
    # the state vector by name: blocks over `age`, every other cell (E, R) 0
    y0 = rhs_np.pack(S=POP_COUNTS - SEED_COUNTS, I=SEED_COUNTS)
    print(
        "   generated source:\n"
        + "\n".join("     | " + ln for ln in rhs_np.source.splitlines())
    )
    dydt_np = rhs_np.eval_fn(0.0, y0, **params)

    print("2. the same spec on JAX (jit)")
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp

    rhs_jax = compile_spec(SPEC, xp=jnp)
    jparams = {k: jnp.asarray(v) for k, v in params.items()}
    dydt_jax = jax.jit(lambda y: rhs_jax.eval_fn(0.0, y, **jparams))(jnp.asarray(y0))
    err = float(
        np.max(np.abs(np.asarray(dydt_jax) - dydt_np) / (np.abs(dydt_np) + 1e-300))
    )
    print(f"   max relative difference NumPy vs JAX: {err:.2e}")
    if err > 1e-12:
        print("   MISMATCH", file=sys.stderr)
        return 1

    print("3. solve with diffrax (Tsit5, PID controller) for 180 days")
    term = diffrax.ODETerm(rhs_jax.vector_field)
    ts = jnp.linspace(0.0, 180.0, 181)
    diffrax_solve = jax.jit(
        lambda args: diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            t0=0.0,
            t1=180.0,
            dt0=0.1,
            y0=jnp.asarray(y0),
            args=args,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-6),
            max_steps=100_000,
        )
    )
    t0 = time.perf_counter()
    sol = diffrax_solve(jparams)
    ys = np.asarray(sol.ys)
    print(
        f"   solved in {time.perf_counter() - t0:.2f} s ({int(sol.stats['num_steps'])} steps)"
    )
    total = ys.sum(axis=1)
    print(
        f"   population conserved: max drift {np.max(np.abs(total - total[0])) / total[0]:.1e}"
    )

    print("4. gradient of the final attack rate w.r.t. beta (through the solve)")

    def attack_rate(beta: jnp.ndarray) -> jnp.ndarray:
        out = diffrax_solve({**jparams, "beta": beta})
        return rhs_jax.unpack(out.ys[-1])["R"].sum() / POP.sum()  # traceable

    value, grad = jax.value_and_grad(attack_rate)(jnp.asarray(0.05))
    print(
        f"   attack rate {float(value):.3f}, d(attack rate)/d(beta) = {float(grad):.2f}"
    )

    print("5. the same with op_system.solve (SciPy LSODA), by name")
    named = solve(rhs_np, y0, np.asarray(ts), params=params, rtol=1e-8, atol=1e-6)
    diff = np.max(np.abs(named["I"] - rhs_np.unpack(ys)["I"])) / POP.max()
    print(f"   {named}\n   max |I(SciPy) - I(diffrax)| / N = {diff:.1e}")
    if diff > 1e-5:
        print("   MISMATCH", file=sys.stderr)
        return 1

    infectious = named["I"]  # (time, age)
    print("\nday   " + "  ".join(f"I[{a}]".rjust(10) for a in AGES))
    for day in (0, 30, 60, 90, 120, 150, 180):
        print(f"{day:>3}   " + "  ".join(f"{v:10.0f}" for v in infectious[day]))

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, age in enumerate(AGES):
        axes[0].plot(named.t, named["I"][:, k], label=f"I[{age}]")
        axes[1].plot(named.t, named["R"][:, k] / POP[k], label=f"R/N [{age}]")
    axes[0].set(title="Infectious by age", xlabel="day", ylabel="people")
    axes[1].set(title="Cumulative attack rate", xlabel="day", ylabel="fraction")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    path = out_dir / "demo_seir.png"
    fig.savefig(path, dpi=100)
    print(f"\nplot written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
