"""`events:` as written: keys, actions, targets and expressions are checked when
the spec is built, each mistake an error naming its spec path and token, with
did-you-mean (`_spec/events.py` checks the data, `_core/events.py` binds it)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from op_system import SpecError, SpecWarning, normalize_rhs

AGE_SEIR: dict[str, Any] = {
    "kind": "transitions",
    "axes": [
        {"name": "age", "coords": ["child", "adult"]},
        {"name": "vax", "coords": ["u", "v"]},
    ],
    "state": ["S[age, vax]", "E[age, vax]", "I[age, vax]"],
    "transitions": [
        {"from": "S[age, vax]", "to": "E[age, vax]", "rate": "beta * I[age, vax]"},
        {"from": "E[age, vax]", "to": "I[age, vax]", "rate": "sigma"},
    ],
}


def _events(*events: Any, **extra: Any) -> Any:
    return normalize_rhs({**AGE_SEIR, **extra, "events": list(events)})


@pytest.mark.parametrize(
    ("event", "path", "token", "fragment"),
    [
        (
            {"time": 1, "move": {"from": "S", "to": "E", "amuont": 3}},
            "events[0].move.amuont",
            "amuont",
            "did you mean 'amount'",
        ),
        (
            {"time": 1, "set": {"I": 1}, "add": {"I": 1}},
            "events[0]",
            None,
            "exactly one",
        ),
        ({"time": 1}, "events[0]", None, "exactly one"),
        ({"tim": 1, "add": {"I": 1}}, "events[0].tim", "tim", "did you mean 'time'"),
        ({"time": 1, "add": {"Q": 1}}, "events[0].add['Q']", "Q", "not a state"),
        (
            {"time": 1, "add": {"S__age_adlt__vax_u": 1}},
            "events[0].add['S__age_adlt__vax_u']",
            "S__age_adlt__vax_u",
            "did you mean 'S__age_adult__vax_u'",
        ),
        (
            {"time": 1, "add": {"S[age=adlt, vax=u]": 1}},
            "events[0].add['S[age=adlt, vax=u]']",
            "adlt",
            "did you mean 'adult'",
        ),
        (
            {"time": "S", "add": {"I": 1}},
            "events[0].time",
            "S",
            "not a parameter",
        ),
        (
            {"time": 1, "add": {"I": "sum_state()"}},
            "events[0].add['I']",
            "sum_state()",
            "read no states",
        ),
        (
            {"time": 1, "move": {"from": "S", "to": "E[age=adult, vax]", "amount": 1}},
            "events[0].move",
            None,
            "one to one",
        ),
        (
            {"time": 1, "move": {"from": "S", "to": "S", "amount": 1}},
            "events[0].move",
            None,
            "share cells",
        ),
        ({"time": 1, "add": {"S": [1, 2]}}, "events[0].add['S']", None, "one per cell"),
        ({"time": True, "add": {"I": 1}}, "events[0].time", None, "number"),
        ({"time": 1, "add": {}}, "events[0].add", None, "non-empty"),
    ],
)
def test_a_mistake_names_its_path(
    event: dict[str, Any], path: str, token: str | None, fragment: str
) -> None:
    with pytest.raises(SpecError) as err:
        _events(event)
    assert err.value.path == path, str(err.value)
    if token is not None:
        assert err.value.token == token, str(err.value)
    assert fragment in str(err.value)


def test_events_must_be_a_list() -> None:
    with pytest.raises(SpecError, match="must be a list") as err:
        normalize_rhs({**AGE_SEIR, "events": {"time": 1}})
    assert err.value.path == "events"


def test_with_a_parameters_block_undeclared_names_are_errors() -> None:
    """With `parameters:`, an event's name is declared or an error (did-you-mean
    over the declared ones); without, a name spelt like one of the model's
    parameters warns (it would silently be a second parameter)."""
    declared = {"parameters": {"beta": {}, "sigma": {}, "n_seed": {}}}
    _events({"time": 1, "add": {"I": "n_seed"}}, **declared)
    with pytest.raises(SpecError, match="did you mean 'n_seed'") as err:
        _events({"time": 1, "add": {"I": "n_sed"}}, **declared)
    assert (err.value.path, err.value.token) == ("events[0].add['I']", "n_sed")
    with pytest.warns(SpecWarning, match="did you mean 'beta'"):
        _events({"time": "betta", "add": {"I": 1}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _events({"time": "t_pulse", "add": {"I": 1}})  # a new name: no warning


def test_the_unknown_top_level_key_warning_knows_events() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _events({"time": 1, "add": {"I": 1}})
