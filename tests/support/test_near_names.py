"""The near-miss rule that turns a typo into a warning, and its index."""

from __future__ import annotations

import random
import string

import pytest

from op_system._support.errors import NearIndex, edit_distance, near_names


@pytest.mark.parametrize(
    ("word", "candidates", "expected"),
    [
        ("Ii", ["I", "S"], ["I"]),
        ("II", ["I"], ["I"]),
        ("gama", ["gamma"], ["gamma"]),
        ("gmama", ["gamma"], ["gamma"]),  # neighbours swapped
        ("lamda", ["lambda", "lam"], ["lambda"]),
        ("FOI", ["foi"], ["foi"]),
        ("sum_states", ["sum_state"], ["sum_state"]),
        ("Ii1", ["I1"], ["I1"]),
        # ordinary names next to short state names stay quiet
        ("R0", ["R"], []),
        ("Rt", ["R"], []),
        ("mu", ["M"], []),
        ("beta1", ["beta2"], []),
        ("E3", ["E1", "E2"], []),
        ("lam0", ["lam"], []),
        ("w10", ["x10"], []),
        ("Sv", ["Sw"], []),
        ("r", ["R"], []),
    ],
)
def test_the_rule(word: str, candidates: list[str], expected: list[str]) -> None:
    assert near_names(word, candidates) == expected


def test_edit_distance_by_hand() -> None:
    assert edit_distance("gamma", "gamma") == 0
    assert edit_distance("gama", "gamma") == 1
    assert edit_distance("gmama", "gamma") == 1
    assert edit_distance("kitten", "sitting") == 3


def test_the_index_finds_what_comparing_every_pair_finds() -> None:
    """The index only narrows which pairs are compared: on random names (with
    near misses of each other mixed in) it finds the same as all pairs."""
    rng = random.Random(7)

    def name() -> str:
        stem = "".join(
            rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 6))
        )
        return stem + rng.choice(["", "1", "_2", "10"])

    names = [name() for _ in range(150)]
    words = [name() for _ in range(60)] + [n[:-1] for n in names[:40]]
    words += [n + "x" for n in names[:40]] + [n.swapcase() for n in names[:20]]
    index = NearIndex(names)
    for w in words:
        every_pair = {c for c in names if near_names(w, [c])}
        assert set(index.near(w)) == every_pair, w
