"""What a program computes, in which order: the aliases by dependency (and the
names left in a cycle), and the constructs outside the language it must refuse."""

from __future__ import annotations

from collections.abc import Mapping

from .._core.model import AliasDef, Model
from .._lang.ir import Invalid, Node, invalid_error, walk

__all__ = ["_alias_deps", "_alias_levels", "_alias_order", "check_invalid"]


def check_invalid(model: Model) -> None:
    """Raise for the first construct outside the language (0.1.2 raised these at compile)."""
    if not model.has_invalid:
        return
    exprs: list[tuple[Node, str]] = [
        (a.expr, a.path) for a in model.aliases.values() if a.expr is not None
    ]
    for eq in model.equations:
        if eq.expr is not None:
            exprs.append((eq.expr, eq.path))
        if eq.run is not None:
            exprs.extend((n, eq.path) for n in eq.run.rates)
        exprs.extend(eq.overrides.values())
    exprs.extend((td.rate, f"{td.path}.rate") for td in model.transitions)
    for expr, path in exprs:
        for node in walk(expr):
            if isinstance(node, Invalid):
                raise invalid_error(node, path)


def _alias_order(
    model: Model, deps: Mapping[str, frozenset[str]] | None = None
) -> tuple[list[AliasDef], list[str] | None]:
    """Aliases in dependency order; the names left in a cycle, if any."""
    deps = _alias_deps(model) if deps is None else deps
    order: list[AliasDef] = []
    done: set[str] = set()
    pending = list(model.aliases)
    while pending:
        progressed = False
        for name in list(pending):
            if deps[name] <= done:
                order.append(model.aliases[name])
                done.add(name)
                pending.remove(name)
                progressed = True
        if not progressed:
            return order, sorted(pending)
    return order, None


def _alias_levels(
    deps: Mapping[str, frozenset[str]], order: list[AliasDef]
) -> dict[str, int]:
    """Dependency depth of each alias: 0 if it reads no alias, else 1 + its deepest."""
    level: dict[str, int] = {}
    for alias in order:
        level[alias.base] = 1 + max((level[d] for d in deps[alias.base]), default=-1)
    return level


def _alias_deps(model: Model) -> Mapping[str, frozenset[str]]:
    """The aliases each alias reads (recorded when the model was bound)."""
    if model.alias_deps is None:  # pragma: no cover - every built model is bound
        raise TypeError("internal error: the model was not bound")
    return model.alias_deps
