"""Re-rolling: cell-by-cell specs lowered as vectorized groups give the same numbers.

Each model is written twice, templated and cell by cell (as 0.1.2 users generate
specs with a loop); both must agree with each other and with a hand-written
NumPy right-hand side, on NumPy and JAX, through `eval_fn` and `bind`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from op_system import ParameterError, compile_spec

N = 7


def _templated() -> dict[str, Any]:
    return {
        "kind": "expr",
        "axes": [{"name": "g", "coords": [str(i) for i in range(N)]}],
        "state": ["S[g]", "I[g]", "R[g]"],
        "aliases": {
            "inc[g]": "sum_over(g=j, C[g, g=j] * I[g=j] / Np[g=j])",
            "lam[g]": "beta * inc[g] + eps",
        },
        "equations": {
            "S[g]": "-lam[g] * S[g] + w * R[g]",
            "I[g]": "lam[g] * S[g] - gamma * I[g]",
            "R[g]": "gamma * I[g] - w * R[g]",
        },
    }


def _flat(interleaved: bool = False) -> dict[str, Any]:
    """The same model cell by cell; `interleaved` orders states S_0, I_0, R_0, S_1, ..."""
    aliases, eqs = {}, {}
    for i in range(N):
        aliases[f"inc_{i}"] = " + ".join(
            f"C_{i}_{j} * I_{j} / Np_{j}" for j in range(N)
        )
        aliases[f"lam_{i}"] = f"beta * inc_{i} + eps"
        eqs[f"S_{i}"] = f"-lam_{i} * S_{i} + w * R_{i}"
        eqs[f"I_{i}"] = f"lam_{i} * S_{i} - gamma * I_{i}"
        eqs[f"R_{i}"] = f"gamma * I_{i} - w * R_{i}"
    if interleaved:
        state = [f"{c}_{i}" for i in range(N) for c in "SIR"]
    else:
        state = [f"{c}_{i}" for c in "SIR" for i in range(N)]
    return {"kind": "expr", "state": state, "aliases": aliases, "equations": eqs}


RNG = np.random.default_rng(3)
C = RNG.uniform(0.1, 1.0, (N, N))
NP_ = RNG.uniform(100.0, 200.0, N)
SCALARS = {"beta": 0.4, "gamma": 0.2, "w": 0.05, "eps": 1e-3}
FLAT_PARAMS = {
    **SCALARS,
    **{f"Np_{j}": float(NP_[j]) for j in range(N)},
    **{f"C_{i}_{j}": float(C[i, j]) for i in range(N) for j in range(N)},
}
TEMPLATED_PARAMS = {**SCALARS, "C": C, "Np": NP_}


def _by_hand(s: np.ndarray, i: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, ...]:
    lam = SCALARS["beta"] * (C @ (i / NP_)) + SCALARS["eps"]
    g, w = SCALARS["gamma"], SCALARS["w"]
    return -lam * s + w * r, lam * s - g * i, g * i - w * r


@pytest.mark.parametrize("interleaved", [False, True], ids=["blocked", "interleaved"])
def test_flat_equals_templated_and_hand_written(interleaved: bool) -> None:
    y = RNG.uniform(1.0, 50.0, 3 * N)
    flat = compile_spec(_flat(interleaved))
    if interleaved:
        s, i, r = y[0::3], y[1::3], y[2::3]
        want = np.stack(_by_hand(s, i, r), axis=1).ravel()
    else:
        s, i, r = y.reshape(3, N)
        want = np.concatenate(_by_hand(s, i, r))
    np.testing.assert_allclose(flat.eval_fn(0.0, y, **FLAT_PARAMS), want, rtol=1e-12)
    np.testing.assert_allclose(flat.bind(FLAT_PARAMS)(0.0, y), want, rtol=1e-12)
    if not interleaved:
        templ = compile_spec(_templated())
        np.testing.assert_allclose(
            templ.eval_fn(0.0, y, **TEMPLATED_PARAMS), want, rtol=1e-12
        )
    assert "matmul" in flat.source  # the contact sum is a matrix-vector product


@pytest.mark.parametrize("interleaved", [False, True], ids=["blocked", "interleaved"])
def test_flat_on_jax_jit(interleaved: bool) -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    y = RNG.uniform(1.0, 50.0, 3 * N)
    want = compile_spec(_flat(interleaved)).eval_fn(0.0, y, **FLAT_PARAMS)
    c = compile_spec(_flat(interleaved), xp=jnp)
    got = jax.jit(lambda y: c.eval_fn(0.0, y, **FLAT_PARAMS))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    grad = jax.grad(
        lambda b: c.eval_fn(0.0, jnp.asarray(y), **{**FLAT_PARAMS, "beta": b}).sum()
    )(0.4)
    h = 1e-6
    num = compile_spec(_flat(interleaved))
    fd = (
        num.eval_fn(0.0, y, **{**FLAT_PARAMS, "beta": 0.4 + h}).sum()
        - num.eval_fn(0.0, y, **{**FLAT_PARAMS, "beta": 0.4 - h}).sum()
    ) / (2 * h)
    np.testing.assert_allclose(float(grad), fd, rtol=1e-6)


def test_bind_reads_parameters_once() -> None:
    c = compile_spec(_flat())
    params = dict(FLAT_PARAMS)
    f = c.bind(params)
    y = RNG.uniform(1.0, 50.0, 3 * N)
    before = f(0.0, y)
    params["beta"] = 100.0  # bind took a copy: later changes do not leak in
    np.testing.assert_array_equal(f(0.0, y), before)


def test_bind_of_the_default_still_traces_jax_inputs() -> None:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    f = compile_spec(_flat()).bind(FLAT_PARAMS)
    y = RNG.uniform(1.0, 50.0, 3 * N)
    got = jax.jit(lambda y: f(0.0, y))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), f(0.0, y), rtol=1e-12)


def test_missing_and_misspelt_parameters_of_a_group() -> None:
    c = compile_spec(_flat())
    y = RNG.uniform(1.0, 50.0, 3 * N)
    params = dict(FLAT_PARAMS)
    params["C_3_4x"] = params.pop("C_3_4")
    with pytest.raises(
        ParameterError,
        match=r"missing parameter\(s\): C_3_4; unknown parameter 'C_3_4x' \(did you mean 'C_3_4'\?\)",
    ):
        c.eval_fn(0.0, y, **params)
    with pytest.raises(ParameterError, match="C_3_4"):
        c.bind(params)


# -- transitions written cell by cell ---------------------------------------------------


def _flat_transitions() -> dict[str, Any]:
    """An SIR per group, cell by cell, plus one source cell feeding every group (repeated)."""
    state = ["X", *(f"{c}_{i}" for c in "SIR" for i in range(N))]
    tr = [{"from": "X", "to": f"S_{i}", "rate": f"k_{i}"} for i in range(N)]
    for i in range(N):
        inf = " + ".join(f"C_{i}_{j} * I_{j} / Np_{j}" for j in range(N))
        tr.append({"from": f"S_{i}", "to": f"I_{i}", "rate": f"beta * ({inf})"})
        tr.append({"from": f"I_{i}", "to": f"R_{i}", "rate": "gamma"})
    return {"kind": "transitions", "state": state, "transitions": tr}


def _flat_transitions_by_hand(y: np.ndarray, k: np.ndarray) -> np.ndarray:
    x, (s, i, _r) = y[0], y[1:].reshape(3, N)
    imm = k * x
    inf = SCALARS["beta"] * (C @ (i / NP_)) * s
    rec = SCALARS["gamma"] * i
    return np.concatenate([[-imm.sum()], imm - inf, inf - rec, rec])


def test_flat_transitions_scatter_into_their_cells() -> None:
    k = RNG.uniform(0.01, 0.1, N)
    params = {**FLAT_PARAMS, **{f"k_{i}": float(k[i]) for i in range(N)}}
    y = RNG.uniform(1.0, 50.0, 1 + 3 * N)
    c = compile_spec(_flat_transitions())
    want = _flat_transitions_by_hand(y, k)
    np.testing.assert_allclose(c.eval_fn(0.0, y, **params), want, rtol=1e-12)
    np.testing.assert_allclose(c.bind(params)(0.0, y), want, rtol=1e-12)
    assert "_subtract_at" in c.source  # X is the source of every cell of one group
    assert c.source.count("\n") < 40
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    cj = compile_spec(_flat_transitions(), xp=jnp)
    got = jax.jit(lambda y: cj.eval_fn(0.0, y, **params))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


def test_array_api_namespace_keeps_per_cell_transitions() -> None:
    xp = pytest.importorskip("array_api_strict")
    k = RNG.uniform(0.01, 0.1, N)
    params = {**FLAT_PARAMS, **{f"k_{i}": float(k[i]) for i in range(N)}}
    y = RNG.uniform(1.0, 50.0, 1 + 3 * N)
    c = compile_spec(_flat_transitions(), xp=xp)
    got = c.eval_fn(
        xp.asarray(0.0), xp.asarray(y), **{n: xp.asarray(v) for n, v in params.items()}
    )
    np.testing.assert_allclose(
        np.asarray(got), _flat_transitions_by_hand(y, k), rtol=1e-12
    )


# -- overrides that restate their template ----------------------------------------


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_cells_restating_their_template_are_found_soundly(seed: int) -> None:
    """Generated templated models get some cells overridden, either with the cell's
    own 0.1.2 string (the template restated, as a loop writing out cells produces) or
    with a changed expression. Changed cells are never taken for the template, the
    restated ones are, and the compiled values match an independent evaluation of
    the 0.1.2 strings either way."""
    import copy

    from tests.differential.compare import StringEvaluator, _close, scalar_inputs
    from tests.differential.generate import generate_cases

    from op_system import compile_rhs, normalize_rhs

    rng = np.random.default_rng(seed)
    checked = restated_total = restated_found = 0
    for case in generate_cases(120, seed=seed):
        spec = case["spec"]
        if spec.get("kind", "expr") != "expr" or "chain" in spec:
            continue
        try:
            rhs = normalize_rhs(copy.deepcopy(spec))
            compile_rhs(rhs)
            rendered = rhs.equations
        except Exception:  # a mutant meant to be rejected
            continue
        cells = [
            eq.block.offset + f
            for eq in rhs._model.equations
            if eq.expr is not None and eq.block.axes and eq.run is None
            for f in range(eq.block.size)
            if f not in eq.overrides
        ]
        if not cells:
            continue
        picked = rng.choice(cells, size=min(4, len(cells)), replace=False)
        restated = {int(i) for i in picked if rng.random() < 0.5}
        spec2 = copy.deepcopy(spec)
        for i in map(int, picked):
            text = rendered[i] if i in restated else f"({rendered[i]}) * 1.5"
            spec2["equations"][rhs.state_names[i]] = text
        rhs2 = normalize_rhs(spec2)
        found = {
            eq.block.offset + f
            for eq in rhs2._model.equations
            for f in eq.template_cells
        }
        assert not found - restated, case["id"]  # sound: nothing changed is dropped
        templated = {  # a block whose every cell is overridden has no template left
            eq.block.offset + f
            for eq in rhs2._model.equations
            if eq.expr is not None
            for f in range(eq.block.size)
        }
        restated_total += len(restated & templated)
        restated_found += len(found & restated)
        y, params = scalar_inputs(rhs2, rng)
        with np.errstate(all="ignore"):
            got = compile_rhs(rhs2).eval_fn(0.3, y, **params)
            ev = StringEvaluator(
                states=dict(zip(rhs2.state_names, y)),
                params=params,
                aliases=dict(rhs2.aliases),
                t=0.3,
            )
            want = np.array([float(ev.evaluate(e)) for e in rhs2.equations])
        ok, why = _close(np.asarray(got, dtype=np.float64), want)
        assert ok, (case["id"], why)
        checked += 1
    assert checked >= 10, checked
    # Rendering and parsing back keeps the structure for these specs (not always:
    # a one-term reduction renders without its sum), so every restated cell is found.
    assert restated_total >= 15, restated_total
    assert restated_found == restated_total


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("a - (b - c)", "c + a - b", True),
        ("a / (b * c)", "a / c / b", True),
        ("x * y * a + b", "b + a * (y * x)", True),
        ("a - b", "b - a", False),
        ("a / b", "b / a", False),
        ("a - (b + c)", "a - b + c", False),
        ("a * (b + c)", "a * b + a * c", False),  # distributing is not a reordering
        ("np.exp(a + b)", "np.exp(b + a)", True),
        ("np.exp(a) + b", "np.exp(b) + a", False),
    ],
)
def test_restated_structure_is_sums_and_products_up_to_order(
    left: str, right: str, same: bool
) -> None:
    from op_system import normalize_rhs
    from op_system._core.cells import CellEvaluator, _Structure

    # the two expressions as the equations of one model (bound by its build)
    model = normalize_rhs(
        {"state": ["x", "y"], "equations": {"x": left, "y": right}}
    )._model
    ev = CellEvaluator(model, _Structure())
    got = [ev.expr(eq.expr, (), {}, eq.path) for eq in model.equations]
    assert (got[0] == got[1]) is same
