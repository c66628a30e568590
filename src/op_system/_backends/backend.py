"""Array backends: resolve `xp=` / `backend=` to a table of array functions.

Generated code calls only the functions of this table (`exp`, `where`, `sum`,
`reshape`, `concat`, ...), which are the Array API standard names. NumPy and
JAX get tables of their native functions (fast, no wrappers); any other
Array-API namespace is used through its standard functions.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .._support.errors import BackendError

__all__ = [
    "DEFAULT_ARRAY_BACKEND",
    "Backend",
    "backend_for_array",
    "infer_backend",
    "not_numpy",
    "resolve_backend",
]

#: The backend used when neither `xp` nor `backend` is given (0.1.2 behaviour).
DEFAULT_ARRAY_BACKEND = "numpy"

_ALIASES = {
    "numpy": "numpy",
    "np": "numpy",
    "jax": "jax",
    "jax.numpy": "jax",
    "jnp": "jax",
    "auto": "auto",
}

# Standard (Array API) name -> NumPy-only spelling used as a fallback.
_FALLBACK = {
    "atan2": "arctan2",
    "concat": "concatenate",
    "permute_dims": "transpose",
}


@dataclass(frozen=True, eq=False)
class Backend:
    """A resolved array backend.

    Attributes:
        name: `"numpy"`, `"jax"`, `"auto"` (chosen per call from `y`) or the
            namespace's module name.
        xp: The array namespace module (`None` for `"auto"`).
    """

    name: str
    xp: ModuleType | None
    fns: dict[str, Any] = field(default_factory=dict, repr=False)
    #: The default of `compile_rhs`: NumPy, but JAX (or another namespace) when `y` is one.
    infer: bool = False

    @property
    def is_numpy(self) -> bool:
        return self.name == "numpy"

    @property
    def is_jax(self) -> bool:
        return self.name == "jax"

    def __repr__(self) -> str:
        return (
            "Backend('numpy', infer=True)" if self.infer else f"Backend({self.name!r})"
        )


def _fn(xp: Any, name: str) -> Any:
    f = getattr(xp, name, None)
    if f is None and name in _FALLBACK:
        f = getattr(xp, _FALLBACK[name], None)
    return f


_NAMES = [
    "abs",
    "exp",
    "expm1",
    "log",
    "log1p",
    "log2",
    "log10",
    "sqrt",
    "maximum",
    "minimum",
    "clip",
    "where",
    "sin",
    "cos",
    "tan",
    "sinh",
    "cosh",
    "tanh",
    "hypot",
    "atan2",
    "logical_and",
    "logical_or",
    "logical_not",
    "sum",
    "reshape",
    "permute_dims",
    "concat",
    "stack",
    "take",
    "broadcast_to",
    "asarray",
    "astype",
    "matmul",
    "zeros",
    "sign",
    "floor",
    "diagonal",
]


def _table(xp: Any) -> dict[str, Any]:
    table = {name: _fn(xp, name) for name in _NAMES}
    table["arctan2"] = table["atan2"]
    if table["diagonal"] is None:
        table["diagonal"] = _standard_diagonal(xp)
    return table


def _standard_diagonal(xp: Any) -> Any:
    """NumPy's `diagonal(x, 0, axis1, axis2)` for a namespace that only has the
    standard's `linalg.diagonal` (the diagonal of the last two axes)."""
    linalg = getattr(xp, "linalg", None)
    diagonal = getattr(linalg, "diagonal", None)
    permute = _fn(xp, "permute_dims")
    if diagonal is None or permute is None:
        return None

    def _diagonal(x: Any, offset: int, axis1: int, axis2: int) -> Any:
        rest = [i for i in range(x.ndim) if i not in (axis1, axis2)]
        return diagonal(permute(x, (*rest, axis1, axis2)), offset=offset)

    return _diagonal


def _import_jax_numpy() -> ModuleType:
    try:
        return importlib.import_module("jax.numpy")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The 'jax' array backend needs the 'jax' package, which is not installed. "
            "Install it with `pip install 'op-system[jax]'` (or `pip install jax`)."
        ) from exc


_CACHE: dict[int, Backend] = {}


