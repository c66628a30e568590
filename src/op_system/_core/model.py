"""The validated model: state blocks, aliases, parameters, equations or transitions
(their classes are in `_core/defs.py`, re-exported here).

A *block* is a state template (`S[age,vax]`, or a plain state `S`) occupying a
contiguous slice of the state vector in C order over its axes, exactly as
op-system 0.1.2 orders expanded states. Aliases and parameters may be templated
too. Expressions stay as IR trees over *named dimensions*: the template's axis
placeholders plus the loop variables of enclosing `sum_over`/`integrate_over`.

`Model.resolve` maps a name or templated reference in a given scope to a
`Target` (what it reads, and which cell coordinates come from which dimension).
Both the code generator (`_lower/lowerer.py`, `_lower/codegen.py`) and the string renderer (`_views/render.py`) use
it, so they cannot disagree.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._lang.ir import IndexItem, Name, Ref
from .._spec.axes import Axis
from .._support.errors import ExpressionError, did_you_mean
from .defs import (
    INLINE_RE,
    AliasDef,
    Block,
    Counter,
    Dim,
    EquationDef,
    Flow,
    KernelUse,
    ParamDef,
    Run,
    Target,
    TargetKind,
    cell_name,
    cell_names,
    coord_values,
    flat_index,
    preview_names,
    subst_text,
    transition_base,
)

__all__ = [
    "INLINE_RE",
    "AliasDef",
    "Block",
    "Counter",
    "Dim",
    "EquationDef",
    "Flow",
    "KernelUse",
    "Model",
    "ParamDef",
    "Run",
    "Target",
    "TargetKind",
    "cell_name",
    "cell_names",
    "coord_values",
    "flat_index",
    "subst_text",
    "transition_base",
]


@dataclass(eq=False)
class Model:
    """A fully validated model, ready to render or lower."""

    kind: str
    axes: dict[str, Axis]
    blocks: list[Block]
    aliases: dict[str, AliasDef]
    params: dict[str, ParamDef]
    equations: list[EquationDef]
    transitions: list[Flow]
    n_state: int
    state_names: tuple[str, ...]
    meta: Mapping[str, Any]
    kernels: dict[str, Any] = field(default_factory=dict)
    #: incidence counters (transitions kind), in state order after the model's states
    counters: list[Counter] = field(default_factory=list)
    #: the continuous axis named by `time_axis` (default `time`): a parameter indexed
    #: by it, outside any template over it, is a table read at the current time
    time_axis: Axis | None = None
    #: observables (`observables:`), in the model that has them (`observed`)
    observables: list[AliasDef] = field(default_factory=list)
    #: named transitions' flows, as blocks of the flow vector (`flow_names` order):
    #: what an observable reads by a transition's name
    flow_blocks: dict[str, Block] = field(default_factory=dict)
    #: the model with its observables and their parameters (see `_core/observables.py`)
    observed: Model | None = None
    _block_by_base: dict[str, Block] = field(default_factory=dict)
    _chain_cells: dict[str, tuple[Block, int]] = field(default_factory=dict)
    _prefix_cache: dict[str, list[int]] = field(default_factory=dict)
    #: lookups of expanded names, the indexed parameters by base name they use and
    #: the flat targets below: all dropped by `_refresh_caches` when aliases or
    #: parameters are added (the builder does so while collecting parameters)
    _cell_cache: dict[str, tuple[TargetKind, Any, tuple[int, ...]] | None] = field(
        default_factory=dict
    )
    _indexed_by_base: dict[str, list[ParamDef]] = field(default_factory=dict)
    #: the binding of every name and reference: `Model.resolve` resolves each
    #: (node, scope) once -- validation visits every site of the spec -- and every
    #: later stage reads the binding. A name outside any template is keyed by its text
    #: (flat per-cell specs have one per cell).
    _bound: dict[Any, Target] = field(default_factory=dict)
    _cache_version: tuple[int, int] = (-1, -1)

    def __post_init__(self) -> None:
        self._block_by_base = {b.base: b for b in self.blocks if b.custom is None}
        for b in self.blocks:
            if b.custom is not None:
                for i, n in enumerate(b.custom):
                    self._chain_cells[n] = (b, i)

    def flow_starts(self) -> dict[int, int]:
        """Where each transition's flows start in the flow vector (`flow_names`
        order), by `id` of the transition: one flow per cell of its dims."""
        starts: dict[int, int] = {}
        total = 0
        for td in self.transitions:
            starts[id(td)] = total
            total += math.prod(d.size for d in td.dims)
        return starts

    @property
    def n_model_state(self) -> int:
        """The number of the model's own states: those before the incidence counters
        (which `sum_state()` and `sum_prefix()` do not read)."""
        return self.counters[0].block.offset if self.counters else self.n_state

    def counters_of(self, td: Flow) -> list[Counter]:
        """The incidence counters that count `td`'s flows."""
        return [c for c in self.counters if any(t is td for t in c.transitions)]

    def is_counter(self, index: int) -> bool:
        """Whether state `index` is an incidence counter's cell."""
        return any(
            c.block.offset <= index < c.block.offset + c.block.size
            for c in self.counters
        )

    # -- name lookups --------------------------------------------------------
    def block(self, base: str) -> Block | None:
        return self._block_by_base.get(base)

    def lookup_cell(self, name: str) -> tuple[TargetKind, Any, tuple[int, ...]] | None:
        """Resolve an expanded name (`S__age_y`, or a chain stage `I3`) to `(kind, obj, coords)`."""
        self._refresh_caches()
        try:
            return self._cell_cache[name]
        except KeyError:
            got = self._cell_cache[name] = self._lookup_cell(name)
            return got

    def _refresh_caches(self) -> None:
        """Drop the name caches if aliases or parameters were added since they were filled."""
        version = (len(self.aliases), len(self.params))
        if self._cache_version == version:
            return
        self._cell_cache.clear()
        self._bound.clear()
        self._indexed_by_base.clear()
        for p in self.params.values():
            if p.axes:
                self._indexed_by_base.setdefault(p.base, []).append(p)
        self._cache_version = version

    def _lookup_cell(self, name: str) -> tuple[TargetKind, Any, tuple[int, ...]] | None:
        chain = self._chain_cells.get(name)
        if chain is not None:
            return "state", chain[0], (chain[1],)
        if "__" not in name:
            return None
        base, _, rest = name.partition("__")
        candidates: list[tuple[TargetKind, Any]] = [
            ("state", self._block_by_base.get(base)),
            ("alias", self.aliases.get(base)),
        ]
        candidates.extend(("param", p) for p in self._indexed_by_base.get(base, ()))
        for kind, obj in candidates:
            if obj is None or not obj.axes:
                continue
            parts = rest.split("__")
            if len(parts) != len(obj.axes):
                continue
            idx = []
            for ax, part in zip(obj.axes, parts, strict=False):
                prefix = ax.name + "_"
                if (
                    not part.startswith(prefix)
                    or part[len(prefix) :] not in ax.frag_index
                ):
                    break
                idx.append(ax.frag_index[part[len(prefix) :]])
            else:
                return kind, obj, tuple(idx)
        return None

    # -- sum_prefix ------------------------------------------------------------
    def prefix_dims(self, text: str, scope: tuple[Dim, ...]) -> tuple[Dim, ...]:
        """The template dimensions a `sum_prefix` text depends on, in scope order.

        op-system 0.1.2 substitutes `name[ax, ...]` inside the string like anywhere
        else in a template (`sum_prefix("I[age]")` in a template over `age` sums the
        cells starting with `I__age_<coord>`), when every listed axis is one of the
        template's placeholders.
        """
        placeholders = {d.name for d in scope if d.name == d.axis.name}
        used: set[str] = set()
        for m in INLINE_RE.finditer(text):
            parts = [p.strip() for p in m.group(2).split(",") if p.strip()]
            if parts and all(p in placeholders for p in parts):
                used.update(parts)
        return tuple(d for d in scope if d.name in used)

    def prefix_cells(
        self, text: str, dims: tuple[Dim, ...], assignment: Mapping[str, int], path: str
    ) -> list[int]:
        """State indices summed by `sum_prefix(text)` for one assignment of `dims`.

        A prefix that matches no state is an error: 0.1.2 silently sums nothing,
        which turns a typo into a missing term of the model.
        """
        prefix = (
            subst_text(text, {d.name: d.axis.coords[assignment[d.name]] for d in dims})
            if dims
            else text
        )
        cached = self._prefix_cache.get(prefix)
        if cached is not None:
            return cached
        names = self.state_names[: self.n_model_state]
        idx = [i for i, n in enumerate(names) if n.startswith(prefix)]
        if not idx:
            shown = f"{text!r}" + (f" (here {prefix!r})" if prefix != text else "")
            bases = [b.base for b in self.blocks if b.custom is None]
            hint = did_you_mean(prefix, [*bases, *self.state_names])
            raise ExpressionError(
                f"sum_prefix({shown}) matches no state{hint}; states are {preview_names(self.state_names)}",
                path=path,
                token=text,
            )
        self._prefix_cache[prefix] = idx
        return idx

    def prefix_groups(
        self, text: str, scope: tuple[Dim, ...], path: str
    ) -> tuple[tuple[Dim, ...], list[list[int]]]:
        """`prefix_dims` and the state indices of every cell of them, in C order."""
        dims = self.prefix_dims(text, scope)
        groups = [
            self.prefix_cells(
                text, dims, dict(zip((d.name for d in dims), combo)), path
            )
            for combo in itertools.product(*(d.coord_indices() for d in dims))
        ]
        return dims, groups

    # -- resolution ----------------------------------------------------------
    def resolve(self, node: Name | Ref, scope: tuple[Dim, ...], path: str) -> Target:
        """Resolve a name or templated reference in `scope` (see `Target`)."""
        self._refresh_caches()
        if not scope and node.__class__ is Name:
            key: Any = node.id
        else:  # which coordinates a dimension spans does not change what a name reads
            key = (
                node,
                tuple(
                    Dim(d.name, d.axis) if d.subset is not None else d for d in scope
                ),
            )
        tgt = self._bound.get(key)
        if tgt is None:
            tgt = self._bound[key] = self._resolve(node, scope, path)
        return tgt

    def _resolve(self, node: Name | Ref, scope: tuple[Dim, ...], path: str) -> Target:
        dims = {d.name: d for d in scope}
        if isinstance(node, Name):
            ident = node.id
            if ident in dims and dims[ident].name != dims[ident].axis.name:
                return Target(
                    "coord",
                    coord_values(dims[ident].axis, ident, path),
                    (("dim", ident),),
                )
            blk = self._block_by_base.get(ident)
            if blk is not None:
                if blk.axes:
                    return self._implicit(node, "state", blk, blk.axes, scope, path)
                return Target("state", blk)
            alias = self.aliases.get(ident)
            if alias is not None:
                if alias.axes:
                    return self._implicit(node, "alias", alias, alias.axes, scope, path)
                return Target("alias", alias)
            fb = self.flow_blocks.get(ident)
            if fb is not None:
                if fb.axes:
                    return self._implicit(node, "flow", fb, fb.axes, scope, path)
                return Target("flow", fb)
            if ident == "t":
                return Target("time", None)
            if ident in self.kernels:
                return Target("kernel", KernelUse(self.kernels[ident], ()))
            cell = self.lookup_cell(ident)
            if cell is not None:
                kind, obj, idx = cell
                return Target(kind, obj, tuple(("lit", i) for i in idx))
            param = self.params.get(ident)
            if param is None:  # pragma: no cover - params are collected beforehand
                raise ExpressionError(f"unknown name {ident!r}", path=path, token=ident)
            if param.axes:
                return self._implicit(node, "param", param, param.axes, scope, path)
            return Target("param", param)
        return self._resolve_ref(node, scope, path)

    def _implicit(
        self,
        node: Name,
        kind: TargetKind,
        obj: Any,
        axes: tuple[Axis, ...],
        scope: tuple[Dim, ...],
        path: str,
    ) -> Target:
        """A bare templated name: allowed when every axis is a placeholder in scope."""
        dims = {d.name: d for d in scope}
        if all(ax.name in dims for ax in axes) and len({ax.name for ax in axes}) == len(
            axes
        ):
            return Target(kind, obj, tuple(("dim", ax.name) for ax in axes))
        axes_txt = ",".join(ax.name for ax in axes)
        raise ExpressionError(
            f"{node.id!r} is templated over ({axes_txt}); index it, e.g. {node.id}[{axes_txt}]",
            path=path,
            token=node.id,
        )

    def _item_axis(
        self,
        item: IndexItem,
        pos: int,
        target_axes: tuple[Axis, ...] | None,
        scope: dict[str, Dim],
        ref: Ref,
        path: str,
    ) -> tuple[Axis, tuple[str, Any]]:
        """Return (axis, selection) for one index item."""
        text = f"{ref.base}[{','.join(str(i) for i in ref.items)}]"
        if item.axis is not None:
            axis = self.axes.get(item.axis)
            if axis is None:
                raise ExpressionError(
                    f"unknown axis {item.axis!r} in {text}{did_you_mean(item.axis, self.axes)}",
                    path=path,
                    token=item.axis,
                )
            dim = scope.get(item.value)
            if (
                dim is not None
                and not item.is_number
                and (
                    dim.name != dim.axis.name
                    or item.value != axis.name
                    or dim.axis is axis
                )
            ):
                if dim.axis is not axis:
                    raise ExpressionError(
                        f"{item.value!r} ranges over axis {dim.axis.name!r}, not {axis.name!r}, in {text}",
                        path=path,
                        token=str(item),
                    )
                return axis, ("dim", dim.name)
            i = axis.lookup(item.value, is_number=item.is_number)
            if i is None:
                raise ExpressionError(
                    f"unknown coord {item.value!r} for axis {axis.name!r} in {text}{axis.suggest(item.value)}",
                    path=path,
                    token=item.value,
                )
            return axis, ("lit", i)
        if not item.is_number and item.value in scope:
            dim = scope[item.value]
            return dim.axis, ("dim", dim.name)
        if not item.is_number and item.value in self.axes:
            # An axis name inside a reduction over that axis means the reduction variable
            # (`sum_over(strain=s, gamma[strain] * I[age, s])`).
            loops = [d for d in scope.values() if d.axis.name == item.value]
            if loops:
                return loops[-1].axis, ("dim", loops[-1].name)
            raise ExpressionError(
                f"axis placeholder {item.value!r} in {text} is not bound here; "
                f"only axes of the enclosing template ({', '.join(d for d in scope) or 'none'}) can be used",
                path=path,
                token=item.value,
            )
        # A literal coordinate: positional for known templates, else unique across axes.
        if target_axes is not None:
            if pos >= len(target_axes):
                raise ExpressionError(
                    f"too many indices in {text}: {ref.base} has {len(target_axes)} axis/axes",
                    path=path,
                    token=item.value,
                )
            axis = target_axes[pos]
            i = axis.lookup(item.value, is_number=item.is_number)
            if i is None:
                raise ExpressionError(
                    f"unknown coord {item.value!r} for axis {axis.name!r} in {text}{axis.suggest(item.value)}",
                    path=path,
                    token=item.value,
                )
            return axis, ("lit", i)
        hits = [
            ax
            for ax in self.axes.values()
            if ax.lookup(item.value, is_number=item.is_number) is not None
        ]
        if len(hits) == 1:
            return hits[0], (
                "lit",
                hits[0].lookup(item.value, is_number=item.is_number),
            )
        if not hits:
            raise ExpressionError(
                f"{item.value!r} in {text} is neither a bound axis, a loop variable nor a coordinate",
                path=path,
                token=item.value,
            )
        raise ExpressionError(
            f"coordinate {item.value!r} in {text} is ambiguous (axes {[a.name for a in hits]}); write axis={item.value}",
            path=path,
            token=item.value,
        )

    def _resolve_ref(self, ref: Ref, scope: tuple[Dim, ...], path: str) -> Target:
        dims = {d.name: d for d in scope}
        text = f"{ref.base}[{','.join(str(i) for i in ref.items)}]"
        blk = self._block_by_base.get(ref.base)
        alias = self.aliases.get(ref.base)
        fb = self.flow_blocks.get(ref.base)
        obj: Block | AliasDef | None = (
            blk if blk is not None else (alias if alias is not None else fb)
        )
        if obj is not None:
            kind: TargetKind = (
                "state"
                if blk is not None
                else ("alias" if alias is not None else "flow")
            )
            taxes: tuple[Axis, ...] = obj.axes
            if not taxes:
                raise ExpressionError(
                    f"{text}: {ref.base!r} is not templated; write {ref.base} without an index",
                    path=path,
                    token=text,
                )
            given: dict[str, tuple[str, Any]] = {}
            for pos, item in enumerate(ref.items):
                axis, sel = self._item_axis(item, pos, taxes, dims, ref, path)
                if axis not in taxes:
                    raise ExpressionError(
                        f"{ref.base} has no axis {axis.name!r} (its axes are {', '.join(a.name for a in taxes)}) in {text}",
                        path=path,
                        token=str(item),
                    )
                if axis.name in given:
                    raise ExpressionError(
                        f"axis {axis.name!r} given twice in {text}",
                        path=path,
                        token=str(item),
                    )
                given[axis.name] = sel
            sels = []
            for ax in taxes:
                if ax.name in given:
                    sels.append(given[ax.name])
                elif ax.name in dims and dims[ax.name].axis is ax:
                    sels.append(("dim", ax.name))
                else:
                    raise ExpressionError(
                        f"{text} does not give axis {ax.name!r} of {ref.base}[{','.join(a.name for a in taxes)}]",
                        path=path,
                        token=text,
                    )
            return Target(kind, obj, tuple(sels))
        sig, psels, tpos = self._positional(ref, dims, path)
        if ref.base in self.kernels:
            if tpos is not None:
                raise ExpressionError(
                    f"kernel {ref.base!r} cannot be indexed by the time axis in {text}",
                    path=path,
                    token=text,
                )
            return Target("kernel", KernelUse(self.kernels[ref.base], sig), psels)
        param = self.param_variant(ref.base, sig, tpos)
        if param is None:  # pragma: no cover - params are collected beforehand
            raise ExpressionError(f"unknown parameter {text!r}", path=path, token=text)
        return Target("param", param, tuple(psels))

    def param_variant(
        self, base: str, axes: tuple[Axis, ...], time_pos: int | None = None
    ) -> ParamDef | None:
        """The parameter `base` indexed by `axes` (and the time axis at `time_pos`)."""
        for p in self.params.values():
            if p.base == base and p.axes == axes and p.time_pos == time_pos:
                return p
        return None

    def param_signature(
        self, ref: Ref, scope: tuple[Dim, ...], path: str
    ) -> tuple[tuple[Axis, ...], int | None]:
        """Axes of a parameter reference, from how it is indexed here, and where the
        time axis stands among its indices (`None`: not time-varying)."""
        sig, _, tpos = self._positional(ref, {d.name: d for d in scope}, path)
        return sig, tpos

    def _is_now(self, item: IndexItem, dims: dict[str, Dim]) -> bool:
        """Whether an index item is the time axis read at the current time: its bare
        name, where no template or loop ranges over it."""
        ta = self.time_axis
        return (
            ta is not None
            and item.axis is None
            and not item.is_number
            and item.value == ta.name
            and not any(d.axis is ta or d.name == ta.name for d in dims.values())
        )

    def _positional(
        self, ref: Ref, dims: dict[str, Dim], path: str
    ) -> tuple[tuple[Axis, ...], tuple[tuple[str, Any], ...], int | None]:
        """Axes and selections of a reference indexed by position (parameters,
        kernels), and the position of a time-axis index read at `t`, if any."""
        pairs = []
        tpos = None
        for pos, item in enumerate(ref.items):
            if self._is_now(item, dims):
                if tpos is not None:
                    raise ExpressionError(
                        f"the time axis is given twice in {ref.base}[{','.join(str(i) for i in ref.items)}]",
                        path=path,
                        token=str(item),
                    )
                tpos = pos
                continue
            pairs.append(self._item_axis(item, pos, None, dims, ref, path))
        return tuple(a for a, _ in pairs), tuple(sel for _, sel in pairs), tpos
