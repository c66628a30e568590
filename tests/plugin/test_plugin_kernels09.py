"""Kernels that op-system 0.9.0's expressions read: arrays the system passes at each call.

References: op-system 0.9.0's recorded outputs (`tests/compat09/refs.json`)
and the numbers flepimop2-op-system 0.9.0's own tests state
(`test_erfc_kernel.py`: erfc values checked there against scipy;
`test_mixing_kernels.py`: a hand-multiplied matrix product).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flepimop2.axis import AxisCollection
from flepimop2.system.op_system import OpSystemSystem

from op_system import compile_spec, model_info

REFS = Path(__file__).resolve().parents[1] / "compat09" / "refs.json"


def _kernel_read_specs() -> list[dict[str, Any]]:
    """The evaluated 0.9.0 specs whose expressions read a kernel: op_system
    compiles the kernel as an array parameter, as 0.9.0 does."""
    out = []
    for rec in json.loads(REFS.read_text(encoding="utf-8"))["specs"]:
        if "dydt" not in rec or not rec["spec"].get("kernels"):
            continue
        names = {k.get("name") for k in rec["spec"]["kernels"]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = compile_spec(rec["spec"])
        if names & {p.name for p in model_info(compiled).params}:
            out.append(rec)
    return out


SPECS = _kernel_read_specs()


def test_the_recorded_kernel_reads_are_found() -> None:
    # 5 forms of test_rectangular_kernel_and_rhs_injection, the asymmetric custom
    # kernel, and a reaction-rate kernel of the core suite
    assert len(SPECS) == 7


@pytest.mark.parametrize("rec", SPECS, ids=[r["id"][:80] for r in SPECS])
def test_kernel_read_specs_give_0_9_0s_numbers(rec: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # metadata keys op_system does not read yet
        system = OpSystemSystem(spec=rec["spec"])
    inputs = rec["inputs"]
    params = {k: np.asarray(v) for k, v in inputs["params"].items()}
    kernels = {k["name"] for k in rec["spec"]["kernels"]}
    # the harvest passed the kernels at the call, as 0.9.0 allows: they replace the defaults
    assert kernels <= set(params)
    requested = system.requested_parameters(AxisCollection({}))
    assert not kernels & set(requested)  # the system provides them
    dydt = system.bind(params)(inputs["t"], np.asarray(inputs["y"], dtype=float))
    np.testing.assert_allclose(dydt, rec["dydt"], rtol=1e-10, atol=1e-12)


AGE = [{"name": "age", "coords": ["young", "old"]}]
CUSTOM = {
    "kind": "expr",
    "axes": AGE,
    "state": ["S[age]"],
    "equations": {"S[age]": "apply_along(C[age:s,age] * S[age:s], age=s)"},
    "kernels": [
        {"name": "C", "axes": ["age", "age"], "value": [[1.0, 7.0], [3.0, 2.0]]}
    ],
}


def test_a_custom_kernel_is_the_default_and_a_given_array_replaces_it() -> None:
    system = OpSystemSystem(spec=CUSTOM)
    y = np.array([2.0, 5.0])
    # 0.9.0's test_custom_asymmetric_kernel_orientation: rows are sources
    np.testing.assert_allclose(system.bind({})(0.0, y), [17.0, 24.0])
    np.testing.assert_allclose(system.bind({"C": np.eye(2)})(0.0, y), y)
    np.testing.assert_array_equal(
        system.option("mixing_kernels")["C"], [[1.0, 7.0], [3.0, 2.0]]
    )
    assert "C" not in system.requested_parameters(AxisCollection({}))


def test_a_generated_kernel_has_0_9_0s_values() -> None:
    """erfc with sigma 2, scale 2.5 at distances sigma * (0, .5, 1, 2, 8): the
    values flepimop2-op-system 0.9.0's test states (checked there with scipy)."""
    coords = [0.0, 1.0, 2.0, 4.0, 16.0]
    spec = {
        "kind": "expr",
        "axes": [{"name": "age", "type": "continuous", "coords": coords}],
        "state": ["S[age]"],
        "equations": {"S[age]": "-apply_along(C[age:s,age] * S[age:s], age=s)"},
        "kernels": [
            {
                "name": "C",
                "axes": ["age", "age"],
                "form": "erfc",
                "params": {"scale": 2.5, "sigma": 2.0},
            },
        ],
    }
    matrix = OpSystemSystem(spec=spec).option("mixing_kernels")["C"]
    row = 2.5 * np.array(
        [
            1.0,
            0.4795001221869535,
            0.15729920705028516,
            0.004677734981047266,
            1.1224297172982928e-29,
        ]
    )
    np.testing.assert_allclose(matrix[0], row, rtol=2e-14, atol=0)
    np.testing.assert_array_equal(matrix, matrix.T)


