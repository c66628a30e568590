"""Transitions as flows: each rate times its source, placed into the blocks it
leaves and reaches (templated flows as broadcasts and sums over the dimensions a
target lacks, re-rolled per-cell flows as slices, segments or one gather).

Shared by the right-hand side (`_lower/codegen.py`) and its tangent (`_lower/tangent.py`).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from .._core.model import At, Block, Dim, Flow, Model, Target, along, fixed, target_of
from .._lang.ir import BinOp, Node, Num, Read, Reduce, walk
from .._support.errors import UnsupportedFeatureError
from .groups import _lower_group, _lower_single
from .lowerer import (
    _SPILL,
    _Lowerer,
)
from .ops import (
    AsFloat,
    Bin,
    Broadcast,
    Concat,
    Index,
    Int,
    Lit,
    Neg,
    Op,
    Permute,
    Reshape,
    Span,
    StackScalars,
    Sum,
    Take,
    Var,
    Where,
    Zeros,
)
from .reroll import Group, group_cells
from .values import _Val

__all__: list[str] = []


#: slices of a chain's vector of forward flows: all but the last, all but the first
_HEAD, _TAIL = (Span(None, -1),), (Span(1, None),)
#: the first entry and the last entry, as length-1 slices
_FIRST, _LAST = (Span(None, 1),), (Span(-1, None),)

#: flow terms of each block: (sign, value, its shape; None for a scalar)
Terms = dict[int, list[tuple[str, Op, tuple[int, ...] | None]]]


def flow_law(lw: _Lowerer, td: Flow) -> Node:
    """What a flow's rate means in `lw`'s mode: its rate, or for a reaction its
    mass-action flux (the ODE, flows), its stochastic propensity (mode
    "propensities") or its per-capita rate (mode "rates"), each the flow itself
    as a source's rate is (see `defs.Reaction`)."""
    r = td.reaction
    if r is None:
        return td.rate
    if lw.per_capita:
        return r.per_capita
    return r.propensity if lw.propensities else r.flux


def _rate_vector(lw: _Lowerer, nodes: list[Node], path: str) -> Op:
    """One scalar if all rates are the same expression, else a stacked vector."""
    vals = [lw.num(lw.expr(n, (), path)).op for n in nodes]
    return _stack_or_one(lw, vals, "r")


def chain_flows(lw: _Lowerer, rates: Op, block: Block, prefix: str = "f") -> Op:
    """A chain's forward flows `rates * stage` (every stage but the last), kept."""
    return lw.temp(Bin("*", rates, Index(Var(lw.block_var[id(block)]), _HEAD)), prefix)


def chain_change(f: Op, *, exit_flow: bool) -> Op:
    """A chain's change from its forward flows `f`: what each stage loses and
    gains, and (when the chain has an exit) what the last stage receives."""
    parts: list[Op] = [
        Neg(Index(f, _FIRST)),
        Bin("-", Index(f, _HEAD), Index(f, _TAIL)),
    ]
    if exit_flow:
        parts.append(Index(f, _LAST))
    return Concat(tuple(parts))


