"""`lower_model`: the whole generated function, from the parameter reads to the
output, for the right-hand side (two passes, see `_Lowerer.share`) or its jvp.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from .._core.model import AliasDef, Block, Dim, Model
from .._lang.ir import Node, to_source
from .._support.gcpause import paused_gc
from .flows import (
    _gathered_flows,
    _lower_transitions,
    _rate_vector,
    _runs,
    _segmented_flows,
    chain_change,
    flow_pieces,
)
from .groups import _lower_group, _lower_single
from .lowerer import Lowered, _Lowerer, out_index
from .ops import (
    AsArray,
    AtAdd,
    Attr,
    Bin,
    Broadcast,
    Concat,
    Const,
    Index,
    Key,
    Lit,
    Neg,
    Op,
    Reshape,
    Span,
    StackScalars,
    Take,
    Tup,
    Var,
    Where,
    Zeros,
)
from .order import _alias_deps, _alias_levels, _alias_order, check_invalid
from .recompute import drop_recomputed
from .reroll import Group, group_cells
from .stmts import (
    Assign,
    Call,
    Do,
    Function,
    If,
    Return,
    Stmt,
    Store,
    Try,
    print_function,
)
from .tangent import _Tangent

__all__ = ["lower_model"]

#: the modes that differentiate (`jvp(t, y, v, **params)`), and of them those whose
#: `v` is a batch of directions (`lower_model`)
_TANGENT = ("jvp", "jvps", "jacobian")
_BATCHED = ("jvps", "jacobian")


@paused_gc
def lower_model(
    model: Model, backend_name: str, mode: str = "rhs", *, dispatch: bool = False
) -> Lowered:
    """Generate the source of `rhs(t, y, **params)` for `model`.

    With `mode="jvp"`, generate `jvp(t, y, v, **params)`, the exact directional
    derivative `J(t, y) @ v`, by differentiating the IR (see `_Tangent`); with
    `mode="jvps"` (NumPy), the same for a batch of directions `v` of shape
    `(n_state, k)` (see `_lower/batch.py`); with `mode="jacobian"`, that batched
    program for `v` the identity (`J` itself: identity tangents are placed, not
    multiplied, see `batch.Identity`); with
    `mode="flows"`, `flows(t, y, **params)`: every transition's flow per cell, in
    the order of `_cells.flow_names` (`mode="rates"`: their per-capita rates;
    `mode="propensities"`: the flows with each reaction at its stochastic
    propensity, what the stochastic methods draw from).
    With `dispatch=True` (NumPy only), the function first hands any `y` that is
    not a NumPy array, list or scalar (a JAX array or tracer) to `_other(t, y,
    params)`; NumPy inputs pay one class check.
    """
    check_invalid(model)
    deps = _alias_deps(model)
    if mode in _TANGENT:
        tangent = _Tangent(model, backend_name)
        if mode in _BATCHED:  # a batch of directions: `v` of shape (n_state, k)
            assert backend_name == "numpy"
            tangent.batched = {"v", *tangent.tblock_var.values()}
        if mode == "jacobian":  # the directions are the identity: `J @ I`
            tangent.identity_directions()
        return _lower_pass(model, tangent, mode, dispatch, deps)
    # Two passes for common subexpressions (`_Lowerer.share`): the first counts
    # values and is the result when nothing is computed twice.
    first = _Lowerer(model, backend_name)
    first.per_capita = mode == "rates"
    first.propensities = mode == "propensities"
    first.cse = first.counting = True
    lowered = _lower_pass(model, first, mode, dispatch, deps)
    if all(n < 2 for n in first.counts.values()):
        return lowered
    second = _Lowerer(model, backend_name)
    second.per_capita = mode == "rates"
    second.propensities = mode == "propensities"
    second.cse = True
    second.counts, second.numbers = first.counts, first.numbers
    second.group_memo = first.group_memo
    return _lower_pass(model, second, mode, dispatch, deps)


def _lower_pass(
    model: Model,
    lw: _Lowerer,
    mode: str,
    dispatch: bool,
    deps: Mapping[str, frozenset[str]],
) -> Lowered:
    """One lowering of `model` by `lw` (see `lower_model`)."""
    order, cycle = _alias_order(model, deps)
    for i, blk in enumerate(model.blocks):
        lw.block_var[id(blk)] = f"s_{i}"
    for i, alias in enumerate(model.aliases.values()):
        lw.alias_var[alias.base] = f"a_{i}"

    body: list[Stmt] = []
    lw.lines = body
    tangent = mode in _TANGENT
    reroll = not tangent and cycle is None
    lw.reroll = reroll
    if cycle is None:
        # Scalar aliases of one shape and one dependency level are computed as one
        # vector (re-rolling, see `_lower/reroll.py`); the rest one by one, in order.
        _lower_aliases(lw, model, order, deps, reroll, body)
    outputs, scattered, flow_out, obs_out = _lower_values(
        lw, model, mode, order, cycle, reroll
    )
    lines, head, pnames, filled = _prologue(lw, model, mode, dispatch, cycle)
    lines.extend(body)
    if cycle is not None:
        lines.append(Return(Var("y")))
    elif mode in ("flows", "rates", "propensities"):
        lines.extend(_flow_output(lw, flow_out, lw.backend_name == "numpy"))
    elif mode == "observables":
        lines.extend(obs_out)
    elif lw.backend_name == "numpy":
        lines.extend(_numpy_output(lw, model, mode, outputs, scattered))
    else:
        lines.extend(_array_api_output(lw, model, outputs, scattered))
    args = ("t", "y", "v") if tangent else ("t", "y")
    name = "jvp" if tangent else mode
    fn = Function(name, args, tuple(lines), kwargs="params")
    fn = drop_recomputed(fn, lw.emitter)  # values built twice, in different places
    source = print_function(fn, lw.emitter)
    bound = None
    if mode != "jvp" and cycle is None:
        # `bind`'s `prep(params)` computes what needs the parameters only, once, and
        # `core(t, y, *prep(params))` the rest (`_lower/split.py`, when first bound)
        bound = (Function(name, args, fn.body[head:]), lw.emitter)
    return Lowered(source, lw.consts, pnames, cycle, filled, bound)


def _lower_aliases(
    lw: _Lowerer,
    model: Model,
    order: list[AliasDef],
    deps: Mapping[str, frozenset[str]],
    reroll: bool,
    body: list[Stmt],
) -> None:
    """The aliases' statements, in dependency order (each once per call)."""
    # Scalar aliases of one shape and one dependency level are computed as one
    # vector (re-rolling, see `_lower/reroll.py`); the rest one by one, in order.
    levels = _alias_levels(deps, order)
    groups: list[Group] = []
    if reroll:
        scalar = [
            (a, a.expr, a.path)
            for a in order
            if not a.axes and a.cells is None and a.expr is not None
        ]
        groups = lw.groups(
            "aliases", lambda: group_cells(model, scalar, lambda a: levels[a.base])
        )
    grouped = {id(a): g for g in groups for a in g.members}
    done_groups: set[int] = set()
    for alias in order:
        g = grouped.get(id(alias))
        if g is not None:
            if id(g) not in done_groups:
                done_groups.add(id(g))
                gvar = lw.tmp(_lower_group(lw, g, "aliases"), "g")
                for j, member in enumerate(g.members):
                    lw.alias_group[member.base] = (gvar, j, len(g.members))
            continue
        if alias.cells is not None:
            shape = tuple(ax.size for ax in alias.axes)
            homes = [lw.alias_group.get(to_source(c)) for c in alias.cells]
            first = homes[0]
            if first is not None and all(
                h == (first[0], j, first[2]) for j, h in enumerate(homes)
            ):
                # cells defined one by one, computed as one re-rolled group: that vector
                vec: Op = Var(first[0])
                cells = vec if len(shape) == 1 else Reshape(vec, shape)
            else:
                vals = [lw.num(lw.expr(c, (), alias.path)).op for c in alias.cells]
                cells = Reshape(StackScalars(tuple(vals), state_dtype=False), shape)
            body.append(Assign(lw.alias_var[alias.base], lw.final(cells)))
            continue
        scope = tuple(Dim(ax.name, ax) for ax in alias.axes)
        assert alias.expr is not None  # only virtual aliases (cells) have none
        v = (
            _lower_single(lw, alias.expr, alias.path)
            if reroll and not alias.axes
            else None
        )
        if v is None:
            v = lw.num(lw.expr(alias.expr, scope, alias.path))
        code = lw.final(lw.bcast(v, scope) if alias.axes else v.op)
        if not alias.axes and v.key is not None:
            lw.alias_key[alias.base] = v.key
        body.append(Assign(lw.alias_var[alias.base], code))