@pytest.mark.parametrize(
    ("form", "value"),
    [
        ("gaussian", lambda d: math.exp(-d * d / (2 * 1.3**2))),
        ("exponential", lambda d: math.exp(-d / 0.8)),
        (
            "gamma",
            lambda d: (max(d, 1e-12) / 0.9) ** 1.5 * math.exp(-max(d, 1e-12) / 0.9),
        ),
        ("power_law", lambda d: (1 + d / 1.3) ** -1.2),
    ],
)
def test_one_declared_axis_gives_a_square_kernel(form: str, value: Any) -> None:
    """0.9.0's provider builds a kernel declared over one axis over that axis twice."""
    spec = {
        "kind": "expr",
        "axes": [{"name": "x", "coords": ["0", "1", "3"]}],  # read as numbers
        "state": ["u[x]"],
        "equations": {"u[x]": "apply_along(K[x:s,x] * u[x:s], x=s, kernel=sum)"},
        "kernels": [
            {
                "name": "K",
                "axes": ["x"],
                "form": form,
                "params": {
                    "scale": 1.7,
                    "sigma": 1.3,
                    "lambda": 0.8,
                    "k": 2.5,
                    "theta": 0.9,
                    "p": 1.2,
                },
            },
        ],
    }
    system = OpSystemSystem(spec=spec)
    xs = [0.0, 1.0, 3.0]
    expected = np.array([[1.7 * value(abs(a - b)) for b in xs] for a in xs])
    np.testing.assert_allclose(
        system.option("mixing_kernels")["K"], expected, rtol=1e-13
    )
    u = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(system.bind({})(0.0, u), expected.T @ u, rtol=1e-13)


def test_a_custom_value_kernel_without_a_value_is_an_error() -> None:
    spec = dict(
        CUSTOM,
        kernels=[{"name": "C", "axes": ["age"], "form": "custom_value", "params": {}}],
    )
    with pytest.raises(
        ValueError,
        match=r"kernels\[0\] \('C'\): a custom_value kernel needs params.value",
    ):
        OpSystemSystem(spec=spec)


def test_a_kernel_read_in_0_1_2s_language_is_still_computed_by_op_system() -> None:
    """0.1.2's meaning (the kernel is computed from the spec, not passed): unchanged."""
    spec = {
        "kind": "expr",
        "axes": [{"name": "x", "coords": ["0", "1"]}],
        "state": ["u[x]"],
        "equations": {"u[x]": "-sum_over(x=i, K[x, x=i] * u[x=i])"},
        "kernels": [
            {"name": "K", "form": "gaussian", "params": {"scale": 1.0, "sigma": 1.0}}
        ],
    }
    system = OpSystemSystem(spec=spec)
    assert "K" not in system.options.get("param_axes", {})
    u = np.array([1.0, 2.0])
    k = np.exp(-0.5)
    np.testing.assert_allclose(system.bind({})(0.0, u), [-(1 + 2 * k), -(k + 2)])
