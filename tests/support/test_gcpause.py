"""Builds pause the cyclic garbage collector and always put it back as it was."""

from __future__ import annotations

import gc

import pytest

from op_system import ExpressionError, compile_spec, normalize_rhs

SPEC = {"kind": "expr", "state": ["S", "I"], "equations": {"S": "-b*S*I", "I": "b*S*I"}}


def test_collector_is_paused_during_the_build_and_restored() -> None:
    import op_system._core.builder as build

    seen: list[bool] = []
    original = build.Builder.build_aliases

    def spy(self: object, raw: object) -> None:
        seen.append(gc.isenabled())
        original(self, raw)  # type: ignore[arg-type]

    assert gc.isenabled()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(build.Builder, "build_aliases", spy)
        compile_spec(SPEC)
    assert seen == [False]
    assert gc.isenabled()


def test_collector_is_restored_after_an_error() -> None:
    bad = {**SPEC, "equations": {"S": "-b*S*", "I": "b"}}
    with pytest.raises(ExpressionError):
        normalize_rhs(bad)
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        compile_spec(SPEC)
        assert not gc.isenabled()
    finally:
        gc.enable()
