"""Stochastic simulation and a particle-filter fit from the same spec as the ODE.

1. A fan chart: 1,000 chain-binomial trajectories of an age-structured SEIR
   (JAX, one `vmap`) against the ODE of the same spec.
2. A particle-marginal Metropolis-Hastings fit of the transmission rate of a
   stochastic SEIR to synthetic weekly case counts (negative-binomial
   reporting): the particle filter's log-likelihood as a `numpyro.factor`,
   sampled by numpyro's MCMC with op_system's `PMMH` kernel.

    python examples/stochastic.py           # 1,000 trajectories; 1,000 MH steps of 300 particles
    python examples/stochastic.py --quick   # 200 trajectories; 100 MH steps of 100 particles (CI)

Writes `examples/output/stochastic.png` (or `--out DIR`).
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from _age_seir import AGES, CONTACTS, example_parser  # noqa: E402

from op_system import compile_spec, solve  # noqa: E402

SPEC: dict[str, Any] = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": AGES}],
    "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
    "aliases": {
        "N[age]": "S[age] + E[age] + I[age] + R[age]",
        "foi[age]": "beta * sum_over(age=j, C[age, j] * I[j] / N[j])",
    },
    "transitions": [
        {"name": "infection", "from": "S[age]", "to": "E[age]", "rate": "foi[age]"},
        {"name": "onset", "from": "E[age]", "to": "I[age]", "rate": "sigma"},
        {"name": "recovery", "from": "I[age]", "to": "R[age]", "rate": "gamma"},
    ],
    "incidence": {"cases": "onset"},
}
POP = np.array([2000, 2500, 2200, 1300])
SEED = np.array([2, 4, 2, 1])
#: the initial counts by name (as `pack` takes them): E, R and the counter start at 0
Y0 = {"S": POP - SEED, "I": SEED}
FIXED = {"C": CONTACTS, "sigma": 1 / 3, "gamma": 1 / 5}
TRUE_BETA = 0.06


def fan_chart(compiled: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    days = np.arange(0.0, 151.0, 1.0)
    t0 = time.perf_counter()
    traj = compiled.simulate(
        Y0,
        days,
        dt=0.25,
        key=jax.random.PRNGKey(0),
        n=n,
        named=True,
        beta=TRUE_BETA,
        **FIXED,
    )
    print(f"   {traj} in {time.perf_counter() - t0:.1f} s")
    # the ODE of the same spec (NumPy, SciPy's LSODA), by name
    ode = solve(
        compile_spec(SPEC), Y0, days, params={"beta": TRUE_BETA, **FIXED}, rtol=1e-8
    )
    return days, np.asarray(traj["I"]).sum(axis=2), ode["I"].sum(axis=1)


def pmmh(
    compiled: Any, data: np.ndarray, steps: int, particles: int, progress: bool
) -> tuple[np.ndarray, int]:
    """numpyro's MCMC with op_system's PMMH kernel: the particle filter's
    log-likelihood is a `numpyro.factor`, its key drawn with `numpyro.prng_key()`;
    a log-normal prior around 0.05. The first third of the steps adapt the random
    walk's step size (in log beta) and are discarded."""
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC

    from op_system import PMMH

    weeks = np.arange(0.0, 7.0 * (len(data) + 1), 7.0)
    y0 = compiled.pack(Y0)

    def model(data: Any) -> None:
        beta = numpyro.sample("beta", dist.LogNormal(np.log(0.05), 0.5))
        fit = compiled.particle_filter(
            y0,
            weeks,
            data,
            key=numpyro.prng_key(),
            counter="cases",
            observation="negative_binomial",
            concentration=10.0,
            dt=0.5,
            n_particles=particles,
            beta=beta,
            **FIXED,
        )
        numpyro.factor("loglik", fit.log_likelihood)

    warmup = steps // 3
    mcmc = MCMC(
        PMMH(model, step_size=0.05),
        num_warmup=warmup,
        num_samples=steps - warmup,
        progress_bar=progress,
    )
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(1), data)
    chain = np.asarray(mcmc.get_samples()["beta"])
    print(
        f"   PMMH: {steps} steps of {particles} particles in "
        f"{time.perf_counter() - t0:.1f} s, acceptance "
        f"{float(mcmc.last_state.mean_accept_prob):.0%}"
    )
    return chain, warmup


def main() -> int:
    opts = example_parser(__doc__).parse_args()
    opts.out.mkdir(parents=True, exist_ok=True)
    compiled = compile_spec(SPEC, xp=jnp)
    n, steps, particles = (200, 100, 100) if opts.quick else (1000, 1000, 300)

    print("1. fan chart of chain-binomial trajectories against the ODE")
    days, prevalence, ode = fan_chart(compiled, n)
    big = ode > 50
    rel = np.abs(np.median(prevalence, axis=0)[big] / ode[big] - 1)
    print(f"   median trajectory within {rel.max():.0%} of the ODE where I > 50")

    print("2. PMMH fit of beta to weekly cases")
    weeks = np.arange(0.0, 7.0 * 13, 7.0)
    sim = compiled.simulate(
        Y0,
        weeks,
        dt=0.5,
        key=jax.random.PRNGKey(5),
        n=1,
        named=True,
        beta=TRUE_BETA,
        **FIXED,
    )
    rng = np.random.default_rng(3)
    # the `cases` counter (cumulative onsets, by age) of the one trajectory
    true_cases = np.diff(np.asarray(sim["cases"][0]).sum(axis=1))
    data = rng.negative_binomial(10.0, 10.0 / (10.0 + true_cases))
    burned, warmup = pmmh(compiled, data, steps, particles, not opts.quick)
    lo, mid, hi = np.percentile(burned, [5, 50, 95])
    print(
        f"   beta: posterior median {mid:.4f}, 90% [{lo:.4f}, {hi:.4f}] (true {TRUE_BETA})"
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for q, alpha in ((5, 0.2), (25, 0.35)):
        axes[0].fill_between(
            days,
            np.percentile(prevalence, q, axis=0),
            np.percentile(prevalence, 100 - q, axis=0),
            color="tab:blue",
            alpha=alpha,
            label=f"{100 - 2 * q}% of trajectories",
        )
    axes[0].plot(days, np.median(prevalence, axis=0), color="tab:blue", label="median")
    axes[0].plot(days, ode, "k--", label="ODE")
    axes[0].set(title=f"infectious people: {n} chain-binomial runs", xlabel="day")
    axes[0].legend()
    axes[1].plot(burned, lw=0.7)
    axes[1].axhline(TRUE_BETA, color="k", ls="--", label="true beta")
    axes[1].set(
        title=f"PMMH chain of beta (after {warmup} warmup steps)", xlabel="step"
    )
    axes[1].legend()
    fig.tight_layout()
    path = opts.out / "stochastic.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"   plot written to {path}")
    ok = (
        lo <= TRUE_BETA <= hi
        if not opts.quick
        else abs(mid - TRUE_BETA) < 0.3 * TRUE_BETA
    )
    if not ok:
        print("   the posterior misses the true beta")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
