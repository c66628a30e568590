"""A flepimop2 config checked as flepimop2 (0.3) and the op_system plugin will check it.

`flepimop2 simulate` builds the system, then asks it for its parameters with
their axes (`requested_parameters`), resolves each axis in the config's top-level
`axes:` section, samples each parameter from the `parameter:` section and hands
the system to the engine, which checks it (`validate_system`). Each step fails
with a traceback on a config that `op-system validate` could see is wrong; this
module makes the same checks without running anything:

- sections: a list (`system: [...]`) keeps only its first entry (flepimop2 reads
  it as `{default: entry}`); a `simulate` target names a system, engine and
  backend that exist;
- axes: every axis a parameter or an initial-state seed is indexed by is
  declared in `axes:` with as many entries as the spec's axis and, for a
  categorical axis, the spec's coords in the same order (the plugin's rule);
- parameters: every parameter the model needs is configured, under a name
  flepimop2 accepts (lower-case identifiers); a `fixed` value's `shape:` names
  the parameter's axes and its value has their sizes; a configured name the
  model does not read is reported (a typo is ignored by flepimop2);
- engines: each `module:` is installed (`flepimop2.engine.<module>`), integrates
  flows (`state_change: flow`), and `diffrax` gets a JAX system.

Its diagnostics are labelled `Flepimop2ConfigError` / `Flepimop2ConfigWarning`
(labels, not exception classes: nothing is raised) and placed at the config's
node they are about.

The rules are flepimop2 0.3.0's (`ConfigurationModel`, `FixedParameter.sample`,
`AxisCollection`) and the plugin's (`OpSystemSystem.requested_parameters`).
"""

from __future__ import annotations

import importlib.util
import keyword
import pkgutil
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._spec.io import Marks, position
from .._support.errors import did_you_mean
from .diagnostics import Diagnostic

__all__ = ["ConfigChecker", "Request", "requests_of"]

# flepimop2's IdentifierString: the names of parameters, axes, systems, engines
_IDENTIFIER = re.compile(r"^[a-z]([a-z0-9_]*[a-z0-9])?$")
_BUILTIN_ENGINES = ("wrapper",)


@dataclass(frozen=True)
class Request:
    """A parameter the plugin asks flepimop2 for: its name and axes (in order)."""

    name: str
    axes: tuple[str, ...]
    optional: bool = False
    what: str = "parameter"


def requests_of(compiled: Any, spec: Mapping[str, Any]) -> list[Request]:
    """The parameters the plugin requests for a compiled model (`model_info`'s,
    a time-varying one with its table's time axis) and its spec's initial-state seeds."""
    from .._api.info import model_info

    info = model_info(compiled)
    # kernels: the plugin computes and passes them (a 0.9.0 spec's kernel reads
    # compile as array parameters, which model_info lists as parameters)
    listed = spec.get("kernels")
    kernels = {k.name for k in info.kernels} | {
        str(k["name"])
        for k in (listed if isinstance(listed, list) else [])
        if isinstance(k, Mapping) and "name" in k
    }
    time_axis = compiled.meta.get("time_axis")
    out: dict[str, Request] = {}
    for params, optional in ((info.params, False), (info.observable_params, True)):
        for p in params:
            if p.name in kernels or p.name in out:
                continue
            axes = list(p.axes)
            if p.time_pos is not None and time_axis:
                axes.insert(p.time_pos, str(time_axis))
            out[p.name] = Request(p.name, tuple(axes), optional)
    initial = spec.get("initial_state")
    if isinstance(initial, Mapping):
        for cell, entry in initial.items():
            if isinstance(entry, str) and entry.isidentifier():
                seed, seed_axes = entry, ()
            elif isinstance(entry, Mapping) and isinstance(entry.get("shaped"), str):
                seed, seed_axes = entry["shaped"], tuple(entry.get("axes") or ())
            else:
                continue
            if seed not in out:
                out[seed] = Request(
                    seed, seed_axes, what=f"initial-state seed of {cell}"
                )
    return list(out.values())


def _section(data: Mapping[str, Any], field: str) -> str | None:
    """The key under which the config holds flepimop2's section `field`
    (`systems` may be written `system`: flepimop2 strips a trailing s)."""
    for key in (field, field.removesuffix("s")):
        if key in data:
            return key
    return None


def _named(value: Any) -> dict[Any, Any]:
    """A module group as flepimop2 reads it: a list keeps its first entry only."""
    if isinstance(value, list):
        return {"default": value[0]} if value else {}
    return dict(value) if isinstance(value, Mapping) else {}


