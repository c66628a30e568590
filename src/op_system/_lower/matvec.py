"""Reductions as matrix products: `sum_over(j, C[a, j] * I[b, j])` as `C @ I.T`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.model import Dim
from .._lang.ir import (
    BinOp,
    Node,
)
from .ops import (
    Bin,
    Matmul,
    Op,
    Permute,
    Reshape,
)
from .values import _reshape, _shape, _Val

if TYPE_CHECKING:
    from .lowerer import _Lowerer

__all__ = ["matvec"]


def matvec(
    lw: _Lowerer, body: Node, scope: tuple[Dim, ...], dim: Dim, path: str
) -> _Val | None:
    """`sum_over(j, L[a.., j] * R[b.., j] * u)` as a matrix product `L @ R.T`, if it has that form.

    The factors that depend on `j` must fall into two groups (equal dimensions
    within a group) whose other dimensions are disjoint, e.g. a contact matrix
    `C[age, j]` and a state `I[region, j]`. Factors that do not depend on `j`
    multiply the result.
    """
    factors: list[tuple[Node, bool]] = []  # (node, is_divisor)

    def flatten(n: Node, div: bool) -> None:
        if isinstance(n, BinOp) and n.op == "*":
            flatten(n.left, div)
            flatten(n.right, div)
        elif isinstance(n, BinOp) and n.op == "/" and not div:
            flatten(n.left, div)
            flatten(n.right, True)
        else:
            factors.append((n, div))

    flatten(body, False)
    if len(factors) < 2:
        return None
    inner = (*scope, dim)
    vals = [(lw.num(lw.expr(n, inner, path)), div) for n, div in factors]
    groups: dict[frozenset[str], list[tuple[_Val, bool]]] = {}
    other = []
    for v, d in vals:
        if dim.name in v.dims:
            groups.setdefault(v.dims, []).append((v, d))
        else:
            other.append((v, d))
    if len(groups) != 2:
        return None
    (dims1, g1), (dims2, g2) = groups.items()
    a_dims, b_dims = dims1 - {dim.name}, dims2 - {dim.name}
    if (
        a_dims & b_dims
        or not (a_dims or b_dims)
        or all(d for _, d in g1)
        or all(d for _, d in g2)
    ):
        return None
    pos = {d.name: i for i, d in enumerate(scope)}
    n_in = dim.size

    def group_code(
        group: list[tuple[_Val, bool]], outer: frozenset[str]
    ) -> tuple[Op, list[str]]:
        group = sorted(group, key=lambda vd: vd[1])  # multiplications first
        code = group[0][0].op
        for v, d in group[1:]:
            code = Bin("/" if d else "*", code, v.op)
        names = sorted(outer, key=lambda n: pos[n])
        n_out = 1
        for n in names:
            n_out *= scope[pos[n]].size
        rep = group[0][0] if len(group) == 1 else _Val(code, outer | {dim.name})
        shape = (n_out, n_in) if names else (n_in,)
        return _reshape(rep, _shape(rep, inner), shape), names

    left, left_names = group_code(g1, a_dims)
    right, right_names = group_code(g2, b_dims)
    # Order the operands so that the result's axes follow the scope where possible.
    if left_names and right_names and pos[right_names[0]] < pos[left_names[0]]:
        left, right, left_names, right_names = right, left, right_names, left_names
    code: Op
    if left_names and right_names:
        code = Matmul(left, Permute(right, (1, 0)))
    elif left_names:
        code = Matmul(left, right)
    else:
        code = Matmul(right, left)
        left_names, right_names = right_names, left_names
    names = left_names + right_names
    sizes = tuple(scope[pos[n]].size for n in names)
    if len(left_names) > 1 or len(right_names) > 1:
        code = Reshape(code, sizes)
    order = sorted(range(len(names)), key=lambda i: pos[names[i]])
    if order != list(range(len(names))):
        code = Permute(code, tuple(order))
    names = [names[i] for i in order]
    full = tuple(
        scope[pos[n]].size if n in names else 1 for n in (d.name for d in scope)
    )
    if tuple(scope[pos[n]].size for n in names) != full:
        code = Reshape(code, full)
    dims = frozenset(names)
    for v, d in other:
        # lowered in the loop's scope (a trailing 1 for `dim`): the product is in
        # the enclosing scope's shape
        outer = _shape(v, scope)
        op = v.op if outer is None else _reshape(v, _shape(v, inner), outer)
        code = Bin("/" if d else "*", code, op)
        dims |= v.dims
    return _Val(code, dims, "num")
