"""The `op-system` command line (also `python -m op_system`).

    op-system validate FILE [--json]     check specs; exit status 0 when all are valid
    op-system describe FILE              the model's summary (`CompiledRhs.describe`)
    op-system render FILE (--latex | --mermaid | --dot)
    op-system source FILE [--backend numpy|jax]   the generated right-hand side

FILE is a spec (YAML or JSON), or a flepimop2 config whose `system` entries with
`module: op_system` hold a `spec` or name a `spec_file` (relative to the config).
Errors are printed as `file:line:column: ErrorClass: message`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._spec.io import SpecDict, default_prefix, load_spec, locate, read_yaml, spec_at
from .._support.errors import OpSystemError, SpecError

__all__ = ["main"]


def _entries(path: Path) -> list[tuple[str, SpecDict]]:
    """`(label, spec)` of every op_system spec in `path`."""
    data, marks = read_yaml(path)
    if any(k in data for k in ("kind", "state", "spec")):
        return [(str(path), spec_at(path, data, marks, default_prefix(data)))]
    skey = "system" if "system" in data else "systems"
    system = data.get(skey)
    items: list[tuple[Any, Any]] = []
    if isinstance(system, list):
        items = list(enumerate(system))
    elif isinstance(system, dict):
        items = [(None, system)] if "module" in system else list(system.items())
    out: list[tuple[str, SpecDict]] = []
    for key, entry in items:
        if not isinstance(entry, dict) or entry.get("module") != "op_system":
            continue
        where = (
            skey
            if key is None
            else f"{skey}[{key!r}]"
            if isinstance(key, str)
            else f"{skey}[{key}]"
        )
        label = f"{path} ({where})"
        if "spec_file" in entry:
            out.append((label, load_spec(path.parent / str(entry["spec_file"]))))
        elif "spec" in entry:
            prefix = (skey, "spec") if key is None else (skey, key, "spec")
            out.append((label, spec_at(path, data, marks, prefix)))
        else:
            raise SpecError(
                f"{where} has module: op_system but neither spec nor spec_file",
                path=str(path),
            )
    if not out:
        raise SpecError(
            f"{path} holds no op_system spec: expected a spec (with `state`) or a "
            "flepimop2 config with `system` entries of `module: op_system`",
            path=str(path),
        )
    return out


def _check(spec: SpecDict) -> dict[str, Any]:
    """Validate one spec: the normalized model, compiled (where 0.1.2 reported
    constructs outside the language)."""
    from .._api.compiled import compile_rhs
    from .._api.normalized import normalize_rhs

    try:
        rhs = normalize_rhs(dict(spec))
        compile_rhs(rhs)
    except OpSystemError as exc:
        return {
            "ok": False,
            "error": type(exc).__name__,
            "message": exc.detail,
            "path": exc.path,
            "token": exc.token,
            "position": exc.pos,
            "location": locate(spec, exc.path, exc.pos),
        }
    return {
        "ok": True,
        "kind": rhs.kind,
        "n_state": len(rhs.state_names),
        "n_params": len(rhs.param_names),
    }


def _compiled(spec: SpecDict, backend: str | None = None) -> Any:
    from .._api.compiled import compile_spec

    return compile_spec(spec, backend=backend) if backend else compile_spec(spec)


def _validate(args: argparse.Namespace) -> int:
    results = []
    for label, spec in _entries(Path(args.file)):
        results.append({"entry": label, **_check(spec)})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if r["ok"]:
                print(
                    f"ok: {r['entry']}: {r['kind']} model, {r['n_state']} states, "
                    f"{r['n_params']} parameters"
                )
            else:
                where = r["location"] or r["entry"]
                print(f"{where}: {r['error']}: {r['message']}", file=sys.stderr)
    return 0 if all(r["ok"] for r in results) else 1


def _each(args: argparse.Namespace, show: Any) -> int:
    entries = _entries(Path(args.file))
    for label, spec in entries:
        if len(entries) > 1:
            print(f"# {label}")
        print(show(spec))
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="op-system",
        description="Validate, describe and render op_system model specs.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check specs (exit 1 if any is invalid)")
    v.add_argument("file", help="a spec, or a flepimop2 config with op_system systems")
    v.add_argument("--json", action="store_true", help="print the results as JSON")
    d = sub.add_parser("describe", help="print the model's summary")
    d.add_argument("file")
    r = sub.add_parser("render", help="print LaTeX or a flow diagram")
    r.add_argument("file")
    fmt = r.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--latex", action="store_const", const="latex", dest="fmt")
    fmt.add_argument("--mermaid", action="store_const", const="mermaid", dest="fmt")
    fmt.add_argument("--dot", action="store_const", const="dot", dest="fmt")
    s = sub.add_parser("source", help="print the generated right-hand side")
    s.add_argument("file")
    s.add_argument("--backend", choices=["numpy", "jax"], default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "describe":
            return _each(args, lambda spec: _compiled(spec).describe())
        if args.command == "render":
            if args.fmt == "latex":
                return _each(args, lambda spec: _compiled(spec).to_latex())
            return _each(args, lambda spec: _compiled(spec).flow_diagram(args.fmt))
        return _each(args, lambda spec: _compiled(spec, args.backend).source)
    except BrokenPipeError:  # the reader stopped (`| head`): not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the interpreter's flush
        return 0
    except (OpSystemError, ValueError, OSError) as exc:
        print(f"op-system {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
