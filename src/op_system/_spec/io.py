"""Loading specs from YAML files, with errors that point at the file's line and column."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._support.errors import OpSystemError, SpecError

__all__ = [
    "SpecDict",
    "default_prefix",
    "load_spec",
    "locate",
    "position",
    "read_yaml",
    "spec_at",
    "spec_position",
]


class SpecDict(dict):  # type: ignore[type-arg]
    """A spec loaded from a file: a plain `dict` that remembers where each key came from."""

    source: str = "<string>"
    #: `(line, column)` of each spec path's value, and for a string that stands in
    #: the file as written the `(line, column)` of its first character (see `_mark`)
    marks: dict[tuple[Any, ...], tuple[int, ...]]

    def __init__(
        self,
        data: Mapping[str, Any],
        source: str,
        marks: dict[tuple[Any, ...], tuple[int, ...]],
    ) -> None:
        super().__init__(data)
        self.source = source
        self.marks = marks


def _mark(node: Any) -> tuple[int, ...]:
    """A node's `(line, column)`, and for a string whose text stands in the file as
    written (plain or quoted without escapes on one line, or a literal block) the
    `(line, column)` of its first character, so that expression positions map."""
    start, end = node.start_mark, node.end_mark
    mark = (start.line + 1, start.column + 1)
    value = getattr(node, "value", None)
    if not isinstance(value, str):
        return mark
    if node.style == "|" and start.buffer is not None:
        # the block's lines are the file's lines after its header, less its indentation
        lines = start.buffer.split("\n")[start.line + 1 :]
        first = next((ln for ln in lines if ln.strip()), None)
        if first is None:
            return mark
        indent = len(first) - len(first.lstrip(" "))
        return (*mark, start.line + 2 + lines.index(first), indent + 1)
    if start.line != end.line:
        return mark
    quotes = 0 if node.style is None else 2 if node.style in ("'", '"') else -1
    if quotes >= 0 and end.index - start.index == len(value) + quotes:
        return (*mark, start.line + 1, start.column + 1 + quotes // 2)
    return mark


def _collect_marks(
    node: Any, prefix: tuple[Any, ...], out: dict[tuple[Any, ...], tuple[int, ...]]
) -> None:
    import yaml

    out.setdefault(prefix, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            # bound to a name, not `out[(*prefix, key)]`: mypy's native parser
            # misreads a starred tuple inside a subscript as 3.11-only syntax
            path = (*prefix, key)
            out[path] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _collect_marks(value_node, path, out)
            out[path] = _mark(value_node)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect_marks(item, (*prefix, i), out)


_PATH_TOKEN = re.compile(
    r"\[(\d+)\]|\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]|\.?([A-Za-z_][A-Za-z0-9_]*)"
)


def _parse_path(path: str) -> tuple[Any, ...]:
    """`transitions[3].rate` → `("transitions", 3, "rate")`; `equations['S[age]']` → `("equations", "S[age]")`."""
    import ast

    keys: list[Any] = []
    pos = 0
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if m is None or m.end() == pos:
            break
        if m.group(1) is not None:
            keys.append(int(m.group(1)))
        elif m.group(2) is not None:
            keys.append(ast.literal_eval(m.group(2)))
        else:
            keys.append(m.group(3))
        pos = m.end()
    return tuple(keys)


def position(
    marks: Marks, keys: tuple[Any, ...], pos: tuple[int, int] | None = None
) -> tuple[int, int]:
    """`(line, column)` in the file of the node at `keys` (or of its nearest
    enclosing node that has a mark); with `pos`, a position in the expression
    there, that of its token where the expression stands in the file as written.
    `(1, 1)` when no enclosing node has a mark."""
    exact = True
    while True:
        mark = marks.get(keys)
        if mark is not None:
            if exact and pos is not None and len(mark) == 4:
                return mark[2] + pos[0] - 1, mark[3] + pos[1] - 1
            return mark[0], mark[1]
        if not keys:
            return 1, 1
        keys, exact = keys[:-1], False


def spec_position(
    spec: object, path: str | None, pos: tuple[int, int] | None = None
) -> tuple[str, int, int] | None:
    """`(file, line, column)` of a spec path (`transitions[3].rate`), for specs
    loaded with `load_spec`; with `pos`, a position in the expression there."""
    if not isinstance(spec, SpecDict) or not path:
        return None
    keys = _parse_path(path)
    if not any(k[: len(keys)] == keys[: len(k)] for k in spec.marks if k):
        return None  # not a path of this spec
    line, col = position(spec.marks, keys, pos)
    return spec.source, line, col


def locate(
    spec: object, path: str | None, pos: tuple[int, int] | None = None
) -> str | None:
    """`file:line:column` of a spec path, for specs loaded with `load_spec`; with
    `pos`, a position in the expression there, that of its token where the
    expression stands in the file as written."""
    found = spec_position(spec, path, pos)
    return None if found is None else f"{found[0]}:{found[1]}:{found[2]}"


def annotate(exc: OpSystemError, spec: object) -> OpSystemError:
    """`exc` with the file position of its token (or of `exc.path`) (same class)."""
    return exc.located(locate(spec, exc.path, exc.pos))


def load_spec(path: str | Path, *, key: str | None = None) -> SpecDict:
    """Read a spec from a YAML file.

    The file may hold the spec itself, or a flepimop2-style config whose
    `system` entry (a mapping or the first list item) has a `spec` key; `key`
    selects another top-level key holding the spec.

    Errors raised later by `normalize_rhs`/`compile_spec` on the returned spec
    name the file, line and column of the offending entry.

    !!! example
        ```python
        >>> import tempfile, os
        >>> from op_system import load_spec, compile_spec
        >>> text = "kind: expr\\nstate: [x]\\nequations:\\n  x: -k * x\\n"
        >>> with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        ...     _ = f.write(text)
        >>> spec = load_spec(f.name)
        >>> compile_spec(spec).eval_fn(0.0, [2.0], k=0.5)
        array([-1.])
        >>> os.unlink(f.name)

        ```
    """
    p = Path(path)
    data, marks = read_yaml(p)
    if key is None:
        prefix = default_prefix(data)
    elif key in data:
        prefix = (key,)
    else:
        raise SpecError(f"{p} has no key {key!r}", path=str(p), token=key)
    return spec_at(p, data, marks, prefix)


Marks = dict[tuple[Any, ...], tuple[int, ...]]


def read_yaml(p: Path) -> tuple[dict[str, Any], Marks]:
    """A YAML file's mapping and the line and column of every node in it."""
    import yaml

    text = p.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
        raise SpecError(detail, path=where or str(p)) from None
    if not isinstance(data, dict):
        raise SpecError(
            f"a spec file must hold a mapping, got {type(data).__name__}", path=str(p)
        )
    marks: Marks = {}
    if root is not None:
        _collect_marks(root, (), marks)
    return data, marks


