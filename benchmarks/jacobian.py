"""The exact Jacobian of the age SEIR on NumPy, against a hand-written dense one.

For each size: the hand-written dense Jacobian (below, checked against ours in
the same run), op_system's bound Jacobian (`bind(params, output="jacobian")`),
dense and CSR, and the previous way of evaluating it (one jvp call per color of
the pattern), all in the same run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from op_system import compile_spec
from op_system._backends.jacobian import JacobianPlan

from . import models as M
from .timing import Settings, measure_pair


def age_seir_jacobian(
    y: np.ndarray, beta: float, sigma: float, gamma: float, C: np.ndarray
) -> np.ndarray:
    """d(dydt)/dy of `models.age_seir`, written out by hand (dense)."""
    n = y.size
    k = n // 4
    s, i = y[:k], y[2 * k : 3 * k]
    total = y.sum()
    foi = beta * (C @ i) / total
    # d foi_a / d y: every state through the total, I also through C
    dfoi = np.empty((k, n))
    dfoi[:] = (-foi / total)[:, None]
    dfoi[:, 2 * k : 3 * k] += (beta / total) * C
    jac = np.zeros((n, n))
    jac[:k] = -s[:, None] * dfoi
    jac[k : 2 * k] = -jac[:k]
    a = np.arange(k)
    jac[a, a] -= foi
    jac[k + a, a] += foi
    jac[k + a, k + a] -= sigma
    jac[2 * k + a, k + a] = sigma
    jac[2 * k + a, 2 * k + a] = -gamma
    jac[3 * k + a, 2 * k + a] = gamma
    return jac


def bench_jacobian(
    sizes: Sequence[int], settings: Settings, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    rows = []
    for k in sizes:
        row = _one_size(k, settings)
        log(
            f"  {row['label']:24s} hand {1e6 * row['hand_s']:9.1f} us   bound dense "
            f"{row['ratio']:5.2f}x   CSR {row['sparse_ratio']:5.2f}x   one jvp per color "
            f"{row['per_color_ratio']:6.2f}x   ({row['nnz']} nonzeros, {row['colors']} colors)"
        )
        rows.append(row)
    return rows


def _one_size(k: int, settings: Settings) -> dict[str, Any]:
    m = M.age_seir(k)
    y, p = m.y_call, m.params
    c = compile_spec(m.spec)
    dense = c.bind(p, output="jacobian")
    sparse = c.bind(p, output="jacobian", sparse=True)
    plan = c._jacobian_plan()
    per_color = JacobianPlan(
        plan.rows, plan.cols, plan.n, lambda _: None, lambda: c.jvp("numpy")
    ).function(False)

    def hand() -> np.ndarray:
        return age_seir_jacobian(y, p["beta"], p["sigma"], p["gamma"], p["C"])

    want = hand()
    for got in (dense(0.0, y), sparse(0.0, y).toarray(), per_color(0.0, y, **p)):
        err = np.max(np.abs(got - want)) / np.max(np.abs(want))
        if err > 1e-12:
            raise AssertionError(f"Jacobian differs from the hand-written one: {err}")
    h, d, ratio = measure_pair(hand, lambda: dense(0.0, y), settings)
    _, s, sparse_ratio = measure_pair(hand, lambda: sparse(0.0, y), settings)
    _, old, old_ratio = measure_pair(hand, lambda: per_color(0.0, y, **p), settings)
    return {
        "model": m.key,
        "label": f"age SEIR N={k} ({m.n_state})",
        "n_state": m.n_state,
        "nnz": len(plan.rows),
        "colors": plan.n_colors,
        "hand_s": h["median"],
        "dense_s": d["median"],
        "sparse_s": s["median"],
        "per_color_s": old["median"],
        "ratio": ratio,
        "sparse_ratio": sparse_ratio,
        "per_color_ratio": old_ratio,
    }
