"""The built model is bound and desugared: what every later stage reads.

* every name of every expression of a built model (aliases, observables,
  equations and their per-cell overrides, chain rates, flows' rates and ends,
  the observed model's too) is a `Read` carrying its target, and every
  reduction carries its loop's dimension; no `Name` or `Ref` is left for a
  later stage to resolve, and a built model has no resolver;
* a model and its observed model share no mutable piece;
* a chain is one `Run`, made by `_core/chains.py` (copied bound by
  `_core/bind.py`); flows and runs are frozen;
* aliases, observables, equations and parameters are frozen too, and so are
  their containers (an equation's overrides, a parameter's cells read).

Checked on specs we did not write: the parity specs, generated specs (every
kind, chains of both forms, counters, observables, overrides) and the
benchmark forms.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.differential.generate import generate_cases
from tests.parity.cases import CASES

from op_system import normalize_rhs
from op_system._core.defs import AliasDef, At, EquationDef, Flow, ParamDef, Run
from op_system._lang.ir import Invalid, Name, Node, Read, Reduce, Ref, walk

PACKAGE = Path(__file__).parents[2] / "src" / "op_system"


#: What the build learns about a definition after making it: a time-varying
#: parameter's interpolation, a parameter used with two index signatures (its
#: key), the cells of a parameter read, an override restating its template, a
#: cycle of aliases (0.1.2 reports it when evaluating).
FROZEN_PIECES: dict[str, Any] = {
    "axes": [
        {"name": "age", "coords": ["y", "o"]},
        {"name": "time", "type": "continuous", "coords": [0.0, 10.0, 20.0]},
    ],
    "state": ["S[age]", "x"],
    "aliases": {"Aaa": "Bbb + 1", "Bbb": "2 * Aaa"},
    "equations": {
        "S[age]": "-k[age] * S[age] - k * beta[time] * x",
        "S__age_o": "-k__age_o * S__age_o - k * beta[time] * x",
        "x": "-Aaa * x + c[age=y]",
    },
    "time_interpolation": {"beta": "previous"},
    "observables": {"obs[age]": "rho[age] * S[age] + Aaa"},
}


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
    specs.append(("frozen pieces", FROZEN_PIECES))
    # outside the language: accepted by the build, refused when compiled
    specs.append(
        (
            "invalid construct",
            {
                "state": ["S", "I"],
                "aliases": {"f": "np.foo(I)", "g": "2 * f"},
                "equations": {"S": "-g * S", "I": "g * S"},
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
    assert any(eq.template_cells for _, m in MODELS for eq in m.equations)
    params = [p for _, m in MODELS for p in m.params.values()]
    assert any(p.interpolation == "previous" for p in params)
    assert any(not p.array_ok and p.key != p.base for p in params)
    assert any(p.used is not None and len(p.used) < p.shape[0] for p in params)
    assert any(a.cells is not None for _, m in MODELS for a in m.aliases.values())
    defs = {type(d) for _, m in MODELS for d in _definitions(m.observed or m)}
    assert defs == {AliasDef, EquationDef, ParamDef}
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


def _definitions(m: Any) -> list[Any]:
    return [
        *m.aliases.values(),
        *m.observables,
        *m.equations,
        *m.params.values(),
    ]


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[n for n, _ in MODELS])
def test_definitions_are_frozen(name: str, model: Any) -> None:
    for m in _all(model):
        for d in _definitions(m):
            assert type(d) in (AliasDef, EquationDef, ParamDef), (name, d)
            assert not hasattr(d, "__dict__"), (name, d)  # slotted
            for f in dataclasses.fields(d):
                with pytest.raises(dataclasses.FrozenInstanceError):
                    setattr(d, f.name, getattr(d, f.name))
            if isinstance(d, EquationDef):
                assert isinstance(d.template_cells, frozenset), (name, d.path)
                with pytest.raises(TypeError):  # read-only
                    d.overrides[0] = d.overrides.get(0)  # type: ignore[index]
                assert isinstance(d.array_overrides, Mapping)
            elif isinstance(d, ParamDef):
                assert isinstance(d.axes, tuple), (name, d.key)
                assert d.used is None or isinstance(d.used, frozenset), (name, d.key)
            else:
                assert isinstance(d.axes, tuple), (name, d.path)
                assert d.cells is None or isinstance(d.cells, tuple), (name, d.path)


def test_definitions_check_what_they_are_given() -> None:
    ((_, model),) = [(n, m) for n, m in MODELS if n == "frozen pieces"]
    eq = next(e for e in model.equations if e.overrides)
    given = dict(eq.overrides)
    copy_ = EquationDef(eq.block, eq.expr, eq.path, given)
    given.clear()  # the equation holds its own copy
    assert dict(copy_.overrides) == dict(eq.overrides)
    assert not EquationDef(eq.block, eq.expr, eq.path).overrides
    param = next(p for p in model.params.values() if p.axes)
    assert ParamDef(param.base, param.axes, "here").key == param.base
    with pytest.raises(TypeError, match="used must be a frozenset"):
        ParamDef(param.base, param.axes, "here", used=set())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="axes must be a tuple"):
        ParamDef(param.base, list(param.axes), "here")  # type: ignore[arg-type]
    alias = model.aliases["Aaa"]
    with pytest.raises(TypeError, match="axes must be a tuple"):
        AliasDef("a", [], alias.expr, "here")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="an expression or cells"):
        AliasDef("a", (), None, "here")


def test_the_build_replaces_definitions_the_targets_follow() -> None:
    ((_, model),) = [(n, m) for n, m in MODELS if n == "frozen pieces"]
    for m in _all(model):
        beta, k = m.params["beta"], m.params["k[age]"]
        assert beta.interpolation == "previous"
        assert k.key == "k[age]"
        assert m.params["c"].used == frozenset({(0,)})
        targets = [
            n.target.obj
            for _, expr in _expressions(m)
            for n in walk(expr)
            if isinstance(n, Read) and n.target.kind == "param"
        ]
        assert any(t is beta for t in targets)
        assert any(t is k for t in targets)
        # the aliases of the cycle read each other's bound copy
        a, b = m.aliases["Aaa"], m.aliases["Bbb"]
        for one, other in ((a, b), (b, a)):
            assert one.expr is not None
            reads = [n for n in walk(one.expr) if isinstance(n, Read)]
            assert [r.target.obj for r in reads] == [other]


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


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[n for n, _ in MODELS])
def test_what_binding_records_agrees_with_a_walk(name: str, model: Any) -> None:
    """Binding records, as it walks, whether a model holds a construct outside the
    language and which aliases each alias reads: what walking the bound model finds."""
    for m in _all(model):
        nodes = [n for _, expr in _expressions(m) for n in walk(expr)]
        assert m.has_invalid == any(isinstance(n, Invalid) for n in nodes), name
        walked = {
            a.base: {
                n.target.obj.base
                for n in (walk(a.expr) if a.expr is not None else a.cells or ())
                if isinstance(n, Read) and n.target.kind == "alias"
            }
            for a in m.aliases.values()
        }
        assert m.alias_deps == {k: frozenset(v) for k, v in walked.items()}, name


def test_the_models_include_invalid_constructs_and_alias_reads() -> None:
    assert any(m.has_invalid for _, m in MODELS)
    assert any(any(m.alias_deps.values()) for _, m in MODELS)
