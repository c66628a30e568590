"""Performance regression guards that do not time anything.

* the jaxpr of the jitted age-SEIR RHS does not grow with the number of age groups;
* the generated source of a templated model (and of a 200-stage chain) has no
  per-state statement;
* the exact jvp's source grows linearly with the size of products, quotients and
  sums (10 to 1,000 factors);
* `import op_system` imports neither jax, sympy nor scipy;
* `python -m benchmarks --quick --no-external` runs (smoke test of the benchmark suite).

The timed benchmarks themselves live in `benchmarks/` (`make bench`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from op_system import compile_spec

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the benchmarks package (not installed) holds the models

from benchmarks.models import age_seir, erlang_spec, region_seir  # noqa: E402


def _jaxpr_eqns(n: int) -> int:
    """Equations (sub-jaxprs included) of the jitted age-SEIR RHS with N age groups."""
    jnp = pytest.importorskip("jax.numpy")
    from benchmarks.suite import count_jaxpr_eqns

    m = age_seir(n)
    compiled = compile_spec(m.spec, xp=jnp)
    y = jnp.asarray(m.y_call)
    params = {k: jnp.asarray(v) for k, v in m.params.items()}
    return count_jaxpr_eqns(lambda y, p: compiled.eval_fn(0.0, y, **p), y, params)[
        "total"
    ]


def test_jaxpr_size_does_not_grow_with_n() -> None:
    small, big = _jaxpr_eqns(16), _jaxpr_eqns(256)
    assert big <= 2 * small, (
        f"jaxpr of the N=256 age SEIR has {big} equations, N=16 has {small}"
    )
    assert big < 200, (
        f"jaxpr of the N=256 age SEIR has {big} equations (one op per state?)"
    )


def _lines(spec: dict) -> int:
    return len(compile_spec(spec).source.splitlines())


@pytest.mark.parametrize(
    ("small", "big"),
    [
        (age_seir(4).spec, age_seir(256).spec),
        (region_seir(2, 3).spec, region_seir(40, 25).spec),
    ],
    ids=["age_seir", "region_seir"],
)
def test_templated_source_has_no_per_state_statement(small: dict, big: dict) -> None:
    c_small, c_big = compile_spec(small), compile_spec(big)
    src_small, src_big = c_small.source, c_big.source
    assert len(src_big.splitlines()) <= len(src_small.splitlines()), src_big
    # Shapes are spelled out (4 -> 256); nothing else may grow with the model.
    assert len(src_big) <= 1.5 * len(src_small) + 200, src_big
    named = [n for n in c_big.state_names if n in src_big]
    assert not named, f"expanded state names in the generated source: {named[:5]}"


def test_chain_source_has_no_per_stage_statement() -> None:
    # issue 6: chains lower to shifted slices, not one statement per stage
    assert _lines(erlang_spec(200)) <= _lines(erlang_spec(10)), compile_spec(
        erlang_spec(200)
    ).source


def test_import_does_not_pull_heavy_modules() -> None:
    code = (
        "import sys, op_system\n"
        "heavy = [m for m in ('jax', 'jaxlib', 'sympy', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_benchmark_suite_quick_smoke(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    pytest.importorskip("diffrax")
    pytest.importorskip("scipy")
    docs_plot = ROOT / "docs" / "performance.png"
    before = docs_plot.stat().st_mtime_ns if docs_plot.exists() else None
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--no-external",
            "--output",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    assert {
        "numpy",
        "jax",
        "diffrax",
        "build",
        "import",
        "compile",
        "scipy",
        "op_engine",
        "dialect09",
    } <= results.keys()
    assert (
        results["op_engine"][0]["max_rel_diff"] <= 1e-6
    )  # both Jacobians, one solution
    assert results["targets"], "no target evaluated"
    assert (tmp_path / "performance.png").stat().st_size > 0
    assert (tmp_path / "table.md").read_text().count("|") > 20
    after = docs_plot.stat().st_mtime_ns if docs_plot.exists() else None
    assert before == after, "a --quick run must not overwrite docs/performance.png"


def _jvp_source_size(op: str, n: int) -> int:
    expr = f" {op} ".join(f"(1 + x{i % 7} / {i + 2})" for i in range(n))
    eqs = {f"x{i}": "0.0" for i in range(1, 7)}
    c = compile_spec(
        {
            "kind": "expr",
            "state": [f"x{i}" for i in range(7)],
            "equations": {**eqs, "x0": expr},
        }
    )
    from op_system._lower.codegen import lower_model

    return len(lower_model(c.rhs._model, "numpy", mode="jvp").source)


@pytest.mark.parametrize("op", ["*", "/", "+", "-"])
def test_jvp_source_is_linear_in_expression_size(op: str) -> None:
    sizes = {n: _jvp_source_size(op, n) for n in (10, 15, 100, 1000)}
    per_factor = {n: s / n for n, s in sizes.items()}
    # linear: the cost per factor does not grow (names get a digit longer at most)
    assert per_factor[1000] <= 1.25 * per_factor[100]
    assert per_factor[15] <= 1.25 * per_factor[10]
    assert per_factor[1000] <= 1.25 * max(per_factor[10], per_factor[15])


# -- flat per-cell specs are re-rolled ---------------------------------------------------


def _flat_age_seir(n: int) -> dict:
    """The age SEIR as a 0.1.2 user writes it: one alias and four equations per age."""
    aliases, equations = {}, {}
    for i in range(n):
        aliases[f"foi_{i}"] = " + ".join(
            f"C_{i}_{j} * I_{j} / Npop_{j}" for j in range(n)
        )
        equations[f"S_{i}"] = f"-beta * S_{i} * foi_{i}"
        equations[f"E_{i}"] = f"beta * S_{i} * foi_{i} - sigma * E_{i}"
        equations[f"I_{i}"] = f"sigma * E_{i} - gamma * I_{i}"
        equations[f"R_{i}"] = f"gamma * I_{i}"
    state = [f"{c}_{i}" for c in "SEIR" for i in range(n)]
    return {"kind": "expr", "state": state, "aliases": aliases, "equations": equations}


def _flat_inputs(n: int) -> tuple[Any, dict[str, float], Any, Any]:
    rng = np.random.default_rng(n)
    c = rng.uniform(0.1, 1.0, (n, n))
    npop = rng.uniform(500.0, 1000.0, n)
    params = {"beta": 0.3, "sigma": 0.2, "gamma": 0.1}
    params.update({f"Npop_{j}": float(npop[j]) for j in range(n)})
    params.update({f"C_{i}_{j}": float(c[i, j]) for i in range(n) for j in range(n)})
    return rng.uniform(1.0, 100.0, 4 * n), params, c, npop


def _flat_by_hand(y: Any, c: Any, npop: Any) -> Any:
    s, e, i, _ = y.reshape(4, -1)
    foi = c @ (i / npop)
    inf = 0.3 * s * foi
    return np.concatenate([-inf, inf - 0.2 * e, 0.2 * e - 0.1 * i, 0.1 * i])


def _statements(src: str) -> int:
    """Generated statements, not counting the reads of individual parameters."""
    return sum(1 for line in src.splitlines() if "params[" not in line)


@pytest.mark.parametrize("n", [6, 24])
def test_flat_per_cell_spec_is_rerolled(n: int) -> None:
    c = compile_spec(_flat_age_seir(n))
    y, params, cm, npop = _flat_inputs(n)
    np.testing.assert_allclose(
        c.eval_fn(0.0, y, **params), _flat_by_hand(y, cm, npop), rtol=1e-12
    )
    # one statement per group of cells, not per cell: the same count for every n
    assert _statements(c.source) == _statements(compile_spec(_flat_age_seir(6)).source)
    assert _statements(c.source) < 40


def test_flat_per_cell_jaxpr_does_not_grow_with_n() -> None:
    jnp = pytest.importorskip("jax.numpy")
    import jax

    counts = []
    for n in (6, 24):
        c = compile_spec(_flat_age_seir(n), xp=jnp)
        y, params, cm, npop = _flat_inputs(n)
        jaxpr = jax.make_jaxpr(
            lambda y, c=c, params=params: c.eval_fn(0.0, y, **params)
        )(jnp.asarray(y))
        counts.append(len(jaxpr.jaxpr.eqns))
        got = jax.jit(lambda y, c=c, params=params: c.eval_fn(0.0, y, **params))(
            jnp.asarray(y)
        )
        np.testing.assert_allclose(
            np.asarray(got), _flat_by_hand(y, cm, npop), rtol=1e-12
        )
    assert counts[0] == counts[1], counts


def test_missing_parameter_of_a_rerolled_group_is_reported() -> None:
    from op_system import ParameterError

    c = compile_spec(_flat_age_seir(6))
    y, params, _, _ = _flat_inputs(6)
    del params["C_2_3"]
    with pytest.raises(ParameterError, match="C_2_3"):
        c.eval_fn(0.0, y, **params)


def test_jvp_and_sparsity_are_built_once() -> None:
    c = compile_spec(_flat_age_seir(6))
    assert c.jvp() is c.jvp()
    rows1, _ = c._sparsity()
    rows2, _ = c._sparsity()
    assert rows1 is rows2


def _primitives(spec: dict, params: dict, n: int) -> list[str]:
    jnp = pytest.importorskip("jax.numpy")
    import jax

    c = compile_spec(spec, xp=jnp)
    p = {k: jnp.asarray(v) for k, v in params.items()}
    y = jnp.asarray(np.linspace(1.0, 2.0, n))
    closed = jax.make_jaxpr(lambda y: c.eval_fn(0.0, y, **p))(y)

    def names(jaxpr: Any) -> list[str]:  # sub-jaxprs (pjit, ...) included
        out = []
        for eqn in jaxpr.eqns:
            out.append(eqn.primitive.name)
            for v in eqn.params.values():
                for sub in v if isinstance(v, (tuple, list)) else [v]:
                    if hasattr(sub, "jaxpr") and hasattr(sub, "consts"):
                        out.extend(names(sub.jaxpr))
        return out

    return names(closed.jaxpr)


@pytest.mark.parametrize("form", ["mixed (listed stages)", "flat per-cell"])
def test_chain_written_stage_by_stage_needs_no_gather_or_scatter(form: str) -> None:
    """Flows between consecutive stages are placed as shifted slices, as in the
    templated chain: no gather, no scatter, and at most a few more equations."""
    from benchmarks.models import erlang_chain, spec_forms

    m = erlang_chain(50)
    forms = spec_forms(m)
    templated = _primitives(*forms["templated"], m.n_state)
    got = _primitives(*forms[form], m.n_state)
    assert not {"gather", "scatter-add", "scatter"} & set(got), got
    assert len(got) <= len(templated) + 4, (got, templated)


def test_overrides_reading_matrix_cells_are_rerolled() -> None:
    """Every fourth age overridden cell by cell with `C__age_ai__age_aj` terms and
    its own transmission rate (an intervention in those ages, so not the template
    restated): one gather from `C` and one matrix product, the same code size for
    every N, and the values of the 0.1.2 strings."""
    from benchmarks.models import age_seir_overrides
    from tests.differential.compare import StringEvaluator

    from op_system import normalize_rhs

    sizes = []
    for n in (16, 64):  # 4 and 16 overridden ages
        m = age_seir(n)
        spec, params = age_seir_overrides(m)
        spec["equations"] = {
            k: v if "[" in k else v.replace("beta * S", "beta_hi * S")
            for k, v in spec["equations"].items()
        }
        params = {**params, "beta_hi": 0.02}
        rhs = normalize_rhs(spec)
        assert not any(eq.template_cells for eq in rhs._model.equations)
        c = compile_spec(spec)
        scalars = {k: v for k, v in params.items() if k != "C"}
        scalars.update(
            {
                f"C__age_a{i}__age_a{j}": float(params["C"][i, j])
                for i in range(n)
                for j in range(n)
            }
        )
        ev = StringEvaluator(
            states=dict(zip(rhs.state_names, m.y_call)),
            params=scalars,
            aliases={},
            t=0.0,
        )
        want = np.array([float(ev.evaluate(e)) for e in rhs.equations])
        np.testing.assert_allclose(c.eval_fn(0.0, m.y_call, **params), want, rtol=1e-12)
        sizes.append(len(c.source.splitlines()))
    assert sizes[0] == sizes[1] < 60, sizes


@pytest.mark.parametrize("written", ["as the template", "reversed", "explicit total"])
def test_overrides_restating_the_template_are_computed_by_it(written: str) -> None:
    """Cells written out term by term as the template would expand them (in any
    order) cost nothing: the generated function is the template's, statement for
    statement."""
    import ast

    from benchmarks.models import age_seir_overrides

    from op_system import normalize_rhs

    m = age_seir(32)
    spec, params = age_seir_overrides(m, written=written)
    rhs = normalize_rhs(spec)
    overridden = [eq for eq in rhs._model.equations if eq.overrides]
    assert len(overridden) == 2
    assert all(eq.template_cells == set(eq.overrides) for eq in overridden)
    c = compile_spec(spec)
    template_only = {
        **spec,
        "equations": {k: v for k, v in spec["equations"].items() if "[" in k},
    }
    assert c.source == compile_spec(template_only).source
    np.testing.assert_allclose(
        c.eval_fn(0.0, m.y_call, **params),
        m.ref_np(0.0, m.y_call, **m.params),
        rtol=1e-12,
    )
    # The 0.1.2 strings still show the cells as written.
    shown = rhs.equations[rhs.state_names.index("S__age_a4")]
    written = spec["equations"]["S__age_a4"]
    assert ast.dump(ast.parse(shown)) == ast.dump(ast.parse(written))


def test_flat_spec_with_per_cell_counters_is_rerolled() -> None:
    """The age SEIR written cell by cell with a named transition and an incidence
    counter per cell: the counters are one more slice target of each re-rolled flow
    vector, so the generated code and the jaxpr keep their size as N grows."""
    from benchmarks.models import age_seir_counted, spec_forms

    sizes = []
    for n in (8, 32):
        m = age_seir_counted(n)
        forms = spec_forms(m)
        spec, params = forms["flat per-cell"]
        c = compile_spec(spec)
        np.testing.assert_allclose(
            c.bind(params)(0.0, m.y_call),
            m.ref_np(0.0, m.y_call, **m.params),
            rtol=1e-12,
        )
        got = _primitives(spec, params, m.n_state)
        templated = _primitives(*forms["templated"], m.n_state)
        assert len(got) <= len(templated) + 12, (got, templated)
        sizes.append((len(c.source.splitlines()), len(got)))
    assert sizes[0] == sizes[1], sizes


def test_dialect09_benchmark_models_match_their_hand_written_rhs() -> None:
    """The routing (81 bins) and axis-wide coord_shift (200 bins) benchmark models:
    the hand-written RHS the benchmark times op_system against is the same function
    as a per-cell loop over the flows, and as op_system's; and the generated program
    does not grow with the number of bins."""
    from benchmarks.dialect09 import (
        coord_shift_model,
        coord_shift_spec,
        routing_model,
        routing_spec,
    )

    m = routing_model(3, 81)
    X = m.y_call.reshape(3, 81)
    w, G = m.params["w"], m.params["G"]
    loop = np.zeros_like(X)
    for loc in range(3):
        for i in range(81):
            for j in range(81):
                flow = w[loc] * G[i, j] * X[loc, i]
                loop[loc, i] -= flow
                loop[loc, j] += flow
    hand = m.ref_np(0.0, m.y_call, **m.params)
    np.testing.assert_allclose(hand, loop.ravel(), rtol=1e-12, atol=1e-15)
    got = compile_spec(m.spec).eval_fn(0.0, m.y_call, **m.params)
    np.testing.assert_allclose(got, hand, rtol=1e-10, atol=1e-14)

    m = coord_shift_model(200)
    S, r, mu = m.y_call[:-1], m.params["r"], m.params["mu"]
    loop = np.zeros_like(m.y_call)
    for k in range(200):
        loop[k] -= (r[k] + mu[k]) * S[k]
        loop[min(k + 1, 199)] += r[k] * S[k]  # boundary `stay`
        loop[-1] += mu[k] * S[k]
    hand = m.ref_np(0.0, m.y_call, **m.params)
    np.testing.assert_allclose(hand, loop, rtol=1e-12, atol=1e-15)
    got = compile_spec(m.spec).eval_fn(0.0, m.y_call, **m.params)
    np.testing.assert_allclose(got, hand, rtol=1e-10, atol=1e-14)

    def lines(spec: dict[str, Any]) -> int:
        return len(compile_spec(spec).source.splitlines())

    assert lines(routing_spec(3, 9)) == lines(routing_spec(3, 81))
    assert lines(coord_shift_spec(9)) == lines(coord_shift_spec(200))
