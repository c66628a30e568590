"""Time-varying parameters: `beta[time]` is a table over a continuous `time` axis,
passed at call time and read at `t` (`previous`, `linear` or `monotone_cubic`).

Checked against independent interpolations (a hand-written bisection, `np.interp`,
SciPy's `PchipInterpolator`) on random grids and tables, against hand-written
piecewise right-hand sides in NumPy and JAX (jit, vmap, grad), against the 0.1.2
strings of generated specs with one parameter made time-varying, through solves
split at the breakpoints (SciPy) and with diffrax `jump_ts`, and by the gradient of
a diffrax solve with respect to the table values.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import re
import warnings
from typing import Any

import numpy as np
import pytest
from tests.differential.compare import StringEvaluator, _close, scalar_inputs
from tests.differential.generate import generate_cases

from op_system import (
    ParameterError,
    SpecError,
    SpecWarning,
    compile_rhs,
    compile_spec,
    normalize_rhs,
)

TIMES = [0.0, 10.0, 20.0, 35.0, 60.0]


def _sir(method: str | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "kind": "transitions",
        "axes": [
            {"name": "age", "coords": ["y", "o"]},
            {"name": "time", "type": "continuous", "coords": TIMES},
        ],
        "state": ["S[age]", "I[age]", "R[age]"],
        "transitions": [
            {
                "name": "infection",
                "from": "S[age]",
                "to": "I[age]",
                "rate": "beta[time] * m[age, time] * sum_over(age=j, I[j]) / sum_state()",
            },
            {"name": "recovery", "from": "I[age]", "to": "R[age]", "rate": "gamma"},
        ],
        **extra,
    }
    if method is not None:
        spec["time_interpolation"] = method
    return spec


# -- independent references ---------------------------------------------------------
def ref_previous(t: float, grid: np.ndarray, vals: np.ndarray) -> np.ndarray:
    i = bisect.bisect_right(list(grid), t) - 1
    return vals[min(max(i, 0), len(grid) - 1)]


def ref_linear(t: float, grid: np.ndarray, vals: np.ndarray) -> np.ndarray:
    vals = np.asarray(vals, dtype=np.float64)
    if vals.ndim == 1:
        return np.asarray(np.interp(t, grid, vals))
    return np.array([np.interp(t, grid, vals[:, k]) for k in range(vals.shape[1])])


def ref_cubic(t: float, grid: np.ndarray, vals: np.ndarray) -> np.ndarray:
    from scipy.interpolate import PchipInterpolator

    tc = min(max(t, grid[0]), grid[-1])  # held constant outside the grid
    return np.asarray(PchipInterpolator(grid, vals, axis=0)(tc))


REFS = {"previous": ref_previous, "linear": ref_linear, "monotone_cubic": ref_cubic}


def _one_state(method: str, index: str = "k[time]") -> Any:
    return compile_spec(
        {
            "axes": [{"name": "time", "type": "continuous", "coords": TIMES}],
            "state": ["x"],
            "equations": {"x": index},
            "time_interpolation": method,
        }
    )


@pytest.mark.parametrize("method", ["previous", "linear", "monotone_cubic"])
def test_interpolation_matches_independent_references(method: str) -> None:
    """Random grids (passed at call time) and tables, at random times inside and
    outside the grid and exactly on its points."""
    c = _one_state(method)
    rng = np.random.default_rng(1)
    for trial in range(40):
        n = int(rng.integers(2, 9))
        grid = np.sort(rng.choice(np.arange(100.0), n, replace=False))
        vals = rng.normal(size=n) * 10 if trial % 2 else np.cumsum(rng.random(n))
        ts = np.concatenate(
            [rng.uniform(grid[0] - 5, grid[-1] + 5, 6), grid, [grid[0] - 1e-9]]
        )
        for t in ts:
            got = c.eval_fn(float(t), np.array([0.0]), k=vals, time=grid)
            want = REFS[method](float(t), grid, vals)
            np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-12)


def test_monotone_cubic_does_not_overshoot() -> None:
    c = _one_state("monotone_cubic")
    vals = np.array([0.0, 0.0, 1.0, 1.0, 5.0])  # flat, rising, flat, rising
    ts = np.linspace(-5, 65, 701)
    got = np.array([c.eval_fn(t, np.array([0.0]), k=vals)[0] for t in ts])
    assert got.min() >= 0.0
    assert got.max() <= 5.0
    assert np.all(np.diff(got) >= -1e-12)  # monotone data, monotone curve
    flat = (ts >= 0) & (ts <= 10)
    assert np.all(got[flat] == 0.0)


def _hand_sir(method: str, xp: Any = np) -> Any:
    """The SIR of `_sir` written by hand, reading the tables with the references."""

    def interp(t: Any, vals: Any) -> Any:
        grid = xp.asarray(TIMES)
        if method == "previous":
            i = xp.clip(xp.searchsorted(grid, t, side="right") - 1, 0, len(TIMES) - 1)
            return vals[i]
        return (
            xp.interp(t, grid, vals)
            if vals.ndim == 1
            else xp.stack(
                [xp.interp(t, grid, vals[:, k]) for k in range(vals.shape[1])]
            )
        )

    def rhs(t: Any, y: Any, beta: Any, m: Any, gamma: Any) -> Any:
        S, I, _R = y[0:2], y[2:4], y[4:6]  # noqa: E741
        b = interp(t, beta)
        mt = interp(t, xp.transpose(m))  # m is [age, time]
        inf = b * mt * xp.sum(I) / xp.sum(y) * S
        rec = gamma * I
        return xp.concatenate([-inf, inf - rec, rec])

    return rhs


PARAMS = {
    "beta": np.array([0.5, 0.3, 0.1, 0.25, 0.4]),
    "m": np.array([[1.0, 1.2, 0.8, 1.0, 1.1], [0.7, 0.6, 0.9, 0.5, 0.8]]),
    "gamma": 0.1,
}
Y0 = np.array([990.0, 980.0, 10.0, 20.0, 0.0, 0.0])


@pytest.mark.parametrize("method", ["previous", "linear"])
def test_against_hand_written_piecewise_rhs_numpy(method: str) -> None:
    c = compile_spec(_sir(method))
    hand = _hand_sir(method)
    assert c.forcing_breakpoints == tuple(TIMES)
    for t in [-3.0, 0.0, 4.0, 10.0, 17.5, 35.0, 59.9, 60.0, 99.0]:
        np.testing.assert_allclose(
            c.eval_fn(t, Y0, **PARAMS), hand(t, Y0, **PARAMS), rtol=1e-13
        )
    # the same tables as 0.1.2-style expanded names: one series per cell
    expanded = {"beta": PARAMS["beta"], "gamma": 0.1}
    expanded |= {"m__age_y": PARAMS["m"][0], "m__age_o": PARAMS["m"][1]}
    np.testing.assert_allclose(
        c.eval_fn(17.5, Y0, **expanded), c.eval_fn(17.5, Y0, **PARAMS), rtol=0
    )
    # bind reads the tables once; the values still follow t
    bound = c.bind(PARAMS)
    for t in [4.0, 17.5, 50.0]:
        np.testing.assert_allclose(bound(t, Y0), hand(t, Y0, **PARAMS), rtol=1e-13)


@pytest.mark.parametrize("method", ["previous", "linear"])
def test_against_hand_written_piecewise_rhs_jax(method: str) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    c = compile_spec(_sir(method), xp=jnp)
    hand = _hand_sir(method, jnp)
    jp = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    y0 = jnp.asarray(Y0)
    f = jax.jit(lambda t, y, p: c.eval_fn(t, y, **p))
    for t in [-3.0, 4.0, 10.0, 17.5, 59.9, 99.0]:
        np.testing.assert_allclose(
            f(t, y0, jp), hand(jnp.asarray(t), y0, **jp), rtol=2e-6
        )
    # vmap over times and over tables
    ts = jnp.linspace(0.0, 60.0, 7)
    batched = jax.vmap(lambda t: c.eval_fn(t, y0, **jp))(ts)
    for k, t in enumerate(ts):
        np.testing.assert_allclose(batched[k], hand(t, y0, **jp), rtol=2e-6)
    betas = jnp.stack([jp["beta"], 2 * jp["beta"]])
    two = jax.vmap(lambda b: c.eval_fn(17.5, y0, **{**jp, "beta": b}))(betas)
    np.testing.assert_allclose(
        two[1], hand(17.5, y0, **{**jp, "beta": betas[1]}), rtol=2e-6
    )

    # the gradient with respect to the table is the hand-written one's
    def loss(fn: Any, b: Any) -> Any:
        return jnp.sum(fn(17.5, y0, **{**jp, "beta": b}) ** 2)

    g_ours = jax.grad(lambda b: loss(lambda *a, **k: c.eval_fn(*a, **k), b))(jp["beta"])
    g_hand = jax.grad(lambda b: loss(hand, b))(jp["beta"])
    np.testing.assert_allclose(g_ours, g_hand, rtol=1e-5)
    if method == "linear":
        assert np.count_nonzero(np.asarray(g_ours)) == 2  # t = 17.5 reads two entries


def test_time_axis_position_and_transitions_views() -> None:
    """`m[age, time]` and `m[time, age]` are the same table, transposed; flows and
    the Jacobian read the value at t too."""
    spec_t = copy.deepcopy(_sir())
    spec_t["transitions"][0]["rate"] = spec_t["transitions"][0]["rate"].replace(
        "m[age, time]", "m[time, age]"
    )
    a, b = compile_spec(_sir()), compile_spec(spec_t)
    pt = {**PARAMS, "m": PARAMS["m"].T}
    np.testing.assert_allclose(a.eval_fn(12.0, Y0, **PARAMS), b.eval_fn(12.0, Y0, **pt))
    assert a.meta["time_varying_params"] == (
        ("beta", ("time",)),
        ("m", ("age", "time")),
    )
    assert b.meta["time_varying_params"][1] == ("m", ("time", "age"))
    flows = a.flows(12.0, Y0, **PARAMS)
    np.testing.assert_allclose(a.stoichiometry @ flows, a.eval_fn(12.0, Y0, **PARAMS))
    jac = a.jacobian()(12.0, Y0, **PARAMS)
    eps = 1e-6
    fd = np.column_stack(
        [
            (
                a.eval_fn(12.0, Y0 + eps * e, **PARAMS)
                - a.eval_fn(12.0, Y0 - eps * e, **PARAMS)
            )
            / (2 * eps)
            for e in np.eye(6)
        ]
    )
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-9)
    sparse = a.jacobian(sparse=True)(12.0, Y0, **PARAMS)
    np.testing.assert_allclose(sparse.toarray(), jac, rtol=1e-14)


def test_flat_per_cell_spec_reads_tables_like_the_template() -> None:
    """A spec written cell by cell (re-rolled into vectors) reads the same tables."""
    coords = [f"r{i}" for i in range(12)]
    templ = {
        "axes": [
            {"name": "r", "coords": coords},
            {"name": "time", "type": "continuous", "coords": TIMES},
        ],
        "state": ["x[r]"],
        "equations": {"x[r]": "-k[time] * c[r, time] * x[r] + s[time]"},
    }
    flat = {
        "axes": templ["axes"],
        "state": [f"x_{i}" for i in range(12)],
        "equations": {
            f"x_{i}": f"-k[time] * c[time, r={coords[i]}] * x_{i} + s[time]"
            for i in range(12)
        },
    }
    rng = np.random.default_rng(3)
    k, s = rng.random(5), rng.random(5)
    cc = rng.random((12, 5))
    y = rng.random(12)
    a, b = compile_spec(templ), compile_spec(flat)
    for t in [0.0, 3.0, 33.0, 61.0]:
        np.testing.assert_allclose(
            b.eval_fn(t, y, k=k, s=s, c=cc.T),
            a.eval_fn(t, y, k=k, s=s, c=cc),
            rtol=1e-14,
        )
    assert b.source.count("_tv_table") == 3


def _make_time_varying(spec: dict[str, Any], p: str) -> dict[str, Any] | None:
    """`spec` with the scalar parameter `p` replaced by `p[time]` in every expression."""
    pat = re.compile(rf"(?<![\w.\[=]){re.escape(p)}(?![\w\[(])")
    out = copy.deepcopy(spec)
    if any(ax.get("name") == "time" for ax in out.get("axes") or []):
        return None
    out["axes"] = [
        *(out.get("axes") or []),
        {"name": "time", "type": "continuous", "coords": TIMES},
    ]
    hits = 0

    def sub(text: Any) -> Any:
        nonlocal hits
        if not isinstance(text, str):
            return text
        new, n = pat.subn(f"{p}[time]", text)
        hits += n
        return new

    for key in ("equations", "aliases"):
        if isinstance(out.get(key), dict):
            out[key] = {k: sub(v) for k, v in out[key].items()}
    for tr in out.get("transitions") or []:
        if isinstance(tr, dict) and "rate" in tr:
            tr["rate"] = sub(tr["rate"])
    return out if hits else None


@pytest.mark.parametrize("seed", [11, 12])
def test_generated_specs_with_a_time_varying_parameter(seed: int) -> None:
    """Generated specs with one scalar parameter made time-varying: the right-hand
    side at t equals the 0.1.2 strings evaluated with that parameter's value at t,
    and those strings are the original spec's."""
    rng = np.random.default_rng(seed)
    checked = 0
    for case in generate_cases(150, seed=seed):
        spec = case["spec"]
        if "chain" in spec:
            continue
        try:
            rhs0 = normalize_rhs(spec)
            compile_rhs(rhs0)
        except Exception:  # a case meant to be rejected
            continue
        plain = [n for n in rhs0.param_names if "__" not in n]
        if not plain:
            continue
        p = plain[int(rng.integers(len(plain)))]
        tv_spec = _make_time_varying(spec, p)
        if tv_spec is None:
            continue
        try:
            rhs = normalize_rhs(tv_spec)
        except SpecError:
            continue  # p also appears another way (e.g. expanded names)
        assert rhs.equations == rhs0.equations
        c = compile_rhs(rhs)
        y, params = scalar_inputs(rhs, rng)
        method = ["previous", "linear", "monotone_cubic"][checked % 3]
        c = compile_rhs(normalize_rhs({**tv_spec, "time_interpolation": method}))
        table = rng.uniform(0.5, 1.5, len(TIMES))
        t = float(rng.uniform(-5, 65))
        params[p] = table
        with np.errstate(all="ignore"):
            got = np.asarray(c.eval_fn(t, y, **params), dtype=np.float64)
            at_t = {**params, p: float(REFS[method](t, np.array(TIMES), table))}
            ev = StringEvaluator(
                states=dict(zip(rhs.state_names, y)),
                params=at_t,
                aliases=dict(rhs.aliases),
                t=t,
            )
            want = np.array([float(ev.evaluate(e)) for e in rhs.equations])
        ok, why = _close(got, want)
        assert ok, (case["id"], p, method, why)
        checked += 1
    assert checked >= 20


