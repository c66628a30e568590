"""`CompiledRhs`'s views of its model: LaTeX, sympy, flow diagrams, checks and a
summary. A mixin, so that `compiled.py` stays one concept; each view is a
reader in `_views/` of the model the compiled function came from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .normalized import NormalizedRhs

__all__ = ["ModelViews"]


class ModelViews:
    """`to_latex`, `to_sympy`, `flow_diagram`, `check` and `describe`."""

    __slots__ = ()

    if TYPE_CHECKING:  # provided by `CompiledRhs`
        _rhs: NormalizedRhs | None

    def to_latex(self) -> str:
        """LaTeX of the model (indexed when templated); see `op_system._views.latex.to_latex`."""
        from .._views.latex import to_latex

        assert self._rhs is not None
        return to_latex(self._rhs)

    def to_sympy(self) -> dict[str, Any]:
        """Per-state sympy expressions of `dydt`."""
        from .._views.symbolic import to_sympy

        assert self._rhs is not None
        return to_sympy(self._rhs)

    def flow_diagram(self, fmt: str = "mermaid") -> str:
        """Mermaid (`fmt="mermaid"`) or Graphviz (`fmt="dot"`) text of a transitions model."""
        from .._views.symbolic import flow_diagram

        assert self._rhs is not None
        return flow_diagram(self._rhs, fmt)

    def check(self) -> list[str]:
        """Conservation and non-negativity checks; problems are returned and warned."""
        from .._views.symbolic import check_model

        assert self._rhs is not None
        return check_model(self._rhs)

    def describe(self) -> str:
        """A readable summary of the model (see `NormalizedRhs.describe`)."""
        assert self._rhs is not None
        return self._rhs.describe()
