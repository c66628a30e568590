"""No value is computed twice at the top level of a generated function
(`_lower/recompute.py`), checked on the printed programs with Python's own
parser: over the parity specs and generated specs, in every mode and on both
backends, no two assignments of one variable each compute the same expression
from the same, unchanged variables. The same check finds such pairs when the
pass is turned off (so it can fail), and the programs with and without it give
the same numbers.
"""

from __future__ import annotations

import ast
import copy
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pytest
from tests.differential.generate import generate_cases
from tests.parity.cases import CASES

from op_system import compile_spec, normalize_rhs
from op_system._lower import codegen
from op_system._lower.codegen import lower_model
from op_system._lower.stmts import RUNTIME

MODES = ("rhs", "flows", "rates", "observables", "jvp", "jvps", "jacobian")


def _models() -> list[Any]:
    specs = [c["spec"] for c in CASES]
    specs += [c["spec"] for c in generate_cases(60, seed=29)]
    out = []
    for spec in specs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out.append(normalize_rhs(copy.deepcopy(spec))._model)
            except Exception:  # invalid generated specs (mutants) have no program
                continue
    return out


MODELS = _models()


def _kept(fn: ast.FunctionDef) -> set[str]:
    """Variables whose arrays are written in place, handed to a helper called for
    its effect, or returned as they are (the pass leaves these alone)."""
    out: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name):
                out.add(node.value.id)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            out |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Return) and node.value is not None:
            parts = node.value.elts if isinstance(node.value, ast.Tuple) else []
            out |= {p.id for p in (node.value, *parts) if isinstance(p, ast.Name)}
    return out


def _calls_helper(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id in RUNTIME
        for n in ast.walk(node)
    )


def recomputed(source: str) -> list[tuple[str, str]]:
    """Pairs of variables assigned the same pure expression of unchanged variables."""
    pairs = []
    for fn in ast.parse(source).body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        stores = Counter(
            n.id
            for n in ast.walk(fn)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        )
        kept = _kept(fn) | {a.arg for a in fn.args.args}
        version: Counter[str] = Counter()
        seen: dict[Any, str] = {}
        for stmt in fn.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stores[stmt.targets[0].id] == 1
                and stmt.targets[0].id not in kept
                and not _calls_helper(stmt.value)
            ):
                names = sorted(
                    {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
                )
                key = (ast.dump(stmt.value), tuple((n, version[n]) for n in names))
                if key in seen:
                    pairs.append((seen[key], stmt.targets[0].id))
                else:
                    seen[key] = stmt.targets[0].id
            for n in ast.walk(stmt):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    version[n.id] += 1
                elif isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store):
                    if isinstance(n.value, ast.Name):
                        version[n.value.id] += 1
                elif isinstance(n, ast.Expr) and isinstance(n.value, ast.Call):
                    version.update(
                        {m.id for m in ast.walk(n.value) if isinstance(m, ast.Name)}
                    )
    return pairs


def _programs() -> list[str]:
    out = []
    for model in MODELS:
        for backend in ("numpy", "jax"):
            for mode in MODES:
                if backend == "jax" and mode in ("jvps", "jacobian"):
                    continue  # batched tangents are NumPy programs
                low = lower_model(model, backend, mode)
                out += (
                    [low.source, low.bound_source] if low.bound_source else [low.source]
                )
    return out


def test_no_value_is_computed_twice() -> None:
    programs = _programs()
    assert len(programs) > 1000
    found = [(i, p) for i, s in enumerate(programs) for p in recomputed(s)]
    assert not found, found[:5]


def test_the_check_finds_recomputed_values_without_the_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(codegen, "drop_recomputed", lambda fn, emitter: fn)
    assert sum(len(recomputed(s)) for s in _programs()) > 50


SIR = next(c["spec"] for c in CASES if c["name"] == "sir_expr_default_kind_sum_state")


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_a_total_read_twice_by_the_jvp_is_summed_once(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The jvp of an SIR written with `sum_state()` in two equations: the total is
    built once per equation's tangent, and summed once."""
    model = normalize_rhs(copy.deepcopy(SIR))._model
    total = "_add_reduce(y)" if backend == "numpy" else "_sum(y)"
    assert lower_model(model, backend, "jvp").source.count(total) == 1
    y, v = np.array([0.7, 0.2, 0.1]), np.array([0.3, -1.0, 2.0])
    params = {"beta": 0.4, "gamma": 0.1}
    got = np.asarray(
        compile_spec(copy.deepcopy(SIR), xp=backend).jvp()(0.0, y, v, **params)
    )
    monkeypatch.setattr(codegen, "drop_recomputed", lambda fn, emitter: fn)
    assert lower_model(model, backend, "jvp").source.count(total) == 2
    c = compile_spec(copy.deepcopy(SIR), xp=backend)
    np.testing.assert_array_equal(got, np.asarray(c.jvp()(0.0, y, v, **params)))