def _lower_values(
    lw: _Lowerer,
    model: Model,
    mode: str,
    order: list[AliasDef],
    cycle: list[str] | None,
    reroll: bool,
) -> tuple[
    list[tuple[Block, Op | None]],
    list[tuple[list[int], Op]],
    list[tuple[list[int], Op, bool]],
    list[Stmt],
]:
    """What the program returns, lowered: each block's derivative (`outputs`),
    re-rolled scalar equations (`scattered`), or the flows / observables pieces."""
    tangent = mode in _TANGENT
    outputs: list[tuple[Block, Op | None]] = []
    #: re-rolled scalar equations: (state indices, their vector)
    scattered: list[tuple[list[int], Op]] = []
    #: mode "flows": (flow positions, value, is a vector) pieces of the output
    flow_out: list[tuple[list[int], Op, bool]] = []
    obs_out: list[Stmt] = []
    if cycle is None and mode in ("flows", "rates", "propensities"):
        flow_out = flow_pieces(lw, model)
    elif cycle is None and mode == "observables":
        obs_out = _observables(lw, model, lw.backend_name == "numpy")
    elif cycle is None and tangent:
        assert isinstance(lw, _Tangent)
        lw.tangent_aliases(order)
        outputs = lw.tangent_outputs()
    elif cycle is None:
        if model.kind == "expr":
            eq_groups: list[Group] = []
            if reroll:
                scalar_eqs = [
                    (
                        eq,
                        *(
                            (eq.expr, eq.path)
                            if eq.expr is not None
                            else eq.overrides[0]
                        ),
                    )
                    for eq in model.equations
                    if not eq.block.axes and eq.run is None
                ]
                eq_groups = lw.groups(
                    "equations", lambda: group_cells(model, scalar_eqs)
                )
            in_group = {id(eq) for g in eq_groups for eq in g.members}
            for g in eq_groups:
                scattered.append(
                    (
                        [eq.block.offset for eq in g.members],
                        lw.temp(_lower_group(lw, g, "equations"), "g"),
                    )
                )
            for eq in model.equations:
                if id(eq) not in in_group:
                    outputs.append((eq.block, _lower_equation(lw, eq)))
        else:
            outputs = _lower_transitions(lw, model)

    return outputs, scattered, flow_out, obs_out


