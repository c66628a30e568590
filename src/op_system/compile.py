"""Compile a `NormalizedRhs` into a fast `eval_fn(t, y, **params)` (public module).

The compiled function is generated Python source (see `CompiledRhs.source`)
calling the chosen backend's array functions; user text is never evaluated.
"""

from __future__ import annotations

import functools
import linecache
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

import numpy as np

from . import _timevarying
from ._backend import (
    DEFAULT_ARRAY_BACKEND,
    Backend,
    backend_for_array,
    infer_backend,
    not_numpy,
    resolve_backend,
)
from ._batch import runtime as _batch_runtime
from ._codegen import lower_model
from ._errors import (
    ExpressionError,
    ParameterError,
    StateShapeError,
    UnsupportedFeatureError,
    did_you_mean,
)
from ._gcpause import paused_gc
from ._jacobian import JacobianPlan, color_columns
from ._lower import Lowered
from ._model import Model, cell_names, flat_index
from .specs import NormalizedRhs, model_of

__all__ = ["DEFAULT_ARRAY_BACKEND", "CompiledRhs", "EvalFn", "compile_rhs"]


class EvalFn(Protocol):
    """`eval_fn(t, y, **params) -> dydt`: the compiled right-hand side."""

    def __call__(self, t: Any, y: Any, **params: Any) -> Any: ...


