"""A caller's name for states (`S`, `S__age_y__vax_u`, `S[age=y, vax=u]`) → the
part it names and the index into that part's array.

A cell key is parsed by the expression parser (`_lang/parse.py`) as a
reference and its coordinates are looked up as the model's own references'
are (`Axis.lookup`, as `_core/resolve.py` does), so a coordinate written in a
key means what it means in the spec. Positional items name axes the selection ranges over;
axes a key leaves out are ranged over too.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._lang.ir import Name, Ref
from .._lang.parse import parse_expr
from .._support.errors import ExpressionError, StateNameError, did_you_mean
from .layout import Layout, Part

__all__ = ["Selection", "select"]

#: an index into a part's array: a coordinate position or the whole axis
Index = tuple[int | slice, ...]


@dataclass(frozen=True)
class Selection:
    """What a key names: `part`, and `index` into its array (`part.shape`)."""

    key: str
    part: Part
    index: Index

    @property
    def dims(self) -> tuple[str, ...]:
        """The dimensions of the selected array (the part's, less pinned ones)."""
        return tuple(
            d for d, i in zip(self.part.dims, self.index) if isinstance(i, slice)
        )

    @property
    def whole(self) -> bool:
        return all(isinstance(i, slice) for i in self.index)


def _unknown(key: str, layout: Layout, what: str = "state, block or cell") -> str:
    return (
        f"{key!r} is not a {what} of this model{layout.suggest(key)}; "
        f"its blocks are {layout.blocks_text()}"
    )


def _parse(key: str) -> object:
    try:
        return parse_expr(key, path="key")
    except ExpressionError:
        try:  # op-system 0.9.0's spelling, `S[age:y]`
            return parse_expr(key, path="key", dialect="0.9")
        except ExpressionError as exc:
            raise StateNameError(
                f"{key!r} is not a state name or a cell key such as "
                f"'S[age=y, vax=u]': {exc.detail}",
                token=key,
            ) from None


def _reference(ref: Ref, part: Part, key: str) -> Index:
    """The index a reference `S[age=y, vax]` selects in `part`."""
    if part.chain or not part.axes:
        raise StateNameError(
            f"{key!r}: {part.base!r} has no axes to index; name its cells "
            f"{list(part.names[:4])} directly",
            token=key,
        )
    by_name = {ax.name: i for i, ax in enumerate(part.axes)}
    index: list[int | slice] = [slice(None)] * len(part.axes)
    seen: set[str] = set()
    for item in ref.items:
        axis_name = item.axis if item.axis is not None else item.value
        if axis_name not in by_name:
            hint = did_you_mean(axis_name, by_name)
            if item.axis is None:
                hint += " (write axis=coordinate to pin one coordinate)"
            raise StateNameError(
                f"{key!r}: {axis_name!r} is not an axis of {part.base!r} "
                f"(axes {list(by_name)}){hint}",
                token=axis_name,
            )
        if axis_name in seen:
            raise StateNameError(
                f"{key!r} names axis {axis_name!r} twice", token=axis_name
            )
        seen.add(axis_name)
        if item.axis is not None:
            pos = by_name[axis_name]
            axis = part.axes[pos]
            # the lookup the model's own references use (`_core/resolve.py`)
            found = axis.lookup(item.value, is_number=item.is_number)
            if found is None:
                coords = list(axis.coords)
                raise StateNameError(
                    f"{key!r}: {item.value!r} is not a coordinate of axis "
                    f"{axis.name!r}{axis.suggest(item.value)}; its coordinates are "
                    f"{coords[:12]}" + (" ..." if len(coords) > 12 else ""),
                    token=item.value,
                )
            index[pos] = found
    return tuple(index)


def select(layout: Layout, key: str) -> Selection:
    """What `key` names in `layout`: a block (its base name), an expanded cell
    name, or a cell key `S[axis=coord, ...]` (a sub-array when some axes are
    left free). `StateNameError` (with did-you-mean) otherwise."""
    if not isinstance(key, str):
        raise StateNameError(
            f"state keys are strings, got {type(key).__name__} {key!r}",
            token=repr(key),
        )
    part = layout.part(key)
    if part is not None:
        return Selection(key, part, tuple(slice(None) for _ in part.shape))
    cell = layout.cell(key)
    if cell is not None:
        part, flat = cell
        return Selection(key, part, _unravel(flat, part.shape))
    if "[" not in key:
        raise StateNameError(_unknown(key, layout), token=key)
    node = _parse(key)
    if isinstance(node, Ref):
        part = layout.part(node.base)
        if part is None:
            raise StateNameError(_unknown(node.base, layout, "state"), token=node.base)
        return Selection(key, part, _reference(node, part, key))
    if isinstance(node, Name):  # pragma: no cover - a name has no `[`
        raise StateNameError(_unknown(key, layout), token=key)
    raise StateNameError(
        f"{key!r} is not a state name or a cell key such as 'S[age=y, vax=u]'",
        token=key,
    )


def _unravel(flat: int, shape: tuple[int, ...]) -> Index:
    out: list[int | slice] = []
    for size in reversed(shape):
        flat, r = divmod(flat, size)
        out.append(r)
    return tuple(reversed(out))
