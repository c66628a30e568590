"""op_system: compile ODE model specs into fast, safe right-hand sides for NumPy and JAX.

The data path reads top to bottom:

1. `normalize_rhs(spec)` validates a spec (YAML/dict of string expressions, or
   compartment transitions over templated axes) into a `NormalizedRhs`;
2. `compile_rhs(rhs, xp=...)` lowers it to one vectorized Python function for the
   chosen array namespace;
3. `compile_spec(spec, xp=...)` does both.

!!! example
    ```python
    >>> from op_system import compile_spec
    >>> sir = compile_spec({
    ...     "kind": "transitions",
    ...     "state": ["S", "I", "R"],
    ...     "transitions": [
    ...         {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
    ...         {"from": "I", "to": "R", "rate": "gamma"},
    ...     ],
    ... })
    >>> sir.eval_fn(0.0, [990.0, 10.0, 0.0], beta=0.3, gamma=0.1)
    array([-2.97,  1.97,  1.  ])

    ```
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from ._api.compiled import CompiledRhs as CompiledRhs
from ._api.compiled import EvalFn as EvalFn
from ._api.compiled import compile_rhs as compile_rhs
from ._api.compiled import compile_spec as compile_spec
from ._api.info import AxisInfo as AxisInfo
from ._api.info import KernelInfo as KernelInfo
from ._api.info import ModelInfo as ModelInfo
from ._api.info import ParamInfo as ParamInfo
from ._api.info import StateBlockInfo as StateBlockInfo
from ._api.info import model_info as model_info
from ._api.normalized import NormalizedRhs as NormalizedRhs
from ._api.normalized import normalize_expr_rhs as normalize_expr_rhs
from ._api.normalized import normalize_rhs as normalize_rhs
from ._api.normalized import normalize_transitions_rhs as normalize_transitions_rhs
from ._backends.backend import DEFAULT_ARRAY_BACKEND as DEFAULT_ARRAY_BACKEND
from ._results.solution import Solution as Solution
from ._results.solve import solve as solve
from ._results.trajectories import Trajectories as Trajectories
from ._spec.identifiers import IdentifierString as IdentifierString
from ._spec.identifiers import StateString as StateString
from ._spec.io import load_spec as load_spec
from ._stochastic.filter import FilterResult as FilterResult
from ._stochastic.simulators import Simulation as Simulation
from ._support.errors import BackendError as BackendError
from ._support.errors import CompilationError as CompilationError
from ._support.errors import ExpressionError as ExpressionError
from ._support.errors import InvalidExpressionError as InvalidExpressionError
from ._support.errors import InvalidRhsSpecError as InvalidRhsSpecError
from ._support.errors import OpSystemError as OpSystemError
from ._support.errors import ParameterError as ParameterError
from ._support.errors import PlannedFeatureError as PlannedFeatureError
from ._support.errors import PrecisionWarning as PrecisionWarning
from ._support.errors import SpecError as SpecError
from ._support.errors import SpecWarning as SpecWarning
from ._support.errors import StateNameError as StateNameError
from ._support.errors import StateShapeError as StateShapeError
from ._support.errors import UnsupportedFeatureError as UnsupportedFeatureError

if TYPE_CHECKING:
    from ._stochastic.pmmh import PMMH as PMMH


def __getattr__(name: str) -> Any:
    # PMMH subclasses numpyro's kernel: imported on first use, so that
    # `import op_system` needs neither numpyro nor JAX
    if name == "PMMH":
        from ._stochastic.pmmh import PMMH

        return PMMH
    raise AttributeError(f"module 'op_system' has no attribute {name!r}")


try:
    __version__: str = version("op-system")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

#: Model kinds accepted by `normalize_rhs`.
SUPPORTED_RHS_KINDS: tuple[str, ...] = ("expr", "transitions")

#: Reserved for forward compatibility (as in op-system 0.1.2).
EXPERIMENTAL_FEATURES: frozenset[str] = frozenset()


__all__ = [
    "DEFAULT_ARRAY_BACKEND",
    "EXPERIMENTAL_FEATURES",
    "SUPPORTED_RHS_KINDS",
    "AxisInfo",
    "BackendError",
    "CompilationError",
    "CompiledRhs",
    "EvalFn",
    "ExpressionError",
    "FilterResult",
    "IdentifierString",
    "InvalidExpressionError",
    "InvalidRhsSpecError",
    "KernelInfo",
    "ModelInfo",
    "NormalizedRhs",
    "OpSystemError",
    "ParamInfo",
    "ParameterError",
    "PlannedFeatureError",
    "PrecisionWarning",
    "Simulation",
    "Solution",
    "SpecError",
    "SpecWarning",
    "StateBlockInfo",
    "StateNameError",
    "StateShapeError",
    "StateString",
    "Trajectories",
    "UnsupportedFeatureError",
    "__version__",
    "compile_rhs",
    "compile_spec",
    "load_spec",
    "model_info",
    "normalize_expr_rhs",
    "normalize_rhs",
    "normalize_transitions_rhs",
    "solve",
]
