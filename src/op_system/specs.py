"""Spec validation and normalization (public module, the import path of
op-system 0.1.2).

`normalize_rhs(spec)` validates a spec mapping and returns a `NormalizedRhs`.
The implementation lives in the package's private stages; this module keeps
0.1.2's names where 0.1.2 had them.
"""

from __future__ import annotations

from ._api.normalized import (
    NormalizedRhs,
    _normalize_constraints,
    normalize_expr_rhs,
    normalize_rhs,
    normalize_transitions_rhs,
)
from ._spec.meta import ConstraintRule

__all__ = [
    "ConstraintRule",
    "NormalizedRhs",
    "_normalize_constraints",
    "normalize_expr_rhs",
    "normalize_rhs",
    "normalize_transitions_rhs",
]
