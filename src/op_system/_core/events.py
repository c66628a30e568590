"""Timed events: what they are and what they do (the one place that says so).

An event (`events:` in the spec; its data checked by `_spec/events.py`) happens
at a time and changes the state there, in one of three ways:

* `move: {from: A, to: B, amount: a}`: `a` individuals leave the cells of `A`
  and arrive in the matching cells of `B` (a seeding: S -> E);
* `set: {A: a}`: the cells of `A` become `a` (a reset);
* `add: {A: a}`: `a` is added to the cells of `A` (a pulse; negative removes).

Targets are the model's state references: one cell (`S[age=adult]`, or an
expanded name), some cells (`S[age=adult, vax]`: every `vax`) or a whole block
(`S`: every cell). An amount is one expression, the same for every selected
cell, or a list, one per cell in the selection's C order; times and amounts are
expressions of numbers and parameters (never of states: an event happens at a
known time, whatever the state), parsed by the language's parser and bound
like any other expression. A parameter passed as an array gives per-cell
amounts too (broadcast against the selection's shape).

Meaning, for every reader (`apply_event`):

* continuous state (the ODE, `solve`): exactly `a` moves, is set or is added,
  even if a count goes negative;
* counts (every stochastic method): amounts are rounded to the nearest integer,
  and no count goes negative: a move takes at most what is in each source cell
  (and nothing for a negative amount), a set or an add stops at 0. Moves
  conserve the total exactly.

Several changes of one event (`set: {X: 1, Y: 2}`) apply in the order written;
events at the same time apply in the order of the spec. At an output time the
recorded state is the one after that time's events (the right limit, as the
SBML and the DSMTS record a timed reset).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .._lang.ir import (
    ALLOWED_FUNCS,
    NP_CONSTANTS,
    BinOp,
    Call,
    Chain,
    IndexItem,
    Invalid,
    Name,
    Node,
    NpConst,
    Num,
    Read,
    Ref,
    UnaryOp,
    children,
    invalid_error,
    rebuild,
    walk,
)
from .._lang.parse import parse_expr
from .._spec.events import RawChange, RawEvent, raw_events
from .._support.errors import (
    ExpressionError,
    SpecError,
    SpecWarning,
    did_you_mean,
    outside_package,
)
from .defs import At, Block, Dim, ParamDef, Target, flat_index

if TYPE_CHECKING:
    from .model import Model


class Resolver(Protocol):
    """The build's name resolution (`_core/resolve.py`), as the binding of events
    reads it (events are bound by the build, like every other expression)."""

    def resolve(self, node: Name | Ref, scope: tuple[Dim, ...], path: str) -> Target:
        """What `node` reads in `scope`."""

    def lookup_cell(self, name: str) -> Any:
        """What an expanded name reads, or None."""


__all__ = [
    "Event",
    "EventCells",
    "EventChange",
    "apply_event",
    "bind_events",
    "event_amounts",
    "event_time",
    "event_value",
    "schedule",
]


@dataclass(frozen=True, eq=False)
class EventCells:
    """The state cells a reference selects: their indices in `y` (the
    selection's C order) and the selection's shape (its unpinned axes)."""

    text: str
    block: Block
    index: tuple[int, ...]
    shape: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class EventChange:
    """One change of an event: `amount` (one bound expression for every cell, or
    one per cell) for the cells of `target`; a move takes it from `source`."""

    target: EventCells
    amount: tuple[Node, ...]
    path: str
    source: EventCells | None = None


@dataclass(frozen=True, eq=False)
class Event:
    """A timed event of the model (see the module doc)."""

    action: str
    time: Node
    changes: tuple[EventChange, ...]
    path: str
    name: str | None = None


# -- binding ---------------------------------------------------------------------


def _cells(model: Model, names: Resolver, text: str, path: str) -> EventCells:
    """The state cells the reference `text` selects."""
    node = parse_expr(text, path=path)
    base = node.id if isinstance(node, Name) else getattr(node, "base", None)
    if (
        isinstance(base, str)
        and model.block(base) is None
        and (isinstance(node, Ref) or names.lookup_cell(base) is None)
    ):
        states = [b.base for b in model.blocks if b.custom is None]
        hint = did_you_mean(base, [*states, *model.state_names])
        raise SpecError(
            f"{path}: {base!r} is not a state{hint} (states: {states})",
            path=path,
            token=base,
        )
    if isinstance(node, Name):
        blk = model.block(node.id)
        if blk is not None and blk.axes:  # a whole block: every cell
            node = Ref(blk.base, tuple(IndexItem(None, ax.name) for ax in blk.axes))
    if not isinstance(node, (Name, Ref)):
        raise SpecError(
            f'{path} must name state cells, e.g. "S[age=adult]", got {text!r}',
            path=path,
            token=text,
        )
    scope = tuple(
        Dim(item.value, model.axes[item.value])
        for item in (node.items if isinstance(node, Ref) else ())
        if item.axis is None and item.value in model.axes
    )
    try:
        target: Target = names.resolve(node, scope, path)
    except ExpressionError as exc:
        raise SpecError(exc.detail, path=path, token=exc.token) from None
    blk = target.obj
    if target.kind != "state" or not isinstance(blk, Block):
        states = [b.base for b in model.blocks if b.custom is None]
        raise SpecError(
            f"{path}: {text!r} is a{'n' if target.kind[0] in 'aeiou' else ''} "
            f"{target.kind}, not a state{did_you_mean(text, states)}; events change "
            "the model's states",
            path=path,
            token=text,
        )
    if any(c.block is blk for c in model.counters):
        raise SpecError(
            f"{path}: {text!r} is an incidence counter; events change the model's "
            "states (a counter counts flows)",
            path=path,
            token=text,
        )
    if blk.custom is not None:  # a chain's stage: one cell
        (sel,) = target.sels
        return EventCells(text, blk, (blk.offset + getattr(sel, "index", 0),), ())
    choices = [
        (sel.index,) if isinstance(sel, At) else tuple(range(ax.size))
        for ax, sel in zip(blk.axes, target.sels, strict=True)
    ]
    index = tuple(
        blk.offset + flat_index(blk.axes, idx) for idx in itertools.product(*choices)
    )
    shape = tuple(
        ax.size
        for ax, sel in zip(blk.axes, target.sels, strict=True)
        if not isinstance(sel, At)
    )
    return EventCells(text, blk, index, shape)


class _Params:
    """Binds the names of events' expressions: each is a parameter (a model's,
    or one only events read)."""

    def __init__(self, model: Model, declared: Mapping[str, Any] | None) -> None:
        self.model = model
        self.declared = declared
        self.defs: dict[str, ParamDef] = {}
        self.taken = {
            *(b.base for b in model.blocks),
            *model.aliases,
            *model.flow_blocks,
            *model.kernels,
            "t",
        }

    def bind(self, value: str | float | int, path: str, what: str) -> Node:
        node = parse_expr(value, path=path)
        for sub in walk(node):
            if isinstance(sub, Invalid):
                raise invalid_error(sub, path)
            if isinstance(sub, Name):
                self._check(sub.id, path, what)
            elif not isinstance(sub, (Num, NpConst, UnaryOp, BinOp, Chain, Call)) or (
                isinstance(sub, Call) and sub.func not in ALLOWED_FUNCS
            ):
                raise SpecError(
                    f"{what} at {path} is a number or an arithmetic expression of "
                    f"parameters, got {value!r} (events happen at known times: "
                    "they read no states, sums or references)",
                    path=path,
                    token=str(value),
                )
        return self._read(node)

    def _check(self, name: str, path: str, what: str) -> None:
        if name in self.taken or self.model.block(name) is not None:
            raise SpecError(
                f"{what} at {path} reads {name!r}, which is not a parameter: times "
                "and amounts of events are expressions of parameters",
                path=path,
                token=name,
            )
        known = {p.base for p in self.model.params.values()}
        if name in known:
            return
        if self.declared is not None:
            if name not in self.declared:
                raise SpecError(
                    f"{what} at {path} reads {name!r}, which `parameters:` does not "
                    f"declare{did_you_mean(name, [*self.declared, *known])}",
                    path=path,
                    token=name,
                )
            return
        hint = did_you_mean(name, known)
        if hint:  # a parameter of the events alone, spelt like one of the model's
            warnings.warn(
                f"{what} at {path} reads {name!r}, not a parameter of the model's "
                f"equations{hint}",
                SpecWarning,
                stacklevel=outside_package(),
            )

    def _read(self, node: Node) -> Node:
        if isinstance(node, Name):
            p = self.model.params.get(node.id)
            if p is None:
                p = self.defs.setdefault(node.id, ParamDef(node.id, (), "events"))
            return Read(node, Target("param", p))
        kids = children(node)
        if not kids:
            return node
        return rebuild(node, [self._read(k) for k in kids])


def _change(
    model: Model, names: Resolver, params: _Params, raw: RawChange, action: str
) -> EventChange:
    target = _cells(
        model, names, raw.target, f"{raw.path}.to" if raw.source else raw.path
    )
    source = (
        _cells(model, names, raw.source, f"{raw.path}.from") if raw.source else None
    )
    if source is not None:
        if len(source.index) != len(target.index):
            raise SpecError(
                f"{raw.path} moves from {len(source.index)} cell(s) of "
                f"{source.text!r} to {len(target.index)} of {target.text!r}: a move "
                "pairs the cells one to one (select as many on both sides)",
                path=raw.path,
                token=target.text,
            )
        if set(source.index) & set(target.index):
            raise SpecError(
                f"{raw.path} moves from {source.text!r} to {target.text!r}, which "
                "share cells",
                path=raw.path,
                token=target.text,
            )
    where = f"{raw.path}.amount" if raw.source else raw.path
    values = raw.amount if isinstance(raw.amount, list) else [raw.amount]
    if len(values) not in (1, len(target.index)):
        raise SpecError(
            f"{where} lists {len(values)} amounts for {len(target.index)} cell(s) of "
            f"{target.text!r}: give one amount, or one per cell",
            path=where,
        )
    amount = tuple(
        params.bind(v, where if len(values) == 1 else f"{where}[{i}]", "an amount")
        for i, v in enumerate(values)
    )
    return EventChange(target, amount, raw.path, source)


def bind_events(
    spec: Mapping[str, Any], model: Model, names: Resolver
) -> tuple[tuple[Event, ...], tuple[str, ...]]:
    """The model's events, bound, and the parameters they read that the model's
    equations do not (in the order first read)."""
    raws: tuple[RawEvent, ...] = raw_events(spec.get("events"))
    if not raws:
        return (), ()
    declared = spec.get("parameters")
    params = _Params(model, declared if isinstance(declared, Mapping) else None)
    events = tuple(
        Event(
            raw.action,
            params.bind(raw.time, f"{raw.path}.time", "an event's time"),
            tuple(_change(model, names, params, c, raw.action) for c in raw.changes),
            raw.path,
            raw.name,
        )
        for raw in raws
    )
    return events, tuple(params.defs)


# -- meaning -----------------------------------------------------------------------


def event_value(node: Node, params: Mapping[str, Any], xp: Any) -> Any:
    """The value of a bound event expression for `params`, in namespace `xp`."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, NpConst):
        return NP_CONSTANTS[node.name]
    if isinstance(node, Read):
        name = node.target.obj.base
        if name not in params:
            from .._support.errors import ParameterError

            raise ParameterError(
                f"missing parameter(s): [{name!r}] (read by the model's events)",
                path="params",
                token=name,
            )
        return xp.asarray(params[name])
    if isinstance(node, UnaryOp):
        v = event_value(node.operand, params, xp)
        return -v if node.op == "-" else v
    if isinstance(node, BinOp):
        return _binary(
            node.op,
            event_value(node.left, params, xp),
            event_value(node.right, params, xp),
        )
    if isinstance(node, Chain):
        out = event_value(node.operands[0], params, xp)
        for op, operand in zip(node.ops, node.operands[1:], strict=True):
            out = _binary(op, out, event_value(operand, params, xp))
        return out
    if isinstance(node, Call):
        args = [event_value(a, params, xp) for a in node.args]
        if node.func == "clip":
            return xp.minimum(xp.maximum(args[0], args[1]), args[2])
        fn: Callable[..., Any] = getattr(xp, node.func)
        return fn(*args)
    raise TypeError(f"internal error: {node!r} in an event")  # pragma: no cover


