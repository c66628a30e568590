"""What the views need of a normalized right-hand side: its model.

`Normalized` is the part of `NormalizedRhs` the views read (so they do
not import the public module); `model_of` gives its model, rebuilding one
from the expanded strings of a `NormalizedRhs` constructed by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from .build import build_model
from .model import Model

__all__ = ["Normalized", "model_of"]


class Normalized(Protocol):
    """A normalized right-hand side (`NormalizedRhs`)."""

    @property
    def state_names(self) -> Sequence[str]: ...

    @property
    def equations(self) -> Sequence[str]: ...

    @property
    def aliases(self) -> Mapping[str, str]: ...

    @property
    def _model(self) -> Model | None: ...


def model_of(rhs: Normalized) -> Model:
    """The model of `rhs`: the one it was normalized into, or one rebuilt from its
    expanded strings (a `NormalizedRhs` constructed by hand)."""
    if rhs._model is not None:
        return rhs._model
    spec = {
        "kind": "expr",
        "state": list(rhs.state_names),
        "aliases": dict(rhs.aliases),
        "equations": dict(zip(rhs.state_names, rhs.equations, strict=False)),
    }
    return build_model(spec, "expr")
