"""The expression IR: small immutable nodes produced by the parser.

Expressions are parsed once (see `_lang/parse.py`) into these nodes. Later stages
resolve names against the model (states, aliases, parameters), expand templates
into array operations (`_lower/lowerer.py`), or render per-cell strings for the
0.1.2-compatible `NormalizedRhs.equations` view (`_views/render.py`).

`Invalid` nodes record constructs that parse as Python but are outside the
language (a disallowed call, attribute or node type). They are reported by
`compile_rhs`, which is where op-system 0.1.2 reported them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeAlias

from .._support.errors import (
    ExpressionError,
    OpSystemError,
    PlannedFeatureError,
)

__all__ = [
    "ALLOWED_FUNCS",
    "ATOM",
    "BINARY_OPS",
    "CHAIN_MIN",
    "COMPARE_OPS",
    "NP_CONSTANTS",
    "BinOp",
    "BoolOp",
    "Call",
    "Chain",
    "Compare",
    "IfExp",
    "IndexItem",
    "Invalid",
    "Name",
    "Node",
    "NpConst",
    "Num",
    "Pos",
    "Read",
    "Reduce",
    "Ref",
    "Str",
    "UnaryOp",
    "children",
    "children_getter",
    "format_node",
    "not_a_value",
    "prefix_text",
    "rebuild",
    "to_source",
    "unhandled",
    "walk",
]

#: `np.<name>` functions usable in expressions, with their number of arguments.
ALLOWED_FUNCS: dict[str, int] = {
    "abs": 1,
    "exp": 1,
    "expm1": 1,
    "log": 1,
    "log1p": 1,
    "log2": 1,
    "log10": 1,
    "sqrt": 1,
    "maximum": 2,
    "minimum": 2,
    "clip": 3,
    "where": 3,
    "sin": 1,
    "cos": 1,
    "tan": 1,
    "sinh": 1,
    "cosh": 1,
    "tanh": 1,
    "hypot": 2,
    "arctan2": 2,
}

#: `np.<name>` constants usable in expressions.
NP_CONSTANTS: dict[str, float] = {
    "pi": 3.141592653589793,
    "e": 2.718281828459045,
    "inf": float("inf"),
    "nan": float("nan"),
}

BINARY_OPS = ("+", "-", "*", "/", "**", "%")
COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")


#: A position in an expression's text: (line, column), both 1-based.
Pos: TypeAlias = tuple[int, int]


class _Node:
    """Base class of IR nodes (`Node` is their closed union)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Num(_Node):
    """A numeric literal (`bool` literals are kept as `bool`)."""

    value: float | int | bool


@dataclass(frozen=True, slots=True)
class Str(_Node):
    """A string literal; only valid as the argument of `sum_prefix`."""

    value: str


@dataclass(frozen=True, slots=True)
class NpConst(_Node):
    """`np.pi`, `np.e`, `np.inf` or `np.nan`."""

    name: str


@dataclass(frozen=True, slots=True)
class Name(_Node):
    """A bare identifier: state, alias, parameter, `t`, or an expanded cell name."""

    id: str
    #: where it starts in its expression: (line, column), 1-based, for error messages; not part of its identity
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IndexItem:
    """One item of `X[...]`: positional (`axis is None`) or keyword (`axis=value`).

    `value` is an identifier (axis placeholder, loop variable or coordinate), the
    text of a numeric literal (a coordinate of a continuous axis), or a
    coordinate label: quoted (`S[age='0-17']`, `quoted`) or written bare where
    it cannot be a name or a number (`S[age=0-17]`, `bare`). A label is always
    a coordinate, never a placeholder or a loop variable.
    """

    axis: str | None
    value: str
    is_number: bool = False
    #: where it starts in its expression: (line, column), 1-based, for error messages; not part of its identity
    pos: Pos | None = field(default=None, compare=False, repr=False)
    #: a label written in quotes
    quoted: bool = False
    #: a label written bare, its text not a name or a number (`0-17`, `65+`)
    bare: bool = False

    @property
    def is_label(self) -> bool:
        """Whether the item is a coordinate label (never a name in scope)."""
        return self.quoted or self.bare

    @property
    def is_name(self) -> bool:
        """Whether the item is an identifier: a placeholder, a loop variable, an
        alias or a coordinate spelled as one (not a number, not a label)."""
        return not (self.is_number or self.quoted or self.bare)

    def __str__(self) -> str:
        value = self.value
        if self.quoted:
            quote = '"' if "'" in value and '"' not in value else "'"
            value = f"{quote}{value}{quote}"
        return value if self.axis is None else f"{self.axis}={value}"


