"""The probes of `probes.py` (one small spec per construct and rule, run by the
real op-system 0.9.0 into `probes-0.9.0.json`): each spec we read in 0.9.0's
language (`dialect: "0.9"`, or 0.9.0's spellings) gives 0.9.0's state names and
numbers, or is rejected with our error; none computes something else.

Probes we read as 0.1.2's (no 0.9.0 spelling) may differ on purpose: the rules
that differ between the two languages keep 0.1.2's meaning there
(docs/compatibility.md).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.compat09.probes import PROBES, run

from op_system import compile_spec
from op_system._spec.dialect import spec_dialect
from op_system._support.errors import SpecWarning

UPSTREAM = json.loads((Path(__file__).parent / "probes-0.9.0.json").read_text())
assert UPSTREAM["implementation"]["upstream"] is True
NAMES = sorted(PROBES)


def test_the_probes_were_run_by_0_9_0() -> None:
    assert set(UPSTREAM["probes"]) == set(PROBES)
    compared = [
        name
        for name, (spec, params, y) in PROBES.items()
        if spec_dialect(spec) == "0.9"
        and UPSTREAM["probes"][name]["status"] == "ok"
        and run(spec, params, y)["status"] == "ok"
    ]
    assert len(compared) >= 10, compared


@pytest.mark.parametrize("name", NAMES)
def test_a_probe_in_0_9_0s_language_gives_its_numbers(name: str) -> None:
    spec, params, y = PROBES[name]
    theirs: dict[str, Any] = UPSTREAM["probes"][name]
    ours = run(spec, params, y)
    if spec_dialect(spec) != "0.9" or "rejected" in (ours["status"], theirs["status"]):
        return  # only one side computes: nothing to compare (what 0.9.0 rejects
        # and we accept are metadata checks still to build)
    if theirs["status"] == "eval_error":  # e.g. a parameter not passed
        assert ours["status"] == "eval_error", (ours, theirs)
        return
    assert ours["status"] == theirs["status"] == "ok", (ours, theirs)
    assert ours["state_names"] == theirs["state_names"]
    np.testing.assert_allclose(ours["dydt"], theirs["dydt"], rtol=1e-10, atol=1e-12)


def test_observables_as_mappings_give_0_9_0s_values() -> None:
    """0.9.0's observable probe, without its integral (not read yet): a sum over
    a continuous axis has unit weights, and `u[1.0]` reads one coordinate."""
    spec, params, _ = PROBES["rule3_observable_sum_vs_integral"]
    theirs = UPSTREAM["probes"]["rule3_observable_sum_vs_integral"]["observables"]
    spec = {**spec, "observables": dict(spec["observables"])}
    spec["observables"].pop("i")
    with warnings.catch_warnings():  # its metadata is kept now: no warning
        warnings.simplefilter("error", SpecWarning)
        compiled = compile_spec(spec)
    y = np.arange(1.0, len(compiled.state_names) + 1.0)
    got = compiled.observables(0.0, y, **params)
    names = list(compiled.observable_names)
    assert names == ["s", "node"]
    np.testing.assert_allclose(got, [theirs[n] for n in names], rtol=1e-12)
