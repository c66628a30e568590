"""Parity with op-system 0.1.2: state names, parameter names and dydt at rtol 1e-12.

References are produced by `tests/parity/make_refs.py` running the real 0.1.2 in
a separate venv (see its docstring); they are committed as `refs.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from op_system import compile_spec, normalize_rhs

REFS = json.loads((Path(__file__).with_name("refs.json")).read_text())
CASES = REFS["cases"]
# 0.1.2 lists the names of helpers, the namespace and time among its parameters
# (a bug: they are never parameters); op_system does not.
NOT_PARAMS = {"np", "t", "sum_state", "sum_prefix"}


def test_reference_set_is_large_enough() -> None:
    assert REFS["generator"] == "op-system==0.1.2"
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_names_match(case: dict) -> None:
    rhs = normalize_rhs(case["spec"])
    assert list(rhs.state_names) == case["state_names"]
    assert list(rhs.param_names) == [
        p for p in case["param_names"] if p not in NOT_PARAMS
    ]
    assert sorted(rhs.meta) == case["meta_keys"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_dydt_matches(case: dict) -> None:
    compiled = compile_spec(case["spec"])
    for sample in case["samples"]:
        y = np.asarray(sample["y"], dtype=np.float64)
        out = compiled.eval_fn(sample["t"], y, **sample["params"])
        assert out.dtype == np.float64
        assert out.shape == y.shape
        np.testing.assert_allclose(out, sample["dydt"], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_rendered_views_match(case: dict) -> None:
    """The lazily rendered 0.1.2 views hold the same expanded names."""
    rhs = normalize_rhs(case["spec"])
    assert len(rhs.equations) == len(case["equations"])
    assert set(rhs.aliases) == set(case["aliases"])
    meta = rhs.meta
    ref_meta = case["meta"]
    assert meta["axes"] == ref_meta["axes"]
    if "transitions" in ref_meta:
        got = sorted((t["from"], t["to"]) for t in meta["transitions"])
        want = sorted((t["from"], t["to"]) for t in ref_meta["transitions"])
        assert got == want
    if "initial_state" in ref_meta:
        assert meta["initial_state"] == ref_meta["initial_state"]
