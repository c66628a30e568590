"""The pieces of a validated model: state blocks, aliases, parameters, equations,
transitions, chains and counters, dimensions, and the `Target` a name binds to.

A *block* is a state template (`S[age,vax]`, or a plain state `S`) occupying a
contiguous slice of the state vector in C order over its axes, exactly as
op-system 0.1.2 orders expanded states. Aliases and parameters may be templated
too. Expressions stay as IR trees over *named dimensions*: the template's axis
placeholders plus the loop variables of enclosing `sum_over`/`integrate_over`.

Every piece is frozen, its containers too: where the build learns more about
one (a parameter's cells read, an equation's bound expression), it makes a new
one (`dataclasses.replace`) in the model's place. (Aliases may read each other
in a cycle: a bound alias gets its expression as it is made, in `_core/bind.py`.)

The `Model` that holds them, and resolves names to targets, is in `_core/model.py`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from .._lang.ir import Name, Node, Read, Reduce, Ref
from .._spec.axes import Axis
from .._support.errors import ExpressionError

__all__ = [
    "INLINE_RE",
    "AliasDef",
    "Along",
    "At",
    "Block",
    "Dim",
    "EquationDef",
    "Flow",
    "KernelUse",
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
    "fixed",
    "flat_index",
    "loop_dim",
    "preview_names",
    "subst_text",
    "target_of",
]


def cell_name(base: str, axes: tuple[Axis, ...], idx: tuple[int, ...]) -> str:
    """Expanded name of one cell: `S__age_child__vax_u` (0.1.2 naming)."""
    if not axes:
        return base
    return base + "__" + "__".join(ax.parts[i] for ax, i in zip(axes, idx))


#: What a `Target` reads (see `Target.kind`).
TargetKind = Literal["state", "alias", "param", "time", "kernel", "coord", "flow"]

#: `name[a, b]` inside a text, as op-system 0.1.2's template substitution finds it.
INLINE_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\[(.*?)\]")


def subst_text(text: str, assignment: Mapping[str, str]) -> str:
    """Replace `name[ax, ...]` by the expanded name when all axes are assigned (0.1.2 rule)."""
    from .._spec.axes import fragment

    def repl(m: re.Match[str]) -> str:
        parts = [p.strip() for p in m.group(2).split(",") if p.strip()]
        if not parts or any(p not in assignment for p in parts):
            return m.group(0)
        return (
            m.group(1)
            + "__"
            + "__".join(f"{p}_{fragment(assignment[p])}" for p in parts)
        )

    return INLINE_RE.sub(repl, text)


def flat_index(axes: tuple[Axis, ...], idx: tuple[int, ...]) -> int:
    """Position of cell `idx` in the C-order flattening of `axes`."""
    f = 0
    for ax, i in zip(axes, idx):
        f = f * ax.size + i
    return f


def cell_names(base: str, axes: tuple[Axis, ...]) -> list[str]:
    """Expanded names of all cells of a template, in C order."""
    if not axes:
        return [base]
    prefix = base + "__"
    if len(axes) == 1:
        return [prefix + p for p in axes[0].parts]
    return [
        prefix + "__".join(p) for p in itertools.product(*(ax.parts for ax in axes))
    ]


@dataclass(frozen=True, eq=False)
class Block:
    """A state template: `size` consecutive entries of `y` starting at `offset`."""

    base: str
    axes: tuple[Axis, ...]
    offset: int
    path: str
    #: Cell names of a chain block (`I1`, ..., `Ik`) instead of `base__axis_coord`.
    custom: tuple[str, ...] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(ax.size for ax in self.axes)

    @property
    def size(self) -> int:
        n = 1
        for ax in self.axes:
            n *= ax.size
        return n

    def cells(self) -> Iterator[tuple[int, ...]]:
        return itertools.product(*(range(ax.size) for ax in self.axes))

    def names(self) -> list[str]:
        if self.custom is not None:
            return list(self.custom)
        return cell_names(self.base, self.axes)

    def flat(self, idx: tuple[int, ...]) -> int:
        return flat_index(self.axes, idx)

    def unflat(self, f: int) -> tuple[int, ...]:
        out = []
        for ax in reversed(self.axes):
            f, r = divmod(f, ax.size)
            out.append(r)
        return tuple(reversed(out))


@dataclass(frozen=True, slots=True, eq=False)
class AliasDef:
    """An alias (optionally templated): a named sub-expression evaluated once per call."""

    base: str
    axes: tuple[Axis, ...]
    expr: Node | None
    path: str
    #: For a *virtual* template (`lam[age]` where aliases or states `lam__age_y`,
    #: `lam__age_o` are defined one by one): the names of its cells, in C order.
    cells: tuple[Name | Read, ...] | None = None

    def __post_init__(self) -> None:
        _check_axes(self, self.axes)
        if (self.expr is None) == (self.cells is None):
            raise TypeError(
                f"internal error: alias {self.base!r} needs an expression or cells"
            )


@dataclass(frozen=True, slots=True, eq=False)
class ParamDef:
    """A parameter; `axes` is its index signature (`C[age, age]` → `(age, age)`)."""

    base: str
    axes: tuple[Axis, ...]
    first_path: str
    #: Unique key: the base name, or `base[ax,...]` when the same base is also used
    #: with another index signature (0.1.2 treats those as distinct parameters).
    key: str = ""
    #: Whether one array may be passed under the base name (false for such variants,
    #: which take 0.1.2's expanded scalar names only).
    array_ok: bool = True
    #: Cells the model reads (`None`: all of them). Only these must be passed as
    #: expanded scalars.
    used: frozenset[tuple[int, ...]] | None = None
    #: A time-varying parameter (`beta[time, age]`): where the time axis stands among
    #: its indices. `axes` leaves the time axis out: the model reads the table's value
    #: at `t`, which has the other axes (see `_core/timevarying.py`).
    time_pos: int | None = None
    #: How a time-varying parameter's table is read between its time coordinates.
    interpolation: str = "linear"

    def __post_init__(self) -> None:
        _check_axes(self, self.axes)
        if self.used is not None and not isinstance(self.used, frozenset):
            raise TypeError(f"internal error: {self.base!r}.used must be a frozenset")
        if not self.key:  # frozen: the default is written once, here
            object.__setattr__(self, "key", self.base)

    @property
    def time_varying(self) -> bool:
        return self.time_pos is not None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(ax.size for ax in self.axes)

    def names(self) -> list[str]:
        return cell_names(self.base, self.axes)

    def used_names(self) -> list[str]:
        """Expanded names of the cells the model reads."""
        if not self.axes:
            return [self.base]
        if self.used is None:
            return self.names()
        return [cell_name(self.base, self.axes, idx) for idx in sorted(self.used)]


@dataclass(frozen=True, slots=True, eq=False)
class EquationDef:
    """The right-hand side of one block (expr kind): a template plus per-cell overrides."""

    block: Block
    expr: Node | None
    path: str
    #: Per-cell equations by flat cell index: a read-only copy of what is passed.
    overrides: Mapping[int, tuple[Node, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    #: For a chain's block: its stages' rates, the last one its outflow.
    run: Run | None = None
    #: Overridden cells whose override is the template's own value there (a cell written
    #: out as 0.1.2 users generate them); set by the builder (`_cells.template_cells`).
    template_cells: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        # a copy nobody else holds, behind a read-only view: the model's equations
        # cannot change once made
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    @property
    def array_overrides(self) -> Mapping[int, tuple[Node, str]]:
        """The overrides the array code needs: the template computes the others."""
        if not self.template_cells:
            return self.overrides
        return {f: v for f, v in self.overrides.items() if f not in self.template_cells}


def _check_axes(owner: object, axes: object) -> None:
    if not isinstance(axes, tuple):
        raise TypeError(
            f"internal error: {type(owner).__name__}.axes must be a tuple, got "
            f"{type(axes).__name__}"
        )


@dataclass(frozen=True, slots=True, eq=False)
class Run:
    """A chain (`chain:` in the spec), in either kind of model: stage `i` of `block`
    passes into stage `i + 1` at per-capita rate `rates[i]`.

    In a transitions model these are flows of their own (`Flow.run` names the run
    they belong to), and `rates` has one entry per stage but the last. In an expr
    model the run is its block's equation (`EquationDef.run`), and `rates` has
    one more entry: the last stage's outflow, which leaves the block (the exit
    target's equation is written on its own, as op-system 0.1.2 fills it in).
    The vectorized code moves a whole run as shifted slices of its block.
    """

    block: Block
    rates: tuple[Node, ...]
    path: str

    @property
    def outflow(self) -> bool:
        """Whether the last rate takes the last stage out of the block (expr models)."""
        return len(self.rates) == self.block.size


#: A state a reaction reads: `Name`/`Ref` as built, a `Read` once bound.
Species = Name | Ref | Read


@dataclass(frozen=True, slots=True, eq=False)
class Reaction:
    """The stoichiometry and laws of a reaction (`reaction: "2 P -> P2"`).

    A reaction fires as one event that takes `c` of each reactant and adds `c`
    of each product (a species on both sides is a catalyst, or changes by the
    difference). Its laws are expressions over the model, made once by the
    build (`_core/reactions.py`) and bound like any rate, so that every reader
    evaluates the same ones:

    * `flux`, the events per unit time of the deterministic model: mass action,
      `rate * prod(X**c / c!)` over the reactants (`rate` alone for none);
    * `propensity`, the events per unit time of the stochastic methods: `rate`
      times the number of ways to pick the reactants, `prod(C(X, c))`
      (`k*P*(P-1)/2` for `2 P`), whose large-number limit is `flux`;
    * `per_capita`, what the per-capita output (`rates`) and the chain-binomial
      step read: the propensity per individual of `consumed`, the one cell the
      reaction takes a single individual from; the propensity itself when it
      takes from no cell (new individuals, as a source); `rate` as written when
      it takes from several cells or more than one from a cell (`chain_ok`
      false: the chain-binomial step cannot draw it).
    """

    reactants: tuple[tuple[Species, int], ...]
    products: tuple[tuple[Species, int], ...]
    flux: Node
    propensity: Node
    per_capita: Node
    consumed: Species | None
    chain_ok: bool
    text: str


@dataclass(frozen=True, slots=True, eq=False)
class Flow:
    """A (templated) flow `src → dst` at per-capita `rate`: flow = rate * src.

    Every way a transitions model moves people is one `Flow`: a transition, a
    chain's stage (`run` set), a coordinate shift (a dimension with a subset), a
    source (`src` None: births, importations; its rate is the flow itself), a
    sink (`dst` None: deaths) and a reaction (`reaction` set, `src` and `dst`
    None: any number of reactants and products with stoichiometric
    coefficients; its flow is its `Reaction.flux`). Incidence counters count
    flows (`Counter`): a reaction's, its events.

    `ends()` is the one statement of where a flow takes from and adds to.
    """

    dims: tuple[Dim, ...]
    #: `Name`/`Ref` as built; a `Read` once the model is bound (`target_of`)
    src: Name | Ref | Read | None
    dst: Name | Ref | Read | None
    rate: Node
    path: str
    raw: Mapping[str, Any]
    name_text: str | None
    #: the chain whose stage this flow is (a run's flows are consecutive)
    run: Run | None = None
    #: a reaction's stoichiometry and laws (`src` and `dst` are then None)
    reaction: Reaction | None = None

    def ends(self) -> list[tuple[Species, int]]:
        """The states one unit of this flow changes, with signed coefficients:
        `-1` out of `src`, `+1` into `dst`; a reaction's reactants `-c`, its
        products `+c` (a species on both sides appears twice)."""
        if self.reaction is not None:
            return [(n, -c) for n, c in self.reaction.reactants] + list(
                self.reaction.products
            )
        out: list[tuple[Species, int]] = []
        if self.src is not None:
            out.append((self.src, -1))
        if self.dst is not None:
            out.append((self.dst, 1))
        return out


@dataclass(frozen=True, eq=False)
class Counter:
    """An incidence counter (`incidence:` in the spec): a state block whose
    derivative is the sum of the flows of `transitions`, summed over the
    transitions' dimensions the block does not have. It counts; no state loses
    what it gains."""

    block: Block
    transitions: tuple[Flow, ...]
    path: str

    @property
    def target(self) -> Target:
        """Where the counted flows go: every cell of the block, by axis."""
        return Target(
            "state", self.block, tuple(Along(ax.name) for ax in self.block.axes)
        )


def transition_base(name_text: str) -> str:
    """A transition's name without its placeholders (`infection[age]` is `infection`)."""
    return INLINE_RE.sub(lambda m: m.group(1), name_text).strip()


