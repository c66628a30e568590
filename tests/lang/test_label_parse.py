"""Coordinate labels in expressions (`_lang/parse.py`): a quoted label is a
string literal in an index; a bare one (`S[age=0-17]`, `65+`, `06037`: text an
index cannot otherwise hold) is read as its text, marked bare. Nothing is
evaluated, and every other index reads as it always has."""

from __future__ import annotations

import pytest

from op_system._lang.ir import IndexItem, Invalid, Ref, to_source
from op_system._lang.parse import parse_expr


def _items(text: str, dialect: str = "0.1") -> tuple[IndexItem, ...]:
    node = parse_expr(text, dialect=dialect)
    assert isinstance(node, Ref), node
    return node.items


@pytest.mark.parametrize(
    ("text", "dialect", "want"),
    [
        ("S[age='0-17', vax=u]", "0.1", [("age", "0-17", "quoted"), ("vax", "u", "")]),
        ('S[age="65+"]', "0.1", [("age", "65+", "quoted")]),
        ("X[region:'06037']", "0.9", [("region", "06037", "quoted")]),
        ("S['0-17', u]", "0.1", [(None, "0-17", "quoted"), (None, "u", "")]),
        ("S[age=0-17, vax=u]", "0.1", [("age", "0-17", "bare"), ("vax", "u", "")]),
        ("S[age=65+]", "0.1", [("age", "65+", "bare")]),
        ("X[region=06037]", "0.1", [("region", "06037", "bare")]),
        ("X[region:06037]", "0.9", [("region", "06037", "bare")]),
        ("S[0 - 17]", "0.1", [(None, "0 - 17", "bare")]),  # as written
        ("S[loc=New York]", "0.1", [("loc", "New York", "bare")]),
        ("u[x=1.50]", "0.1", [("x", "1.50", "bare")]),  # not as Python writes it
    ],
)
def test_labels(
    text: str, dialect: str, want: list[tuple[str | None, str, str]]
) -> None:
    got = [
        (i.axis, i.value, "quoted" if i.quoted else "bare" if i.bare else "")
        for i in _items(text, dialect)
    ]
    assert got == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("S[age=j]", IndexItem("age", "j")),
        ("u[x=1.5]", IndexItem("x", "1.5", True)),
        ("u[x=-1.5]", IndexItem("x", "-1.5", True)),
        ("u[x=1e-05]", IndexItem("x", "1e-05", True)),
        ("S[age]", IndexItem(None, "age")),
    ],
)
def test_names_and_numbers_read_as_before(text: str, want: IndexItem) -> None:
    (item,) = _items(text)
    assert item == want
    assert not item.is_label


@pytest.mark.parametrize(
    "text",
    ["S[age=k[j]]", "S[age=(0-17)]", "S[age='a' + 'b']", "S[age=j if x else k]"],
)
def test_other_index_forms_stay_invalid(text: str) -> None:
    node = parse_expr(text)
    assert isinstance(node, Invalid), node
    assert "\x00" not in node.token
    assert "\x00" not in node.source


def test_printed_as_written() -> None:
    node = parse_expr("S[age='0-17', vax=u] + S[age=65+] + S[\"it's\"]")
    assert to_source(node) == "S[age='0-17',vax=u] + S[age=65+] + S[\"it's\"]"


def test_filter_items_unquoted() -> None:
    node = parse_expr("sum_over(age=j IN ['0-17', \"65+\", 18-64], S[age=j])")
    assert node.coords == ("0-17", "65+", "18-64")  # type: ignore[union-attr]
    node = parse_expr("sum_over(S[age:j], age=j in ['0-17', '65+'])", dialect="0.9")
    assert node.coords == ("0-17", "65+")  # type: ignore[union-attr]


def test_position_of_a_bare_label() -> None:
    """Errors about a bare label point at its item, as written."""
    (item,) = _items("  S[age=0-17]")
    assert item.pos == (1, 5)


def test_quoted_selector_is_0_9_spelling() -> None:
    from op_system._spec.dialect import spec_dialect

    spec = {
        "axes": [{"name": "age", "coords": ["0-17", "65+"]}],
        "state": ["S[age]"],
        "equations": {"S[age]": "-S[age:'0-17']"},
    }
    assert spec_dialect(spec) == "0.9"
    spec["equations"] = {"S[age]": "-S[age='0-17']"}
    assert spec_dialect(spec) == "0.1"