#: the most parameter names a program lists inline (`_pvec`'s argument)
_NAMES_INLINE = 64


def _prologue(
    lw: _Lowerer,
    model: Model,
    mode: str,
    dispatch: bool,
    cycle: list[str] | None,
) -> tuple[list[Stmt], int, list[str], list[str]]:
    """The function's first statements: the parameter reads (with their slow
    path), the state checks and views. Returns the statements, where the
    parameter reads start (what comes before is for the unbound function only:
    the dispatch and the alias cycle), the parameter names and those the slow
    path returns."""
    tangent = mode in _TANGENT
    numpy = lw.backend_name == "numpy"
    y, params = Var("y"), Var("params")
    lines: list[Stmt] = []
    if dispatch:
        other = Return(Call("_other", (Var("t"), y, params)))
        foreign = Bin("and", _not_ndarray(y), Call("_not_numpy", (y,)))
        lines.append(If(foreign, (other,)))
    if cycle is not None:
        lines.append(Do(Call("_alias_cycle", (Const(list(cycle)),))))
    head = len(lines)
    pnames = list(model.params)
    #: time-varying parameters read: (variable, method); their tables are read here
    #: and interpolated at `t` with the state (see `_core/timevarying.py`)
    tables: list[tuple[str, str]] = []
    if any(model.params[p].time_varying for p in pnames):
        lines.append(Assign("tg", Call("_tv_grid", (params,))))
    reads, filled = _param_reads(lw, model, tangent, tables)
    if reads:
        # Parameters: the fast path reads each by name; the slow path checks them
        # all and fills those read by name from any accepted spelling.
        targets = tuple(lw.param_var[p] for p in filled)
        fill = Assign(targets, Call("_fill_params", (params,)))
        lines.append(Try(tuple(reads), (fill,)))
    for var, names in lw.param_vectors:
        dtype = Var("_f64") if numpy else Const(None)
        # a long list of names is a constant of the program, not text to compile
        listed = (
            Const(names) if len(names) <= _NAMES_INLINE else Var(lw.const("PN", names))
        )
        lines.append(Assign(var, Call("_pvec", (params, listed, dtype))))
    lines.extend(Assign(var, code) for var, code in lw.param_cells)
    lines.extend(_state_reads(lw, model, mode, cycle, tables))
    return lines, head, pnames, filled