@dataclass(frozen=True)
class Dim:
    """A named dimension in scope: an axis placeholder or a reduction variable."""

    name: str
    axis: Axis
    subset: tuple[int, ...] | None = None

    @property
    def size(self) -> int:
        return len(self.subset) if self.subset is not None else self.axis.size

    def coord_indices(self) -> tuple[int, ...]:
        return self.subset if self.subset is not None else tuple(range(self.axis.size))

    def weights(self) -> tuple[float, ...]:
        """The trapezoid weights of an integral over this dimension of a continuous
        axis, one per coordinate index: the axis's own, or, over a sub-interval of
        it (0.9.0's filtered binding), those of the sub-interval's coordinates."""
        if self.subset is None:
            return self.axis.deltas
        from .._spec.axes import trapezoid

        return tuple(trapezoid([self.axis.values[i] for i in self.subset]))


@dataclass(frozen=True, eq=False)
class KernelUse:
    """A kernel (from `kernels:`) indexed by `axes`; its values are compile-time constants."""

    entry: Mapping[str, Any]
    axes: tuple[Axis, ...]

    @property
    def base(self) -> str:
        return str(self.entry["name"])

    def values(self, path: str) -> Any:
        from .._spec.meta import kernel_array

        return kernel_array(self.entry, self.axes, path)


