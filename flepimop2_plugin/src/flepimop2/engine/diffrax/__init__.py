"""flepimop2 engine plugin: integrate a `flow` system with diffrax (`module: diffrax`).

```yaml
engine:
  - module: diffrax
    solver: tsit5        # tsit5 | dopri5 | dopri8 | bosh3 | heun | midpoint | ralston
                         # | euler | implicit_euler | kvaerno3 | kvaerno4 | kvaerno5
    rtol: 1.0e-8
    atol: 1.0e-10
    dt0: null            # initial step (required by the fixed-step solver euler)
    max_steps: 100000
    x64: true            # require JAX float64 (JAX_ENABLE_X64=1); never enabled for you
```

A run traces the bound stepper into one `jax.jit`-compiled
`diffrax.diffeqsolve` whose arguments are the times, the initial state and the
parameters (not constants), so it compiles once; later runs of the same system
with other values reuse it. A run returns a `(len(times), 1 + n_state)` JAX
array, time in column 0. No value leaves JAX, so `jax.grad` of
`engine.run(...)` with respect to a parameter's `ParameterValue.value` works.

The system must accept JAX arrays: for op_system, `options.array_backend: jax`
(checked by `validate_system`). Its initial state comes from the system's
`state_names`/`initial_state`/`axis_labels` options (op_system), or else from
the flepimop2 `initial_state` entries in `model_state.parameter_names` order.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
from flepimop2.engine.abc import EngineABC
from flepimop2.exceptions import ValidationIssue
from flepimop2.parameter.abc import ModelStateSpecification, ParameterValue
from flepimop2.system.abc import SystemABC
from flepimop2.typing import StateChangeEnum
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

__all__ = ["SOLVERS", "DiffraxEngine"]

#: Config name -> diffrax solver class name.
SOLVERS: dict[str, str] = {
    "tsit5": "Tsit5",
    "dopri5": "Dopri5",
    "dopri8": "Dopri8",
    "bosh3": "Bosh3",
    "heun": "Heun",
    "midpoint": "Midpoint",
    "ralston": "Ralston",
    "euler": "Euler",
    "implicit_euler": "ImplicitEuler",
    "kvaerno3": "Kvaerno3",
    "kvaerno4": "Kvaerno4",
    "kvaerno5": "Kvaerno5",
}
_FIXED_STEP = frozenset({"euler"})
_CACHE_SIZE = 8


_OUTPUTS = ("state", "observables", "flows")


def _unwrap(value: Any) -> Any:
    return value.value if isinstance(value, ParameterValue) else value


def _strong(jnp: Any, value: Any) -> Any:
    array = jnp.asarray(value)
    return jnp.asarray(array, dtype=array.dtype)


def _import_diffrax(x64: bool, *, explicit: bool = False) -> tuple[Any, Any, Any]:
    try:
        import diffrax
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        msg = f"engine module diffrax needs jax and diffrax ({exc}); pip install jax diffrax"
        raise ImportError(msg) from exc
    if x64:  # never change JAX's global configuration; the user enables x64
        from flepimop2.system.op_system import _require_jax_x64

        _require_jax_x64(jax, "x64", "engine (module: diffrax)", explicit=explicit)
    return jax, jnp, diffrax


class DiffraxEngine(EngineABC, module="diffrax"):
    """Integrate a flow system with `diffrax.diffeqsolve`, jit-compiled once per run.

    Attributes:
        state_change: Must be `flow` (the stepper returns `dy/dt`).
        solver: A name from `SOLVERS` (default `tsit5`).
        rtol: Relative tolerance of the adaptive step-size controller.
        atol: Absolute tolerance of the adaptive step-size controller.
        dt0: Initial step; `null` lets diffrax choose (adaptive solvers).
            Fixed-step solvers (`euler`) step with exactly `dt0`.
        max_steps: Maximum number of solver steps.
        x64: Require JAX float64 (default true): a run raises
            `flepimop2.system.op_system.JaxX64Error` if JAX's `jax_enable_x64`
            is off. The engine never changes JAX's configuration: set
            `JAX_ENABLE_X64=1`, or call `jax.config.update("jax_enable_x64", True)`
            before anything else; or set `x64: false` to solve in float32.
    """

    model_config = ConfigDict(extra="forbid")

    state_change: StateChangeEnum = StateChangeEnum.FLOW
    solver: str = "tsit5"
    rtol: float = Field(default=1e-8, gt=0)
    atol: float = Field(default=1e-10, gt=0)
    dt0: float | None = Field(default=None, gt=0)
    max_steps: int = Field(default=100_000, gt=0)
    x64: bool = True
    #: what each output row holds after the time: the state, then (in this order)
    #: the system's observables and flows if listed (op_system publishes them)
    outputs: tuple[str, ...] = ("state",)

    _last_solve: Any = PrivateAttr(default=None)
    _solve_cache: dict[Any, Any] = PrivateAttr(default_factory=dict)

    @field_validator("solver", mode="before")
    @classmethod
    def _known_solver(cls, value: Any) -> Any:
        name = str(value).strip().lower()
        if name not in SOLVERS:
            msg = f"solver must be one of {', '.join(SOLVERS)}; got {value!r}"
            raise ValueError(msg)
        return name

    @field_validator("outputs", mode="before")
    @classmethod
    def _known_outputs(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) else list(value)
        names = [str(v).strip().lower() for v in items]
        bad = [n for n in names if n not in _OUTPUTS]
        if bad or "state" not in names or len(set(names)) != len(names):
            msg = (
                f"outputs must list 'state' and optionally 'observables', 'flows' "
                f"(each once); got {value!r}"
            )
            raise ValueError(msg)
        return tuple(sorted(names, key=_OUTPUTS.index))

    @model_validator(mode="after")
    def _check(self) -> DiffraxEngine:
        if self.state_change != StateChangeEnum.FLOW:
            msg = f"state_change must be 'flow' for the diffrax engine, got {self.state_change.value!r}"
            raise ValueError(msg)
        if self.solver in _FIXED_STEP and self.dt0 is None:
            msg = f"dt0 is required for the fixed-step solver {self.solver!r}"
            raise ValueError(msg)
        return self

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._runner = self._run_stepper

    def validate_system(self, system: SystemABC) -> list[ValidationIssue] | None:
        issues = []
        if system.state_change != StateChangeEnum.FLOW:
            issues.append(
                ValidationIssue(
                    msg=f"the diffrax engine integrates flow systems; this system's state_change is {system.state_change.value!r}",
                    kind="incompatible_system",
                )
            )
        backend = system.option("array_backend", None)
        if backend is not None and backend != "jax":
            issues.append(
                ValidationIssue(
                    msg=(
                        "the diffrax engine traces the stepper with JAX, but the system has "
                        f"options.array_backend: {backend}; set options.array_backend: jax"
                    ),
                    kind="incompatible_system",
                )
            )
        return issues or None

    # -- solving -----------------------------------------------------------------------
    def _solver_and_controller(
        self, diffrax: Any, jump_ts: tuple[float, ...] = ()
    ) -> tuple[Any, Any]:
        solver = getattr(diffrax, SOLVERS[self.solver])()
        if (
            isinstance(solver, diffrax.AbstractAdaptiveSolver)
            and self.solver not in _FIXED_STEP
        ):
            # steps land on the system's forcing breakpoints (where time-varying
            # parameters change), instead of stepping over them
            extra = {"jump_ts": np.asarray(jump_ts)} if jump_ts else {}
            return solver, diffrax.PIDController(
                rtol=self.rtol, atol=self.atol, **extra
            )
        return solver, diffrax.ConstantStepSize()

    def _run_stepper(
        self,
        stepper: Any,
        times: Any,
        initial_state: Mapping[str, Any],
        params: Mapping[str, Any],
        model_state: ModelStateSpecification | None = None,
        **kwargs: Any,
    ) -> Any:
        jax, jnp, diffrax = _import_diffrax(
            self.x64, explicit="x64" in self.model_fields_set
        )
        t_host = np.asarray(times, dtype=np.float64)
        if t_host.ndim != 1 or t_host.size == 0:
            msg = f"times must be a non-empty 1-D array, got shape {t_host.shape}"
            raise ValueError(msg)
        if np.any(np.diff(t_host) <= 0):
            msg = "times must be strictly increasing"
            raise ValueError(msg)
        ts = jnp.asarray(t_host)
        y0 = self._initial_state(stepper, initial_state, params, model_state, jnp)
        # JAX arrays with explicit dtypes: NumPy inputs, JAX inputs and Python
        # scalars (weakly typed) then hit the same compiled solve.
        args = {name: _strong(jnp, _unwrap(value)) for name, value in params.items()}
        if t_host.size == 1:
            ys0 = y0[None, :]
            return jnp.concatenate(
                [ts[:, None], ys0, *self._extra(stepper, ts, ys0, args)], axis=1
            )

        solve = self._compiled_solve(stepper, jax, diffrax)
        self._last_solve = solve
        ys = solve(ts, _strong(jnp, y0), args)
        return jnp.concatenate(
            [ts[:, None], ys, *self._extra(stepper, ts, ys, args)], axis=1
        )

    def _extra(self, stepper: Any, ts: Any, ys: Any, args: Any) -> list[Any]:
        """The columns `outputs` asks for besides the state, from the system's options
        (`observe` and `flows_over`: functions of the whole solution)."""
        option = getattr(stepper, "option", None)
        out = []
        for what, key in (("observables", "observe"), ("flows", "flows_over")):
            if what not in self.outputs:
                continue
            fn = option(key, None) if option is not None else None
            if fn is None:
                msg = (
                    f"outputs lists {what!r} but the system publishes no {key!r} option "
                    f"(an op_system system has it when its spec has {what})"
                )
                raise ValueError(msg)
            out.append(fn(ts, ys, **args))
        return out

    def _compiled_solve(self, stepper: Any, jax: Any, diffrax: Any) -> Any:
        """The jitted `solve(ts, y0, args) -> ys` for this stepper and these settings.

        Times, initial state and parameters are arguments, so a run traces and
        compiles once, and later runs of the same system with other values
        (scenarios, finite differences, samplers) reuse the compiled solve.
        """
        func = stepper
        if (
            isinstance(stepper, functools.partial)
            and not stepper.args
            and not stepper.keywords
        ):
            func = (
                stepper.func
            )  # system.bind() with no bound values: key on the system's stepper
        option = getattr(stepper, "option", None)
        jump_ts = tuple(
            float(x)
            for x in (option("forcing_breakpoints", ()) if option else ()) or ()
        )
        events = option("event_schedule", None) if option else None
        key: tuple[Any, ...] | None = (
            func,
            events,
            jump_ts,
            self.solver,
            self.rtol,
            self.atol,
            self.dt0,
            self.max_steps,
        )
        try:
            cached = self._solve_cache.get(key)
        except TypeError:  # an unhashable stepper: compile for this run only
            key, cached = None, None
        if cached is not None:
            return cached
        solver, controller = self._solver_and_controller(diffrax, jump_ts)
        dt0, max_steps = self.dt0, self.max_steps
        term = diffrax.ODETerm(lambda t, y, a: func(t, y, **a))

        def piece(t0: Any, t1: Any, y0: Any, ts: Any, args: Any) -> Any:
            sol = diffrax.diffeqsolve(
                term,
                solver,
                t0=t0,
                t1=t1,
                dt0=dt0,
                y0=y0,
                args=args,
                saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=controller,
                max_steps=max_steps,
            )
            return sol.ys

        def solve(ts: Any, y0: Any, args: Any) -> Any:
            if events is None:
                return piece(ts[0], ts[-1], y0, ts, args)
            return _through_events(piece, events(**args), ts, y0, args, jax)

        # jax.jit applied as a call, not `@jax.jit`: `jax` is typed Any here, and
        # mypy --strict rejects an untyped decorator on a typed function
        solve = jax.jit(solve)
        if key is None:
            return solve
        if len(self._solve_cache) >= _CACHE_SIZE:
            self._solve_cache.pop(next(iter(self._solve_cache)))
        self._solve_cache[key] = solve
        return solve

    @staticmethod
    def _initial_state(
        stepper: Any,
        initial_state: Mapping[str, Any],
        params: Mapping[str, Any],
        model_state: ModelStateSpecification | None,
        jnp: Any,
    ) -> Any:
        option = getattr(stepper, "option", None)
        if option is not None and option("state_names", None) is not None:
            from flepimop2.system.op_system import initial_state_vector

            return initial_state_vector(option, params, xp=jnp)
        names = (
            tuple(model_state.parameter_names)
            if model_state is not None
            else tuple(initial_state)
        )
        if not names:
            msg = "cannot build the initial state: the system declares no state_names option and no model_state entries"
            raise ValueError(msg)
        return jnp.concatenate(
            [jnp.ravel(jnp.asarray(_unwrap(initial_state[n]))) for n in names]
        )


def _through_events(
    piece: Any, schedule: list[tuple[Any, Any]], ts: Any, y0: Any, args: Any, jax: Any
) -> Any:
    """The solution at `ts` through the system's timed events (`event_schedule`):
    solved piece by piece, each piece ending at the next event in time order,
    where the event replaces the state and the next piece restarts from it.
    The times may be traced (they are parameters), so there is one piece per
    event, of length 0 for an event outside `[ts[0], ts[-1]]` (which is not
    applied); an output time holds the state after its own events."""
    jnp = jax.numpy
    times = jnp.stack([jnp.asarray(t, dtype=ts.dtype) for t, _ in schedule])
    order = jnp.argsort(times, stable=True)  # events at one time: in spec order
    fns = [fn for _, fn in schedule]
    t0, t1 = ts[0], ts[-1]
    ys = jnp.zeros((ts.shape[0], y0.shape[0]), dtype=y0.dtype)
    y, cur = y0, t0
    for k in range(len(fns) + 1):
        last = k == len(fns)
        te = t1 if last else times[order[k]]
        end = jnp.clip(te, cur, t1)
        part = piece(cur, end, y, jnp.clip(ts, cur, end), args)
        # this piece holds the output times in [cur, end) (the last: [cur, t1])
        mine = (ts >= cur) & ((ts <= end) if last else (ts < end))
        ys = jnp.where(mine[:, None], part, ys)
        if not last:
            fire = (te >= t0) & (te <= t1)
            y = jnp.where(fire, jax.lax.switch(order[k], fns, part[-1]), part[-1])
        cur = end
    return ys
