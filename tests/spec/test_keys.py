"""Unknown keys in a transition or a chain are errors, with the key meant.

op-system 0.1.2 and 0.9.0 ignore them: `rat:` made a transition without a
rate ("must be a string"), `stoichiometry: {...}` was silently dropped.
"""

from __future__ import annotations

from typing import Any

import pytest

from op_system import SpecError, normalize_rhs


def transitions(*entries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "transitions",
        "state": ["S", "I", "R"],
        "transitions": list(entries),
        **extra,
    }


INFECTION = {"from": "S", "to": "I", "rate": "beta * I"}


@pytest.mark.parametrize("dialect", [None, "0.1", "0.9"])
def test_a_misspelt_rate_key_names_the_key_meant(dialect: str | None) -> None:
    spec = transitions(INFECTION, {"from": "I", "to": "R", "rat": "gamma"})
    if dialect is not None:
        spec["dialect"] = dialect
    with pytest.raises(
        SpecError, match=r"unknown key 'rat' \(did you mean 'rate'\?\)"
    ) as err:
        normalize_rhs(spec)
    assert (err.value.path, err.value.token) == ("transitions[1].rat", "rat")


def test_stoichiometry_on_a_transition_says_what_to_write_instead() -> None:
    spec = transitions({**INFECTION, "stoichiometry": {"S": -1, "I": 2}})
    with pytest.raises(SpecError, match="unknown key 'stoichiometry'") as err:
        normalize_rhs(spec)
    assert "reaction:" in str(err.value)
    assert "X -> 2 X" in str(err.value)


def test_source_and_target_say_from_and_to() -> None:
    with pytest.raises(SpecError, match=r"unknown key 'source': write `from:`"):
        normalize_rhs(transitions({"source": "S", "to": "I", "rate": "b"}))


@pytest.mark.parametrize(
    ("chain", "path", "key", "meant"),
    [
        (
            {"name": "E", "lenght": 3, "forward": "k"},
            "chain[0].lenght",
            "lenght",
            "length",
        ),
        (
            {
                "name": "E",
                "length": 3,
                "forward": "k",
                "entry": {"from": "S", "rat": "b"},
            },
            "chain[0].entry.rat",
            "rat",
            "rate",
        ),
        (
            {
                "name": "E",
                "length": 3,
                "forward": "k",
                "exit": {"to": "I", "rates": "c"},
            },
            "chain[0].exit.rates",
            "rates",
            "rate",
        ),
    ],
)
def test_unknown_chain_keys_are_errors(
    chain: dict[str, Any], path: str, key: str, meant: str
) -> None:
    for spec in (
        transitions(INFECTION, chain=[chain]),
        {"state": ["S", "I"], "equations": {"S": "-S", "I": "S"}, "chain": [chain]},
    ):
        with pytest.raises(SpecError, match=f"did you mean '{meant}'") as err:
            normalize_rhs(spec)
        assert (err.value.path, err.value.token) == (path, key)


def test_unknown_keys_of_a_templated_chain_are_errors() -> None:
    spec = {
        "kind": "transitions",
        "axes": [{"name": "age", "coords": ["a", "b"]}],
        "state": ["S[age]", "R[age]"],
        "transitions": [{"from": "S[age]", "to": "R[age]", "rate": "g"}],
        "chain": [{"name": "E[age]", "length": 2, "forwrd": "k"}],
    }
    with pytest.raises(SpecError, match=r"did you mean 'forward'"):
        normalize_rhs(spec)


def test_known_and_descriptive_keys_are_accepted() -> None:
    rhs = normalize_rhs(
        transitions(
            {**INFECTION, "name": "infection", "description": "mass action"},
            {"from": "I", "to": "R", "rate": "gamma", "notes": "about 10 days"},
            chain=[
                {
                    "name": "E",
                    "length": 2,
                    "forward": "k",
                    "entry": {"from": "S", "rate": "b"},
                    "exit": {"to": "I", "rate": "c"},
                    "description": "latent stages",
                }
            ],
        )
    )
    assert rhs.param_names == ("b", "beta", "c", "gamma", "k")


def test_an_unknown_field_of_a_0_9_observable_names_the_field_meant() -> None:
    spec = transitions(
        INFECTION,
        observables={"prev": {"expr": "I", "reductoin": {"kind": "sum", "axes": []}}},
    )
    with pytest.raises(SpecError, match=r"did you mean 'reduction'"):
        normalize_rhs(spec)