def coord_values(axis: Axis, var: str, path: str) -> tuple[float, ...]:
    """Numeric values of `axis`'s coordinates, for a loop variable used as a value.

    op-system 0.1.2 pastes the coordinate's text in place of the variable, so
    `integrate_over(size=s, s * n[size=s])` weighs by the coordinate value. That
    is a number on continuous axes and on categorical axes whose coordinates are
    numerals; other categorical coordinates (`child`, `0-4`) would become a
    parameter name or an unrelated arithmetic expression, so they are rejected.
    """
    if axis.kind == "continuous":
        return axis.values
    try:
        return tuple(float(c) for c in axis.coords)
    except ValueError:
        bad = next(c for c in axis.coords if not _is_float(c))
        raise ExpressionError(
            f"loop variable {var!r} is used as a value, but axis {axis.name!r} has the non-numeric "
            f"coordinate {bad!r}; use it inside an index, e.g. X[{axis.name}={var}], or give the axis "
            "numeric coordinates",
            path=path,
            token=var,
        ) from None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def preview_names(names: tuple[str, ...], n: int = 6) -> str:
    shown = ", ".join(names[:n])
    return f"[{shown}{', ...' if len(names) > n else ''}]"


@dataclass(frozen=True, slots=True)
class Along:
    """A selection: the coordinate of the dimension `dim` in scope (a template's
    placeholder or a loop variable)."""

    dim: str


