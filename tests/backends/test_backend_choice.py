"""Conflicting `xp=` and `backend=`: upstream op_system's wording, plus where and what."""

from __future__ import annotations

import numpy as np
import pytest

from op_system import BackendError, compile_rhs, compile_spec, normalize_rhs

SPEC = {"kind": "expr", "state": ["x"], "equations": {"x": "x"}}


@pytest.mark.parametrize(
    ("xp", "shown"), [(np, "numpy"), ("numpy", "numpy"), ("np", "np")]
)
def test_conflicting_xp_and_backend_uses_upstream_wording(
    xp: object, shown: str
) -> None:
    with pytest.raises(ValueError, match=r"Pass either xp or backend='jax'") as info:
        compile_spec(SPEC, xp=xp, backend="jax")
    err = info.value
    assert isinstance(err, BackendError)
    assert err.path == "backend"
    message = str(err)
    assert message.startswith(
        "Invalid op_system array backend. Detail: Pass either xp or backend='jax', not both"
    )
    assert f"conflicting backend choices: xp={shown!r} but backend='jax'" in message
    assert message.endswith("(at backend)")


def test_conflict_names_the_backend_as_given() -> None:
    with pytest.raises(
        BackendError, match=r"Pass either xp or backend='jax', not both .*backend='JAX'"
    ):
        compile_rhs(normalize_rhs(SPEC), xp="numpy", backend="JAX")


def test_agreeing_xp_and_backend_are_accepted() -> None:
    out = compile_spec(SPEC, xp=np, backend="numpy").eval_fn(0.0, [2.0])
    assert type(out) is np.ndarray
    np.testing.assert_allclose(out, [2.0])
