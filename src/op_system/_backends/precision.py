"""JAX's precision said out loud.

JAX computes in float32 unless its `jax_enable_x64` flag is on, and op_system
never turns it on (a library that changes JAX's global configuration changes
it for everything else in the program). So:

* `warn_float32(model)`: a `PrecisionWarning`, once per model, when a JAX
  program of `model` is built while x64 is off (it computes in float32);
* `require_x64(c, what, x64)`: the stochastic runs (`simulate(key=...)`,
  `particle_filter`) draw integer counts: in float32 those are int32 and a
  binomial draw above 2**24 loses its last digits, so they refuse to run in
  float32 unless asked (`x64=False`), which also quiets the warning.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any

from .._core.model import Model
from .._support.errors import BackendError, PrecisionWarning, outside_package

__all__ = ["jax_x64", "require_x64", "warn_float32"]

#: the models told (or that asked for float32): once per model
_told: weakref.WeakSet[Model] = weakref.WeakSet()

_ENABLE = (
    'call jax.config.update("jax_enable_x64", True) at the very start of your '
    "program (before anything else uses JAX), or set the environment variable "
    "JAX_ENABLE_X64=1; op_system never changes JAX's configuration itself"
)


def jax_x64() -> bool:
    """Whether JAX computes in float64 (its `jax_enable_x64` flag)."""
    import jax

    return bool(jax.config.jax_enable_x64)  # type: ignore[attr-defined]


def _quiet(model: Model) -> None:
    _told.add(model)
    if model.observed is not None:
        _told.add(model.observed)


def warn_float32(model: Model) -> None:
    """A `PrecisionWarning`, once per model, if JAX computes in float32."""
    if model in _told or jax_x64():
        return
    _quiet(model)
    warnings.warn(
        "this model runs on JAX in float32: JAX's jax_enable_x64 is off, so its "
        "arrays are float32 (about 7 significant digits; whole numbers above "
        f"2**24 = 16,777,216 are rounded). For float64, {_ENABLE}. To compute in "
        "float32 on purpose, filter this warning (warnings.filterwarnings("
        '"ignore", category=op_system.PrecisionWarning)).',
        PrecisionWarning,
        stacklevel=outside_package(),
    )


def require_x64(c: Any, what: str, x64: bool) -> None:
    """`BackendError` if the JAX run `what` of the compiled model `c` would
    compute in float32 and `x64=False` does not ask for that; with
    `x64=False`, no `PrecisionWarning` for the model either."""
    if not isinstance(x64, bool):
        raise TypeError(f"x64 must be True or False, got {x64!r}")
    if jax_x64():
        return
    if not x64:
        if c._rhs is not None:
            _quiet(c._model_of_rhs())
        return
    raise BackendError(
        f"{what} runs on JAX, whose jax_enable_x64 is off: it would compute its "
        "rates in float32 and return int32 counts, and draws above 2**24 = "
        "16,777,216 come out rounded (at a population of 3.3e8, flows of a day "
        f"in steps of 8 or 16). For float64, {_ENABLE}. To run in float32 on "
        "purpose, pass x64=False.",
        path=what,
        token="x64",
    )
