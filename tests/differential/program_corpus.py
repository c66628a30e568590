"""Lower a fixed corpus of specs and save, or check, the generated programs.

A developer tool for refactors that must not change what the compiler
generates (not a test: programs may change when a change means it). Unlike
`source_corpus.py`, which pickles the models a test run builds, this one starts
from specs, so it also checks refactors of the model's own classes:

    .venv/bin/python -m tests.differential.program_corpus save /tmp/base.json
    # ... change the code ...
    .venv/bin/python -m tests.differential.program_corpus check /tmp/base.json

The corpus: the parity specs, `generate_cases(150, seed=5)` and the benchmark
forms of `age_seir(5)`, `age_seir_counted(4)` and `erlang_chain(8)`, each
lowered in every mode on NumPy (also dispatching) and JAX. A program is kept as
the SHA-256 of the `ast.dump` of its source and its `bind` split, so programs
that differ only in parentheses count as equal; a lowering that fails is kept
as its error.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import sys
import warnings
from collections.abc import Iterator
from typing import Any

MODES = ("rhs", "jvp", "flows", "rates", "observables", "jvps", "jacobian")


def _specs() -> Iterator[tuple[str, Any]]:
    from benchmarks import models as bm
    from tests.differential.generate import generate_cases
    from tests.parity.cases import CASES

    for c in CASES:
        yield f"parity:{c['name']}", c["spec"]
    for c in generate_cases(150, seed=5):
        yield f"gen:{c['id']}", c["spec"]
    for name, m in (
        ("age_seir5", bm.age_seir(5)),
        ("counted4", bm.age_seir_counted(4)),
        ("erlang8", bm.erlang_chain(8)),
    ):
        for form, (spec, _params) in bm.spec_forms(m).items():
            yield f"bench:{name}:{form}", spec


def _digest(text: str | None) -> str:
    try:
        return ast.dump(ast.parse(text or ""))
    except SyntaxError:
        return text or ""


def programs() -> dict[str, str]:
    """`{spec|backend|mode|dispatch: digest or error}` for the whole corpus."""
    from op_system import normalize_rhs
    from op_system._lower.codegen import lower_model

    out: dict[str, str] = {}
    for key, spec in _specs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = normalize_rhs(copy.deepcopy(spec))._model
            except Exception as exc:  # rejected specs are part of the corpus
                out[key] = f"ERR {type(exc).__name__}"
                continue
        for backend in ("numpy", "jax"):
            for mode in MODES:
                for dispatch in (False, True) if backend == "numpy" else (False,):
                    name = f"{key}|{backend}|{mode}|{dispatch}"
                    try:
                        prog = lower_model(model, backend, mode, dispatch=dispatch)
                    except Exception as exc:
                        out[name] = f"ERR {type(exc).__name__}: {exc}"[:200]
                        continue
                    both = _digest(prog.source) + "||" + _digest(prog.bound_source)
                    out[name] = hashlib.sha256(both.encode()).hexdigest()
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("save", "check"):
        print(__doc__)
        return 2
    action, path = argv
    got = programs()
    if action == "save":
        with open(path, "w") as f:
            json.dump(got, f)
        print(f"{len(got)} programs saved to {path}")
        return 0
    with open(path) as f:
        ref = json.load(f)
    bad = [k for k in ref if ref[k] != got.get(k)]
    print(f"{len(ref)} checked, {len(bad)} differ")
    for k in bad[:20]:
        print(f"  {k}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
