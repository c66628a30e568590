"""A read-only view of a compiled model's structure: `model_info(rhs) -> ModelInfo`.

Tools built on op_system (the flepimop2 plugin, engines, plotting code) need
more than the flat `state_names` and `param_names`: which states are blocks
over which axes, where each block sits in `y`, which parameters are indexed by
axes (and may be passed as one array), and the values of the spec's kernels.
`model_info` returns all of that as plain, immutable data (strings, tuples,
ints), so callers never touch op_system's internals.

!!! example
    ```python
    >>> from op_system import compile_spec, model_info
    >>> rhs = compile_spec({
    ...     "kind": "transitions",
    ...     "axes": [{"name": "age", "coords": ["young", "old"]}],
    ...     "state": ["S[age]", "I[age]", "R[age]"],
    ...     "aliases": {"foi[age]": "beta * sum_over(age=j, C[age, age=j] * I[age=j]) / sum_state()"},
    ...     "transitions": [
    ...         {"from": "S[age]", "to": "I[age]", "rate": "foi[age]"},
    ...         {"from": "I[age]", "to": "R[age]", "rate": "gamma"},
    ...     ],
    ... })
    >>> info = model_info(rhs)
    >>> info
    ModelInfo(kind='transitions', n_state=6, axes={'age': 2}, blocks=['S[age]', 'I[age]', 'R[age]'], params=['C[age, age]', 'beta', 'gamma'], kernels=[])
    >>> block = info.blocks[1]
    >>> block.base, block.offset, block.size, block.names
    ('I', 2, 2, ('I__age_young', 'I__age_old'))
    >>> info.cell_coords("I__age_old")
    {'age': 'old'}
    >>> info.param("C").shape, info.param("C").array_ok
    ((2, 2), True)

    ```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .._core.chains import chain_name
from .._core.declared import Declarations
from .._core.model import Model
from .._spec.axes import Axis
from .._spec.gauges import ScalingGauge
from .._spec.parameters import ParameterDeclaration
from .._spec.reactants import Reactant
from .._spec.science import AxisMeasure, StateDeclaration
from .._support.errors import did_you_mean
from .compiled import CompiledRhs
from .normalized import NormalizedRhs

__all__ = [
    "AxisInfo",
    "KernelInfo",
    "ModelInfo",
    "ParamInfo",
    "StateBlockInfo",
    "model_info",
]


@dataclass(frozen=True)
class AxisInfo:
    """An axis of the spec (`axes:`).

    Attributes:
        name: The axis name.
        kind: `"categorical"` or `"continuous"`.
        coords: The coordinates as text, in order (as they appear in expanded names).
        values: The numeric coordinates of a continuous axis; `()` for a categorical one.
        measure: The axis's declared `measure` (op-system 0.9.0's: `kind`,
            one weight per coordinate, `units`), or `None`.
    """

    name: str
    kind: str
    coords: tuple[str, ...]
    values: tuple[float, ...] = ()
    measure: AxisMeasure | None = None

    @property
    def size(self) -> int:
        """Number of coordinates."""
        return len(self.coords)

    def __repr__(self) -> str:
        return (
            f"AxisInfo({self.name!r}, kind={self.kind!r}, coords={list(self.coords)!r})"
        )


@dataclass(frozen=True)
class StateBlockInfo:
    """A state template (`S[age, vax]`, or a plain state `S`): a contiguous slice of `y`.

    The cells of a templated block are in C order over its axes, so
    `y[offset:offset + size].reshape(shape)` is the block as an array. A chain
    (`chain:` in the spec) is one block whose `names` are its stages `I1 … In`;
    it has no axes, `chain` is true and `shape` is `(n,)`.

    Attributes:
        base: The state's base name (`S` for `S[age]`; the chain's name for a chain).
        axes: Names of the axes the block is indexed by, in order.
        coords: The coordinates of each of those axes.
        offset: Position of the block's first cell in the state vector.
        size: Number of cells.
        names: Expanded names of the cells (`S__age_young`, ...), as in `state_names`.
        chain: Whether the block holds the stages of a chain.
        counter: Whether the block is an incidence counter (`incidence:` in the
            spec): it accumulates flows, starts at 0 and is not part of the
            population.
    """

    base: str
    axes: tuple[str, ...]
    coords: tuple[tuple[str, ...], ...]
    offset: int
    size: int
    names: tuple[str, ...]
    chain: bool = False
    counter: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape of the block: its axes' sizes (`(n,)` for a chain of `n` stages)."""
        if self.chain:
            return (self.size,)
        return tuple(len(c) for c in self.coords)

    @property
    def slice(self) -> slice:
        """The block's slice of the state vector."""
        return slice(self.offset, self.offset + self.size)

    @property
    def template(self) -> str:
        """The block as written in a spec: `S[age,vax]`, or `S`; a chain as `I1..I3`."""
        if self.chain:
            return f"{self.names[0]}..{self.names[-1]}"
        return f"{self.base}[{','.join(self.axes)}]" if self.axes else self.base

    def cell_coords(self) -> dict[str, dict[str, str]]:
        """Cell name -> `{axis: coordinate}` for every cell (empty mappings for a plain state or a chain)."""
        if not self.axes:
            return {name: {} for name in self.names}
        import itertools

        combos = itertools.product(*self.coords)
        return {
            name: dict(zip(self.axes, combo)) for name, combo in zip(self.names, combos)
        }

    def __repr__(self) -> str:
        kind = (
            ", chain=True" if self.chain else ", counter=True" if self.counter else ""
        )
        return f"StateBlockInfo({self.template!r}, offset={self.offset}, size={self.size}{kind})"


