"""Parse expression strings into the IR, through an allowlist.

The text is first re-tokenized so that the spec language's two non-Python forms
become parseable Python without changing their meaning:

* keyword indices `I[vax=j]` (inside subscript brackets `=` becomes `:`, so the
  item parses as a slice `vax:j` and is read back as `axis=value`);
* `sum_over(vax=j IN [u, v], ...)` filters (`IN` becomes `in`);
* `lambda` used as a name (`lambda[age]`) is escaped.

Python's own parser (`ast.parse`) then builds a syntax tree that is converted
node by node; anything not on the allowlist becomes an `Invalid` node (reported
when compiled) and nothing is ever evaluated.
"""

from __future__ import annotations

import ast
import bisect
import io
import keyword
import math
import tokenize
from dataclasses import replace

from .._support.errors import ExpressionError
from .ir import (
    ALLOWED_FUNCS,
    CHAIN_MIN,
    NP_CONSTANTS,
    BinOp,
    BoolOp,
    Call,
    Chain,
    Compare,
    IfExp,
    IndexItem,
    Invalid,
    Name,
    Node,
    NpConst,
    Num,
    Pos,
    Reduce,
    Ref,
    Str,
    UnaryOp,
)
from .labels import BARE, bare_labels, filter_items
from .syntax import bracket_problem, function_hint, syntax_detail

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "parse_expr"]

#: Longest accepted expression, in characters.
MAX_LENGTH = 100_000
#: Deepest accepted expression tree.
MAX_DEPTH = 200

_KW_ESCAPE = "__opkw_{}__"
_ESCAPED_KEYWORDS = frozenset({"lambda"})
_HELPERS = frozenset({"sum_state", "sum_prefix"})
_REDUCERS = frozenset({"sum_over", "integrate_over"})
#: `apply_along(..., kernel=k)`: the reduction each kernel is
_KERNELS = {"sum": "sum_over", "integrate": "integrate_over"}
#: What to write instead of a delay read from the state's past (op_system's
#: right-hand sides have no memory): the same delay as states.
_AS_STAGES = (
    "write the delay as states instead: an Erlang delay (a gamma kernel of "
    "integer shape k and scale theta) of a signal x is a chain of k stages, each "
    "left at rate 1/theta (transitions from stage to stage, or the equations "
    "h1: (x - h1) / theta, h2: (h1 - h2) / theta, ..., hk: (h(k-1) - hk) / theta, "
    "started at 0), and hk stands for the convolution; see the compatibility page"
)
#: op-system 0.9.0's history operators: calls op_system knows and refuses
_HISTORY_CALLS = {
    "convolve_history": (
        "convolve_history(...) is not supported: op-system 0.9.0's convolution of a "
        "signal's past with a delay kernel over a window, which an engine's history "
        "provider evaluates; op_system compiles right-hand sides without memory, so "
        + _AS_STAGES
    ),
    "history": (
        "history(...) is not supported (op-system 0.9.0 refuses it too): it reads a "
        "state's past value from an engine's history buffer; op_system compiles "
        "right-hand sides without memory, so " + _AS_STAGES
    ),
    "delay": (
        "delay(...) is not supported (op-system 0.9.0 refuses it too): it reads a "
        "state's past value from an engine's history buffer; op_system compiles "
        "right-hand sides without memory, so " + _AS_STAGES
    ),
}

