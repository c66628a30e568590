"""Reductions lowered as matrix products (`_lower/matvec.py`) against einsum.

Nested `sum_over`s of products of a state and parameters over two axes: the
lowering turns an inner sum of two groups into `@`, and multiplies the factors
that do not depend on the loop afterwards, which must then be in the enclosing
scope's shape. Every product of up to four factors, in every order, is checked
against `numpy.einsum` of the same arrays.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from op_system import compile_spec

#: a factor's text inside `sum_over(x=i, sum_over(y=j, ...))`, and its einsum term
FACTORS = {
    "rho[x=i, y=j]": "ij",
    "wx[x=i]": "i",
    "wy[y=j]": "j",
    "C[x=i, y=j]": "ij",
    "k": "",
}


def _cases() -> list[tuple[str, ...]]:
    out = []
    names = list(FACTORS)
    for n in (2, 3, 4):
        for combo in itertools.permutations(names, n):
            if "rho[x=i, y=j]" in combo:
                out.append(combo)
    return out


@pytest.mark.parametrize("order", ["xy", "yx"])
@pytest.mark.parametrize("factors", _cases(), ids=lambda f: "*".join(f))
def test_a_nested_sum_of_products_is_its_einsum(
    factors: tuple[str, ...], order: str
) -> None:
    body = " * ".join(factors)
    text = (
        f"sum_over(x=i, sum_over(y=j, {body}))"
        if order == "xy"
        else f"sum_over(y=j, sum_over(x=i, {body}))"
    )
    spec = {
        "axes": [
            {"name": "x", "coords": ["a", "b", "c"]},
            {"name": "y", "coords": ["p", "q"]},
        ],
        "state": ["rho[x,y]", "T"],
        "equations": {"rho[x,y]": "0", "T": text},
    }
    model = compile_spec(spec)
    rng = np.random.default_rng(len(text))
    y = rng.uniform(0.5, 1.5, 7)
    arrays = {
        "rho[x=i, y=j]": y[:6].reshape(3, 2),
        "wx[x=i]": rng.uniform(0.5, 1.5, 3),
        "wy[y=j]": rng.uniform(0.5, 1.5, 2),
        "C[x=i, y=j]": rng.uniform(0.5, 1.5, (3, 2)),
        "k": np.float64(rng.uniform(0.5, 1.5)),
    }
    want = np.einsum(
        ",".join(FACTORS[f] for f in factors) + "->", *(arrays[f] for f in factors)
    )
    params = {
        "wx": arrays["wx[x=i]"],
        "wy": arrays["wy[y=j]"],
        "C": arrays["C[x=i, y=j]"],
        "k": float(arrays["k"]),
    }
    used = {k: v for k, v in params.items() if any(f.startswith(k) for f in factors)}
    got = model.eval_fn(0.0, y, **used)[-1]
    np.testing.assert_allclose(got, want, rtol=1e-12)