def test_scipy_solve_split_at_the_breakpoints() -> None:
    from scipy.integrate import solve_ivp

    c = compile_spec(_sir("previous"))
    hand = _hand_sir("previous")
    rhs = c.bind(PARAMS)
    edges = [0.0, *[b for b in c.forcing_breakpoints if 0 < b < 80], 80.0]
    y = Y0
    yh = Y0
    for a, b in itertools.pairwise(edges):
        y = solve_ivp(rhs, (a, b), y, rtol=1e-10, atol=1e-8).y[:, -1]
        yh = solve_ivp(
            lambda t, u: hand(t, u, **PARAMS), (a, b), yh, rtol=1e-10, atol=1e-8
        ).y[:, -1]
    np.testing.assert_allclose(y, yh, rtol=1e-9)
    np.testing.assert_allclose(y.sum(), Y0.sum(), rtol=1e-10)


def test_gradient_of_a_diffrax_solve_with_respect_to_the_table() -> None:
    jax = pytest.importorskip("jax")
    diffrax = pytest.importorskip("diffrax")
    jnp = jax.numpy
    c = compile_spec(_sir("linear"), xp=jnp)
    jp = {k: jnp.asarray(v) for k, v in PARAMS.items()}

    def ever_infected(beta: Any, fn: Any) -> Any:
        term = diffrax.ODETerm(lambda t, y, args: fn(t, y, **{**jp, "beta": args}))
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            0.0,
            60.0,
            0.5,
            jnp.asarray(Y0),
            args=beta,
            stepsize_controller=diffrax.PIDController(
                rtol=1e-9, atol=1e-9, jump_ts=jnp.asarray(c.forcing_breakpoints)
            ),
            max_steps=100_000,
        )
        return sol.ys[-1][2:6].sum()  # ever infected

    beta = jp["beta"]
    ours = jax.grad(lambda b: ever_infected(b, c.eval_fn))(beta)
    hand = jax.grad(lambda b: ever_infected(b, _hand_sir("linear", jnp)))(beta)
    np.testing.assert_allclose(ours, hand, rtol=1e-6)
    # and a central finite difference of the solve itself (compiled once)
    solve = jax.jit(lambda b: ever_infected(b, c.eval_fn))
    eps = 1e-5
    for k in range(len(TIMES)):
        e = jnp.zeros(len(TIMES)).at[k].set(eps)
        fd = (solve(beta + e) - solve(beta - e)) / (2 * eps)
        np.testing.assert_allclose(ours[k], fd, rtol=1e-4, atol=1e-6)
    assert np.all(np.asarray(ours) > 0)  # more transmission, more infected