def _param_reads(
    lw: _Lowerer,
    model: Model,
    tangent: bool,
    tables: list[tuple[str, str]],
) -> tuple[list[Stmt], list[str]]:
    """Each parameter read by name (the fast path), and their names; `tables`
    gets the time-varying ones."""
    numpy = lw.backend_name == "numpy"
    params = Var("params")
    out: list[Stmt] = []
    names: list[str] = []
    for p in model.params:
        pd = model.params[p]
        var = lw.param_var[p]
        if not tangent and not pd.axes and p not in lw.direct_params:
            continue  # only read by re-rolled groups, through _pvec
        names.append(p)
        got = Key(params, p)
        if pd.time_varying:
            tables.append((var, pd.interpolation))
            value: Op = Call("_tv_table", (got, Const(p), Var("tg")))
        elif pd.axes and not pd.array_ok:
            # a base shared by several index signatures: expanded names only
            value = Call("_cells", (params, Const(p)))
        elif pd.axes and numpy:
            # Cheap static check (a float64 array of its shape); anything unusual
            # goes through _param_array, which checks it and names it.
            out.append(Assign(var, got))
            v = Var(var)
            f64 = Bin("is not", Attr(v, "dtype"), Var("_f64"))
            shape = Bin("!=", Attr(v, "shape"), Const(pd.shape))
            odd = Bin("or", Bin("or", _not_ndarray(v), f64), shape)
            fix = Assign(var, Call("_param_array", (v, Const(p))))
            out.append(If(odd, (fix,)))
            continue
        elif pd.axes:
            value = Call("_param_array", (got, Const(p)))
        elif numpy:
            # float64 semantics (inf/nan, not ZeroDivisionError) for Python scalars
            value = Call("_f64s", (Key(params, pd.base),))
        else:
            # checked (shape (), a number): under jax.jit, once, when traced
            value = Call("_scalar", (Key(params, pd.base), Const(p)))
        out.append(Assign(var, value))
    return out, names


def _not_ndarray(v: Var) -> Op:
    """`v.__class__ is not _ndarray`: the one class check of NumPy's fast paths."""
    return Bin("is not", Attr(v, "__class__"), Var("_ndarray"))


