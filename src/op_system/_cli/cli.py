"""The `op-system` command line (also `python -m op_system`).

    op-system validate FILE... [--json] [--strict]   check specs (globs too)
    op-system describe FILE              the model's summary (`CompiledRhs.describe`)
    op-system render FILE (--latex | --mermaid | --dot)
    op-system source FILE [--backend numpy|jax]   the generated right-hand side

FILE is a spec (YAML or JSON), or a flepimop2 config whose `system` entries with
`module: op_system` hold a `spec` or name a `spec_file` (relative to the config);
a config is also checked as flepimop2 reads it (axes, parameters, engines: see
`flepimop2.py`). Every error and warning is printed as
`file:line:column: level: Class: message` (`diagnostics.py`), or as a record
under `--json`. `validate` exits with 1 when any file has an error (or, with
`--strict`, a warning), else 0.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._spec.io import SpecDict, default_prefix, load_spec, read_yaml, spec_at
from .._support.errors import OpSystemError, SpecError
from .diagnostics import Diagnostic, from_error, from_warning
from .flepimop2 import ConfigChecker, requests_of

__all__ = ["main"]


@dataclass
class _Entry:
    """One op_system spec of a file (or what stopped it from being read)."""

    label: str
    file: str
    spec: SpecDict | None = None
    #: where the system entry stands in a flepimop2 config (`("system", 0)`)
    system_keys: tuple[Any, ...] | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def _is_spec(data: dict[str, Any]) -> bool:
    return any(k in data for k in ("kind", "state", "spec"))


def _entries(path: Path) -> tuple[list[_Entry], ConfigChecker | None]:
    """Every op_system spec in `path`, and the config's checker for a flepimop2 config."""
    file = str(path)
    try:
        data, marks = read_yaml(path)
    except (OpSystemError, OSError) as exc:
        return [_Entry(file, file, diagnostics=[from_error(exc, None, file)])], None
    if _is_spec(data):
        return [
            _Entry(file, file, spec_at(path, data, marks, default_prefix(data)))
        ], None
    skey = "system" if "system" in data else "systems"
    system = data.get(skey)
    items: list[tuple[Any, Any]] = []
    if isinstance(system, list):
        items = list(enumerate(system))
    elif isinstance(system, dict):
        items = [(None, system)] if "module" in system else list(system.items())
    out: list[_Entry] = []
    for key, entry in items:
        if not isinstance(entry, dict) or entry.get("module") != "op_system":
            continue
        keys = (skey,) if key is None else (skey, key)
        where = (
            skey
            if key is None
            else f"{skey}[{key!r}]"
            if isinstance(key, str)
            else f"{skey}[{key}]"
        )
        item = _Entry(f"{path} ({where})", file, system_keys=keys)
        try:
            if "spec_file" in entry:
                item.spec = load_spec(path.parent / str(entry["spec_file"]))
            elif "spec" in entry:
                item.spec = spec_at(path, data, marks, (*keys, "spec"))
            else:
                raise SpecError(
                    f"{where} has module: op_system but neither spec nor spec_file",
                    path=where,
                )
        except (OpSystemError, OSError) as exc:
            item.diagnostics.append(
                from_error(exc, spec_at(path, data, marks, ()), file)
            )
        out.append(item)
    if not out:
        none = SpecError(
            f"{path} holds no op_system spec: expected a spec (with `state`) or a "
            "flepimop2 config with `system` entries of `module: op_system`"
        )
        return [_Entry(file, file, diagnostics=[from_error(none, None, file)])], None
    return out, ConfigChecker(file, data, marks)


def _logical_params(compiled: Any) -> list[dict[str, Any]]:
    """The model's parameters as written (an indexed one once, with its shape),
    from `model_info`; a time-varying one with its table's shape."""
    from .._api.info import model_info

    info = model_info(compiled)
    time_axis = compiled.meta.get("time_axis")
    n_time = next((ax.size for ax in info.axes if ax.name == time_axis), None)
    out = []
    for params, observable in ((info.params, False), (info.observable_params, True)):
        for p in params:
            axes, shape = list(p.axes), list(p.shape)
            if p.time_pos is not None and n_time is not None:
                axes.insert(p.time_pos, str(time_axis))
                shape = list(p.table_shape(n_time))
            out.append(
                {
                    "name": p.name,
                    "axes": axes,
                    "shape": shape,
                    "time_varying": p.time_pos is not None,
                    "observables_only": observable,
                }
            )
    return out


def _build(entry: _Entry) -> Any:
    """Build `entry`'s model, its errors and warnings as diagnostics; the compiled
    model, or `None` when it has an error."""
    from .._api.compiled import compile_rhs
    from .._api.normalized import normalize_rhs

    spec = entry.spec
    if spec is None:
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            compiled = compile_rhs(normalize_rhs(dict(spec)))
        except OpSystemError as exc:
            compiled = None
            entry.diagnostics.append(from_error(exc, spec, spec.source))
    seen = set()
    for w in caught:
        d = from_warning(w, spec, spec.source)
        if d not in seen:
            seen.add(d)
            entry.diagnostics.append(d)
    return compiled


def _spec_axes(compiled: Any) -> dict[str, tuple[str, ...]]:
    return {
        str(ax["name"]): tuple(str(c) for c in ax.get("coords", []))
        for ax in compiled.meta.get("axes", []) or []
    }