def _backend_for_module(xp: ModuleType) -> Backend:
    cached = _CACHE.get(id(xp))
    if cached is not None:
        return cached
    modname = getattr(xp, "__name__", "")
    if modname == "numpy":
        be = Backend("numpy", xp, _table(xp))
    elif modname == "jax.numpy":
        be = Backend("jax", xp, _table(xp))
    else:
        be = Backend(modname or type(xp).__name__, xp, _table(xp))
    _CACHE[id(xp)] = be
    return be


def resolve_backend(xp: object = None, backend: str | None = None) -> Backend:
    """Resolve the `xp=` and `backend=` arguments of `compile_rhs`/`compile_spec`.

    `xp` may be a namespace module (`numpy`, `jax.numpy`, `array_api_strict`, ...)
    or a name (`"numpy"`, `"jax"`, `"auto"`); `backend` is the name-only spelling
    (`"numpy"` or `"jax"`). Giving both with different meanings is an error.

    !!! example
        ```python
        >>> import numpy as np
        >>> resolve_backend(np)
        Backend('numpy')
        >>> resolve_backend(backend="numpy")
        Backend('numpy')

        ```
    """
    from_backend: str | None = None
    if backend is not None:
        if not isinstance(backend, str) or backend.strip().lower() not in _ALIASES:
            raise BackendError(
                f"unknown backend {backend!r}; expected 'numpy' or 'jax'",
                path="backend",
                token=repr(backend),
            )
        from_backend = _ALIASES[backend.strip().lower()]
    from_xp: str | None = None
    module: ModuleType | None = None
    if isinstance(xp, str):
        key = xp.strip().lower()
        if key not in _ALIASES:
            raise BackendError(
                f"unknown array namespace {xp!r}; expected a namespace module or one of "
                "'numpy', 'jax', 'auto'",
                path="xp",
                token=xp,
            )
        from_xp = _ALIASES[key]
    elif isinstance(xp, ModuleType) or (xp is not None and hasattr(xp, "asarray")):
        module = xp  # type: ignore[assignment]
        from_xp = _backend_for_module(module).name  # type: ignore[arg-type]
    elif xp is not None:
        raise BackendError(
            f"xp must be an array namespace or a name, got {type(xp).__name__}",
            path="xp",
            token=repr(xp),
        )
    if from_xp is not None and from_backend is not None and from_xp != from_backend:
        raise BackendError(
            f"Pass either xp or backend={from_backend!r}, not both "
            f"(conflicting backend choices: xp={module.__name__ if module is not None else xp!r} "
            f"but backend={backend!r})",
            path="backend",
            token=repr(backend),
        )
    choice = from_xp or from_backend or DEFAULT_ARRAY_BACKEND
    if module is not None:
        return _backend_for_module(module)
    if choice == "auto":
        return Backend("auto", None)
    if choice == "numpy":
        import numpy

        return _backend_for_module(numpy)
    return _backend_for_module(_import_jax_numpy())


def infer_backend() -> Backend:
    """The default backend: NumPy for NumPy inputs, the namespace of `y` otherwise."""
    cached = _CACHE.get(-1)
    if cached is None:
        import numpy

        np_be = _backend_for_module(numpy)
        cached = _CACHE[-1] = Backend("numpy", numpy, np_be.fns, infer=True)
    return cached


def not_numpy(y: object) -> bool:
    """Whether `y` is neither a NumPy object nor a builtin (list, tuple, float): a
    JAX array or tracer, or another namespace's array (the default backend's test)."""
    mod = type(y).__module__
    return not (mod == "builtins" or mod.startswith("numpy"))


def backend_for_array(y: object) -> Backend:
    """The backend matching an array's namespace (NumPy for lists and scalars)."""
    mod = type(y).__module__
    if mod.startswith("numpy") or isinstance(y, (list, tuple, float, int)):
        import numpy

        return _backend_for_module(numpy)
    if mod.startswith("jax") or mod.startswith("jaxlib"):
        return _backend_for_module(sys.modules.get("jax.numpy") or _import_jax_numpy())
    from array_api_compat import array_namespace

    return _backend_for_module(array_namespace(y))