def _state_reads(
    lw: _Lowerer,
    model: Model,
    mode: str,
    cycle: list[str] | None,
    tables: list[tuple[str, str]],
) -> list[Stmt]:
    """The state checked, time-varying parameters interpolated at `t`, constants
    cast to the state's dtype and the views of the blocks the program reads."""
    numpy = lw.backend_name == "numpy"
    y = Var("y")
    out: list[Stmt] = []
    state = Assign("y", Call("_state", (y,)))
    if numpy:
        odd = Bin("or", _not_ndarray(y), Bin("is not", Attr(y, "dtype"), Var("_f64")))
        out.append(If(odd, (state,)))
    else:
        out.append(state)
    wrong = Bin("!=", Attr(y, "shape"), Const((model.n_state,)))
    out.append(If(wrong, (Do(Call("_bad_shape", (y,))),)))
    for var, method in tables:
        out.append(Assign(var, Call(f"_tv_{method}", (Var("t"), Var("tg"), Var(var)))))
    if not numpy:
        # float constants follow y's dtype (float32 stays float32)
        for k, v in lw.consts.items():
            if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                out.append(Assign(k, Call("_astype", (Var(f"_{k}"), Attr(y, "dtype")))))
    if numpy and lw.uses_time:
        out.append(Assign("t", Call("_f64s", (Var("t"),))))
    for i, blk in enumerate(model.blocks):
        if cycle is None and id(blk) in lw.used_blocks:
            out.append(Assign(f"s_{i}", _block_view("y", blk)))
    if mode in _TANGENT:
        out.append(Assign("v", Call("_state", (Var("v"),))))
        assert isinstance(lw, _Tangent)
        for i, blk in enumerate(model.blocks):
            if id(blk) in lw.used_tblocks:
                view = _block_view("v", blk, batch=mode in _BATCHED)
                out.append(Assign(f"ts_{i}", view))
    return out


def _numpy_output(
    lw: _Lowerer,
    model: Model,
    mode: str,
    outputs: list[tuple[Block, Op | None]],
    scattered: list[tuple[list[int], Op]],
) -> list[Stmt]:
    """NumPy: each block written into one preallocated output (no concatenations)."""
    lines: list[Stmt] = [
        Assign("out", Call("_empty", (_out_shape(model, mode in _BATCHED),)))
    ]

    def bx(op: Op) -> Op:
        """With a batch of directions, an output without one gets its axis."""
        op = lw.final(op)
        code = lw.emitter.text(op)
        if lw.batched is None or code == "0.0" or lw.reads_batch(code):
            return op
        return Call("_bex", (op,))

    for idx, vec in scattered:
        lines.append(Store("out", out_index(lw, idx), lw.final(vec)))
    zero_run: list[int] = []  # consecutive scalar states with no term: one slice write

    def flush_zeros() -> None:
        if zero_run:
            where = zero_run[0] if len(zero_run) == 1 else _span(zero_run)
            lines.append(Store("out", where, Lit(0.0)))
            zero_run.clear()

    for blk, code in outputs:
        start, stop = blk.offset, blk.offset + blk.size
        segments = lw.segments.get(id(blk))
        if not blk.axes and _is_zero(lw, code) and segments is None:
            if zero_run and zero_run[-1] != start - 1:
                flush_zeros()
            zero_run.append(start)
            continue
        flush_zeros()
        if segments is not None:
            pos = start
            for length, seg, in_place in segments:
                where = Span(pos, pos + length)
                if length and in_place is not None:
                    a, b = (bx(x) for x in in_place)
                    into = Index(Var("out"), (where,))
                    lines.append(Do(Call("_subtract", (a, b), (("out", into),))))
                elif length and seg is not None:
                    lines.append(Store("out", where, bx(seg)))
                pos += length
            continue
        assert code is not None
        if not blk.axes:
            lines.append(Store("out", start, bx(code)))
        else:
            size = (blk.size, -1) if mode in _BATCHED else (blk.size,)
            flat = bx(code) if len(blk.axes) == 1 else Reshape(bx(code), size)
            lines.append(Store("out", Span(start, stop), flat))
    flush_zeros()
    for idx, vec in lw.overwrites:  # re-rolled per-cell overrides
        lines.append(Store("out", out_index(lw, idx), lw.final(vec)))
    lines.extend(_scatters(lw))
    lines.append(Return(Var("out")))
    return lines