@dataclass(frozen=True)
class ParamInfo:
    """A parameter of the model.

    Attributes:
        name: The base name (`C` for `C[age, age]`): the keyword of `eval_fn`
            that takes the whole array when `array_ok`.
        axes: Names of the axes the parameter is indexed by (`("age", "age")`);
            `()` for a scalar.
        shape: The array shape (`()` for a scalar).
        names: Expanded scalar names of all its cells in C order
            (`C__age_young__age_old`, ...); `(name,)` for a scalar.
        used_names: The cells the model reads, in C order (all of `names`
            unless a selection such as `b[age=y]` reads only some). These are
            the names `param_names` lists for this parameter.
        array_ok: Whether one array of `shape` may be passed under `name`
            (false when the same base is also used with another index
            signature: then only the expanded names are accepted).
        key: A unique key: `name`, or `name[axes]` for such a variant.
        time_pos: For a time-varying parameter (indexed by the time axis), where
            the time axis stands in its table's shape; `None` otherwise. `axes`
            and `shape` leave the time axis out: they are those of its value at
            `t`. The table passed under `name` has shape `table_shape(n_time)`;
            each expanded name takes one series over the times.
        interpolation: A time-varying parameter's interpolation method.
        n_time: For a time-varying parameter, the number of times on the
            time axis's own grid (the default grid); `None` otherwise.
        time_axis: For a time-varying parameter, the time axis's name.
    """

    name: str
    axes: tuple[str, ...]
    shape: tuple[int, ...]
    names: tuple[str, ...]
    used_names: tuple[str, ...]
    array_ok: bool = True
    key: str = ""
    time_pos: int | None = None
    interpolation: str | None = None
    n_time: int | None = None
    time_axis: str | None = None

    @property
    def time_varying(self) -> bool:
        return self.time_pos is not None

    @property
    def call_shape(self) -> tuple[int, ...]:
        """The shape of the array passed under `name`: `shape`, or for a
        time-varying parameter its table on the time axis's own grid."""
        if self.time_pos is None or self.n_time is None:
            return self.shape
        return self.table_shape(self.n_time)

    def table_shape(self, n_time: int) -> tuple[int, ...]:
        """The shape of a time-varying parameter's table on `n_time` times."""
        if self.time_pos is None:
            raise ValueError(f"parameter {self.name!r} is not time-varying")
        from .._core.timevarying import table_shape

        return table_shape(self.shape, self.time_pos, n_time)

    def __repr__(self) -> str:
        sig = _signature(self)
        extra = "" if self.array_ok else ", array_ok=False"
        if self.time_pos is not None:
            extra += f", time_varying at {self.time_pos} ({self.interpolation})"
            if self.n_time is not None:
                extra += f", call_shape={self.call_shape}"
        return f"ParamInfo({self.name + sig!r}, shape={self.shape}{extra})"


