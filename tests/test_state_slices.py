"""Examples and documentation read states by name, never by hand-computed position.

A position in the flat state vector (`ys[:, 8:12]` for `I[age]`, `ys[-1, 12:16]`,
`sol.y[12:16, -1]`, `y0[0:6]`, `ys[:, 8 + k]`) is the model's layout computed by
hand: it breaks silently when a state or an axis is added, and it is what `pack`,
`unpack`, `solve` and `simulate(named=True)` exist to replace. This test reads the
Python of `examples/*.py` and of every ```python block of the documentation
(`docs/*.md`, `README.md`, `flepimop2_plugin/README.md`) with `ast` and flags:

* a subscript of two or more indices, read, whose **last** index (the state
  axis of a `(time, state)` or `(trajectory, time, state)` array) is a slice
  with a literal integer bound, or a literal integer plus a variable (`8 + k`);
  an array over the model's axes filled by assignment (`seed[:, :3] = 10.0`,
  the first three regions) is an input being built, not states being read;
* a subscript of `<x>.y` (SciPy's `(state, time)` layout) whose **first** index
  is such a slice;
* a bounded one-index slice (`y0[:2]`, `y0[: len(AGES)]`) of a state vector by
  its usual names (`y`, `y0`, `Y0`, `dydt`); a one-index slice of `ys` is over
  time.

A plain integer index (`out[:, -1, 0]` of a one-state model), a stride
(`ys[::7]`, a weekly grid) and a slice of anything else (`state_names[:4]`,
`sol["I"][:3]`, over time) are not flagged. Printed layouts (`describe()`'s
`y[0:3]` in a ```text block) are not code and are not read.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
from mdblocks import scan  # noqa: E402

#: names a one-index slice of which is a slice of a state vector
STATE_VECTORS = {"y", "y0", "dydt", "Y0"}


def _int(node: ast.AST) -> bool:
    """A literal integer (`8`, `-1`)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    )


def _offset(node: ast.AST | None) -> bool:
    """A literal integer, or a literal integer plus or times something (`8 + k`,
    `4 * comp`): a position computed from the layout."""
    if node is None:
        return False
    if _int(node):
        return True
    return isinstance(node, ast.BinOp) and (_int(node.left) or _int(node.right))


def _hand_slice(node: ast.AST) -> bool:
    """A slice with a bound computed by hand (`8:12`, `:2`, `4 * c : 4 * c + 4`)."""
    return isinstance(node, ast.Slice) and (_offset(node.lower) or _offset(node.upper))


def _state_index(node: ast.AST) -> bool:
    """An index into the state axis computed by hand: a slice as above, or an
    integer plus a variable (`8 + k`)."""
    return _hand_slice(node) or (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and (_int(node.left) or _int(node.right))
    )


def _bounded(node: ast.AST) -> bool:
    return isinstance(node, ast.Slice) and (
        node.lower is not None or node.upper is not None
    )


def hand_slices(source: str) -> list[str]:
    """The subscripts of `source` that index states by hand-computed position."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Subscript):
            continue
        index = node.slice
        items = index.elts if isinstance(index, ast.Tuple) else [index]
        bad = False
        if len(items) >= 2:
            bad = (isinstance(node.ctx, ast.Load) and _state_index(items[-1])) or (
                isinstance(node.value, ast.Attribute)
                and node.value.attr == "y"
                and _hand_slice(items[0])
            )
        elif isinstance(node.value, ast.Name) and node.value.id in STATE_VECTORS:
            bad = _bounded(items[0])
        if bad:
            found.append(ast.unparse(node))
    return found


# -- the checker itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "ys[:, 8:12]",
        "ys[-1, 12:16].sum()",
        "out[:, :, 6:8]",
        "sol.y[12:16, -1]",
        "sol.y[:2, -1]",
        "ys[:, 8 + k]",
        "ys[:, 4 * c : 4 * c + 4]",
        "y[8:12]",
        "y0[0:6].reshape(3, 2)[:, 0]",
        "dydt[:2]",
        "solve(args).ys[-1, 12:16]",
        "y0[8:12] = seed",
        "y0[: len(AGES)] = pop",
    ],
)
def test_checker_flags_hand_written_state_slices(code: str) -> None:
    assert hand_slices(code), code


@pytest.mark.parametrize(
    "code",
    [
        "ys[::7]",
        "model.state_names[:4]",
        "sol['I'][:3]",
        "out[:, -1, 0]",
        "weekly[:, :k]",
        "blocks['I'][:, k]",
        "values[:, at : at + size]",
        "history[10:20]",
        "sol.y[1]",
        "seed[:, :3] = 10.0",
    ],
)
def test_checker_passes_named_and_non_state_indexing(code: str) -> None:
    assert hand_slices(code) == [], code


# -- examples and docs -------------------------------------------------------------------


def _sources() -> dict[str, str]:
    out = {
        p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted((ROOT / "examples").glob("*.py"))
    }
    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    pages.append(ROOT / "flepimop2_plugin" / "README.md")
    for page in pages:
        rel = page.relative_to(ROOT).as_posix()
        blocks, _ = scan(page.read_text(encoding="utf-8"), rel)
        for b in blocks:
            if b.lang == "python":
                out[f"{rel}:{b.line}"] = b.code
    return out


def test_sources_are_read() -> None:
    sources = _sources()
    assert sum(1 for k in sources if k.startswith("examples/")) >= 10
    assert sum(1 for k in sources if k.startswith("docs/")) >= 50


def test_examples_and_docs_read_states_by_name() -> None:
    flagged = {
        where: found
        for where, code in _sources().items()
        if (found := hand_slices(code))
    }
    assert not flagged, (
        "states indexed by hand-computed position (use rhs.pack / rhs.unpack, "
        f"op_system.solve's sol['I'], or simulate(named=True)): {flagged}"
    )