def _lower_transitions(lw: _Lowerer, model: Model) -> list[tuple[Block, Op | None]]:
    terms: Terms = {id(b): [] for b in model.blocks}
    # Chains: forward flows `f` as one vector; scalar flows into the first stage or out
    # of the last one (entry, exit) join the same concatenation instead of one-hot terms.
    chain_f: dict[int, Op] = {}
    edges: dict[int, dict[int, list[tuple[str, Op]]]] = {}
    grouped = _transition_groups(lw, model)
    for td in model.transitions:
        if id(td) in grouped:
            continue
        run = td.run
        if run is not None:
            # I[i] -> I[i+1] at rate r[i]: outflow from stages 0..k-2, inflow to 1..k-1.
            if id(run.block) not in chain_f:
                lw.used_blocks.add(id(run.block))
                rates = _rate_vector(lw, list(run.rates), run.path)
                chain_f[id(run.block)] = chain_flows(lw, rates, run.block)
            continue
        scope = td.dims
        if (
            td.src is not None
            and td.reaction is None
            and any(d.name != d.axis.name for d in scope)
        ):
            # routing (`_core/routing.py`): each end's sum as reductions, so the
            # pairs' flows are never one array (a matrix product where it can be)
            for sign, tgt, _ in model.flow_ends(td):  # coefficients 1
                code, shape = _routed_end(lw, td, tgt, scope)
                terms[id(tgt.obj)].append((sign, code, shape))
            continue
        law = flow_law(lw, td)
        single = (
            _lower_single(lw, law, f"{td.path}.rate")
            if lw.reroll and not scope
            else None
        )
        rate = (
            single
            if single is not None
            else lw.num(lw.expr(law, scope, f"{td.path}.rate"))
        )
        flow = _flow_value(lw, model, td, rate, scope)
        for sign, tgt, coef in model.flow_ends(td):
            blk = tgt.obj
            if (
                coef == 1
                and blk.custom is not None
                and not flow.dims
                and not scope  # a templated transition adds once per cell of its scope
                and fixed(tgt.sels) in ((0,), (blk.size - 1,))
            ):
                edges.setdefault(id(blk), {}).setdefault(tgt.sels[0].index, []).append(  # type: ignore[union-attr]
                    (sign, flow.op)
                )
                continue
            code, shape = _place(lw, flow, tgt, scope)
            if coef != 1:  # a reaction's coefficient: so many per event
                code = Bin("*", Int(coef), code)
            terms[id(tgt.obj)].append((sign, code, shape))
    for blk in model.blocks:
        f = chain_f.get(id(blk))
        if f is None:
            continue
        ends = edges.get(id(blk), {})

        first = _signed_sum([*ends.get(0, []), ("-", Index(f, _FIRST))], lw)
        last = _signed_sum([("+", Index(f, _LAST)), *ends.get(blk.size - 1, [])], lw)
        if lw.backend_name == "numpy" and not terms[id(blk)]:
            # written straight into the output; the middle one in place
            lw.segments[id(blk)] = [
                (1, first, None),
                (blk.size - 2, None, (Index(f, _HEAD), Index(f, _TAIL))),
                (1, last, None),
            ]
            continue
        middle = Bin("-", Index(f, _HEAD), Index(f, _TAIL))
        terms[id(blk)].append(("+", Concat((first, middle, last)), blk.shape))
    return _sum_terms(lw, model, terms)


def _routed_end(
    lw: _Lowerer, td: Flow, tgt: Target, scope: tuple[Dim, ...]
) -> tuple[Op, tuple[int, ...] | None]:
    """What a routing transition's flow adds into one end: `rate * from` summed
    over the dimensions the end lacks, as a reduction of the factors that read
    them times the factors that do not (`w[loc] * sum_i G[i, j] * X[loc, i]`,
    `w[loc] * X[loc, i] * sum_j G[i, j]`), which the lowering makes a matrix
    product or a sum of the factor alone (`_lower/matvec.py`)."""
    assert td.src is not None
    used = set(along(tgt.sels))
    lacking = [d for d in scope if d.name not in used]
    names = {d.name for d in lacking}
    factors: list[Node] = []

    def flatten(n: Node) -> None:
        if isinstance(n, BinOp) and n.op == "*":
            flatten(n.left)
            flatten(n.right)
        else:
            factors.append(n)

    flatten(BinOp("*", td.rate, td.src))
    inner = [f for f in factors if _reads(f, names)]
    outer = [f for f in factors if not _reads(f, names)]
    node: Node = Num(1.0)
    if inner:
        node = functools.reduce(lambda a, b: BinOp("*", a, b), inner)
    for d in reversed(lacking):
        node = Reduce("sum_over", d.axis.name, d.name, None, node, d)
    for f in outer:
        node = BinOp("*", f, node)
    kept = tuple(d for d in scope if d.name in used)
    val = lw.num(lw.expr(node, kept, f"{td.path}.rate"))
    return _place(lw, val, tgt, kept)


def _reads(node: Node, names: set[str]) -> bool:
    """Whether a bound expression reads one of the scope dimensions `names`."""
    return any(
        isinstance(n, Read) and any(d in names for d in along(target_of(n).sels))
        for n in walk(node)
    )


