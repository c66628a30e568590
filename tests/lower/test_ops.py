"""The array-op IR (`op_system._lower.ops`): random op trees, written out by each
namespace family's emitter and run with the generated code's own runtime,
against an independent NumPy evaluation of the same tree.

The generator draws a tree and its expected value together (the value is
computed here with plain NumPy, never from emitted text), over inputs of a few
fixed shapes. It covers every node type and the rewrites (`reshape` of a
reshape, `gather` to a slice).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from op_system import compile_spec
from op_system._backends.backend import resolve_backend
from op_system._lower import ops as O
from op_system._lower.lowerer import Lowered

RNG = np.random.default_rng(7)
INPUTS: dict[str, np.ndarray] = {
    "s": np.asarray(0.7),
    "v": RNG.uniform(-1, 1, 6),
    "w": RNG.uniform(-1, 1, 6),
    "u": RNG.uniform(-1, 1, 3),
    "m": RNG.uniform(-1, 1, (2, 3)),
    "q": RNG.uniform(-1, 1, (3, 3)),
}
SHAPES = [(), (6,), (3,), (2, 3), (3, 3)]


class Tables:
    """Index arrays the trees read (constants of a generated function)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def __call__(self, idx: list[int]) -> O.Op:
        name = f"IDX{len(self.arrays)}"
        self.arrays[name] = np.asarray(idx, dtype=np.int64)
        return O.Var(name)


Pair = tuple[O.Op, np.ndarray]

#: the generated code reads every leaf from an input, so namespace functions always
#: get an array (the lowering folds functions of constants, see test_rewrites)


@st.composite
def trees(draw: Any, shape: tuple[int, ...], tables: Tables, depth: int = 3) -> Pair:
    """An op tree of `shape` and its value."""
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        names = [k for k, a in INPUTS.items() if a.shape == shape]
        name = draw(st.sampled_from(names))
        return O.Var(name), INPUTS[name]

    def sub(sh: tuple[int, ...] = shape) -> Pair:
        got: Pair = draw(trees(sh, tables, depth - 1))
        return got

    kind = draw(st.integers(0, 9))
    if kind == 0:  # arithmetic, with a scalar (or a literal) on either side sometimes
        (a, x), (b, y) = sub(), sub(draw(st.sampled_from([shape, ()])))
        if draw(st.integers(0, 3)) == 0:
            # (the lowering folds functions of literals: a literal is an operand)
            lit = draw(st.floats(-2, 2, allow_nan=False, width=32))
            b, y = O.Lit(lit), np.asarray(float(lit))
        op = draw(st.sampled_from(["+", "-", "*"]))
        ref = {"+": x + y, "-": x - y, "*": x * y}[op]
        if draw(st.booleans()):
            return O.Bin(op, b, a), {"+": y + x, "-": y - x, "*": y * x}[op]
        return O.Bin(op, a, b), ref
    if kind == 1:
        a, x = sub()
        fn = draw(st.sampled_from(["tanh", "sin", "cos", "abs"]))
        return O.Fn(fn, (a,)), getattr(np, fn)(x)
    if kind == 2:
        (a, x), (b, y) = sub(), sub()
        fn = draw(st.sampled_from(["maximum", "minimum"]))
        return O.Fn(fn, (a, b)), getattr(np, fn)(x, y)
    if kind == 3:
        (c, cx), (d, dx), (a, x), (b, y) = sub(), sub(), sub(), sub()
        cond = O.Bin(draw(st.sampled_from(["<", ">=", "!="])), c, d)
        cref = {"<": cx < dx, ">=": cx >= dx, "!=": cx != dx}[cond.op]
        if draw(st.booleans()):
            return O.BoolToFloat(cond), cref.astype(float)
        return O.Where(cond, a, b, scalars=shape == ()), np.where(cref, x, y)
    if kind == 4:
        a, x = sub()
        return (O.Neg(a), -x) if draw(st.booleans()) else (O.Pos(a), +x)
    # shape-changing operations that give `shape`
    if shape == ():
        choice = draw(st.integers(0, 3))
        if choice == 0:
            a, x = sub((6,))
            return O.VecSum(a), np.sum(x)
        if choice == 1:
            a, x = sub((2, 3))
            return O.Sum(a), np.sum(x)
        a, x = sub((6,))
        k = draw(st.integers(0, 5))
        return (
            (O.Index(a, (k,)), x[k])
            if choice == 2
            else (O.gather(a, [k], tables), x[k])
        )
    if shape == (6,):
        choice = draw(st.integers(0, 4))
        if choice == 0:
            a, x = sub((2, 3))
            return O.reshape(a, (6,), (2, 3)), x.reshape(6)
        if choice == 1:
            (a, x), (b, y) = sub((3,)), sub((3,))
            return O.Concat((a, b)), np.concatenate([x, y])
        if choice == 2:
            a, x = sub((6,))
            idx = draw(st.lists(st.integers(0, 5), min_size=6, max_size=6))
            return O.gather(a, idx, tables), x[idx]
        if choice == 3:
            parts = [sub(()) for _ in range(6)]
            return O.StackScalars(tuple(p for p, _ in parts)), np.stack(
                [x for _, x in parts]
            )
        return O.Zeros((6,)), np.zeros(6)
    if shape == (3,):
        choice = draw(st.integers(0, 4))
        if choice == 0:
            a, x = sub((2, 3))
            return O.Sum(a, 0), np.sum(x, axis=0)
        if choice == 1:
            (a, x), (b, y) = sub((3, 3)), sub((3,))
            return O.Matmul(a, b), x @ y
        if choice == 2:
            a, x = sub((6,))
            start = draw(st.integers(0, 3))
            step = draw(st.sampled_from([1, 2]))
            idx = [start + step * i for i in range(3) if start + step * i < 6]
            if len(idx) < 3:
                idx = [0, 2, 4]
            return O.gather(a, idx, tables), x[idx]
        if choice == 3:
            a, x = sub((3, 3))
            return O.Diagonal(a, 0, 1), np.diagonal(x)
        a, x = sub((2, 3))
        k = draw(st.integers(0, 1))
        return O.Index(a, (k, O.Span())), x[k, :]
    if shape == (2, 3):
        choice = draw(st.integers(0, 3))
        if choice == 0:  # a reshape of a reshape: written as one
            a, x = sub((6,))
            inner = O.reshape(a, (3, 2), before=(6,))
            return O.reshape(inner, (2, 3)), x.reshape(2, 3)
        if choice == 1:
            a, x = sub((6,))
            turned = O.Permute(O.Reshape(a, (3, 2)), (1, 0))
            return turned, x.reshape(3, 2).T
        if choice == 2:
            a, x = sub((3,))
            return O.Broadcast(a, (2, 3)), np.broadcast_to(x, (2, 3))
        a, x = sub((2, 3))
        return (
            O.Broadcast(O.Sum(a, 0, keepdims=True), (2, 3)),
            np.broadcast_to(x.sum(axis=0, keepdims=True), (2, 3)),
        )
    (a, x), (b, y) = sub((3, 3)), sub((3, 3))  # (3, 3)
    if draw(st.booleans()):
        return O.Matmul(a, b), x @ y
    return O.Take(a, tables([2, 0, 1]), 1), x[:, [2, 0, 1]]