def _check_file(path: Path) -> list[_Entry]:
    from .._api.info import model_info

    entries, config = _entries(path)
    for entry in entries:
        compiled = _build(entry)
        if compiled is None:
            continue
        params = _logical_params(compiled)
        entry.info = {
            "kind": model_info(compiled).kind,
            "n_state": len(compiled.state_names),
            "n_params": sum(not p["observables_only"] for p in params),
            # the expanded scalar names (`param_names`): a 3x3 matrix counts 9
            "n_param_values": len(compiled.param_names),
            "parameters": params,
        }
        if config is not None and entry.spec is not None and entry.system_keys:
            entry.diagnostics.extend(
                config.check_system(
                    requests_of(compiled, entry.spec),
                    _spec_axes(compiled),
                    entry.system_keys,
                )
            )
    if config is not None:
        whole = _Entry(f"{path} (flepimop2 config)", str(path))
        whole.diagnostics.extend(config.check_sections())
        whole.info = {"kind": "flepimop2 config"}
        entries.append(whole)
    return entries


def _paths(patterns: Sequence[str]) -> list[tuple[str, Path | None]]:
    """Each argument as a file, a glob's matches (sorted), or `(pattern, None)`."""
    out: list[tuple[str, Path | None]] = []
    for pattern in patterns:
        if glob.has_magic(pattern) and not Path(pattern).exists():
            matches = sorted(glob.glob(pattern, recursive=True))
            out.extend((m, Path(m)) for m in matches) if matches else out.append(
                (pattern, None)
            )
        else:
            out.append((pattern, Path(pattern)))
    return out


def _failed(entry: _Entry, strict: bool) -> bool:
    levels = {d.level for d in entry.diagnostics}
    return "error" in levels or (strict and "warning" in levels)


def _param_text(p: dict[str, Any]) -> str:
    if not p["axes"]:
        return str(p["name"])
    shape = "×".join(map(str, p["shape"]))
    return f"{p['name']}[{', '.join(p['axes'])}] ({shape})"


def _ok_line(entry: _Entry) -> str:
    info = entry.info
    if info.get("kind") == "flepimop2 config":
        return (
            f"ok: {entry.label}: axes, parameters and engines as flepimop2 reads them"
        )
    params = info["parameters"]
    model = [_param_text(p) for p in params if not p["observables_only"]]
    observed = [_param_text(p) for p in params if p["observables_only"]]
    text = (
        f"ok: {entry.label}: {info['kind']} model, {info['n_state']} states, "
        f"{info['n_params']} parameters"
    )
    if model:
        text += ": " + ", ".join(model)
    if observed:
        text += "; observables also read: " + ", ".join(observed)
    return text


def _record(entry: _Entry, strict: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "entry": entry.label,
        "file": entry.file,
        "ok": not _failed(entry, strict),
        **entry.info,
        "diagnostics": [d.record() for d in entry.diagnostics],
    }
    error = next((d for d in entry.diagnostics if d.level == "error"), None)
    if error is not None:  # the first error, flat (as earlier versions printed it)
        record.update(
            error=error.category,
            message=error.message,
            path=error.path,
            token=error.token,
            location=None
            if error.line is None
            else f"{error.file}:{error.line}:{error.column}",
        )
    return record


def _validate(args: argparse.Namespace) -> int:
    entries: list[_Entry] = []
    for name, path in _paths(args.files):
        if path is None:
            exc = OSError(f"no file matches {name!r}")
            entries.append(
                _Entry(name, name, diagnostics=[from_error(exc, None, name)])
            )
            continue
        entries.extend(_check_file(path))
    if args.json:
        print(json.dumps([_record(e, args.strict) for e in entries], indent=2))
    else:
        for e in entries:
            for d in e.diagnostics:
                print(d.format(), file=sys.stderr)
            if not _failed(e, args.strict):
                print(_ok_line(e))
    return 1 if any(_failed(e, args.strict) for e in entries) else 0


def _each(args: argparse.Namespace, show: Callable[[SpecDict], str]) -> int:
    """Print `show(spec)` for each spec of the file; errors and warnings as diagnostics."""
    entries, _ = _entries(Path(args.file))
    status = 0
    for entry in entries:
        if len(entries) > 1:
            print(f"# {entry.label}")
        if entry.spec is not None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    print(show(entry.spec))
                except OpSystemError as exc:
                    entry.diagnostics.append(
                        from_error(exc, entry.spec, entry.spec.source)
                    )
            for w in caught:
                d = from_warning(w, entry.spec, entry.spec.source)
                if d not in entry.diagnostics:
                    entry.diagnostics.append(d)
        for d in entry.diagnostics:
            print(d.format(), file=sys.stderr)
        if _failed(entry, strict=False):
            status = 1
    return status


def _compiled(spec: SpecDict, backend: str | None = None) -> Any:
    from .._api.compiled import compile_spec

    return compile_spec(spec, backend=backend) if backend else compile_spec(spec)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="op-system",
        description="Validate, describe and render op_system model specs.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check specs (exit 1 if any is invalid)")
    v.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="specs, or flepimop2 configs with op_system systems (globs allowed)",
    )
    v.add_argument("--json", action="store_true", help="print the results as JSON")
    v.add_argument(
        "--strict", action="store_true", help="fail on warnings too (exit status 1)"
    )
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
