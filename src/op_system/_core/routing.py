"""op-system 0.9.0's routing: a transition whose endpoints bind one axis under
their own names, moving each cell of the axis to every other at a per-capita
rate read at both.

    {from: "X[loc, imm:i]", to: "X[loc, imm:j]", rate: "w[loc] * G[imm:i, imm:j]"}

Cell `i` of `X` loses `X[i] * sum_j G[i, j]` and cell `j` gains
`sum_i G[i, j] * X[i]` (the diagonal moves nothing). A target-only fan-out
binds the axis on `to` alone (`from: I[age]`, `to: X[age, imm:j]`).

Each selector name is one more dimension of the transition's flow, over the
routed axis: the flow is one array over the template's axes and both names,
and the balance sums it over the dimensions an endpoint lacks, as for any flow
(`Model.flow_ends`). Nothing grows with the pairs but the flow array itself.
"""

from __future__ import annotations

import re

from .._lang.ir import Name, Node, Ref
from .._spec.labels import quote_label
from .._support.errors import SpecError
from .builder import Builder
from .defs import Dim

__all__ = ["pinned_by_selector", "routed_dims"]

#: `axis:name` inside an endpoint's brackets
_SELECTOR = re.compile(r"([A-Za-z_]\w*)\s*:\s*([^\s,\]]+)")


def _aliases(b: Builder, ref: Name | Ref | None) -> list[tuple[str, str]]:
    """The `(axis, name)` selectors of an endpoint (`X[imm:i]`): an axis given a
    name that is not one of its coordinates."""
    if not isinstance(ref, Ref):
        return []
    out = []
    for item in ref.items:
        axis = b.axes.get(item.axis) if item.axis is not None else None
        # (a label is a coordinate, never an alias)
        if axis is not None and item.is_name and axis.lookup(item.value) is None:
            out.append((axis.name, item.value))
    return out


def _plain_axes(ref: Name | Ref | None, routed: set[tuple[str, str]]) -> list[str]:
    if not isinstance(ref, Ref):
        return []
    return sorted(
        item.axis if item.axis is not None else item.value
        for item in ref.items
        if (item.axis, item.value) not in routed
    )


def routed_dims(
    b: Builder, src: Name | Ref | None, dst: Name | Ref | None, rate: Node, path: str
) -> tuple[Dim, ...]:
    """The dimensions a routing transition's selector names add to its flow
    (none for any other transition), checked with op-system 0.9.0's rules."""
    from_aliases, to_aliases = _aliases(b, src), _aliases(b, dst)
    if not from_aliases and not to_aliases:
        return ()
    if src is None:
        raise SpecError(
            f"{path}: routing with axis:alias requires a 'from' selector",
            path=f"{path}.to",
        )
    if len(from_aliases) > 1 or len(to_aliases) != 1:
        raise SpecError(
            f"{path}: a routing transition binds exactly one axis:alias in 'to' and "
            "at most one in 'from' (one routed axis per transition)",
            path=path,
        )
    axis_name, target = to_aliases[0]
    source = None
    if from_aliases:
        from_axis, source = from_aliases[0]
        if from_axis != axis_name:
            raise SpecError(
                f"{path}: 'from' routes axis {from_axis!r} but 'to' routes {axis_name!r}",
                path=f"{path}.from",
                token=from_axis,
            )
    names = [n for n in (source, target) if n is not None]
    for name in names:
        if not name.isidentifier() or name in b.axes:
            raise SpecError(
                f"{path}: alias {name!r} must be an identifier, not an axis name",
                path=path,
                token=name,
            )
    if source is not None and source == target:
        raise SpecError(
            f"{path}: source and target aliases must differ", path=path, token=source
        )
    routed = {*from_aliases, *to_aliases}
    plain_from, plain_to = _plain_axes(src, routed), _plain_axes(dst, routed)
    if axis_name in plain_from or axis_name in plain_to:
        raise SpecError(
            f"{path}: routed axis {axis_name!r} also appears without an alias",
            path=path,
            token=axis_name,
        )
    if isinstance(dst, Ref) and plain_from != plain_to:
        raise SpecError(
            f"{path}: routing 'from' and 'to' must use the same axes apart from "
            f"{axis_name!r}; got {plain_from} and {plain_to}",
            path=path,
        )
    _check_rate(b, rate, axis_name, names, path)
    axis = b.axes[axis_name]
    return tuple(Dim(name, axis) for name in names)


def _check_rate(b: Builder, rate: Node, axis: str, names: list[str], path: str) -> None:
    """The rate reads every selector name, on the routed axis only."""
    seen: set[str] = set()
    unexpected: set[str] = set()
    for node, _scope in b.sites(rate, f"{path}.rate"):
        if not isinstance(node, Ref):
            continue
        for item in node.items:
            if item.value in names and item.axis is not None and not item.is_label:
                if item.axis != axis:
                    raise SpecError(
                        f"{path}: alias {item.value!r} belongs to axis {axis!r} but "
                        f"is used on {item.axis!r}",
                        path=f"{path}.rate",
                        token=item.value,
                    )
                seen.add(item.value)
            elif item.axis == axis:
                unexpected.add(item.value)
    if unexpected:
        raise SpecError(
            f"{path}: routing rate uses unexpected aliases on {axis!r}: {sorted(unexpected)}",
            path=f"{path}.rate",
            token=sorted(unexpected)[0],
        )
    missing = [n for n in names if n not in seen]
    if missing:
        want = " and ".join(f"{axis}:{n}" for n in names)
        raise SpecError(
            f"{path}: routing rate must reference {want}; missing {missing}",
            path=f"{path}.rate",
            token=missing[0],
        )


def pinned_by_selector(b: Builder, text: str, path: str) -> None:
    """Refuse `X[loc:NY]` on an endpoint where `NY` is a coordinate of `loc`:
    0.9.0 reads `axis:name` there as a routing alias named `NY`, not as the
    coordinate, so the two readings would give different numbers."""
    inside = text[text.find("[") + 1 : text.rfind("]")] if "[" in text else ""
    for found in _SELECTOR.finditer(inside):
        axis = b.axes.get(found.group(1))
        label = found.group(2)
        if axis is not None and axis.lookup(label) is not None:
            pin = label if label.isidentifier() else quote_label(label)
            raise SpecError(
                f"{path}: {found.group(0)!r} names a coordinate of axis {axis.name!r}, "
                "but on an endpoint op-system 0.9.0 reads axis:name as a routing "
                f"alias; write {axis.name}={pin} to pin the coordinate",
                path=path,
                token=found.group(0),
            )