def _out_shape(model: Model, batch: bool) -> Op:
    """The shape of the output: the state's, with a batch of tangents' axis."""
    if not batch:
        return Const(model.n_state)
    return Tup((Const(model.n_state), Index(Attr(Var("v"), "shape"), (1,))))


def _span(run: list[int]) -> Span:
    return Span(run[0], run[-1] + 1)


def _is_zero(lw: _Lowerer, op: Op | None) -> bool:
    return op is not None and lw.code(op) == "0.0"


def _scatters(lw: _Lowerer) -> list[Stmt]:
    """NumPy: re-rolled flows added into the output in place."""
    lines: list[Stmt] = []
    for idx, sign, vec in lw.scatters:
        aug: Literal["+", "-"] = "+" if sign == "+" else "-"
        runs = _runs(idx)
        if runs is not None:  # a few slices: in-place slice updates
            for lo, hi, start in runs:
                part = vec if (lo, hi) == (0, len(idx)) else Index(vec, (Span(lo, hi),))
                where = Span(start, start + hi - lo)
                lines.append(Store("out", where, lw.final(part), aug))
        elif len(set(idx)) == len(idx):  # distinct cells: an in-place fancy update
            lines.append(Store("out", out_index(lw, idx), lw.final(vec), aug))
        else:  # repeated cells accumulate
            at = "_add_at" if sign == "+" else "_subtract_at"
            args = (Var("out"), _index_op(lw, idx), lw.final(vec))
            lines.append(Do(Call(at, args)))
    return lines


def _index_op(lw: _Lowerer, idx: list[int]) -> Op:
    """Positions `idx` as an argument of a call: an index array, or a literal."""
    got = out_index(lw, idx)
    assert isinstance(got, Op)  # repeated cells are never a slice or one cell
    return got


def _array_api_output(
    lw: _Lowerer,
    model: Model,
    outputs: list[tuple[Block, Op | None]],
    scattered: list[tuple[list[int], Op]],
) -> list[Stmt]:
    """The Array API (JAX): the output as one concatenation of the blocks, then
    re-rolled flows added (segments, one gather, or `.at[].add`)."""
    lines: list[Stmt] = []
    pieces: list[tuple[Op, bool]] = []  # (value, is a fresh array)
    spans: list[tuple[int, Op | None]] = []  # (length, value; None for zeros)
    run: list[Op] = []
    positions: list[int] = []  # state index of each entry of the concatenation
    for idx, vec in scattered:
        pieces.append((vec, False))
        spans.append((len(idx), vec))
        positions.extend(idx)
    zeros = 0  # consecutive scalar states with no term: one zeros piece

    def flush() -> None:
        nonlocal run, zeros
        if run:
            stacked = StackScalars(tuple(run))
            pieces.append((stacked, True))
            spans.append((len(run), stacked))
            run = []
        if zeros:
            pieces.append((Zeros((zeros,)), True))
            spans.append((zeros, None))
            zeros = 0

    for blk, var in outputs:
        assert var is not None  # segments are NumPy's
        positions.extend(range(blk.offset, blk.offset + blk.size))
        if blk.axes:
            flush()
            whole: Op = var
            if len(blk.axes) > 1:
                whole = Reshape(whole, (blk.size,))
            pieces.append((whole, False))
            spans.append((blk.size, whole))
        elif _is_zero(lw, var):
            if run:
                flush()
            zeros += 1
        else:
            if zeros:
                flush()
            run.append(var)
    flush()
    in_order = positions == list(range(model.n_state))
    segmented = (
        _segmented_flows(lw, spans, model.n_state) if lw.scatters and in_order else None
    )
    result: Op
    if segmented is not None:
        result = segmented
    elif len(pieces) == 1 and not scattered:
        vec, fresh = pieces[0]
        result = vec if fresh else Call("_as_out", (vec, Attr(Var("y"), "dtype")))
    elif in_order:
        result = Concat(tuple(c for c, _ in pieces))
    else:
        # re-rolled equations come first: put every entry back at its state's place
        perm = lw.const(
            "PERM", np.argsort(np.asarray(positions, dtype=np.int64), kind="stable")
        )
        result = Take(Concat(tuple(c for c, _ in pieces)), Var(perm))
    if lw.scatters and segmented is None:
        out = Var("out")
        lines.append(Assign("out", lw.final(result)))
        gathered = _gathered_flows(lw, model.n_state)
        if gathered is not None:
            # every state's flows gathered from one vector and summed: XLA fuses
            # gathers, where scatters (`.at[].add`) run one by one
            lines.append(Assign("out", Bin("+", out, lw.final(gathered))))
        else:
            for idx, sign, vec in lw.scatters:
                add = lw.final(vec) if sign == "+" else Neg(lw.final(vec))
                lines.append(Assign("out", AtAdd(out, out_index(lw, idx), add)))
        result = out
    lines.append(Return(lw.final(result)))
    return lines


