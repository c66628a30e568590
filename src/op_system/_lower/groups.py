"""Re-rolled groups lowered as vectors (see `_lower/reroll.py`).

Scalar cells of one expression shape (a flat per-cell spec's aliases, equations
and rates) are lowered once: each leaf position becomes a vector gathered from
the state, the parameters (`_pvec`) or earlier groups, and products over a
group's index become one matrix product. `_lower_single` lowers one scalar
expression the same way when that is cheaper.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from .._core.model import Dim
from .._lang.ir import BinOp, Node
from .lowerer import _drop_last, _Lowerer, _read_once
from .ops import (
    AsFloat,
    Bin,
    Index,
    Lit,
    Matmul,
    Op,
    Reshape,
    StackScalars,
    Sum,
    Var,
)
from .reroll import Group, IsoSum, Leaf, shape_key, synthetic_dim
from .values import _Val

__all__ = ["_lower_group", "_lower_single"]


def _leaf_values(lw: _Lowerer, leaves: list[Leaf], path: str) -> Op:
    """The vector of `leaves` (all of one kind), in order."""
    kind = leaves[0].kind
    if kind == "state":
        return lw.gather(Var("y"), [cast("int", x.ref) for x in leaves])
    if kind == "alias":
        homes = [lw.alias_group.get(str(x.ref)) for x in leaves]
        if all(h is not None for h in homes) and len({h[0] for h in homes if h}) == 1:
            gvar, _, size = homes[0]  # type: ignore[misc]
            pos = [h[1] for h in homes if h]
            return Var(gvar) if pos == list(range(size)) else lw.gather(Var(gvar), pos)
        return StackScalars(tuple(lw.alias_value(str(x.ref)) for x in leaves))
    if kind == "pcell":
        # cells of one indexed parameter (the shape key keeps one per column),
        # gathered with the parameters (once per `bind`)
        key = cast("tuple[str, int]", leaves[0].ref)[0]
        lw.direct_params.add(key)
        size = int(np.prod(lw.m.params[key].shape))
        flat = Reshape(Var(lw.param_var[key]), (size,))
        code = lw.gather(flat, [cast("tuple[str, int]", x.ref)[1] for x in leaves])
        if lw.m.params[key].time_varying:
            return code  # the value at `t`: gathered at every call
        return Var(_read_once(lw.param_cells, lw.final(code), "pc"))
    if any(lw.m.params[str(x.ref)].time_varying for x in leaves):
        # values at `t`, read through their own variables at every call
        keys = [str(x.ref) for x in leaves]
        lw.direct_params.update(keys)
        return StackScalars(tuple(Var(lw.param_var[k]) for k in keys))
    names = tuple(lw.m.params[str(x.ref)].base for x in leaves)
    var = Var(lw.param_vector(names))
    return var if lw.backend_name == "numpy" else AsFloat(var)


def _leaf_grid(
    lw: _Lowerer, grid: list[list[Leaf]], dims: tuple[Dim, ...], path: str
) -> _Val:
    """One leaf position over a group (`dims` = (cells,)) or over (cells, terms).

    A leaf that is the same everywhere stays a scalar; one that varies along one
    dimension only is a vector over it (size 1 along the other).
    """
    # the same gather in another group (other dimension names) reuses its temporary
    key = (len(dims), tuple((x.kind, x.ref) for row in grid for x in row), len(grid))
    hit = lw.gather_cache.get(key)
    if hit is None:
        v = _leaf_grid_new(lw, grid, dims, path)
        lw.gather_cache[key] = hit = _Val(
            v.op,
            frozenset(str(i) for i, d in enumerate(dims) if d.name in v.dims),
            v.kind,
            v.const,
        )
    return _Val(
        hit.op, frozenset(dims[int(i)].name for i in hit.dims), hit.kind, hit.const
    )


def _leaf_grid_new(
    lw: _Lowerer, grid: list[list[Leaf]], dims: tuple[Dim, ...], path: str
) -> _Val:
    rows, cols = len(grid), len(grid[0])
    first = grid[0][0]

    def same(a: Leaf, b: Leaf) -> bool:
        return a.kind == b.kind and a.ref == b.ref

    if all(same(x, first) for row in grid for x in row):
        saved, lw.hooks = lw.hooks, None
        v = lw.num(lw.expr(first.node, (), path))
        lw.hooks = saved
        return v
    by_row = all(same(x, row[0]) for row in grid for x in row)
    by_col = all(same(grid[r][c], grid[0][c]) for r in range(rows) for c in range(cols))
    if len(dims) == 1:
        return _Val(
            lw.temp(_leaf_values(lw, [row[0] for row in grid], path), "l"),
            frozenset({dims[0].name}),
        )
    if by_row:
        code = _leaf_values(lw, [row[0] for row in grid], path)
        return _Val(lw.temp(Reshape(code, (rows, 1)), "l"), frozenset({dims[0].name}))
    if by_col:
        code = _leaf_values(lw, list(grid[0]), path)
        return _Val(lw.temp(Reshape(code, (1, cols)), "l"), frozenset({dims[1].name}))
    code = _leaf_values(lw, [x for row in grid for x in row], path)
    return _Val(
        lw.temp(Reshape(code, (rows, cols)), "l"), frozenset(d.name for d in dims)
    )


def _lower_single(lw: _Lowerer, node: Node, path: str) -> _Val | None:
    """A scalar cell holding a long sum of isomorphic terms: that sum gathered (else None)."""
    got = shape_key(lw.m, node, path)
    if got is None or not any(isinstance(x, IsoSum) for x in got[1]):
        return None
    hooks: dict[int, _Val] = {}
    for pos, item in enumerate(got[1]):
        if not isinstance(item, IsoSum):
            continue  # a plain leaf: resolved as usual
        m = len(item.terms)
        tdim = synthetic_dim(f"_t{lw.n_group}_{pos}", m)
        lw.n_group += 1
        inner_hooks = {
            id(term_leaf.node): _leaf_grid(
                lw, [[item.terms[j][q]] for j in range(m)], (tdim,), path
            )
            for q, term_leaf in enumerate(item.terms[0])
        }
        saved, lw.hooks = lw.hooks, inner_hooks
        body = lw.num(lw.expr(item.operands[0], (tdim,), path))
        lw.hooks = saved
        code = (
            Sum(body.op) if tdim.name in body.dims else Bin("*", Lit(float(m)), body.op)
        )
        hooks[id(item.node)] = _Val(lw.temp(code, "l"), frozenset())
    saved, lw.hooks = lw.hooks, hooks
    v = lw.num(lw.expr(node, (), path))
    lw.hooks = saved
    return v


def _lower_group(lw: _Lowerer, g: Group, what: str, *, full: bool = True) -> Op:
    """The vector of a group's values (one per member), lowered once.

    With `full=False` a value that is the same for every member stays a scalar
    (for a product with a vector, which broadcasts anyway).
    """
    k = len(g.members)
    n = lw.n_group
    lw.n_group += 1
    gdim = synthetic_dim(f"_g{n}", k)
    scope = (gdim,)
    path = f"{what} (re-rolled group of {k})"
    hooks: dict[int, _Val] = {}
    for pos, item in enumerate(g.leaves[0]):
        if isinstance(item, Leaf):
            # the cells are isomorphic: every cell has a Leaf at `pos`
            column = cast("list[list[Leaf]]", [[g.leaves[c][pos]] for c in range(k)])
            hooks[id(item.node)] = _leaf_grid(lw, column, scope, path)
            continue
        m = len(item.terms)
        tdim = synthetic_dim(f"_t{n}_{pos}", m)
        inner = (gdim, tdim)
        inner_hooks: dict[int, _Val] = {}
        for q, term_leaf in enumerate(item.terms[0]):
            grid = [[g.leaves[c][pos].terms[j][q] for j in range(m)] for c in range(k)]  # type: ignore[union-attr]
            inner_hooks[id(term_leaf.node)] = _leaf_grid(lw, grid, inner, path)
        saved, lw.hooks = lw.hooks, inner_hooks
        mv = _iso_matvec(lw, item.operands[0], inner, scope, path)
        if mv is not None:
            lw.hooks = saved
            hooks[id(item.node)] = mv
            continue
        body = lw.num(lw.expr(item.operands[0], inner, path))
        lw.hooks = saved
        code: Op
        if tdim.name in body.dims:
            code = Sum(body.op, 1)
            if gdim.name not in body.dims:
                code = Index(code, (0,))
        else:
            code = Bin("*", Lit(float(m)), _drop_last(body, inner, scope))
        hooks[id(item.node)] = _Val(lw.temp(code, "l"), body.dims - {tdim.name})
    lw.hooks = hooks
    v = lw.num(lw.expr(g.nodes[0], scope, path))
    lw.hooks = None
    return lw.bcast(v, scope) if full else v.op


def _iso_matvec(
    lw: _Lowerer, term: Node, inner: tuple[Dim, ...], scope: tuple[Dim, ...], path: str
) -> _Val | None:
    """`Σ_j F[i, j] * v[j] * g[i]` as a matrix-vector product, when the term allows it.

    The term's product/quotient factors are sorted by the dimensions they vary
    along: exactly one (in a numerator) over both cells and terms, the others
    over terms only, cells only, or neither.
    """
    gname, tname = inner[0].name, inner[1].name
    factors: list[tuple[Node, bool]] = []

    def flatten(n: Node, inv: bool) -> None:
        if isinstance(n, BinOp) and n.op in ("*", "/"):
            flatten(n.left, inv)
            flatten(n.right, inv if n.op == "*" else not inv)
        else:
            factors.append((n, inv))

    flatten(term, False)
    vals = [(lw.num(lw.expr(f, inner, path)), inv) for f, inv in factors]
    both = [(v, inv) for v, inv in vals if v.dims == {gname, tname}]
    if len(both) != 1 or both[0][1]:
        return None
    over_t = [(v, inv) for v, inv in vals if v.dims == {tname}]
    if not over_t:
        return None
    rest = [(v, inv) for v, inv in vals if len(v.dims) < 2 and tname not in v.dims]
    m = inner[1].size
    first = over_t[0][0].op
    vec = first if not over_t[0][1] else Bin("/", Lit(1.0), first)
    for v, inv in over_t[1:]:
        vec = Bin("/" if inv else "*", vec, v.op)
    code: Op = Matmul(both[0][0].op, Reshape(vec, (m,)))
    dims = frozenset({gname})
    for v, inv in rest:
        code = Bin("/" if inv else "*", code, _drop_last(v, inner, scope))
    return _Val(lw.temp(code, "l"), dims)
