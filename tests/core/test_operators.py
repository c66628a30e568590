"""Validation of the `operators` block, following upstream op_system's main branch.

Upstream (after 0.1.2) checks `apply_to` against the states, the kind-specific
fields of advection/transport and jump_integral operators, and lower-cases
`kind`. The error messages contain upstream's wording.
"""

from __future__ import annotations

from typing import Any

import pytest

from op_system import SpecError, compile_spec, normalize_rhs
from op_system.specs import normalize_expr_rhs, normalize_transitions_rhs


def expr_spec(*ops: dict[str, Any], **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "kind": "expr",
        "axes": [{"name": "x", "coords": ["a", "b"]}],
        "state": ["S", "I[x]"],
        "operators": list(ops),
        "equations": {"S": "0.0", "I[x]": "-I[x]"},
    }
    spec.update(extra)
    return spec


def ops_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    ops = normalize_rhs(spec).meta["operators"]
    assert isinstance(ops, list)
    return ops


# -- apply_to ---------------------------------------------------------------------------


def test_apply_to_must_name_a_state() -> None:
    spec = expr_spec(
        {
            "name": "adv",
            "axis": "x",
            "kind": "advection",
            "velocity": "v",
            "apply_to": ["X"],
        }
    )
    with pytest.raises(ValueError, match=r"apply_to\[0\]='X' not in state") as info:
        normalize_expr_rhs(spec)
    err = info.value
    assert isinstance(err, SpecError)
    assert err.path == "operators[0].apply_to[0]"
    assert err.token == "X"
    assert str(err).startswith("Invalid op_system RHS specification.")


def test_apply_to_reports_the_failing_index_and_suggests() -> None:
    spec = expr_spec(
        {"axis": "x", "kind": "diffusion", "apply_to": ["S", "Ix"]}, state=["S", "Ixy"]
    )
    spec["equations"] = {"S": "0.0", "Ixy": "0.0"}
    with pytest.raises(
        SpecError,
        match=r"operators\[0\]\.apply_to\[1\]='Ix' not in state \(did you mean 'Ixy'\?\)",
    ):
        normalize_rhs(spec)


@pytest.mark.parametrize("target", ["S", "I[x]", "I", "I__x_a"])
def test_apply_to_accepts_state_entries_base_names_and_expanded_names(
    target: str,
) -> None:
    spec = expr_spec({"axis": "x", "kind": "diffusion", "apply_to": [f"  {target} "]})
    assert ops_of(spec)[0]["apply_to"] == [target]


def test_apply_to_in_transitions_models() -> None:
    base = {
        "kind": "transitions",
        "axes": [{"name": "x", "coords": ["a", "b"]}],
        "state": ["S[x]", "I[x]"],
        "transitions": [{"from": "S[x]", "to": "I[x]", "rate": "beta"}],
    }
    ok = {
        **base,
        "operators": [{"axis": "x", "kind": "diffusion", "apply_to": ["S[x]", "I"]}],
    }
    assert normalize_transitions_rhs(ok).meta["operators"][0]["apply_to"] == [
        "S[x]",
        "I",
    ]
    bad = {**base, "operators": [{"axis": "x", "kind": "diffusion", "apply_to": ["R"]}]}
    with pytest.raises(ValueError, match=r"apply_to\[0\]='R' not in state"):
        normalize_transitions_rhs(bad)


@pytest.mark.parametrize("apply_to", [[], "S", {"S": 1}])
def test_apply_to_must_be_a_non_empty_list(apply_to: object) -> None:
    spec = expr_spec({"axis": "x", "kind": "diffusion", "apply_to": apply_to})
    with pytest.raises(
        SpecError,
        match=r"operators\[0\]\.apply_to must be a non-empty list of state names",
    ):
        normalize_rhs(spec)


@pytest.mark.parametrize("item", ["", "  ", 3, None])
def test_apply_to_entries_must_be_non_empty_strings(item: object) -> None:
    spec = expr_spec({"axis": "x", "kind": "diffusion", "apply_to": ["S", item]})
    with pytest.raises(
        SpecError, match=r"operators\[0\]\.apply_to\[1\] must be a non-empty string"
    ):
        normalize_rhs(spec)


def test_operators_in_the_meta_block_are_validated_too() -> None:
    spec = expr_spec(
        meta={"operators": [{"axis": "x", "kind": "diffusion", "apply_to": ["X"]}]}
    )
    del spec["operators"]
    with pytest.raises(ValueError, match=r"apply_to\[0\]='X' not in state"):
        normalize_rhs(spec)


# -- header fields ----------------------------------------------------------------------


def test_kind_is_lower_cased_and_name_stripped() -> None:
    (op,) = ops_of(
        expr_spec(
            {"name": " d ", "axis": " x ", "kind": " Diffusion ", "bc": " Neumann "}
        )
    )
    assert op == {"name": "d", "axis": "x", "kind": "diffusion", "bc": "Neumann"}


def test_kind_is_required_with_upstream_wording() -> None:
    with pytest.raises(
        ValueError,
        match=r"operators\[0\]\.kind must be a non-empty string \(e\.g\., advection/jump_integral\)",
    ):
        normalize_rhs(expr_spec({"axis": "x"}))


@pytest.mark.parametrize("name", ["", "   ", 5])
def test_name_must_be_a_non_empty_string_if_provided(name: object) -> None:
    with pytest.raises(
        ValueError, match=r"operators\[0\]\.name must be a non-empty string if provided"
    ):
        normalize_rhs(expr_spec({"name": name, "axis": "x", "kind": "diffusion"}))


