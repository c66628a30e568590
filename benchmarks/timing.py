"""Timing helpers: timeit-style autorange, median of repeats (same process, same run)."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Settings", "measure", "measure_once", "measure_pair"]


@dataclass(frozen=True)
class Settings:
    """How long to measure: `repeat` rounds of at least `min_time` seconds each."""

    repeat: int = 7
    min_time: float = 0.2
    max_number: int = 1_000_000

    @classmethod
    def quick(cls) -> Settings:
        return cls(repeat=3, min_time=0.01)


def _loop(fn: Callable[[], Any], number: int, gc_off: bool = True) -> float:
    """Seconds for `number` calls, with the garbage collector off (as `timeit` does)."""
    enabled = gc.isenabled()
    if gc_off:
        gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return time.perf_counter() - t0
    finally:
        if enabled:
            gc.enable()


def _autorange(
    fn: Callable[[], Any], settings: Settings, gc_off: bool
) -> tuple[int, float]:
    """Calls per round (1, 2, 5, 10, 20, 50, ...) so that a round takes `min_time`."""
    number = 1
    while True:
        elapsed = _loop(fn, number, gc_off)
        if elapsed >= settings.min_time or number >= settings.max_number:
            return number, elapsed
        for mult in (2, 5, 10):
            base = 10 ** (len(str(number)) - 1)
            if base * mult > number:
                number = base * mult
                break


def _summary(rounds: list[float], number: int) -> dict[str, float]:
    return {
        "median": statistics.median(rounds),
        "min": min(rounds),
        "number": number,
        "repeat": len(rounds),
    }


def measure(
    fn: Callable[[], Any], settings: Settings, *, gc_off: bool = True
) -> dict[str, float]:
    """Seconds per call of `fn()`: median (and min) over `settings.repeat` rounds.

    Like `timeit.Timer.autorange`: the number of calls per round grows 1, 2, 5,
    10, 20, 50, ... until one round takes at least `settings.min_time`.
    As in `timeit`, the garbage collector is off while a round runs (it is
    collected once before the measurement) unless `gc_off=False`.
    """
    fn()  # warm-up (first-call caches, jit compilation)
    gc.collect()
    number, elapsed = _autorange(fn, settings, gc_off)
    rounds = [elapsed / number]
    for _ in range(settings.repeat - 1):
        rounds.append(_loop(fn, number, gc_off) / number)
    return _summary(rounds, number)


def measure_pair(
    hand: Callable[[], Any],
    op: Callable[[], Any],
    settings: Settings,
    *,
    gc_off: bool = True,
) -> tuple[dict[str, float], dict[str, float], float]:
    """Time two implementations of the same thing in alternating rounds.

    Returns `(hand, op, ratio)`: the `measure`-style summaries of both and
    `ratio = median(op) / median(hand)`; each summary also has `paired_ratio`,
    the median over rounds of `op_round / hand_round`. Alternating the rounds
    (ABAB) keeps a slow phase of the machine (other processes, frequency
    changes) from landing on one side only.
    """
    hand()
    op()
    gc.collect()
    n_hand, _ = _autorange(hand, settings, gc_off)
    n_op, _ = _autorange(op, settings, gc_off)
    r_hand: list[float] = []
    r_op: list[float] = []
    for _ in range(settings.repeat):
        r_hand.append(_loop(hand, n_hand, gc_off) / n_hand)
        r_op.append(_loop(op, n_op, gc_off) / n_op)
    s_hand, s_op = _summary(r_hand, n_hand), _summary(r_op, n_op)
    paired = statistics.median(o / h for o, h in zip(r_op, r_hand, strict=True))
    s_hand["paired_ratio"] = s_op["paired_ratio"] = paired
    return s_hand, s_op, s_op["median"] / s_hand["median"]


def measure_once(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Seconds of `fn()` (no warm-up, one call per round): median over `repeat` calls."""
    rounds = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        rounds.append(time.perf_counter() - t0)
    return {
        "median": statistics.median(rounds),
        "min": min(rounds),
        "number": 1,
        "repeat": repeat,
    }
