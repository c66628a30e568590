"""Every system flepimop2-op-system 0.9.0's own test suite builds, built by this plugin.

`tests/compat09/refs.json` holds the specs 0.9.0's provider tests hand to
`OpSystemSystem(spec=...)` (first seen in `flepimop2-op_system/tests/`), with
0.9.0's `dydt` at recorded inputs. Each one 0.9.0's compiler accepts must build
here and give 0.9.0's numbers through the bound stepper (kernels the
expressions read are passed at the call, as recorded), except the one that
0.9.0's provider itself refuses at construction (its test
`test_kernel_errors_at_public_construction[...requires params.value]`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flepimop2.system.op_system import OpSystemSystem

REFS = Path(__file__).resolve().parents[1] / "compat09" / "refs.json"
CASES = [
    rec
    for rec in json.loads(REFS.read_text(encoding="utf-8"))["specs"]
    if rec["id"].startswith("flepimop2-op_system/tests/") and rec["accepted"]
]
#: refused by 0.9.0's provider at construction (a custom_value kernel without a value)
PROVIDER_REFUSES = "requires params.value"


def test_the_provider_suite_is_recorded() -> None:
    assert len(CASES) == 45


@pytest.mark.parametrize("rec", CASES, ids=[r["id"][27:110] for r in CASES])
def test_a_provider_suite_system_builds_and_gives_0_9_0s_numbers(
    rec: dict[str, Any],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # metadata keys op_system does not read yet
        if PROVIDER_REFUSES in rec["id"]:
            with pytest.raises(ValueError, match="custom_value"):
                OpSystemSystem(spec=rec["spec"])
            return
        system = OpSystemSystem(spec=rec["spec"])
    inputs = rec["inputs"]
    params = {k: np.asarray(v) for k, v in inputs["params"].items()}
    dydt = system.bind(params)(inputs["t"], np.asarray(inputs["y"], dtype=float))
    np.testing.assert_allclose(dydt, rec["dydt"], rtol=1e-10, atol=1e-12)