# -- bad input --------------------------------------------------------------------
def test_bad_tables_and_grids() -> None:
    c = compile_spec(_sir())
    with pytest.raises(ParameterError, match=r"'beta' must be a table of shape \(5,\)"):
        c.eval_fn(1.0, Y0, **{**PARAMS, "beta": 0.3})
    with pytest.raises(ParameterError, match=r"shape \(2, 5\).*axes age, time"):
        c.eval_fn(1.0, Y0, **{**PARAMS, "m": PARAMS["m"].T})
    with pytest.raises(ParameterError, match="strictly increasing"):
        c.eval_fn(1.0, Y0, **PARAMS, time=np.array([0.0, 5.0, 5.0, 6.0, 7.0]))
    with pytest.raises(ParameterError, match="1-D"):
        c.eval_fn(1.0, Y0, **PARAMS, time=np.zeros((5, 1)))
    # a grid of another length takes tables of that length
    short = {"beta": np.array([0.1, 0.2]), "m": np.ones((2, 2)), "gamma": 0.1}
    got = c.eval_fn(5.0, Y0, **short, time=np.array([0.0, 10.0]))
    want = compile_spec(_sir()).eval_fn(
        5.0, Y0, beta=np.full(5, 0.15), m=np.ones((2, 5)), gamma=0.1
    )
    np.testing.assert_allclose(got, want)
    with pytest.raises(ParameterError, match=r"missing parameter.*beta"):
        c.eval_fn(1.0, Y0, m=PARAMS["m"], gamma=0.1)


