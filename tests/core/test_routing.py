"""op-system 0.9.0's routing and target-only fan-out (`_core/routing.py`).

Their numbers are checked against the real 0.9.0 in `tests/compat09/` (0.9.0's
own routing tests: matrix flows, pinned endpoints, fan-out). Here: random
sizes and pins against a loop written from 0.9.0's docstring, generated code
that does not grow with the bins, jit and grad on JAX, and 0.9.0's errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from op_system import compile_spec
from op_system._support.errors import SpecError


def _spec(n: int, pin: bool = False, fan: bool = False) -> dict[str, Any]:
    imm = [f"x{i}" for i in range(n)]
    routing: dict[str, Any]
    if fan:
        routing = {"from": "I[loc]", "to": "Y[loc, imm:j]", "rate": "f[imm:j]"}
    elif pin:
        routing = {
            "from": "X[loc, vax=u, imm:i]",
            "to": "X[loc, vax=v, imm:j]",
            "rate": "nu[loc] * K[imm:i, imm:j]",
        }
    else:
        routing = {
            "from": "X[loc, vax, imm:i]",
            "to": "X[loc, vax, imm:j]",
            "rate": "w[loc] * G[imm:i, imm:j]",
        }
    return {
        "kind": "transitions",
        "axes": [
            {"name": "loc", "coords": ["CA", "NY", "TX"]},
            {"name": "vax", "coords": ["u", "v"]},
            {"name": "imm", "type": "ordinal", "coords": imm},
        ],
        "state": ["I[loc]", "X[loc, vax, imm]", *(["Y[loc, imm]"] if fan else [])],
        "transitions": [routing, {"from": "I[loc]", "to": None, "rate": "mu"}],
    }


def _by_hand(
    n: int, y: np.ndarray, p: dict[str, Any], pin: bool, fan: bool
) -> np.ndarray:
    """0.9.0's docstring: target cell `j` gains `sum_i R[i, j] X[i]`, source cell `i`
    loses `X[i] sum_j R[i, j]`; one pair at a time."""
    i_state, x = y[:3].copy(), y[3 : 3 + 6 * n].reshape(3, 2, n)
    di, dx, dy = -p["mu"] * i_state, np.zeros_like(x), np.zeros((3, n))
    for loc in range(3):
        for a in range(n):
            if fan:
                flow = p["f"][a] * i_state[loc]
                di[loc] -= flow
                dy[loc, a] += flow
                continue
            for b in range(n):
                vaxes = [(0, 1)] if pin else [(0, 0), (1, 1)]
                for v_from, v_to in vaxes:
                    if pin:
                        rate = p["nu"][loc] * p["K"][a, b]
                    else:
                        rate = p["w"][loc] * p["G"][a, b]
                    flow = rate * x[loc, v_from, a]
                    dx[loc, v_from, a] -= flow
                    dx[loc, v_to, b] += flow
    return np.concatenate([di, dx.ravel(), *([dy.ravel()] if fan else [])])


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("form", ["plain", "pin", "fan"])
def test_routing_moves_each_pair_at_its_rate(n: int, form: str) -> None:
    pin, fan = form == "pin", form == "fan"
    model = compile_spec(_spec(n, pin, fan))
    rng = np.random.default_rng(n)
    y = rng.uniform(1, 2, len(model.state_names))
    params = {
        "mu": 0.1,
        "w": rng.uniform(0, 1, 3),
        "G": rng.uniform(0, 1, (n, n)),
        "nu": rng.uniform(0, 1, 3),
        "K": rng.uniform(0, 1, (n, n)),
        "f": rng.uniform(0, 1, n),
    }
    want = _by_hand(n, y, params, pin, fan)
    names = {"plain": ("mu", "w", "G"), "pin": ("mu", "nu", "K"), "fan": ("mu", "f")}
    got = model.eval_fn(0.0, y, **{k: params[k] for k in names[form]})
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert abs(got.sum() + params["mu"] * y[:3].sum()) < 1e-12  # routing moves only


@pytest.mark.parametrize("form", ["plain", "pin", "fan"])
def test_the_program_does_not_grow_with_the_bins(form: str) -> None:
    def lines(n: int) -> list[str]:
        src = compile_spec(_spec(n, form == "pin", form == "fan")).source
        return [line for line in src.splitlines() if "shape" not in line]

    small, large = lines(3), lines(81)
    assert len(small) == len(large)
    # the same statements, only the sizes differ
    strip = str.maketrans("", "", "0123456789")
    assert [s.translate(strip) for s in small] == [s.translate(strip) for s in large]


def test_routing_under_jit_and_grad() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    n = 4
    model = compile_spec(_spec(n), xp=jnp)
    rng = np.random.default_rng(0)
    y = jnp.asarray(rng.uniform(1, 2, len(model.state_names)))
    G = jnp.asarray(rng.uniform(0, 1, (n, n)))
    w = jnp.asarray(rng.uniform(0, 1, 3))

    def total_in_last_bin(g: Any) -> Any:
        return model.eval_fn(0.0, y, w=w, G=g, mu=0.1)[3 + n - 1]

    got = jax.jit(total_in_last_bin)(G)
    want = _by_hand(
        n,
        np.asarray(y),
        {"w": np.asarray(w), "G": np.asarray(G), "mu": 0.1},
        False,
        False,
    )
    np.testing.assert_allclose(float(got), want[3 + n - 1], rtol=1e-6)
    grad = jax.grad(total_in_last_bin)(G)
    # the last bin of CA/u gains G[i, n-1] * X[CA, u, i] * w[CA] from each i != n-1
    x = np.asarray(y)[3:].reshape(3, 2, n)
    want_col = float(w[0]) * x[0, 0, :]
    want_col[n - 1] = 0.0  # the diagonal moves nothing
    np.testing.assert_allclose(np.asarray(grad)[:, n - 1], want_col, rtol=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"from": "X[loc, vax, imm:i]", "to": "X[loc, vax, imm:i]"}, "must differ"),
        ({"rate": "w[loc] * G[imm:i, imm:i]"}, "must reference imm:i and imm:j"),
        ({"rate": "w[loc] * G[imm:i, imm:j] * h[imm=x0]"}, "unexpected aliases"),
        ({"from": "X[loc, vax, imm:i]", "to": "X[loc, imm:j]"}, "the same axes"),
        ({"from": "X[loc, vax, imm:i]", "to": "X[loc, vax:k, imm:j]"}, "exactly one"),
        ({"from": "X[loc, vax, imm:i]", "to": "X[loc, vax, imm, imm:j]"}, "without an"),
        ({"rate": "w[loc:i] * G[imm:i, imm:j]"}, "belongs to axis 'imm'"),
        ({"from": None}, "requires a 'from' selector"),
    ],
)
def test_routing_mistakes_are_refused_as_0_9_0_refuses_them(
    change: dict[str, Any], message: str
) -> None:
    spec = _spec(3)
    spec["transitions"][0].update(change)
    with pytest.raises(SpecError, match=message) as info:
        compile_spec(spec)
    assert info.value.path is not None
    assert info.value.path.startswith("transitions[0]")


def test_routing_jacobian_and_jvp_are_exact() -> None:
    """The generated Jacobian and jvp (differentiated from the IR) against central
    differences of `eval_fn`, with rates that read the routed cells' states."""
    spec = {
        "kind": "transitions",
        "axes": [
            {"name": "loc", "coords": ["CA", "NY"]},
            {"name": "imm", "type": "ordinal", "coords": ["x0", "x1", "x2"]},
        ],
        "state": ["X[loc, imm]", "I[loc]", "Y[loc, imm]"],
        "transitions": [
            {
                "from": "X[loc, imm:i]",
                "to": "X[loc, imm:j]",
                "rate": "w[loc] * G[imm:i, imm:j] * X[loc, imm:j]",
            },
            {"from": "I[loc]", "to": "Y[loc, imm:j]", "rate": "f[imm:j] * I[loc]"},
        ],
    }
    model = compile_spec(spec)
    rng = np.random.default_rng(1)
    y = rng.uniform(1, 2, len(model.state_names))
    params = {
        "w": rng.uniform(0, 1, 2),
        "G": rng.uniform(0, 1, (3, 3)),
        "f": rng.uniform(0, 1, 3),
    }
    eps = 1e-6
    fd = np.stack(
        [
            (
                model.eval_fn(0.0, y + eps * e, **params)
                - model.eval_fn(0.0, y - eps * e, **params)
            )
            / (2 * eps)
            for e in np.eye(len(y))
        ],
        axis=1,
    )
    np.testing.assert_allclose(model.jacobian()(0.0, y, **params), fd, atol=1e-7)
    v = rng.uniform(0, 1, len(y))
    np.testing.assert_allclose(model.jvp()(0.0, y, v, **params), fd @ v, atol=1e-7)


def test_a_coordinate_written_as_a_selector_on_an_endpoint_is_refused() -> None:
    """`I[loc:NY]` on an endpoint is a routing alias named `NY` in 0.9.0 (whose
    numbers then do not conserve mass); a pin is written `loc=NY`."""
    spec: dict[str, Any] = {
        "kind": "transitions",
        "axes": [{"name": "loc", "type": "ordinal", "coords": ["CA", "NY"]}],
        "state": ["I[loc]"],
        "transitions": [{"from": "I[loc:NY]", "to": "I[loc:CA]", "rate": "k"}],
    }
    with pytest.raises(SpecError, match="write loc=NY to pin") as info:
        compile_spec(spec)
    assert info.value.path == "transitions[0].from"
    spec["transitions"] = [{"from": "I[loc=NY]", "to": "I[loc=CA]", "rate": "k"}]
    got = compile_spec(spec).eval_fn(0.0, np.array([1.0, 2.0]), k=0.5)
    np.testing.assert_allclose(got, [1.0, -1.0])