def _binary(op: str, a: Any, b: Any) -> Any:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    if op == "**":
        return a**b
    return a % b


def _real(value: Any, xp: Any) -> Any:
    """`value` as an array of the namespace's default real type (explicitly:
    JAX's strict type promotion mixes no integer and real arrays)."""
    return xp.asarray(value).astype(xp.result_type(float))


def event_time(event: Event, params: Mapping[str, Any], xp: Any) -> Any:
    """When `event` happens, for `params` (a real number)."""
    return _real(event_value(event.time, params, xp), xp)


def event_amounts(event: Event, params: Mapping[str, Any], xp: Any) -> list[Any]:
    """Each change's amount for `params`, one real per selected cell (1-D)."""
    out = []
    for ch in event.changes:
        n = len(ch.target.index)
        if len(ch.amount) == 1:
            v = _real(event_value(ch.amount[0], params, xp), xp)
            shape = ch.target.shape
            if v.ndim and tuple(v.shape) != shape:
                try:
                    v = xp.broadcast_to(v, shape)
                except ValueError:
                    from .._support.errors import ParameterError

                    raise ParameterError(
                        f"the amount at {ch.path} has shape {tuple(v.shape)}, but "
                        f"{ch.target.text!r} selects cells of shape {shape}",
                        path=ch.path,
                    ) from None
            out.append(xp.reshape(xp.broadcast_to(v, shape), (n,)))
        else:
            out.append(
                xp.stack([_real(event_value(a, params, xp), xp) for a in ch.amount])
            )
    return out


