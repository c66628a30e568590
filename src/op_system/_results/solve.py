"""`solve(rhs, y0, times, ...)`: a model integrated into a named `Solution`.

SciPy integrates segment by segment between the stops of `segments.plan`
(forcing breakpoints and timed jumps), each segment restarting from the state
*at* its first edge; on a segment `[a, b)` the model sees the regime of `a`
(its right-hand side is evaluated at most at the float just below `b`, so a
`previous` table does not switch inside the segment's last step). diffrax
steps onto the breakpoints itself (`ClipStepSizeController(jump_ts=...)`), split only
at jumps. Implicit methods get the model's exact Jacobian: SciPy's `BDF` and
`Radau` the sparse one (its pattern is the model's structure), `LSODA` the
dense one; diffrax's implicit solvers differentiate the generated JAX code
(forward mode, also exact).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._support.errors import BackendError, StateShapeError
from .segments import Plan, plan
from .solution import Solution

__all__ = ["solve"]

#: SciPy's methods that solve linear systems with the Jacobian
_IMPLICIT = {"BDF": True, "Radau": True, "LSODA": False}  # value: sparse Jacobian

_BACKENDS = ("scipy", "diffrax")


def _times(times: Any) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size < 1 or np.any(np.diff(t) <= 0):
        raise ValueError(
            f"times must be a strictly increasing 1-D grid, got {np.asarray(times)!r}"
        )
    return t


def _y0(rhs: Any, y0: Any) -> Any:
    if isinstance(y0, Mapping):
        return rhs.pack(y0)
    return y0


def solve(
    rhs: Any,
    y0: Any,
    times: Any,
    *,
    params: Mapping[str, Any] | None = None,
    method: str | None = None,
    backend: str = "scipy",
    rtol: float = 1e-6,
    atol: float = 1e-6,
    **options: Any,
) -> Solution:
    """Integrate `rhs` from `y0` at `times[0]` and return the state at every one
    of `times`, as a named `Solution`.

    Arguments:
        rhs: A `CompiledRhs`.
        y0: The initial state: a vector in `state_names` order, or a mapping
            that `rhs.pack` takes (`{"S": ..., "I[age=old]": 10}`).
        times: The output times, strictly increasing; `times[0]` is `y0`'s.
        params: The model's parameters (as `eval_fn` takes them; the
            observables' too, for `Solution.observables`).
        method: SciPy's `solve_ivp` method (default `"LSODA"`) or a diffrax
            solver's name (default `"Tsit5"`; e.g. `"Kvaerno5"` for stiff models).
        backend: `"scipy"` or `"diffrax"` (needs the `[diffrax]` extra).
        rtol: The relative tolerance.
        atol: The absolute tolerance.
        options: Passed on to `scipy.integrate.solve_ivp` (e.g. `max_step`) or
            `diffrax.diffeqsolve` (e.g. `max_steps`).

    SciPy integrations stop at every forcing breakpoint (`rhs.forcing_breakpoints`,
    or the grid passed under the time axis's name) and restart from the state
    there; diffrax gets them as `jump_ts`. `BDF`, `Radau` and `LSODA` use the
    model's exact Jacobian (`rhs.jacobian`, sparse for `BDF` and `Radau`).

    !!! example
        ```python
        >>> import numpy as np
        >>> from op_system import compile_spec, solve
        >>> sir = compile_spec({
        ...     "kind": "transitions",
        ...     "state": ["S", "I", "R"],
        ...     "transitions": [
        ...         {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
        ...         {"from": "I", "to": "R", "rate": "gamma"},
        ...     ],
        ... })
        >>> sol = solve(sir, {"S": 990.0, "I": 10.0}, np.linspace(0, 100, 11),
        ...             params={"beta": 0.3, "gamma": 0.1})
        >>> sol
        Solution(11 times from 0 to 100, blocks S, I, R; LSODA via scipy)
        >>> round(float(sol["R"][-1]), 1)
        939.3

        ```
    """
    if backend not in _BACKENDS:
        raise BackendError(
            f"solve backend must be one of {list(_BACKENDS)}, got {backend!r}",
            token=str(backend),
        )
    params = dict(params or {})
    t = _times(times)
    y_start = _y0(rhs, y0)
    n = len(rhs.state_names)
    shape = tuple(getattr(y_start, "shape", np.shape(y_start)))
    if shape != (n,):
        raise StateShapeError(f"y0 must have shape ({n},), got {shape}")
    if backend == "scipy":
        chosen = method or "LSODA"
        segs = plan(rhs, params, float(t[0]), float(t[-1]), split=True)
        ys, stats = _scipy(rhs, y_start, t, params, segs, chosen, rtol, atol, options)
    else:
        chosen = method or "Tsit5"
        segs = plan(rhs, params, float(t[0]), float(t[-1]), split=False)
        ys, stats = _diffrax(rhs, y_start, t, params, segs, chosen, rtol, atol, options)
    return Solution(
        rhs,
        t,
        ys,
        params,
        method=chosen,
        backend=backend,
        stats=stats,
    )


def _apply(fns: tuple[Callable[[Any], Any], ...], y: Any) -> Any:
    for fn in fns:
        y = fn(y)
    return y


def _before(b: float) -> float:
    """The largest float below `b`: where a segment ending at `b` reads the model."""
    return float(np.nextafter(b, -np.inf))


def _scipy(
    rhs: Any,
    y_start: Any,
    t: np.ndarray,
    params: dict[str, Any],
    segs: Plan,
    method: str,
    rtol: float,
    atol: float,
    options: dict[str, Any],
) -> tuple[np.ndarray, dict[str, Any]]:
    from scipy.integrate import solve_ivp

    f = rhs.bind(params)
    jac = None
    if method in _IMPLICIT:
        jac = rhs.bind(params, output="jacobian", sparse=_IMPLICIT[method])
    out = np.empty((t.size, len(rhs.state_names)), dtype=np.float64)
    y = _apply(segs.jumps[0], np.asarray(y_start, dtype=np.float64))
    out[0] = y
    counts = {"nfev": 0, "njev": 0, "nlu": 0, "segments": 0}
    for k in range(len(segs.edges) - 1):
        a, b = segs.edges[k], segs.edges[k + 1]
        if k > 0:
            y = _apply(segs.jumps[k], y)
            hit = np.flatnonzero(t == a)
            out[hit] = y  # an output at an edge: after its jumps
        inside = np.flatnonzero((t > a) & (t < b))
        t_eval = np.append(
            t[inside], b
        )  # always the end: the next segment starts there
        last = _before(b)

        def fun(s: float, yy: np.ndarray, last: float = last) -> Any:
            return np.asarray(f(min(s, last), yy))

        extra: dict[str, Any] = {}
        if jac is not None:

            def jfun(s: float, yy: np.ndarray, last: float = last) -> Any:
                assert jac is not None
                return jac(min(s, last), yy)

            extra["jac"] = jfun
        res = solve_ivp(
            fun,
            (a, b),
            y,
            method=method,
            t_eval=t_eval,
            rtol=rtol,
            atol=atol,
            **extra,
            **options,
        )
        if not res.success:
            raise RuntimeError(
                f"solve_ivp ({method}) failed on [{a}, {b}]: {res.message}"
            )
        out[inside] = res.y[:, :-1].T
        y = res.y[:, -1]
        counts["segments"] += 1
        for key in ("nfev", "njev", "nlu"):
            counts[key] += int(getattr(res, key, 0))
    y = _apply(segs.jumps[-1], y) if len(segs.edges) > 1 else y
    if t.size > 1:
        out[-1] = y
    return out, {**counts, "breakpoints": segs.breaks}


def _diffrax(
    rhs: Any,
    y_start: Any,
    t: np.ndarray,
    params: dict[str, Any],
    segs: Plan,
    method: str,
    rtol: float,
    atol: float,
    options: dict[str, Any],
) -> tuple[Any, dict[str, Any]]:
    try:
        import diffrax
        import jax.numpy as jnp
    except ImportError as exc:  # pragma: no cover - the extra is installed in tests
        raise ImportError(
            "solve(backend='diffrax') needs diffrax: pip install 'op-system[diffrax]'"
        ) from exc
    solver_cls = getattr(diffrax, method, None)
    if not isinstance(solver_cls, type) or not issubclass(
        solver_cls, diffrax.AbstractSolver
    ):
        names = [
            n
            for n in dir(diffrax)
            if isinstance(getattr(diffrax, n), type)
            and issubclass(getattr(diffrax, n), diffrax.AbstractSolver)
            and not n.startswith("Abstract")
        ]
        from .._support.errors import did_you_mean

        raise BackendError(
            f"{method!r} is not a diffrax solver{did_you_mean(method, names)}",
            token=method,
        )
    args = {k: jnp.asarray(v) for k, v in params.items()}
    term = diffrax.ODETerm(rhs.vector_field)
    controller: Any = diffrax.PIDController(rtol=rtol, atol=atol)
    if segs.breaks:  # steps land on the breakpoints instead of across them
        controller = diffrax.ClipStepSizeController(
            controller, jump_ts=jnp.asarray(segs.breaks)
        )
    options = {"max_steps": 100_000, **options}
    y = _apply(segs.jumps[0], jnp.asarray(y_start, dtype=jnp.zeros(()).dtype))
    rows: list[Any] = [y[None, :]]
    steps = 0
    pairs = list(zip(segs.edges[:-1], segs.edges[1:], strict=True))
    # every segment saves as many times (its own, then its end repeated), and
    # its ends are arrays: diffrax's compiled solve is reused across segments
    width = 1 + max((int(np.sum((t > a) & (t < b))) for a, b in pairs), default=0)
    for k, (a, b) in enumerate(pairs):
        if k > 0:
            y = _apply(segs.jumps[k], y)
            if np.any(t == a):
                rows.append(y[None, :])
        inside = t[(t > a) & (t < b)]
        ts = np.full(width, b)
        ts[: inside.size] = inside
        sol = diffrax.diffeqsolve(
            term,
            solver_cls(),
            t0=jnp.asarray(a),
            t1=jnp.asarray(b),
            dt0=None,
            y0=y,
            args=args,
            saveat=diffrax.SaveAt(ts=jnp.asarray(ts)),
            stepsize_controller=controller,
            **options,
        )
        assert sol.ys is not None
        rows.append(sol.ys[: inside.size])
        y = sol.ys[-1]
        steps += int(sol.stats["num_steps"])
    if len(segs.edges) > 1 and t.size > 1:
        rows.append(_apply(segs.jumps[-1], y)[None, :])
    ys = jnp.concatenate(rows)
    return ys, {
        "num_steps": steps,
        "segments": len(segs.edges) - 1,
        "breakpoints": segs.breaks,
    }
