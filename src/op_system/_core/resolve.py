"""Name resolution while a model is built: a name or templated reference, in a
scope, to the `Target` it reads.

Only the build uses it: the builder (parameters, validation) and the binder
(`_core/bind.py`), which writes every binding into the model's expressions as
`Read` nodes. A built `Model` has no resolver: nothing after the build can
resolve a name.

A `Target` says what a name reads (state block or cell, alias, parameter,
kernel, time, a loop variable's coordinate, a named flow) and, for each axis of
what it reads, which dimension in scope or which fixed coordinate selects it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

from .._lang.ir import IndexItem, Name, Ref
from .._spec.axes import Axis
from .._spec.labels import quote_label
from .._support.errors import ExpressionError, did_you_mean
from .defs import (
    AliasDef,
    Along,
    At,
    Block,
    Dim,
    KernelUse,
    ParamDef,
    Sel,
    Target,
    TargetKind,
    coord_values,
)
from .model import Model

__all__ = ["Resolver"]


def _coordinate(
    axis: Axis, item: IndexItem, text: str, path: str, scope: Mapping[str, Dim]
) -> At:
    """A literal coordinate of `axis` in the reference `text`.

    A label written bare (`S[age=0-17]`) is read only where it is exactly one
    of the axis's labels and names nothing in scope (`S[age=j-1]` inside a
    loop over `j` might mean arithmetic, which an index never computes)."""
    i = axis.lookup(item.value, is_number=item.is_number)
    if i is not None and item.bare:
        names = [n for n in _IDENT.findall(item.value) if n in scope]
        if names:
            raise ExpressionError(
                f"{item.value!r} in {text} is ambiguous: it is a label of axis "
                f"{axis.name!r} but {names[0]!r} is a placeholder or loop variable "
                f"here, and an index is never computed; for the label write it in "
                f"quotes, {axis.name}={quote_label(item.value)}",
                path=path,
                token=item.value,
            )
    if i is None:
        raise ExpressionError(
            f"unknown coord {item.value!r} for axis {axis.name!r} in {text}"
            f"{_label_hint(axis, item)}"
            if item.is_label or item.is_number
            else _not_a_coordinate(axis, item, text),
            path=path,
            token=item.value,
        )
    return At(i)


def _label_hint(axis: Axis, item: IndexItem) -> str:
    """The did-you-mean of an unknown coordinate; for a label written bare
    (`S[age=0-17]` where `age` has no label `0-17`), also that an index is never
    computed and how a label is written (in quotes)."""
    close = difflib.get_close_matches(item.value, axis.coords, n=1, cutoff=0.75)
    if close and (item.quoted or close[0].isidentifier()):
        return f" (did you mean {close[0]!r}?)"
    if close:
        return (
            f" (did you mean {close[0]!r}? write such a label in quotes: "
            f"{axis.name}={quote_label(close[0])})"
        )
    if not item.bare:
        return ""
    shown = ", ".join(repr(c) for c in axis.coords[:8])
    more = ", ..." if axis.size > 8 else ""
    return (
        f": an index names a coordinate and is never computed (labels of "
        f"{axis.name!r}: {shown}{more}; write one in quotes, "
        f"{axis.name}={quote_label(axis.coords[0])})"
    )


_IDENT = re.compile(r"[A-Za-z_]\w*")


def _not_a_coordinate(axis: Axis, item: IndexItem, text: str) -> str:
    """Why `item` of the reference `text` names no coordinate of `axis`: a
    misspelt coordinate (with the one meant), or a name no reduction binds."""
    value = item.value
    hint = axis.suggest(value)
    coords = ", ".join(map(str, axis.coords[:8])) + (
        ", ..." if len(axis.coords) > 8 else ""
    )
    if hint or item.is_number or not value.isidentifier():
        return (
            f"unknown coord {value!r} for axis {axis.name!r} in {text}{hint} "
            f"(coords of {axis.name!r}: {coords})"
        )
    return (
        f"unknown coord or unbound index variable {value!r} in {text}: no "
        f"sum_over/integrate_over around it binds {value!r} over axis "
        f"{axis.name!r} (e.g. sum_over({axis.name}={value}, ...)), and it is not "
        f"a coordinate of {axis.name!r} (coords: {coords}); in a template over "
        f"{axis.name!r}, {axis.name!r} alone is the cell's own coordinate"
    )


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _at_item(
    method: Callable[Concatenate[Resolver, IndexItem, _P], _R],
) -> Callable[Concatenate[Resolver, IndexItem, _P], _R]:
    """Errors about an index item say where the item stands in its expression."""

    def wrapper(self: Resolver, item: IndexItem, /, *a: _P.args, **k: _P.kwargs) -> _R:
        try:
            return method(self, item, *a, **k)
        except ExpressionError as exc:
            raise exc.at(item.pos) from None

    return wrapper


class Resolver:
    """Resolves the names of `model` (while it is built); each (node, scope) once."""

    def __init__(self, model: Model) -> None:
        self.m = model
        self._chain_cells: dict[str, tuple[Block, int]] = {
            n: (b, i)
            for b in model.blocks
            if b.custom is not None
            for i, n in enumerate(b.custom)
        }
        #: lookups of expanded names, the indexed parameters by base name they use and
        #: the bindings: all dropped by `_refresh_caches` when aliases or parameters
        #: are added (the builder does so while collecting parameters)
        self._cell_cache: dict[str, tuple[TargetKind, Any, tuple[int, ...]] | None] = {}
        self._indexed_by_base: dict[str, list[ParamDef]] = {}
        #: the binding of every name and reference, by (node, scope); a name outside
        #: any template is keyed by its text (flat per-cell specs have one per cell)
        self._bound: dict[Any, Target] = {}
        self._cache_version: tuple[int, int] = (-1, -1)
        self._templated: list[tuple[str, Any]] = []

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
        version = (len(self.m.aliases), len(self.m.params))
        if self._cache_version == version:
            return
        self._bound.clear()
        self._indexed_by_base.clear()
        for p in self.m.params.values():
            if p.axes:
                self._indexed_by_base.setdefault(p.base, []).append(p)
        # An expanded name's lookup reads only the templated aliases and indexed
        # parameters: new scalar ones (a flat spec's thousands) keep its cache.
        # (The objects are kept, so that their ids name them while compared.)
        templated = [
            *((k, a) for k, a in self.m.aliases.items() if a.axes),
            *((k, p) for k, p in self.m.params.items() if p.axes),
        ]
        if [(k, id(o)) for k, o in templated] != [
            (k, id(o)) for k, o in self._templated
        ]:
            self._cell_cache.clear()
            self._templated = templated
        self._cache_version = version

    def _lookup_cell(self, name: str) -> tuple[TargetKind, Any, tuple[int, ...]] | None:
        chain = self._chain_cells.get(name)
        if chain is not None:
            return "state", chain[0], (chain[1],)
        if "__" not in name:
            return None
        base, _, rest = name.partition("__")
        candidates: list[tuple[TargetKind, Any]] = [
            ("state", self.m._block_by_base.get(base)),
            ("alias", self.m.aliases.get(base)),
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

    # -- resolution ----------------------------------------------------------
    def resolve(self, node: Name | Ref, scope: tuple[Dim, ...], path: str) -> Target:
        """Resolve a name or templated reference in `scope` (see `Target`)."""
        self._refresh_caches()
        return self.resolve_settled(node, scope, path)

    def settled(self) -> Callable[[Name | Ref, tuple[Dim, ...], str], Target]:
        """`resolve` for a model that no longer grows (validation and binding
        resolve every name of a model whose names are all known): its caches are
        checked once, here, not at each of its many names."""
        self._refresh_caches()
        return self.resolve_settled

    def resolve_settled(
        self, node: Name | Ref, scope: tuple[Dim, ...], path: str
    ) -> Target:
        """`resolve`, the caches known to be current (see `settled`)."""
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
            try:
                tgt = self._bound[key] = self._resolve(node, scope, path)
            except ExpressionError as exc:  # say where in the expression
                raise exc.at(node.pos) from None
        return tgt

    def _resolve(self, node: Name | Ref, scope: tuple[Dim, ...], path: str) -> Target:
        dims = {d.name: d for d in scope}
        if isinstance(node, Name):
            ident = node.id
            if ident in dims and dims[ident].name != dims[ident].axis.name:
                return Target(
                    "coord",
                    coord_values(dims[ident].axis, ident, path),
                    (Along(ident),),
                )
            blk = self.m._block_by_base.get(ident)
            if blk is not None:
                if blk.axes:
                    return self._implicit(node, "state", blk, blk.axes, scope, path)
                return Target("state", blk)
            alias = self.m.aliases.get(ident)
            if alias is not None:
                if alias.axes:
                    return self._implicit(node, "alias", alias, alias.axes, scope, path)
                return Target("alias", alias)
            fb = self.m.flow_blocks.get(ident)
            if fb is not None:
                if fb.axes:
                    return self._implicit(node, "flow", fb, fb.axes, scope, path)
                return Target("flow", fb)
            if ident == "t":
                return Target("time", None)
            if ident in self.m.kernels:
                return Target("kernel", KernelUse(self.m.kernels[ident], ()))
            cell = self.lookup_cell(ident)
            if cell is not None:
                kind, obj, idx = cell
                return Target(kind, obj, tuple(At(i) for i in idx))
            param = self.m.params.get(ident)
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
            return Target(kind, obj, tuple(Along(ax.name) for ax in axes))
        axes_txt = ",".join(ax.name for ax in axes)
        raise ExpressionError(
            f"{node.id!r} is templated over ({axes_txt}); index it, e.g. {node.id}[{axes_txt}]",
            path=path,
            token=node.id,
        )

    @_at_item
    def _item_axis(
        self,
        item: IndexItem,
        pos: int,
        target_axes: tuple[Axis, ...] | None,
        scope: dict[str, Dim],
        ref: Ref,
        path: str,
    ) -> tuple[Axis, Sel]:
        """Return (axis, selection) for one index item."""
        text = f"{ref.base}[{','.join(str(i) for i in ref.items)}]"
        if item.axis is not None:
            axis = self.m.axes.get(item.axis)
            if axis is None:
                raise ExpressionError(
                    f"unknown axis {item.axis!r} in {text}{did_you_mean(item.axis, self.m.axes)}",
                    path=path,
                    token=item.axis,
                )
            dim = scope.get(item.value)
            if (
                dim is not None
                and not item.is_number
                and not item.is_label  # a label is a coordinate, never a name
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
                return axis, Along(dim.name)
            return axis, _coordinate(axis, item, text, path, scope)
        named = item.is_name
        if named and item.value in scope:
            dim = scope[item.value]
            return dim.axis, Along(dim.name)
        if named and item.value in self.m.axes:
            # An axis name inside a reduction over that axis means the reduction variable
            # (`sum_over(strain=s, gamma[strain] * I[age, s])`).
            loops = [d for d in scope.values() if d.axis.name == item.value]
            if loops:
                return loops[-1].axis, Along(loops[-1].name)
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
            return axis, _coordinate(axis, item, text, path, scope)
        hits = [
            ax
            for ax in self.m.axes.values()
            if ax.lookup(item.value, is_number=item.is_number) is not None
        ]
        if len(hits) == 1:
            return hits[0], _coordinate(hits[0], item, text, path, scope)
        if not hits:
            what = (
                "is not a coordinate of any axis"
                if item.is_label
                else "is neither a bound axis, a loop variable nor a coordinate"
            )
            raise ExpressionError(
                f"{item.value!r} in {text} {what}"
                f"{did_you_mean(item.value, self._labels())}",
                path=path,
                token=item.value,
            )
        raise ExpressionError(
            f"coordinate {item.value!r} in {text} is ambiguous (axes {[a.name for a in hits]}); "
            f"write axis={item}, e.g. {hits[0].name}={item}",
            path=path,
            token=item.value,
        )

    def _labels(self) -> list[str]:
        """Every categorical coordinate of the model (for did-you-mean)."""
        return [
            c
            for ax in self.m.axes.values()
            if ax.kind == "categorical"
            for c in ax.coords
        ]

    def _resolve_ref(self, ref: Ref, scope: tuple[Dim, ...], path: str) -> Target:
        dims = {d.name: d for d in scope}
        text = f"{ref.base}[{','.join(str(i) for i in ref.items)}]"
        blk = self.m._block_by_base.get(ref.base)
        alias = self.m.aliases.get(ref.base)
        fb = self.m.flow_blocks.get(ref.base)
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
            given: dict[str, Sel] = {}
            for pos, item in enumerate(ref.items):
                axis, sel = self._item_axis(item, pos, taxes, dims, ref, path)
                if axis not in taxes:
                    raise ExpressionError(
                        f"{ref.base} has no axis {axis.name!r} (its axes are {', '.join(a.name for a in taxes)}) in {text}",
                        path=path,
                        token=str(item),
                        pos=item.pos,
                    )
                if axis.name in given:
                    raise ExpressionError(
                        f"axis {axis.name!r} given twice in {text}",
                        path=path,
                        token=str(item),
                        pos=item.pos,
                    )
                given[axis.name] = sel
            sels = []
            for ax in taxes:
                if ax.name in given:
                    sels.append(given[ax.name])
                elif ax.name in dims and dims[ax.name].axis is ax:
                    sels.append(Along(ax.name))
                else:
                    raise ExpressionError(
                        f"{text} does not give axis {ax.name!r} of {ref.base}[{','.join(a.name for a in taxes)}]",
                        path=path,
                        token=text,
                    )
            return Target(kind, obj, tuple(sels))
        sig, psels, tpos = self._positional(ref, dims, path)
        if ref.base in self.m.kernels:
            if tpos is not None:
                raise ExpressionError(
                    f"kernel {ref.base!r} cannot be indexed by the time axis in {text}",
                    path=path,
                    token=text,
                )
            return Target("kernel", KernelUse(self.m.kernels[ref.base], sig), psels)
        param = self.param_variant(ref.base, sig, tpos)
        if param is None:  # pragma: no cover - params are collected beforehand
            raise ExpressionError(f"unknown parameter {text!r}", path=path, token=text)
        return Target("param", param, tuple(psels))

    def param_variant(
        self, base: str, axes: tuple[Axis, ...], time_pos: int | None = None
    ) -> ParamDef | None:
        """The parameter `base` indexed by `axes` (and the time axis at `time_pos`)."""
        for p in self.m.params.values():
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
        ta = self.m.time_axis
        return (
            ta is not None
            and item.axis is None
            and not item.is_number
            and not item.is_label
            and item.value == ta.name
            and not any(d.axis is ta or d.name == ta.name for d in dims.values())
        )

    def _positional(
        self, ref: Ref, dims: dict[str, Dim], path: str
    ) -> tuple[tuple[Axis, ...], tuple[Sel, ...], int | None]:
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
