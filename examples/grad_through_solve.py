"""Gradients through an ODE solve: `jax.grad` of a loss of a diffrax solution.

1. Sensitivity: the gradient of the final attack rate with respect to every
   entry of the contact matrix `C[age, age=j]` (one reverse pass), checked
   against finite differences;
2. Calibration: fit `beta` and `gamma` of an age-structured SEIR to noisy
   age-specific prevalence by gradient descent (Adam) on a least-squares loss.

    python examples/grad_through_solve.py            # 300 Adam steps
    python examples/grad_through_solve.py --quick    # 60 Adam steps (CI)

Writes `examples/output/grad_through_solve.png` (or `--out DIR`).
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _age_seir import (  # noqa: E402
    AGES,
    CONTACTS,
    POP_FRACTIONS,
    SEED_FRACTIONS,
    age_seir_spec,
    example_parser,
)

from op_system import compile_spec  # noqa: E402

SPEC = age_seir_spec(susceptibility=False)
POP = POP_FRACTIONS
TRUE = {"beta": 0.05, "gamma": 0.2}


def main() -> int:
    opts = example_parser(__doc__).parse_args()
    steps = 60 if opts.quick else 300

    rhs = compile_spec(SPEC, backend="jax")
    term = diffrax.ODETerm(rhs.vector_field)
    # the initial state by name; `rhs.unpack` reads blocks of the solution, traceably
    y0 = jnp.asarray(rhs.pack(S=POP_FRACTIONS - SEED_FRACTIONS, I=SEED_FRACTIONS))
    ts = np.arange(5.0, 155.0, 5.0)

    def solve(args: dict) -> Any:
        return diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            t0=0.0,
            t1=float(ts[-1]),
            dt0=0.25,
            y0=y0,
            args=args,
            saveat=diffrax.SaveAt(ts=jnp.asarray(ts)),
            stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-10),
            max_steps=20_000,
        ).ys

    base = {
        "beta": jnp.asarray(TRUE["beta"]),
        "gamma": jnp.asarray(TRUE["gamma"]),
        "sigma": jnp.asarray(1 / 3),
        "C": jnp.asarray(CONTACTS),
    }

    # 1. sensitivity of the final attack rate to the contact matrix (array-valued parameter)
    def attack_rate(args: dict) -> Any:
        return rhs.unpack(solve(args)[-1])["R"].sum()

    t0 = time.perf_counter()
    ar, grads = jax.jit(jax.value_and_grad(attack_rate))(base)
    dar_dc = np.asarray(grads["C"])
    print(
        f"1. final attack rate {float(ar):.4f}; d(attack rate)/dC computed in {time.perf_counter() - t0:.2f} s:"
    )
    for age, row in zip(AGES, dar_dc, strict=True):
        print(f"   {age:>5}: " + "  ".join(f"{v:+.5f}" for v in row))
    h = 1e-4
    f = jax.jit(attack_rate)
    e = jnp.zeros((4, 4)).at[3, 3].set(h)
    fd = (f({**base, "C": base["C"] + e}) - f({**base, "C": base["C"] - e})) / (2 * h)
    print(
        f"   check dAR/dC[60+, 60+]: grad {dar_dc[3, 3]:.6f}, finite difference {float(fd):.6f}"
    )
    if not np.isclose(dar_dc[3, 3], float(fd), rtol=1e-4):
        print("   MISMATCH")
        return 1

    # 2. calibration of (beta, gamma) by gradient descent through the solve
    rng = np.random.default_rng(7)
    clean = np.asarray(rhs.unpack(solve(base))["I"]) / POP
    data = jnp.asarray(clean * np.exp(0.1 * rng.standard_normal(clean.shape)))

    def loss(theta: Any) -> Any:
        args = {**base, "beta": jnp.exp(theta[0]), "gamma": jnp.exp(theta[1])}
        prev = rhs.unpack(solve(args))["I"] / jnp.asarray(POP)
        return jnp.sum((prev - data) ** 2) / jnp.sum(data**2)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    theta = jnp.log(jnp.asarray([0.04, 0.3]))  # initial guess: beta 0.04, gamma 0.3
    m = v = jnp.zeros(2)
    lr, b1, b2 = 0.05, 0.9, 0.999
    history = []
    t0 = time.perf_counter()
    for k in range(1, steps + 1):  # Adam
        val, g = value_and_grad(theta)
        history.append(float(val))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        theta = theta - lr * (m / (1 - b1**k)) / (jnp.sqrt(v / (1 - b2**k)) + 1e-12)
    beta, gamma = (float(x) for x in jnp.exp(theta))
    print(
        f"2. {steps} Adam steps in {time.perf_counter() - t0:.1f} s: loss {history[0]:.3f} -> {history[-1]:.4f}; "
        f"beta {beta:.4f} (true {TRUE['beta']}), gamma {gamma:.4f} (true {TRUE['gamma']})"
    )
    if not history[-1] < 0.2 * history[0]:
        print("   the loss did not decrease")
        return 1

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit = solve({**base, "beta": jnp.asarray(beta), "gamma": jnp.asarray(gamma)})
    fitted = np.asarray(rhs.unpack(fit)["I"]) / POP
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].semilogy(history)
    axes[0].set(
        title="Loss (Adam on log beta, log gamma)",
        xlabel="step",
        ylabel="relative squared error",
    )
    for k, age in enumerate(AGES):
        axes[1].plot(ts, np.asarray(data[:, k]), "o", ms=3, color=f"C{k}")
        axes[1].plot(ts, fitted[:, k], color=f"C{k}", label=age)
    axes[1].set(title="Data (dots) and fitted prevalence", xlabel="day", ylabel="I / N")
    axes[1].legend()
    im = axes[2].imshow(dar_dc, cmap="viridis")
    axes[2].set_xticks(range(4), AGES)
    axes[2].set_yticks(range(4), AGES)
    axes[2].set(
        title="d(final attack rate) / dC[age, j]",
        xlabel="j (infector age)",
        ylabel="age",
    )
    fig.colorbar(im, ax=axes[2])
    fig.tight_layout()
    opts.out.mkdir(parents=True, exist_ok=True)
    path = opts.out / "grad_through_solve.png"
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