class CompiledRhs:
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
        model's backend when it is JAX or another namespace). With
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
        params_dict = dict(params)
        if output == "jacobian":
            return self._bound_jacobian(params_dict, sparse)
        if output != "rhs":
            if output not in ("flows", "rates", "observables"):
                raise ValueError(
                    "output must be 'rhs', 'flows', 'rates', 'observables' or "
                    f"'jacobian', got {output!r}"
                )
            be = self._backend_for(np.zeros(1))
            fn = self._output_fn(output, be)
            prep_o, core_o = fn.split()
            bound_o = prep_o(params_dict)

            def out_bound(t: Any, y: Any) -> Any:
                return core_o(t, y, *bound_o)

            return out_bound
        eval_fn = self.eval_fn
        split = getattr(eval_fn, "split", None)
        if split is None:

            def rhs(t: Any, y: Any) -> Any:
                return eval_fn(t, y, **params_dict)

            return rhs
        prep, core = split()
        bound = prep(params_dict)
        if self.backend is not None and self.backend.infer:
            ndarray = np.ndarray

            def rhs_default(t: Any, y: Any) -> Any:
                if y.__class__ is ndarray or not not_numpy(y):
                    return core(t, y, *bound)
                return eval_fn(t, y, **params_dict)  # a JAX array: the traced path

            return rhs_default

        def rhs_bound(t: Any, y: Any) -> Any:
            return core(t, y, *bound)

        return rhs_bound

    def _bound_jacobian(
        self, params: dict[str, Any], sparse: bool
    ) -> Callable[[Any, Any], Any]:
        if self._rhs is None:
            raise ValueError(
                "a bound Jacobian needs a CompiledRhs built by compile_rhs"
            )
        be = self._jac_backend(None)
        if be.is_jax:
            jac_jax = self._jax_jacobian(be)
            return lambda t, y: jac_jax(t, y, **params)
        plan = self._jacobian_plan()
        split = getattr(plan.batched, "split", None)
        if split is None:  # no batched program: the colors one by one
            jac = plan.function(sparse)
            return lambda t, y: jac(t, y, **params)
        prep, core = split()
        return plan.bound(core, prep(params), sparse)

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise `ParameterError` listing missing and unexpected parameter names.

        `eval_fn` itself ignores extra keyword arguments (as op-system 0.1.2 did, and
        as flepimop2 engines rely on); call this to catch typos up front.
        """
        model = self._rhs._model if self._rhs is not None else None
        expected = set(self.param_names)
        bases = (
            {p.base for p in model.params.values() if p.array_ok}
            if model is not None
            else set()
        )
        given = set(params)
        missing = []
        if model is not None:
            for p in model.params.values():
                if p.base in given and (p.array_ok or not p.axes):
                    continue
                if not all(n in given for n in p.used_names()):
                    missing.append(p.key)
        else:
            missing = sorted(expected - given)
        unexpected = sorted(given - expected - bases)
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing parameter(s): {missing}")
            if unexpected:
                hints = "".join(
                    did_you_mean(u, sorted(expected | bases)) for u in unexpected[:1]
                )
                parts.append(f"unexpected parameter(s): {unexpected}{hints}")
            raise ParameterError(
                "; ".join(parts), path="params", token=(missing or unexpected)[0]
            )

    def jvp(self, xp: object = None) -> Callable[..., Any]:
        """Exact directional derivative `jvp(t, y, v, **params) = J(t, y) @ v`.

        Generated by differentiating the model's IR (our own rules, vectorized
        like `eval_fn`); not finite differences.
        """
        if self._rhs is None:
            raise ValueError("jvp() needs a CompiledRhs built by compile_rhs")
        be = self._jac_backend(xp)
        key = f"jvp:{be.name}"
        cached = self._cache.get(key)
        if cached is not None:
            return cast("Callable[..., Any]", cached)
        model = self._model_of_rhs()
        lowered = lower_model(model, be.name, mode="jvp")
        fn = _build_function(lowered, model, be, force_f64=be.is_numpy, name="jvp")
        self._cache[key] = fn
        return fn

    # -- flows ----------------------------------------------------------------------
    def _flow_model(self, what: str) -> Model:
        if self._rhs is None:
            raise ValueError(f"{what} needs a CompiledRhs built by compile_rhs")
        model = self._model_of_rhs()
        if model.kind != "transitions":
            raise UnsupportedFeatureError(
                f"{what} is defined for transitions models, where every term of dydt "
                f"is a flow between states; this model is kind={model.kind!r}, whose "
                "equations are not split into flows",
                path="kind",
                token=model.kind,
            )
        return model

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
        got = self._cache.get("flow_names")
        if got is None:
            from ._cells import flow_names

            got = self._cache["flow_names"] = flow_names(self._flow_model("flow_names"))
        return cast("tuple[str, ...]", got)

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
        be = self._backend_for(y)
        return self._output_fn("flows", be)(t, y, **params)

    def rates(self, t: Any, y: Any, **params: Any) -> Any:
        """Every flow's rate per cell at `(t, y)`, in `flow_names` order: per capita
        for a transition out of a compartment (so `flows == rates * source`), the
        flow itself for a source (`from: null`). What the stochastic simulators
        draw from. Transitions models only.
        """
        be = self._backend_for(y)
        return self._output_fn("rates", be)(t, y, **params)

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
        **params: Any,
    ) -> Any:
        """Stochastic trajectories of a transitions model: integer counts of shape
        `(n, len(times), n_state)`, the state at each of `times` (`times[0]` is `y0`).
        With `return_flows=True`, a `Simulation(states, flows)`: those counts and
        the interval flows, `(n, len(times) - 1, n_flow)`, how many individuals
        each flow (`flow_names`) moved over each interval `times[i] .. times[i+1]`.

        `method="chain_binomial"`: steps of at most `dt` (each output interval is
        split into equal steps), Euler-multinomial moves with the rates at the
        start of each step (see `_stochastic.py`: the exits of a cell are a
        multinomial draw, sources Poisson). `method="ssa"`: exact simulation, one
        event at a time (Gillespie's direct method; no `dt`). `method="tau_leap"`:
        Poisson counts of every flow over steps of `dt`, or without `dt` of the
        adaptive size of Cao, Gillespie & Petzold (epsilon = 0.03); a step that
        would go negative is halved. `method="gempyor"`: flepiMoP gempyor's step
        (independent binomials per exit, clipped in listed order; biased for
        competing exits). With `key` (a `jax.random` key) it runs
        on JAX, traceable under `jax.jit` and `jax.vmap` (the `n` particles are
        one `vmap`; `mesh=`, a 1-D `jax.sharding.Mesh`, shards them over its
        devices); with `seed` (or a `numpy.random.Generator`) on NumPy, each
        trajectory with its own stream (`numpy.random.SeedSequence(seed).spawn`),
        so `workers=k` spreads them over `k` processes with the same result. The
        same seed or key gives the same trajectories. Rates that come out negative are
        taken as 0.

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
        states, flows = self._simulate(
            y0, times, method, dt, seed, key, n, mesh, workers, params
        )
        if return_flows:
            from ._stochastic import Simulation

            return Simulation(states, flows)
        return states

    def _simulate(
        self,
        y0: Any,
        times: Any,
        method: str,
        dt: float | None,
        seed: int | np.random.Generator | None,
        key: Any,
        n: int,
        mesh: Any,
        workers: int,
        params: Mapping[str, Any],
    ) -> tuple[Any, Any]:
        from . import _stochastic

        t_host, y_int = self._stochastic_inputs(
            "simulate()", method, dt, times, y0, min_times=1
        )
        if key is not None:
            import jax.numpy as jnp

            advance = self._jax_advance(method, dt, t_host, params)
            return _stochastic.run_jax(  # type: ignore[no-any-return]
                advance, jnp.asarray(y_int), t_host, key, int(n), mesh
            )
        if isinstance(seed, np.random.Generator):
            if workers > 1:
                raise ValueError("workers > 1 needs an integer seed, not a Generator")
            rngs = [seed] * int(n)  # one stream, trajectory after trajectory
        else:
            # one independent stream per trajectory: the same trajectories whatever
            # the number of worker processes
            children = np.random.SeedSequence(seed).spawn(int(n))
            if workers > 1:
                return _simulate_in_processes(
                    self, y_int, t_host, method, dt, children, params, workers
                )
            rngs = [np.random.default_rng(c) for c in children]
        return self._simulate_numpy(y_int, t_host, method, dt, rngs, params)

    def _simulate_numpy(
        self,
        y0: np.ndarray,
        times: np.ndarray,
        method: str,
        dt: float | None,
        rngs: list[np.random.Generator],
        params: Mapping[str, Any],
    ) -> tuple[np.ndarray, np.ndarray]:
        from . import _stochastic

        plan = self._stochastic_plan()
        advance = _stochastic.advance_numpy(
            plan,
            method,
            self.bind(params, output="rates"),
            self.bind(params, output="flows"),
            dt,
            _stochastic.n_steps(times, dt),
        )
        return _stochastic.run_numpy(advance, plan, y0, times, rngs)

    def _stochastic_plan(self) -> Any:
        from . import _stochastic

        plan = self._cache.get("step_plan")
        if plan is None:
            model = self._flow_model("simulate()")
            plan = self._cache["step_plan"] = _stochastic.step_plan(model)
        return plan

    def _stochastic_inputs(
        self,
        what: str,
        method: str,
        dt: float | None,
        times: Any,
        y0: Any,
        *,
        min_times: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Check the arguments `simulate` and `particle_filter` share; return the
        time grid (float64) and the initial counts (int64)."""
        from . import _stochastic

        if method not in _stochastic.METHODS:
            raise ValueError(
                f"method must be one of {list(_stochastic.METHODS)}, got {method!r}"
                f"{did_you_mean(str(method), _stochastic.METHODS)}"
            )
        if method not in ("ssa", "tau_leap") and (dt is None or not dt > 0):
            raise ValueError(f"method {method!r} needs a step dt > 0, got {dt!r}")
        if dt is not None and not dt > 0:
            raise ValueError(f"dt must be > 0, got {dt!r}")
        model = self._flow_model("simulate()")
        t_host = np.asarray(times, dtype=np.float64)
        if t_host.ndim != 1 or t_host.size < min_times or np.any(np.diff(t_host) <= 0):
            raise ValueError(
                f"times must be a strictly increasing 1-D grid of at least {min_times} "
                f"time(s), got {t_host!r}"
            )
        y_host = np.asarray(y0)
        if y_host.shape != (model.n_state,):
            raise StateShapeError(
                f"y0 must have shape ({model.n_state},), got {y_host.shape}"
            )
        if not (
            np.all(y_host >= 0)
            and np.all(np.asarray(y_host, dtype=np.float64) % 1 == 0)
        ):
            raise ValueError("y0 must hold non-negative integer counts")
        return t_host, y_host.astype(np.int64)

    def _jax_advance(
        self,
        method: str,
        dt: float | None,
        times: np.ndarray,
        params: Mapping[str, Any],
    ) -> Any:
        """`advance(key, y, t0, t1)` of `method` on JAX, with `params` bound (steps of
        at most `dt` over the intervals of `times`)."""
        from . import _stochastic

        be = (
            self.backend
            if self.backend is not None and self.backend.is_jax
            else resolve_backend(backend="jax")
        )
        rates, flows = (self._output_fn(o, be) for o in ("rates", "flows"))
        return _stochastic.advance_jax(
            self._stochastic_plan(),
            method,
            lambda t, y: rates(t, y, **params),
            lambda t, y: flows(t, y, **params),
            dt,
            _stochastic.n_steps(times, dt),
        )

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
        **params: Any,
    ) -> Any:
        """Log-likelihood of count data under the stochastic model, by a bootstrap
        particle filter (JAX; jit it, or use it as a `numpyro.factor`).

        `data[i]` is observed over `times[i] .. times[i+1]` (`len(times) - 1` rows):
        the interval incidence of the incidence counter `counter` (its increase,
        one column per cell, or their sum for 1-D data), or the prevalence of the
        expanded `states` at `times[i+1]`. `observation` is `poisson` or
        `negative_binomial` (mean `reporting * x`, `concentration`) or `binomial`
        (each of `x` reported with probability `reporting`). The particles move by
        `method` (as in `simulate`), are weighted by the observation model and
        resampled systematically. Returns a `FilterResult(log_likelihood, ess)`.
        """
        import jax.numpy as jnp

        from . import _filter

        if observation not in _filter.OBSERVATIONS:
            raise ValueError(
                f"observation must be one of {list(_filter.OBSERVATIONS)}, got "
                f"{observation!r}{did_you_mean(str(observation), _filter.OBSERVATIONS)}"
            )
        if observation == "negative_binomial" and concentration is None:
            raise ValueError("observation='negative_binomial' needs a concentration")
        if (counter is None) == (states is None):
            raise ValueError("give exactly one of counter= (incidence) or states=")
        t_host, y_host = self._stochastic_inputs(
            "particle_filter()", method, dt, times, y0, min_times=2
        )
        if counter is not None:
            names = self.incidence_names
            if counter not in names:
                raise ValueError(
                    f"no incidence counter {counter!r}{did_you_mean(counter, names)} "
                    f"(counters: {sorted(names)})"
                )
            cells = names[counter]
        else:
            assert states is not None
            cells = tuple(states)
        index = {name: i for i, name in enumerate(self.state_names)}
        missing = [c for c in cells if c not in index]
        if missing:
            raise ValueError(
                f"unknown state {missing[0]!r}{did_you_mean(missing[0], index)}"
            )
        idx = jnp.asarray([index[c] for c in cells])
        d = jnp.asarray(data)
        if (
            d.shape[0] != t_host.size - 1
            or d.ndim > 2
            or (d.ndim == 2 and d.shape[1] != len(cells))
        ):
            raise ValueError(
                f"data must have {t_host.size - 1} rows (one per interval) and 1 or "
                f"{len(cells)} columns, got shape {tuple(d.shape)}"
            )
        total = d.ndim == 1

        def measure(prev: Any, new: Any) -> Any:
            x = new[idx] - prev[idx] if counter is not None else new[idx]
            return jnp.sum(x, keepdims=True) if total else x

        advance = self._jax_advance(method, dt, t_host, params)
        y_int = jnp.asarray(y_host)
        data_2d = d[:, None] if total else d
        return _filter.run_filter(
            advance,
            measure,
            y_int,
            t_host,
            data_2d,
            key,
            int(n_particles),
            lambda dd, x: _filter.log_density(
                observation, dd, x, reporting, concentration
            ),
        )

    def _backend_for(self, y: Any) -> Backend:
        """This model's backend when it is JAX or another namespace; else chosen by
        `y` (NumPy for NumPy arrays and lists, JAX for JAX arrays and tracers)."""
        if self.backend is not None and self.backend.name not in ("auto", "numpy"):
            return self.backend
        return backend_for_array(y)

    def _output_fn(self, output: str, be: Backend) -> Any:
        """The generated `flows`, `rates` or `observables` function for backend `be`."""
        key = f"{output}:{be.name}"
        fn = self._cache.get(key)
        if fn is None:
            model = (
                self._observed()
                if output == "observables"
                else self._flow_model(f"{output}()")
            )
            lowered = lower_model(model, be.name, mode=output)
            fn = self._cache[key] = _build_function(
                lowered, model, be, force_f64=be.is_numpy, name=output
            )
        return fn

    # -- observables ---------------------------------------------------------------
    def _observed(self) -> Model:
        if self._rhs is None:
            raise ValueError("observables need a CompiledRhs built by compile_rhs")
        observed = self._model_of_rhs().observed
        if observed is None:
            raise UnsupportedFeatureError(
                "this model has no observables; add an `observables:` mapping of "
                "name -> expression to the spec",
                path="observables",
                token="observables",
            )
        return observed

    @property
    def observable_names(self) -> tuple[str, ...]:
        """The expanded name of every observable cell, in `observables()` order
        (`hosp__age_y` for `hosp[age]`); `()` when the spec has no observables."""
        got = self._cache.get("observable_names")
        if got is None:
            model = self._model_of_rhs() if self._rhs is not None else None
            observed = model.observed if model is not None else None
            got = self._cache["observable_names"] = (
                ()
                if observed is None
                else tuple(
                    n for o in observed.observables for n in cell_names(o.base, o.axes)
                )
            )
        return cast("tuple[str, ...]", got)

    @property
    def observable_param_names(self) -> tuple[str, ...]:
        """Parameters only the observables read (not in `param_names`): what
        `observables()` needs besides the model's parameters."""
        observed = self._observed()
        own = set(self.param_names)
        return tuple(
            sorted(
                n
                for p in observed.params.values()
                for n in p.used_names()
                if n not in own
            )
        )

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
        be = self._backend_for(y)
        return self._output_fn("observables", be)(t, y, **params)

    def observe(self, ts: Any, ys: Any, **params: Any) -> Any:
        """The observables over a whole solution: `ys` of shape `(n_times, n_state)`
        at times `ts` gives `(n_times, n_observables)`.

        On JAX one `jax.vmap` of `observables` (traceable: jit it, or differentiate
        a loss through it); on NumPy one call of `observables` per time.
        """
        be = self._backend_for(ys)
        if be.is_jax:
            import jax

            return jax.vmap(lambda t, y: self.observables(t, y, **params))(ts, ys)
        ys = np.asarray(ys, dtype=np.float64)
        ts = np.broadcast_to(np.asarray(ts, dtype=np.float64), ys.shape[:1])
        if ys.ndim != 2 or ys.shape[1] != len(self.state_names):
            raise StateShapeError(
                f"observe needs ys of shape (n_times, {len(self.state_names)}), got "
                f"{ys.shape}"
            )
        f = self.bind(params, output="observables")  # parameters read once
        out = np.empty((ys.shape[0], len(self.observable_names)))
        for k in range(ys.shape[0]):
            out[k] = f(ts[k], ys[k])
        return out

    @property
    def stoichiometry(self) -> Any:
        """The stoichiometry matrix, states × flows, as a SciPy CSR matrix: -1 where a
        flow leaves a state, +1 where it arrives, so `dydt == stoichiometry @ flows`.

        (`stoichiometry.toarray()` for a dense array.) Transitions models only; needs
        SciPy (the `[scipy]` extra).
        """
        got = self._cache.get("stoichiometry")
        if got is None:
            from scipy.sparse import csr_matrix

            from ._cells import stoichiometry_entries

            model = self._flow_model("stoichiometry")
            rows, cols, vals = stoichiometry_entries(model)
            shape = (model.n_state, len(self.flow_names))
            got = self._cache["stoichiometry"] = csr_matrix(
                (vals, (rows, cols)), shape=shape
            )
        return got

    # -- incidence ------------------------------------------------------------------
    @property
    def incidence_names(self) -> dict[str, tuple[str, ...]]:
        """Each incidence counter (`incidence:` in the spec) and its state cells.

        A counter accumulates the flows of the transitions it lists, from 0, so one
        solve gives cumulative incidence; `interval_incidence` turns a saved
        solution into counts per output interval.
        """
        model = self._model_of_rhs() if self._rhs is not None else None
        if model is None:
            return {}
        return {c.block.base: tuple(c.block.names()) for c in model.counters}

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
        names = self.incidence_names
        if not names:
            raise UnsupportedFeatureError(
                "interval_incidence needs incidence counters: add `incidence: "
                "{name: [transition names]}` to the spec",
                path="incidence",
            )
        if counter is not None and counter not in names:
            from ._errors import SpecError, did_you_mean

            raise SpecError(
                f"no incidence counter {counter!r}{did_you_mean(counter, names)};"
                f" the spec's counters are {sorted(names)}",
                path="incidence",
                token=counter,
            )
        index = {n: i for i, n in enumerate(self.state_names)}
        picked = names[counter] if counter is not None else sum(names.values(), ())
        # counters are appended after the states, each block's cells in order
        lo, hi = index[picked[0]], index[picked[-1]] + 1
        block = ys[..., lo:hi]
        return block[1:] - block[:-1]

    def _sparsity(self) -> tuple[Any, Any]:
        """`(rows, cols)` of the Jacobian's structural non-zeros, computed once."""
        from ._symbolic import jacobian_sparsity

        got = self._cache.get("sparsity")
        if got is None:
            assert self._rhs is not None
            got = self._cache["sparsity"] = jacobian_sparsity(self._rhs)
        return cast("tuple[Any, Any]", got)

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
        be = self._jac_backend(xp)
        if be.is_jax:
            return self._jax_jacobian(be)
        return self._jacobian_plan().function(sparse)

    def _jacobian_plan(self) -> JacobianPlan:
        """The NumPy Jacobian's pattern, coloring and batched program (built once)."""
        plan = self._cache.get("jacobian_plan")
        if plan is None:
            rows, cols = self._sparsity()
            model = self._model_of_rhs()
            numpy = resolve_backend("numpy")
            try:
                lowered = lower_model(model, "numpy", mode="jvps")
            except NotImplementedError:  # an op without a batching rule
                batched = None
            else:
                batched = _build_function(
                    lowered, model, numpy, force_f64=True, name="jvp"
                )
            plan = self._cache["jacobian_plan"] = JacobianPlan(
                rows, cols, len(self.state_names), batched, lambda: self.jvp("numpy")
            )
        return cast("JacobianPlan", plan)

    def _jax_jacobian(self, be: Backend) -> Callable[..., Any]:
        import jax

        assert be.xp is not None  # the JAX backend always has its namespace
        jnp = be.xp
        jvp = self.jvp(jnp)
        plan = self._jacobian_plan_pattern()
        rows, cols, n, probes, pick = plan

        def jac_jax(t: Any, y: Any, **params: Any) -> Any:
            y = jnp.asarray(y)
            v = jnp.asarray(probes, dtype=y.dtype)
            jv = jax.vmap(lambda p: jvp(t, y, p, **params))(v)
            return jnp.zeros((n, n), dtype=y.dtype).at[rows, cols].set(jv[pick, rows])

        return jac_jax

    def _jacobian_plan_pattern(self) -> tuple[Any, Any, int, Any, Any]:
        rows, cols = self._sparsity()
        n = len(self.state_names)
        colors = color_columns(rows, cols, n)
        n_colors = int(colors.max()) + 1 if n else 0
        probes = np.zeros((n_colors, n))
        probes[colors, np.arange(n)] = 1.0
        return rows, cols, n, probes, colors[cols]

    def _jac_backend(self, xp: object) -> Backend:
        be = resolve_backend(xp) if xp is not None else self.backend
        if be is None or be.name == "auto":
            be = resolve_backend("numpy")
        return be

    @property
    def jac_sparsity(self) -> Any:
        """Structural sparsity of the Jacobian as a SciPy CSR matrix of ones.

        Computed from which states each equation reads (a superset of the
        numerical non-zeros); pass it to `scipy.integrate.solve_ivp(jac_sparsity=...)`.
        """
        import numpy as np
        from scipy.sparse import csr_matrix

        if self._rhs is None:
            raise ValueError("jac_sparsity needs a CompiledRhs built by compile_rhs")
        rows, cols = self._sparsity()
        n = len(self.state_names)
        return csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))

    def to_latex(self) -> str:
        """LaTeX of the model (indexed when templated); see `op_system._latex.to_latex`."""
        from ._latex import to_latex

        assert self._rhs is not None
        return to_latex(self._rhs)

    def to_sympy(self) -> dict[str, Any]:
        """Per-state sympy expressions of `dydt`."""
        from ._symbolic import to_sympy

        assert self._rhs is not None
        return to_sympy(self._rhs)

    def flow_diagram(self, fmt: str = "mermaid") -> str:
        """Mermaid (`fmt="mermaid"`) or Graphviz (`fmt="dot"`) text of a transitions model."""
        from ._symbolic import flow_diagram

        assert self._rhs is not None
        return flow_diagram(self._rhs, fmt)

    def check(self) -> list[str]:
        """Conservation and non-negativity checks; problems are returned and warned."""
        from ._symbolic import check_model

        assert self._rhs is not None
        return check_model(self._rhs)

    def describe(self) -> str:
        """A readable summary of the model (see `NormalizedRhs.describe`)."""
        assert self._rhs is not None
        return self._rhs.describe()

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


