"""An axis's `measure` and `state_metadata:` (`_spec/science.py`): op-system 0.9.0's
rules and messages; the declarations are kept and exposed by `model_info`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from op_system import InvalidRhsSpecError, compile_spec, model_info


def spec(measure: object = None, metadata: object = None) -> dict[str, Any]:
    axis: dict[str, Any] = {
        "name": "x",
        "type": "continuous",
        "coords": [0.0, 1.0, 3.0],
    }
    if measure is not None:
        axis["measure"] = measure
    out: dict[str, Any] = {
        "kind": "expr",
        "axes": [axis],
        "state": ["rho[x]", "total"],
        "equations": {"rho[x]": "-k * rho[x]", "total": "k * rho[x:3.0]"},
    }
    if metadata is not None:
        out["state_metadata"] = metadata
    return out


def test_kept_and_exposed() -> None:
    rhs = compile_spec(
        spec(
            {"kind": "cell", "weights": [0.5, 1.5, 2.0], "units": "m"},
            {
                "rho": {
                    "representation": "density",
                    "measure_axes": ["x"],
                    "units": "1/m",
                }
            },
        )
    )
    info = model_info(rhs)
    measure = info.axis("x").measure
    assert measure is not None
    assert (measure.kind, measure.weights, measure.units) == (
        "cell",
        (0.5, 1.5, 2.0),
        "m",
    )
    rho = info.state_metadata["rho"]
    assert rho.intensive
    assert (rho.measure_axes, rho.units) == (("x",), "1/m")
    y = np.array([1.0, 2.0, 3.0, 0.0])
    np.testing.assert_allclose(rhs.eval_fn(0.0, y, k=0.5), [-0.5, -1.0, -1.5, 1.5])


@pytest.mark.parametrize(
    ("measure", "metadata", "message"),
    [
        (
            {"kind": "cell"},
            None,
            "axis measure weights must match the coordinate count",
        ),
        (
            {"kind": "lebesgue"},
            None,
            "axis measure kind must be counting, cell or quadrature",
        ),
        (
            {"kind": "counting", "weights": [1, 1, 1]},
            None,
            "counting measure has unit weights",
        ),
        (
            {"kind": "cell", "weights": [1, 0, 1]},
            None,
            "weights must be finite positive",
        ),
        (
            {"kind": "cell", "weights": [1, 1, 1], "w": 1},
            None,
            "must contain kind, weights",
        ),
        (None, [1], "state_metadata must be a declaration mapping"),
        (
            None,
            {"rh": {}},
            r"state metadata 'rh' is not a declared state base \(did you mean 'rho'\?\)",
        ),
        (None, {"rho": {"repr": "density"}}, "state metadata contains unknown fields"),
        (
            None,
            {"rho": {"representation": "mass"}},
            "state representation must be counts",
        ),
        (None, {"rho": {"measure_axes": ["x", "x"]}}, "measure_axes must list unique"),
        (
            None,
            {"rho": {"measure_axes": ["y"]}},
            "measure axis 'y' is not a state axis",
        ),
        (
            None,
            {"rho": {"measure_axes": ["x"]}},
            "state 'rho' requires a measure for axis 'x'",
        ),
        (
            None,
            {"rho": {"representation": "counts", "measure_axes": ["x"]}},
            "extensive states do not require measure weights",
        ),
        (
            None,
            {"rho": {"units": ""}},
            "scientific metadata units must be nonempty text",
        ),
    ],
)
def test_0_9_0s_rules(measure: object, metadata: object, message: str) -> None:
    with pytest.raises(InvalidRhsSpecError, match=message):
        compile_spec(spec(measure, metadata))