@dataclass(frozen=True)
class KernelInfo:
    """A kernel of the spec (`kernels:`); its values come from `ModelInfo.kernel_values`.

    Attributes:
        name: The kernel name.
        form: `gaussian`, `exponential`, `erfc`, `gamma`, `power_law`, or
            `custom_value` (a kernel given by its `value`).
        axes: The axes the spec declares for it (`axes:`), or `None`: then its
            shape is fixed where an expression indexes it.
        has_value: Whether the spec gives the kernel's values (`value:`).
    """

    name: str
    form: str
    axes: tuple[str, ...] | None
    has_value: bool

    @property
    def fixed_shape(self) -> bool:
        """Whether the spec alone fixes the kernel's values (declared `axes`, or a `value`)."""
        return self.axes is not None or self.has_value


@dataclass(frozen=True, repr=False)
class ModelInfo:
    """The structure of a model: axes, state blocks, parameters, kernels (see `model_info`).

    Attributes:
        kind: `"expr"` or `"transitions"`.
        state_names: Expanded state names, the order of `y` (as `CompiledRhs.state_names`).
        param_names: Expanded parameter names (as `CompiledRhs.param_names`).
        axes: The spec's axes, in declaration order.
        blocks: The state blocks, in state-vector order; their `names` concatenate to `state_names`.
        params: The parameters, by base name (a base used with two index signatures appears twice).
        kernels: The spec's kernels.
        observable_params: The parameters only the spec's observables read (not
            the right-hand side's; see `CompiledRhs.observables`).
        parameters: The spec's `parameters:` declarations (support, units,
            description, fixed), by parameter name; data only.
        state_metadata: The spec's `state_metadata:` declarations
            (representation, units, description, measure axes, scale), by state base.
        gauges: The spec's `gauges:` (declared scaling actions, not verified).
        factorize_axes: The axes the spec declares the model independent along.
        reactions: Each transition's declared reactants (`reactants:`, or a
            `coord_shift`'s `catalysts:`), by transition name: a tuple of
            `Reactant`s, or `"auto"`.
        operators: The spec's `operators:` entries, normalized (metadata).
    """

    kind: str
    state_names: tuple[str, ...]
    param_names: tuple[str, ...]
    axes: tuple[AxisInfo, ...]
    blocks: tuple[StateBlockInfo, ...]
    params: tuple[ParamInfo, ...]
    kernels: tuple[KernelInfo, ...]
    _kernel_entries: Mapping[str, tuple[int, Mapping[str, Any]]] = field(
        default_factory=dict, compare=False
    )
    _axis_objects: Mapping[str, Axis] = field(default_factory=dict, compare=False)
    observable_params: tuple[ParamInfo, ...] = ()
    parameters: Mapping[str, ParameterDeclaration] = field(default_factory=dict)
    state_metadata: Mapping[str, StateDeclaration] = field(default_factory=dict)
    gauges: tuple[ScalingGauge, ...] = ()
    factorize_axes: tuple[str, ...] = ()
    reactions: Mapping[str, tuple[Reactant, ...] | str] = field(default_factory=dict)
    operators: tuple[Mapping[str, Any], ...] = ()

    def axis(self, name: str) -> AxisInfo:
        """The axis called `name` (`KeyError` naming the known axes otherwise)."""
        for ax in self.axes:
            if ax.name == name:
                return ax
        raise KeyError(
            f"no axis {name!r}{did_you_mean(name, [a.name for a in self.axes])}"
        )

    def param(self, name: str) -> ParamInfo:
        """The parameter with base name (or key) `name`; an array-capable variant is preferred."""
        found = [p for p in self.params if name in (p.key, p.name)]
        if not found:
            raise KeyError(
                f"no parameter {name!r}{did_you_mean(name, [p.name for p in self.params])}"
            )
        return next(
            (p for p in found if p.key == name),
            next((p for p in found if p.array_ok), found[0]),
        )

    def block_of(self, state: str) -> StateBlockInfo:
        """The block holding the state cell called `state` (an entry of `state_names`)."""
        for block in self.blocks:
            if state in block.names:
                return block
        raise KeyError(f"no state {state!r}{did_you_mean(state, self.state_names)}")

    def cell_coords(self, state: str) -> dict[str, str]:
        """`{axis: coordinate}` of the state cell `state` (`{}` for a plain state)."""
        return self.block_of(state).cell_coords()[state]

    def kernel_values(
        self, name: str, axes: tuple[str, ...] | None = None
    ) -> npt.NDArray[np.float64]:
        """The values of kernel `name` over `axes` (default: the axes the spec declares), as float64.

        A distance kernel over one axis is evaluated at each coordinate's
        distance from 0, over two axes at `|x_i - x_j|` (see the spec
        reference). A kernel given by `value` and declaring no axes returns
        that value. Raises `KeyError` for an unknown kernel and `ValueError`
        when neither the spec nor `axes` fixes the kernel's shape.
        """
        from .._spec.meta import kernel_array

        if name not in self._kernel_entries:
            raise KeyError(
                f"no kernel {name!r}{did_you_mean(name, [k.name for k in self.kernels])}"
            )
        index, entry = self._kernel_entries[name]
        names = axes if axes is not None else entry.get("axes")
        if names:
            unknown = [a for a in names if a not in self._axis_objects]
            if unknown:
                raise KeyError(f"kernel {name!r}: no axis {unknown[0]!r}")
            values = kernel_array(
                entry, [self._axis_objects[a] for a in names], f"kernels[{index}]"
            )
        elif entry.get("value") is not None:
            values = entry["value"]
        else:
            raise ValueError(
                f"kernel {name!r} declares no axes and has no value, so its shape is fixed only "
                "where an expression indexes it; pass axes=(...)"
            )
        return np.array(values, dtype=np.float64)

    def __repr__(self) -> str:
        axes = {ax.name: ax.size for ax in self.axes}
        blocks = [b.template for b in self.blocks]
        params = [p.name + _signature(p) for p in self.params]
        return (
            f"ModelInfo(kind={self.kind!r}, n_state={len(self.state_names)}, axes={axes}, "
            f"blocks={blocks}, params={params}, kernels={[k.name for k in self.kernels]})"
        )


