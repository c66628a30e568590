"""Labels in keys (`_spec/labels.py`): splitting `S[age='0-17', vax=u]` at
commas and pins outside quotes, without evaluating anything."""

from __future__ import annotations

import pytest

from op_system._spec.labels import quote_label, split_items, split_pin, unquote


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("age, vax", ["age", "vax"]),
        ("age='0-17', vax = u", ["age='0-17'", "vax = u"]),
        ("loc='a, b', x", ["loc='a, b'", "x"]),  # a comma inside quotes
        ('loc="it\'s", x', ['loc="it\'s"', "x"]),
        ("age,", ["age", ""]),
    ],
)
def test_split_items(text: str, want: list[str]) -> None:
    assert split_items(text) == want


@pytest.mark.parametrize(
    ("item", "want"),
    [
        ("age", ("age", None, False)),
        ("age=0-17", ("age", "0-17", False)),
        ("age = '0-17'", ("age", "0-17", True)),
        ('region:"06037"', ("region", "06037", True)),
        ("t='a=b:c'", ("t", "a=b:c", True)),  # `=` and `:` inside quotes
        ("age=' 65+ '", ("age", " 65+ ", True)),  # blanks inside quotes are kept
    ],
)
def test_split_pin(item: str, want: tuple[str, str | None, bool]) -> None:
    assert split_pin(item) == want


def test_unquote_and_quote_round_trip() -> None:
    for label in ["0-17", "65+", "06037", "New York", "it's", 'say "hi"']:
        text = quote_label(label)
        assert unquote(text) == (label, True)
    assert unquote(" 0-17 ") == ("0-17", False)
    assert unquote("'0-17\"") == ("'0-17\"", False)  # unmatched quotes stay