_BINOPS: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.Mod: "%",
}
_CMPOPS: dict[type, str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_UNARY: dict[type, str] = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not"}


def _fail(
    detail: str, path: str | None, token: str | None = None, pos: Pos | None = None
) -> ExpressionError:
    return ExpressionError(detail, path=path, token=token, pos=pos)


class _Positions:
    """Maps offsets in the parsed text back to (line, column) in the text as written.

    The parser reads `src`: the written text with line breaks as spaces and leading
    blanks stripped, then (`_rewrite`) with some tokens replaced by longer or shorter
    ones. Python's parser reports UTF-8 byte offsets into that rewritten text.
    """

    def __init__(self, text: str, src: str) -> None:
        self.lead = len(text) - len(text.lstrip())  # line breaks are blanks too
        self.line_starts = [0]
        for line in text.split("\n")[:-1]:
            self.line_starts.append(self.line_starts[-1] + len(line) + 1)
        self.simple = len(self.line_starts) == 1 and src.isascii()
        self.rewritten = src
        #: where each edit starts in the rewritten text, and there its end and its
        #: (start, end) in `src`
        self.new_starts: list[int] = []
        self.edits: list[tuple[int, int, int]] = []

    def rewrote(self, out: str, edits: list[tuple[int, int, str]]) -> None:
        self.rewritten = out
        self.simple = self.simple and not edits
        shift = 0
        for start, end, new in sorted(edits):
            self.new_starts.append(start + shift)
            self.edits.append((start + shift + len(new), start, end))
            shift += len(new) - (end - start)

    def of_src(self, off: int) -> Pos:
        """The position of character `off` of `src`."""
        off += self.lead
        line = bisect.bisect_right(self.line_starts, off)
        return line, off - self.line_starts[line - 1] + 1

    def of_rewritten(self, off: int) -> Pos:
        """The position of character `off` of the rewritten text (inside a rewritten
        token: that token's start)."""
        i = bisect.bisect_right(self.new_starts, off) - 1
        if i < 0:
            return self.of_src(off)
        new_end, old_start, old_end = self.edits[i]
        if off < new_end:
            return self.of_src(old_start)
        return self.of_src(off - new_end + old_end)

    def of(self, node: ast.AST) -> Pos | None:
        """Where an `ast` node of the rewritten text starts."""
        off: int | None = getattr(node, "col_offset", None)
        if off is None:  # pragma: no cover - expression nodes all have one
            return None
        if self.simple:
            return 1, off + 1 + self.lead
        if not self.rewritten.isascii():  # col_offset counts UTF-8 bytes
            off = len(self.rewritten.encode()[:off].decode("utf-8", "ignore"))
        return self.of_rewritten(off)


def _rewrite(
    src: str, path: str | None, where: _Positions, dialect: str = "0.1"
) -> str:
    """Rewrite the spec language's extra forms into parseable Python (see module doc).

    In 0.9.0's language (`dialect="0.9"`) a reduction is a Python call (body
    first, bindings as keywords) and `axis:var` in an index is a Python slice:
    both are left as written."""
    new = dialect == "0.9"
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError):
        return (
            src  # not even tokenizable: let Python's parser report the error precisely
        )
    # Absolute offsets of each line start; the text is a single line in practice.
    line_starts = [0]
    for line in src.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(pos: tuple[int, int]) -> int:
        return line_starts[pos[0] - 1] + pos[1]

    edits: list[tuple[int, int, str]] = []
    stack: list[bool] = []  # for each open bracket: is it a subscript?
    # Reducer calls `sum_over(axis=var, body)` put a keyword before a positional
    # argument, which Python rejects; their header becomes `axis == var`.
    reducers: list[list[int]] = []  # [bracket depth of the call, '=' rewritten?]
    prev: tokenize.TokenInfo | None = None
    skip_to = -1
    bare: dict[int, int] = {}  # first token of a bare label -> its last
    for i, tok in enumerate(toks):
        skip_to = max(skip_to, bare.get(i, -1))  # a bare label: a string literal now
        if i <= skip_to:
            continue
        if (
            tok.type == tokenize.NAME
            and tok.string == "IN"
            and i + 1 < len(toks)
            and toks[i + 1].string == "["
        ):
            # `IN [0-4, 65+]`: the items are coordinate texts, as 0.1.2 reads them
            # (split at commas), not expressions; they become string literals.
            close = next(
                (j for j in range(i + 2, len(toks)) if toks[j].string in "[]"), None
            )
            if close is not None and toks[close].string == "]":
                raw = src[offset(toks[i + 1].end) : offset(toks[close].start)]
                items = filter_items(raw)
                edits.append(
                    (offset(tok.start), offset(toks[close].end), f"in [{items}]")
                )
                skip_to = close
                prev = toks[close]
                continue
        if (
            tok.type == tokenize.OP
            and tok.string == "("
            and prev is not None
            and prev.type == tokenize.NAME
            and prev.string in _REDUCERS
            and not new
        ):
            reducers.append([len(stack) + 1, 0])
        elif (
            tok.type == tokenize.OP
            and tok.string == "="
            and reducers
            and reducers[-1][0] == len(stack)
            and not reducers[-1][1]
        ):
            edits.append((offset(tok.start), offset(tok.end), "=="))
            reducers[-1][1] = 1  # only the first '=' of this call
            prev = tok
            continue
        if tok.type == tokenize.OP and tok.string in "([{":
            stack.append(_opens_subscript(prev, tok))
            if stack[-1]:  # its bare labels become string literals
                bare.update(bare_labels(toks, i, new, src, offset, edits))
        elif tok.type == tokenize.OP and tok.string in ")]}":
            if stack:
                stack.pop()
            while reducers and reducers[-1][0] > len(stack):
                reducers.pop()
        elif tok.type == tokenize.OP and tok.string == "=" and stack and stack[-1]:
            edits.append((offset(tok.start), offset(tok.end), ":"))
        elif (
            tok.type == tokenize.OP
            and tok.string == ":"
            and stack
            and stack[-1]
            and not new
        ):
            raise _fail(
                "slices are not supported in indices; use axis=coord",
                path,
                ":",
                where.of_src(offset(tok.start)),
            )
        elif tok.type == tokenize.NAME and tok.string in _ESCAPED_KEYWORDS:
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if nxt is not None and (
                nxt.type == tokenize.NAME or nxt.string in (":", "*", "**")
            ):
                continue  # a real lambda expression: parsed, then rejected as a Lambda node
            edits.append(
                (offset(tok.start), offset(tok.end), _KW_ESCAPE.format(tok.string))
            )
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            prev = tok
    out = src
    for start, end, text in reversed(edits):
        out = out[:start] + text + out[end:]
    where.rewrote(out, edits)
    return out


