"""flepimop2 system plugin for op_system: `system: [{module: op_system, ...}]`.

flepimop2 resolves `module: op_system` to this module and builds its only
`SystemABC` subclass, `OpSystemSystem`, from the config entry:

```yaml
system:
  - module: op_system
    spec: {...}                  # inline op_system spec, or
    spec_file: model.yaml        # a YAML spec, relative to the config file
    options:
      array_backend: numpy       # numpy (default) | jax
      x64: true                  # jax: require float64 (JAX_ENABLE_X64=1); false: JAX's precision
```

The plugin never changes JAX's global configuration: with `array_backend:
jax` and `x64: true` (the default), JAX's `jax_enable_x64` must already be on
(`JAX_ENABLE_X64=1`, or `jax.config.update("jax_enable_x64", True)` first
thing), otherwise construction raises `JaxX64Error`.

The bound stepper `stepper(time, state, **params)` calls the compiled
right-hand side directly: it checks the state's shape and never converts
time, state or output between array libraries, so with `array_backend: jax`
it can be traced by `jax.jit`, `jax.grad` and diffrax. Keyword arguments that
the model does not use (initial-condition seeds, for example) are ignored.

`requested_parameters` asks flepimop2 for every model parameter (axis-shaped
ones with their axes) and for every initial-condition seed named in the
spec's `initial_state` block; `model_state` is empty, because engines build
the state vector from the options `state_names`, `initial_state` and
`axis_labels` (see `initial_state_vector`).
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import warnings
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import Any, cast

import numpy as np
from flepimop2.axis import AxisCollection
from flepimop2.parameter.abc import (
    ModelStateSpecification,
    ParameterRequest,
    ParameterValue,
)
from flepimop2.system.abc import SystemABC
from flepimop2.typing import StateChangeEnum
from pydantic import ConfigDict, PrivateAttr, model_validator

from op_system import (
    CompiledRhs,
    OpSystemError,
    PrecisionWarning,
    UnsupportedFeatureError,
    compile_spec,
    load_spec,
    model_info,
)

from ._call_kernels import call_kernels

try:
    __version__ = metadata.version("flepimop2-op-system")
except metadata.PackageNotFoundError:  # pragma: no cover - source tree
    __version__ = "0+unknown"

__all__ = [
    "ARRAY_BACKENDS",
    "JaxX64Error",
    "OpSystemSystem",
    "__version__",
    "initial_state_vector",
]

#: Values accepted by `options.array_backend`.
ARRAY_BACKENDS: tuple[str, ...] = ("numpy", "jax")

#: Options a user may set, with their defaults.
USER_OPTIONS: dict[str, Any] = {"array_backend": "numpy", "x64": True}

#: Options computed from the spec (published for engines; ignored on input).
COMPUTED_OPTIONS: tuple[str, ...] = (
    "state_names",
    "initial_state",
    "axis_labels",
    "axis_order",
    "axis_sizes",
    "axis_coords",
    "state_shape",
    "flatten",
    "unflatten",
    "mixing_kernels",
    "operators",
    "operator_axis",
    "param_axes",
    "rhs_jacobian",
    "jacobian",
    "forcing_breakpoints",
    "axis_types",
    "time_axis",
    "time_interpolation",
    "time_coordinates",
    "observable_names",
    "observe",
    "flow_names",
    "flows_over",
    "event_schedule",
)

# flepimop2 names (parameters, config entries): lower-case identifiers.
_FLEPIMOP2_NAME = re.compile(r"^[a-z]([a-z0-9_]*[a-z0-9])?$")
_IC_PLACEHOLDER = "opsys_ic_entry_{}"


def _did_you_mean(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unwrap(value: Any) -> Any:
    """The raw array of a flepimop2 `ParameterValue`; anything else unchanged."""
    return value.value if isinstance(value, ParameterValue) else value


# -- where is the config file? ---------------------------------------------------------


def _config_directory() -> Path | None:
    """Directory of the config file the running flepimop2 CLI command was given.

    flepimop2 0.3 does not pass the config's location to the modules it builds,
    so this looks up the call stack for the CLI command object (it holds the
    resolved `config` path in `bound_kwargs`). Returns `None` outside the CLI.
    """
    import sys

    frame: FrameType | None = sys._getframe(1)
    try:
        while frame is not None:
            obj = frame.f_locals.get("self")
            kwargs = getattr(obj, "bound_kwargs", None)
            if isinstance(kwargs, dict) and isinstance(
                kwargs.get("config"), (str, Path)
            ):
                return Path(kwargs["config"]).resolve().parent
            frame = frame.f_back
    finally:
        del frame
    return None


def _load_spec_file(spec_file: str | Path) -> tuple[dict[str, Any], Path]:
    """Read `spec_file` with `op_system.load_spec` (later errors then name file:line:col)."""
    path = Path(spec_file).expanduser()
    if not path.is_absolute():
        base = _config_directory() or Path.cwd()
        path = base / path
    if not path.is_file():
        msg = f"spec_file: {str(spec_file)!r} not found (looked for {path})"
        raise ValueError(msg)
    try:
        return load_spec(path), path
    except OpSystemError as exc:
        msg = f"spec_file: {exc}"
        raise ValueError(msg) from exc


# -- options ----------------------------------------------------------------------------


def _validate_user_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        msg = f"options must be a mapping, got {type(options).__name__}"
        raise ValueError(msg)
    out = dict(USER_OPTIONS)
    for key, value in options.items():
        if key in COMPUTED_OPTIONS:
            continue  # recomputed from the spec (e.g. a re-validated model dump)
        if key not in USER_OPTIONS:
            msg = (
                f"options.{key}: unknown option for module op_system"
                f"{_did_you_mean(str(key), USER_OPTIONS)}; known options: {', '.join(USER_OPTIONS)}"
            )
            raise ValueError(msg)
        out[key] = value
    backend = out["array_backend"]
    if not isinstance(backend, str) or backend.strip().lower() not in ARRAY_BACKENDS:
        msg = (
            f"options.array_backend must be one of {', '.join(map(repr, ARRAY_BACKENDS))}, "
            f"got {backend!r}"
        )
        raise ValueError(msg)
    out["array_backend"] = backend.strip().lower()
    if not isinstance(out["x64"], bool):
        msg = f"options.x64 must be true or false, got {out['x64']!r}"
        raise ValueError(msg)
    return out


class JaxX64Error(ValueError):
    """JAX float64 was requested (`x64: true`, the default) but JAX runs in float32.

    The plugin never changes JAX's global configuration: enable float64 before
    anything else uses JAX, with `jax.config.update("jax_enable_x64", True)` or
    the environment variable `JAX_ENABLE_X64=1`; or set `x64: false`.
    """


def _require_jax_x64(jax: Any, key: str, where: str, *, explicit: bool) -> None:
    """Raise `JaxX64Error` naming the config `key` of `where` if float64 is requested and JAX's x64 is off."""
    if jax.config.jax_enable_x64:
        return
    given = "" if explicit else " (the default)"
    msg = (
        f"{key} is true{given} in the {where}: float64 was requested for JAX, but JAX's "
        "jax_enable_x64 is off (JAX would compute in float32), and this plugin does not change "
        "JAX's global configuration. Enable float64 before anything else uses JAX: call "
        'jax.config.update("jax_enable_x64", True) at the very start of your program, or set the '
        "environment variable JAX_ENABLE_X64=1 (e.g. JAX_ENABLE_X64=1 flepimop2 simulate config.yaml). "
        f"Or set {key}: false in the {where} to compute in JAX's default precision (float32)."
    )
    raise JaxX64Error(msg)


