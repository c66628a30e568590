"""Names are resolved once: building a model binds every name and reference (into
`Read` nodes), and every later stage (lowering on each backend, the jvp, 0.1.2's
strings, sympy, sparsity, LaTeX, diagrams) reads those bindings: the resolver is
never called after the build.

The specs come from the differential generator (expression, transitions and flat
per-cell models) and from the benchmark models in each spec form, so the property is
checked on specs we did not pick by hand.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.differential.generate import generate_cases

from op_system import ExpressionError, compile_rhs, normalize_rhs
from op_system._core.resolve import Resolver


class _Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []


@pytest.fixture
def count_resolutions(monkeypatch: pytest.MonkeyPatch) -> _Counter:
    counter = _Counter()
    original = Resolver._resolve

    def counting(self: Resolver, node: Any, scope: Any, path: str) -> Any:
        counter.calls.append(f"{node!r} in {[d.name for d in scope]} at {path}")
        return original(self, node, scope, path)

    monkeypatch.setattr(Resolver, "_resolve", counting)
    return counter


def _built(spec: dict[str, Any]) -> Any | None:
    try:
        rhs = normalize_rhs(spec)
        compile_rhs(rhs)  # some specs are rejected only when compiled, as by 0.1.2
    except Exception:
        return None
    return rhs


def _every_consumer(rhs: Any) -> None:
    from op_system._views.symbolic import jacobian_sparsity, to_sympy

    rhs.equations, rhs.aliases, rhs.meta.get("transitions")
    for backend in ("numpy", "jax"):
        c = compile_rhs(rhs, backend=backend)
        c.jvp()
    views = [lambda: jacobian_sparsity(rhs), lambda: to_sympy(rhs), c.to_latex]
    if rhs.kind == "transitions":
        views.append(c.flow_diagram)
    errors = []
    for view in views:
        try:
            view()
        except ExpressionError as exc:
            errors.append(str(exc))
    assert all("form a cycle" in e for e in errors)  # aliases that read each other


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_generated_specs_resolve_each_site_once(
    seed: int, count_resolutions: _Counter
) -> None:
    built = 0
    for case in generate_cases(60, seed=seed):
        rhs = _built(case["spec"])
        if rhs is None:  # a mutant the generator meant to be rejected
            continue
        built += 1
        count_resolutions.calls.clear()
        _every_consumer(rhs)
        assert count_resolutions.calls == [], case["id"]
    assert built >= 30  # the generator mostly makes valid specs


def test_every_spec_form_resolves_each_site_once(count_resolutions: _Counter) -> None:
    from benchmarks import models

    for model in (models.age_seir(6), models.erlang_chain(12)):
        for form, (spec, _params) in models.spec_forms(model).items():
            rhs = normalize_rhs(spec)
            count_resolutions.calls.clear()
            _every_consumer(rhs)
            assert count_resolutions.calls == [], (model.key, form)