@dataclass(frozen=True, slots=True)
class Ref(_Node):
    """A templated reference `base[item, ...]`."""

    base: str
    items: tuple[IndexItem, ...]
    #: where it starts in its expression: (line, column), 1-based, for error messages; not part of its identity
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Read(_Node):
    """A name or templated reference bound to what it reads.

    The core model's build (`_core/bind.py`) replaces every `Name` and `Ref` of
    a model's expressions by a `Read`: `node` is what was written (printed as
    is) and `target` what it reads (a `_core` `Target`), so that nothing after
    the build resolves a name.
    """

    node: Name | Ref
    target: Any


@dataclass(frozen=True, slots=True)
class UnaryOp(_Node):
    """`-x`, `+x` or `not x`."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class BinOp(_Node):
    """`left op right` for `op` in `BINARY_OPS`."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Chain(_Node):
    """A long left-to-right chain `a op1 b op2 c ...` of one precedence level.

    `ops[i]` combines the running value with `operands[i + 1]`; all ops are in
    `{"+", "-"}` or all in `{"*", "/"}`. It means exactly the left-nested
    `BinOp`s Python builds (same evaluation order, same rounding), but walkers
    visit it without recursing once per term, so a flat per-cell sum of
    thousands of terms is one node rather than thousands of nesting levels.
    The parser builds it for chains of `CHAIN_MIN` or more operands.
    """

    ops: tuple[str, ...]
    operands: tuple[Node, ...]


#: Shortest left-nested chain of one precedence level that becomes a `Chain`.
CHAIN_MIN = 16


@dataclass(frozen=True, slots=True)
class Compare(_Node):
    """A (possibly chained) comparison `a < b <= c`."""

    left: Node
    ops: tuple[str, ...]
    comparators: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class BoolOp(_Node):
    """`a and b and ...` / `a or b or ...` (Python value semantics)."""

    op: str
    values: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class IfExp(_Node):
    """`body if test else orelse`."""

    test: Node
    body: Node
    orelse: Node


@dataclass(frozen=True, slots=True)
class Call(_Node):
    """A call of an allowed function (`np.exp`) or helper (`sum_state`, `sum_prefix`)."""

    func: str
    args: tuple[Node, ...]
    #: where it starts in its expression: (line, column), 1-based, for error messages; not part of its identity
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Reduce(_Node):
    """`sum_over(axis=var [IN [c, ...]], body)` or `integrate_over(axis=var, body)`."""

    kind: str
    axis: str
    var: str
    coords: tuple[str, ...] | None
    body: Node
    #: the loop's dimension (a `_core` `Dim`: its axis and selected coordinates),
    #: set when the model is bound (`_core/bind.py`); not part of its identity
    dim: Any = field(default=None, compare=False)
    #: where it starts in its expression: (line, column), 1-based, for error messages; not part of its identity
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Invalid(_Node):
    """A construct outside the language; raised as an error when compiled."""

    detail: str
    token: str
    source: str
    #: where it starts in its expression: (line, column), 1-based, for error messages; not part of its identity
    pos: Pos | None = field(default=None, compare=False, repr=False)
    #: a construct of a language op_system knows but does not implement (0.9.0's
    #: `convolve_history`): `UnsupportedFeatureError`, not `ExpressionError`
    unsupported: bool = False


def invalid_error(node: Invalid, path: str) -> OpSystemError:
    """The error that compiling the construct `node`, at spec path `path`, raises."""
    if node.unsupported:
        # an ExpressionError as op-system 0.1.2 raised (an unknown function), and
        # an UnsupportedFeatureError as 0.9.0 raises
        return PlannedFeatureError(
            node.detail, path=path, token=node.token, pos=node.pos
        )
    return ExpressionError(node.detail, path=path, token=node.token, pos=node.pos)


#: An expression: the closed union of the IR's node classes. An interpreter that
#: ends in `assert_never(node)` is checked by mypy to handle every kind.
Node: TypeAlias = (
    Num
    | Str
    | NpConst
    | Name
    | Ref
    | Read
    | UnaryOp
    | BinOp
    | Chain
    | Compare
    | BoolOp
    | IfExp
    | Call
    | Reduce
    | Invalid
)


