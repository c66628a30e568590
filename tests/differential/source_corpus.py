"""Record every generated source of a test run, and check later code against it.

A refactoring of the code generator that must not change what it generates
(the array-op IR, say) is checked by lowering the same models again and
comparing the text:

    # before the change: run the suite with the recorder (a pytest plugin)
    OP_SYSTEM_SOURCE_CORPUS=/tmp/corpus .venv/bin/python -m pytest -q \
        -p tests.differential.source_corpus
    # after it: lower every recorded model again and compare
    .venv/bin/python -m tests.differential.source_corpus /tmp/corpus
    # after a change meant to alter the text (checked otherwise): take it as the new baseline
    .venv/bin/python -m tests.differential.source_corpus /tmp/corpus --update

The recorder wraps `lower_model` in every module of the package that calls it, so every model any test
builds (generated specs included) is kept once per (backend, mode) with the
source and the `bind` split it gave. The check reports each model whose
source differs, with the first differing lines. This is a developer tool,
not a test: generated text is allowed to change when the change is meant.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

_ENV = "OP_SYSTEM_SOURCE_CORPUS"
_seen: dict[str, tuple[bytes, str, str, bool, str, str]] = {}


def _record(model: Any, backend_name: str, mode: str, dispatch: bool, out: Any) -> None:
    try:
        blob = pickle.dumps(model)
    except Exception:  # a model holding something unpicklable: not recorded
        return
    key = hashlib.sha256(
        blob + f"|{backend_name}|{mode}|{dispatch}".encode()
    ).hexdigest()
    if key not in _seen:
        _seen[key] = (blob, backend_name, mode, dispatch, out.source, out.bound_source)


def pytest_configure(config: Any) -> None:
    if not os.environ.get(_ENV):
        return
    # importing the package imports every module that calls `lower_model`
    from op_system._lower.codegen import lower_model as original

    def recording(
        model: Any, backend_name: str, mode: str = "rhs", *, dispatch: bool = False
    ) -> Any:
        out = original(model, backend_name, mode, dispatch=dispatch)
        _record(model, backend_name, mode, dispatch, out)
        return out

    for name, module in list(sys.modules.items()):
        if (
            name.startswith("op_system.")
            and getattr(module, "lower_model", None) is original
        ):
            module.lower_model = recording  # type: ignore[attr-defined]


def pytest_unconfigure(config: Any) -> None:
    where = os.environ.get(_ENV)
    if not where or not _seen:
        return
    Path(where).mkdir(parents=True, exist_ok=True)
    with open(Path(where) / f"corpus-{os.getpid()}.pkl", "wb") as f:
        pickle.dump(_seen, f)


def _same_program(a: str, b: str) -> bool:
    """Equal up to redundant parentheses and spacing (the same Python syntax tree)."""
    try:
        return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))
    except SyntaxError:
        return False


def check(where: str, show: int = 5, update: bool = False) -> int:
    """Lower every recorded model again; print the differences; return how many differ.

    Sources that differ only in redundant parentheses or spacing (the same
    syntax tree) are counted apart and do not fail the check. With `update`,
    the new sources replace the recorded ones (one file).
    """
    from op_system._lower.codegen import lower_model

    entries: dict[str, tuple[bytes, str, str, bool, str, str]] = {}
    files = sorted(Path(where).glob("corpus-*.pkl"))
    for path in files:
        with open(path, "rb") as f:
            entries.update(pickle.load(f))
    bad = spelled = 0
    updated: dict[str, tuple[bytes, str, str, bool, str, str]] = {}
    for key, (blob, backend_name, mode, dispatch, source, bound) in entries.items():
        model = pickle.loads(blob)
        try:
            out = lower_model(model, backend_name, mode, dispatch=dispatch)
            got = (out.source, out.bound_source)
        except Exception as exc:
            got = (f"raised {type(exc).__name__}: {exc}", "")
        updated[key] = (blob, backend_name, mode, dispatch, *got)
        if got != (source, bound) and all(
            _same_program(x, y) for x, y in zip(got, (source, bound))
        ):
            spelled += 1
        elif got != (source, bound):
            bad += 1
            if bad <= show:
                print(f"--- {key[:12]} ({backend_name}, {mode}, dispatch={dispatch})")
                old = source if got[0] != source else bound
                new = got[0] if got[0] != source else got[1]
                diff = difflib.unified_diff(
                    old.splitlines(), new.splitlines(), "before", "after", n=1
                )
                print("\n".join(list(diff)[:40]))
    print(
        f"{len(entries)} recorded lowerings: {bad} differ,"
        f" {spelled} only in parentheses or spacing"
    )
    if update:
        for path in files:
            path.unlink()
        with open(Path(where) / "corpus-baseline.pkl", "wb") as f:
            pickle.dump(updated, f)
        print("baseline updated")
    return bad


if __name__ == "__main__":
    update = "--update" in sys.argv[2:]
    sys.exit(1 if check(sys.argv[1], update=update) and not update else 0)
