"""Compile a `NormalizedRhs` into a fast `eval_fn(t, y, **params)` (public module,
the import path of op-system 0.1.2).

The compiled function is generated Python source (see `CompiledRhs.source`)
calling the chosen backend's array functions; user text is never evaluated.
The implementation lives in the package's private stages; this module keeps
0.1.2's names where 0.1.2 had them.
"""

from __future__ import annotations

from ._api.compiled import CompiledRhs, EvalFn, compile_rhs
from ._backends.backend import DEFAULT_ARRAY_BACKEND

__all__ = ["DEFAULT_ARRAY_BACKEND", "CompiledRhs", "EvalFn", "compile_rhs"]
