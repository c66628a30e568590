"""The model's declarations: the metadata blocks op-system 0.9.0 added, read once.

`parameters:`, `state_metadata:`, each axis's `measure`, `gauges:` and
`factorize_axes:` are data about the model, not semantics: reading them never
changes the right-hand side. They are validated here against the built model
(which names are parameters, which states have which axes) by the readers of
`_spec/` and kept as one `Declarations` in `model.meta["declarations"]`, which
`model_info` exposes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._lang.ir import Node
from .._spec.gauges import ScalingGauge, gauge_declarations
from .._spec.parameters import (
    ParameterDeclaration,
    check_declared,
    parameter_declarations,
)
from .._spec.reactants import Reactant, read_catalysts, read_reactants
from .._spec.science import (
    AxisMeasure,
    StateDeclaration,
    axis_measure,
    state_declarations,
)
from .._support.errors import SpecError, did_you_mean
from .factorize import check_factorizable
from .model import Model

__all__ = ["Declarations", "read_declarations"]


@dataclass(frozen=True)
class Declarations:
    """What a spec declares about its model beyond the equations.

    Attributes:
        parameters: `parameters:`, by parameter name.
        states: `state_metadata:`, by state base.
        measures: Each axis's `measure`, by axis name (axes without one left out).
        gauges: `gauges:`, in order.
        factorize_axes: `factorize_axes:`, the axes the model is declared
            independent along.
        declares_parameters: Whether the spec has a `parameters:` block.
        reactions: Each transition's declared reactants (`reactants:`, or a
            `coord_shift`'s `catalysts:` for each transition it generates), by
            transition name: the reactants, or `"auto"`.
    """

    parameters: Mapping[str, ParameterDeclaration] = field(default_factory=dict)
    states: Mapping[str, StateDeclaration] = field(default_factory=dict)
    measures: Mapping[str, AxisMeasure] = field(default_factory=dict)
    gauges: tuple[ScalingGauge, ...] = ()
    factorize_axes: tuple[str, ...] = ()
    declares_parameters: bool = False
    reactions: Mapping[str, tuple[Reactant, ...] | str] = field(default_factory=dict)


def _measures(spec: Mapping[str, Any], model: Model) -> dict[str, AxisMeasure]:
    out: dict[str, AxisMeasure] = {}
    for i, ax in enumerate(spec.get("axes") or ()):
        if isinstance(ax, Mapping) and ax.get("measure") is not None:
            name = str(ax.get("name")).strip()
            axis = model.axes.get(name)
            if axis is not None:
                out[name] = axis_measure(ax["measure"], axis.size, f"axes[{i}].measure")
    return out


def _state_axes(model: Model, meta: Mapping[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for blk in model.blocks:
        out.setdefault(blk.base, set()).update(ax.name for ax in blk.axes)
    extra = meta.get("state_axes")
    if isinstance(extra, Mapping):
        for base, axes in extra.items():
            if isinstance(axes, (list, tuple)):
                out.setdefault(str(base), set()).update(str(a) for a in axes)
    return out


def _factorize_axes(value: object, model: Model) -> tuple[str, ...]:
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(
        isinstance(n, str) for n in names
    ):
        raise SpecError(
            "factorize_axes must be an axis name or a list of axis names",
            path="factorize_axes",
        )
    for name in names:
        if name not in model.axes:
            raise SpecError(
                f"factorize_axes names unknown axis {name!r}{did_you_mean(name, model.axes)}",
                path="factorize_axes",
                token=name,
            )
    return tuple(names)


def _one_signature(model: Model) -> None:
    """op-system 0.9.0 reads a parameter with one index signature: `phi[age, vax]`
    and `phi[vax, age]` in one model is an error there (0.1.2 made them two)."""
    seen: dict[str, tuple[str, ...]] = {}
    rhs = set(model.params)
    for m in (model, model.observed):
        for key, p in m.params.items() if m is not None else ():
            axes = tuple(ax.name for ax in p.axes)
            first = seen.setdefault(p.base, axes)
            if first != axes:
                what = "shaped parameter" if key in rhs else "observable parameter"
                raise SpecError(
                    f"{what} {p.base!r} referenced with inconsistent axes: "
                    f"{first!r} vs {axes!r}",
                    path=p.first_path,
                    token=p.base,
                )


def _shift_sources(
    tr: Mapping[str, Any], state_axes: Mapping[str, tuple[str, ...]]
) -> list[str]:
    """The `from` selector of each transition a `coord_shift` entry generates:
    its `apply_to` state over all its axes, the pairwise form's axis pinned."""
    shift = tr.get("coord_shift")
    pins: dict[str, str] = {}
    if isinstance(shift, Mapping) and "axis" not in shift:
        for axis, text in shift.items():
            if isinstance(text, str) and "->" in text:
                pins[str(axis)] = text.split("->")[0].strip()
    out: list[str] = []
    for raw in tr.get("apply_to") or ():
        base = str(raw).split("[")[0].strip()
        if base in state_axes:
            items = [f"{a}={pins[a]}" if a in pins else a for a in state_axes[base]]
            out.append(f"{base}[{','.join(items)}]" if items else base)
    return out


