"""Bayesian fit with numpyro NUTS through a diffrax solve of a compiled model.

NUTS needs the gradient of the log density, so it differentiates through
`diffrax.diffeqsolve` and through the compiled right-hand side: no callbacks,
no host round trips.

1. SIR: infer `beta`, `gamma` from noisy prevalence data (both modes);
2. age-structured SEIR (full mode only): infer `beta`, `gamma` from noisy
   age-specific prevalence, with a 4 x 4 contact matrix.

    python examples/numpyro_fit.py           # SIR 2 x (1000 + 1000) draws, then age-structured SEIR
    python examples/numpyro_fit.py --quick   # SIR only, one short chain (CI)

Writes `examples/output/numpyro_fit_sir.png` and, in full mode,
`examples/output/numpyro_fit_age_seir.png` (or `--out DIR`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from _age_seir import (  # noqa: E402
    AGES,
    CONTACTS,
    POP_FRACTIONS,
    SEED_FRACTIONS,
    age_seir_spec,
    example_parser,
)
from numpyro.infer import MCMC, NUTS, init_to_median  # noqa: E402

from op_system import compile_spec  # noqa: E402

SIR = {
    "kind": "transitions",
    "state": ["S", "I", "R"],
    "transitions": [
        {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
        {"from": "I", "to": "R", "rate": "gamma"},
    ],
}

AGE_SEIR = age_seir_spec()
POP = POP_FRACTIONS  # population fractions


def make_observer(
    rhs: Any, y0: Any, ts: np.ndarray, observe: Callable[[dict[str, Any]], Any]
) -> Callable[..., Any]:
    """`observed(**params)`: diffrax solve of the compiled model, its blocks
    (`rhs.unpack`, traceable) mapped to observables."""
    term = diffrax.ODETerm(rhs.vector_field)

    def observed(**params: Any) -> Any:
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            t0=0.0,
            t1=float(ts[-1]),
            dt0=0.5,
            y0=jnp.asarray(y0),
            args=params,
            saveat=diffrax.SaveAt(ts=jnp.asarray(ts)),
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-9),
            max_steps=8192,
            throw=False,  # extreme warm-up proposals: reject instead of raising
        )
        ok = sol.result == diffrax.RESULTS.successful
        return jnp.where(ok, observe(rhs.unpack(sol.ys)), jnp.nan)

    return observed


def fit(
    observed: Callable[..., Any],
    data: Any,
    fixed: dict,
    sigma: float,
    prior: dict[str, float],
    *,
    warmup: int,
    samples: int,
    chains: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """NUTS draws of `beta`, `gamma` (log-normal priors around `prior`) given `data`."""

    def model(obs: Any = None) -> None:
        beta = numpyro.sample("beta", dist.LogNormal(jnp.log(prior["beta"]), 0.5))
        gamma = numpyro.sample("gamma", dist.LogNormal(jnp.log(prior["gamma"]), 0.5))
        mean = observed(beta=beta, gamma=gamma, **fixed)
        numpyro.sample(
            "obs", dist.LogNormal(jnp.log(jnp.clip(mean, 1e-12)), sigma), obs=obs
        )

    kernel = NUTS(model, init_strategy=init_to_median(num_samples=15), max_tree_depth=6)
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method="sequential" if chains > 1 else "parallel",
        progress_bar=False,
    )
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), obs=data)
    print(
        f"   NUTS: {chains} chain(s) x ({warmup} warm-up + {samples} draws) in {time.perf_counter() - t0:.1f} s"
    )
    mcmc.print_summary(exclude_deterministic=True)
    return {k: np.asarray(v) for k, v in mcmc.get_samples().items()}


def plot(
    path: Path,
    title: str,
    ts: np.ndarray,
    data: np.ndarray,
    draws: dict,
    truth: dict,
    predict: Callable[..., Any],
    labels: list[str],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, name in zip(axes[:2], ("beta", "gamma"), strict=True):
        ax.hist(draws[name], bins=30, density=True, color="tab:blue", alpha=0.7)
        ax.axvline(
            truth[name], color="k", ls="--", label=f"true {name} = {truth[name]:g}"
        )
        ax.set(title=f"posterior of {name}", xlabel=name)
        ax.legend()
    idx = np.linspace(0, len(draws["beta"]) - 1, 50).astype(int)
    pred = np.stack(
        [
            np.asarray(predict(beta=draws["beta"][i], gamma=draws["gamma"][i]))
            for i in idx
        ]
    )
    data2 = data.reshape(len(ts), -1)
    pred2 = pred.reshape(len(idx), len(ts), -1)
    for k in range(data2.shape[1]):
        color = f"C{k}"
        lo, hi = np.nanpercentile(pred2[:, :, k], [5, 95], axis=0)
        axes[2].fill_between(ts, lo, hi, color=color, alpha=0.3)
        axes[2].plot(ts, data2[:, k], "o", ms=3, color=color, label=labels[k])
    axes[2].set(
        title="data and 90% posterior band of the model",
        xlabel="day",
        ylabel="prevalence",
    )
    axes[2].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"   plot written to {path}")


def main() -> int:
    opts = example_parser(__doc__).parse_args()
    opts.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    sigma = 0.1
    truth = {"beta": 0.5, "gamma": 0.2}

    print("1. SIR: beta, gamma from noisy prevalence")
    ts = np.arange(2.0, 62.0, 2.0)
    sir = compile_spec(SIR, backend="jax")
    observed = jax.jit(
        make_observer(sir, sir.pack(S=0.99, I=0.01), ts, lambda b: b["I"])
    )
    clean = np.asarray(observed(**truth))
    data = clean * np.exp(sigma * rng.standard_normal(clean.shape))
    settings = (
        {"warmup": 150, "samples": 150, "chains": 1}
        if opts.quick
        else {"warmup": 1000, "samples": 1000, "chains": 2}
    )
    draws = fit(
        observed,
        jnp.asarray(data),
        {},
        sigma,
        {"beta": 0.3, "gamma": 0.15},
        seed=0,
        **settings,
    )
    for name, true in truth.items():
        m = draws[name].mean()
        print(
            f"   {name}: posterior mean {m:.4f} (true {true}), relative error {abs(m - true) / true:.1%}"
        )
        if abs(m - true) > 0.1 * true:
            print("   posterior mean too far from the truth")
            return 1
    plot(
        opts.out / "numpyro_fit_sir.png",
        "SIR fitted with numpyro NUTS through diffrax",
        ts,
        data,
        draws,
        truth,
        observed,
        ["I"],
    )

    if opts.quick:
        return 0

    print(
        "2. age-structured SEIR: beta, gamma from age-specific prevalence (C and sigma known)"
    )
    seir = compile_spec(AGE_SEIR, backend="jax")
    y0 = seir.pack(S=POP_FRACTIONS - SEED_FRACTIONS, I=SEED_FRACTIONS)
    truth = {"beta": 0.06, "gamma": 0.2}
    fixed = {"C": jnp.asarray(CONTACTS), "sigma": jnp.asarray(1 / 3)}
    ts = np.arange(5.0, 125.0, 5.0)
    observed = jax.jit(make_observer(seir, y0, ts, lambda b: b["I"] / jnp.asarray(POP)))
    clean = np.asarray(observed(**truth, **fixed))
    data = clean * np.exp(sigma * rng.standard_normal(clean.shape))
    draws = fit(
        observed,
        jnp.asarray(data),
        fixed,
        sigma,
        {"beta": 0.05, "gamma": 0.15},
        warmup=500,
        samples=500,
        chains=1,
        seed=1,
    )
    for name, true in truth.items():
        m = draws[name].mean()
        print(
            f"   {name}: posterior mean {m:.4f} (true {true}), relative error {abs(m - true) / true:.1%}"
        )
    plot(
        opts.out / "numpyro_fit_age_seir.png",
        "Age-structured SEIR fitted with numpyro NUTS",
        ts,
        data,
        draws,
        truth,
        lambda **p: observed(**p, **fixed),
        [f"I/N [{a}]" for a in AGES],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