def _runtime(xp: Any) -> dict[str, Any]:
    """The globals generated code runs with, for namespace `xp`."""
    from op_system._backends.runtime import _runtime as runtime

    model = compile_spec(
        {"kind": "expr", "state": ["x"], "equations": {"x": "-x"}}
    ).rhs._model  # type: ignore[attr-defined]
    return runtime(
        resolve_backend(xp), model, Lowered("", {}, [], None), force_f64=False
    )


def _run(text: str, xp: Any, tables: Tables) -> np.ndarray:
    g = _runtime(xp)
    g.update({k: xp.asarray(a) for k, a in tables.arrays.items()})
    names = ", ".join(INPUTS)
    ns: dict[str, Any] = {}
    exec(compile(f"def f(y, {names}):\n    return {text}\n", "<ops>", "exec"), g, ns)
    args = {k: xp.asarray(a) for k, a in INPUTS.items()}
    out = ns["f"](xp.zeros(1, dtype=xp.float64), **args)
    return np.asarray(out)


def _namespaces() -> list[Any]:
    out: list[Any] = [np]
    try:
        import array_api_strict
    except ImportError:  # pragma: no cover - a test dependency
        return out
    return [*out, array_api_strict]


@pytest.mark.parametrize("xp", _namespaces(), ids=lambda m: m.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_emitted_trees_compute_what_they_say(xp: Any, data: Any) -> None:
    tables = Tables()
    shape = data.draw(st.sampled_from(SHAPES))
    op, expected = data.draw(trees(shape, tables))
    emitter = O.NUMPY if xp is np else O.ARRAY_API
    text = emitter.text(op)
    got = _run(text, xp, tables)
    assert got.shape == np.shape(expected), text
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15, err_msg=text)


