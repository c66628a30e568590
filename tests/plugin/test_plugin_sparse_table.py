"""The `sparse_table` parameter module (`flepimop2.parameter.sparse_table`).

Expected tables are written out by hand; the configs of flepimop2-op-system
0.9.0 that use the module run end to end in `test_plugin_configs09.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
from flepimop2.axis import Axis, AxisCollection
from flepimop2.parameter.abc import ParameterRequest, build
from flepimop2.parameter.sparse_table import SparseTableParameter
from pydantic import ValidationError

IMM = ("x0", "x1", "x2", "x3")
AXES = AxisCollection(
    {
        "imm": Axis(name="imm", kind="categorical", size=4, labels=IMM),
        "vax": Axis(name="vax", kind="categorical", size=2, labels=("u", "v")),
        "time": Axis(name="time", kind="continuous", size=3, domain=(0.0, 2.0)),
    }
)


def _table() -> SparseTableParameter:
    return SparseTableParameter(
        indices=("imm", "imm"),
        entries=[
            {
                "index": ["x0", "x2"],
                "value": {"module": "fixed", "value": [0.1, 0.2, 0.3]},
            },
            {"index": ["x3", "x1"], "value": 0.5},
        ],
    )


def test_module_name_builds_it() -> None:
    table = build({"module": "sparse_table", "indices": ["imm", "imm"], "entries": []})
    assert isinstance(table, SparseTableParameter)


def test_square_table() -> None:
    table = SparseTableParameter(
        indices=("imm", "imm"),
        entries=[
            {"index": ["x3", "x1"], "value": 0.5},
            {"index": ["x0", "x0"], "value": {"module": "fixed", "value": 0.25}},
        ],
    )
    request = ParameterRequest(name="eta", axes=("imm", "imm"))
    expected = np.zeros((4, 4))
    expected[3, 1] = 0.5
    expected[0, 0] = 0.25
    np.testing.assert_array_equal(
        table.sample(axes=AXES, request=request).value, expected
    )


def test_leading_axes_take_a_series_or_broadcast_a_number() -> None:
    request = ParameterRequest(name="eta", axes=("time", "imm", "imm"))
    value = np.asarray(_table().sample(axes=AXES, request=request).value)
    expected = np.zeros((3, 4, 4))
    expected[:, 0, 2] = [0.1, 0.2, 0.3]
    expected[:, 3, 1] = 0.5
    np.testing.assert_array_equal(value, expected)
    assert _table().support(AXES) == ((0, 2), (3, 1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"indices": [], "entries": []}, "at least one axis"),
        (
            {"indices": ["imm", "imm"], "entries": [{"index": ["x0"], "value": 1.0}]},
            "has 1 labels",
        ),
        (
            {
                "indices": ["imm", "imm"],
                "entries": [
                    {"index": ["x0", "x1"], "value": 1.0},
                    {"index": ["x0", "x1"], "value": 2.0},
                ],
            },
            r"entries\[1\].index \['x0', 'x1'\] is declared twice",
        ),
    ],
)
def test_malformed_tables_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SparseTableParameter(**kwargs)


def test_bad_requests_name_the_problem() -> None:
    with pytest.raises(
        ValueError, match=r"trailing axes of the request, which are \['vax', 'imm'\]"
    ):
        _table().sample(
            axes=AXES, request=ParameterRequest(name="eta", axes=("vax", "imm"))
        )
    unknown = SparseTableParameter(
        indices=("imm", "imm"), entries=[{"index": ["x0", "x9"], "value": 1.0}]
    )
    with pytest.raises(ValueError, match=r"'x9' is not a label of axis 'imm'"):
        unknown.sample(
            axes=AXES, request=ParameterRequest(name="eta", axes=("imm", "imm"))
        )
    wrong = SparseTableParameter(
        indices=("imm", "imm"),
        entries=[
            {"index": ["x0", "x1"], "value": {"module": "fixed", "value": [1.0, 2.0]}}
        ],
    )
    with pytest.raises(ValueError, match="compatible"):  # flepimop2's fixed module says
        wrong.sample(
            axes=AXES, request=ParameterRequest(name="eta", axes=("time", "imm", "imm"))
        )