def _flow_value(
    lw: _Lowerer, model: Model, td: Flow, rate: _Val, scope: tuple[Dim, ...]
) -> _Val:
    """A transition's flow over `scope`: `rate * from`, or the rate of a source
    (and a reaction's `flow_law`, the flow itself)."""
    if td.src is None:
        return _Val(lw.temp(rate.op, "f"), rate.dims) if rate.dims else rate
    src = lw.target(target_of(td.src), scope, td.path)
    return _Val(lw.temp(Bin("*", rate.op, src.op), "f"), rate.dims | src.dims)


def _end_kinds(
    model: Model,
) -> list[tuple[str, list[tuple[Flow, Node, str]]]]:
    """Scalar transitions by kind (ordinary, sources, sinks), for re-rolling: each
    kind is grouped on its own, since their flows are placed differently."""
    kinds: dict[str, list[tuple[Flow, Node, str]]] = {
        "": [],
        " sources": [],
        " sinks": [],
    }
    for td in model.transitions:
        if td.run is not None or td.dims or td.reaction is not None:
            continue
        kind = " sources" if td.src is None else " sinks" if td.dst is None else ""
        kinds[kind].append((td, td.rate, f"{td.path}.rate"))
    return [(k, v) for k, v in kinds.items() if v]


def _group_ends(model: Model, g: Group) -> tuple[list[int] | None, list[int] | None]:
    """The state indices a re-rolled group's flows leave and reach (None for a
    group of sources or of sinks)."""
    members: list[Flow] = g.members

    def cells(nodes: list[Node | None]) -> list[int] | None:
        if nodes[0] is None:
            return None
        return [_state_index(target_of(n)) for n in nodes if n is not None]

    return cells([td.src for td in members]), cells([td.dst for td in members])


def _group_flow(lw: _Lowerer, g: Group, src: list[int] | None) -> Op:
    """A re-rolled group's flow vector: its rates times its sources, or a source
    group's rates (a vector over the group even if they are all one value)."""
    rate = _lower_group(lw, g, "transitions", full=src is None)
    if src is None:
        return lw.temp(rate, "f")
    return lw.temp(Bin("*", rate, lw.gather(Var("y"), src)), "f")


def _transition_groups(lw: _Lowerer, model: Model) -> set[int]:
    """Re-roll scalar transitions of one rate shape: one flow vector per group.

    Each group's flows leave their sources and reach their targets as scatter-adds
    into the output (`lw.scatters`); NumPy and JAX only (the Array API has no
    scatter). Returns the ids of the transitions lowered here.
    """
    if not lw.reroll or lw.backend_name not in ("numpy", "jax"):
        return set()
    done: set[int] = set()
    for kind, cells in _end_kinds(model):
        make = functools.partial(group_cells, model, cells)
        for g in lw.groups(f"transitions{kind}", make):
            src, dst = _group_ends(model, g)
            # in state order, the sources and targets of per-cell flows are slices
            key = [
                (-1 if src is None else src[i], -1 if dst is None else dst[i])
                for i in range(len(g.members))
            ]
            order = sorted(range(len(key)), key=key.__getitem__)
            g.members = [g.members[i] for i in order]
            g.nodes = [g.nodes[i] for i in order]
            g.leaves = [g.leaves[i] for i in order]
            src = None if src is None else [src[i] for i in order]
            dst = None if dst is None else [dst[i] for i in order]
            flow = _group_flow(lw, g, src)
            if src is not None:
                lw.scatters.append((src, "-", flow))
            if dst is not None:
                lw.scatters.append((dst, "+", flow))
            # incidence: a counter of one of the group's flows is one more target of
            # that flow (all of them together: one scatter, a slice when in order);
            # a counter of several is their sum
            counter_cells: list[int] = []
            members: list[int] = []
            for counter in model.counters:
                counted = [
                    j for j, td in enumerate(g.members) if td in counter.transitions
                ]
                if len(counted) == 1:
                    counter_cells.append(counter.block.offset)
                    members.append(counted[0])
                elif counted:
                    # (the counter of scalar transitions has one cell: their sum)
                    part = (
                        flow
                        if len(counted) == len(g.members)
                        else lw.gather(flow, counted)
                    )
                    total = lw.temp(
                        Sum(part)
                        if lw.backend_name == "numpy"  # added into one output cell
                        else Reshape(Sum(part), (1,)),  # concatenated
                        "f",
                    )
                    lw.scatters.append(([counter.block.offset], "+", total))
            if members:
                order = sorted(range(len(members)), key=members.__getitem__)
                members = [members[i] for i in order]
                counter_cells = [counter_cells[i] for i in order]
                whole = members == list(range(len(g.members)))
                lw.scatters.append(
                    (counter_cells, "+", flow if whole else lw.gather(flow, members))
                )
            done.update(id(td) for td in g.members)
    return done


