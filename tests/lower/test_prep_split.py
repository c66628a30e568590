"""The `prep`/`core` split of `bind` (`_lower/split.py`), a pass over the statements.

Checked against the printed programs, not the pass's own reading of the IR:
over the parity specs and generated specs, in every mode and on both backends,
`prep` reads nothing but `params` (never `t`, the state or a tangent), every
local variable `core` reads is its argument or written before, and `core`
gets exactly the variables it reads. Then by behaviour: bound functions agree
with `eval_fn` (also `tests/views/test_views_agree.py`), outputs are new arrays
at every call, and what depends on the parameters alone is computed once.
"""

from __future__ import annotations

import ast
import copy
import warnings
from typing import Any

import numpy as np
import pytest
from tests.differential.generate import generate_cases
from tests.parity.cases import CASES

from op_system import compile_spec, normalize_rhs
from op_system._lower.codegen import lower_model

MODES = ("rhs", "flows", "rates", "observables", "jvps", "jacobian")


def _specs() -> list[tuple[str, dict[str, Any]]]:
    out = [(f"parity:{c['name']}", c["spec"]) for c in CASES]
    out += [(f"gen:{c['id']}", c["spec"]) for c in generate_cases(60, seed=23)]
    return out


def _models() -> list[tuple[str, Any]]:
    models = []
    for key, spec in _specs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                models.append((key, normalize_rhs(copy.deepcopy(spec))._model))
            except Exception:  # invalid generated specs (mutants) have no program
                continue
    return models


MODELS = _models()


class _Flow(ast.NodeVisitor):
    """Names a statement loads before it stores them, and names it stores."""

    def __init__(self) -> None:
        self.loads: set[str] = set()
        self.stores: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and node.id not in self.stores:
            self.loads.add(node.id)
        elif isinstance(node.ctx, ast.Store):
            self.stores.add(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)  # the value is read before the targets are written
        for t in node.targets:
            self.visit(t)


def _check(source: str, full: str) -> None:
    """Assert the data flow of a printed `prep`/`core` pair."""
    fns = {f.name: f for f in ast.parse(source).body if isinstance(f, ast.FunctionDef)}
    prep, core = fns["prep"], fns["core"]
    whole = ast.parse(full).body[0]
    assert isinstance(whole, ast.FunctionDef)
    local = {a.arg for a in whole.args.args} | {"params"}
    local |= {
        n.id
        for n in ast.walk(whole)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    for fn, known in ((prep, {"params"}), (core, {a.arg for a in core.args.args})):
        for stmt in fn.body:
            flow = _Flow()
            flow.visit(stmt)
            unknown = (flow.loads & local) - known
            assert not unknown, (fn.name, ast.unparse(stmt), unknown)
            known |= flow.stores
    returned = prep.body[-1]
    assert isinstance(returned, ast.Return)
    assert isinstance(returned.value, ast.Tuple)
    exported = [e.id for e in returned.value.elts if isinstance(e, ast.Name)]
    core_args = [a.arg for a in core.args.args]
    assert core_args[len(core_args) - len(exported) :] == exported
    read_by_core = {
        n.id
        for n in ast.walk(core)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    assert set(exported) <= read_by_core  # nothing passed that core does not read


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_prep_reads_the_parameters_only_and_core_gets_what_it_reads(
    backend: str,
) -> None:
    checked = 0
    for _, model in MODELS:
        for mode in MODES:
            if backend == "jax" and mode in ("jvps", "jacobian"):
                continue  # batched tangents are NumPy programs
            low = lower_model(model, backend, mode)
            if not low.bound_source:
                continue
            _check(low.bound_source, low.source)
            checked += 1
    assert checked > 400


PARAM_ONLY = {
    "kind": "transitions",
    "state": ["S", "I", "R"],
    "aliases": {"R0": "beta / gamma", "k": "np.exp(-gamma) * R0"},
    "transitions": [
        {"from": "S", "to": "I", "rate": "k * gamma * I / sum_state()"},
        {"from": "I", "to": "R", "rate": "gamma"},
    ],
}


def test_values_of_the_parameters_alone_are_computed_in_prep() -> None:
    low = lower_model(normalize_rhs(PARAM_ONLY)._model, "numpy", "rhs")
    prep, core = low.bound_source.split("def core")
    assert "_exp(" in prep
    assert "_exp(" not in core
    c = compile_spec(PARAM_ONLY)
    p = {"beta": 0.4, "gamma": 0.1}
    y = np.array([0.9, 0.1, 0.0])
    np.testing.assert_allclose(c.bind(p)(0.0, y), c.eval_fn(0.0, y, **p), rtol=1e-15)


CONSTANT = {"kind": "expr", "state": ["x", "z"], "equations": {"x": "a", "z": "-a"}}


@pytest.mark.parametrize(
    ("spec", "params", "output"),
    [
        (CONSTANT, {"a": 2.0}, "rhs"),
        (CONSTANT, {"a": 2.0}, "jacobian"),
        *((PARAM_ONLY, {"beta": 0.4, "gamma": 0.1}, o) for o in MODES[:3]),
        (PARAM_ONLY, {"beta": 0.4, "gamma": 0.1}, "jacobian"),
    ],
)
def test_bound_outputs_are_new_arrays_at_every_call(
    spec: dict[str, Any], params: dict[str, float], output: str
) -> None:
    """An output computed from the parameters alone is still the caller's own."""
    c = compile_spec(spec)
    f = c.bind(params, output=output)
    y = np.array([0.9, 0.1, 0.0][: len(c.state_names)])
    first = f(0.0, y)
    want = np.array(first, copy=True)
    first[...] = np.nan  # an integrator may reuse what it was given
    second = f(0.0, y)
    assert second is not first
    np.testing.assert_array_equal(second, want)