def _signature(p: ParamInfo) -> str:
    """`[age, age]`; a time-varying parameter's with its time axis where its
    table has it (`[age, time]`): the axes of the array passed for it."""
    names = list(p.axes)
    if p.time_pos is not None:
        names.insert(p.time_pos, p.time_axis or "time")
    return f"[{', '.join(names)}]" if names else ""


def _axis_info(ax: Axis, measure: AxisMeasure | None = None) -> AxisInfo:
    return AxisInfo(
        ax.name,
        ax.kind,
        tuple(str(c) for c in ax.coords),
        tuple(float(v) for v in ax.values),
        measure,
    )


def _from_model(
    model: Model, state_names: tuple[str, ...], param_names: tuple[str, ...]
) -> ModelInfo:
    blocks = []
    counters = {id(c.block) for c in model.counters}
    for b in model.blocks:
        name = chain_name(b)
        chain = name is not None
        blocks.append(
            StateBlockInfo(
                base=name if name is not None else b.base,
                axes=() if chain else tuple(ax.name for ax in b.axes),
                coords=()
                if chain
                else tuple(tuple(str(c) for c in ax.coords) for ax in b.axes),
                offset=b.offset,
                size=b.size,
                names=tuple(b.names()),
                chain=chain,
                counter=id(b) in counters,
            )
        )

    tv_axis = model.time_axis

    def info(p: Any) -> ParamInfo:
        return ParamInfo(
            name=p.base,
            axes=tuple(ax.name for ax in p.axes),
            shape=p.shape,
            names=tuple(p.names()),
            used_names=tuple(p.used_names()),
            array_ok=p.array_ok,
            key=p.key,
            time_pos=p.time_pos,
            interpolation=p.interpolation if p.time_varying else None,
            n_time=tv_axis.size if p.time_varying and tv_axis is not None else None,
            time_axis=tv_axis.name if p.time_varying and tv_axis is not None else None,
        )

    params = tuple(info(p) for p in model.params.values())
    observed = model.observed
    observable_params = (
        ()
        if observed is None
        else tuple(
            info(p) for key, p in observed.params.items() if key not in model.params
        )
    )
    entries = {str(k["name"]): (i, k) for i, k in enumerate(model.kernels.values())}
    kernels = tuple(
        KernelInfo(
            name=name,
            form=str(entry.get("form", "custom_value")),
            axes=tuple(entry["axes"]) if entry.get("axes") else None,
            has_value=entry.get("value") is not None,
        )
        for name, (_, entry) in entries.items()
    )
    decl = model.declarations or Declarations()
    operators = model.meta.get("operators")
    return ModelInfo(
        kind=model.kind,
        state_names=state_names,
        param_names=param_names,
        axes=tuple(
            _axis_info(ax, decl.measures.get(ax.name)) for ax in model.axes.values()
        ),
        blocks=tuple(blocks),
        params=params,
        kernels=kernels,
        _kernel_entries=entries,
        _axis_objects=dict(model.axes),
        observable_params=observable_params,
        parameters=dict(decl.parameters),
        state_metadata=dict(decl.states),
        gauges=decl.gauges,
        factorize_axes=decl.factorize_axes,
        reactions=dict(decl.reactions),
        operators=tuple(operators) if isinstance(operators, list) else (),
    )