def unhandled(node: NoReturn) -> NoReturn:
    """End of an interpreter over `Node`: the type checker proves it unreachable
    (every node kind is handled), as `typing.assert_never` does on 3.11+."""
    raise TypeError(f"unhandled IR node {node!r}")  # pragma: no cover


def not_a_value(node: Str | Name | Ref, path: str) -> Exception:
    """The error for a node that an interpreter of a bound model never reads as a
    value: a string (only `sum_prefix`'s argument) or a name the build left unbound."""
    from .._support.errors import ExpressionError

    if isinstance(node, Str):
        return ExpressionError(
            f"the string {node.value!r} is not a value (strings are sum_prefix's argument)",
            path=path,
            token=repr(node.value),
        )
    return TypeError(f"internal error: {to_source(node)} was not bound")


def prefix_text(call: Call) -> str:
    """The prefix of a `sum_prefix("I")` call (the parser admits a string only)."""
    arg = call.args[0]
    if not isinstance(arg, Str):  # pragma: no cover - rejected by the parser
        raise TypeError(f"sum_prefix takes a string, got {arg!r}")
    return arg.value


def children(node: Node) -> tuple[Node, ...]:
    """Direct sub-expressions of `node`."""
    get = _CHILDREN.get(type(node))
    return get(node) if get is not None else ()


# One dispatch per node type (walkers visit every node of long flat sums).
_CHILDREN: dict[type, Callable[[Any], tuple[Node, ...]]] = {
    UnaryOp: lambda n: (n.operand,),
    BinOp: lambda n: (n.left, n.right),
    Chain: lambda n: n.operands,
    Compare: lambda n: (n.left, *n.comparators),
    BoolOp: lambda n: n.values,
    IfExp: lambda n: (n.test, n.body, n.orelse),
    Call: lambda n: n.args,
    Reduce: lambda n: (n.body,),
}


def children_getter(cls: type) -> Callable[[Any], tuple[Node, ...]] | None:
    """What `children` does for nodes of class `cls` (None: a leaf), for walkers
    that dispatch once per node themselves."""
    return _CHILDREN.get(cls)


def rebuild(node: Node, kids: list[Node]) -> Node:
    """`node` with its `children` replaced by `kids` (itself if they are the same)."""
    old = children(node)
    if len(old) == len(kids) and all(a is b for a, b in zip(old, kids)):
        return node
    return _REBUILD[type(node)](node, kids)


_REBUILD: dict[type, Callable[[Any, list[Node]], Node]] = {
    UnaryOp: lambda n, k: UnaryOp(n.op, k[0]),
    BinOp: lambda n, k: BinOp(n.op, k[0], k[1]),
    Chain: lambda n, k: Chain(n.ops, tuple(k)),
    Compare: lambda n, k: Compare(k[0], n.ops, tuple(k[1:])),
    BoolOp: lambda n, k: BoolOp(n.op, tuple(k)),
    IfExp: lambda n, k: IfExp(k[0], k[1], k[2]),
    Call: lambda n, k: Call(n.func, tuple(k), n.pos),
    Reduce: lambda n, k: Reduce(n.kind, n.axis, n.var, n.coords, k[0], n.dim, n.pos),
}


def attributes(node: Node) -> tuple[Any, ...]:
    """What `node` is besides its sub-expressions (operator, function, header).

    With `children`, it identifies the node: two nodes with equal attributes and
    equal children are the same expression.
    """
    get = _ATTRIBUTES.get(type(node))
    return get(node) if get is not None else ()


_ATTRIBUTES: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    UnaryOp: lambda n: (n.op,),
    BinOp: lambda n: (n.op,),
    Chain: lambda n: n.ops,
    Compare: lambda n: n.ops,
    BoolOp: lambda n: (n.op,),
    Call: lambda n: (n.func,),
    Reduce: lambda n: (n.kind, n.axis, n.var, n.coords),
}


def walk(node: Node) -> Iterator[Node]:
    """Yield `node` and all nodes below it (iteratively: deep trees are fine)."""
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        stack.extend(reversed(children(cur)))


# Python operator precedence (higher binds tighter), as used by the printer.
_PREC = {
    "or": 1,
    "and": 2,
    "not": 3,
    "cmp": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
    "unary": 7,
    "**": 8,
    "atom": 9,
}


