"""Record every spec handed to op-system 0.9.0's compiler entry points.

Used by ``harvest.py`` in two ways, always under the 0.9.0 venv's interpreter:

* in-process (README/docs code blocks, examples, docstrings): ``install()``,
  then set ``SOURCE`` before running each piece of upstream code;
* as a pytest plugin for upstream's own test suites (``-p _capture`` with this
  folder on ``PYTHONPATH``): the source is the current test's node id.

``install()`` wraps the public entry points that take a raw spec
(``ENTRY_POINTS``) in every loaded ``op_system`` / ``flepimop2`` module, so a
test module that imports them later gets the wrapper too. Only the outermost
call is recorded (``compile_spec`` calling ``normalize_rhs`` records once), and
a call made from inside the ``op_system`` package itself (a re-normalization
on unpickling, block stripping, ...) is not recorded: it is not a spec a user
handed over. The spec is converted to JSON *before* the call, so a compiler
that mutates its input cannot change what is recorded.

Each record is one JSON line (appended to ``$OPSYS09_CAPTURE`` under pytest):
``{"source", "entry", "kwargs", "outcome", "spec" | "unserialisable"}``, where
``outcome`` is ``"ok"`` or the exception class the call raised in its original
context (a test's ``pytest.raises`` block, say).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import math
import os
import pkgutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENTRY_POINTS: tuple[str, ...] = (
    "compile_spec",
    "normalize_rhs",
    "normalize_expr_rhs",
    "normalize_transitions_rhs",
    "validate_spec",
)
"""Functions whose first argument is a raw spec (the only ones recorded)."""

SOURCE: str = "<unknown>"
"""Where the current in-process call comes from (set by harvest.py)."""

RECORDS: list[dict[str, Any]] = []
"""In-process records (also appended to ``$OPSYS09_CAPTURE`` when set)."""

_STATE = threading.local()
_INSTALLED: dict[str, Callable[..., Any]] = {}
_PACKAGE_DIR: str = ""


class Unserialisable(Exception):
    """A value that JSON cannot hold as it is (path says where)."""


def to_json(value: object, path: str = "spec") -> object:
    """Return `value` as plain JSON data, or raise `Unserialisable`.

    Tuples become lists (0.9.0 treats spec sequences alike); NumPy scalars
    that are Python floats/ints/bools pass; arrays, non-finite floats,
    non-string keys and any other object are refused.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Unserialisable(f"non-finite float at {path}")
        return float(value)
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Unserialisable(f"non-string key {key!r} at {path}")
            out[key] = to_json(item, f"{path}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise Unserialisable(f"{type(value).__module__}.{type(value).__name__} at {path}")


def current_source() -> str:
    """The pytest node id of the running test, else `SOURCE`."""
    node = os.environ.get("PYTEST_CURRENT_TEST")
    if node:
        return node.rsplit(" (", 1)[0]
    return SOURCE


def _record(
    entry: str, spec: object, kwargs: dict[str, Any], outcome: str, snap: dict[str, Any]
) -> None:
    record: dict[str, Any] = {
        "source": current_source(),
        "entry": entry,
        "outcome": outcome,
    }
    try:
        record["kwargs"] = to_json(kwargs, "kwargs")
    except Unserialisable as exc:
        record["kwargs"] = f"<unserialisable: {exc}>"
    record.update(snap)
    RECORDS.append(record)
    out = os.environ.get("OPSYS09_CAPTURE")
    if out:
        with open(out, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _snapshot(spec: object) -> dict[str, Any]:
    try:
        return {"spec": to_json(spec)}
    except Unserialisable as exc:
        return {"unserialisable": str(exc)}
    except RecursionError:
        return {"unserialisable": "recursive structure"}


def _from_inside_package() -> bool:
    """Whether the wrapper's caller is op_system's own code."""
    frame = sys._getframe(2)
    return frame.f_code.co_filename.startswith(_PACKAGE_DIR)


def _wrap(entry: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_STATE, "depth", 0)
        outer = depth == 0 and not _from_inside_package()
        spec = args[0] if args else kwargs.get("spec")
        snap = _snapshot(spec) if outer else {}
        rest = {k: v for k, v in kwargs.items() if k != "spec"}
        _STATE.depth = depth + 1
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            if outer:
                _record(entry, spec, rest, type(exc).__name__, snap)
            raise
        finally:
            _STATE.depth = depth
        if outer:
            _record(entry, spec, rest, "ok", snap)
        return result

    wrapper.__opsys09_original__ = original  # type: ignore[attr-defined]
    return wrapper


def _import_all(package: str) -> None:
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        try:
            importlib.import_module(info.name)
        except Exception:  # an optional backend missing: nothing to patch there
            continue


def install() -> None:
    """Wrap the entry points everywhere they are already bound (idempotent)."""
    global _PACKAGE_DIR
    if _INSTALLED:
        return
    import op_system

    _PACKAGE_DIR = str(Path(op_system.__file__).resolve().parent) + os.sep
    _import_all("op_system")
    with contextlib.suppress(ImportError):  # the provider, when installed
        importlib.import_module("flepimop2.system.op_system")
    originals: dict[int, tuple[str, Callable[..., Any]]] = {}
    for name in ENTRY_POINTS:
        for module in list(sys.modules.values()):
            func = getattr(module, name, None)
            if (
                callable(func)
                and getattr(func, "__module__", "").startswith("op_system")
                and not hasattr(func, "__opsys09_original__")
            ):
                originals.setdefault(id(func), (name, func))
    wrappers = {key: _wrap(name, func) for key, (name, func) in originals.items()}
    for modname, module in list(sys.modules.items()):
        if not (modname.startswith("op_system") or modname.startswith("flepimop2")):
            continue
        for name in ENTRY_POINTS:
            func = getattr(module, name, None)
            if func is not None and id(func) in wrappers:
                setattr(module, name, wrappers[id(func)])
    _INSTALLED.update({name: func for _, (name, func) in originals.items()})


def original(name: str) -> Callable[..., Any]:
    """The unwrapped entry point (for evaluating specs without recording)."""
    return _INSTALLED[name]


# --- pytest plugin hooks -----------------------------------------------------


def pytest_configure(config: Any) -> None:  # pragma: no cover - run by pytest
    """Wrap the entry points before any upstream test module is imported."""
    install()
