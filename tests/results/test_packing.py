"""Names in, names out: `pack`, `unpack` and `initial_state` on an age ×
vaccination model with an incidence counter, against state vectors written out
by hand from the expanded names."""

from __future__ import annotations

import numpy as np
import pytest
from tests.results._campaign import I0, S0, SPEC, y0_vector

from op_system import (
    ParameterError,
    SpecError,
    StateNameError,
    StateShapeError,
    compile_spec,
)

C = compile_spec(SPEC)
AGE = {"kid": 0, "adult": 1}
VAX = {"u": 0, "v": 1}


def by_names(values: dict[str, np.ndarray]) -> np.ndarray:
    """The state vector read off the expanded names: `B__age_a__vax_v` is
    `values[B][a, v]` (blocks not given: 0)."""
    out = []
    for name in C.state_names:
        base, age, vax = name.split("__")
        block = values.get(base)
        out.append(0.0 if block is None else block[AGE[age[4:]], VAX[vax[4:]]])
    return np.array(out)


def test_blocks_round_trip_against_the_expanded_names() -> None:
    rng = np.random.default_rng(0)
    blocks = {b: rng.random((2, 2)) for b in ("S", "I", "R", "cases")}
    y = C.pack(blocks)
    np.testing.assert_array_equal(y, by_names(blocks))
    assert y.dtype == np.float64
    assert y.shape == (16,)
    back = C.unpack(y)
    assert list(back) == ["S", "I", "R", "cases"]
    for b, arr in blocks.items():
        np.testing.assert_array_equal(back[b], arr)
    # the test model's own hand-written vector
    np.testing.assert_array_equal(C.pack(S=S0, I=I0), y0_vector())


def test_cells_keys_scalars_and_fill() -> None:
    y = C.pack(
        {"I[age=adult, vax=u]": 20.0, "R__age_kid__vax_v": 3.0, "S[vax=v]": [1.0, 2.0]},
        S=7.0,  # a scalar fills the block; the keys above are more specific
        fill=-1.0,
    )
    want = by_names(
        {
            "S": np.array([[7.0, 1.0], [7.0, 2.0]]),
            "I": np.array([[-1.0, -1.0], [20.0, -1.0]]),
            "R": np.array([[-1.0, 3.0], [-1.0, -1.0]]),
            "cases": np.full((2, 2), -1.0),
        }
    )
    np.testing.assert_array_equal(y, want)


def test_unpack_keeps_leading_dimensions() -> None:
    rng = np.random.default_rng(1)
    ys = rng.random((3, 5, 16))
    got = C.unpack(ys)
    assert got["I"].shape == (3, 5, 2, 2)
    # I__age_adult__vax_u is column 6
    assert C.state_names[6] == "I__age_adult__vax_u"
    np.testing.assert_array_equal(got["I"][:, :, 1, 0], ys[:, :, 6])
    with pytest.raises(StateShapeError, match=r"\(\.\.\., 16\)"):
        C.unpack(np.zeros((5, 15)))


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("Ss", "did you mean 'S'"),
        ("I__age_kid__vax_w", "did you mean 'I__age_kid__vax_v'"),
        ("I[age=adlt]", "did you mean 'adult'"),
        ("I[ag=kid]", "did you mean 'age'"),
        ("Q[age=kid]", "not a state"),
        ("I[age=kid, age=kid]", "twice"),
        ("I[age=kid", "not a state name or a cell key"),
    ],
)
def test_unknown_names_are_errors_with_did_you_mean(key: str, message: str) -> None:
    with pytest.raises(StateNameError, match=message) as info:
        C.pack({key: 1.0})
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, ValueError)
    assert message in str(info.value)  # not quoted as a KeyError's repr


def test_wrong_shapes_and_overlaps() -> None:
    with pytest.raises(StateShapeError, match=r"shape \(2, 2\).*got shape \(3,\)"):
        C.pack(S=[1.0, 2.0, 3.0])
    with pytest.raises(StateShapeError, match="sets cells another key"):
        C.pack({"S[age=kid]": 1.0, "S[vax=u]": 2.0})
    with pytest.raises(StateNameError, match="strings"):
        C.pack({3: 1.0})  # type: ignore[dict-item]


def test_a_chain_is_a_block_over_its_stages() -> None:
    from tests.models import chain

    c = compile_spec(chain())
    assert c.state_names == ("S", "R", "E1", "E2", "E3")
    y = c.pack(S=5.0, E=[1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, [5.0, 0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(c.unpack(y)["E"], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(c.pack({"E2": 7.0}), [0.0, 0.0, 0.0, 7.0, 0.0])


def test_initial_state_from_the_spec() -> None:
    spec = {  # op-system 0.9.0's language: pinned keys, numbers, shaped seeds
        "kind": "transitions",
        "axes": SPEC["axes"][:2],
        "state": ["S[age,vax]", "I[age,vax]", "R[age,vax]"],
        "transitions": [
            {"from": "S[age,vax]", "to": "I[age,vax]", "rate": "beta * I[age, vax]"},
            {"from": "I[age,vax]", "to": "R[age,vax]", "rate": "gamma"},
        ],
        "dialect": "0.9",
        "initial_state": {
            "S[age, vax=u]": {"shaped": "N0", "axes": ["age"]},
            "I[age=adult, vax=u]": "seed",
            "R[age, vax]": 1.0,
        },
    }
    c = compile_spec(spec)
    y = c.initial_state(N0=np.array([3000.0, 6000.0]), seed=20.0)
    want = by_names(
        {
            "S": np.array([[3000.0, 0.0], [6000.0, 0.0]]),
            "I": np.array([[0.0, 0.0], [20.0, 0.0]]),
            "R": np.ones((2, 2)),
        }
    )[:12]  # no counter in this model
    np.testing.assert_array_equal(y, want)
    with pytest.raises(ParameterError, match="'seed'"):
        c.initial_state(N0=np.array([3000.0, 6000.0]))
    with pytest.raises(ParameterError, match=r"takes shape \(2,\)"):
        c.initial_state(N0=np.array([3000.0]), seed=1.0)
    with pytest.raises(SpecError, match="no initial_state"):
        C.initial_state()


def test_initial_state_of_0_1_2_templates() -> None:
    c = compile_spec({**SPEC, "initial_state": {"S[age, vax]": "S0[age, vax]"}})
    names = {
        f"S0__age_{a}__vax_{v}": 10.0 * i
        for i, (a, v) in enumerate(
            [("kid", "u"), ("kid", "v"), ("adult", "u"), ("adult", "v")]
        )
    }
    y = c.initial_state(**names)
    np.testing.assert_array_equal(
        y, by_names({"S": np.array([[0.0, 10.0], [20.0, 30.0]])})
    )
