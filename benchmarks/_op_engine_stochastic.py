"""op_engine 0.8.0's own eager NumPy fixed-step tau-leaping on the age SEIR.

The model is `models.age_seir(4)`: compartments S, E, I, R by 4 age groups;
an S cell is infected at `beta * (C @ I) / N` (`N` the whole population), onset
happens at `sigma` and recovery at `gamma`. It starts from `round(m.y0)` and runs
100 steps of 0.5.

It is written as op_engine expects a reaction network: a `ModelCore` state of
shape `(compartment, age[, particle])` with the reaction axis on the compartment
axis (`"state"`), a `(4, 3)` stoichiometry (infection S -> E, onset E -> I,
recovery I -> R) and a propensity callback `(t, state) -> (3, age[, particle])`
hazards. `TauLeapingSolver` treats every axis other than the reaction axis as
batch cells. It needs no reactant stoichiometry: only `AdaptiveTauLeapingSolver`
does.

Used: `op_engine.ModelCore` (with `model_core.ModelCoreOptions`) and
`op_engine.TauLeapingSolver.run(..., config=TauLeapingConfig(max_step=0.5))` on
the time grid `[0, 50]`. That is a fixed tau of 0.5, 100 leaps. The solver loop
evaluates the propensities, draws the firing counts, applies
`stoichiometry @ firings` and checks the result for negative cells. Either kind
of firing can drive it:

* `firing="poisson"`: op_engine's own explicit Poisson tau-leap
  (`run(..., rng=Generator)`, which wraps the generator in
  `op_engine.NumpyPoissonSampler`). Poisson counts are not bounded by the source
  cell, so a leap can push E or I below zero. `TauLeapingSolver` then raises
  `RuntimeError`: it does not clamp or retry. At tau = 0.5 this happens in most
  trajectories of this model.
* `firing="binomial"` (the default): the same solver loop with a sampler
  injected through op_engine's `PoissonSampler` protocol (`poisson_sampler=`).
  It draws `Binomial(source, 1 - exp(-hazard * tau / source))`, which is the
  chain-binomial step of `benchmarks/stochastic.py`. op_engine 0.8.0 has no
  binomial firing mode of its own: `firing.FiringRecorder` only records accepted
  SSA firings. The sampler reads the source counts that the propensity callback
  last saw, and `TauLeapingSolver._step` calls the sampler right after that
  callback.

Two runners:

* `make_op_engine_runner` makes one solver run per particle (one trajectory per
  call). Each run has its own generator, from `SeedSequence(seed).spawn`.
* `make_op_engine_batched_runner` makes one solver run for all particles, with
  the particle as a third state axis (one `(3, 4, n)` draw per leap). Here, one
  negative cell in Poisson mode aborts the whole batch. op_engine's other batched
  path, `BatchedDirectSSASolver` / `from_compiled_replicates`, is exact SSA only,
  so it is not used here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any, Literal, cast

import numpy as np

STEPS = 100
DT = 0.5
N_AGE = 4

# (compartment S, E, I, R) x (reaction infection, onset, recovery); reaction j
# consumes compartment j.
_STOICHIOMETRY = np.array(
    [[-1.0, 0.0, 0.0], [1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [0.0, 0.0, 1.0]]
)

Firing = Literal["binomial", "poisson"]
Runner = Callable[[int, int], np.ndarray]


def op_engine_available() -> bool:
    return importlib.util.find_spec("op_engine") is not None


class _Network:
    """The propensity callback, remembering the state it last evaluated."""

    def __init__(self, m: Any) -> None:
        self.beta, self.sigma, self.gamma = (
            float(m.params[k]) for k in ("beta", "sigma", "gamma")
        )
        self.contacts = np.asarray(m.params["C"], dtype=float)
        self.y0 = np.round(m.y0).astype(np.int64).reshape(4, N_AGE).astype(float)
        self.state = self.y0

    def hazards(self, t: float, state: np.ndarray) -> np.ndarray:
        """`(compartment, age, *batch)` state -> `(reaction, age, *batch)` rates."""
        self.state = state
        s, e, i = state[0], state[1], state[2]
        foi = self.beta * np.tensordot(self.contacts, i, axes=(1, 0))
        foi /= state.sum(axis=(0, 1))
        return np.stack([foi * s, self.sigma * e, self.gamma * i])


class _BinomialSampler:
    """A `PoissonSampler` that fires `Binomial(source, 1 - exp(-mean / source))`."""

    def __init__(self, network: _Network, rng: np.random.Generator) -> None:
        self.network, self.rng = network, rng

    def __call__(self, mean: np.ndarray, step_index: int, /) -> np.ndarray:
        source = self.network.state[:3]
        p = -np.expm1(
            -np.divide(mean, source, out=np.zeros_like(mean), where=source > 0)
        )
        return np.asarray(self.rng.binomial(source.astype(np.int64), p))


def _solve(
    net: _Network, y0: np.ndarray, rng: np.random.Generator, firing: Firing
) -> np.ndarray:
    from op_engine import ModelCore, TauLeapingConfig, TauLeapingSolver
    from op_engine.model_core import ModelCoreOptions

    core = ModelCore(
        4,
        N_AGE,
        np.array([0.0, STEPS * DT]),
        options=ModelCoreOptions(other_axes=y0.shape[2:], store_history=False),
    )
    core.set_initial_state(y0)
    solver = TauLeapingSolver(core, _STOICHIOMETRY, reaction_axis="state")
    config = TauLeapingConfig(max_step=DT)
    # op_engine types its callbacks with its own `Array` protocol
    hazards = cast("Any", net.hazards)
    if firing == "poisson":
        solver.run(hazards, config=config, rng=rng)
    else:
        solver.run(hazards, cast("Any", _BinomialSampler(net, rng)), config=config)
    return np.asarray(core.get_current_state())


def make_op_engine_runner(m: Any, firing: Firing = "binomial") -> Runner:
    """m is benchmarks.models.age_seir(4). Returns run(n_particles, seed) -> final
    counts, shape (n_particles, 16) int (one TauLeapingSolver run per particle)."""
    net = _Network(m)

    def run(n_particles: int, seed: int) -> np.ndarray:
        out = np.empty((n_particles, 4 * N_AGE), dtype=np.int64)
        for p, ss in enumerate(np.random.SeedSequence(seed).spawn(n_particles)):
            y = _solve(net, net.y0, np.random.default_rng(ss), firing)
            out[p] = y.reshape(-1)
        return out

    return run


def make_op_engine_batched_runner(m: Any, firing: Firing = "binomial") -> Runner:
    """As `make_op_engine_runner`, all particles in one TauLeapingSolver run."""
    net = _Network(m)

    def run(n_particles: int, seed: int) -> np.ndarray:
        bank = np.repeat(net.y0[:, :, None], n_particles, axis=2)
        y = _solve(net, bank, np.random.default_rng(seed), firing)
        return np.moveaxis(y, 2, 0).reshape(n_particles, -1).astype(np.int64)

    return run
