"""Every view of a model agrees with `eval_fn`, on specs we did not write.

For random valid specs from the differential generator (expression,
transitions and flat per-cell models; chains in both kinds, per-cell overrides,
aliases of aliases, indexed parameters, kernels, coordinate shifts, ...), each
view is computed and compared with the NumPy `eval_fn` at a random point:

* 0.1.2's expanded strings, evaluated by an independent evaluator;
* the LaTeX (`to_latex`), read back by an independent reader of its grammar
  (`tests/latex_reader.py`: indexed lines evaluated for every cell) and evaluated;
  every model's LaTeX is read (no exclusion: the reader raises on anything it
  cannot read, and a name that reads two ways, `f_{x}` for `f_x` and `f[x]`,
  does not occur in generated specs);
* sympy's expressions, evaluated by substitution;
* `bind(params)` and a pickled and restored model;
* transitions models: `stoichiometry @ flows`, and `flows == rates * source`;
* the Jacobian (one batched program) against central finite differences of
  `eval_fn`, and `J @ v` against the one-direction `jvp`;
* JAX: a fresh model of the default backend, whose `eval_fn`, `jvp` and
  `flows` are generated inside a first trace (`make_jaxpr`) and then used under
  `jit`, against NumPy.

The seeds are fixed: about 220 valid specs for the NumPy views, 22 for JAX
(each JAX program is compiled twice, so those specs are fewer).
"""

from __future__ import annotations

import copy
import pickle
import warnings
from typing import Any

import numpy as np
import pytest
from tests.differential.compare import StringEvaluator, _close, scalar_inputs
from tests.differential.generate import generate_cases
from tests.latex_reader import read_latex

from op_system import compile_rhs, normalize_rhs
from op_system._views.latex import to_latex
from op_system._views.symbolic import to_sympy


def _valid(seed: int, n: int) -> list[tuple[str, Any, Any]]:
    out = []
    for case in generate_cases(n, seed=seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                rhs = normalize_rhs(copy.deepcopy(case["spec"]))
                c = compile_rhs(rhs)
            except Exception:  # a mutant meant to be rejected
                continue
        out.append((case["id"], rhs, c))
    return out


def _agree(a: Any, b: Any, what: str, case: str) -> None:
    ok, why = _close(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    assert ok, f"{case}: {what}: {why}"


def _numpy_views(case: str, rhs: Any, c: Any, t: float, y: Any, p: Any) -> None:
    dydt = np.asarray(c.eval_fn(t, y, **p), dtype=np.float64)
    ev = StringEvaluator(
        states=dict(zip(rhs.state_names, y)), params=p, aliases=dict(rhs.aliases), t=t
    )
    _agree([float(ev.evaluate(e)) for e in rhs.equations], dydt, "0.1.2 strings", case)
    _agree(read_latex(to_latex(rhs), rhs, y, p, t), dydt, "LaTeX read back", case)
    _agree(c.bind(p)(t, y), dydt, "bind", case)
    _agree(pickle.loads(pickle.dumps(c)).eval_fn(t, y, **p), dydt, "pickle", case)
    if not np.all(np.isfinite(dydt)):
        return
    exprs = to_sympy(rhs)
    subs = {**dict(zip(rhs.state_names, y)), **p, "t": t}
    got = []
    for name in rhs.state_names:
        e = exprs[name]
        syms = {s: subs[s.name] for s in getattr(e, "free_symbols", ())}
        got.append(float(e.xreplace(syms)) if syms else float(e))
    _agree(got, dydt, "sympy", case)
    if rhs.kind == "transitions":
        flows = np.asarray(c.flows(t, y, **p))
        if len(flows):
            _agree(c.stoichiometry @ flows, dydt, "stoichiometry @ flows", case)
            rates = np.asarray(c.rates(t, y, **p))
            src = np.array(
                [
                    1.0 if s is None else y[s]
                    for s in _flow_sources(c)  # None: a source's flow is its rate
                ]
            )
            _agree(rates * src, flows, "rates * source", case)
    jac = c.jacobian()(t, y, **p)
    v = np.linspace(-1.0, 1.0, len(y))
    # J @ v and the jvp sum the same terms in other orders: compare at their scale
    gap = np.abs(jac @ v - c.jvp()(t, y, v, **p))
    assert np.all(gap <= 1e-12 * (np.abs(jac) @ np.abs(v) + 1e-300)), (case, "jvp")
    h = 1e-6 * np.maximum(1.0, np.abs(y))
    fd = np.stack(
        [
            (c.eval_fn(t, y + h[k] * e, **p) - c.eval_fn(t, y - h[k] * e, **p))
            / (2 * h[k])
            for k, e in enumerate(np.eye(len(y)))
        ],
        axis=1,
    )
    scale = np.maximum(1.0, np.abs(jac))
    assert np.all(np.abs(jac - fd) <= 1e-4 * scale), (case, "Jacobian vs FD")


def _flow_sources(c: Any) -> list[int | None]:
    from op_system._core.cells import flow_sources

    return flow_sources(c.rhs._model)


def _jax_views(case: str, rhs: Any, t: float, y: Any, p: Any) -> None:
    import jax
    import jax.numpy as jnp

    ref = compile_rhs(rhs, backend="numpy")
    fresh = compile_rhs(rhs)  # the default backend: JAX programs made on first use
    v = np.linspace(-1.0, 1.0, len(y))
    views = {
        "eval_fn": (lambda yy: fresh.eval_fn(t, yy, **p), ref.eval_fn(t, y, **p)),
        "jvp": (
            lambda yy: fresh.jvp("jax")(t, yy, jnp.asarray(v), **p),
            ref.jvp()(t, y, v, **p),
        ),
    }
    if rhs.kind == "transitions" and len(ref.flow_names):
        views["flows"] = (lambda yy: fresh.flows(t, yy, **p), ref.flows(t, y, **p))
    for name, (fn, want) in views.items():
        # generated inside this trace, then used in another (distinct wrappers:
        # JAX would reuse the first trace for the same function)
        jax.make_jaxpr(lambda yy, fn=fn: fn(yy))(jnp.asarray(y))
        got = jax.jit(lambda yy, fn=fn: fn(yy))(jnp.asarray(y))
        if np.all(np.isfinite(want)):
            _agree(got, want, f"JAX {name}", case)


@pytest.mark.parametrize("seed", [61, 62, 64, 65])
def test_every_view_agrees_with_eval_fn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    models = _valid(seed, 60)
    assert len(models) >= 45
    for case, rhs, c in models:
        y, p = scalar_inputs(rhs, rng)
        with np.errstate(all="ignore"):
            _numpy_views(case, rhs, c, 0.7, y, p)


@pytest.mark.parametrize("seed", [63])
def test_lazily_generated_jax_functions_work_in_a_second_trace(seed: int) -> None:
    pytest.importorskip("jax")
    rng = np.random.default_rng(seed)
    models = _valid(seed, 24)
    assert len(models) >= 15
    for case, rhs, _ in models:
        y, p = scalar_inputs(rhs, rng)
        with np.errstate(all="ignore"):
            _jax_views(case, rhs, 0.7, y, p)