def test_bad_specs() -> None:
    with pytest.raises(
        SpecError, match=r"unknown interpolation 'linar'.*did you mean 'linear'"
    ):
        normalize_rhs(_sir("linar"))
    with pytest.raises(SpecError, match=r"names 'bta'.*did you mean 'beta'"):
        normalize_rhs(_sir({"bta": "previous"}))  # type: ignore[arg-type]
    spec = _sir(time_axis="tme")
    with pytest.raises(
        SpecError, match=r"time_axis 'tme' is not an axis.*did you mean 'time'"
    ):
        normalize_rhs(spec)
    spec = _sir(time_axis="age")
    with pytest.raises(SpecError, match="must be a continuous axis"):
        normalize_rhs(spec)
    mixed = _sir()
    mixed["transitions"][1]["rate"] = "gamma * beta"
    with pytest.raises(
        SpecError, match=r"'beta' is time-varying .* also used another way"
    ):
        normalize_rhs(mixed)
    unsorted = _sir()
    unsorted["axes"][1]["coords"] = [0.0, 10.0, 10.0, 20.0, 30.0]
    with pytest.raises(SpecError, match="strictly increasing"):
        normalize_rhs(unsorted)
    plain = {
        "state": ["x"],
        "equations": {"x": "-k * x"},
        "time_interpolation": "linear",
    }
    with pytest.warns(SpecWarning, match="no parameter is indexed by the time axis"):
        normalize_rhs(plain)


