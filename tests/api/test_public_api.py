"""The public surface of op-system 0.1.2 is all here, with the same behaviour."""

from __future__ import annotations

import pytest

import op_system


def test_everything_0_1_2_exported_is_exported() -> None:
    names = {
        "compile_spec",
        "normalize_rhs",
        "normalize_expr_rhs",
        "normalize_transitions_rhs",
        "compile_rhs",
        "NormalizedRhs",
        "CompiledRhs",
        "EvalFn",
        "IdentifierString",
        "StateString",
        "SUPPORTED_RHS_KINDS",
        "EXPERIMENTAL_FEATURES",
        "__version__",
    }
    assert names <= set(op_system.__all__)
    assert op_system.SUPPORTED_RHS_KINDS == ("expr", "transitions")
    assert not op_system.EXPERIMENTAL_FEATURES
    assert isinstance(op_system.EXPERIMENTAL_FEATURES, frozenset)
    from op_system.compile import CompiledRhs, compile_rhs  # noqa: F401
    from op_system.specs import (  # noqa: F401
        ConstraintRule,
        NormalizedRhs,
        normalize_expr_rhs,
        normalize_rhs,
        normalize_transitions_rhs,
    )


def test_identifier_string_in_a_pydantic_model() -> None:
    pydantic = __import__("pydantic")

    class Example(pydantic.BaseModel):
        identifier: op_system.IdentifierString

    assert Example(identifier="  Foobar  ").identifier == "Foobar"
    with pytest.raises(pydantic.ValidationError, match="alphanumerical"):
        Example(identifier="123abc")
    with pytest.raises(pydantic.ValidationError, match="must not be empty"):
        Example(identifier="  ")


def test_state_string_parsing_and_pydantic() -> None:
    pydantic = __import__("pydantic")
    s = op_system.StateString.model_validate("Foobar[ age , vax ]")
    assert s == op_system.StateString(name="Foobar", dims=("age", "vax"))
    assert str(s) == "Foobar[age,vax]"
    assert s.model_dump() == "Foobar[age,vax]"
    with pytest.raises(ValueError, match="Invalid state string"):
        op_system.StateString.model_validate("123Invalid[dim]")

    class Holder(pydantic.BaseModel):
        state: op_system.StateString

    h = Holder(state="R[age]")
    assert h.state.dims == ("age",)
    assert h.model_dump() == {"state": "R[age]"}


def test_normalized_and_compiled_fields() -> None:
    rhs = op_system.normalize_rhs(
        {
            "state": ["x"],
            "equations": {"x": "-k * x"},
            "axes": [{"name": "a", "coords": ["p"]}],
        }
    )
    for field in (
        "kind",
        "state_names",
        "equations",
        "aliases",
        "param_names",
        "all_symbols",
        "meta",
    ):
        assert hasattr(rhs, field)
    c = op_system.compile_rhs(rhs)
    for field in ("state_names", "param_names", "eval_fn", "meta", "bind"):
        assert hasattr(c, field)
    assert c.meta["axes"][0]["name"] == "a"
    # positional construction as with 0.1.2's dataclasses
    manual = op_system.NormalizedRhs(
        "expr", ("x",), ("-k * x",), {}, ("k",), frozenset({"x", "k"}), {}
    )
    assert op_system.compile_rhs(manual).eval_fn(0.0, [2.0], k=3.0).tolist() == [-6.0]
