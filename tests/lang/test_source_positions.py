"""Source positions: every name, reference, index, call and reduction the parser
makes knows where it stands in the text as written, through the parser's token
rewrite, line breaks and leading blanks; errors report it, and for a spec loaded
from a file, the file's line and column of the offending token.

Checked against the text itself: the characters at a node's position must spell
what the node says, on the expressions of every parity spec and of generated
specs, also after their blanks are randomly replaced by line breaks and runs of
spaces (which change every offset and none of the meaning).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.differential.generate import generate_cases
from tests.parity.cases import CASES

from op_system import ExpressionError, SpecError, compile_spec, load_spec
from op_system._lang.ir import (
    ALLOWED_FUNCS,
    Call,
    IndexItem,
    Invalid,
    Name,
    Node,
    Reduce,
    Ref,
    walk,
)
from op_system._lang.parse import parse_expr


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)


def _expressions() -> list[str]:
    """Every parseable string of the parity specs and 150 generated specs."""
    specs = [c.get("spec", c) for c in CASES]
    specs += [c["spec"] for c in generate_cases(150, seed=11)]
    out: dict[str, None] = {}
    for spec in specs:
        for s in _strings(spec):
            try:
                parse_expr(s)
            except ExpressionError:
                continue
            out[s] = None
    return list(out)


EXPRESSIONS = _expressions()


def _at(text: str, pos: tuple[int, int]) -> str:
    line, col = pos
    return text.split("\n")[line - 1][col - 1 :]


def _items(node: Node) -> Iterator[IndexItem]:
    if isinstance(node, Ref):
        yield from node.items


def _check_positions(text: str) -> int:
    """Assert that each positioned node of `text` spells itself there; count them."""
    n = 0
    for node in walk(parse_expr(text)):
        if isinstance(node, (Name, Ref, Call, Reduce, Invalid)):
            assert node.pos is not None, (text, node)
            here = _at(text, node.pos)
            n += 1
        if isinstance(node, Name):
            assert here.startswith(node.id), (text, node, node.pos)
        elif isinstance(node, Ref):
            assert here.startswith(node.base), (text, node, node.pos)
        elif isinstance(node, Call):
            spelled = (
                rf"np\s*\.\s*{node.func}\b"
                if node.func in ALLOWED_FUNCS
                else rf"{node.func}\b"
            )
            assert re.match(spelled, here), (text, node, node.pos)
        elif isinstance(node, Reduce):
            assert here.startswith(node.kind), (text, node, node.pos)
        for item in _items(node):
            assert item.pos is not None, (text, item)
            first = item.axis if item.axis is not None else item.value
            if item.is_number and item.axis is None:
                assert re.match(r"[-+.\d]", _at(text, item.pos)), (text, item)
            else:
                assert _at(text, item.pos).startswith(first), (text, item, item.pos)
            n += 1
    return n


def test_corpus_is_rich() -> None:
    """The corpus has indexed, reduced and filtered expressions (else the checks
    below would prove little)."""
    joined = "\n".join(EXPRESSIONS)
    assert len(EXPRESSIONS) > 300
    for construct in ("sum_over(", " IN ", "=", "np.", "[", "sum_state"):
        assert construct in joined, construct


def test_every_node_spells_itself_at_its_position() -> None:
    assert sum(_check_positions(e) for e in EXPRESSIONS) > 2000


def _respace(text: str, rng: random.Random) -> str:
    """`text` with each blank replaced by a random run of spaces and line breaks,
    and leading blanks added (the parser reads both as one space)."""
    pieces = re.split(r"(?<=[\s(,*+/-])", text)
    out = [rng.choice(["", "  ", "\n ", "\n"])]
    for p in pieces:
        out.append(p)
        if p.endswith((" ", "(", ",")) and rng.random() < 0.5:
            out.append(rng.choice(["\n", "   ", "\n    "]))
    return "".join(out)


def test_positions_survive_line_breaks_and_blanks() -> None:
    rng = random.Random(20261207)
    checked = 0
    for text in EXPRESSIONS:
        moved = _respace(text, rng)
        assert parse_expr(moved) == parse_expr(text)  # same meaning
        checked += _check_positions(moved)
    assert checked > 2000


@pytest.mark.parametrize(
    "text",
    [
        "  lambda[age] * S[age]",  # an escaped keyword is longer once rewritten
        "sum_over(age=j IN [0-4, 65+], lambda[j] * I[age=j]) + mu",  # IN and `=`
        "sum_over(age = j, C[age, j] * I[age = j]) * lambda[age]",
        "beta * S\n  * sum_over(age=j,\n    I[age=j])",
        "sum_prefix('Ié') + beta * S[age]",  # non-ASCII text: bytes are not columns
        "np.exp(-k * t) * np . maximum(x, y)",
    ],
)
def test_positions_through_the_token_rewrite(text: str) -> None:
    assert _check_positions(text) > 0


SPEC = """\
kind: expr
axes:
  - {name: age, coords: [young, old]}
