"""Where each named thing sits in the state vector: the model's blocks as parts.

`Layout` is read once from the bound core model (its blocks, their axes and
offsets, which of them are incidence counters) and kept with the compiled
model; `pack`, `unpack`, `Solution` and `Trajectories` read it and nothing
else. A model built by hand from expanded names (no spec) has one part per
state.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core.chains import chain_name
from .._core.model import Model
from .._spec.axes import Axis
from .._support.errors import did_you_mean

if TYPE_CHECKING:
    from .._core.model import Block

__all__ = ["Layout", "Part", "layout_of"]


@dataclass(frozen=True)
class Part:
    """One block of the state vector: `size` cells from `offset`, C order over `axes`.

    A chain's stages (`I1..I3`) are one part over a stage dimension of its own
    (`dims == ("I_stage",)`, coordinates the stage names).
    """

    base: str
    axes: tuple[Axis, ...]
    offset: int
    size: int
    names: tuple[str, ...]
    chain: bool = False
    counter: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        """The block's array shape (`()` for a plain state)."""
        if self.chain:
            return (self.size,)
        return tuple(ax.size for ax in self.axes)

    @property
    def dims(self) -> tuple[str, ...]:
        """Its dimension names: its axes', or a chain's stage dimension."""
        if self.chain:
            return (f"{self.base}_stage",)
        return tuple(ax.name for ax in self.axes)

    @property
    def coords(self) -> tuple[tuple[str, ...], ...]:
        """The coordinate labels of each of `dims`."""
        if self.chain:
            return (self.names,)
        return tuple(tuple(str(c) for c in ax.coords) for ax in self.axes)

    @property
    def slice(self) -> slice:
        return slice(self.offset, self.offset + self.size)


@dataclass(frozen=True)
class Layout:
    """The parts of a model's state vector, in order (their cells concatenate to
    `state_names`), and where to find a part or a cell by name."""

    parts: tuple[Part, ...]
    state_names: tuple[str, ...]

    @property
    def n_state(self) -> int:
        return len(self.state_names)

    def part(self, base: str) -> Part | None:
        """The part called `base` (a block's base name or a chain's name)."""
        return next((p for p in self.parts if p.base == base), None)

    def cell(self, name: str) -> tuple[Part, int] | None:
        """The part holding the expanded cell name `name`, and the cell's flat
        position inside it."""
        index = self._cells()
        return index.get(name)

    def _cells(self) -> dict[str, tuple[Part, int]]:
        cached: dict[str, tuple[Part, int]] | None = self.__dict__.get("_index")
        if cached is None:
            cached = {n: (p, i) for p in self.parts for i, n in enumerate(p.names)}
            object.__setattr__(self, "_index", cached)
        return cached

    def suggest(self, name: str) -> str:
        """` (did you mean 'x'?)` over blocks and expanded cell names."""
        bases = [p.base for p in self.parts]
        # block names are short: a looser match than for expanded names
        close = difflib.get_close_matches(name, bases, n=1, cutoff=0.6)
        if close:
            return f" (did you mean {close[0]!r}?)"
        return did_you_mean(name, self.state_names)

    def blocks_text(self) -> str:
        """The blocks as a short list for messages (`S[age, vax], I[age, vax], ...`)."""
        shown = [
            f"{p.base}[{', '.join(p.dims)}]" if p.dims else p.base
            for p in self.parts[:12]
        ]
        more = ", ..." if len(self.parts) > 12 else ""
        return ", ".join(shown) + more


def _part(block: Block, counter: bool) -> Part:
    chain = chain_name(block)
    return Part(
        base=chain if chain is not None else block.base,
        axes=() if chain is not None else tuple(block.axes),
        offset=block.offset,
        size=block.size if chain is None else len(block.names()),
        names=tuple(block.names()),
        chain=chain is not None,
        counter=counter,
    )


def from_model(model: Model) -> Layout:
    """The layout of a bound core model."""
    counters = {id(c.block) for c in model.counters}
    parts = tuple(_part(b, id(b) in counters) for b in model.blocks)
    return Layout(parts, tuple(model.state_names))


def flat(state_names: tuple[str, ...]) -> Layout:
    """One part per state: a model known only by its expanded names."""
    return Layout(
        tuple(Part(n, (), i, 1, (n,)) for i, n in enumerate(state_names)),
        tuple(state_names),
    )


def layout_of(rhs: Any) -> Layout:
    """The layout of a `CompiledRhs`, read once and kept with it."""
    cache = rhs._cache
    got = cache.get("layout")
    if got is None:
        normalized = rhs.rhs
        got = (
            flat(tuple(rhs.state_names))
            if normalized is None
            else from_model(rhs._model_of_rhs())
        )
        cache["layout"] = got
    assert isinstance(got, Layout)
    return got