@dataclass(frozen=True, slots=True)
class At:
    """A selection: the fixed coordinate `index` of its axis."""

    index: int


#: How one axis of what a name reads is selected.
Sel = Along | At


def cell_of(sels: tuple[Sel, ...], a: Mapping[str, int]) -> tuple[int, ...]:
    """The cell `sels` select when each dimension in scope is at `a[dim]`."""
    return tuple(s.index if isinstance(s, At) else a[s.dim] for s in sels)


def along(sels: tuple[Sel, ...]) -> list[str]:
    """The dimensions `sels` take coordinates from, in order (repeats kept)."""
    return [s.dim for s in sels if isinstance(s, Along)]


def fixed(sels: tuple[Sel, ...]) -> tuple[int, ...] | None:
    """The cell of selections that are all fixed coordinates, else None."""
    if all(isinstance(s, At) for s in sels):
        return tuple(s.index for s in sels)  # type: ignore[union-attr]
    return None


@dataclass(frozen=True)
class Target:
    """What a name or reference reads.

    `kind` is `"state"`, `"alias"`, `"param"`, `"time"`, `"kernel"` or `"coord"`
    (a loop variable's coordinate value; `obj` holds the values); `sels` gives, for each
    axis of the target, either `Along(name)` (taken from a dimension in scope)
    or `At(i)` (a fixed coordinate).
    """

    kind: TargetKind
    obj: Any
    sels: tuple[Sel, ...] = ()


def loop_dim(node: Reduce) -> Dim:
    """The dimension a reduction of a bound model loops over."""
    if node.dim is None:  # pragma: no cover - the build binds every reduction
        raise TypeError(f"internal error: {node!r} is not bound")
    dim: Dim = node.dim
    return dim


def target_of(node: Node) -> Target:
    """What a name of a bound model reads: its `Read`'s target."""
    if not isinstance(node, Read):  # pragma: no cover - the build binds every name
        raise TypeError(f"internal error: {node!r} is not bound")
    target: Target = node.target
    return target