def _flat(
    kind: str, state_names: tuple[str, ...], param_names: tuple[str, ...]
) -> ModelInfo:
    """A model known only by its expanded names: scalar states and parameters."""
    return ModelInfo(
        kind=kind,
        state_names=state_names,
        param_names=param_names,
        axes=(),
        blocks=tuple(
            StateBlockInfo(n, (), (), i, 1, (n,)) for i, n in enumerate(state_names)
        ),
        params=tuple(ParamInfo(n, (), (), (n,), (n,), True, n) for n in param_names),
        kernels=(),
    )


def model_info(rhs: CompiledRhs | NormalizedRhs) -> ModelInfo:
    """The structure of a compiled (or normalized) model, as read-only data.

    Arguments:
        rhs: A `CompiledRhs` (from `compile_spec`/`compile_rhs`) or a `NormalizedRhs`.

    Returns:
        A `ModelInfo`. For a model built by hand from expanded names (no spec),
        every state is its own block and every parameter a scalar.

    !!! example
        ```python
        >>> from op_system import compile_spec, model_info
        >>> info = model_info(compile_spec({
        ...     "kind": "expr",
        ...     "axes": [{"name": "x", "coords": ["0", "1", "2"]}],
        ...     "kernels": [{"name": "K", "form": "exponential", "axes": ["x", "x"], "params": {"scale": 1.0, "lambda": 1.0}}],
        ...     "state": ["u[x]"],
        ...     "equations": {"u[x]": "-rate * sum_over(x=j, K[x, x=j] * u[x=j])"},
        ... }))
        >>> info.blocks
        (StateBlockInfo('u[x]', offset=0, size=3),)
        >>> info.params
        (ParamInfo('rate', shape=()),)
        >>> info.kernel_values("K").round(3)
        array([[1.   , 0.368, 0.135],
               [0.368, 1.   , 0.368],
               [0.135, 0.368, 1.   ]])

        ```
    """
    if isinstance(rhs, CompiledRhs):
        state_names, param_names = tuple(rhs.state_names), tuple(rhs.param_names)
        normalized = rhs.rhs
        if normalized is None:  # constructed by hand from an eval_fn
            return _flat("expr", state_names, param_names)
    elif isinstance(rhs, NormalizedRhs):
        normalized = rhs
        state_names, param_names = tuple(rhs.state_names), tuple(rhs.param_names)
    else:
        raise TypeError(
            f"model_info() takes a CompiledRhs or a NormalizedRhs, got {type(rhs).__name__}"
        )
    model = normalized._model
    if model is None:  # a NormalizedRhs constructed from expanded strings
        return _flat(normalized.kind, state_names, param_names)
    return _from_model(model, state_names, param_names)
