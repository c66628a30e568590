"""op-system 0.9.0's operator rules (`_spec/operators09.py`), in its language only."""

from __future__ import annotations

from typing import Any

import pytest

from op_system import InvalidRhsSpecError, normalize_rhs


def spec(op: dict[str, Any], axis_type: str = "ordinal") -> dict[str, Any]:
    return {
        "kind": "expr",
        "axes": [
            {"name": "imm", "type": axis_type, "coords": ["x0", "x1"]},
            {"name": "vax", "coords": ["u", "v"]},
        ],
        "state": ["X[imm,vax]"],
        "equations": {"X[imm,vax]": "-k * X[imm,vax]"},
        "operators": [op],
    }


JUMP = {
    "kind": "jump_integral",
    "axis": "imm",
    "rate": "nu",
    "kernel": {
        "form": "matrix",
        "params": {"matrix": "J"},
        "param_axes": {"J": ["imm", "imm"]},
    },
}
KERNEL = {
    "kind": "axis_kernel",
    "axis": "imm",
    "kernel": {
        "form": "generator",
        "params": {"matrix": "G"},
        "param_axes": {"G": ["imm", "imm"]},
    },
}


def test_valid_operators_are_kept() -> None:
    for op in (
        JUMP,
        KERNEL,
        {
            "kind": "advection",
            "axis": "imm",
            "velocity": "v",
            "direction": "increasing",
        },
    ):
        (kept,) = normalize_rhs(spec(op)).meta["operators"]
        assert kept["kind"] == op["kind"]


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (
            {"kind": "advection", "axis": "imm", "velocity": "v", "direction": "up"},
            "direction must be one of: decreasing, increasing",
        ),
        (
            {**JUMP, "kernel": {**JUMP["kernel"], "form": "matrix", "params": {}}},
            "params must contain only 'matrix'",
        ),
        (
            {**JUMP, "kernel": {**JUMP["kernel"], "param_axes": {"J": ["imm"]}}},
            r"param_axes\['J'\] must be \[imm, imm\]",
        ),
        ({**JUMP, "bc": "absorbing"}, "bc must be 'reflecting' for 'jump_integral'"),
        (
            {**KERNEL, "kernel": {**KERNEL["kernel"], "form": "dense"}},
            "form must be 'generator' or 'stochastic'",
        ),
        (
            {
                **KERNEL,
                "kernel": {
                    **KERNEL["kernel"],
                    "transfer": {
                        "axis": "vax",
                        "source": "u",
                        "target": "v",
                        "rate": ["nu"],
                    },
                },
            },
            "transfer requires form 'stochastic'",
        ),
        (
            {
                **KERNEL,
                "kernel": {
                    **KERNEL["kernel"],
                    "form": "stochastic",
                    "params": {"matrix": "G", "nu": "nu"},
                    "transfer": {
                        "axis": "vax",
                        "source": "u",
                        "target": "w",
                        "rate": ["nu"],
                    },
                },
            },
            "transfer.target 'w' is not a coordinate of 'vax'",
        ),
    ],
)
def test_0_9_0s_rules(op: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRhsSpecError, match=message):
        normalize_rhs(spec(op))


def test_categorical_jump_is_both_ways() -> None:
    with pytest.raises(
        InvalidRhsSpecError, match="must be 'both' for a categorical axis"
    ):
        normalize_rhs(spec({**JUMP, "direction": "up"}, axis_type="categorical"))