state: ["S[age]", "I[age]"]
equations:
  S[age]: -beta * S[age] * sum_over(age=j, I[age=j])
  I[age]: "beta * S[age] * I[age] - gamma * I[age]"
"""


@pytest.mark.parametrize(
    ("old", "new", "token", "error"),
    [
        ("I[age=j])", "I[age=k])", "age=k", ExpressionError),  # unknown coordinate
        ("- gamma * I[age]", "- gamma * I[agee]", "agee", ExpressionError),
        ("- gamma", "- np.load(gamma)", "np.load", ExpressionError),
        ("sum_over(age=j", "sum_over(ages=j", "sum_over", SpecError),
        ("gamma * I[age]", "gamma * (I[age]", "(", ExpressionError),  # syntax
        (
            "sum_over(age=j, I[age=j])",
            "sum_over(age=j, I[age=j, age=j])",
            "age=j",
            ExpressionError,
        ),
    ],
)
def test_errors_in_files_point_at_the_token(
    tmp_path: Path, old: str, new: str, token: str, error: type[Exception]
) -> None:
    text = SPEC.replace(old, new, 1)
    assert text != SPEC
    f = tmp_path / "model.yaml"
    f.write_text(text)
    with pytest.raises(error) as info:
        compile_spec(load_spec(f))
    exc = info.value
    assert exc.pos is not None  # type: ignore[attr-defined]
    assert exc.location is not None  # type: ignore[attr-defined]
    where = re.search(r"model\.yaml:(\d+):(\d+)", str(exc))
    assert where is not None, str(exc)
    line, col = int(where[1]), int(where[2])
    assert text.split("\n")[line - 1][col - 1 :].startswith(token), str(exc)


def test_multi_line_literal_blocks_map_to_file_lines(tmp_path: Path) -> None:
    text = SPEC.replace(
        "  S[age]: -beta * S[age] * sum_over(age=j, I[age=j])",
        "  S[age]: |\n    -beta * S[age]\n      * sum_over(age=j, I[age=jj])",
    )
    f = tmp_path / "model.yaml"
    f.write_text(text)
    with pytest.raises(ExpressionError, match=r"line 2, column 23") as info:
        compile_spec(load_spec(f))
    where = re.search(r"model\.yaml:(\d+):(\d+)", str(info.value))
    assert where is not None
    assert text.split("\n")[int(where[1]) - 1][int(where[2]) - 1 :].startswith("age=jj")


def test_dict_specs_report_the_expression_column() -> None:
    spec = {
        "state": ["S", "I"],
        "equations": {"S": "-beta * S * I", "I": "beta * S * I - foo(I)"},
    }
    with pytest.raises(ExpressionError, match=r"at equations\['I'\], column 16\)"):
        compile_spec(spec)


def test_positions_are_not_part_of_a_node_identity() -> None:
    """The same expression at another place is the same node (programs share it)."""
    a, b = parse_expr("beta * S"), parse_expr("   beta   *   S")
    assert a == b
    assert hash(a) == hash(b)
    assert repr(a) == repr(b)  # and positions are not printed
