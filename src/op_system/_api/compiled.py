"""`compile_rhs` and `CompiledRhs`: a `NormalizedRhs` compiled into a fast
`eval_fn(t, y, **params)`, and the object that gives every other view of it.

The compiled function is generated Python source (see `CompiledRhs.source`)
calling the chosen backend's array functions; user text is never evaluated.
`CompiledRhs` is immutable; its methods delegate to the module of their
feature (`_binding`, `_jacobians`, `_flowing`, `_observing`, `_simulation`,
the views).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from .._backends.backend import (
    DEFAULT_ARRAY_BACKEND,
    Backend,
    backend_for_array,
    infer_backend,
    resolve_backend,
)
from .._backends.jacobian import JacobianPlan
from .._backends.precision import require_x64
from .._backends.runtime import build_function, dispatching
from .._core.model import Model
from .._core.rhs import model_of
from .._lower.codegen import lower_model
from .._support.errors import (
    OpSystemError,
    UnsupportedFeatureError,
)
from .._support.gcpause import paused_gc
from . import binding as _binding
from . import flowing as _flowing
from . import jacobians as _jacobians
from . import observing as _observing
from .events import TimedEvents
from .naming import NamedStates
from .normalized import NormalizedRhs, normalize_rhs
from .viewing import ModelViews

__all__ = [
    "DEFAULT_ARRAY_BACKEND",
    "CompiledRhs",
    "EvalFn",
    "compile_rhs",
    "compile_spec",
]


class EvalFn(Protocol):
    """`eval_fn(t, y, **params) -> dydt`: the compiled right-hand side."""

    def __call__(self, t: Any, y: Any, **params: Any) -> Any: ...


class CompiledRhs(NamedStates, TimedEvents, ModelViews):
    """A compiled right-hand side.

    Attributes:
        state_names: Expanded state names (order of `y` and `dydt`).
        param_names: Expanded parameter names accepted by `eval_fn`.
        eval_fn: `eval_fn(t, y, **params) -> dydt`. Indexed parameters (`beta[age]`)
            may be passed as one array (`beta=array_of_shape_(n_age,)`) or as
            expanded scalars (`beta__age_y=...`). Extra keyword arguments are ignored.
        meta: The normalized metadata (axes, kernels, transitions, ...).
        source: The generated Python source of `eval_fn`, for debugging.
        backend: The array backend (`numpy`, `jax`, `auto`, or another namespace).

    !!! example
        ```python
        >>> from op_system import compile_spec
        >>> c = compile_spec({
        ...     "kind": "expr",
        ...     "state": ["S", "I", "R"],
        ...     "aliases": {"N": "S + I + R"},
        ...     "equations": {"S": "-beta*S*I/N", "I": "beta*S*I/N - gamma*I", "R": "gamma*I"},
        ... })
        >>> c.eval_fn(0.0, [999.0, 1.0, 0.0], beta=0.3, gamma=0.1)
        array([-0.2997,  0.1997,  0.1   ])
        >>> c.bind({"beta": 0.3, "gamma": 0.1})(0.0, [999.0, 1.0, 0.0])[2]
        np.float64(0.1)

        ```
    """

    __slots__ = (
        "_cache",
        "_meta",
        "_param_names",
        "_rhs",
        "backend",
        "eval_fn",
        "source",
        "state_names",
    )

    state_names: tuple[str, ...]
    _param_names: tuple[str, ...] | None
    eval_fn: EvalFn
    _meta: Mapping[str, Any] | None
    source: str
    backend: Backend | None
    _rhs: NormalizedRhs | None
    #: generated jvp functions (per backend) and the sparsity pattern, built once
    _cache: dict[str, Any]

    def __init__(
        self,
        state_names: tuple[str, ...],
        param_names: tuple[str, ...] | None,
        eval_fn: EvalFn,
        meta: Mapping[str, Any] | None = None,
        *,
        source: str = "",
        backend: Backend | None = None,
        rhs: NormalizedRhs | None = None,
    ) -> None:
        object.__setattr__(self, "state_names", tuple(state_names))
        object.__setattr__(
            self,
            "_param_names",
            tuple(param_names) if param_names is not None else None,
        )
        object.__setattr__(self, "eval_fn", eval_fn)
        object.__setattr__(self, "_meta", meta)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "backend", backend)
        object.__setattr__(self, "_rhs", rhs)
        object.__setattr__(self, "_cache", {})

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"CompiledRhs is immutable (cannot set {key!r})")

    @property
    def param_names(self) -> tuple[str, ...]:
        if self._param_names is None:
            return self._rhs.param_names if self._rhs is not None else ()
        return self._param_names

    @property
    def meta(self) -> Mapping[str, Any]:
        if self._meta is None:
            return self._rhs.meta if self._rhs is not None else {}
        return self._meta

    @property
    def rhs(self) -> NormalizedRhs | None:
        """The `NormalizedRhs` this was compiled from."""
        return self._rhs

    @property
    def forcing_breakpoints(self) -> tuple[float, ...]:
        """The times where time-varying parameters change regime: the time axis's
        coordinates (empty when no parameter is time-varying).

        Give them to an adaptive solver so it steps onto them instead of through a
        kink, e.g. `diffrax.PIDController(..., jump_ts=compiled.forcing_breakpoints)`,
        or solve with SciPy one interval at a time. A grid passed at call time (under
        the axis's name) replaces these: use that grid then.
        """
        return tuple(self.meta.get("forcing_breakpoints", ()))

    def bind(
        self, params: Mapping[str, object], output: str = "rhs", *, sparse: bool = False
    ) -> Callable[[Any, Any], Any]:
        """Bind parameter values and return a strict two-argument `rhs(t, y) -> dydt`.

        The parameters are read and assembled once, here (a spec written cell by
        cell may have thousands of scalar parameters), not at every call. With
        `output="flows"`, `"rates"` or `"observables"`, the function returns
        `flows(t, y)`, `rates(t, y)` or `observables(t, y)` instead (NumPy, or this
        model's backend when it is JAX or another namespace); with
        `output="propensities"`, the flows with each reaction at its stochastic
        propensity (what `simulate` draws events from). With
        `output="jacobian"` it returns the exact Jacobian `J(t, y)`: a dense
        array, or a SciPy CSR matrix with `sparse=True` (NumPy), as SciPy's
        `solve_ivp(jac=...)` and op_engine's `rhs_jacobian` take it.

        !!! example
            ```python
            >>> import numpy as np
            >>> from op_system import compile_spec
            >>> c = compile_spec({
            ...     "kind": "transitions",
            ...     "state": ["S", "I", "R"],
            ...     "transitions": [
            ...         {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
            ...         {"from": "I", "to": "R", "rate": "gamma"},
            ...     ],
            ... })
            >>> jac = c.bind({"beta": 0.3, "gamma": 0.1}, output="jacobian")
            >>> jac(0.0, np.array([0.9, 0.1, 0.0])).round(3)
            array([[-0.003, -0.243,  0.027],
                   [ 0.003,  0.143, -0.027],
                   [ 0.   ,  0.1  ,  0.   ]])

            ```
        """
        return _binding.bind(self, params, output, sparse=sparse)

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise `ParameterError` listing missing and unexpected parameter names.

        `eval_fn` itself ignores extra keyword arguments (as op-system 0.1.2 did, and
        as flepimop2 engines rely on); call this to catch typos up front.
        """
        return _binding.check_params(self, params)

    def jvp(self, xp: object = None) -> Callable[..., Any]:
        """Exact directional derivative `jvp(t, y, v, **params) = J(t, y) @ v`.

        Generated by differentiating the model's IR (our own rules, vectorized
        like `eval_fn`); not finite differences.
        """
        return _jacobians.jvp(self, xp)

    # -- flows ----------------------------------------------------------------------
    def _flow_model(self, what: str) -> Model:
        return _flowing.flow_model(self, what)

    def _model_of_rhs(self) -> Model:
        assert self._rhs is not None
        return model_of(self._rhs)

    @property
    def flow_names(self) -> tuple[str, ...]:
        """The name of every flow between two state cells, in `flows()` order.

        A named transition (`name: infection`) gives `infection` expanded over the
        transition's axes like a state name (`infection__age_y`); an unnamed one
        gives `source->target` (`I__age_y->R__age_y`). A chain's flows are
        `I1->I2`, ... . Transitions models only.

        !!! example
            ```python
            >>> from op_system import compile_spec
            >>> c = compile_spec({
            ...     "kind": "transitions",
            ...     "axes": [{"name": "age", "coords": ["y", "o"]}],
            ...     "state": ["S[age]", "I[age]", "R[age]"],
            ...     "transitions": [
            ...         {"name": "infection", "from": "S[age]", "to": "I[age]",
            ...          "rate": "beta * I[age] / sum_state()"},
            ...         {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
            ...     ],
            ... })
            >>> c.flow_names
            ('infection__age_y', 'infection__age_o', 'I__age_y->R__age_y', 'I__age_o->R__age_o')

            ```
        """
        return _flowing.flow_names(self)

    def flows(self, t: Any, y: Any, **params: Any) -> Any:
        """Every transition's flow per cell at `(t, y)`: `rate * source`, one entry per
        `flow_names`, so that `dydt == stoichiometry @ flows(t, y, **params)`.

        Generated like `eval_fn` and vectorized the same way, for the namespace of
        `y`: float64 NumPy for NumPy arrays and lists, JAX for JAX arrays and
        tracers (`jax.jit`, `jax.grad` and `jax.vmap` apply). Transitions models
        only.

        !!! example
            ```python
            >>> import numpy as np
            >>> from op_system import compile_spec
            >>> c = compile_spec({
            ...     "kind": "transitions",
            ...     "state": ["S", "I", "R"],
            ...     "transitions": [
            ...         {"name": "infection", "from": "S", "to": "I", "rate": "beta * I / sum_state()"},
            ...         {"name": "recovery", "from": "I", "to": "R", "rate": "gamma"},
            ...     ],
            ... })
            >>> f = c.flows(0.0, [990.0, 10.0, 0.0], beta=0.3, gamma=0.1)
            >>> dict(zip(c.flow_names, f.round(3)))
            {'infection': np.float64(2.97), 'recovery': np.float64(1.0)}
            >>> np.allclose(c.stoichiometry @ f, c.eval_fn(0.0, [990.0, 10.0, 0.0], beta=0.3, gamma=0.1))
            True

            ```
        """
        return _flowing.flows(self, t, y, **params)

    def rates(self, t: Any, y: Any, **params: Any) -> Any:
        """Every flow's rate per cell at `(t, y)`, in `flow_names` order: per capita
        for a transition out of a compartment (so `flows == rates * source`), the
        flow itself for a source (`from: null`). What the stochastic simulators
        draw from. Transitions models only.
        """
        return _flowing.rates(self, t, y, **params)

    def simulate(
        self,
        y0: Any,
        times: Any,
        *,
        method: str = "chain_binomial",
        dt: float | None = None,
        seed: int | np.random.Generator | None = None,
        key: Any = None,
        n: int = 1,
        mesh: Any = None,
        workers: int = 1,
        return_flows: bool = False,
        named: bool = False,
        progress: bool | None = None,
        x64: bool = True,
        **params: Any,
    ) -> Any:
        """Stochastic trajectories of a transitions model: integer counts of shape
        `(n, len(times), n_state)`, the state at each of `times` (`times[0]` is `y0`).
        With `return_flows=True`, a `Simulation(states, flows)`: those counts and
        the interval flows, `(n, len(times) - 1, n_flow)`, how many individuals
        each flow (`flow_names`) moved over each interval `times[i] .. times[i+1]`.

        `method="chain_binomial"`: steps of at most `dt` (each output interval is
        split into equal steps), Euler-multinomial moves with the rates at the
        start of each step (see `_stochastic/laws.py`: the exits of a cell are a
        multinomial draw, sources Poisson). `method="ssa"`: exact simulation, one
        event at a time (Gillespie's direct method; no `dt`). `method="tau_leap"`:
        Poisson counts of every flow over steps of `dt`, or without `dt` of the
        adaptive size of Cao, Gillespie & Petzold (epsilon = 0.03); a step that
        would go negative is halved. `method="gempyor"`: flepiMoP gempyor's step
        (independent binomials per exit, clipped in listed order; biased for
        competing exits). With `key` (a `jax.random` key) it runs
        on JAX, traceable under `jax.jit` and `jax.vmap` (the `n` particles are
        one `vmap`; `mesh=`, a 1-D `jax.sharding.Mesh`, shards them over its
        devices). The JAX run is compiled once per method, `dt`, `n`, mesh and
        shapes and kept with the model: a new key or new parameter values reuse
        it, with no `jax.jit` of your own needed. With `seed` (or a
        `numpy.random.Generator`) it runs on NumPy, each
        trajectory with its own stream (`numpy.random.SeedSequence(seed).spawn`),
        so `workers=k` spreads them over `k` processes with the same result. The
        same seed or key gives the same trajectories. Rates that come out negative are
        taken as 0. `progress`: a tqdm bar over a NumPy run's intervals and a
        one-line note before the JAX run is compiled, on standard error (`True`
        shows them, `False` never; `None`: as the environment variable
        `OP_SYSTEM_PROGRESS` says, else only on a terminal and the bar only
        for runs longer than 2 s; tqdm is optional).

        With `named=True`, a `Trajectories`: the counts by name
        (`traj["I"]` is `(n, len(times), *axes)`), the interval flows,
        `quantiles(q)`, `to_xarray()` (dimensions `trajectory, time, *axes`),
        `to_pandas()` and a fan-chart `plot()`. `y0` may be a mapping of names
        to counts, as `pack` takes it.

        A JAX run needs JAX's float64 (`jax_enable_x64`): without it the rates
        are float32 and the counts int32, and draws above 2**24 come out
        rounded, so it raises `BackendError` unless `x64=False` asks for that.

        !!! example
            ```python
            >>> import numpy as np
            >>> from op_system import compile_spec
            >>> sir = compile_spec({
            ...     "kind": "transitions",
            ...     "state": ["S", "I", "R"],
            ...     "transitions": [
            ...         {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
            ...         {"from": "I", "to": "R", "rate": "gamma"},
            ...     ],
            ... })
            >>> out = sir.simulate(np.array([990, 10, 0]), [0.0, 10.0, 20.0], dt=0.5,
            ...                    seed=1, n=3, beta=0.4, gamma=0.2)
            >>> out.shape, out.dtype, bool((out.sum(axis=2) == 1000).all())
            ((3, 3, 3), dtype('int64'), True)
            >>> sim = sir.simulate(np.array([990, 10, 0]), [0.0, 10.0, 20.0], dt=0.5,
            ...                    seed=1, n=3, return_flows=True, beta=0.4, gamma=0.2)
            >>> sir.flow_names, sim.flows.shape
            (('S->I', 'I->R'), (3, 2, 2))
            >>> bool((sim.states[:, 1:, 2] - sim.states[:, :-1, 2]
            ...       == sim.flows[:, :, 1]).all())
            True

            ```
        """
        from .._stochastic.simulation import simulate

        if key is not None:
            require_x64(self, "simulate(key=...)", x64)
        if isinstance(y0, Mapping):  # named counts, as `pack` takes them
            y0 = self.pack(y0)
        states, flows = simulate(
            self,
            y0,
            times,
            method,
            dt,
            seed,
            key,
            n,
            mesh,
            workers,
            params,
            progress=progress,
        )
        if named:
            from .._results.trajectories import Trajectories

            return Trajectories(self, times, states, flows)
        if return_flows:
            from .._stochastic.simulators import Simulation

            return Simulation(states, flows)
        return states

    def particle_filter(
        self,
        y0: Any,
        times: Any,
        data: Any,
        *,
        key: Any,
        counter: str | None = None,
        states: Sequence[str] | None = None,
        observation: str = "poisson",
        reporting: Any = 1.0,
        concentration: Any = None,
        method: str = "chain_binomial",
        dt: float | None = None,
        n_particles: int = 1000,
        progress: bool | None = None,
        x64: bool = True,
        **params: Any,
    ) -> Any:
        """Log-likelihood of count data under the stochastic model, by a bootstrap
        particle filter (JAX; usable inside `jax.jit` or as a `numpyro.factor`).

        `data[i]` is observed over `times[i] .. times[i+1]` (`len(times) - 1` rows):
        the interval incidence of the incidence counter `counter` (its increase,
        one column per cell, or their sum for 1-D data), or the prevalence of the
        expanded `states` at `times[i+1]`. `observation` is `poisson` or
        `negative_binomial` (mean `reporting * x`, `concentration`) or `binomial`
        (each of `x` reported with probability `reporting`). The particles move by
        `method` (as in `simulate`), are weighted by the observation model and
        resampled systematically. Returns a `FilterResult(log_likelihood, ess)`.
        The filter is compiled once per observation law, method, `dt`,
        `n_particles`, measured cells and shapes, and kept with the model: a new
        key, new parameter values or new data reuse it (`progress` as in
        `simulate`: a note before it is compiled). As `simulate` on JAX, it
        needs JAX's float64 unless `x64=False`.
        """
        from .._stochastic.simulation import particle_filter

        require_x64(self, "particle_filter()", x64)
        return particle_filter(
            self,
            y0,
            times,
            data,
            key=key,
            counter=counter,
            states=states,
            observation=observation,
            reporting=reporting,
            concentration=concentration,
            method=method,
            dt=dt,
            n_particles=n_particles,
            params=params,
            progress=progress,
        )

    def _backend_for(self, y: Any) -> Backend:
        """This model's backend when it is JAX or another namespace; else chosen by
        `y` (NumPy for NumPy arrays and lists, JAX for JAX arrays and tracers)."""
        if self.backend is not None and self.backend.name not in ("auto", "numpy"):
            return self.backend
        return backend_for_array(y)

    def _output_fn(self, output: str, be: Backend) -> Any:
        """The generated `flows`, `rates` or `observables` function for backend `be`."""
        return _observing.output_fn(self, output, be)

    # -- observables ---------------------------------------------------------------
    @property
    def observable_names(self) -> tuple[str, ...]:
        """The expanded name of every observable cell, in `observables()` order
        (`hosp__age_y` for `hosp[age]`); `()` when the spec has no observables."""
        return _observing.observable_names(self)

    @property
    def observable_param_names(self) -> tuple[str, ...]:
        """Parameters only the observables read (not in `param_names`): what
        `observables()` needs besides the model's parameters."""
        return _observing.observable_param_names(self)

    def observables(self, t: Any, y: Any, **params: Any) -> Any:
        """Every observable cell at `(t, y)`, one entry per `observable_names`.

        Generated like `eval_fn` (and in the namespace of `y`: NumPy, or JAX under
        `jax.jit` / `vmap` / `grad`). The parameters are the model's and those the
        observables read (`observable_param_names`).

        !!! example
            ```python
            >>> from op_system import compile_spec
            >>> c = compile_spec({
            ...     "kind": "transitions",
            ...     "state": ["S", "I", "R"],
            ...     "transitions": [
            ...         {"name": "infection", "from": "S", "to": "I", "rate": "beta * I / sum_state()"},
            ...         {"name": "recovery", "from": "I", "to": "R", "rate": "gamma"},
            ...     ],
            ...     "observables": {"admissions": "ihr * infection", "prevalence": "I / sum_state()"},
            ... })
            >>> c.observable_names, c.observable_param_names
            (('admissions', 'prevalence'), ('ihr',))
            >>> c.observables(0.0, [990.0, 10.0, 0.0], beta=0.3, gamma=0.1, ihr=0.02).round(4)
            array([0.0594, 0.01  ])

            ```
        """
        return _observing.observables(self, t, y, **params)

    def observe(self, ts: Any, ys: Any, **params: Any) -> Any:
        """The observables over a whole solution: `ys` of shape `(n_times, n_state)`
        at times `ts` gives `(n_times, n_observables)`.

        On JAX one `jax.vmap` of `observables` (traceable: jit it, or differentiate
        a loss through it); on NumPy one call of `observables` per time.
        """
        return _observing.observe(self, ts, ys, **params)

    @property
    def stoichiometry(self) -> Any:
        """The stoichiometry matrix, states × flows, as a SciPy CSR matrix: -1 where a
        flow leaves a state, +1 where it arrives, so `dydt == stoichiometry @ flows`.

        (`stoichiometry.toarray()` for a dense array.) Transitions models only; needs
        SciPy (the `[scipy]` extra).
        """
        return _flowing.stoichiometry(self)

    # -- incidence ------------------------------------------------------------------
    @property
    def incidence_names(self) -> dict[str, tuple[str, ...]]:
        """Each incidence counter (`incidence:` in the spec) and its state cells.

        A counter accumulates the flows of the transitions it lists, from 0, so one
        solve gives cumulative incidence; `interval_incidence` turns a saved
        solution into counts per output interval.
        """
        return _flowing.incidence_names(self)

    def interval_incidence(self, ys: Any, counter: str | None = None) -> Any:
        """Counts per output interval from a solution `ys` of shape `(T, n_state)`:
        `ys[1:] - ys[:-1]` at the incidence counters' columns, shape
        `(T - 1, cells)` (the cells of `counter`, or of every counter in
        `incidence_names` order). NumPy or JAX arrays (`jax.jit` applies).

        !!! example
            ```python
            >>> import numpy as np
            >>> from op_system import compile_spec
            >>> c = compile_spec({
            ...     "kind": "transitions",
            ...     "state": ["S", "I", "R"],
            ...     "transitions": [
            ...         {"name": "infection", "from": "S", "to": "I", "rate": "beta * I / sum_state()"},
            ...         {"name": "recovery", "from": "I", "to": "R", "rate": "gamma"},
            ...     ],
            ...     "incidence": {"cases": "infection"},
            ... })
            >>> c.state_names
            ('S', 'I', 'R', 'cases')
            >>> ys = np.array([[990.0, 10.0, 0.0, 0.0], [985.0, 13.0, 2.0, 5.0], [977.0, 18.0, 5.0, 13.0]])
            >>> c.interval_incidence(ys)
            array([[5.],
                   [8.]])

            ```
        """
        return _flowing.interval_incidence(self, ys, counter)

    def _sparsity(self) -> tuple[Any, Any]:
        """`(rows, cols)` of the Jacobian's structural non-zeros, computed once."""
        return _jacobians.sparsity(self)

    def jacobian(
        self, xp: object = None, *, sparse: bool = False
    ) -> Callable[..., Any]:
        """Exact Jacobian `J(t, y, **params)` of `dydt` w.r.t. `y`.

        Derived from the IR: the structural sparsity pattern (`jac_sparsity`) is
        colored so that columns that share no row are probed together, and one
        generated program computes the exact jvp of every color at once
        (vectorized over the colors). Returns a dense `(n, n)` array, or a SciPy
        CSR matrix with `sparse=True` (NumPy backend). Works under `jax.jit` on
        JAX. `bind(params, output="jacobian")` reads the parameters once.
        """
        return _jacobians.jacobian(self, xp, sparse=sparse)

    def _jacobian_plan(self) -> JacobianPlan:
        """The Jacobian's pattern, coloring and (NumPy) batched program, built once."""
        return _jacobians.jacobian_plan(self)

    @property
    def jac_sparsity(self) -> Any:
        """Structural sparsity of the Jacobian as a SciPy CSR matrix of ones.

        Computed from which states each equation reads (a superset of the
        numerical non-zeros); pass it to `scipy.integrate.solve_ivp(jac_sparsity=...)`.
        """
        return _jacobians.jac_sparsity(self)

    def vector_field(
        self, t: Any, y: Any, args: Mapping[str, Any] | None = None
    ) -> Any:
        """diffrax-style vector field `f(t, y, args)` with `args` a dict of parameters.

        `diffrax.ODETerm(compiled.vector_field)` works directly.
        """
        return self.eval_fn(t, y, **(args or {}))

    def __repr__(self) -> str:
        be = self.backend.name if self.backend is not None else "?"
        return f"CompiledRhs(n_state={len(self.state_names)}, n_params={len(self.param_names)}, backend={be!r})"

    # Compiled objects are static structure under jax.jit: hash and compare by identity.
    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the `NormalizedRhs` and the backend name; compiled again on load.

        The generated `eval_fn` cannot be pickled; the `NormalizedRhs` pickles as its
        spec, and the backend as `"numpy"`, `"jax"`, `"auto"` or the module name of
        another Array-API namespace (imported again on load). A `CompiledRhs`
        constructed by hand pickles its arguments (its `eval_fn` must be picklable).
        """
        if self._rhs is None:
            return (
                _unpickle_by_hand,
                (
                    self.state_names,
                    self._param_names,
                    self.eval_fn,
                    self._meta,
                    self.source,
                    _backend_token(self.backend),
                ),
            )
        return (_unpickle_compiled, (self._rhs, _backend_token(self.backend)))


def _backend_token(be: Backend | None) -> object:
    """What `resolve_backend` needs to find `be` again in another process."""
    if be is None or be.infer:
        return None  # the default (`compile_rhs(rhs)`) is rebuilt as the default
    if be.name in ("numpy", "jax", "auto"):
        return be.name
    import sys

    name = getattr(be.xp, "__name__", None)
    if isinstance(name, str) and sys.modules.get(name) is be.xp:
        return ("module", name)
    return be.xp  # a namespace object that is not a module: pickled as it is


def _resolve_token(token: object) -> object:
    if isinstance(token, tuple) and len(token) == 2 and token[0] == "module":
        import importlib

        return importlib.import_module(token[1])
    return token


def _unpickle_compiled(rhs: NormalizedRhs, token: object) -> CompiledRhs:
    return compile_rhs(rhs, _resolve_token(token))


def _unpickle_by_hand(
    state_names: tuple[str, ...],
    param_names: tuple[str, ...] | None,
    eval_fn: EvalFn,
    meta: Mapping[str, Any] | None,
    source: str,
    token: object,
) -> CompiledRhs:
    be = resolve_backend(_resolve_token(token)) if token is not None else None
    return CompiledRhs(
        state_names, param_names, eval_fn, meta, source=source, backend=be
    )


@paused_gc
def compile_rhs(
    rhs: NormalizedRhs, xp: object = None, *, backend: str | None = None
) -> CompiledRhs:
    """Compile a `NormalizedRhs` into `CompiledRhs` with `eval_fn(t, y, **params)`.

    Arguments:
        rhs: The output of `normalize_rhs`.
        xp: Array namespace: a module (`numpy`, `jax.numpy`, any Array-API
            namespace) or a name (`"numpy"`, `"jax"`, `"auto"`). `np.<fn>` in
            expressions calls `xp.<fn>`. `"auto"` picks the namespace of `y` at
            call time. Default: NumPy, returning float64 like op-system 0.1.2.
        backend: `"numpy"` or `"jax"` (alternative spelling of `xp`).

    Raises `ExpressionError` (a `ValueError`) for constructs outside the
    expression language, naming the spec path and the token.
    """
    if rhs.kind not in ("expr", "transitions"):
        raise UnsupportedFeatureError(
            f"Feature 'rhs.kind={rhs.kind}' is not supported. Detail: Only 'expr' and 'transitions' are supported in v1.",
            path="kind",
        )
    be = resolve_backend(xp, backend)
    model = model_of(rhs)
    if xp is None and backend is None:
        eval_fn, source = dispatching(model)
        return CompiledRhs(
            rhs.state_names,
            None if rhs._model is not None else rhs.param_names,
            eval_fn,
            None if rhs._model is not None else rhs.meta,
            source=source,
            backend=infer_backend(),
            rhs=rhs,
        )
    lowered = lower_model(model, be.name)
    if be.name == "auto":
        cache: dict[str, Callable[..., Any]] = {}

        def eval_fn(t: Any, y: Any, **params: Any) -> Any:
            b = backend_for_array(y)
            fn = cache.get(b.name)
            if fn is None:
                fn = cache[b.name] = build_function(lowered, model, b, force_f64=False)
            return fn(t, y, **params)

    else:
        eval_fn = build_function(lowered, model, be, force_f64=be.is_numpy)
    return CompiledRhs(
        rhs.state_names,
        None if rhs._model is not None else rhs.param_names,
        eval_fn,
        None if rhs._model is not None else rhs.meta,
        source=lowered.source,
        backend=be,
        rhs=rhs,
    )


@paused_gc  # one pause for both stages: their objects are scanned once, after
def compile_spec(
    spec: dict[str, Any], xp: object = None, *, backend: str | None = None
) -> CompiledRhs:
    """Validate, normalize and compile a spec in one call.

    Arguments:
        spec: The model spec (see the spec language reference).
        xp: Array namespace or its name (`"numpy"`, `"jax"`, `"auto"`); default NumPy.
        backend: `"numpy"` or `"jax"` (alternative spelling of `xp`).

    Returns:
        A `CompiledRhs` whose `eval_fn(t, y, **params)` returns `dydt`.
    """
    rhs = normalize_rhs(spec)
    try:
        return compile_rhs(rhs, xp, backend=backend)
    except OpSystemError as exc:
        from .._spec.io import SpecDict, annotate

        if isinstance(spec, SpecDict):  # loaded from a file: say where
            raise annotate(exc, spec) from None
        raise