def _state_index(tgt: Target) -> int:
    """Position in `y` of a state cell resolved with fixed coordinates."""
    blk: Block = tgt.obj
    idx = fixed(tgt.sels)
    assert idx is not None
    return blk.offset + (blk.flat(idx) if idx else 0)


def _sum_terms(
    lw: _Lowerer, model: Model, terms: Terms
) -> list[tuple[Block, Op | None]]:
    """Each block's derivative: the signed sum of its flow terms, broadcast to its
    shape (None: written as output segments)."""
    out: list[tuple[Block, Op | None]] = []
    for blk in model.blocks:
        if id(blk) in lw.segments:
            out.append((blk, None))
            continue
        ts = terms[id(blk)]
        code: Op
        if not ts:
            code = Lit(0.0) if not blk.axes else Broadcast(Lit(0.0), blk.shape)
        else:
            code = _signed_sum([(sign, c) for sign, c, _ in ts], lw)
            if blk.axes:
                shapes = [sh for _, _, sh in ts if sh is not None]
                full = tuple(max(dims) for dims in zip(*shapes)) if shapes else None
                if full != blk.shape:
                    code = Broadcast(code, blk.shape)
        out.append((blk, lw.temp(code, "d")))
    return out


def _place(
    lw: _Lowerer, flow: _Val, tgt: Target, scope: tuple[Dim, ...]
) -> tuple[Op, tuple[int, ...] | None]:
    """`flow` (over `scope`) as it adds into the target block's cells, and its shape."""
    blk: Block = tgt.obj
    used = along(tgt.sels)
    if len(set(used)) != len(used):
        raise UnsupportedFeatureError(
            "Feature 'diagonal index' is not supported in transitions."
        )
    # Sum the flow over scope dimensions the target does not have; dimensions the
    # flow does not depend on contribute a factor of their size instead.
    sum_axes = tuple(
        i for i, d in enumerate(scope) if d.name not in used and d.name in flow.dims
    )
    mult = 1
    for d in scope:
        if d.name not in used and d.name not in flow.dims:
            mult *= d.size
    code = flow.op
    if not flow.dims:
        shape: tuple[int, ...] | None = None
    elif len(sum_axes) == len(flow.dims):
        code, shape = Sum(code), None
    else:
        cur = [d.size if d.name in flow.dims else 1 for d in scope]
        if sum_axes:
            code = Sum(code, sum_axes if len(sum_axes) > 1 else sum_axes[0])
            cur = [n for i, n in enumerate(cur) if i not in sum_axes]
        rest = [d for i, d in enumerate(scope) if i not in sum_axes]
        kept = [d for d in rest if d.name in used]
        shape = tuple(d.size if d.name in flow.dims else 1 for d in kept)
        if tuple(cur) != shape:
            code = Reshape(code, shape)
        perm = tuple(kept.index(next(d for d in kept if d.name == n)) for n in used)
        if perm != tuple(range(len(perm))):
            code = Permute(code, perm)
            shape = tuple(shape[p] for p in perm)
    if mult != 1:
        code = Bin("*", Int(mult), code)
    if not blk.axes:
        return code, None
    lits = [(p, s.index) for p, s in enumerate(tgt.sels) if isinstance(s, At)]
    if not lits:
        return code, shape
    # Place the flow at the target's fixed coordinates: a select against a constant
    # mask (exact zeros elsewhere, so a non-finite flow stays in its own cell).
    it = iter(shape or ())
    full = tuple(
        1 if isinstance(s, At) else (next(it) if shape is not None else 1)
        for s in tgt.sels
    )
    if shape is not None:
        code = Reshape(code, full)
    out_shape = list(full)
    for p, i in lits:
        mask_shape = [1] * len(blk.axes)
        mask_shape[p] = blk.axes[p].size
        mask = np.zeros(mask_shape, dtype=bool)
        mask.reshape(-1)[i] = True
        out_shape[p] = blk.axes[p].size
        # a scalar flow is selected against a scalar zero first (see `Where`)
        scalars = shape is None and p == lits[0][0]
        code = Where(Var(lw.const("MASK", mask)), code, Lit(0.0), scalars=scalars)
    return code, tuple(out_shape)


