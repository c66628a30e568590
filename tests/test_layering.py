"""The package's import graph is acyclic: every module imports only modules of
earlier stages, at module level or inside functions alike (a cycle hidden in a
function-level import is still a cycle; an import for annotations only, under
`if TYPE_CHECKING:`, is not a dependency). Read from the source with `ast`, so
optional dependencies need not be installed."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "op_system"


def _modules() -> dict[str, Path]:
    """Every module of the package by its dotted name below `op_system`
    (a sub-package's `__init__` by the sub-package's name)."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_only(tree: ast.Module) -> set[int]:
    """Ids of the imports under `if TYPE_CHECKING:` (annotations only: no run-time
    dependency, so not an edge of the graph)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith(
            "TYPE_CHECKING"
        ):
            out.update(id(n) for b in node.body for n in ast.walk(b))
    return out


def _resolve(module: str, path: Path, level: int, name: str | None) -> str:
    """The dotted name a relative import `from {'.' * level}{name}` reaches."""
    package = (
        module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    )
    if package == ["__init__"]:
        package = []
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def _graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports at run time (relative imports,
    any depth, at module level or inside functions)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for m, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_only(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                target = _resolve(m, path, node.level, node.module)
                if node.module is None or target not in modules:
                    # `from . import x`: x is a module, or a name of the package
                    for a in node.names:
                        sub = f"{target}.{a.name}" if target else a.name
                        graph[m].add(sub if sub in modules else target or "__init__")
                else:
                    graph[m].add(target)
            elif isinstance(node, ast.ImportFrom) and node.module == "op_system":
                graph[m].add("__init__")
        graph[m] &= set(modules)
        graph[m].discard(m)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*path[path.index(n) :], n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_import_graph_is_acyclic() -> None:
    graph = _graph()
    assert len(graph) > 20  # the package was found
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_internal_modules_do_not_import_the_public_package() -> None:
    """Internals import each other, never `op_system` itself (its `__init__`
    imports them: that would be a cycle through the public surface)."""
    graph = _graph()
    assert not [
        m for m, deps in graph.items() if "__init__" in deps and m != "__main__"
    ]


def test_no_function_is_longer_than_120_lines() -> None:
    """Each function does one thing a reader can hold at once (the statement
    layer, the builder and the runtime were split by stage to get here)."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None
                size = node.end_lineno - node.lineno + 1
                if size > 120:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({size} lines)")
    assert not long, long


def test_no_module_is_longer_than_800_lines() -> None:
    """A module is one concept a newcomer can read; the public modules of
    0.1.2's import paths (`compile`, `specs`) are façades."""
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
        for p in PACKAGE.rglob("*.py")
    }
    assert not {p: n for p, n in sizes.items() if n > 800}
    assert sizes["compile.py"] < 150
    assert sizes["specs.py"] < 150


#: The private sub-packages in pipeline order; a module imports only modules of
#: its own package or an earlier one (the public modules come last).
STAGES = (
    "_support",
    "_spec",
    "_lang",
    "_core",
    "_lower",
    "_backends",
    "_stochastic",
    "_views",
    "_results",
    "_api",
    "_cli",
)


def _stage(module: str) -> int:
    head = module.split(".")[0]
    return STAGES.index(head) if head in STAGES else len(STAGES)


def test_modules_import_only_their_own_or_earlier_stages() -> None:
    graph = _graph()
    assert {m.split(".")[0] for m in graph if "." in m} == set(STAGES)
    late = sorted(
        f"{m} imports {d}"
        for m, deps in graph.items()
        for d in deps
        if _stage(d) > _stage(m)
    )
    assert not late, late


def test_no_private_name_is_imported_from_another_stage() -> None:
    """A stage uses what another stage offers, never its private names (`_x`);
    `specs.py` keeps 0.1.2's `_normalize_constraints` under its old import path."""
    private = []
    for m, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level >= 1):
                continue
            target = _resolve(m, path, node.level, node.module)
            if _stage(target) == _stage(m) or m == "specs":
                continue
            private += [
                f"{m} imports {target}.{a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
    assert not private, private
