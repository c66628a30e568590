"""Ensemble of age-structured SEIR solves with `jax.vmap` over parameter sets.

One compiled model, one `jax.jit(jax.vmap(solve))`: thousands of parameter sets
(`beta`, `gamma`, and an age-specific susceptibility vector `susc[age]`) are
solved in one XLA call. A few members are checked against single solves.

    python examples/vmap_ensemble.py            # 20,000 parameter sets
    python examples/vmap_ensemble.py --quick    # 1,000 parameter sets (CI)

Writes `examples/output/vmap_ensemble.png` (or `--out DIR`).
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _age_seir import (  # noqa: E402
    CONTACTS,
    POP_FRACTIONS,
    SEED_FRACTIONS,
    age_seir_spec,
    example_parser,
)

from op_system import compile_spec  # noqa: E402

SPEC = age_seir_spec(susceptibility=True)
POP = POP_FRACTIONS
DAYS = 200


def parse_args() -> argparse.Namespace:
    ap = example_parser(__doc__)
    ap.add_argument("--n", type=int, default=None, help="number of parameter sets")
    return ap.parse_args()


def main() -> int:
    opts = parse_args()
    n = opts.n or (1_000 if opts.quick else 20_000)

    rhs = compile_spec(SPEC, backend="jax")
    term = diffrax.ODETerm(rhs.vector_field)
    y0 = jnp.asarray(rhs.pack(S=POP_FRACTIONS - SEED_FRACTIONS, I=SEED_FRACTIONS))
    ts = jnp.arange(0.0, DAYS + 1.0, 2.0)

    def solve(args: dict) -> jnp.ndarray:
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            t0=0.0,
            t1=float(DAYS),
            dt0=0.25,
            y0=y0,
            args=args,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-9),
            max_steps=10_000,
        )
        return sol.ys

    # Parameter sets: scalar beta, gamma, sigma and a vector susc[age] per member;
    # the contact matrix C is shared (in_axes=None for it).
    key_b, key_g, key_s = jax.random.split(jax.random.PRNGKey(0), 3)
    batch = {
        "beta": 0.05 * jnp.exp(0.2 * jax.random.normal(key_b, (n,))),
        "gamma": jax.random.uniform(key_g, (n,), minval=1 / 7, maxval=1 / 4),
        "sigma": jnp.full((n,), 1 / 3),
        "susc": jax.random.uniform(key_s, (n, 4), minval=0.5, maxval=1.3),
    }
    shared = {"C": jnp.asarray(CONTACTS)}
    ensemble = jax.jit(jax.vmap(lambda p: solve({**p, **shared})))

    t0 = time.perf_counter()
    ys = ensemble(batch).block_until_ready()
    t1 = time.perf_counter()
    print(
        f"{n} parameter sets x {len(rhs.state_names)} states: first call (compile + run) {t1 - t0:.2f} s"
    )
    batch2 = {**batch, "beta": batch["beta"] * 1.05}
    ys2 = ensemble(batch2).block_until_ready()
    t2 = time.perf_counter()
    print(
        f"second call with new values (no retrace): {t2 - t1:.2f} s = {1e6 * (t2 - t1) / n:.0f} us per solve"
    )

    single = jax.jit(solve)
    for i in (0, n // 2, n - 1):
        one = single({**{k: v[i] for k, v in batch.items()}, **shared})
        err = float(jnp.max(jnp.abs(one - ys[i])))
        print(f"   member {i}: max |vmap - single solve| = {err:.1e}")
        if err > 1e-8:
            print("   MISMATCH")
            return 1

    blocks = rhs.unpack(np.asarray(ys))  # each (member, time, age)
    prevalence = blocks["I"].sum(axis=2)
    attack = blocks["R"][:, -1].sum(axis=1)
    attack2 = rhs.unpack(np.asarray(ys2))["R"][:, -1].sum(axis=1)
    print(
        f"final attack rate: median {np.median(attack):.3f}, 90% interval "
        f"[{np.quantile(attack, 0.05):.3f}, {np.quantile(attack, 0.95):.3f}]; with beta x 1.05: median {np.median(attack2):.3f}"
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    t = np.asarray(ts)
    q = np.quantile(prevalence, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    axes[0].fill_between(t, q[0], q[4], alpha=0.25, color="tab:red", label="90%")
    axes[0].fill_between(t, q[1], q[3], alpha=0.45, color="tab:red", label="50%")
    axes[0].plot(t, q[2], color="tab:red", label="median")
    for i in range(5):
        axes[0].plot(t, prevalence[i], color="k", lw=0.5, alpha=0.5)
    axes[0].set(title=f"Prevalence, {n:,} vmapped solves", xlabel="day", ylabel="I / N")
    axes[0].legend()
    axes[1].hist(attack, bins=50, alpha=0.7, label="baseline")
    axes[1].hist(attack2, bins=50, alpha=0.5, label="beta x 1.05")
    axes[1].set(title="Final attack rate", xlabel="R / N at day 200", ylabel="members")
    axes[1].legend()
    fig.tight_layout()
    opts.out.mkdir(parents=True, exist_ok=True)
    path = opts.out / "vmap_ensemble.png"
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