def _stack_or_one(lw: _Lowerer, vals: list[Op], prefix: str | None = None) -> Op:
    """One value if all of `vals` are the same, else them stacked (kept in a
    temporary when `prefix` is given)."""
    codes = [lw.code(v) for v in vals]
    if all(c == codes[0] for c in codes):
        return vals[0]
    stacked = StackScalars(tuple(vals))
    return stacked if prefix is None else lw.temp(stacked, prefix)


# -- re-rolled groups -----------------------------------------------------------------


def _gathered_flows(lw: _Lowerer, n: int, most: int = 8) -> Op | None:
    """The sum of the re-rolled flows into each state, as one padded gather.

    All flow vectors are concatenated (plus a trailing zero); state `i` reads its
    own flows at `IDX[i, :]` with signs `SIGN[i, :]`. None when a state receives
    more than `most` flows (the gather would be mostly padding).
    """
    vecs: list[Op] = []
    start: dict[str, int] = {}
    total = 0
    for idx, _, vec in lw.scatters:
        code = lw.code(vec)
        if code not in start:
            start[code] = total
            total += len(idx)
            vecs.append(vec)
    entries: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for idx, sign, vec in lw.scatters:
        first = start[lw.code(vec)]
        for j, cell in enumerate(idx):
            entries[cell].append((first + j, 1.0 if sign == "+" else -1.0))
    width = max(len(e) for e in entries)
    if width > most:
        return None
    index = np.full((n, width), total, dtype=np.int64)
    signs = np.zeros((n, width))
    for i, e in enumerate(entries):
        for k, (pos, sg) in enumerate(e):
            index[i, k], signs[i, k] = pos, sg
    flows = Concat((*vecs, Zeros((1,))))
    gathered = Reshape(Take(flows, Var(lw.const("IDX", index.reshape(-1)))), (n, width))
    return Sum(Bin("*", gathered, AsFloat(Var(lw.const("SIGN", signs)))), 1)


def _segmented_flows(
    lw: _Lowerer, spans: list[tuple[int, Op | None]], n: int, most: int = 32
) -> Op | None:
    """The output as one concatenation of segments, each a signed sum of slices.

    For re-rolled flows whose sources and targets are a few runs of consecutive
    cells (chains listed stage by stage, per-cell transitions): the state range is
    cut at every run's and every base piece's boundary, and each segment adds the
    slices of the base pieces and flows covering it. XLA fuses this into one loop
    (no gather, no scatter, no zero padding). None when there are more than
    `most` segments; the caller then gathers.
    """
    cuts = {0, n}
    # (first cell, length, sign, value); a flow of one cell may be a scalar
    terms: list[tuple[int, int, str, Op]] = []
    pos = 0
    for length, code in spans:
        if code is not None:
            terms.append((pos, length, "+", code))
        pos += length
        cuts.add(pos)
    for idx, sign, code in lw.scatters:
        runs = _runs(idx)
        if runs is None:
            return None
        for lo, hi, start in runs:
            part: Op
            if len(idx) == 1:
                part = Reshape(code, (1,))
            elif (lo, hi) == (0, len(idx)):
                part = code
            else:
                part = Index(code, (Span(lo, hi),))
            terms.append((start, hi - lo, sign, part))
            cuts.update((start, start + hi - lo))
    bounds = sorted(cuts)
    if len(bounds) - 1 > most:
        return None
    segs: list[Op] = []
    for a, b in itertools.pairwise(bounds):
        parts = [
            (
                sign,
                part
                if (a, b) == (start, start + length)
                else Index(part, (Span(a - start, b - start),)),
            )
            for start, length, sign, part in terms
            if start <= a and b <= start + length
        ]
        segs.append(_signed_sum(parts, lw) if parts else Zeros((b - a,)))
    return Concat(tuple(segs))