def _flow_output(
    lw: _Lowerer,
    pieces: list[tuple[list[int], Op, bool]],
    numpy: bool,
    into: str | None = None,
) -> list[Stmt]:
    """The statements returning the flow vector from its pieces (or assigning it
    to the variable `into`)."""
    n = sum(len(pos) for pos, _, _ in pieces)
    var = into or "out"
    done: list[Stmt] = [] if into else [Return(Var("out"))]
    if numpy:
        lines: list[Stmt] = [Assign(var, Call("_empty", (Const(n),)))]
        for pos, code, vector in pieces:
            where = out_index(lw, pos)
            if vector and len(pos) == 1:
                where = Span(pos[0], pos[0] + 1)
            lines.append(Store(var, where, lw.final(code)))
        return [*lines, *done]
    result: Op
    if not pieces:
        result = Zeros((0,))
    else:
        parts = [
            code if vector else Reshape(AsArray(code), (1,))
            for _, code, vector in pieces
        ]
        order = [p for pos, _, _ in pieces for p in pos]
        result = Concat(tuple(parts))
        if order != list(range(n)):  # re-rolled flows come first: put each in its place
            perm = np.argsort(np.asarray(order, dtype=np.int64), kind="stable")
            result = Take(result, Var(lw.const("PERM", perm)))
    result = lw.final(result)
    return [Assign(into, result)] if into else [Return(result)]


def _observables(lw: _Lowerer, model: Model, numpy: bool) -> list[Stmt]:
    """Lower every observable (see `_core/observables.py`); return the output statements.

    The flows are computed first, as `flows()` computes them, when an observable
    reads one; each named transition's flows are then a view of that vector.
    """
    from .._core.observables import names_in

    read = set().union(*(names_in(o.expr) for o in model.observables if o.expr))
    if read & set(model.flow_blocks):
        flows = flow_pieces(lw, model)
        lw.lines.extend(_flow_output(lw, flows, numpy, into="F"))
        for i, fb in enumerate(model.flow_blocks.values()):
            lw.block_var[id(fb)] = f"fb_{i}"
            lw.lines.append(Assign(f"fb_{i}", _block_view("F", fb)))
    # the observables' cells as output pieces, assembled as `flows()` assembles flows
    pieces: list[tuple[list[int], Op, bool]] = []
    pos = 0
    for o in model.observables:
        assert o.expr is not None
        scope = tuple(Dim(ax.name, ax) for ax in o.axes)
        v = lw.num(lw.expr(o.expr, scope, o.path))
        size = math.prod(ax.size for ax in o.axes)
        code = v.op if not o.axes else lw.bcast(v, scope)
        if len(o.axes) > 1:
            code = Reshape(code, (size,))
        pieces.append((list(range(pos, pos + size)), lw.temp(code, "o"), bool(o.axes)))
        pos += size
    return _flow_output(lw, pieces, numpy)


