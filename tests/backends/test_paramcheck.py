"""Parameters checked at the call (`_backends/paramcheck.py`): shape and dtype
against the axes, scalars included, with a `ParameterError` that names the
parameter, what its axes want and what was given.

What used to happen: `beta=[0.3, 0.2]` for a scalar `beta` was applied per age
group; a list of strings, a ragged list, `None` or `"0.3"` gave a raw NumPy error
(or NaN, or a number) that named no parameter. A scalar for an indexed parameter
is broadcast to every cell, as docs/spec-reference.md says.

Every path that reads parameters is covered: NumPy's generated fast path and
its slow path (`_fill_params`), `bind`, the vector of scalars a re-rolled group
reads (`_pvec`), a parameter given cell by cell (0.1.2's expanded names), a
time-varying table, and JAX under `jax.jit`, where the check runs once, when the
program is traced.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from op_system import ParameterError, compile_spec, model_info

SPEC = {
    "kind": "transitions",
    "axes": [{"name": "age", "coords": ["young", "old"]}],
    "state": ["S[age]", "I[age]", "R[age]"],
    "aliases": {
        "foi[age]": "beta * sum_over(age=j, C[age, age=j] * I[age=j]) / sum_state()"
    },
    "transitions": [
        {"from": "S[age]", "to": "I[age]", "rate": "foi[age]"},
        {"from": "I[age]", "to": "R[age]", "rate": "gamma[age]"},
    ],
}
C = np.array([[2.0, 1.0], [1.0, 3.0]])
PARAMS: dict[str, Any] = {"beta": 0.3, "C": C, "gamma": np.array([0.1, 0.2])}
Y = np.array([900.0, 80.0, 10.0, 5.0, 0.0, 5.0])

MODEL = compile_spec(SPEC)
STRICT = compile_spec(SPEC, xp=np)


def _by_hand(beta: Any, gamma: Any) -> np.ndarray:
    """dydt written out cell by cell (`beta` per age where given so)."""
    s, i = Y[0:2], Y[2:4]
    n = Y.sum()
    out = np.zeros(6)
    for a in range(2):
        foi = np.broadcast_to(beta, (2,))[a] * (C[a, 0] * i[0] + C[a, 1] * i[1]) / n
        rec = np.broadcast_to(gamma, (2,))[a] * i[a]
        out[a], out[2 + a], out[4 + a] = -foi * s[a], foi * s[a] - rec, rec
    return out


def _calls(model: Any) -> list[Any]:
    """The ways a NumPy user calls the model with parameters."""
    return [
        lambda p: model.eval_fn(0.0, Y, **p),
        lambda p: model.bind(p)(0.0, Y),
        # gamma given cell by cell: the generated slow path reads every parameter
        lambda p: model.eval_fn(
            0.0,
            Y,
            **{k: v for k, v in p.items() if k != "gamma"},
            gamma__age_young=0.1,
            gamma__age_old=0.2,
        ),
    ]


def _raises(call: Any, params: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(ParameterError) as info:
        call(params)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert isinstance(info.value, ValueError)
    return message


@pytest.mark.parametrize("model", [MODEL, STRICT], ids=["default", "xp=numpy"])
def test_a_sequence_for_a_scalar_parameter_is_an_error(model: Any) -> None:
    for call in _calls(model):
        # what used to be applied per age group, silently
        for beta in ([0.3, 0.2], np.array([0.3, 0.2]), np.array([[0.3]])):
            _raises(
                call,
                {**PARAMS, "beta": beta},
                "'beta'",
                "is a scalar (shape ())",
                f"got shape {np.shape(beta)}",
                "params['beta']",
            )
        np.testing.assert_allclose(call(PARAMS), _by_hand(0.3, [0.1, 0.2]), rtol=1e-12)


@pytest.mark.parametrize(
    "bad", ["0.3", None, 1j, b"1"], ids=["str", "None", "complex", "bytes"]
)
def test_a_scalar_that_is_not_a_number_is_named(bad: Any) -> None:
    for call in _calls(MODEL):
        _raises(call, {**PARAMS, "beta": bad}, "'beta'", "number")


def test_numbers_of_every_kind_are_scalars() -> None:
    want = _by_hand(0.5, [0.1, 0.2])
    for beta in (0.5, np.float64(0.5), np.float32(0.5), np.array(0.5), np.int64(1) / 2):
        for call in _calls(MODEL):
            np.testing.assert_allclose(call({**PARAMS, "beta": beta}), want, rtol=1e-7)
    for call in _calls(MODEL):  # bool and int are numbers (as in NumPy)
        np.testing.assert_allclose(
            call({**PARAMS, "beta": True}), _by_hand(1.0, [0.1, 0.2]), rtol=1e-12
        )


@pytest.mark.parametrize(
    ("gamma", "fragments"),
    [
        ([0.1, 0.2, 0.3], ("must have shape (2,) (axes age)", "got shape (3,)")),
        (np.ones((2, 2)), ("must have shape (2,) (axes age)", "got shape (2, 2)")),
        (["a", "b"], ("must be an array of numbers of shape (2,)", "list ['a', 'b']")),
        (np.array(["a", "b"], dtype=object), ("array of numbers",)),
        (np.array(["a", "b"]), ("array of numbers",)),  # the fast path's shape
        ([[0.1], [0.1, 0.2]], ("array of numbers",)),  # ragged
        ("0.1", ("array of numbers", "str '0.1'")),
    ],
)
def test_an_indexed_parameter_of_another_shape_or_not_numbers_is_named(
    gamma: Any, fragments: tuple[str, ...]
) -> None:
    for call in _calls(MODEL)[:2]:
        _raises(call, {**PARAMS, "gamma": gamma}, "'gamma'", *fragments)


def test_a_scalar_for_an_indexed_parameter_is_broadcast() -> None:
    """As docs/spec-reference.md says: the same value in every cell."""
    want = _by_hand(0.3, [0.15, 0.15])
    for gamma in (0.15, np.float64(0.15), np.array(0.15)):
        for call in _calls(MODEL)[:2]:
            np.testing.assert_allclose(
                call({**PARAMS, "gamma": gamma}), want, rtol=1e-12
            )
    # the contact matrix too: every entry 1.5
    got = MODEL.eval_fn(0.0, Y, **{**PARAMS, "C": 1.5})
    n, i = Y.sum(), Y[2:4]
    foi = 0.3 * 1.5 * i.sum() / n
    np.testing.assert_allclose(got[0:2], -foi * Y[0:2], rtol=1e-12)


def test_a_cell_given_by_its_expanded_name_is_checked() -> None:
    p = {k: v for k, v in PARAMS.items() if k != "gamma"}
    _raises(
        lambda q: MODEL.eval_fn(0.0, Y, **q),
        {**p, "gamma__age_young": "0.1", "gamma__age_old": 0.2},
        "'gamma__age_young'",
        "number",
    )
    _raises(
        lambda q: MODEL.eval_fn(0.0, Y, **q),
        {**p, "gamma__age_young": [0.1, 0.2], "gamma__age_old": 0.2},
        "'gamma__age_young'",
        "got shape (2,)",
    )


def _flat_spec(n: int) -> dict[str, Any]:
    """`n` states `x_i' = -k_i * x_i`, each rate its own scalar: a program that
    reads the rates as one vector (`_pvec`)."""
    return {
        "state": [f"x{i}" for i in range(n)],
        "equations": {f"x{i}": f"-k{i} * x{i}" for i in range(n)},
    }


def test_scalars_read_as_one_vector_are_named() -> None:
    m = compile_spec(_flat_spec(8))
    assert "_pvec(" in m.source  # the path under test
    y = np.arange(1.0, 9.0)
    p = {f"k{i}": 0.1 * i for i in range(8)}
    np.testing.assert_allclose(
        m.eval_fn(0.0, y, **p), [-0.1 * i * (i + 1) for i in range(8)]
    )
    for bad, fragment in (
        ([0.1, 0.2], "got shape (2,)"),
        (np.array([0.1, 0.2]), "got shape (2,)"),
        ("abc", "number"),
        ([[0.1], [0.2]], "got shape (2, 1)"),
    ):
        for call in (lambda q: m.eval_fn(0.0, y, **q), lambda q: m.bind(q)(0.0, y)):
            _raises(call, {**p, "k3": bad}, "'k3'", fragment)


TV_SPEC = {
    "kind": "transitions",
    "axes": [
        {"name": "age", "coords": ["young", "old"]},
        {"name": "time", "type": "continuous", "coords": [0.0, 10.0, 20.0, 30.0]},
    ],
    "state": ["S[age]", "V[age]"],
    "transitions": [{"from": "S[age]", "to": "V[age]", "rate": "nu[age, time]"}],
}


def test_describe_and_model_info_show_a_time_varying_tables_shape() -> None:
    """`nu[age, time]` is passed as a (2, 4) table, not the (2,) of its value at t."""
    m = compile_spec(TV_SPEC)
    assert "  nu[age,time]  shape (2, 4) (a table over time, linear)" in m.describe()
    assert "shape (2,)" not in m.describe()
    info = model_info(m)
    nu = info.param("nu")
    assert nu.call_shape == (2, 4) == nu.table_shape(4)
    assert nu.shape == (2,)  # its value at t
    assert "nu[age, time]" in repr(info)
    assert "call_shape=(2, 4)" in repr(nu)
    table = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
    y = np.array([100.0, 50.0, 0.0, 0.0])
    out = m.eval_fn(10.0, y, nu=np.zeros(nu.call_shape) + table)
    np.testing.assert_allclose(out[:2], [-0.2 * 100.0, -0.6 * 50.0])
    with pytest.raises(ParameterError, match=r"shape \(2, 4\).*got shape \(2,\)"):
        m.eval_fn(10.0, y, nu=np.array([0.1, 0.5]))
    with pytest.raises(ParameterError, match=r"'nu'.*table of numbers"):
        m.eval_fn(10.0, y, nu=[["a"] * 4] * 2)


def test_the_numpy_fast_path_stays_one_test_per_parameter() -> None:
    """No statement is added to NumPy programs: a scalar is still read by `_f64s`
    (which checks only what is not a plain number), an array by its one-line
    test (class, dtype, shape) that sends anything else to `_param_array`."""
    src = MODEL.source
    assert "_f64s(params['beta'])" in src
    assert "_scalar(" not in src
    for name, shape in (("C", (2, 2)), ("gamma", (2,))):
        read = re.search(
            rf"(p_\d+) = params\['{name}'\]\n\s+if \(?(.*):\n\s+\1 = _param_array\(\1, '{name}'\)\n",
            src,
        )
        assert read is not None, src
        var, test = read.groups()
        assert test.replace("(", "").replace(")", "") == (
            f"{var}.__class__ is not _ndarray or {var}.dtype is not _f64 or "
            f"{var}.shape != {shape}".replace("(", "").replace(")", "")
        )


jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")


def test_jax_checks_run_once_when_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    from op_system._backends import paramcheck

    m = compile_spec(SPEC, backend="jax")
    assert "_scalar(params['beta'], 'beta')" in m.source
    seen: list[str] = []
    real = paramcheck.check_scalar

    def counting(x: Any, name: str, *, f64: bool) -> Any:
        seen.append(name)
        return real(x, name, f64=f64)

    monkeypatch.setattr(paramcheck, "check_scalar", counting)
    monkeypatch.setattr("op_system._backends.runtime.check_scalar", counting)
    f = jax.jit(lambda y, p: m.eval_fn(0.0, y, **p))
    p = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    out = f(jnp.asarray(Y), p)
    np.testing.assert_allclose(np.asarray(out), _by_hand(0.3, [0.1, 0.2]), rtol=1e-12)
    traced = len(seen)
    assert traced >= 1  # beta, checked while tracing
    f(jnp.asarray(Y), {**p, "beta": jnp.asarray(0.4)})
    assert len(seen) == traced  # not again: the compiled program runs
    with pytest.raises(ParameterError, match=r"'beta' is a scalar.*got shape \(2,\)"):
        f(jnp.asarray(Y), {**p, "beta": jnp.asarray([0.3, 0.2])})
    with pytest.raises(ParameterError, match=r"'gamma'.*array of numbers"):
        m.eval_fn(0.0, jnp.asarray(Y), **{**PARAMS, "gamma": ["a", "b"]})
    # a scalar for an indexed parameter is broadcast on JAX too; vmap over beta works
    got = f(jnp.asarray(Y), {**p, "gamma": jnp.asarray(0.15)})
    np.testing.assert_allclose(np.asarray(got), _by_hand(0.3, [0.15, 0.15]), rtol=1e-12)
    batch = jax.vmap(lambda b: m.eval_fn(0.0, jnp.asarray(Y), **{**p, "beta": b}))(
        jnp.asarray([0.3, 0.4])
    )
    np.testing.assert_allclose(
        np.asarray(batch[1]), _by_hand(0.4, [0.1, 0.2]), rtol=1e-12
    )