def _opens_subscript(prev: tokenize.TokenInfo | None, tok: tokenize.TokenInfo) -> bool:
    """Whether `tok` (an opening bracket after `prev`) opens an index `X[...]`."""
    return (
        tok.string == "["
        and prev is not None
        and (
            (prev.type == tokenize.NAME and not keyword.iskeyword(prev.string))
            or prev.string in _ESCAPED_KEYWORDS
            or prev.string in (")", "]")
        )
    )


def _token_at(text: str, offset: int | None) -> str:
    """The word or character at a 1-based column of `text` (for syntax errors)."""
    if not offset or offset < 1 or offset > len(text):
        return text[-20:].strip() if offset and offset > len(text) else ""
    i = offset - 1
    if text[i].isalnum() or text[i] == "_":
        j = i
        while j < len(text) and (text[j].isalnum() or text[j] == "_"):
            j += 1
        while i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
            i -= 1
        return _unescape(text[i:j])
    return text[i]


def _unescape(name: str) -> str:
    return _UNESCAPED.get(name, name)


_UNESCAPED = {_KW_ESCAPE.format(kw): kw for kw in _ESCAPED_KEYWORDS}


def parse_expr(text: object, *, path: str | None = None, dialect: str = "0.1") -> Node:
    """Parse one expression string into an IR node.

    Syntax errors raise `ExpressionError` (a `ValueError`) naming `path`.
    Constructs outside the language become `Invalid` nodes. `dialect` is the
    spec language, op-system 0.1.2's (`"0.1"`) or 0.9.0's (`"0.9"`: `I[age:j]`,
    body-first reductions and `apply_along`; see `_spec/dialect.py`).

    !!! example
        ```python
        >>> parse_expr("beta * S[age] * sum_over(age=j, I[age=j])")  # doctest: +ELLIPSIS
        BinOp(op='*', left=BinOp(op='*', left=Name(id='beta'), right=Ref(base='S', ...

        ```
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise _fail(
            f"expected an expression string, got {type(text).__name__} {text!r:.60}",
            path,
        )
    if not isinstance(text, str):  # plain numbers are accepted as constants
        if not math.isfinite(text):
            raise _fail(f"expected a finite number, got {text!r}", path)
        return Num(text)
    src = text.replace("\r", " ").replace("\n", " ").strip()
    if not src:
        raise _fail("expression is empty", path)
    if len(src) > MAX_LENGTH:
        raise _fail(
            f"expression is too long ({len(src)} characters; the limit is {MAX_LENGTH})",
            path,
        )
    if "\x00" in src:
        raise _fail("expression contains a NUL character", path)
    # Only indices, reductions, IN filters and `lambda` need the token rewrite
    # (a flat per-cell sum of thousands of terms skips Python's slow tokenizer).
    needs_rewrite = "[" in src or "_over" in src or "lambda" in src or "IN" in src
    where = _Positions(text, src)
    rewritten = _rewrite(src, path, where, dialect) if needs_rewrite else src
    try:
        tree = ast.parse(rewritten, mode="eval")
    except SyntaxError as exc:
        if "Exceeds the limit" in exc.msg:
            raise _fail("integer literal is too large", path, src[:20]) from None
        if "too many nested parentheses" in exc.msg:
            raise _fail(
                "expression is nested too deeply (too many nested parentheses)",
                path,
                "(",
            ) from None
        unbalanced = bracket_problem(src)
        if unbalanced is not None:  # said before Python, which may blame an `=`
            detail, at, bracket = unbalanced
            raise _fail(
                f"invalid expression syntax: {detail}", path, bracket, where.of_src(at)
            ) from None
        token = _token_at(rewritten, exc.offset)
        near = f" near {token!r}" if token else ""
        pos = None
        if exc.offset and 1 <= exc.offset <= len(rewritten):
            pos = where.of_rewritten(exc.offset - 1)
        raise _fail(
            f"invalid expression syntax: {syntax_detail(exc.msg)}{near}",
            path,
            token,
            pos,
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise _fail(
            "invalid expression syntax: expression is nested too deeply", path
        ) from None
    return _Converter(src, path, where, dialect).convert(tree.body, 0)


_CHAIN_GROUP = {"+": "add", "-": "add", "*": "mul", "/": "mul"}


def _filter_items(head: ast.Compare) -> tuple[str, ...] | None:
    """The coordinates of 0.9.0's filter `var in [c, ...]` (None if not one)."""
    if (
        len(head.ops) != 1
        or not isinstance(head.ops[0], ast.In)
        or not isinstance(head.comparators[0], ast.List)
    ):
        return None
    return _coord_items(head.comparators[0])


