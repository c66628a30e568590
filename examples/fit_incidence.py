"""Fitting to incidence data: numpyro NUTS fit of an age-structured SEIR with a
time-varying transmission rate to weekly hospital admissions.

The spec says everything the fit needs:

* `beta[time]`, a table over a `time` axis (one value every two weeks, read
  linearly in between): what the fit infers;
* an incidence counter of symptom onsets, so one solve gives cumulative onsets;
* an observable `admissions[age] = ihr[age] * onsets[age]`: cumulative hospital
  admissions, whose weekly differences are the data.

Synthetic weekly admissions are drawn from a negative binomial around the true
curve; NUTS infers the transmission rate at each knot (a log random walk prior)
and the negative-binomial concentration, differentiating through diffrax (which
steps onto the knots: `jump_ts=compiled.forcing_breakpoints`).

    python examples/fit_incidence.py           # 2 chains x (500 + 500) draws
    python examples/fit_incidence.py --quick   # one short chain (CI)

Writes `examples/output/fit_incidence.png` (or `--out DIR`): the posterior of
beta(t) against the truth, and the weekly admissions with the posterior band.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from _age_seir import AGES, CONTACTS, POP_COUNTS, SEED_COUNTS, example_parser  # noqa: E402
from numpyro.infer import MCMC, NUTS, init_to_median  # noqa: E402

from op_system import compile_spec  # noqa: E402

WEEKS = 12
KNOTS = [0.0, 14.0, 28.0, 42.0, 56.0, 70.0, 84.0]  # beta's table: every two weeks


def spec() -> dict[str, Any]:
    return {
        "kind": "transitions",
        "axes": [
            {"name": "age", "coords": AGES},
            {"name": "time", "type": "continuous", "coords": KNOTS},
        ],
        "state": ["S[age]", "E[age]", "I[age]", "R[age]"],
        "aliases": {
            "N[age]": "S[age] + E[age] + I[age] + R[age]",
            "foi[age]": "beta[time] * sum_over(age=j, C[age, j] * I[j] / N[j])",
        },
        "transitions": [
            {"name": "infection", "from": "S[age]", "to": "E[age]", "rate": "foi[age]"},
            {"name": "onset", "from": "E[age]", "to": "I[age]", "rate": "sigma"},
            {"name": "recovery", "from": "I[age]", "to": "R[age]", "rate": "gamma"},
        ],
        "time_interpolation": "linear",
        "incidence": {"onsets": "onset"},
        "observables": {"admissions[age]": "ihr[age] * onsets[age]"},
    }


TRUE_BETA = np.array([0.07, 0.065, 0.04, 0.03, 0.035, 0.045, 0.05])
FIXED = {
    "C": CONTACTS,
    "sigma": 1 / 3,
    "gamma": 1 / 5,
    "ihr": np.array([0.002, 0.01, 0.03, 0.12]),
}


def weekly_admissions_fn(compiled: Any) -> Any:
    """`weekly(beta)`: admissions per week and age, (WEEKS, 4), from one diffrax solve."""
    # by name: E, R and the onset counters start at 0
    y0 = compiled.pack(S=POP_COUNTS - SEED_COUNTS, I=SEED_COUNTS)
    term = diffrax.ODETerm(compiled.vector_field)
    weeks = np.arange(WEEKS + 1) * 7.0
    fixed = {k: jnp.asarray(v) for k, v in FIXED.items()}
    model_params = {k: v for k, v in fixed.items() if k in ("C", "sigma", "gamma")}
    controller = diffrax.PIDController(
        rtol=1e-7, atol=1e-6, jump_ts=jnp.asarray(compiled.forcing_breakpoints)
    )

    def weekly(beta: Any) -> Any:
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            0.0,
            float(weeks[-1]),
            0.5,
            jnp.asarray(y0),
            args={**model_params, "beta": beta},
            saveat=diffrax.SaveAt(ts=jnp.asarray(weeks)),
            stepsize_controller=controller,
            max_steps=4096,
            throw=False,  # an extreme warm-up proposal is rejected, not raised
        )
        cumulative = compiled.observe(jnp.asarray(weeks), sol.ys, beta=beta, **fixed)
        ok = sol.result == diffrax.RESULTS.successful
        return jnp.where(ok, jnp.diff(cumulative, axis=0), jnp.nan)

    return weekly


def model(weekly: Any, data: Any = None) -> None:
    # log beta: a random walk over the knots
    log_b0 = numpyro.sample("log_beta0", dist.Normal(jnp.log(0.05), 0.5))
    steps = numpyro.sample("steps", dist.Normal(0.0, 0.25).expand([len(KNOTS) - 1]))
    beta = numpyro.deterministic(
        "beta", jnp.exp(log_b0 + jnp.concatenate([jnp.zeros(1), jnp.cumsum(steps)]))
    )
    phi = numpyro.sample("phi", dist.Exponential(0.05))  # NB concentration
    mean = jnp.clip(weekly(beta), 1e-6)
    numpyro.sample("obs", dist.NegativeBinomial2(mean, phi), obs=data)


def plot(
    path: Path, draws: dict[str, np.ndarray], data: np.ndarray, weekly: Any
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    ts = np.linspace(0.0, KNOTS[-1], 200)
    curves = np.array([np.interp(ts, KNOTS, b) for b in draws["beta"]])
    lo, mid, hi = np.percentile(curves, [5, 50, 95], axis=0)
    axes[0].fill_between(ts, lo, hi, alpha=0.3, label="90% posterior")
    axes[0].plot(ts, mid, label="posterior median")
    axes[0].plot(ts, np.interp(ts, KNOTS, TRUE_BETA), "k--", label="truth")
    axes[0].set(title="transmission rate beta(t)", xlabel="day")
    axes[0].legend()
    idx = np.linspace(0, len(draws["beta"]) - 1, 40).astype(int)
    pred = np.stack([np.asarray(weekly(jnp.asarray(draws["beta"][i]))) for i in idx])
    weeks = np.arange(1, WEEKS + 1)
    for k, age in enumerate(AGES):
        lo, hi = np.percentile(pred[:, :, k], [5, 95], axis=0)
        axes[1].fill_between(weeks, lo, hi, color=f"C{k}", alpha=0.3)
        axes[1].plot(weeks, data[:, k], "o", color=f"C{k}", label=age)
    axes[1].set(
        title="weekly admissions: data and 90% band of the mean",
        xlabel="week",
        ylabel="admissions",
    )
    axes[1].legend(title="age")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"   plot written to {path}")


def main() -> int:
    opts = example_parser(__doc__).parse_args()
    opts.out.mkdir(parents=True, exist_ok=True)
    compiled = compile_spec(spec(), xp=jnp)
    print(f"   {compiled!r}: observables {compiled.observable_names}")
    weekly = jax.jit(weekly_admissions_fn(compiled))
    truth = np.asarray(weekly(jnp.asarray(TRUE_BETA)))
    rng = np.random.default_rng(7)
    phi_true = 30.0
    # negative binomial: gamma-Poisson mixture with mean `truth`, concentration phi
    data = rng.poisson(rng.gamma(phi_true, truth / phi_true)).astype(float)
    print(
        f"   synthetic admissions, {WEEKS} weeks x {len(AGES)} ages: {int(data.sum())} in all"
    )
    warmup, samples, chains = (50, 50, 1) if opts.quick else (500, 500, 2)
    depth = 5 if opts.quick else 6  # at most 2**depth gradient evaluations per draw
    mcmc = MCMC(
        NUTS(model, init_strategy=init_to_median(num_samples=15), max_tree_depth=depth),
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method="sequential",
        progress_bar=False,
    )
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(0), weekly=weekly, data=jnp.asarray(data))
    print(
        f"   NUTS: {chains} chain(s) x ({warmup} warm-up + {samples} draws) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    mcmc.print_summary(exclude_deterministic=False)
    draws = {k: np.asarray(v) for k, v in mcmc.get_samples().items()}
    med = np.median(draws["beta"], axis=0)
    err = np.abs(med - TRUE_BETA) / TRUE_BETA
    for k, (m, t) in enumerate(zip(med, TRUE_BETA, strict=True)):
        print(f"   beta at day {KNOTS[k]:4.0f}: posterior median {m:.4f} (true {t})")
    plot(opts.out / "fit_incidence.png", draws, data, weekly)
    # the knots the data inform (admissions lag infections: not the last one)
    if np.max(err[:-1]) > 0.25:
        print(f"   posterior median too far from the truth: {err.round(3)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