def _simulate_chunk(
    compiled: CompiledRhs,
    y0: np.ndarray,
    times: np.ndarray,
    method: str,
    dt: float | None,
    seeds: list[np.random.SeedSequence],
    params: Mapping[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    rngs = [np.random.default_rng(c) for c in seeds]
    return compiled._simulate_numpy(y0, times, method, dt, rngs, params)


def _simulate_in_processes(
    compiled: CompiledRhs,
    y0: np.ndarray,
    times: np.ndarray,
    method: str,
    dt: float | None,
    seeds: list[np.random.SeedSequence],
    params: Mapping[str, Any],
    workers: int,
) -> tuple[np.ndarray, np.ndarray]:
    """NumPy trajectories in `workers` processes (the compiled model pickles):
    contiguous chunks of the per-trajectory streams, results in order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = [c.tolist() for c in np.array_split(np.arange(len(seeds)), workers)]
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that runs JAX
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        parts = pool.map(
            _simulate_chunk,
            *zip(
                *[
                    (compiled, y0, times, method, dt, [seeds[i] for i in c], params)
                    for c in chunks
                    if c
                ]
            ),
        )
        states, flows = zip(*parts)
        return np.concatenate(states, axis=0), np.concatenate(flows, axis=0)


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


# -- runtime helpers bound into the generated function's globals ----------------------


def _runtime(
    be: Backend, model: Model, lowered: Lowered, *, force_f64: bool
) -> dict[str, Any]:
    xp = be.xp
    f = be.fns
    n_state = model.n_state
    pdefs = [model.params[p] for p in lowered.param_order]
    g: dict[str, Any] = {"__builtins__": {}, "KeyError": KeyError}
    for name, fn in f.items():
        g[f"_{name}"] = fn
    g["_INF"] = float("inf")
    g["_NAN"] = float("nan")

    def _bad_shape(y: Any) -> None:
        raise StateShapeError(
            f"Expected (n_state={n_state},). Got: {tuple(y.shape)!r}."
        )

    def _alias_cycle(names: list[str]) -> None:
        raise ExpressionError(
            f"could not resolve alias dependencies: {names}", path="aliases"
        )

    shapes = {p.key: p.shape for p in pdefs}

    if be.is_numpy:
        asarray = np.asarray

        if force_f64:

            def _state(y: Any) -> Any:
                return np.asarray(y, dtype=np.float64)

        else:

            def _state(y: Any) -> Any:
                y = np.asarray(y)
                return y if y.dtype.kind == "f" else y.astype(np.float64)

        def _stack_scalars(xs: list[Any], dtype: Any) -> Any:
            return np.array(xs, dtype=dtype)

        def _concat(xs: list[Any]) -> Any:
            return np.concatenate(xs)

        def _as_out(x: Any, dtype: Any) -> Any:
            return np.array(np.broadcast_to(x, (n_state,)), dtype=dtype)

        _bcast: Callable[[Any, tuple[int, ...]], Any] = np.broadcast_to
        consts = dict(lowered.constants)

        def _np_astype(x: Any, dtype: Any) -> Any:
            return np.asarray(x).astype(dtype, copy=False)

        g["_astype"] = _np_astype
        g["_ndarray"] = np.ndarray
        g["_empty"] = np.empty
        g["_add_reduce"] = np.add.reduce
        g["_add_at"] = np.add.at
        # reshape/transpose as the array methods (C-level, no np.reshape wrapper);
        # generated code only reshapes and transposes arrays, never scalars
        g["_reshape"] = np.ndarray.reshape
        g["_permute_dims"] = np.ndarray.transpose
        g["_subtract_at"] = np.subtract.at
        g["_subtract"] = np.subtract
        g.update(_batch_runtime())  # helpers of batched tangents (the Jacobian)
        g["_f64"] = np.dtype(np.float64)
        g["_INF"] = np.float64("inf")
        g["_NAN"] = np.float64("nan")
        _np_f64 = np.float64
        _np_asarray = np.asarray

        def _f64s(x: Any) -> Any:
            # Python and NumPy scalars -> float64 scalars (NumPy semantics); arrays as float64
            cls = x.__class__
            if cls is float or cls is int or cls is _np_f64:
                return _np_f64(x)
            return _np_asarray(x, dtype=_np_f64) if cls is not bool else _np_f64(x)

        g["_f64s"] = _f64s
        _add_reduce: Callable[..., Any] = np.add.reduce

        def _sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
            # np.sum without its Python-level dispatch (same result)
            return _add_reduce(x, axis=axis, keepdims=keepdims)

        g["_sum"] = _sum
    else:
        assert xp is not None
        asarray = xp.asarray
        is_jax = be.is_jax

        def _state(y: Any) -> Any:
            y = xp.asarray(y)
            if is_jax:
                import jax.numpy as jnp

                if not jnp.issubdtype(y.dtype, jnp.floating):
                    y = y.astype(jnp.result_type(float))
                return y
            if not xp.isdtype(y.dtype, "real floating"):
                y = xp.astype(y, xp.float64)
            return y

        def _stack_scalars(xs: list[Any], dtype: Any) -> Any:
            return xp.stack([xp.asarray(x, dtype=dtype) for x in xs])

        def _concat(xs: list[Any]) -> Any:
            dtype = None
            for x in xs:
                if hasattr(x, "dtype"):
                    dtype = x.dtype
                    break
            return f["concat"]([xp.asarray(x, dtype=dtype) for x in xs])

        def _as_out(x: Any, dtype: Any) -> Any:
            return xp.broadcast_to(xp.asarray(x, dtype=dtype), (n_state,))

        def _bcast(x: Any, shape: tuple[int, ...]) -> Any:
            return (
                xp.broadcast_to(xp.asarray(x), shape)
                if not hasattr(x, "shape")
                else xp.broadcast_to(x, shape)
            )

        consts = _constants(be, lowered.constants)

    def _param_array(v: Any, name: str) -> Any:
        a = asarray(v)
        shape = shapes[name]
        if tuple(a.shape) != shape:
            if tuple(a.shape) == ():
                return _bcast(a, shape)
            raise ParameterError(
                f"parameter {name!r} must have shape {shape} (its axes), got shape {tuple(a.shape)}",
                path=f"params[{name!r}]",
                token=name,
            )
        return a

    def _assemble(p: Any, params: Mapping[str, Any]) -> Any:
        """An indexed parameter from 0.1.2's expanded scalar names.

        Cells the model never reads (their equations are overridden) get 1.0: a
        value that keeps the template finite there, so that neither the result
        nor a gradient through `where` picks up a NaN.
        """
        names = p.names()
        if p.used is None:
            vals = [params[n] for n in names]  # KeyError if one is missing
            used_vals = vals
        else:
            used_flat = {flat_index(p.axes, i) for i in p.used}
            vals = [params[n] if k in used_flat else 1.0 for k, n in enumerate(names)]
            used_vals = [v for k, v in enumerate(vals) if k in used_flat]
        if be.is_numpy:
            dtype = np.result_type(*used_vals) if used_vals else np.dtype(np.float64)
            if dtype.kind != "f":
                dtype = np.dtype(np.float64)
            arr = np.array(vals, dtype=dtype)
        else:
            arr = _stack_scalars(vals, None)
        return f["reshape"](arr, p.shape)

    def _pvec(params: Mapping[str, Any], names: tuple[str, ...], dtype: Any) -> Any:
        """Scalar parameters gathered by name into one vector (re-rolled cells)."""
        try:
            vals = [params[n] for n in names]
        except KeyError:
            absent = sorted({n for n in names if n not in params})
            raise ParameterError(
                f"missing parameter(s): {', '.join(absent[:4])}{', ...' if len(absent) > 4 else ''}"
                f"{did_you_mean(absent[0], params)}",
                path="params",
                token=absent[0],
            ) from None
        if be.is_numpy:
            return np.array(vals, dtype=dtype)
        if all(v.__class__ in (float, int) for v in vals):
            return asarray(np.asarray(vals))  # one constant, not a stack of scalars
        return _stack_scalars(vals, None)

    def _cells(params: Mapping[str, Any], key: str) -> Any:
        return _assemble(by_key[key], params)

    by_key = {p.key: p for p in pdefs}
    tv = _timevarying.runtime(model, xp if xp is not None else np, be.is_numpy, pdefs)

    def _series(p: Any, params: Mapping[str, Any], grid: Any) -> Any:
        """A time-varying parameter's table from one series per expanded name."""
        n = grid.shape[0]
        used = None if p.used is None else {flat_index(p.axes, i) for i in p.used}
        mod: Any = np if be.is_numpy else xp
        cols = [
            mod.asarray(params[name])
            if used is None or k in used
            else mod.ones((n,), dtype=grid.dtype)
            for k, name in enumerate(p.names())
        ]
        if not p.axes:
            return cols[0]
        a = mod.reshape(mod.stack(cols, axis=-1), (cols[0].shape[0], *p.shape))
        return mod.moveaxis(a, 0, p.time_pos) if p.time_pos else a

    def _fill_params(params: Mapping[str, Any]) -> tuple[Any, ...]:
        out: list[Any] = []
        missing: list[str] = []
        grid = tv["_tv_grid"](params) if tv else None
        for p in pdefs:
            if p.time_varying:
                if p.base in params:
                    out.append(tv["_tv_table"](params[p.base], p.key, grid))
                    continue
                names = p.used_names()
                absent = [n for n in names if n not in params]
                if absent:
                    missing.append(
                        f"{p.base} (a table over the time axis) or "
                        f"{', '.join(absent[:4])}{', ...' if len(absent) > 4 else ''}"
                    )
                    out.append(None)
                else:
                    out.append(tv["_tv_table"](_series(p, params, grid), p.key, grid))
                continue
            if not p.axes:
                if p.base in params:
                    out.append(
                        g["_f64s"](params[p.base]) if force_f64 else params[p.base]
                    )
                else:
                    missing.append(p.base)
                    out.append(None)
                continue
            if p.array_ok and p.base in params:
                out.append(_param_array(params[p.base], p.key))
                continue
            need = p.used_names()
            absent = [n for n in need if n not in params]
            if not absent:
                out.append(_assemble(p, params))
                continue
            alt = f"{p.base} (an array of shape {p.shape}) or " if p.array_ok else ""
            missing.append(
                f"{alt}{', '.join(absent[:4])}{', ...' if len(absent) > 4 else ''}"
            )
            out.append(None)
        if missing:
            hint = ""
            for m in missing:
                hint = did_you_mean(m.split(" ")[0], params)
                if hint:
                    break
            expected = sorted(
                {
                    n
                    for p in pdefs
                    for n in (p.used_names() if p.axes and not p.array_ok else [p.base])
                }
            )
            raise ParameterError(
                f"missing parameter(s): {'; '.join(missing)}{hint}. Expected: {expected}",
                path="params",
                token=missing[0].split(" ")[0],
            )
        return tuple(out)

    g.update(
        _state=_state,
        _bad_shape=_bad_shape,
        _alias_cycle=_alias_cycle,
        _stack_scalars=_stack_scalars,
        _concat=_concat,
        _as_out=_as_out,
        _bcast=_bcast,
        _param_array=_param_array,
        _fill_params=_fill_params,
        _cells=_cells,
        _pvec=_pvec,
        **tv,
    )
    g.update(consts)
    g.update({f"_{k}": v for k, v in consts.items()})  # originals, for per-dtype casts
    return g


def _constants(be: Backend, tables: Mapping[str, Any]) -> dict[str, Any]:
    """A generated program's constant tables as arrays of its namespace.

    Programs are often built lazily, on first use, which may be inside a caller's
    JAX trace: constants are then made eagerly (`ensure_compile_time_eval`), so that
    the cached program holds concrete arrays and not that trace's tracers.
    """
    xp = be.xp
    assert xp is not None
    if not be.is_jax:
        return {k: xp.asarray(v) for k, v in tables.items()}
    import jax

    with jax.ensure_compile_time_eval():
        return {k: xp.asarray(v) for k, v in tables.items()}


_COUNTER = [0]


def _build_function(
    lowered: Lowered,
    model: Model,
    be: Backend,
    *,
    force_f64: bool,
    name: str = "rhs",
    extra: Mapping[str, Any] | None = None,
) -> Callable[..., Any]:
    g = _runtime(be, model, lowered, force_f64=force_f64)
    if extra:
        g.update(extra)
    _COUNTER[0] += 1
    filename = f"<op_system-generated-{_COUNTER[0]}>"
    code = compile(lowered.source, filename, "exec")
    linecache.cache[filename] = (
        len(lowered.source),
        None,
        lowered.source.splitlines(True),
        filename,
    )
    ns: dict[str, Any] = {}
    exec(code, g, ns)  # our generated source only: user text never reaches here
    fn: Callable[..., Any] = ns[name]
    fn.__qualname__ = fn.__name__ = "eval_fn" if name == "rhs" else name
    if lowered.bound_source:
        bound_src = lowered.bound_source

        @functools.cache  # engines bind at every step: compile once
        def split() -> tuple[Callable[..., Any], Callable[..., Any]]:
            """`prep(params)` and `core(t, y, *prepared)`, compiled on first use (bind)."""
            bns: dict[str, Any] = {}
            exec(
                compile(bound_src, f"{filename}-bound", "exec"), g, bns
            )  # our generated source only
            return bns["prep"], bns["core"]

        fn.split = split  # type: ignore[attr-defined]
    return fn


def _dispatching(model: Model) -> tuple[Callable[..., Any], str]:
    """The default `eval_fn`: strict NumPy (float64, as 0.1.2) unless `y` is foreign.

    The generated NumPy function starts with one class check of `y`; a JAX array
    or tracer (or another Array-API array) is handed to a function generated for
    that namespace (built on first use), so `jax.jit(lambda y: rhs.eval_fn(0.0, y,
    **p))` traces instead of failing to convert a tracer to NumPy.
    """
    lowered = lower_model(model, "numpy", dispatch=True)
    cache: dict[str, Callable[..., Any]] = {}

    def other(t: Any, y: Any, params: dict[str, Any]) -> Any:
        b = backend_for_array(y)
        fn = cache.get(b.name)
        if fn is None:
            fn = cache[b.name] = _build_function(
                lower_model(model, b.name), model, b, force_f64=False
            )
        return fn(t, y, **params)

    fn = _build_function(
        lowered,
        model,
        resolve_backend("numpy"),
        force_f64=True,
        extra={"_not_numpy": not_numpy, "_other": other},
    )
    return fn, lowered.source


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
        eval_fn, source = _dispatching(model)
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
                fn = cache[b.name] = _build_function(lowered, model, b, force_f64=False)
            return fn(t, y, **params)

    else:
        eval_fn = _build_function(lowered, model, be, force_f64=be.is_numpy)
    return CompiledRhs(
        rhs.state_names,
        None if rhs._model is not None else rhs.param_names,
        eval_fn,
        None if rhs._model is not None else rhs.meta,
        source=lowered.source,
        backend=be,
        rhs=rhs,
    )