def _coord_items(lst: ast.List) -> tuple[str, ...] | None:
    """The coordinates a filter lists (names, numbers or strings; None otherwise)."""
    items: list[str] = []
    for elt in lst.elts:
        if isinstance(elt, ast.Name):
            items.append(elt.id)
        elif isinstance(elt, ast.Constant) and isinstance(elt.value, (int, float, str)):
            items.append(str(elt.value))
        else:
            return None
    return tuple(items)


def _close_run(first: Node, ops: list[str], operands: list[Node]) -> Node:
    """`first op0 operands[0] op1 operands[1] ...` as nested `BinOp`s, or one `Chain`."""
    if len(operands) + 1 >= CHAIN_MIN:
        return Chain(tuple(ops), (first, *operands))
    acc = first
    for op, right in zip(ops, operands):
        acc = BinOp(op, acc, right)
    return acc


class _Converter:
    def __init__(
        self, src: str, path: str | None, where: _Positions, dialect: str = "0.1"
    ) -> None:
        self.src = src
        self.path = path
        self.dialect = dialect
        self.at = where.of
        #: a one-line ASCII text that was not rewritten: a name's column is its
        #: offset, shifted by the blanks stripped at the start (`_Positions.of`)
        self.shift = where.lead + 1 if where.simple else None

    def invalid(self, node: ast.AST, detail: str, token: str | None = None) -> Invalid:
        try:
            seg = ast.unparse(node)
        except Exception:  # pragma: no cover - unparse of odd nodes
            seg = type(node).__name__
        seg = seg.replace(_KW_ESCAPE.format("lambda"), "lambda")
        return Invalid(
            detail=detail,
            token=token if token is not None else seg,
            source=seg,
            pos=self.at(node),
        )

    def convert(self, node: ast.AST, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise _fail(
                f"expression is nested too deeply (more than {MAX_DEPTH} levels)",
                self.path,
            )
        d = depth + 1
        if node.__class__ is ast.Name:  # the commonest node, checked first
            return self.name(node)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or (
                isinstance(v, (int, float)) and not isinstance(v, complex)
            ):
                if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**63:
                    return self.invalid(
                        node, "integer literal is too large", str(v)[:20]
                    )
                if isinstance(v, float) and not math.isfinite(v):
                    return self.invalid(
                        node,
                        "numeric literal is not finite (use np.inf)",
                        self.src[:40],
                    )
                return Num(v)
            if isinstance(v, str):
                return self.invalid(
                    node,
                    f"string literal {v!r} is only allowed as the argument of sum_prefix",
                    repr(v),
                )
            return self.invalid(node, f"disallowed constant {v!r}")
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "np":
                if node.attr in NP_CONSTANTS:
                    return NpConst(node.attr)
                return self.invalid(
                    node,
                    f"disallowed attribute access in {self.src!r}",
                    f"np.{node.attr}",
                )
            return self.invalid(node, f"disallowed attribute access in {self.src!r}")
        if isinstance(node, ast.BinOp):
            return self.binop(node, d)
        if isinstance(node, ast.UnaryOp):
            op = _UNARY.get(type(node.op))
            if op is None:
                return self.invalid(
                    node, f"disallowed operator {type(node.op).__name__}"
                )
            operand = self.convert(node.operand, d)
            if (
                op == "-"
                and isinstance(operand, Num)
                and not isinstance(operand.value, bool)
            ):
                return Num(-operand.value)
            return UnaryOp(op, operand)
        if isinstance(node, ast.Compare):
            ops = []
            for o in node.ops:
                sym = _CMPOPS.get(type(o))
                if sym is None:
                    return self.invalid(
                        node, f"disallowed comparison {type(o).__name__}"
                    )
                ops.append(sym)
            return Compare(
                self.convert(node.left, d),
                tuple(ops),
                tuple(self.convert(c, d) for c in node.comparators),
            )
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return BoolOp(op, tuple(self.convert(v, d) for v in node.values))
        if isinstance(node, ast.IfExp):
            return IfExp(
                self.convert(node.test, d),
                self.convert(node.body, d),
                self.convert(node.orelse, d),
            )
        if isinstance(node, ast.Call):
            return self.call(node, d)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        token = "lambda" if isinstance(node, ast.Lambda) else None
        return self.invalid(
            node, f"disallowed AST node {type(node).__name__} in {self.src!r}", token
        )

    def binop(self, node: ast.BinOp, d: int) -> Node:
        """Convert a left-nested run of binary operators without recursing per term.

        `a + b + c + ...` arrives as a left spine of `ast.BinOp`s; walking it in a
        loop keeps long flat sums (thousands of terms, as per-cell specs write
        them) from counting as nesting depth. Runs of one precedence level with
        `CHAIN_MIN` or more operands become one `Chain` node.
        """
        lhs, rhs = node.left, node.right
        if isinstance(lhs, ast.Name) and isinstance(rhs, ast.Name) and d <= MAX_DEPTH:
            op = _BINOPS.get(type(node.op))  # `a * b`, each term of a flat sum
            if op is not None:
                return BinOp(op, self.name(lhs), self.name(rhs))
        spine: list[ast.BinOp] = []
        cur: ast.AST = node
        while isinstance(cur, ast.BinOp):
            spine.append(cur)
            cur = cur.left
        acc = self.convert(cur, d)
        run_ops: list[str] = []
        run_operands: list[Node] = []
        for b in reversed(spine):
            op = _BINOPS.get(type(b.op))
            if op is None:
                return self.invalid(b, f"disallowed operator {type(b.op).__name__}")
            right = self.convert(b.right, d)
            group = _CHAIN_GROUP.get(op)
            if run_ops and _CHAIN_GROUP.get(run_ops[0]) != group:
                acc = _close_run(acc, run_ops, run_operands)
                run_ops, run_operands = [], []
            if group is None:
                acc = BinOp(op, acc, right)
            else:
                run_ops.append(op)
                run_operands.append(right)
        return _close_run(acc, run_ops, run_operands)

    def name(self, node: ast.Name) -> Node:
        ident = _UNESCAPED.get(node.id, node.id)
        if ident.startswith("__"):
            return self.invalid(node, f"disallowed name: {ident!r}", ident)
        if not ident.isascii():
            return self.invalid(node, f"non-ASCII identifier {ident!r}", ident)
        if ident == "np":
            return self.invalid(node, "'np' can only be used as np.<function>", "np")
        shift = self.shift
        return Name(
            ident, self.at(node) if shift is None else (1, node.col_offset + shift)
        )

    def call(self, node: ast.Call, d: int) -> Node:
        func = node.func
        if isinstance(func, ast.Attribute):
            if not isinstance(func.value, ast.Name):
                return self.invalid(node, f"invalid call root in {self.src!r}")
            root, fname = func.value.id, func.attr
            token = f"{root}.{fname}"
            if root != "np" or fname not in ALLOWED_FUNCS:
                hint = function_hint(root, fname)
                return self.invalid(
                    node, f"disallowed function call: {token}{hint}", token
                )
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                return self.invalid(
                    node, f"{token} takes positional arguments only", token
                )
            if len(node.args) != ALLOWED_FUNCS[fname]:
                return self.invalid(
                    node,
                    f"{token} takes {ALLOWED_FUNCS[fname]} argument(s), got {len(node.args)}",
                    token,
                )
            return Call(
                fname, tuple(self.convert(a, d) for a in node.args), self.at(node)
            )
        if isinstance(func, ast.Name):
            fname = _unescape(func.id)
            if self.dialect == "0.9" and (fname in _REDUCERS or fname == "apply_along"):
                return self.reducer_09(node, fname, d)
            if fname in _REDUCERS:
                return self.reducer(node, fname, d)
            if fname in _HISTORY_CALLS:
                return replace(
                    self.invalid(node, _HISTORY_CALLS[fname], fname), unsupported=True
                )
            if fname not in _HELPERS:
                hint = function_hint(None, fname)
                return self.invalid(
                    node, f"disallowed function call: {fname}{hint}", fname
                )
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                return self.invalid(
                    node, f"{fname} takes positional arguments only", fname
                )
            if fname == "sum_state":
                if node.args:
                    return self.invalid(node, "sum_state() takes no arguments", fname)
                return Call("sum_state", (), self.at(node))
            if len(node.args) != 1 or not (
                isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                return self.invalid(
                    node,
                    "sum_prefix takes one string argument, e.g. sum_prefix('I')",
                    fname,
                )
            return Call("sum_prefix", (Str(node.args[0].value),), self.at(node))
        return self.invalid(node, f"only attribute calls allowed in {self.src!r}")

    def reducer(self, node: ast.Call, fname: str, d: int) -> Node:
        usage = f"{fname}(axis=var, expression)"
        # The header `axis=var [IN [c, ...]]` arrives rewritten as `axis == var [in [...]]`.
        if (
            node.keywords
            or len(node.args) != 2
            or not isinstance(node.args[0], ast.Compare)
        ):
            return self.invalid(node, f"{fname} must be written {usage}", fname)
        head = node.args[0]
        if (
            not isinstance(head.left, ast.Name)
            or not isinstance(head.ops[0], ast.Eq)
            or not isinstance(head.comparators[0], ast.Name)
            or len(head.ops) > 2
        ):
            return self.invalid(node, f"{fname} must be written {usage}", fname)
        axis, var = head.left.id, head.comparators[0].id
        coords: tuple[str, ...] | None = None
        if len(head.ops) == 2:
            lst = head.comparators[1]
            if not isinstance(head.ops[1], ast.In) or not isinstance(lst, ast.List):
                return self.invalid(node, f"{fname} must be written {usage}", fname)
            if fname != "sum_over":
                return self.invalid(
                    node, "IN filters are only supported by sum_over", fname
                )
            coords = _coord_items(lst)
            if coords is None:
                return self.invalid(node, "IN filter items must be coordinates", fname)
        body = self.convert(node.args[1], d)
        return Reduce(fname, axis, var, coords, body, pos=self.at(node))

    def reducer_09(self, node: ast.Call, fname: str, d: int) -> Node:
        """0.9.0's `fname(body, axis=var, ...)`: one body, bindings as keywords
        (several reduce over each in turn), and for `apply_along` a `kernel=`
        (`sum` or `integrate`; without it, the axis's type decides when the
        model is bound: `_core/bind.py`)."""
        usage = f"{fname}(expression, axis=var, ...)"
        if len(node.args) != 1 or not node.keywords:
            return self.invalid(node, f"{fname} must be written {usage}", fname)
        kind = fname
        bindings: list[tuple[str, str, tuple[str, ...] | None]] = []
        for kw in node.keywords:
            if kw.arg is None:
                return self.invalid(node, f"{fname} must be written {usage}", fname)
            if kw.arg == "kernel" and fname == "apply_along":
                if not isinstance(kw.value, ast.Name) or kw.value.id not in _KERNELS:
                    return self.invalid(
                        node,
                        f"apply_along's kernel must be one of {sorted(_KERNELS)}",
                        ast.unparse(kw.value),
                    )
                kind = _KERNELS[kw.value.id]
                continue
            value, coords = kw.value, None
            if isinstance(value, ast.Compare):  # `axis=var in [c, ...]`: a filter
                coords = _filter_items(value)
                if coords is None:
                    return self.invalid(
                        node, f"{fname} must be written {usage}", kw.arg
                    )
                value = value.left
            if not isinstance(value, ast.Name):
                return self.invalid(node, f"{fname} must be written {usage}", kw.arg)
            bindings.append((kw.arg, _unescape(value.id), coords))
        if not bindings:
            return self.invalid(node, f"{fname} must be written {usage}", fname)
        body = self.convert(node.args[0], d)
        pos = self.at(node)
        for axis, var, coords in reversed(bindings):
            body = Reduce(kind, axis, var, coords, body, pos=pos)
        return body

    def subscript(self, node: ast.Subscript) -> Node:
        if not isinstance(node.value, ast.Name):
            return self.invalid(node, f"disallowed AST node Subscript in {self.src!r}")
        base = _unescape(node.value.id)
        if base.startswith("__") or not base.isascii() or base == "np":
            return self.invalid(node, f"disallowed name: {base!r}", base)
        sl = node.slice
        raw = list(sl.elts) if isinstance(sl, ast.Tuple) else [sl]
        items: list[IndexItem] = []
        for it in raw:
            item = self.index_item(it, self.at(it))
            if item is None:
                return self.invalid(
                    node, f"invalid index in {self.src!r}", ast.unparse(it)
                )
            items.append(item)
        if not items:
            return self.invalid(node, f"empty index in {self.src!r}", base)
        return Ref(base, tuple(items), self.at(node))

    @staticmethod
    def index_item(it: ast.AST, pos: Pos | None) -> IndexItem | None:
        axis: str | None = None
        v: ast.AST | None = it
        if isinstance(it, ast.Slice):  # `axis=value` (rewritten) or `axis:value`
            if it.step is not None or not isinstance(it.lower, ast.Name):
                return None
            axis, v = _unescape(it.lower.id), it.upper
        if isinstance(v, ast.Name):
            return IndexItem(axis, _unescape(v.id), False, pos)
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            # a label: quoted as written, or bare (marked by `_rewrite`)
            if v.value.startswith(BARE):
                return IndexItem(axis, v.value[len(BARE) :], False, pos, bare=True)
            return IndexItem(axis, v.value, False, pos, quoted=True)
        if (
            isinstance(v, ast.Constant)
            and isinstance(v.value, (int, float))
            and not isinstance(v.value, bool)
        ):
            return IndexItem(axis, repr(v.value), True, pos)
        if (
            isinstance(v, ast.UnaryOp)
            and isinstance(v.op, ast.USub)
            and isinstance(v.operand, ast.Constant)
            and isinstance(v.operand.value, (int, float))
        ):
            return IndexItem(axis, repr(-v.operand.value), True, pos)
        return None