def _block_view(vec: str, blk: Block, *, batch: bool = False) -> Op:
    """One block of a state-shaped vector: a scalar, or a view of its axes' shape
    (with a trailing batch axis when `vec` is a batch of vectors)."""
    if not blk.axes:
        return Index(Var(vec), (blk.offset,))
    sl = Index(Var(vec), (Span(blk.offset, blk.offset + blk.size),))
    shape = (*blk.shape, -1) if batch else blk.shape
    return Reshape(sl, shape) if len(blk.axes) > 1 else sl


def _lower_equation(lw: _Lowerer, eq: Any) -> Op:
    blk: Block = eq.block
    scope = tuple(Dim(ax.name, ax) for ax in blk.axes)
    if eq.run is not None:
        # Stage i: (r[i-1]) * I[i-1] - (r_out[i]) * I[i]; vectorized as shifted slices.
        lw.used_blocks.add(id(blk))
        rates = _rate_vector(lw, list(eq.run.rates), eq.path)
        f = lw.temp(Bin("*", rates, Var(lw.block_var[id(blk)])), "f")
        code = chain_change(f, exit_flow=not eq.run.outflow)
        return lw.temp(_overridden(lw, blk, code, eq.array_overrides), "d")
    if not blk.axes:
        node, path = (eq.expr, eq.path) if eq.expr is not None else eq.overrides[0]
        single = _lower_single(lw, node, path) if lw.reroll else None
        v = single if single is not None else lw.num(lw.expr(node, (), path))
        return lw.temp(v.op, "d")
    if eq.expr is not None:
        v = lw.num(lw.expr(eq.expr, scope, eq.path))
        code = lw.bcast(v, scope)
    else:
        code = Broadcast(Lit(0.0), blk.shape)
    return lw.temp(_overridden(lw, blk, code, eq.array_overrides), "d")


def _overridden(
    lw: _Lowerer, blk: Block, code: Op, overrides: dict[int, tuple[Node, str]]
) -> Op:
    """`code` (the block's template) with its per-cell overrides in place.

    Overrides of one expression shape are re-rolled: one vector of their values,
    which NumPy writes over the block's cells in the output (`lw.overwrites`)
    and other namespaces gather into the block's shape and select with one
    mask. The others get a mask each.
    """
    items = sorted(overrides.items())
    groups: list[Group] = []
    singles = [flat for flat, _ in items]
    if lw.reroll and len(items) > 1:
        cells = [(flat, node, path) for flat, (node, path) in items]
        groups = lw.groups(f"overrides {blk.offset}", lambda: group_cells(lw.m, cells))
        grouped = {m for g in groups for m in g.members}
        singles = [flat for flat in singles if flat not in grouped]

    def mask_of(cells: list[int]) -> Op:
        mask = np.zeros(blk.size, dtype=bool)
        mask[cells] = True
        return Var(lw.const("MASK", mask.reshape(blk.shape)))

    for g in groups:
        vec = _lower_group(lw, g, "equations")
        if lw.backend_name == "numpy":
            lw.overwrites.append(([blk.offset + m for m in g.members], vec))
            continue
        pos = np.zeros(blk.size, dtype=np.int64)
        pos[g.members] = np.arange(len(g.members))
        placed: Op = Take(vec, Var(lw.const("IDX", pos)))
        if len(blk.shape) > 1:
            placed = Reshape(placed, blk.shape)
        code = Where(mask_of(g.members), placed, code)
    for flat in singles:
        node, path = overrides[flat]
        ov = lw.num(lw.expr(node, (), path))
        code = Where(mask_of([flat]), ov.op, code)
    return code