def default_prefix(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """Where `load_spec` finds the spec in a file's mapping: the mapping itself, its
    `spec` key, or the `spec` of a flepimop2 config's first `system` entry."""
    if "spec" not in data and "kind" not in data and "state" not in data:
        system = data.get("system", data.get("systems"))
        skey = "system" if "system" in data else "systems"
        if (
            isinstance(system, list)
            and system
            and isinstance(system[0], dict)
            and "spec" in system[0]
        ):
            return (skey, 0, "spec")
        if isinstance(system, dict) and "spec" in system:
            return (skey, "spec")
        if isinstance(system, dict):
            name = next(
                (k for k, v in system.items() if isinstance(v, dict) and "spec" in v),
                None,
            )
            if name is not None:
                return (skey, name, "spec")
    elif "spec" in data and isinstance(data["spec"], dict):
        return ("spec",)
    return ()


def spec_at(
    p: Path, data: Mapping[str, Any], marks: Marks, prefix: tuple[Any, ...]
) -> SpecDict:
    """The spec at `prefix` in a file's mapping, with its own nodes' positions."""
    node: Any = data
    for k in prefix:
        node = node[k]
    if not isinstance(node, dict):
        raise SpecError(f"the spec in {p} must be a mapping", path=str(p))
    local = {
        k[len(prefix) :]: v for k, v in marks.items() if k[: len(prefix)] == prefix
    }
    return SpecDict(node, str(p), local)