def _reactions(
    spec: Mapping[str, Any], model: Model
) -> dict[str, tuple[Reactant, ...] | str]:
    state_axes = {blk.base: tuple(ax.name for ax in blk.axes) for blk in model.blocks}
    coords = {name: set(ax.coords) for name, ax in model.axes.items()}
    out: dict[str, tuple[Reactant, ...] | str] = {}
    transitions = spec.get("transitions")
    for i, tr in enumerate(transitions if isinstance(transitions, list) else ()):
        if not isinstance(tr, Mapping):
            continue
        path = f"transitions[{i}]"
        name = str(tr.get("name") or path)
        if tr.get("coord_shift") is not None:
            sources = _shift_sources(tr, state_axes)
            out.update(read_catalysts(tr, path, name, sources, state_axes, coords))
        elif "reactants" in tr:
            out[name] = read_reactants(
                tr["reactants"],
                f"{path}.reactants",
                name,
                tr.get("from"),
                state_axes,
                coords,
            )
    return out


def read_declarations(
    spec: Mapping[str, Any],
    model: Model,
    meta: Mapping[str, Any],
    exprs: Iterable[tuple[Node, Any, str]],
    *,
    strict: bool,
) -> Declarations:
    """Validate the declaration blocks of `spec` against the built `model`.

    `strict`: with a `parameters:` block, every parameter an expression reads
    must be declared (op-system 0.1.2's language); otherwise (0.9.0's, which
    lets a block declare some parameters only) just those whose name is close
    to a declared one are refused, as typos.
    """
    measures = _measures(spec, model)
    states = state_declarations(
        spec.get("state_metadata"), _state_axes(model, meta), set(measures)
    )
    if not strict:
        _one_signature(model)
    used: dict[str, str] = {}
    for m in (model, model.observed):
        for p in m.params.values() if m is not None else ():
            used.setdefault(p.base, p.first_path)
    for name in model.event_params:  # read by the timed events only
        used.setdefault(name, "events")
    params = parameter_declarations(spec.get("parameters"), used)
    declares = spec.get("parameters") is not None
    if declares:
        undeclared = {n: p for n, p in used.items() if n not in params}
        if not strict:
            undeclared = {
                n: p for n, p in undeclared.items() if did_you_mean(n, params)
            }
        check_declared(undeclared, params)
    factorize = _factorize_axes(spec.get("factorize_axes"), model)
    check_factorizable(
        factorize, model, meta.get("operators"), exprs, spec.get("transitions")
    )
    gauges = gauge_declarations(
        spec.get("gauges"), {blk.base for blk in model.blocks}, used
    )
    return Declarations(
        params,
        states,
        measures,
        gauges,
        factorize,
        declares,
        _reactions(spec, model),
    )
