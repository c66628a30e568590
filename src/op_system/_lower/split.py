"""The `prep`/`core` split of a generated function: a pass over its statements.

`CompiledRhs.bind(params)` calls `prep(params)` once and then
`core(t, y, *prepared)` per evaluation. The split is read off the statement IR
of the whole function, by data flow: a statement goes to `prep` when it reads
no variable but `params` and what earlier `prep` statements wrote, has no
effect but assigning (no return, no store into an array, no helper called for
its effect) and assigns no array that is written in place later or returned
(each call makes its own output); everything else stays in `core`, in order. So everything computed
from the parameters alone (parameter reads and checks, and any value of them
alone) is computed once per `bind`. `prep` returns, in the order it wrote them,
the variables that `core` reads.

>>> from op_system._lower.ops import Bin, Key, Var
>>> from op_system._lower.stmts import Assign, Function, Return, print_function
>>> from op_system._lower.ops import NUMPY
>>> f = Function("rhs", ("t", "y"), (
...     Assign("b", Key(Var("params"), "beta")),
...     Assign("x", Bin("*", Var("b"), Var("y"))),
...     Assign("c", Bin("*", Var("b"), Var("b"))),
...     Return(Bin("+", Var("x"), Var("c")))), kwargs="params")
>>> prep, core = split_prep(f)
>>> print(print_function(prep, NUMPY) + print_function(core, NUMPY))
def prep(params):
    b = params['beta']
    c = (b * b)
    return (b, c, )
def core(t, y, b, c):
    x = (b * y)
    return (x + c)
<BLANKLINE>
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from .ops import Op, Tup, Var, implicit_reads
from .stmts import Assign, Do, Function, If, Return, Stmt, Store, Try

__all__ = ["reads", "split_prep", "writes"]


def _op_vars(op: object, memo: dict[int, frozenset[str]]) -> frozenset[str]:
    """The variables an op tree reads (memoized per node: trees share nodes)."""
    if isinstance(op, Var):
        return frozenset((op.name,))
    if isinstance(op, tuple):
        return frozenset().union(*(_op_vars(x, memo) for x in op))
    if not isinstance(op, Op):
        return frozenset()  # an int, a slice, a name
    got = memo.get(id(op))
    if got is None:
        got = frozenset(implicit_reads(op)).union(
            *(
                _op_vars(getattr(op, f.name), memo)
                for f in dataclasses.fields(op)
                if f.name != "_memo"
            )
        )
        memo[id(op)] = got
    return got


def _stmt_ops(s: Stmt) -> Iterator[object]:
    """The op trees a statement evaluates, its own and its nested statements'."""
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
        case If(cond, body):
            yield cond
            for b in body:
                yield from _stmt_ops(b)
        case Try(body, handler):
            for b in (*body, *handler):
                yield from _stmt_ops(b)
        case Function():  # pragma: no cover - no nested functions are generated
            raise TypeError("a nested function has no data flow here")


def reads(s: Stmt, memo: dict[int, frozenset[str]] | None = None) -> frozenset[str]:
    """The variables a statement reads before it writes them (a `try` reads the
    parameter it checks after reading it, not before)."""
    m = {} if memo is None else memo
    match s:
        case If(cond, body):
            return _op_vars(cond, m) | _reads_seq(body, m)
        case Try(body, handler):
            return _reads_seq(body, m) | _reads_seq(handler, m)
        case _:
            return frozenset().union(*(_op_vars(op, m) for op in _stmt_ops(s)))


def _reads_seq(
    stmts: Iterable[Stmt], memo: dict[int, frozenset[str]]
) -> frozenset[str]:
    out: set[str] = set()
    written: set[str] = set()
    for s in stmts:
        out |= reads(s, memo) - written
        written |= writes(s)
    return frozenset(out)


def writes(s: Stmt) -> frozenset[str]:
    """The variables a statement assigns (`Store` updates an array, not a name)."""
    match s:
        case Assign(target, _):
            return frozenset((target,) if isinstance(target, str) else target)
        case If(_, body):
            return _writes_all(body)
        case Try(body, handler):
            return _writes_all((*body, *handler))
        case _:
            return frozenset()


def _writes_all(stmts: Iterable[Stmt]) -> frozenset[str]:
    return frozenset().union(*(writes(s) for s in stmts))


def _only_assigns(s: Stmt) -> bool:
    """Whether a statement's only effect is assigning variables."""
    match s:
        case Assign():
            return True
        case If(_, body):
            return all(_only_assigns(b) for b in body)
        case Try(body, handler):
            return all(_only_assigns(b) for b in (*body, *handler))
        case _:
            return False


def split_prep(
    fn: Function, inputs: tuple[str, ...] = ("params",)
) -> tuple[Function, Function]:
    """`fn` as `prep(*inputs)` and `core(*fn.args, *prepared)` (see the module doc)."""
    memo: dict[int, frozenset[str]] = {}
    local = {*fn.args, *inputs, *_writes_all(fn.body)}
    mutated = _mutated(fn.body, memo)
    known = set(inputs)  # variables that hold what prep computed, here
    prep: list[Stmt] = []
    core: list[Stmt] = []
    for s in fn.body:
        if (
            _only_assigns(s)
            and (reads(s, memo) & local) <= known
            and not writes(s) & mutated
        ):
            prep.append(s)
            known |= writes(s)
        else:
            core.append(s)
            known -= writes(s)  # reassigned: later statements read core's value
    used = frozenset().union(*(reads(s, memo) for s in core))
    out: dict[str, None] = {}
    for s in prep:
        for stmt in _flat(s):
            if isinstance(stmt, Assign):
                names = (stmt.target,) if isinstance(stmt.target, str) else stmt.target
                out.update((n, None) for n in names if n in used)
    exported = tuple(out)
    ret = Return(Tup(tuple(Var(v) for v in exported)))
    return (
        Function("prep", inputs, (*prep, ret)),
        Function("core", (*fn.args, *exported), tuple(core)),
    )


def _mutated(stmts: Iterable[Stmt], memo: dict[int, frozenset[str]]) -> set[str]:
    """The variables whose arrays are written in place or handed to the caller:
    stored into, passed to a helper called for its effect (`_add_at(out, ...)`,
    `_subtract(..., out=o)`) or returned as they are (each call returns its own)."""
    out: set[str] = set()
    for s in stmts:
        for stmt in _flat(s):
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


def _flat(s: Stmt) -> Iterator[Stmt]:
    """`s` and its nested statements, in order."""
    yield s
    match s:
        case If(_, body):
            for b in body:
                yield from _flat(b)
        case Try(body, handler):
            for b in (*body, *handler):
                yield from _flat(b)
        case _:
            pass
