"""`gauges:` (`_spec/gauges.py`): validated with op-system 0.9.0's rules, kept as data."""

from __future__ import annotations

import pytest

from op_system import InvalidRhsSpecError, compile_spec, model_info

BASE = {
    "kind": "expr",
    "state": ["x", "y"],
    "equations": {"x": "-rate * x", "y": "rate * x"},
}


def test_kept() -> None:
    info = model_info(
        compile_spec({**BASE, "gauges": [{"name": "g", "states": {"x": 1, "y": 1}}]})
    )
    (gauge,) = info.gauges
    assert (gauge.name, gauge.states, gauge.parameters) == (
        "g",
        (("x", 1.0), ("y", 1.0)),
        (),
    )


@pytest.mark.parametrize(
    ("gauges", "message"),
    [
        ({"name": "g"}, "gauges must be a list"),
        (
            [{"name": "g", "states": {"x": float("nan")}}],
            "Gauge exponent for 'x' must be a finite",
        ),
        ([{"name": "g", "states": {"z": 1}}], "Unknown gauge states base 'z'"),
        (
            [{"name": "g", "parameters": {"rte": 1}}],
            r"Unknown gauge parameters base 'rte'.*did you mean 'rate'",
        ),
        ([{"name": "g", "states": {"x": 0}}], "Gauge 'g' must have a nonzero exponent"),
        (
            [{"name": "1g", "states": {"x": 1}}],
            "Gauge names must be unique identifiers",
        ),
        (
            [{"name": "g", "states": {"x": 1}, "scale": 2}],
            "allows only name, states and parameters",
        ),
    ],
)
def test_0_9_0s_rules(gauges: object, message: str) -> None:
    with pytest.raises(InvalidRhsSpecError, match=message):
        compile_spec({**BASE, "gauges": gauges})