def test_per_parameter_methods_and_another_axis_name() -> None:
    spec = _sir({"default": "previous", "m": "monotone_cubic"})  # type: ignore[arg-type]
    r = normalize_rhs(spec)
    assert r.meta["time_interpolation"] == {"beta": "previous", "m": "monotone_cubic"}
    renamed = copy.deepcopy(_sir("linear", time_axis="day"))
    renamed["axes"][1]["name"] = "day"
    for tr in renamed["transitions"]:
        tr["rate"] = tr["rate"].replace("time", "day")
    a, b = compile_spec(_sir("linear")), compile_spec(renamed)
    np.testing.assert_allclose(
        a.eval_fn(12.0, Y0, **PARAMS), b.eval_fn(12.0, Y0, **PARAMS)
    )
    grid = np.array(TIMES) * 2
    np.testing.assert_allclose(
        a.eval_fn(24.0, Y0, **PARAMS, time=grid),
        b.eval_fn(24.0, Y0, **PARAMS, day=grid),
    )
    # a template over the time axis reads it as an ordinary axis (no table)
    ordinary = {
        "axes": [{"name": "time", "type": "continuous", "coords": [0.0, 1.0]}],
        "state": ["u[time]"],
        "equations": {"u[time]": "-k[time] * u[time]"},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        o = compile_spec(ordinary)
    assert o.param_names == ("k__time_0_0", "k__time_1_0")
    assert "forcing_breakpoints" not in o.meta
    assert o.forcing_breakpoints == ()


def test_time_axis_in_a_rate_against_0_1_2() -> None:
    """0.1.2 expands a transition whose rate reads `beta[time]` over the time
    coordinates (stored 0.1.2 output, tests/parity); `time_axis: null` gives the
    same names and numbers, and by default the rate reads beta at t instead."""
    import json
    from pathlib import Path

    refs = json.loads((Path(__file__).parents[1] / "parity" / "refs.json").read_text())
    case = next(
        c
        for c in refs["cases"]
        if c["name"] == "rate_over_a_time_axis_with_time_axis_null"
    )
    old = compile_spec(case["spec"])
    assert list(old.param_names) == [
        p for p in case["param_names"] if p not in ("t", "np")
    ]
    for smp in case["samples"]:
        got = old.eval_fn(smp["t"], np.array(smp["y"]), **smp["params"])
        np.testing.assert_allclose(got, smp["dydt"], rtol=1e-12)
    spec = {k: v for k, v in case["spec"].items() if k != "time_axis"}
    new = compile_spec(spec)
    assert new.param_names == ("beta", "gamma")
    smp = case["samples"][0]
    p = smp["params"]
    table = np.array([p["beta__time_0_0"], p["beta__time_10_0"], p["beta__time_25_0"]])
    y = np.array(smp["y"])
    got = new.eval_fn(smp["t"], y, beta=table, gamma=p["gamma"])
    b = np.interp(smp["t"], [0.0, 10.0, 25.0], table)
    inf = b * y[2:] * y[:2]
    rec = p["gamma"] * y[2:]
    np.testing.assert_allclose(got, np.concatenate([rec - inf, inf - rec]), rtol=1e-12)
    assert not np.allclose(got, smp["dydt"])
