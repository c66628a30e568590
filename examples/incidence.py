"""Incidence, flows, births and deaths from one spec.

An age-structured SEIR with births into the youngest group (`from: null`), deaths
from every compartment (`to: null`) and hospital admissions. `incidence:` adds
counters of new infections and admissions, so one solve gives cumulative
incidence (`sol["infections"]`, by age); `interval_incidence` turns the saved
solution into weekly counts, which are what surveillance reports (and what a
model is fitted to).
`flows` gives every transition's flux at any point, with `dydt == stoichiometry @
flows`.

    python examples/incidence.py            # two years
    python examples/incidence.py --quick    # half a year (CI)

Writes `examples/output/incidence.png` (or `--out DIR`).
"""

from __future__ import annotations

import numpy as np
from _age_seir import AGES, CONTACTS, POP_COUNTS, SEED_COUNTS, example_parser

from op_system import compile_spec, solve

COORDS = ["a0_19", "a20_39", "a40_59", "a60"]
SPEC = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": COORDS}],
    "state": ["S[age]", "E[age]", "I[age]", "H[age]", "R[age]"],
    "aliases": {
        "N[age]": "S[age] + E[age] + I[age] + H[age] + R[age]",
        "foi[age]": "beta * sum_over(age=j, C[age, age=j] * I[age=j] / N[age=j])",
    },
    "transitions": [
        {
            "name": "birth",
            "from": None,
            "to": "S[age=a0_19]",
            "rate": "b * sum_state()",
        },
        {"name": "infection", "from": "S[age]", "to": "E[age]", "rate": "foi[age]"},
        {"name": "onset", "from": "E[age]", "to": "I[age]", "rate": "sigma"},
        {
            "name": "admission",
            "from": "I[age]",
            "to": "H[age]",
            "rate": "ihr[age] * gamma",
        },
        {
            "name": "recovery",
            "from": "I[age]",
            "to": "R[age]",
            "rate": "(1 - ihr[age]) * gamma",
        },
        {"name": "discharge", "from": "H[age]", "to": "R[age]", "rate": "delta"},
        {"name": "death", "from": "S[age]", "to": None, "rate": "mu[age]"},
        {"name": "death", "from": "E[age]", "to": None, "rate": "mu[age]"},
        {"name": "death", "from": "I[age]", "to": None, "rate": "mu[age]"},
        {
            "name": "death",
            "from": "H[age]",
            "to": None,
            "rate": "mu[age] + cfr * delta",
        },
        {"name": "death", "from": "R[age]", "to": None, "rate": "mu[age]"},
    ],
    "incidence": {"infections": "infection", "admissions": "admission"},
}
PARAMS = {
    "beta": 0.05,
    "sigma": 1 / 3,
    "gamma": 1 / 5,
    "delta": 1 / 7,
    "cfr": 0.1,
    "ihr": np.array([0.002, 0.01, 0.03, 0.12]),
    "b": 1 / (80 * 365),
    "mu": 1 / (80 * 365) * np.array([0.2, 0.5, 1.0, 4.0]),
    "C": CONTACTS,
}


def main() -> int:
    opts = example_parser(__doc__).parse_args()
    days = 182 if opts.quick else 2 * 364
    model = compile_spec(SPEC)
    n_counters = sum(len(cells) for cells in model.incidence_names.values())
    print(f"{len(model.state_names)} states, of which {n_counters} counters:")
    for name, cells in model.incidence_names.items():
        print(f"  {name}: {', '.join(cells)}")
    print(f"{len(model.flow_names)} flows, e.g. {', '.join(model.flow_names[:3])}, ...")

    # by name: every other cell (E, H, R and the counters) starts at 0
    y0 = model.pack(S=POP_COUNTS - SEED_COUNTS, I=SEED_COUNTS)
    f = model.bind(PARAMS)
    flows = model.flows(0.0, y0, **PARAMS)
    if not np.allclose(model.stoichiometry @ flows, f(0.0, y0)):
        print("stoichiometry @ flows differs from dydt")
        return 1

    days_grid = np.arange(0.0, days + 1.0)
    sol = solve(model, y0, days_grid, params=PARAMS, rtol=1e-8, atol=1e-6)
    weekly_infections = model.interval_incidence(sol.y[::7], "infections")
    weekly_admissions = model.interval_incidence(sol.y[::7], "admissions")
    if not np.allclose(
        sol.incidence["infections"][:7].sum(axis=0), weekly_infections[0]
    ):
        print("daily and weekly incidence disagree")
        return 1
    total_inf = sol["infections"][-1].sum()  # the counter: cumulative, by age
    print(
        f"{days} days: {total_inf:,.0f} infections, {sol['admissions'][-1].sum():,.0f} admissions"
    )
    peak = int(np.argmax(weekly_admissions.sum(axis=1)))
    print(f"peak admissions in week {peak + 1}: {weekly_admissions[peak].sum():,.0f}")
    if not np.all(weekly_infections >= -1e-6):
        print("negative weekly incidence")
        return 1

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = np.arange(1, len(weekly_infections) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for k, age in enumerate(AGES):
        axes[0].bar(
            weeks,
            weekly_infections[:, k],
            bottom=weekly_infections[:, :k].sum(axis=1),
            label=age,
        )
        axes[1].bar(
            weeks,
            weekly_admissions[:, k],
            bottom=weekly_admissions[:, :k].sum(axis=1),
            label=age,
        )
    axes[0].set(
        title="Weekly infections (interval_incidence)", xlabel="week", ylabel="count"
    )
    axes[1].set(title="Weekly hospital admissions", xlabel="week", ylabel="count")
    axes[0].legend(title="age")
    fig.tight_layout()
    opts.out.mkdir(parents=True, exist_ok=True)
    path = opts.out / "incidence.png"
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
