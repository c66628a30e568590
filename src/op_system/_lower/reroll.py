"""Re-rolling: scalar cells with the same expression shape become one vectorized group.

A 0.1.2 user writes an age-structured model cell by cell (`foi_3: C_3_0 * I_0 /
Npop_0 + C_3_1 * I_1 / Npop_1 + ...`, one alias and four equations per age). Lowered
one by one, such a spec gives one statement per cell. Here scalar aliases and
scalar equations are grouped by *structural isomorphism*: the same expression
tree, with leaves that differ only in which state, alias or parameter they read.
A group is lowered once, over a synthetic group dimension, with each leaf
position gathered into a vector (a slice of `y` where the cells are evenly
spaced). A long sum of isomorphic terms (`Σ_j C_i_j * I_j / Npop_j`) becomes a
gather over a second, term dimension and a sum along it.

The grouping only decides *how* values are computed, not what: the numbers are
those of the per-cell expressions (sums along the term dimension may round
differently in the last bit from a left-to-right sum).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from .._core.model import Dim, Model, fixed, flat_index
from .._lang.ir import (
    BinOp,
    BoolOp,
    Call,
    Chain,
    Compare,
    IfExp,
    Node,
    NpConst,
    Num,
    Read,
    UnaryOp,
    attributes,
    children,
)
from .._spec.axes import Axis

__all__ = [
    "GROUP_MIN",
    "Group",
    "IsoSum",
    "Leaf",
    "group_cells",
    "shape_key",
    "synthetic_dim",
]

#: Fewest isomorphic cells lowered as one group (below, per cell is as fast).
GROUP_MIN = 4
#: Fewest isomorphic terms of a sum gathered along a term dimension.
ISO_MIN = 4


class Leaf(NamedTuple):
    """One leaf read by a cell: a state (`y` index), a scalar alias, a scalar
    parameter, or one cell of an indexed parameter (`C__age_a0__age_a1`).

    A named tuple: flat specs make one per name they read, and a tuple is made
    several times faster than a frozen dataclass."""

    kind: Literal["state", "alias", "param", "pcell"]
    #: state index, alias base, parameter key, or (parameter key, flat cell index)
    ref: int | str | tuple[str, int]
    node: Node


@dataclass
class IsoSum:
    """A sum of `m` isomorphic terms inside a cell: the leaves of each term, in order."""

    node: Node  # the `Chain`, or the top of a left-nested run of `+`
    operands: tuple[Node, ...]
    terms: list[list[Leaf]]


@dataclass
class Group:
    """Cells of one shape: their nodes and, per cell, the leaves in walk order."""

    key: Any
    members: list[Any] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    leaves: list[list[Leaf | IsoSum]] = field(default_factory=list)


def synthetic_dim(name: str, size: int) -> Dim:
    """A dimension over a group's cells (or a sum's terms) that is no axis of the spec."""
    coords = tuple(str(i) for i in range(size))
    return Dim(
        name,
        Axis(
            name,
            "categorical",
            coords,
            (),
            (),
            {c: i for i, c in enumerate(coords)},
            {},
        ),
    )


#: what a leaf's target contributes to a shape: (structure, leaf kind, leaf ref),
#: or None where it is not re-rollable
_LeafShape = tuple[Any, Any, Any] | None


def _leaf_shape(tgt: Any) -> _LeafShape:
    kind = tgt.kind
    if kind == "time":
        return ("t",), None, None
    if kind == "state":
        blk = tgt.obj
        idx = fixed(tgt.sels)
        if idx is None:
            return None
        return ("S",), "state", blk.offset + (blk.flat(idx) if blk.axes else 0)
    if kind == "alias" and not tgt.obj.axes and not tgt.sels:
        return ("A",), "alias", tgt.obj.base
    if kind == "param" and not tgt.obj.axes:
        return ("P",), "param", tgt.obj.key
    if kind == "param" and (idx := fixed(tgt.sels)) is not None:
        key = tgt.obj.key
        return ("PC", key), "pcell", (key, flat_index(tgt.obj.axes, idx))
    return None


def shape_key(
    model: Model,
    node: Node,
    path: str,
    memo: dict[int, tuple[Any, _LeafShape]] | None = None,
) -> tuple[Any, list[Leaf | IsoSum]] | None:
    """The structure of a scalar expression and its leaves, or None if it is not re-rollable.

    Numbers, `t`, kernels and helper calls are part of the structure; states,
    scalar aliases and scalar parameters are leaves. `memo` keeps each target's
    part across the cells of one grouping (a flat spec reads a cell many times).
    """
    leaves: list[Leaf | IsoSum] = []
    shapes = {} if memo is None else memo

    def leaf(n: Read) -> Any:
        tgt = n.target
        got = shapes.get(id(tgt))
        if got is None or got[0] is not tgt:
            got = shapes[id(tgt)] = (tgt, _leaf_shape(tgt))
        shape = got[1]
        if shape is None:
            return None
        if shape[1] is not None:
            leaves.append(Leaf(shape[1], shape[2], n))
        return shape[0]

    def go(n: Node) -> Any:
        if isinstance(n, Read):  # the commonest node first
            return leaf(n)
        if isinstance(n, Num):
            return ("n", type(n.value).__name__, n.value)
        if isinstance(n, NpConst):
            return ("c", n.name)
        if isinstance(n, UnaryOp):
            c = go(n.operand)
            return None if c is None else ("u", n.op, c)
        if isinstance(n, BinOp):
            if n.op == "+":
                run = _plus_run(n)
                if len(run) >= ISO_MIN:
                    return sums(n, run, ("b+",))
            a = go(n.left)
            b = go(n.right) if a is not None else None
            return None if b is None else ("b", n.op, a, b)
        if isinstance(n, Chain):
            return chain(n)
        if isinstance(n, (Compare, BoolOp, IfExp, Call)):
            if isinstance(n, Call) and n.func in ("sum_state", "sum_prefix"):
                return (
                    "call",
                    n.func,
                    tuple(getattr(a, "value", None) for a in n.args),
                )
            parts = []
            for c in children(n):
                k = go(c)
                if k is None:
                    return None
                parts.append(k)
            head = (type(n).__name__, attributes(n))
            return (head, tuple(parts))
        return None  # reductions, strings, invalid nodes: lowered per cell

    def sums(n: Node, operands: tuple[Node, ...], head: Any) -> Any:
        """A sum of isomorphic terms becomes one `IsoSum` leaf; otherwise plain structure."""
        start = len(leaves)
        keys = []
        for operand in operands:
            k = go(operand)
            if k is None:
                return None
            keys.append(k)
        if all(k == keys[0] for k in keys) and all(
            not isinstance(x, IsoSum) for x in leaves[start:]
        ):
            flat = leaves[start:]
            del leaves[start:]
            per = len(flat) // len(operands)
            terms = [list(flat[i * per : (i + 1) * per]) for i in range(len(operands))]
            leaves.append(IsoSum(n, operands, terms))  # type: ignore[arg-type]
            return ("iso", len(operands), keys[0])
        return (head, tuple(keys))

    def chain(n: Chain) -> Any:
        if len(n.operands) >= ISO_MIN and all(op == "+" for op in n.ops):
            return sums(n, n.operands, ("ch+",))
        keys = []
        for operand in n.operands:
            k = go(operand)
            if k is None:
                return None
            keys.append(k)
        return ("ch", n.ops, tuple(keys))

    key = go(node)
    return None if key is None else (key, leaves)


def _plus_run(n: BinOp) -> tuple[Node, ...]:
    """The operands of a left-nested run `a + b + c + ...` (in order)."""
    rights: list[Node] = []
    cur: Node = n
    while isinstance(cur, BinOp) and cur.op == "+":
        rights.append(cur.right)
        cur = cur.left
    return (cur, *reversed(rights))


def group_cells(
    model: Model,
    cells: list[tuple[Any, Node, str]],
    level: Callable[[Any], int] | None = None,
) -> tuple[list[Group], list[Any]]:
    """Group `(member, node, path)` cells by shape (and `level`); the rest stay single.

    Returns the groups of at least `GROUP_MIN` members and the members lowered
    one by one, both in the order of first appearance.
    """
    groups: dict[Any, Group] = {}
    singles: list[Any] = []
    memo: dict[int, tuple[Any, _LeafShape]] = {}
    for member, node, path in cells:
        got = shape_key(model, node, path, memo)
        if got is None:
            singles.append(member)
            continue
        key = (level(member) if level else 0, got[0])
        g = groups.setdefault(key, Group(key))
        g.members.append(member)
        g.nodes.append(node)
        g.leaves.append(got[1])
    out = []
    for g in groups.values():
        if len(g.members) >= GROUP_MIN:
            out.append(g)
        else:
            singles.extend(g.members)
    return out, singles
