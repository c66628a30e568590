"""`op_system.model_info`: the public, read-only view of a model's structure.

Checked on templated, flat, chain and kernel models against `state_names` /
`param_names` and against expectations written out by hand; plus a guard that
the flepimop2 plugin reads op_system only through public names.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from tests import models

import op_system
from op_system import (
    CompiledRhs,
    ModelInfo,
    NormalizedRhs,
    StateBlockInfo,
    compile_rhs,
    compile_spec,
    model_info,
    normalize_rhs,
)

PLUGIN_SRC = Path(__file__).resolve().parents[2] / "flepimop2_plugin" / "src"

TEMPLATED = {
    "kind": "transitions",
    "axes": [
        {"name": "age", "coords": ["young", "old"]},
        {"name": "vax", "coords": ["u", "v", "w"]},
    ],
    "state": ["S[age,vax]", "I[age]", "R"],
    "aliases": {
        "foi[age]": "beta[age] * sum_over(age=j, C[age, age=j] * I[age=j]) / sum_state()"
    },
    "transitions": [
        {"from": "S[age,vax]", "to": "I[age]", "rate": "foi[age] * eff[vax]"},
        {"from": "I[age]", "to": "R", "rate": "gamma"},
    ],
}

FLAT = models.sir()

CHAIN = models.chain()

KERNELS = {
    "kind": "expr",
    "axes": [
        {"name": "x", "coords": ["0", "1", "3"]},
        {"name": "g", "coords": ["a", "b"]},
    ],
    "kernels": [
        {
            "name": "K",
            "form": "gaussian",
            "axes": ["x", "x"],
            "params": {"scale": 2.0, "sigma": 1.5},
        },
        {
            "name": "W",
            "form": "custom_value",
            "value": [[1.0, 0.5], [0.25, 2.0]],
            "axes": ["g", "g"],
        },
        {"name": "V", "value": 3.0},
        {"name": "E", "form": "exponential", "params": {"scale": 1.0, "lambda": 2.0}},
    ],
    "state": ["u[x]", "v[g]"],
    "equations": {
        "u[x]": "-rate * sum_over(x=j, K[x, x=j] * u[x=j]) + E[x] * V",
        "v[g]": "-sum_over(g=h, W[g, g=h] * v[g=h])",
    },
}


def _check_consistent(info: ModelInfo, compiled: CompiledRhs) -> None:
    """Invariants every `ModelInfo` satisfies, against the compiled names."""
    assert info.state_names == compiled.state_names
    assert info.param_names == compiled.param_names
    names = [n for b in info.blocks for n in b.names]
    assert tuple(names) == compiled.state_names
    offset = 0
    for b in info.blocks:
        assert b.offset == offset
        assert b.size == len(b.names) == int(np.prod(b.shape))
        assert list(compiled.state_names[b.slice]) == list(b.names)
        offset += b.size
    assert offset == len(compiled.state_names)
    used = sorted(n for p in info.params for n in p.used_names)
    assert used == sorted(compiled.param_names)
    for p in info.params:
        assert p.shape == tuple(info.axis(a).size for a in p.axes)
        assert len(p.names) == int(np.prod(p.shape))
        assert set(p.used_names) <= set(p.names)


def test_templated_model() -> None:
    compiled = compile_spec(TEMPLATED)
    info = model_info(compiled)
    _check_consistent(info, compiled)
    assert info.kind == "transitions"
    assert [(a.name, a.kind, a.coords, a.size) for a in info.axes] == [
        ("age", "categorical", ("young", "old"), 2),
        ("vax", "categorical", ("u", "v", "w"), 3),
    ]
    s, i, r = info.blocks
    assert (s.base, s.axes, s.coords, s.offset, s.size, s.shape) == (
        "S",
        ("age", "vax"),
        (("young", "old"), ("u", "v", "w")),
        0,
        6,
        (2, 3),
    )
    assert s.names == tuple(
        f"S__age_{a}__vax_{v}" for a in ("young", "old") for v in ("u", "v", "w")
    )
    assert (i.base, i.axes, i.offset, i.size, i.names) == (
        "I",
        ("age",),
        6,
        2,
        ("I__age_young", "I__age_old"),
    )
    assert (r.base, r.axes, r.coords, r.offset, r.size, r.shape, r.names) == (
        "R",
        (),
        (),
        8,
        1,
        (),
        ("R",),
    )
    assert not any(b.chain for b in info.blocks)
    assert s.template == "S[age,vax]"
    assert r.template == "R"
    assert info.cell_coords("S__age_old__vax_w") == {"age": "old", "vax": "w"}
    assert info.cell_coords("R") == {}
    assert info.block_of("I__age_old") is i
    y = np.arange(9.0)
    np.testing.assert_array_equal(y[s.slice].reshape(s.shape), [[0, 1, 2], [3, 4, 5]])

    params = {p.name: p for p in info.params}
    assert set(params) == {"beta", "C", "eff", "gamma"}
    assert (params["C"].axes, params["C"].shape, params["C"].array_ok) == (
        ("age", "age"),
        (2, 2),
        True,
    )
    assert params["C"].names == (
        "C__age_young__age_young",
        "C__age_young__age_old",
        "C__age_old__age_young",
        "C__age_old__age_old",
    )
    assert (params["beta"].axes, params["beta"].names) == (
        ("age",),
        ("beta__age_young", "beta__age_old"),
    )
    assert params["eff"].shape == (3,)
    assert (params["gamma"].axes, params["gamma"].shape, params["gamma"].names) == (
        (),
        (),
        ("gamma",),
    )
    assert info.param("C") is params["C"]
    assert info.kernels == ()

    # the info describes what eval_fn accepts: arrays of `shape` under the base name
    rng = np.random.default_rng(0)
    arrays = {p.name: rng.uniform(0.1, 1.0, p.shape) for p in info.params}
    scalars = {
        n: float(v)
        for p in info.params
        for n, v in zip(p.names, np.ravel(arrays[p.name]))
    }
    y = rng.uniform(1.0, 10.0, len(info.state_names))
    np.testing.assert_allclose(
        compiled.eval_fn(0.0, y, **arrays), compiled.eval_fn(0.0, y, **scalars)
    )


def test_flat_model_and_normalized_rhs() -> None:
    compiled = compile_spec(FLAT)
    info = model_info(compiled)
    _check_consistent(info, compiled)
    assert info.axes == ()
    assert [(b.base, b.offset, b.size, b.names, b.shape) for b in info.blocks] == [
        ("S", 0, 1, ("S",), ()),
        ("I", 1, 1, ("I",), ()),
        ("R", 2, 1, ("R",), ()),
    ]
    assert [(p.name, p.axes, p.shape, p.names) for p in info.params] == [
        ("beta", (), (), ("beta",)),
        ("gamma", (), (), ("gamma",)),
    ]
    assert (
        model_info(normalize_rhs(FLAT)) == info
    )  # same structure from the NormalizedRhs


def test_hand_built_models_are_flat() -> None:
    manual = NormalizedRhs(
        "expr",
        ("x", "y"),
        ("-k * x", "k * x"),
        {},
        ("k",),
        frozenset({"x", "y", "k"}),
        {},
    )
    for obj in (
        manual,
        compile_rhs(manual),
        CompiledRhs(("a", "b"), ("p",), lambda t, y, **kw: y),
    ):
        info = model_info(obj)
        assert [b.names for b in info.blocks] == [(n,) for n in info.state_names]
        assert [p.names for p in info.params] == [(n,) for n in info.param_names]
        assert info.axes == ()
        assert info.kernels == ()
    with pytest.raises(TypeError, match="CompiledRhs or a NormalizedRhs"):
        model_info(FLAT)  # type: ignore[arg-type]


def test_chain_model() -> None:
    compiled = compile_spec(CHAIN)
    info = model_info(compiled)
    _check_consistent(info, compiled)
    assert compiled.state_names == ("S", "R", "E1", "E2", "E3")
    chain = info.blocks[-1]
    assert (
        chain.base,
        chain.chain,
        chain.axes,
        chain.offset,
        chain.size,
        chain.shape,
        chain.names,
    ) == ("E", True, (), 2, 3, (3,), ("E1", "E2", "E3"))
    assert chain.template == "E1..E3"
    assert info.block_of("E2") is chain
    assert info.cell_coords("E2") == {}
    assert info.axes == ()  # the chain's stages are not a spec axis
    assert {p.name for p in info.params} == {"beta", "sigma"}


def test_kernel_model() -> None:
    compiled = compile_spec(KERNELS)
    info = model_info(compiled)
    _check_consistent(info, compiled)
    assert [(k.name, k.axes, k.has_value, k.fixed_shape) for k in info.kernels] == [
        ("K", ("x", "x"), False, True),
        ("W", ("g", "g"), True, True),
        ("V", None, True, True),
        ("E", None, False, False),
    ]
    x = np.array([0.0, 1.0, 3.0])  # numeric categorical coords count as numbers
    expected_k = 2.0 * np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * 1.5**2))
    k = info.kernel_values("K")
    assert k.dtype == np.float64
    assert k.shape == (3, 3)
    np.testing.assert_allclose(k, expected_k)
    np.testing.assert_array_equal(info.kernel_values("W"), [[1.0, 0.5], [0.25, 2.0]])
    assert info.kernel_values("V").shape == ()
    assert float(info.kernel_values("V")) == 3.0
    np.testing.assert_allclose(info.kernel_values("E", axes=("x",)), np.exp(-x / 2.0))
    with pytest.raises(ValueError, match="declares no axes"):
        info.kernel_values("E")
    with pytest.raises(KeyError, match="no kernel 'KK'"):
        info.kernel_values("KK")
    assert {p.name for p in info.params} == {"rate"}  # kernels are not parameters
    # the values are those the compiled right-hand side uses
    u = np.array([1.0, 2.0, 3.0])
    v = np.array([1.0, -1.0])
    expected = np.concatenate(
        [
            -0.5 * expected_k @ u + np.exp(-x / 2.0) * 3.0,
            -np.array([[1, 0.5], [0.25, 2]]) @ v,
        ]
    )
    np.testing.assert_allclose(
        compiled.eval_fn(0.0, np.concatenate([u, v]), rate=0.5), expected
    )


def test_partially_used_and_variant_parameters() -> None:
    spec = {
        "kind": "expr",
        "axes": [
            {"name": "age", "coords": ["y", "o"]},
            {"name": "vax", "coords": ["u", "v"]},
        ],
        "state": ["S[age]", "I"],
        "equations": {
            "S[age]": "-beta[age] * S[age] * I",
            "I": "b[age=y] + b[age=o, vax=v]",
        },
    }
    compiled = compile_spec(spec)
    info = model_info(compiled)
    _check_consistent(info, compiled)
    variants = [p for p in info.params if p.name == "b"]
    assert [(p.axes, p.used_names, p.array_ok) for p in variants] == [
        (("age",), ("b__age_y",), False),
        (("age", "vax"), ("b__age_o__vax_v",), False),
    ]
    assert info.param("beta").array_ok
    assert info.param("beta").used_names == ("beta__age_y", "beta__age_o")


def test_lookups_name_what_is_missing() -> None:
    info = model_info(compile_spec(TEMPLATED))
    with pytest.raises(KeyError, match=r"no axis 'agee'.*did you mean 'age'"):
        info.axis("agee")
    with pytest.raises(KeyError, match=r"no parameter 'gama'.*did you mean 'gamma'"):
        info.param("gama")
    with pytest.raises(KeyError, match="no state 'X'"):
        info.block_of("X")


def test_info_is_read_only_and_has_a_useful_repr() -> None:
    info = model_info(compile_spec(TEMPLATED))
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.kind = "expr"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.blocks[0].offset = 3  # type: ignore[misc]
    assert repr(info) == (
        "ModelInfo(kind='transitions', n_state=9, axes={'age': 2, 'vax': 3}, "
        "blocks=['S[age,vax]', 'I[age]', 'R'], params=['beta[age]', 'C[age, age]', 'eff[vax]', 'gamma'], "
        "kernels=[])"
    )
    assert repr(info.blocks[0]) == "StateBlockInfo('S[age,vax]', offset=0, size=6)"
    assert repr(info.param("C")) == "ParamInfo('C[age, age]', shape=(2, 2))"
    assert (
        repr(info.axis("vax"))
        == "AxisInfo('vax', kind='categorical', coords=['u', 'v', 'w'])"
    )
    assert isinstance(info.blocks[0], StateBlockInfo)


def test_exported() -> None:
    for name in (
        "model_info",
        "ModelInfo",
        "StateBlockInfo",
        "ParamInfo",
        "AxisInfo",
        "KernelInfo",
    ):
        assert name in op_system.__all__
        assert getattr(op_system, name).__module__ == "op_system._api.info"
    api = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(
        encoding="utf-8"
    )
    assert "::: op_system.model_info" in api
    assert "::: op_system.ModelInfo" in api


# -- the flepimop2 plugin uses only public op_system names ------------------------------------


def _plugin_files() -> list[Path]:
    files = sorted(PLUGIN_SRC.rglob("*.py"))
    assert files, PLUGIN_SRC
    return files


@pytest.mark.parametrize(
    "path", _plugin_files(), ids=lambda p: str(p.relative_to(PLUGIN_SRC))
)
def test_plugin_uses_only_public_op_system(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern in (r"(?<![\w.])op_system\._", r"\._model\b", r"\.rhs\._", r"\._rhs\b"):
        hits = [ln for ln in text.splitlines() if re.search(pattern, ln)]
        assert not hits, (
            f"{path.name} reaches into op_system's internals ({pattern}): {hits}"
        )
    for node in ast.walk(ast.parse(text)):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == "op_system"
        ):
            assert not any(part.startswith("_") for part in node.module.split(".")), (
                node.module
            )
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"{path.name} imports private op_system names {private}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "op_system":
                    assert not any(
                        part.startswith("_") for part in alias.name.split(".")
                    ), alias.name