def _jax_namespace(x64: bool, *, explicit: bool = False) -> Any:
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        msg = (
            "options.array_backend: 'jax' needs JAX, which is not installed "
            f"({exc}); install it (pip install jax) or use array_backend: numpy"
        )
        raise ValueError(msg) from exc
    if x64:
        _require_jax_x64(
            jax, "options.x64", "system (module: op_system)", explicit=explicit
        )
    return jnp


# -- initial state ------------------------------------------------------------------


def _split_initial_state(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split `spec.initial_state` into what op_system validates and our own entries.

    String seeds (`S: s0`, `S[age]: s0[age]`) go to op_system unchanged. Shaped
    seeds (`{shaped: s0, axes: [age]}`) and literal numbers are replaced by a
    placeholder string, so op_system still validates and expands their keys.
    """
    raw = spec.get("initial_state")
    if raw is None or not isinstance(raw, Mapping):
        return spec, {}  # (op_system reports a non-mapping block)
    core_entries: dict[str, Any] = {}
    special: dict[str, Any] = {}
    for i, (key, value) in enumerate(raw.items()):
        where = f"spec.initial_state[{key!r}]"
        if isinstance(value, str):
            core_entries[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, Mapping)):
            msg = (
                f"{where} must be a seed parameter name, a number, or "
                f"{{shaped: name, axes: [...]}}; got {value!r}"
            )
            raise ValueError(msg)
        if isinstance(value, Mapping):
            extra = set(value) - {"shaped", "axes"}
            name = value.get("shaped")
            axes = value.get("axes")
            if extra or not isinstance(name, str) or not name.isidentifier():
                msg = f"{where} must look like {{shaped: <parameter name>, axes: [<axis>, ...]}}; got {dict(value)!r}"
                raise ValueError(msg)
            if axes is not None and (
                not isinstance(axes, (list, tuple))
                or not all(isinstance(a, str) for a in axes)
            ):
                msg = f"{where}.axes must be a list of axis names; got {axes!r}"
                raise ValueError(msg)
            if axes is not None and len(set(axes)) != len(axes):
                msg = f"{where}.axes contains a duplicate axis: {list(axes)!r}"
                raise ValueError(msg)
            value = {"shaped": name, "axes": None if axes is None else tuple(axes)}
        elif not math.isfinite(float(value)):
            msg = f"{where} must be finite, got {value!r}"
            raise ValueError(msg)
        placeholder = _IC_PLACEHOLDER.format(i)
        core_entries[key] = placeholder
        special[placeholder] = (key, value)
    core_spec = dict(spec)
    core_spec["initial_state"] = core_entries
    return _respec(spec, core_spec), special


def _respec(spec: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` (a changed copy of `spec`), keeping the file positions of a loaded spec."""
    if hasattr(spec, "marks") and hasattr(
        spec, "source"
    ):  # op_system.load_spec's SpecDict
        spec_dict = cast(
            "Callable[..., dict[str, Any]]", type(spec)
        )  # SpecDict(data, source, marks)
        return spec_dict(new, spec.source, spec.marks)
    return new


def _compile_core(
    spec: dict[str, Any], backend: str, *, x64: bool = True
) -> tuple[CompiledRhs, dict[str, np.ndarray]]:
    """The compiled spec, and the kernels it reads as arrays passed at each call.

    In op-system 0.9.0's language a kernel read in an expression is an array
    parameter of the compiled model (0.9.0 passes it at each call; see
    `_call_kernels`): the system computes its default from the spec's
    `kernels:` entry and passes it, as 0.9.0's provider does. (In 0.1.2's
    language op_system computes the kernel itself: it is no parameter.)
    `x64=False` (`options.x64: false`) asks for JAX's precision: op_system's
    `PrecisionWarning` about float32 is then not needed.
    """
    xp = "jax" if backend == "jax" else "numpy"
    with warnings.catch_warnings():
        if not x64:
            warnings.simplefilter("ignore", PrecisionWarning)
        compiled = compile_spec(spec, xp=xp)
    kernels = spec.get("kernels")
    names = {
        str(k.get("name"))
        for k in (kernels if isinstance(kernels, list) else ())
        if isinstance(k, Mapping)
    }
    read = {p.name for p in model_info(compiled).params} & names
    if not read:
        return compiled, {}
    defaults = call_kernels(spec, compiled.meta.get("axes") or [])
    return compiled, {k: v for k, v in defaults.items() if k in read}


def _cell_coords(compiled: CompiledRhs) -> dict[str, dict[str, str]]:
    """State cell name -> {axis: coord label}."""
    out: dict[str, dict[str, str]] = {name: {} for name in compiled.state_names}
    for block in model_info(compiled).blocks:
        out.update(block.cell_coords())
    return out


def _initial_state_map(
    compiled: CompiledRhs, special: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Cell -> seed name (str), shaped seed cell (dict) or literal (float), for every cell."""
    expanded = compiled.meta.get("initial_state")
    if expanded is None:
        return None
    coords = _cell_coords(compiled)
    out: dict[str, Any] = {}
    for cell in compiled.state_names:
        entry = expanded.get(cell)
        if entry is None:
            out[cell] = 0.0  # not listed: starts empty
        elif entry not in special:
            out[cell] = entry
        else:
            key, value = special[entry]
            if not isinstance(value, Mapping):
                out[cell] = float(value)
                continue
            cell_coords = coords[cell]
            axes = value["axes"] if value["axes"] is not None else tuple(cell_coords)
            unknown = [a for a in axes if a not in cell_coords]
            if unknown:
                msg = (
                    f"spec.initial_state[{key!r}]: seed {value['shaped']!r} is indexed by "
                    f"axis {unknown[0]!r}, but state {cell!r} only has axes {list(cell_coords)}"
                )
                raise ValueError(msg)
            out[cell] = {
                "shaped": value["shaped"],
                "axes": tuple(axes),
                "coords": {a: cell_coords[a] for a in axes},
            }
    return out


def initial_state_vector(
    option: Callable[..., Any],
    params: Mapping[str, Any],
    xp: Any = np,
) -> Any:
    """Assemble the initial state vector `y0` (in `state_names` order).

    Arguments:
        option: `system.option` or `stepper.option` of an op_system system.
        params: Sampled parameters (`ParameterValue`s or raw arrays) holding the
            initial-condition seeds named by `option("initial_state")`.
        xp: Array namespace of the result (`numpy`, `jax.numpy`); JAX tracers in
            `params` flow through, so `jax.grad` works w.r.t. seeds.

    Raises `ValueError` if the spec has no `initial_state` block, and `KeyError`
    naming the seed if one was not sampled.
    """
    state_names = option("state_names")
    init_map = option("initial_state", None)
    if init_map is None:
        msg = (
            "the op_system spec has no initial_state block, so the initial state "
            "cannot be built from parameters; add spec.initial_state "
            "(e.g. {S: s0, I: i0, R: 0})"
        )
        raise ValueError(msg)
    labels = option("axis_labels", None) or {}
    dtype = xp.asarray(0.0).dtype
    cells = []
    for cell in state_names:
        entry = init_map.get(cell, 0.0)
        if isinstance(entry, str):
            if entry not in params:
                msg = f"initial state of {cell!r} needs parameter {entry!r}, which is not in params"
                raise KeyError(msg)
            value = xp.asarray(_unwrap(params[entry]), dtype=dtype)
            if value.shape != ():
                msg = f"initial-state seed {entry!r} (state {cell!r}) must be a scalar, got shape {value.shape}"
                raise ValueError(msg)
        elif isinstance(entry, Mapping):
            name = entry["shaped"]
            if name not in params:
                msg = f"initial state of {cell!r} needs parameter {name!r}, which is not in params"
                raise KeyError(msg)
            array = xp.asarray(_unwrap(params[name]), dtype=dtype)
            index = tuple(
                list(labels[ax]).index(entry["coords"][ax]) for ax in entry["axes"]
            )
            expected = tuple(len(labels[ax]) for ax in entry["axes"])
            if tuple(array.shape) != expected:
                msg = (
                    f"initial-state seed {name!r} must have shape {expected} "
                    f"(axes {list(entry['axes'])}), got {tuple(array.shape)}"
                )
                raise ValueError(msg)
            value = array[index]
        else:
            value = xp.asarray(float(entry), dtype=dtype)
        cells.append(value)
    return xp.stack(cells)


# -- kernels ------------------------------------------------------------------------------


def _published_kernels(compiled: CompiledRhs) -> dict[str, np.ndarray]:
    """Values of the spec's `kernels` whose shape is fixed by the spec (declared `axes`, or a `value`).

    op_system evaluates kernels inside the compiled right-hand side (they are
    not parameters); these arrays are published as the `mixing_kernels` option
    for engines and users that want to inspect them.
    """
    info = model_info(compiled)
    return {k.name: info.kernel_values(k.name) for k in info.kernels if k.fixed_shape}


# -- the stepper --------------------------------------------------------------------------


def _make_stepper(
    eval_fn: Callable[..., Any],
    n_state: int,
    xp: Any,
    backend: str,
    defaults: Mapping[str, Any],
) -> Callable[..., Any]:
    """The stepper `stepper(time, state, **params)`; `defaults` are parameters
    (kernels passed at each call) that a given value replaces."""
    is_numpy = backend == "numpy"

    def stepper(time: Any, state: Any, **params: Any) -> Any:
        if defaults:
            params = {**defaults, **params}
        shape = getattr(state, "shape", None)
        if shape is None:  # a list or tuple: make it an array of this backend
            state = xp.asarray(state)
            shape = state.shape
        if tuple(shape) != (n_state,):
            msg = (
                "state must be a 1D array matching the spec state length; "
                f"expected ({n_state},), got {tuple(shape)}."
            )
            raise ValueError(msg)
        if (
            is_numpy
            and not isinstance(state, np.ndarray)
            and type(state).__module__.startswith("jax")
        ):
            msg = (
                "this op_system system has options.array_backend: numpy, but its stepper "
                "was called with a JAX array (e.g. under jax.jit or diffrax); set "
                "options.array_backend: jax"
            )
            raise TypeError(msg)
        for key, value in params.items():
            if isinstance(value, ParameterValue):
                params[key] = value.value
        return eval_fn(time, state, **params)

    return stepper


def _flepimop2_name_error(name: str, what: str) -> str | None:
    if _FLEPIMOP2_NAME.match(name):
        return None
    return (
        f"{what} cannot be configured in flepimop2: parameter names must be "
        "lower-case identifiers (a-z, 0-9, _); rename it in the spec"
    )


class OpSystemSystem(SystemABC, module="op_system"):
    """An op_system model as a flepimop2 system (`module: op_system`).

    Attributes:
        spec: The op_system spec (inline). Exactly one of `spec`, `spec_file`.
        spec_file: Path of a YAML file holding the spec, relative to the config
            file when run by the flepimop2 CLI (else to the working directory).
        state_change: Always `flow`: the stepper returns `dy/dt`.
        options: User options `array_backend` (`numpy` | `jax`, default `numpy`)
            and `x64` (JAX only: require float64, default true; JAX's
            `jax_enable_x64` must then be on, else `JaxX64Error`). After
            construction it also holds the computed options engines read:
            `state_names`, `initial_state`, `axis_labels`, `axis_order`,
            `axis_sizes`, `axis_coords`, `state_shape`, `flatten`, `unflatten`,
            `mixing_kernels`, `operators`, `operator_axis`, `param_axes` (a
            time-varying parameter's include the time axis), `forcing_breakpoints`
            (the time axis's coordinates, where time-varying parameters change), and
            `rhs_jacobian` / `jacobian`: the exact Jacobian `J(time, state)` of
            the right-hand side (a dense `(n, n)` array, with the parameters of
            the latest `bind`), for op_engine's implicit and SDIRK methods;
            `event_schedule(**params) -> [(time, fn)]` (None without
            `events:` in the spec): the spec's timed events, which an engine
            honours by stopping at each time, replacing the state by `fn(state)`
            and restarting (the diffrax engine and the example `solve_ivp`
            runner do; an engine that does not read it ignores the events).

    !!! example
        ```python
        system = OpSystemSystem(spec=spec, options={"array_backend": "jax"})
        stepper = system.bind({"beta": 0.3, "gamma": 0.1})
        stepper(0.0, y)                       # == stepper(time=0.0, state=y)
        stepper.option("state_names")
        ```
    """

    model_config = ConfigDict(extra="forbid")

    state_change: StateChangeEnum = StateChangeEnum.FLOW
    spec: dict[str, Any] | None = None
    spec_file: str | None = None

    _compiled: CompiledRhs = PrivateAttr()
    _stepper: Callable[..., Any] = PrivateAttr()
    _spec_dict: dict[str, Any] = PrivateAttr()
    _spec_path: Path | None = PrivateAttr(default=None)
    _jacobian_params: dict[str, Any] | None = PrivateAttr(default=None)
    #: kernels passed at each call (op-system 0.9.0's kernel reads): parameter defaults
    _at_call: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _compile(self) -> OpSystemSystem:
        if self.state_change != StateChangeEnum.FLOW:
            msg = (
                f"state_change must be 'flow' for op_system (the stepper returns dy/dt), "
                f"got {self.state_change.value!r}"
            )
            raise ValueError(msg)
        user = _validate_user_options(self.options)
        if (self.spec is None) == (self.spec_file is None):
            msg = (
                "give exactly one of spec (an inline op_system spec) or spec_file "
                "(a YAML file, relative to the config file)"
                + ("; both are set" if self.spec is not None else "; neither is set")
            )
            raise ValueError(msg)
        if self.spec is not None:
            spec, where = self.spec, "spec"
        else:
            spec, path = _load_spec_file(self.spec_file)  # type: ignore[arg-type]
            self._spec_path = path
            where = f"spec_file ({path})"
        self._spec_dict = spec

        backend = user["array_backend"]
        explicit_x64 = isinstance(self.options, Mapping) and "x64" in self.options
        xp = (
            _jax_namespace(user["x64"], explicit=explicit_x64)
            if backend == "jax"
            else np
        )
        try:
            core_spec, special = _split_initial_state(spec)
            compiled, at_call = _compile_core(core_spec, backend, x64=user["x64"])
            init_map = _initial_state_map(compiled, special)
            kernels = {**_published_kernels(compiled), **at_call}
        except (OpSystemError, ValueError) as exc:
            spec_path: str | None = getattr(
                exc, "path", None
            )  # the spec path op_system names
            if spec_path and spec_path != "<spec>":
                key = (
                    f"spec.{spec_path}"
                    if where == "spec"
                    else f"{where}, at {spec_path}"
                )
            else:
                key = where
            msg = f"{key}: not a valid op_system spec: {exc}"
            raise ValueError(msg) from exc
        self._compiled = compiled
        self._at_call = at_call
        self._stepper = _make_stepper(
            compiled.eval_fn, len(compiled.state_names), xp, backend, at_call
        )
        self.options = {
            **user,
            **self._computed_options(compiled, init_map, kernels, at_call),
            **self._jacobian_options(compiled, xp),
            "event_schedule": _event_schedule(compiled, at_call)
            if core_spec.get("events")
            else None,
        }
        return self

    def _jacobian_options(self, compiled: CompiledRhs, xp: Any) -> dict[str, Any]:
        """`rhs_jacobian` and `jacobian`: op_system's exact Jacobian `J(t, y)`, dense,
        with the parameters of the latest `bind` (op_engine's implicit, Rosenbrock
        and SDIRK methods read them; engines bind before they step)."""
        n = len(compiled.state_names)

        @functools.cache
        def jac() -> Callable[..., Any]:
            # generated on first use: explicit engines never ask for it
            return compiled.jacobian(xp)

        numpy = xp is None or getattr(xp, "__name__", "") == "numpy"
        # NumPy: the Jacobian bound to the latest parameters, which it reads once
        bound: list[Any] = [None, None]  # [parameters, bound Jacobian]

        def rhs_jacobian(time: Any, state: Any) -> Any:
            params = self._jacobian_params
            if params is None:
                msg = (
                    "the op_system Jacobian needs the model's parameters: call "
                    "system.bind(params) before evaluating it"
                )
                raise RuntimeError(msg)
            y = _namespace(state).reshape(state, (n,))
            if not numpy:
                return jac()(time, y, **params)
            if bound[0] is not params:
                bound[:] = [params, compiled.bind(params, output="jacobian")]
            return bound[1](time, y)

        return {"rhs_jacobian": rhs_jacobian, "jacobian": rhs_jacobian}

    # -- computed options ---------------------------------------------------------------
    @staticmethod
    def _computed_options(
        compiled: CompiledRhs,
        init_map: dict[str, Any] | None,
        kernels: dict[str, np.ndarray],
        at_call: Mapping[str, np.ndarray],
    ) -> dict[str, Any]:
        axes = list(compiled.meta.get("axes", []) or [])
        labels = {
            ax["name"]: tuple(str(c) for c in ax.get("coords", [])) for ax in axes
        }
        sizes: dict[str, int] = {"subgroup": 1}
        coords: dict[str, np.ndarray] = {"subgroup": np.zeros(1)}
        for ax in axes:
            sizes[ax["name"]] = int(ax.get("size") or len(ax.get("coords", [])))
            try:
                coords[ax["name"]] = np.asarray(
                    [float(c) for c in ax["coords"]], dtype=np.float64
                )
            except (TypeError, ValueError):
                coords[ax["name"]] = np.arange(sizes[ax["name"]], dtype=np.float64)
        n_state = len(compiled.state_names)
        state_shape = (n_state, 1, *(sizes[ax["name"]] for ax in axes))

        def flatten(tensor: Any) -> Any:
            return _namespace(tensor).reshape(tensor, (-1,))

        def unflatten(flat: Any) -> Any:
            return _namespace(flat).reshape(flat, state_shape)

        raw_ops = compiled.meta.get("operators")
        operators = (
            tuple(MappingProxyType(dict(op)) for op in raw_ops)
            if isinstance(raw_ops, list)
            else raw_ops
        )
        op_axes = {op["axis"] for op in raw_ops} if isinstance(raw_ops, list) else set()
        param_axes = {
            p.name: _table_axes(p, compiled) for p in model_info(compiled).params
        }
        return {
            "state_names": tuple(compiled.state_names),
            "initial_state": init_map,
            "axis_labels": labels,
            "axis_order": ("state", "subgroup", *(ax["name"] for ax in axes)),
            "axis_sizes": sizes,
            "axis_coords": coords,
            "state_shape": state_shape,
            "flatten": flatten,
            "unflatten": unflatten,
            "mixing_kernels": dict(kernels),
            "operators": operators,
            "operator_axis": next(iter(op_axes)) if len(op_axes) == 1 else None,
            "param_axes": param_axes,
            # where time-varying parameters change regime: engines land steps here
            "forcing_breakpoints": tuple(compiled.forcing_breakpoints),
            **_axis_and_time_options(compiled, axes),
            **_solution_outputs(compiled, at_call),
        }

    # -- public -------------------------------------------------------------------------
    @property
    def compiled(self) -> CompiledRhs:
        """The compiled op_system right-hand side."""
        return self._compiled

    @property
    def spec_dict(self) -> dict[str, Any]:
        """The spec as given inline or loaded from `spec_file`."""
        return self._spec_dict

    def _bind_impl(self, params: dict[str, Any] | None = None) -> Any:
        """The stepper with `params` bound; it carries `.option` (this system's options)."""
        bound_params = {
            **self._at_call,  # defaults, which a given value replaces
            **{k: _unwrap(v) for k, v in (params or {}).items()},
        }
        self._jacobian_params = bound_params  # what the published Jacobian reads
        bound = functools.partial(self._stepper, **bound_params)
        bound.option = self.option  # type: ignore[attr-defined]
        return bound

    def requested_parameters(self, axes: AxisCollection) -> dict[str, ParameterRequest]:
        """Every model parameter (with its axes) and every initial-condition seed.

        Raises `ValueError` if a name cannot be configured in flepimop2 or an
        axis of the spec is missing from (or differs in) the config's `axes:`.
        """
        requests: dict[str, ParameterRequest] = {}
        spec_axes = {ax["name"]: ax for ax in self._compiled.meta.get("axes", []) or []}
        info = model_info(self._compiled)
        # parameters only the observables read are optional: a run that does not
        # write observables does not need them
        for param, optional in [
            *((p, False) for p in info.params),
            *((p, True) for p in info.observable_params),
        ]:
            if param.name in self._at_call:
                continue  # a kernel the system computes and passes (0.9.0's kernel read)
            name, param_axes = param.name, _table_axes(param, self._compiled)
            problem = _flepimop2_name_error(name, f"spec parameter {name!r}")
            if problem:
                raise ValueError(problem)
            for axis in dict.fromkeys(param_axes):
                self._check_axis(axes, axis, spec_axes.get(axis), f"parameter {name!r}")
            requests[name] = ParameterRequest(
                name=name, axes=param_axes, optional=optional
            )
        for name in self._compiled.event_param_names:  # read by timed events only
            problem = _flepimop2_name_error(name, f"spec.events parameter {name!r}")
            if problem:
                raise ValueError(problem)
            requests.setdefault(name, ParameterRequest(name=name, axes=()))
        for cell, entry in (self.option("initial_state", None) or {}).items():
            if isinstance(entry, str):
                seed, seed_axes = entry, ()
            elif isinstance(entry, Mapping):
                seed, seed_axes = entry["shaped"], tuple(entry["axes"])
            else:
                continue  # a literal number
            problem = _flepimop2_name_error(
                seed, f"spec.initial_state seed {seed!r} (state {cell!r})"
            )
            if problem:
                raise ValueError(problem)
            for axis in seed_axes:
                self._check_axis(
                    axes, axis, spec_axes.get(axis), f"initial-state seed {seed!r}"
                )
            previous = requests.get(seed)
            if previous is not None and tuple(previous.axes) != seed_axes:
                msg = (
                    f"spec.initial_state: seed {seed!r} is used with axes {list(seed_axes)} "
                    f"but is also a parameter or seed with axes {list(previous.axes)}"
                )
                raise ValueError(msg)
            requests[seed] = ParameterRequest(name=seed, axes=seed_axes)
        return requests

    @staticmethod
    def _check_axis(
        axes: AxisCollection, name: str, spec_axis: Mapping[str, Any] | None, who: str
    ) -> None:
        coords = tuple(str(c) for c in (spec_axis or {}).get("coords", []))
        runtime = axes.get(name) if axes is not None else None
        if runtime is None:
            msg = (
                f"{who} is indexed by axis {name!r}, which is not declared in the config's "
                f"top-level axes: section; add  axes: {{{name}: {{kind: categorical, "
                f"labels: [{', '.join(coords)}]}}}}"
            )
            raise ValueError(msg)
        if runtime.size != len(coords):
            msg = (
                f"axes.{name} has {runtime.size} entries but the spec's axis {name!r} "
                f"has {len(coords)} coords {list(coords)} ({who})"
            )
            raise ValueError(msg)
        if runtime.labels is not None and tuple(runtime.labels) != coords:
            msg = (
                f"axes.{name}.labels {list(runtime.labels)} must equal the spec's coords "
                f"{list(coords)} (same order: parameters are indexed by position; {who})"
            )
            raise ValueError(msg)

    def model_state(self, axes: AxisCollection) -> ModelStateSpecification:
        """An empty specification: engines build the state from the options.

        A seed may fill many cells (`R[age]: r0`), which a
        `ModelStateSpecification` (unique names) cannot express; the seeds are
        requested as parameters instead and `initial_state_vector` assembles them.
        """
        del axes
        return ModelStateSpecification(parameter_names=())


def _event_schedule(
    compiled: CompiledRhs, at_call: Mapping[str, Any]
) -> Callable[..., list[tuple[Any, Callable[[Any], Any]]]]:
    """`event_schedule(**params) -> [(time, fn)]`: the spec's timed events
    (`events:`), `fn(state)` the state just after the event, for an engine to
    stop at, apply and restart from; None when the spec has none. Times and
    amounts may be traced JAX values (the diffrax engine's parameters are)."""

    def event_schedule(**params: Any) -> list[tuple[Any, Callable[[Any], Any]]]:
        raw = {**at_call, **{k: _unwrap(v) for k, v in params.items()}}
        return compiled.event_schedule(**raw)

    return event_schedule


def _solution_outputs(
    compiled: CompiledRhs, at_call: Mapping[str, Any]
) -> dict[str, Any]:
    """`observe(ts, ys, **params)` and `flows_over(ts, ys, **params)`: the
    observables and the flows over a whole solution (rows of `ys`), with their names,
    for engines that write them (`None` when the spec has none)."""
    try:
        flow_names = compiled.flow_names
    except UnsupportedFeatureError:  # an expr model has no flows
        flow_names = ()

    def flows_over(ts: Any, ys: Any, **params: Any) -> Any:
        params = {**at_call, **params}
        if _namespace(ys) is not np:
            import jax

            return jax.vmap(lambda t, y: compiled.flows(t, y, **params))(ts, ys)
        return np.stack([compiled.flows(t, y, **params) for t, y in zip(ts, ys)])

    return {
        "observable_names": compiled.observable_names,
        "observe": (
            None
            if not compiled.observable_names
            else compiled.observe
            if not at_call
            else functools.partial(_with_defaults, compiled.observe, at_call)
        ),
        "flow_names": flow_names,
        "flows_over": flows_over if flow_names else None,
    }


def _axis_and_time_options(
    compiled: CompiledRhs, axes: list[dict[str, Any]]
) -> dict[str, Any]:
    """The options flepimop2-op-system 0.9.0 also publishes, for engines written for it:
    `axis_types` (as declared: categorical, ordinal, continuous), `time_axis`,
    `time_interpolation` (the tables' policy, `linear` or `previous`; a mapping
    by parameter when they differ) and `time_coordinates` (the time axis's
    coordinates when a parameter is a table over it, else empty)."""
    time_axis = compiled.meta.get("time_axis")
    policy = compiled.meta.get("time_interpolation") or {}
    policies = set(policy.values())
    coords: tuple[float, ...] = ()
    if time_axis is not None and compiled.meta.get("time_varying_params"):
        (axis,) = (ax for ax in axes if ax["name"] == time_axis)
        coords = tuple(float(c) for c in axis["coords"])
    return {
        "axis_types": {
            "subgroup": "categorical",
            **{ax["name"]: str(ax.get("type", "categorical")) for ax in axes},
        },
        "time_axis": time_axis or "time",
        "time_interpolation": (
            "linear"
            if not policies
            else next(iter(policies))
            if len(policies) == 1
            else MappingProxyType(dict(policy))
        ),
        "time_coordinates": coords,
    }


def _with_defaults(
    fn: Callable[..., Any], defaults: Mapping[str, Any], *args: Any, **params: Any
) -> Any:
    """`fn(*args, **params)` with the parameters of `defaults` it is not given."""
    return fn(*args, **{**defaults, **params})


def _table_axes(param: Any, compiled: CompiledRhs) -> tuple[str, ...]:
    """A parameter's axes as flepimop2 passes its value: a time-varying parameter's
    table has the time axis too, where the spec indexes it."""
    if param.time_pos is None:
        return tuple(param.axes)
    axes = list(param.axes)
    axes.insert(param.time_pos, compiled.meta["time_axis"])
    return tuple(axes)


def _namespace(x: Any) -> Any:
    get = getattr(x, "__array_namespace__", None)
    return get() if get is not None else np