def _fmt_num(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return repr(value)


def to_source(
    node: Node,
    *,
    name: Callable[[Name], str] | None = None,
    ref: Callable[[Ref], str] | None = None,
    reduce: Callable[[Reduce], str] | None = None,
    string: Callable[[Str], str] | None = None,
) -> str:
    """Render `node` as expression text with minimal parentheses.

    The optional callbacks replace names, templated references, reductions and
    string literals.

    !!! example
        ```python
        >>> from op_system._lang.parse import parse_expr
        >>> to_source(parse_expr("-(beta*S*I)/N"))
        '-(beta * S * I) / N'

        ```
    """

    def go(n: Node) -> tuple[str, int]:
        if isinstance(n, Read):  # printed as written
            n = n.node
        cls = n.__class__
        if name is not None and cls is Name:
            return name(n), ATOM  # type: ignore[arg-type]
        if ref is not None and cls is Ref:
            return ref(n), ATOM  # type: ignore[arg-type]
        if reduce is not None and cls is Reduce:
            return reduce(n), ATOM  # type: ignore[arg-type]
        if string is not None and cls is Str:
            return repr(string(n)), ATOM  # type: ignore[arg-type]
        return format_node(n, [go(c) for c in children(n)])

    return go(node)[0]


#: The precedence of an atom (a name, a call, a parenthesised expression).
ATOM = _PREC["atom"]


def format_node(n: Node, kids: list[tuple[str, int]]) -> tuple[str, int]:
    """The text and precedence of `n`, from those of its `children` (in order).

    `to_source` is this applied bottom-up; per-cell views (`_core/cells.py`) apply it
    to children whose names are already expanded.
    """
    if isinstance(n, Num):
        text = _fmt_num(n.value)
        return text, (_PREC["unary"] if text.startswith("-") else ATOM)
    if isinstance(n, Str):
        return repr(n.value), ATOM
    if isinstance(n, NpConst):
        return f"np.{n.name}", ATOM
    if isinstance(n, Read):
        return format_node(n.node, [])
    if isinstance(n, Name):
        return n.id, ATOM
    if isinstance(n, Ref):
        return f"{n.base}[{','.join(str(i) for i in n.items)}]", ATOM
    if isinstance(n, Reduce):
        flt = f" IN [{', '.join(n.coords)}]" if n.coords is not None else ""
        return f"{n.kind}({n.axis}={n.var}{flt}, {kids[0][0]})", ATOM
    if isinstance(n, Invalid):
        return n.source, ATOM
    if isinstance(n, Call):
        fn = n.func if n.func in ("sum_state", "sum_prefix") else f"np.{n.func}"
        return f"{fn}({', '.join(k[0] for k in kids)})", ATOM
    if isinstance(n, UnaryOp):
        p = _PREC["not"] if n.op == "not" else _PREC["unary"]
        inner, ip = kids[0]
        if ip < p or (ip == p and n.op != "not" and inner.startswith(("-", "+"))):
            inner = f"({inner})"
        sep = " " if n.op == "not" else ""
        return f"{n.op}{sep}{inner}", p
    if isinstance(n, BinOp):
        p = _PREC[n.op]
        (left, lp), (right, rp) = kids
        if n.op == "**":  # right-associative; unary binds looser on the left
            if lp <= p:
                left = f"({left})"
            if rp < _PREC["unary"]:
                right = f"({right})"
        else:
            if lp < p:
                left = f"({left})"
            if rp <= p:
                right = f"({right})"
        return f"{left} {n.op} {right}", p
    if isinstance(n, Chain):
        p = _PREC[n.ops[0]]
        text, fp = kids[0]
        parts = [f"({text})" if fp < p else text]
        for op, (text, rp) in zip(n.ops, kids[1:]):
            parts.append(f" {op} ({text})" if rp <= p else f" {op} {text}")
        return "".join(parts), p
    if isinstance(n, Compare):
        p = _PREC["cmp"]
        texts = [f"({text})" if op_p <= p else text for text, op_p in kids]
        out = texts[0]
        for op, text in zip(n.ops, texts[1:], strict=False):
            out += f" {op} {text}"
        return out, p
    if isinstance(n, BoolOp):
        p = _PREC[n.op]
        return f" {n.op} ".join(f"({t})" if vp <= p else t for t, vp in kids), p
    if isinstance(n, IfExp):
        (test, tp), (body, bp), (orelse, op_) = kids
        body = f"({body})" if bp <= 1 else body
        test = f"({test})" if tp <= 1 else test
        orelse = f"({orelse})" if op_ < 1 else orelse
        return f"{body} if {test} else {orelse}", 0
    unhandled(n)
