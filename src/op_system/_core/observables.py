"""Observables: named expressions of states, flows, aliases and parameters.

`observables: {hosp_adm[age]: "ihr[age] * infection[age]"}` defines, per cell of
its template, a quantity computed from the model at `(t, y)`. Besides what any
expression reads (states, aliases, parameters, `t`, reductions), an observable
reads a **named transition's flow** by the transition's name: `infection[age]` is
the flux of the transition `name: infection` in each cell of its axes. Incidence
counters are states and may be read too.

The right-hand side never computes observables, so their parameters (`ihr`) are
not the model's: the observables are validated with the model into a second
`Model` (`Model.observed`): the same states, aliases and transitions, plus the
observables, the flows as blocks of the flow vector (`Model.flow_blocks`), and
every parameter either reads. `lower_model(observed, mode="observables")`
generates `observables(t, y, **params)`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from .._lang.ir import BinOp, IndexItem, Node, Read, Reduce, Ref
from .._spec.axes import Axis
from .._spec.dialect import check_fields
from .._spec.numbers import expression_text
from .._spec.science import axis_measure
from .._support.errors import (
    SpecError,
    SpecWarning,
    UnsupportedFeatureError,
    did_you_mean,
    outside_package,
)
from .model import (
    AliasDef,
    Along,
    Block,
    Dim,
    Flow,
    KernelUse,
    Model,
    Target,
    transition_base,
)
from .templates import _check_ident
from .timevarying import time_varying

__all__ = ["flow_blocks", "names_in", "observed_model"]


def flow_blocks(model: Model) -> tuple[dict[str, Block], dict[str, str]]:
    """Each named transition's flows as a block of the flow vector (by the name,
    placeholders dropped), and the names an observable cannot read, with why."""
    starts = model.flow_starts()
    by_name: dict[str, list[Flow]] = {}
    for td in model.transitions:
        if isinstance(td, Flow) and td.name_text:
            by_name.setdefault(transition_base(td.name_text), []).append(td)
    out: dict[str, Block] = {}
    unreadable: dict[str, str] = {}
    for name, tds in by_name.items():
        if len(tds) != 1:
            unreadable[name] = (
                f"{len(tds)} transitions are named {name!r}: an observable reads the "
                "flow of one transition (name each one)"
            )
        elif any(d.subset is not None for d in tds[0].dims):
            unreadable[name] = (
                f"transition {name!r} runs over some coordinates of an axis only: an "
                "observable reads flows over whole axes"
            )
        else:
            td = tds[0]
            axes = tuple(d.axis for d in td.dims)
            out[name] = Block(name, axes, starts[id(td)], td.path)
    return out, unreadable


def observed_model(
    b: Any,
    model: Model,
    exprs: list[tuple[Node, tuple[Dim, ...], str]],
) -> Model:
    """Validate `observables:` with `model` (built by the builder `b`, from `exprs`)."""
    from .templates import _parse_template

    raw = b.spec.get("observables")
    if not isinstance(raw, dict) or not raw:
        raise SpecError(
            "observables must be a non-empty mapping of name -> expression",
            path="observables",
        )
    blocks, unreadable = flow_blocks(model)
    taken = {blk.base for blk in model.blocks} | set(model.aliases)
    for name in blocks:
        if name in taken or name in model.params:
            raise SpecError(
                f"transition name {name!r} is also the name of a state, alias or "
                "parameter; observables read flows by transition name: rename one",
                path="observables",
                token=name,
            )
    observables: list[AliasDef] = []
    seen: set[str] = set()
    for key, text in raw.items():
        path = f"observables[{key!r}]"
        expr: Node | None = None
        mapping = b.dialect == "0.9" and isinstance(text, Mapping)
        if mapping and isinstance(key, str):
            base, axes, expr = observable_09(b, key, text, path)
        elif not isinstance(key, str) or not isinstance(text, (str, int, float)):
            raise SpecError(
                f"{path} must map a name to an expression", path=path, token=repr(key)
            )
        else:
            base, axes = _parse_template(key.strip(), b.axes, path, "observable")
        # op-system 0.9.0's observables are a namespace of their own: nothing reads
        # them by name, so one may be named like a state (`x: {expr: x}`)
        if (base in taken and not mapping) or base in blocks or base in seen:
            raise SpecError(
                f"observable {base!r} is already the name of a state, alias, flow or "
                "observable",
                path=path,
                token=base,
            )
        seen.add(base)
        if expr is None:
            expr = b.parse(str(text), path)
        observables.append(AliasDef(base, axes, expr, path))
    obs_exprs = [
        (o.expr, tuple(Dim(ax.name, ax) for ax in o.axes), o.path) for o in observables
    ]
    for o in observables:
        assert o.expr is not None
        for node in names_in(o.expr):
            if node in unreadable:
                raise UnsupportedFeatureError(unreadable[node], path=o.path, token=node)
    b.params = {}  # the observed model's own parameters (the model keeps its own)
    observed = Model(
        kind=model.kind,
        axes=model.axes,
        blocks=model.blocks,
        # its own dict: validating the observables may add virtual templates
        # (`h[age]` over cells `h__age_*`) that the model's RHS must not compute
        aliases=dict(model.aliases),
        params=b.params,
        equations=model.equations,
        transitions=model.transitions,
        n_state=model.n_state,
        state_names=model.state_names,
        meta=model.meta,
        kernels=model.kernels,
        counters=model.counters,
        time_axis=model.time_axis,
        observables=observables,
        flow_blocks=blocks,
    )
    b.validate(observed, b.collect_params(observed, exprs + obs_exprs))
    time_varying(b.spec, observed, {})
    for p in observed.params.values():
        if p.key in model.params:
            continue
        hint = did_you_mean(p.base, blocks)
        if hint:
            warnings.warn(
                f"{p.first_path}: {p.base!r} is read as a parameter{hint} (a flow "
                "is read by its transition's name)",
                SpecWarning,
                stacklevel=2,
            )
    return observed


def check_observable_ops(expr: Node, path: str) -> None:
    """op-system 0.9.0's limits on an observable's expression (mapping form):
    numbers, states, parameters and pointwise arithmetic with `np.exp`; the
    reduction is the entry's `reduction`, never a call. Raised as 0.9.0 does,
    with its feature names."""
    from .._lang.ir import Call, Invalid, Num, Reduce, walk

    def refuse(feature: str, detail: str = "") -> UnsupportedFeatureError:
        more = f" Detail: {detail}" if detail else ""
        return UnsupportedFeatureError(
            f"Feature {feature!r} is not supported.{more}", path=path
        )

    for node in walk(expr):
        if isinstance(node, Num) and isinstance(node.value, bool):
            raise refuse("nonnumeric observable literals")
        if isinstance(node, Invalid) and node.token.startswith(("'", '"')):
            raise refuse("nonnumeric observable literals")
        if isinstance(node, Invalid) and node.token == "np.exp":
            raise refuse("observable operation arity")
        # 0.9.0 counts `np.exp` as unary and every other operation as binary
        arity = 1 if isinstance(node, Call) and node.func == "exp" else 2
        if isinstance(node, Call) and len(node.args) != arity:
            raise refuse("observable operation arity")
        if isinstance(node, (Call, Reduce, Invalid)) and not (
            isinstance(node, Call) and node.func == "exp"
        ):
            raise refuse(
                "observable expression operation",
                "Use pointwise arithmetic/np.exp and the explicit reduction field; "
                "aliases, history and nested reductions are deferred.",
            )


def names_in(expr: Node) -> set[str]:
    """The names and reference bases an expression reads."""
    from .._lang.ir import Name, Read, Ref, walk

    out: set[str] = set()
    for n in walk(expr):
        if isinstance(n, Read):
            n = n.node
        if isinstance(n, Name):
            out.add(n.id)
        elif isinstance(n, Ref):
            out.add(n.base)
    return out


_FIELDS_09 = frozenset({"expr", "axes", "reduction", "units", "description"})


def observable_09(
    b: Any, key: str, entry: Mapping[str, Any], path: str
) -> tuple[str, tuple[Axis, ...], Node]:
    """op-system 0.9.0's observable `{expr, axes, reduction: {kind, axes},
    units, description}`: its name, output axes and expression (a unit-weight
    sum over the reduced axes, whatever their type)."""
    base = key.strip()
    _check_ident(base, path, "observable")
    check_fields(entry, _FIELDS_09, path)
    text = expression_text(entry.get("expr"))  # `expr: 1` is the expression `1`
    if not isinstance(text, str) or not text.strip():
        raise SpecError(
            f"{path}.expr must be an expression string", path=f"{path}.expr"
        )

    def axis_list(value: object, where: str) -> tuple[Axis, ...]:
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise SpecError(f"{where} must be a list of axis names", path=where)
        for a in value:
            if a not in b.axes:
                raise SpecError(
                    f"{where}: unknown axis {a!r}{did_you_mean(a, b.axes)}",
                    path=where,
                    token=a,
                )
        return tuple(b.axes[a] for a in value)

    axes = axis_list(entry.get("axes", []), f"{path}.axes")
    reduced: tuple[Axis, ...] = ()
    reduction = entry.get("reduction")
    if reduction is not None:
        where = f"{path}.reduction"
        if not isinstance(reduction, Mapping) or set(reduction) != {"kind", "axes"}:
            raise SpecError(f"{where} must be {{kind: sum, axes: [...]}}", path=where)
        if reduction["kind"] not in ("sum", "integral"):
            raise SpecError(
                f"{where}.kind must be 'sum' or 'integral'",
                path=f"{where}.kind",
                token=repr(reduction["kind"]),
            )
        reduced = axis_list(reduction["axes"], f"{where}.axes")
        if not reduced or set(reduced) & set(axes):
            raise SpecError(
                f"{where}.axes must be a non-empty list of axes not in {path}.axes",
                path=f"{where}.axes",
            )
    kept = [k for k in ("units", "description") if k in entry]
    if kept:
        warnings.warn(
            f"{path}: {' and '.join(kept)} of an observable are not kept yet",
            SpecWarning,
            stacklevel=outside_package(),
        )
    expr = b.parse(text.strip(), f"{path}.expr")
    if b.dialect == "0.9":
        check_observable_ops(expr, f"{path}.expr")
    if reduced and reduction is not None and reduction["kind"] == "integral":
        expr = _weighed(b, expr, reduced, f"{path}.reduction")
    for ax in reversed(reduced):  # the loop variable is the axis's own name
        expr = Reduce("sum", ax.name, ax.name, None, expr)
    return base, axes, expr


def _weighed(b: Any, expr: Node, reduced: tuple[Axis, ...], where: str) -> Node:
    """`expr` times each reduced axis's measure weights (0.9.0's integral), after
    0.9.0's checks: every reduced axis declares its measure, and every state read
    is intensive (`state_metadata`: a density or concentration) with its
    `measure_axes` those of the reduced axes whose measure is not counting."""
    declared = {
        entry.get("name"): entry
        for entry in b.spec.get("axes") or []
        if isinstance(entry, Mapping)
    }
    physical: set[str] = set()
    weights: dict[str, tuple[float, ...]] = {}
    for ax in reduced:
        measure = declared.get(ax.name, {}).get("measure")
        if not isinstance(measure, Mapping):
            raise SpecError(
                f"observable integral requires an explicit measure on {ax.name!r}",
                path=f"{where}.axes",
                token=ax.name,
            )
        weights[ax.name] = axis_measure(
            measure, ax.size, f"axes[{ax.name!r}].measure"
        ).weights
        if measure.get("kind") != "counting":
            physical.add(ax.name)
    states = {blk.base for blk in b.blocks}
    metadata = b.spec.get("state_metadata") or {}
    required: set[str] = set()
    read = sorted(names_in(expr) & states)
    for state in read:
        entry = metadata.get(state) if isinstance(metadata, Mapping) else None
        entry = entry if isinstance(entry, Mapping) else {}
        if entry.get("representation") not in ("density", "concentration"):
            raise SpecError(
                f"observable integral requires intensive metadata for {state!r}; "
                "use sum for extensive counts/mass/counters",
                path=f"state_metadata[{state!r}]",
                token=state,
            )
        axes_of = entry.get("measure_axes")
        if not isinstance(axes_of, list):
            raise SpecError(
                f"observable integral measures disagree with {state!r}",
                path=f"state_metadata[{state!r}].measure_axes",
                token=state,
            )
        required.update(set(axes_of) & {ax.name for ax in reduced})
    if read and required != physical:
        raise SpecError(
            "observable integral has inconsistent physical axes",
            path=f"{where}.axes",
        )
    for ax in reduced:
        entry = {"name": f"{ax.name}_measure", "value": list(weights[ax.name])}
        node = Ref(entry["name"], (IndexItem(None, ax.name),))
        read_weights = Read(
            node, Target("kernel", KernelUse(entry, (ax,)), (Along(ax.name),))
        )
        expr = BinOp("*", expr, read_weights)
    return expr
