"""The validated model: state blocks, aliases, parameters, equations or transitions
(their classes are in `_core/defs.py`, re-exported here).

A *block* is a state template (`S[age,vax]`, or a plain state `S`) occupying a
contiguous slice of the state vector in C order over its axes, exactly as
op-system 0.1.2 orders expanded states. Aliases and parameters may be templated
too. Expressions stay as IR trees over *named dimensions*: the template's axis
placeholders plus the loop variables of enclosing `sum_over`/`integrate_over`.

A built model is *bound*: every name in its expressions is a `Read` of its
`Target` (what it reads, and which cell coordinates come from which dimension),
written by the build (`_core/resolve.py` resolves, `_core/bind.py` binds). The
code generators and every view read the same bindings, so they cannot disagree,
and a `Model` has no way to resolve a name.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._spec.axes import Axis
from .._support.errors import ExpressionError, did_you_mean

if TYPE_CHECKING:
    from .declared import Declarations
    from .events import Event
from .defs import (
    INLINE_RE,
    AliasDef,
    Along,
    At,
    Block,
    Counter,
    Dim,
    EquationDef,
    Flow,
    KernelUse,
    ParamDef,
    Reaction,
    Run,
    Sel,
    Target,
    TargetKind,
    along,
    cell_name,
    cell_names,
    cell_of,
    coord_values,
    fixed,
    flat_index,
    loop_dim,
    preview_names,
    subst_text,
    target_of,
    transition_base,
)

__all__ = [
    "INLINE_RE",
    "AliasDef",
    "Along",
    "At",
    "Block",
    "Counter",
    "Dim",
    "EquationDef",
    "Flow",
    "KernelUse",
    "Model",
    "ParamDef",
    "Reaction",
    "Run",
    "Sel",
    "Target",
    "TargetKind",
    "along",
    "cell_name",
    "cell_names",
    "cell_of",
    "coord_values",
    "fixed",
    "flat_index",
    "loop_dim",
    "subst_text",
    "target_of",
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
    #: whether an expression holds a construct outside the language (`Invalid`),
    #: which compiling refuses (`_lower/order.py` `check_invalid`): found by the
    #: binding walk, so that compiling does not walk the model again to look
    has_invalid: bool = True
    #: the aliases each alias reads, by base name (found by the binding walk)
    alias_deps: dict[str, frozenset[str]] | None = None
    #: what the spec declares beyond its equations (`parameters:`,
    #: `state_metadata:`, axis measures, `gauges:`, ...; see `_core/declared.py`)
    declarations: Declarations | None = None
    #: timed events (`events:`, see `_core/events.py`), in spec order
    events: tuple[Event, ...] = ()
    #: the parameters only the events read (not the equations'), first read first
    event_params: tuple[str, ...] = ()
    _block_by_base: dict[str, Block] = field(default_factory=dict)
    _prefix_cache: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._block_by_base = {b.base: b for b in self.blocks if b.custom is None}

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

    def flow_ends(self, td: Flow) -> list[tuple[str, Target, int]]:
        """Where a flow goes, the one statement of its balance: `(sign, target,
        coefficient)` out of `src` (`-`), into `dst` (`+`), out of a reaction's
        reactants and into its products (their coefficients), and into each
        incidence counter that counts it (`+`: counted, not moved; once per
        unit of flow). A source has no `src`, a sink no `dst`."""
        out = [
            ("-" if c < 0 else "+", target_of(node), abs(c)) for node, c in td.ends()
        ]
        out.extend(("+", counter.target, 1) for counter in self.counters_of(td))
        return out

    def counters_of(self, td: Flow) -> list[Counter]:
        """The incidence counters that count `td`'s flows."""
        return [c for c in self.counters if any(t is td for t in c.transitions)]

    def is_counter(self, index: int) -> bool:
        """Whether state `index` is an incidence counter's cell."""
        return any(
            c.block.offset <= index < c.block.offset + c.block.size
            for c in self.counters
        )

    def block(self, base: str) -> Block | None:
        """The templated or plain state block named `base` (not a chain's)."""
        return self._block_by_base.get(base)

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