class ConfigChecker:
    """The checks of one flepimop2 config (`data`, read from `file` with `marks`)."""

    def __init__(self, file: str, data: Mapping[str, Any], marks: Marks) -> None:
        self.file = file
        self.data = data
        self.marks = marks
        self.axes_key = _section(data, "axes")
        self.param_key = _section(data, "parameters")
        raw_axes = data.get(self.axes_key) if self.axes_key else None
        self.axes: Mapping[str, Any] = raw_axes if isinstance(raw_axes, Mapping) else {}
        raw_params = data.get(self.param_key) if self.param_key else None
        self.params: Mapping[str, Any] = (
            raw_params if isinstance(raw_params, Mapping) else {}
        )

    def _at(self, level: str, message: str, *keys: Any) -> Diagnostic:
        line, col = position(self.marks, tuple(keys))
        return Diagnostic(
            level,
            "Flepimop2ConfigError" if level == "error" else "Flepimop2ConfigWarning",
            message,
            self.file,
            line,
            col,
            path=".".join(str(k) for k in keys) or None,
        )

    # -- the whole config -------------------------------------------------------------
    def check_sections(self) -> Iterator[Diagnostic]:
        """Lists that lose entries, `simulate` targets that name nothing, engines."""
        groups: dict[str, dict[Any, Any]] = {}
        for field in ("systems", "engines", "backends"):
            key = _section(self.data, field)
            value = self.data.get(key) if key else None
            groups[field] = _named(value)
            if isinstance(value, list) and len(value) > 1:
                yield self._at(
                    "warning",
                    f"flepimop2 reads a list under {key}: as its first entry only "
                    f"(named 'default'); {key}[1:] are ignored. Give named entries "
                    f"({key}: {{name: {{module: ...}}, ...}}) to keep several",
                    key,
                    1,
                )
        sim_key = _section(self.data, "simulate")
        targets = self.data.get(sim_key) if sim_key else None
        for target, entry in (
            (targets or {}).items() if isinstance(targets, Mapping) else ()
        ):
            if not isinstance(entry, Mapping):
                continue
            for kind in ("system", "engine", "backend"):
                name = entry.get(kind, "default")
                defined = groups[f"{kind}s"]
                if name not in defined:
                    yield self._at(
                        "error",
                        f"simulate target {target!r} uses {kind} {name!r}, which the config "
                        f"does not define (defined: {sorted(map(str, defined))})"
                        + did_you_mean(str(name), map(str, defined)),
                        sim_key,
                        target,
                        *((kind,) if kind in entry else ()),
                    )
        yield from self._check_engines(groups)

    def _check_engines(
        self, groups: Mapping[str, dict[Any, Any]]
    ) -> Iterator[Diagnostic]:
        key = _section(self.data, "engines")
        if key is None:
            return
        listed = isinstance(self.data[key], list)
        installed = _installed_engines()
        jax_systems = {
            name
            for name, entry in groups["systems"].items()
            if isinstance(entry, Mapping)
            and isinstance(entry.get("options"), Mapping)
            and entry["options"].get("array_backend") == "jax"
        }
        op_systems = {
            name
            for name, entry in groups["systems"].items()
            if isinstance(entry, Mapping) and entry.get("module") == "op_system"
        }
        for name, entry in groups["engines"].items():
            where = (key, 0) if listed else (key, name)
            if not isinstance(entry, Mapping) or not isinstance(
                entry.get("module"), str
            ):
                yield self._at("error", f"engine {name!r} needs a `module:`", *where)
                continue
            module = entry["module"]
            if installed is not None and "." not in module and module not in installed:
                yield self._at(
                    "error",
                    f"engine module {module!r} is not installed: flepimop2 imports "
                    f"flepimop2.engine.{module} (installed engines: {sorted(installed)})"
                    + did_you_mean(module, installed),
                    *where,
                    "module",
                )
            change = entry.get("state_change")
            if change is not None and change != "flow" and op_systems:
                yield self._at(
                    "error",
                    f"engine {name!r} has state_change: {change}, but op_system systems "
                    "return flows (dy/dt): write state_change: flow",
                    *where,
                    "state_change",
                )
            if module == "diffrax" and op_systems - jax_systems:
                yield self._at(
                    "error",
                    "the diffrax engine traces the system with JAX, but op_system system "
                    f"{sorted(map(str, op_systems - jax_systems))[0]!r} does not set "
                    "options.array_backend: jax",
                    *where,
                    "module",
                )

    # -- one op_system system -----------------------------------------------------------
    def check_system(
        self,
        requests: list[Request],
        spec_axes: Mapping[str, tuple[str, ...]],
        system_keys: tuple[Any, ...],
    ) -> Iterator[Diagnostic]:
        """Axes and parameters of one op_system system as the plugin requests them."""
        seen_axes: set[str] = set()
        for req in requests:
            who = f"{req.what} {req.name!r}"
            if not _IDENTIFIER.match(req.name) or keyword.iskeyword(req.name):
                yield self._at(
                    "error",
                    f"{who} cannot be configured in flepimop2: parameter names must be "
                    "lower-case identifiers (a-z, 0-9, _); rename it in the spec",
                    *system_keys,
                )
                continue
            for axis in req.axes:
                if axis in seen_axes:
                    continue
                seen_axes.add(axis)
                yield from self._check_axis(
                    axis, spec_axes.get(axis, ()), who, system_keys
                )
            yield from self._check_param(req)
        requested = {r.name for r in requests}
        for name in self.params:
            if name not in requested:
                yield self._at(
                    "warning",
                    f"parameter {name!r} is configured but the model does not read it; "
                    "flepimop2 ignores it" + did_you_mean(str(name), requested),
                    self.param_key,
                    name,
                )

    def _check_axis(
        self, axis: str, coords: tuple[str, ...], who: str, system_keys: tuple[Any, ...]
    ) -> Iterator[Diagnostic]:
        declared = self.axes.get(axis)
        if not isinstance(declared, Mapping):
            yield self._at(
                "error",
                f"{who} is indexed by axis {axis!r}, which the config's top-level axes: "
                f"section does not declare; flepimop2 stops on it. Add  axes: {{{axis}: "
                f"{{kind: categorical, labels: [{', '.join(coords)}]}}}}"
                + did_you_mean(axis, map(str, self.axes)),
                *((self.axes_key,) if self.axes_key else system_keys),
            )
            return
        labels = declared.get("labels")
        kind = declared.get("kind", "categorical")
        size = (
            len(labels)
            if isinstance(labels, list)
            else declared.get("size")
            if kind == "continuous"
            else None
        )
        if size is not None and size != len(coords):
            yield self._at(
                "error",
                f"axes.{axis} has {size} entries but the spec's axis {axis!r} has "
                f"{len(coords)} coords {list(coords)} ({who})",
                self.axes_key,
                axis,
            )
        elif isinstance(labels, list) and tuple(map(str, labels)) != coords:
            yield self._at(
                "error",
                f"axes.{axis}.labels {[str(x) for x in labels]} must equal the spec's "
                f"coords {list(coords)} in the same order (parameters are indexed by "
                f"position; {who})",
                self.axes_key,
                axis,
                "labels",
            )

    def _check_param(self, req: Request) -> Iterator[Diagnostic]:
        if req.name not in self.params:
            if not req.optional:
                yield self._at(
                    "error",
                    f"{req.what} {req.name!r}"
                    + (f" (axes {list(req.axes)})" if req.axes else "")
                    + ' is not configured: flepimop2 stops with "Required parameter '
                    f"'{req.name}' was requested but not configured\"; add it under "
                    f"{self.param_key or 'parameter'}:"
                    + did_you_mean(req.name, map(str, self.params)),
                    *((self.param_key,) if self.param_key else ()),
                )
            return
        entry = self.params[req.name]
        if isinstance(entry, Mapping):
            if entry.get("module", "fixed") != "fixed" or "value" not in entry:
                return  # another parameter module: its own checks
            value, shape = entry["value"], entry.get("shape")
        else:
            value, shape = entry, None
        keys = (self.param_key, req.name)
        if shape is not None and tuple(shape) != req.axes:
            yield self._at(
                "error",
                f"parameter {req.name!r} has shape: {list(shape)} but the model indexes "
                f"it by {list(req.axes)}",
                *keys,
                "shape",
            )
            return
        try:
            got = np.shape(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            yield self._at(
                "error", f"parameter {req.name!r}: its value is not numeric", *keys
            )
            return
        sizes = tuple(self._size(a) for a in req.axes)
        if None in sizes or got == sizes or (got == () and shape is not None):
            return
        hint = (
            f"; add  shape: [{', '.join(req.axes)}]"
            if got == sizes or got == ()
            else ""
        )
        yield self._at(
            "error",
            f"parameter {req.name!r} has a value of shape {got}, but the model indexes "
            f"it by {list(req.axes)}, shape {sizes}{hint}",
            *keys,
        )

    def _size(self, axis: str) -> int | None:
        declared = self.axes.get(axis)
        if not isinstance(declared, Mapping):
            return None
        labels = declared.get("labels")
        if isinstance(labels, list):
            return len(labels)
        size = declared.get("size")
        return size if isinstance(size, int) else None


def _installed_engines() -> set[str] | None:
    """The engine modules flepimop2 can import, or `None` without flepimop2."""
    try:
        spec = importlib.util.find_spec("flepimop2.engine")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.submodule_search_locations is None:
        return None
    found = {m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)}
    return (found | set(_BUILTIN_ENGINES)) - {"abc"}
