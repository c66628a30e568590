"""Values computed twice: a common-subexpression pass over a generated function.

The lowering shares common subexpressions by value numbering while it builds
values (`_Lowerer.share`), where it knows each value's scope. The same value
can still be assigned to two variables, built in different places: `t / 100.0`
read by a template and by a scalar equation, or one product in several terms
of a tangent. This pass, over the statements, keeps the first: a top-level
assignment whose value prints as an earlier one's, and reads the same
variables, none written since, is dropped, and its variable is renamed to the
earlier one's in every later statement.

Only pure values are merged (array ops: no runtime helper call, which may
allocate or raise), into and from variables assigned once whose arrays are
never written in place or returned.

>>> from op_system._lower.ops import NUMPY, Bin, Lit, Var
>>> from op_system._lower.stmts import Assign, Function, Return, print_function
>>> f = Function("rhs", ("t", "y"), (
...     Assign("a", Bin("/", Var("t"), Lit(100.0))),
...     Assign("b", Bin("/", Var("t"), Lit(100.0))),
...     Return(Bin("*", Var("a"), Var("b")))))
>>> print(print_function(drop_recomputed(f, NUMPY), NUMPY))
def rhs(t, y):
    a = (t / 100.0)
    return (a * a)
<BLANKLINE>
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping

from .dataflow import Memo, assignments, flat, mutated, op_fields, op_vars, reads
from .ops import Emitter, Op, Var
from .stmts import Assign, Call, Do, Function, If, Return, Stmt, Store, Try

__all__ = ["drop_recomputed"]


def drop_recomputed(fn: Function, emitter: Emitter) -> Function:
    """`fn` without assignments of values computed before (see the module doc)."""
    texts = Counter(
        emitter.text(s.value)
        for s in fn.body
        if isinstance(s, Assign) and isinstance(s.target, str)
    )
    if all(n < 2 for n in texts.values()):  # most programs: nothing to look at
        return fn  # (renaming merges only values that print the same before it)
    memo: Memo = {}
    # each assignment once (`writes` of an `if` already holds its body's)
    assigned = Counter(v for s in fn.body for v in assignments(s))
    fixed = mutated(fn.body, memo) | set(fn.args)
    version: Counter[str] = Counter()  # bumped at each write of a variable
    seen: dict[tuple[str, tuple[tuple[str, int], ...]], str] = {}
    rename: dict[str, str] = {}
    body: list[Stmt] = []
    for s in fn.body:
        if rename:
            s = _rename_stmt(s, rename, memo)
        if (
            isinstance(s, Assign)
            and isinstance(s.target, str)
            and assigned[s.target] == 1
            and s.target not in fixed
            and _pure(s.value)
        ):
            state = tuple(sorted((v, version[v]) for v in op_vars(s.value, memo)))
            key = (emitter.text(s.value), state)
            first = seen.get(key)
            if first is not None:
                rename[s.target] = first
                continue
            seen[key] = s.target
        body.append(s)
        version.update(assignments(s))
        for st in flat(s):
            if isinstance(st, Store):
                version[st.target] += 1
            elif isinstance(st, Do):  # a helper may write into what it is given
                version.update(reads(st, memo))
    if not rename:
        return fn
    return dataclasses.replace(fn, body=tuple(body))


def _pure(op: object) -> bool:
    """Whether an op tree calls no runtime helper (array ops only)."""
    if isinstance(op, Call):
        return False
    if isinstance(op, tuple):
        return all(_pure(x) for x in op)
    if not isinstance(op, Op):
        return True
    return all(_pure(getattr(op, name)) for name in op_fields(type(op)))


def _rename(op: object, names: Mapping[str, str], memo: Memo) -> object:
    """`op` with the variables in `names` renamed (the same node if none is read)."""
    if isinstance(op, Var):
        return Var(names[op.name]) if op.name in names else op
    if isinstance(op, tuple):
        parts = tuple(_rename(x, names, memo) for x in op)
        return op if all(a is b for a, b in zip(parts, op)) else parts
    if not isinstance(op, Op) or not op_vars(op, memo) & names.keys():
        return op
    changed = {}
    for f in dataclasses.fields(op):
        if f.init:
            old = getattr(op, f.name)
            new = _rename(old, names, memo)
            if new is not old:
                changed[f.name] = new
    return dataclasses.replace(op, **changed)


def _rename_op(op: Op, names: Mapping[str, str], memo: Memo) -> Op:
    got = _rename(op, names, memo)
    assert isinstance(got, Op)
    return got


def _rename_stmt(s: Stmt, names: Mapping[str, str], memo: Memo) -> Stmt:
    match s:
        case Assign(target, value):
            return Assign(target, _rename_op(value, names, memo))
        case Store(target, index, value, aug):
            idx = _rename_op(index, names, memo) if isinstance(index, Op) else index
            return Store(target, idx, _rename_op(value, names, memo), aug)
        case Do(call):
            got = _rename_op(call, names, memo)
            assert isinstance(got, Call)
            return Do(got)
        case Return(value):
            return Return(_rename_op(value, names, memo))
        case If(cond, body):
            inner = tuple(_rename_stmt(b, names, memo) for b in body)
            return If(_rename_op(cond, names, memo), inner)
        case Try(body, handler):
            return Try(
                tuple(_rename_stmt(b, names, memo) for b in body),
                tuple(_rename_stmt(b, names, memo) for b in handler),
            )
        case Function():  # pragma: no cover - no nested functions are generated
            raise TypeError("a nested function is not renamed here")