def _signed_sum(terms: list[tuple[str, Op]], lw: _Lowerer) -> Op:
    """`(sign, value)` terms as one sum, added terms first: `b - a`, not `(-a) + b`
    (XLA's CPU backend runs a fused negate-then-add several times slower).

    Folded left to right; the running value goes to a temporary every `_SPILL`
    terms, so that any number of terms compiles (Python's parser and compiler
    limit how deeply an expression may nest) and sums in the same order.
    """
    ordered = sorted(terms, key=lambda t: t[0] != "+")
    sign, first = ordered[0]
    out = first if sign == "+" else Neg(first)
    for i, (sign, code) in enumerate(ordered[1:], start=1):
        if i % _SPILL == 0:
            out = lw.temp(out)
        out = Bin(sign, out, code)
    return out


def _runs(idx: list[int], most: int = 4) -> list[tuple[int, int, int]] | None:
    """`idx` as at most `most` runs of consecutive cells: `(lo, hi, first cell)` each."""
    runs: list[tuple[int, int, int]] = []
    lo = 0
    for i in range(1, len(idx) + 1):
        if i == len(idx) or idx[i] != idx[i - 1] + 1:
            runs.append((lo, i, idx[lo]))
            lo = i
            if len(runs) > most:
                return None
    return runs


# -- flows as outputs -----------------------------------------------------------------


def flow_pieces(lw: _Lowerer, model: Model) -> list[tuple[list[int], Op, bool]]:
    """Every transition's flow per cell, as `(positions, code, is a vector)` pieces.

    Positions index the flows in their expanded order (`_cells.CellEvaluator.flows`,
    the order of `CompiledRhs.flow_names`); code is a scalar or a flat vector with
    one entry per position. Scalar transitions of one rate shape are one re-rolled
    vector, as in the right-hand side.
    """
    base = model.flow_starts()
    pieces: list[tuple[list[int], Op, bool]] = []
    grouped: set[int] = set()
    runs: set[int] = set()
    if lw.reroll:
        for kind, cells in _end_kinds(model):
            make = functools.partial(group_cells, model, cells)
            for g in lw.groups(f"flows{kind}", make):
                src, _ = _group_ends(model, g)
                code = (
                    lw.temp(_lower_group(lw, g, "transitions", full=True), "f")
                    if lw.per_capita
                    else _group_flow(lw, g, src)
                )
                pieces.append(([base[id(td)] for td in g.members], code, True))
                grouped.update(id(td) for td in g.members)
    for td in model.transitions:
        if id(td) in grouped:
            continue
        start = base[id(td)]
        run = td.run
        if run is not None:  # the run's flows are consecutive: all at its first
            if id(run) not in runs:
                runs.add(id(run))
                lw.used_blocks.add(id(run.block))
                rates = _rate_vector(lw, list(run.rates), run.path)
                k = len(run.rates)
                code = (
                    lw.temp(Broadcast(rates, (k,)), "f")
                    if lw.per_capita
                    else chain_flows(lw, rates, run.block)
                )
                pieces.append((list(range(start, start + k)), code, True))
            continue
        scope = td.dims
        r = lw.num(lw.expr(flow_law(lw, td), scope, f"{td.path}.rate"))
        # per capita (mode "rates"): the rate itself, a source's being its flux
        flow = r if lw.per_capita else _flow_value(lw, model, td, r, scope)
        n = math.prod(d.size for d in scope)
        code = flow.op
        if scope:
            code = lw.bcast(flow, scope)
            if len(scope) > 1:
                code = Reshape(code, (n,))
        pieces.append((list(range(start, start + n)), lw.temp(code, "f"), bool(scope)))
    return pieces