def _put(y: Any, index: tuple[int, ...], value: Any, xp: Any) -> Any:
    """`y` with `y[index] = value` (a copy: NumPy's in place on its own copy,
    JAX's `.at[].set`)."""
    idx = list(index)
    at = getattr(y, "at", None)
    if at is not None:
        return at[xp.asarray(idx)].set(value)
    y = y.copy()
    y[idx] = value
    return y


def apply_event(
    event: Event, y: Any, amounts: list[Any], xp: Any, *, counts: bool
) -> Any:
    """The state after `event` (its `amounts` from `event_amounts`): exact for a
    continuous state, integer and never negative for `counts` (module doc)."""
    for ch, a in zip(event.changes, amounts, strict=True):
        cur = y[xp.asarray(list(ch.target.index))]
        # counts: the nearest integer; a continuous state: exactly, in its type
        a = (xp.round(a) if counts else a).astype(y.dtype)
        if event.action == "set":
            new = xp.maximum(a, 0) if counts else a
        elif event.action == "add":
            new = xp.maximum(cur + a, 0) if counts else cur + a
        else:
            assert ch.source is not None
            src = y[xp.asarray(list(ch.source.index))]
            if counts:
                a = xp.minimum(xp.maximum(a, 0), src)
            y = _put(y, ch.source.index, src - a, xp)
            new = cur + a
        y = _put(y, ch.target.index, new, xp)
    return y


def namespace(*values: Any) -> Any:
    """`jax.numpy` if any of `values` is a JAX array (or tracer), else NumPy."""
    import numpy as np

    for v in values:
        if type(v).__module__.startswith("jax"):
            import jax.numpy as jnp

            return jnp
    return np


def schedule(
    events: tuple[Event, ...], params: Mapping[str, Any], *, counts: bool
) -> list[tuple[Any, Callable[[Any], Any]]]:
    """Each event's time and its action `fn(y) -> y` for `params`, in spec order.

    The times and amounts are computed here, once, in the namespace of the
    parameters (JAX arrays: traceable); `fn` works in the namespace of `y`.
    `counts`: integer counts (the stochastic methods), else a continuous state."""
    xp = namespace(*params.values())
    out: list[tuple[Any, Callable[[Any], Any]]] = []
    for ev in events:
        time = event_time(ev, params, xp)
        amounts = event_amounts(ev, params, xp)
        out.append((time, _action(ev, amounts, counts)))
    return out


def _action(event: Event, amounts: list[Any], counts: bool) -> Callable[[Any], Any]:
    def fn(y: Any) -> Any:
        return apply_event(event, y, amounts, namespace(y), counts=counts)

    return fn
