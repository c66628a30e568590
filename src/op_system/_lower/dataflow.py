"""Data flow of generated statements: what each reads and writes.

The passes over a generated function (`split.py`, `recompute.py`) read its
statements' data flow here. A variable an op tree reads is a `Var` in it, or
one its printed text names besides its operands (`ops.implicit_reads`: the
state's dtype is written `y.dtype`); `tests/lower/test_prep_split.py` checks
the passes against the printed programs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from .ops import Op, Tup, Var, implicit_reads
from .stmts import Assign, Do, Function, If, Return, Stmt, Store, Try

__all__ = [
    "Memo",
    "assignments",
    "flat",
    "mutated",
    "nested",
    "only_assigns",
    "op_fields",
    "op_vars",
    "reads",
    "stmt_ops",
    "writes",
    "writes_all",
]


#: `op_vars`'s memo: the variables of each op node by `id`, with the node itself
#: (kept alive, so that its `id` is not reused while the memo is)
Memo = dict[int, tuple[object, frozenset[str]]]


_NONE: frozenset[str] = frozenset()
_FIELDS: dict[type, tuple[str, ...]] = {}


def op_fields(cls: type) -> tuple[str, ...]:
    """The fields of an op class that may hold operands (cached per class)."""
    got = _FIELDS.get(cls)
    if got is None:
        fields = dataclasses.fields(cls)
        got = _FIELDS[cls] = tuple(f.name for f in fields if f.name != "_memo")
    return got


def op_vars(op: object, memo: Memo) -> frozenset[str]:
    """The variables an op tree reads (memoized per node: trees share nodes)."""
    if isinstance(op, Var):
        return frozenset((op.name,))
    if isinstance(op, tuple):
        return frozenset().union(*(op_vars(x, memo) for x in op)) if op else _NONE
    if not isinstance(op, Op):
        return _NONE  # an int, a slice, a name
    hit = memo.get(id(op))
    if hit is not None:
        return hit[1]
    acc = set(implicit_reads(op))
    for name in op_fields(type(op)):
        child = getattr(op, name)
        if isinstance(child, Var):
            acc.add(child.name)
        elif isinstance(child, (Op, tuple)):
            acc |= op_vars(child, memo)
    got = frozenset(acc)
    memo[id(op)] = (op, got)
    return got


def nested(s: Stmt) -> tuple[Stmt, ...]:
    """The statements inside `s` (an `if`'s body, a `try`'s body and handler)."""
    match s:
        case If(_, body):
            return body
        case Try(body, handler):
            return (*body, *handler)
        case _:
            return ()


def stmt_ops(s: Stmt) -> Iterator[object]:
    """The op trees a simple statement evaluates (`reads` walks compound ones)."""
    match s:
        case Assign(_, value):
            yield value
        case Store(target, index, value, _):
            yield Var(target)
            yield index
            yield value
        case Do(call):
            yield call
        case Return(value):
            yield value
        case If() | Try() | Function():  # pragma: no cover - never asked
            raise TypeError(f"not a simple statement: {type(s).__name__}")


def reads(s: Stmt, memo: Memo | None = None) -> frozenset[str]:
    """The variables a statement reads before it writes them (a `try` reads the
    parameter it checks after reading it, not before)."""
    m = {} if memo is None else memo
    match s:
        case If(cond, body):
            return op_vars(cond, m) | reads_seq(body, m)
        case Try(body, handler):
            return reads_seq(body, m) | reads_seq(handler, m)
        case _:
            return frozenset().union(*(op_vars(op, m) for op in stmt_ops(s)))


def reads_seq(stmts: Iterable[Stmt], memo: Memo) -> frozenset[str]:
    out: set[str] = set()
    written: set[str] = set()
    for s in stmts:
        out |= reads(s, memo) - written
        written |= writes(s)
    return frozenset(out)


def writes(s: Stmt) -> frozenset[str]:
    """The variables a statement assigns (`Store` updates an array, not a name)."""
    if isinstance(s, Assign):
        return frozenset((s.target,) if isinstance(s.target, str) else s.target)
    return writes_all(nested(s))


def assignments(s: Stmt) -> list[str]:
    """The variables `s` assigns, in order, once per assignment."""
    out: list[str] = []
    for st in flat(s):
        if isinstance(st, Assign):
            out.extend((st.target,) if isinstance(st.target, str) else st.target)
    return out


def writes_all(stmts: Iterable[Stmt]) -> frozenset[str]:
    return frozenset().union(*(writes(s) for s in stmts))


def only_assigns(s: Stmt) -> bool:
    """Whether a statement's only effect is assigning variables."""
    if isinstance(s, (If, Try)):
        return all(only_assigns(b) for b in nested(s))
    return isinstance(s, Assign)


def mutated(stmts: Iterable[Stmt], memo: Memo) -> set[str]:
    """The variables whose arrays are written in place or handed to the caller:
    stored into, passed to a helper called for its effect (`_add_at(out, ...)`,
    `_subtract(..., out=o)`) or returned as they are (each call returns its own)."""
    out: set[str] = set()
    for s in stmts:
        for stmt in flat(s):
            if isinstance(stmt, Store):
                out.add(stmt.target)
            elif isinstance(stmt, Do):
                out |= reads(stmt, memo)
            elif isinstance(stmt, Return):  # an expression of them is a new array
                parts = stmt.value.parts if isinstance(stmt.value, Tup) else ()
                for v in (stmt.value, *parts):
                    if isinstance(v, Var):
                        out.add(v.name)
    return out


def flat(s: Stmt) -> Iterator[Stmt]:
    """`s` and its nested statements, in order."""
    yield s
    for b in nested(s):
        yield from flat(b)
