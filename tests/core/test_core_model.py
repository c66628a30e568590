"""The built model is bound and desugared: what every later stage reads.

* every name of every expression of a built model (aliases, observables,
  equations and their per-cell overrides, chain rates, flows' rates and ends,
  the observed model's too) is a `Read` carrying its target, and every
  reduction carries its loop's dimension; no `Name` or `Ref` is left for a
  later stage to resolve, and a built model has no resolver;
* a model and its observed model share no mutable piece;
* a chain is one `Run`, made by `_core/chains.py` (copied bound by
  `_core/bind.py`); flows and runs are frozen.

Checked on specs we did not write: the parity specs, generated specs (every
kind, chains of both forms, counters, observables, overrides) and the
benchmark forms.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import warnings
from pathlib import Path
from typing import Any

import pytest
from tests.differential.generate import generate_cases
from tests.parity.cases import CASES

from op_system import normalize_rhs
from op_system._core.defs import At, Flow, Run
from op_system._lang.ir import Name, Node, Read, Reduce, Ref, walk

PACKAGE = Path(__file__).parents[2] / "src" / "op_system"


def _models() -> list[tuple[str, Any]]:
    specs = [(c["name"], c["spec"]) for c in CASES]
    specs += [(c["id"], c["spec"]) for c in generate_cases(120, seed=11)]
    specs.append(
        (
            "observed chain",
            {
                "kind": "transitions",
                "axes": [{"name": "age", "coords": ["y", "o"]}],
                "state": ["S[age]", "R[age]", "D"],
                "chain": [
                    {"name": "I", "length": 3, "forward": "g", "exit": {"to": "D"}}
                ],
                "aliases": {"lam[age]": "beta[age] * I1"},
                "transitions": [
                    {
                        "name": "inf[age]",
                        "from": "S[age]",
                        "to": "R[age]",
                        "rate": "lam[age]",
                    },
                    {"from": "S[age=y]", "to": "I1", "rate": "k"},
                ],
                "incidence": {"cases": ["inf"]},
                "observables": {
                    "obs[age]": "rho * inf[age] + lam[age]",
                    "total": "I2 + D",
                },
            },
        )
    )
    specs.append(
        (
            "observed expr chain",
            {
                "axes": [{"name": "age", "coords": ["y", "o"]}],
                "state": ["S[age]", "R"],
                "chain": [
                    {"name": "E", "length": 2, "forward": "s", "exit": {"to": "R"}}
                ],
                "aliases": {"h__age_y": "0.1 * S__age_y", "h__age_o": "0.2 * S__age_o"},
                "equations": {"S[age]": "-b * S[age] * E1"},
                "observables": {"hosp": "sum_over(age=a, h[age=a]) + E2 * q"},
            },
        )
    )
    out = []
    for name, spec in specs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out.append((name, normalize_rhs(copy.deepcopy(spec))._model))
            except Exception:  # a mutant meant to be rejected
                continue
    return out


MODELS = _models()


def _expressions(m: Any) -> list[tuple[str, Node]]:
    out: list[tuple[str, Node]] = []
    for a in [*m.aliases.values(), *m.observables]:
        if a.expr is not None:
            out.append((a.path, a.expr))
        out.extend((a.path, c) for c in a.cells or ())
    for eq in m.equations:
        if eq.expr is not None:
            out.append((eq.path, eq.expr))
        out.extend((path, node) for node, path in eq.overrides.values())
        if eq.run is not None:
            out.extend((eq.path, r) for r in eq.run.rates)
    for td in m.transitions:
        out.append((td.path, td.rate))
        out.extend((td.path, n) for n in (td.src, td.dst) if n is not None)
        if td.run is not None:
            out.extend((td.path, r) for r in td.run.rates)
    return out


def _all(m: Any) -> list[Any]:
    return [m] if m.observed is None else [m, m.observed]


def test_the_models_cover_every_construct() -> None:
    kinds = {m.kind for _, m in MODELS}
    assert kinds == {"expr", "transitions"}
    assert any(eq.run is not None for _, m in MODELS for eq in m.equations)
    assert any(td.run is not None for _, m in MODELS for td in m.transitions)
    assert any(m.counters for _, m in MODELS)
    assert sum(m.observed is not None for _, m in MODELS) >= 2
    assert any(eq.overrides for _, m in MODELS for eq in m.equations)
    assert len(MODELS) >= 120


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[n for n, _ in MODELS])
def test_every_name_is_bound(name: str, model: Any) -> None:
    for m in _all(model):
        own = {id(a) for a in [*m.aliases.values(), *m.observables]}
        reads = 0
        for path, expr in _expressions(m):
            for node in walk(expr):
                assert not isinstance(node, (Name, Ref)), (name, path, node)
                if isinstance(node, Reduce):  # its loop is bound too
                    assert node.dim is not None
                    assert node.dim.axis.name == node.axis
                if isinstance(node, Read):
                    reads += 1
                    tgt = node.target
                    if tgt.kind == "alias":  # the model's own (bound) alias
                        assert id(tgt.obj) in own, (name, path, node)
                    if tgt.kind == "param":
                        assert any(p is tgt.obj for p in m.params.values()), (
                            name,
                            path,
                        )
        assert reads > 0, name
        assert not hasattr(m, "resolve")


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[n for n, _ in MODELS])
def test_a_model_and_its_observed_model_share_nothing_mutable(
    name: str, model: Any
) -> None:
    if model.observed is None:
        return
    obs = model.observed
    mine = {
        id(x)
        for x in [
            *model.aliases.values(),
            *model.equations,
            *model.transitions,
            *model.counters,
            *model.params.values(),
        ]
    }
    theirs = [
        *obs.aliases.values(),
        *obs.observables,
        *obs.equations,
        *obs.transitions,
        *obs.counters,
        *obs.params.values(),
    ]
    assert not [x for x in theirs if id(x) in mine], name


def test_chains_are_runs_of_frozen_flows() -> None:
    flows = [td for _, m in MODELS for td in m.transitions if td.run is not None]
    assert flows
    run = flows[0].run
    assert isinstance(run, Run)
    with pytest.raises(dataclasses.FrozenInstanceError):
        flows[0].rate = flows[0].rate  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.rates = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.block.offset = 0  # type: ignore[misc]  # blocks are shared: frozen
    # a run's flows are consecutive, stage i into stage i + 1, one per rate
    for _, m in MODELS:
        for td in m.transitions:
            if td.run is None or td is not next(
                t for t in m.transitions if t.run is td.run
            ):
                continue
            members = [t for t in m.transitions if t.run is td.run]
            start = m.transitions.index(members[0])
            assert m.transitions[start : start + len(members)] == members
            assert len(members) == len(td.run.rates) == td.run.block.size - 1
            cells = [
                (t.src.target.sels, t.dst.target.sels)  # type: ignore[union-attr]
                for t in members
            ]
            assert cells == [((At(i),), (At(i + 1),)) for i in range(len(members))]


def _constructed(cls: str) -> set[str]:
    """Modules of the package that call `cls(...)`."""
    out = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == cls
            ):
                out.add(str(path.relative_to(PACKAGE)))
    return out


def test_one_module_makes_chains_and_only_the_build_resolves_names() -> None:
    assert _constructed("Run") == {"_core/chains.py", "_core/bind.py"}
    # a chain's block (named by chains.py) is read through chains.chain_name only
    named = {
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if '"#chain' in p.read_text() or "'#chain" in p.read_text()
    }
    assert named == {"_core/chains.py"}
    assert _constructed("Resolver") <= {
        "_core/build.py",
        "_core/builder.py",
        "_core/observables.py",
    }
    importers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(
                "resolve"
            ):
                importers.add(str(path.relative_to(PACKAGE)))
    assert importers <= {
        "_core/build.py",
        "_core/builder.py",
        "_core/observables.py",
        "_core/bind.py",
    }, importers
    assert Flow.__dataclass_params__.frozen  # type: ignore[attr-defined]