def test_the_families_differ_where_the_namespaces_do() -> None:
    x, c = O.Var("x"), O.Bin("<", O.Var("x"), O.Int(0))
    assert O.NUMPY.text(O.VecSum(x)) == "_add_reduce(x)"
    assert O.ARRAY_API.text(O.VecSum(x)) == "_sum(x)"
    assert O.NUMPY.text(O.BoolToFloat(c)) == "_where((x < 0), 1.0, 0.0)"
    assert O.ARRAY_API.text(O.BoolToFloat(c)) == "_astype((x < 0), y.dtype)"
    both = O.Where(c, O.Lit(1.0), O.Lit(2.0), scalars=True)
    assert O.NUMPY.text(both) == "_where((x < 0), 1.0, 2.0)"
    assert O.ARRAY_API.text(both) == (
        "_where((x < 0), _asarray(1.0, dtype=y.dtype), 2.0)"
    )
    # the text of a node is cached per family, not shared between them
    s = O.VecSum(x)
    assert (O.NUMPY.text(s), O.ARRAY_API.text(s)) == ("_add_reduce(x)", "_sum(x)")


def test_rewrites() -> None:
    x = O.Var("x")
    table = Tables()
    # gathers of evenly spaced positions are slices (views); others index arrays
    assert O.gather(x, [2, 3, 4], table) == O.Index(x, (O.Span(2, 5),))
    assert O.gather(x, [1, 3, 5], table) == O.Index(x, (O.Span(1, 6, 2),))
    assert O.gather(x, [4], table) == O.Index(x, (4,))
    assert isinstance(O.gather(x, [3, 1], table), O.Take)
    assert list(table.arrays["IDX0"]) == [3, 1]
    # no-op reshapes vanish; a reshape of a view's reshape reshapes the original
    assert O.reshape(x, (2, 3), (2, 3)) is x
    view = O.reshape(x, (6, 1), before=(6,))
    assert O.reshape(view, (6,)) is x
    assert O.reshape(view, (1, 6)) == O.Reshape(x, (1, 6))
    # literals: floats always (no integer arithmetic), negatives parenthesized
    assert [O.NUMPY.text(O.Lit(v)) for v in (2, -0.5, True)] == [
        "2.0",
        "(-0.5)",
        "True",
    ]
    assert O.NUMPY.text(O.Lit(float("-inf"))) == "(-_INF)"


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("-x * np.tanh(0.5)", -np.tanh(0.5)),
        ("-x * np.maximum(0.5, 0.2)", -0.5),
        ("x * np.where(1 > 2, 1.0, 2.0)", 2.0),
        ("x * (1 if 2 > 1 else 0)", 1.0),
        ("x * ((1 > 2) or 3)", 3.0),
        ("x * (0 and 5)", 0.0),
        ("x * np.clip(4.5, 0.5, 2.0)", 2.0),
        ("x * np.where(x > 0, 1.0, 2.0)", 1.0),
        ("x * np.where(x + 2 > 0 and 1 < 2, 1.5, 0.0)", 1.5),
    ],
)
def test_functions_of_constants_on_a_strict_namespace(expr: str, value: float) -> None:
    """The standard's functions take arrays: a namespace function, comparison or
    `where` of constants is folded when the model is compiled (in float64, as
    NumPy computes it), so strict namespaces run such specs too."""
    xp = pytest.importorskip("array_api_strict")
    from op_system import compile_rhs, normalize_rhs

    spec = {"kind": "expr", "state": ["x"], "equations": {"x": expr}}
    strict = compile_rhs(normalize_rhs(spec), xp=xp)
    got = np.asarray(strict.eval_fn(0.0, xp.asarray([1.0])))
    default = compile_rhs(normalize_rhs(spec)).eval_fn(0.0, np.asarray([1.0]))
    np.testing.assert_array_equal(got, [value])
    np.testing.assert_array_equal(default, [value])


def test_diagonal_references_on_a_strict_namespace() -> None:
    """`C[age, age]` is a diagonal: the standard has it only as `linalg.diagonal`."""
    xp = pytest.importorskip("array_api_strict")
    from op_system import compile_rhs, normalize_rhs

    spec = {
        "kind": "expr",
        "axes": [{"name": "age", "coords": ["a", "b", "c"]}],
        "state": ["S[age]"],
        "equations": {"S[age]": "-C[age, age] * S[age]"},
    }
    c = np.arange(9.0).reshape(3, 3)
    strict = compile_rhs(normalize_rhs(spec), xp=xp)
    got = strict.eval_fn(0.0, xp.asarray([1.0, 2.0, 3.0]), C=xp.asarray(c))
    np.testing.assert_array_equal(np.asarray(got), -np.diagonal(c) * [1.0, 2.0, 3.0])
