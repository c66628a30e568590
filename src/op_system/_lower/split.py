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

from .dataflow import (
    Memo,
    assignments,
    mutated,
    only_assigns,
    reads,
    writes,
    writes_all,
)
from .ops import Tup, Var
from .stmts import Function, Return, Stmt

__all__ = ["split_prep"]


def split_prep(
    fn: Function, inputs: tuple[str, ...] = ("params",)
) -> tuple[Function, Function]:
    """`fn` as `prep(*inputs)` and `core(*fn.args, *prepared)` (see the module doc)."""
    memo: Memo = {}
    local = {*fn.args, *inputs, *writes_all(fn.body)}
    kept = mutated(fn.body, memo)  # per call: their arrays are written or returned
    known = set(inputs)  # variables that hold what prep computed, here
    prep: list[Stmt] = []
    core: list[Stmt] = []
    used: set[str] = set()
    for s in fn.body:
        got = reads(s, memo)
        if only_assigns(s) and (got & local) <= known and not writes(s) & kept:
            prep.append(s)
            known |= writes(s)
        else:
            core.append(s)
            used |= got
            known -= writes(s)  # reassigned: later statements read core's value
    # what core reads of prep's results, in the order prep writes them
    order = dict.fromkeys(v for s in prep for v in assignments(s))
    exported = tuple(v for v in order if v in used)
    ret = Return(Tup(tuple(Var(v) for v in exported)))
    return (
        Function("prep", inputs, (*prep, ret)),
        Function("core", (*fn.args, *exported), tuple(core)),
    )