def test_unknown_axis_and_bad_bc_still_rejected() -> None:
    with pytest.raises(ValueError, match=r"operators\[0\] references unknown axis 'y'"):
        normalize_rhs(expr_spec({"axis": "y", "kind": "diffusion"}))
    with pytest.raises(
        ValueError, match=r"operators\[0\]\.bc must be a non-empty string if provided"
    ):
        normalize_rhs(expr_spec({"axis": "x", "kind": "diffusion", "bc": ""}))


def test_non_list_operators_are_kept_as_given() -> None:
    assert normalize_rhs(expr_spec(operators={"default": {"scheme": "cn"}})).meta[
        "operators"
    ] == {"default": {"scheme": "cn"}}


# -- advection / transport --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["advection", "transport", "Advection"])
def test_velocity_expression_or_number(kind: str) -> None:
    ops = ops_of(
        expr_spec(
            {"axis": "x", "kind": kind, "velocity": " v_x "},
            {"axis": "x", "kind": kind, "velocity": 2},
        )
    )
    assert ops[0]["velocity"] == "v_x"
    assert ops[1]["velocity"] == 2.0
    assert isinstance(ops[1]["velocity"], float)


@pytest.mark.parametrize("velocity", ["", "  ", True, [1.0], {"v": 1}])
def test_velocity_must_be_an_expression_or_number(velocity: object) -> None:
    spec = expr_spec({"axis": "x", "kind": "advection", "velocity": velocity})
    with pytest.raises(
        ValueError,
        match=r"operators\[0\]\.velocity must be a non-empty string or number",
    ):
        normalize_rhs(spec)


def test_missing_velocity_without_apply_to_is_accepted_as_in_0_1_2() -> None:
    # op-system 0.1.2 (and its test suite) accepts a bare advection operator declaration.
    (op,) = ops_of(
        expr_spec({"name": "op0", "axis": "x", "kind": "advection", "bc": "periodic"})
    )
    assert "velocity" not in op


@pytest.mark.parametrize("kind", ["advection", "transport"])
def test_missing_velocity_of_an_operator_applied_to_states(kind: str) -> None:
    # upstream's main branch: an operator moving states needs its velocity
    spec = expr_spec({"name": "adv", "axis": "x", "kind": kind, "apply_to": ["S"]})
    with pytest.raises(
        ValueError, match=rf"operators\[0\]\.velocity is required for '{kind}'"
    ):
        normalize_expr_rhs(spec)


# -- jump_integral ----------------------------------------------------------------------


def jump(**fields: Any) -> dict[str, Any]:
    return {
        "name": "jump",
        "axis": "x",
        "kind": "jump_integral",
        "apply_to": ["S"],
        **fields,
    }


def test_jump_integral_requires_a_kernel_mapping() -> None:
    with pytest.raises(ValueError, match=r"kernel must be a mapping"):
        normalize_expr_rhs(expr_spec(jump(rate="nu")))
    with pytest.raises(
        ValueError,
        match=r"operators\[0\]\.kernel must be a mapping for 'jump_integral'",
    ):
        normalize_expr_rhs(expr_spec(jump(rate="nu", kernel="gaussian")))


def test_jump_integral_requires_a_rate() -> None:
    with pytest.raises(
        ValueError, match=r"operators\[0\]\.rate is required for 'jump_integral'"
    ):
        normalize_rhs(expr_spec(jump(kernel={"form": "gaussian"})))
    with pytest.raises(
        ValueError, match=r"operators\[0\]\.rate must be a non-empty string or number"
    ):
        normalize_rhs(expr_spec(jump(rate=" ", kernel={"form": "gaussian"})))


def test_jump_integral_kernel_form_and_params() -> None:
    with pytest.raises(
        ValueError,
        match=r"operators\[0\]\.kernel\.form must be a non-empty string for 'jump_integral'",
    ):
        normalize_rhs(expr_spec(jump(rate="nu", kernel={"params": {}})))
    with pytest.raises(
        ValueError,
        match=r"operators\[0\]\.kernel\.params must be a mapping if provided",
    ):
        normalize_rhs(
            expr_spec(jump(rate="nu", kernel={"form": "gaussian", "params": [0.1]}))
        )


@pytest.mark.parametrize("direction", ["sideways", "", 1])
def test_jump_integral_direction_values(direction: object) -> None:
    spec = expr_spec(jump(rate="nu", kernel={"form": "gaussian"}, direction=direction))
    with pytest.raises(
        ValueError,
        match=r"operators\[0\]\.direction must be one of 'up', 'down', or 'both'",
    ):
        normalize_rhs(spec)


def test_jump_integral_is_normalized() -> None:
    kernel = {"form": " gaussian ", "params": {"sigma": 0.1}}
    (op,) = ops_of(expr_spec(jump(rate=0.5, kernel=kernel, direction=" UP ")))
    assert op["kind"] == "jump_integral"
    assert op["direction"] == "up"
    assert op["rate"] == 0.5
    assert op["kernel"] == {"form": "gaussian", "params": {"sigma": 0.1}}
    assert kernel["form"] == " gaussian "  # the caller's spec is not modified


def test_operators_reach_the_compiled_meta() -> None:
    compiled = compile_spec(
        expr_spec(
            {"axis": "x", "kind": "ADVECTION", "velocity": "v", "apply_to": ["I"]}
        )
    )
    assert compiled.meta["operators"][0]["kind"] == "advection"
