"""Harvest the specs op-system 0.9.0 hands to its own compiler; record 0.9.0's outputs.

Run with the interpreter of a venv that has the *real* op-system 0.9.0 (never
this project's package); see README.md next to this file::

    python3.11 -m venv /work/venv09
    /work/venv09/bin/pip install op-system==0.9.0 flepimop2-op-system==0.9.0 \
        pytest pyyaml jax
    /work/venv09/bin/pip install torch   # optional: the torch-only tests
    /work/venv09/bin/python tests/compat09/harvest.py [--sdist op_system-0.9.0.tar.gz]

Without ``--sdist`` the sdist is fetched with ``pip download op-system==0.9.0
--no-binary :all: --no-deps``. It is unpacked into a temporary folder and the
specs are collected from it by running upstream's own code with the compiler's
entry points wrapped (``_capture.py``):

* every ``*.md`` file: ``yaml`` fences holding a spec (a mapping with ``kind``
  and one of ``state``/``equations``/``transitions``, possibly under ``spec:``)
  are taken as written; ``python`` fences are executed in order, one namespace
  per file, from the sdist root (``--8<--`` include fences are skipped: the
  included example runs on its own);
* ``examples/*.yaml`` as written, ``examples/*.py`` run as ``__main__``
  (``--check`` for the figure scripts, so nothing is plotted);
* the doctests of every ``op_system`` module and of the flepimop2 provider;
* upstream's test suites, ``tests/`` and ``flepimop2-op_system/tests/``, each
  run by pytest with ``-p _capture``.

Every spec handed to ``compile_spec``, ``normalize_rhs``,
``normalize_expr_rhs``, ``normalize_transitions_rhs`` or ``validate_spec`` is
recorded (outermost call only). Specs are de-duplicated on their exact JSON
text (key order kept: it is part of a spec). A spec JSON cannot hold as it is
(an array, a non-string key, ...) is skipped and counted.

Each unique spec is then compiled afresh by 0.9.0's ``compile_spec`` in this
process (no upstream code has run here) and, when accepted, evaluated once at a
seeded random point: ``numpy.random.default_rng(seed)`` with ``seed`` the first
8 hex digits of the SHA-256 of the spec's JSON; draws in this order: ``t``
(uniform over the time axis' coordinates when the spec has one, else over
[0, 10]), ``y ~ U[0.5, 2]`` per state in ``state_names`` order, then one array
``~ U[0.1, 0.9]`` per required parameter in sorted name order (mapped into a
declared ``bounded`` support), then the same for observable-only parameters.
The required parameters are 0.9.0's own notion of them (as its gauge analysis
collects them): ``param_names`` plus the ``shaped_params`` bases, less its
synthesized constants; shapes from the axes sizes, with the time axis included
for time-varying tables.

Writes ``refs.json`` (``--out``) next to this file, one spec per line; floats are written by
``json`` (shortest repr, exact round trip); a non-finite value is written as
``null`` with ``"nonfinite": true``. The run is deterministic: it re-executes
itself with ``PYTHONHASHSEED=0``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import doctest
import hashlib
import importlib
import io
import json
import os
import pkgutil
import platform
import re
import runpy
import signal
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

HERE = Path(__file__).resolve().parent
EXPECTED_VERSION = "0.9.0"
TIMEOUT_S = 120
MESSAGE_CAP = 2000
MAX_SOURCES = 12


# --- the sdist ----------------------------------------------------------------


def obtain_sdist(arg: str | None, work: Path) -> tuple[Path, str]:
    """Unpack the 0.9.0 sdist into `work`; return its root and the archive's SHA-256."""
    if arg is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                f"op-system=={EXPECTED_VERSION}",
                "--no-binary",
                ":all:",
                "--no-deps",
                "-d",
                str(work),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        archive = next(work.glob("op_system-*.tar.gz"))
    else:
        archive = Path(arg)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    with tarfile.open(archive) as tar:
        tar.extractall(work / "sdist", filter="data")
    (root,) = (work / "sdist").iterdir()
    return root, digest


# --- collection: in-process part (runs in a child process) ----------------------


_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)\n```", re.DOTALL | re.MULTILINE)


def _looks_like_spec(value: object) -> bool:
    return (
        isinstance(value, dict)
        and "kind" in value
        and any(k in value for k in ("state", "equations", "transitions"))
    )


def _yaml_spec(text: str) -> object | None:
    import yaml  # the venv's PyYAML (installed with the provider)

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(doc, dict) and _looks_like_spec(doc.get("spec")):
        spec: object = doc["spec"]
        return spec
    return doc if _looks_like_spec(doc) else None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        yield


def _record_written(source: str, spec: object) -> None:
    """A spec written out as data (a YAML fence or file), not passed by code."""
    import _capture

    record: dict[str, Any] = {
        "source": source,
        "entry": "yaml",
        "outcome": "n/a",
        "kwargs": {},
    }
    try:
        record["spec"] = _capture.to_json(spec)
    except _capture.Unserialisable as exc:
        record["unserialisable"] = str(exc)
    with open(os.environ["OPSYS09_CAPTURE"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def collect_in_process(root: Path, log: dict[str, Any]) -> None:
    """Markdown fences, examples and doctests, with the entry points wrapped."""
    import _capture

    _capture.install()
    os.chdir(root)
    sys.path.insert(0, str(root / "examples"))
    sys.path.insert(0, str(root))

    for md in sorted(root.rglob("*.md")):
        rel = md.relative_to(root).as_posix()
        namespace: dict[str, Any] = {"__name__": "__docs__"}
        for k, match in enumerate(_FENCE.finditer(md.read_text(encoding="utf-8"))):
            lang, body = match.group(1).strip(), match.group(2)
            if lang == "yaml":
                spec = _yaml_spec(body)
                if spec is None:
                    log["yaml_fences_not_specs"].append(f"{rel}#{k}")
                else:
                    _record_written(f"{rel}#yaml-{k}", spec)
            elif lang in {"python", "{.python}"}:
                if body.lstrip().startswith("--8<--"):
                    log["include_fences_skipped"].append(f"{rel}#{k}")
                    continue
                _capture.SOURCE = f"{rel}#python-{k}"
                try:
                    with _quiet():
                        exec(compile(body, f"{rel}#python-{k}", "exec"), namespace)
                except BaseException as exc:
                    log["code_errors"].append(
                        f"{rel}#python-{k}: {type(exc).__name__}: {exc}"[:300]
                    )

    for yml in sorted((root / "examples").glob("*.y*ml")):
        spec = _yaml_spec(yml.read_text(encoding="utf-8"))
        rel = yml.relative_to(root).as_posix()
        if spec is None:
            log["yaml_fences_not_specs"].append(rel)
        else:
            _record_written(rel, spec)

    for script in sorted((root / "examples").glob("*.py")):
        rel = script.relative_to(root).as_posix()
        _capture.SOURCE = rel
        argv = (
            [str(script), "--check"]
            if script.name.startswith("illustrate_")
            else [str(script)]
        )
        saved = sys.argv
        sys.argv = argv
        try:
            with _quiet():
                runpy.run_path(str(script), run_name="__main__")
        except BaseException as exc:
            log["code_errors"].append(f"{rel}: {type(exc).__name__}: {exc}"[:300])
        finally:
            sys.argv = saved

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    modules = ["op_system"]
    import op_system

    modules += [m.name for m in pkgutil.walk_packages(op_system.__path__, "op_system.")]
    modules += ["flepimop2.system.op_system", "flepimop2.parameter.sparse_table"]
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        for test in finder.find(module, name):
            if not test.examples:
                continue
            _capture.SOURCE = f"doctest:{test.name}"
            with _quiet():
                result = runner.run(test, out=lambda _s: None, clear_globs=True)
            if result.failed:
                log["code_errors"].append(
                    f"doctest:{test.name}: {result.failed} failed"
                )


def run_pytest(root: Path, folder: str, capture: Path) -> str:
    """Run one upstream suite with the capture plugin; return pytest's summary line."""
    cwd = root if folder == "tests" else root / "flepimop2-op_system"
    env = dict(os.environ, OPSYS09_CAPTURE=str(capture), PYTHONPATH=str(HERE))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "_capture",
            "-p",
            "no:cacheprovider",
            "tests",
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    summary = [
        line
        for line in proc.stdout.splitlines()
        if re.search(r"\b(passed|failed|error)", line)
    ]
    return (
        re.sub(r" in [0-9.]+s", "", summary[-1]).strip("= ")
        if summary
        else f"exit {proc.returncode}: {proc.stderr[-300:]}"
    )


# --- evaluation -----------------------------------------------------------------


class _Timeout(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise _Timeout


def _plain(value: Any) -> tuple[Any, bool]:
    """An array as nested lists of floats; non-finite entries become None."""
    import numpy as np

    arr = np.asarray(value, dtype=np.float64)
    finite = bool(np.all(np.isfinite(arr)))
    if finite:
        return arr.tolist(), False
    obj = arr.astype(object)
    obj[~np.isfinite(arr)] = None
    return obj.tolist(), True


def _draw(rng: Any, shape: tuple[int, ...], support: Any) -> Any:
    value = rng.uniform(0.1, 0.9, size=shape)
    if support is not None and getattr(support, "kind", None) == "bounded":
        value = support.lower + value * (support.upper - support.lower)
    return float(value) if shape == () else value


def _error(exc: BaseException) -> dict[str, str]:
    return {
        "class": type(exc).__name__,
        "module": type(exc).__module__,
        "message": str(exc)[:MESSAGE_CAP],
    }


def evaluate(spec: Any, seed: int) -> dict[str, Any]:
    """Compile `spec` with 0.9.0 and, if accepted, evaluate it once at a seeded point."""
    import numpy as np

    from op_system import compile_spec, normalize_rhs

    out: dict[str, Any] = {}
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
    try:
        compiled = compile_spec(copy.deepcopy(spec))
    except _Timeout:
        return {
            "accepted": None,
            "error": {
                "class": "Timeout",
                "module": "",
                "message": f"compile over {TIMEOUT_S} s",
            },
        }
    except Exception as exc:
        error = _error(exc)
        try:  # which stage rejects: normalization, or compilation of a normalized spec
            normalize_rhs(copy.deepcopy(spec))
            error["stage"] = "compile"
        except Exception:
            error["stage"] = "normalize"
        return {"accepted": False, "error": error}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    out["accepted"] = True
    rhs: Any = compiled._rhs  # 0.9.0 keeps shaped_params only on the normalized spec
    meta = rhs.meta
    axes = {ax["name"]: ax for ax in meta.get("axes", ())}
    sizes = {name: len(ax["coords"]) for name, ax in axes.items()}
    synth: set[str] = set(meta.get("op_system_synth_constants") or {})
    shaped: dict[str, tuple[str, ...]] = dict(rhs.shaped_params)
    timevar: dict[str, tuple[str, ...]] = dict(rhs.time_varying_params)
    names = sorted((set(compiled.param_names) | set(shaped) | set(timevar)) - synth)
    # a time-varying table is passed whole: its axes include the time axis
    axes_of = {n: timevar[n] if n in timevar else shaped.get(n, ()) for n in names}
    shapes = {n: tuple(sizes[a] for a in axes_of[n]) for n in names}
    out["state_names"] = list(compiled.state_names)
    out["param_names"] = list(compiled.param_names)
    out["shaped_params"] = {n: list(a) for n, a in rhs.shaped_params if n not in synth}
    out["time_varying_params"] = {n: list(a) for n, a in rhs.time_varying_params}
    out["template_shapes"] = (
        None
        if compiled.template_shapes is None
        else {k: list(v) for k, v in compiled.template_shapes.items()}
    )
    out["required_params"] = {n: list(s) for n, s in shapes.items()}

    rng = np.random.default_rng(seed)
    time_axis = axes.get(meta.get("time_axis", "time"))
    lo, hi = 0.0, 10.0
    if time_axis is not None:
        coords = [float(c) for c in time_axis["coords"]]
        lo, hi = min(coords), max(coords)
    t = float(rng.uniform(lo, hi)) if hi > lo else lo
    y = rng.uniform(0.5, 2.0, size=len(compiled.state_names))
    params = {
        n: _draw(rng, shapes[n], getattr(compiled.param_meta.get(n), "support", None))
        for n in names
    }
    inputs: dict[str, Any] = {
        "seed": seed,
        "t": t,
        "y": y.tolist(),
        "params": {n: _plain(v)[0] for n, v in params.items()},
    }
    out["inputs"] = inputs
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
    try:
        dydt, nonfinite = _plain(compiled.eval_fn(t, y.copy(), **params))
        out["dydt"] = dydt
        if nonfinite:
            out["nonfinite"] = True
    except _Timeout:
        out["eval_error"] = {
            "class": "Timeout",
            "module": "",
            "message": f"eval over {TIMEOUT_S} s",
        }
    except Exception as exc:
        out["eval_error"] = _error(exc)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)

    if compiled.observables:
        obs_out: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for obs in compiled.observables.values():
            for pname, pshape in obs.parameter_shapes:
                if pname not in params and pname not in extra:
                    support = getattr(compiled.param_meta.get(pname), "support", None)
                    extra[pname] = _draw(rng, tuple(pshape), support)
        inputs["observable_params"] = {n: _plain(v)[0] for n, v in extra.items()}
        for name, obs in compiled.observables.items():
            needed = {p for p, _ in obs.parameter_shapes}
            kwargs = {p: v for p, v in {**params, **extra}.items() if p in needed}
            record: dict[str, Any] = {
                "axes": list(obs.definition.axes),
                "reduction": None
                if obs.definition.reduction is None
                else {
                    "kind": obs.definition.reduction.kind,
                    "axes": list(obs.definition.reduction.axes),
                },
                "output_shape": list(obs.output_shape),
                "parameter_shapes": {p: list(s) for p, s in obs.parameter_shapes},
            }
            try:
                value, nonfinite = _plain(obs.eval_fn(t, y.copy(), **kwargs))
                record["value"] = value
                if nonfinite:
                    record["nonfinite"] = True
            except Exception as exc:
                record["eval_error"] = _error(exc)
            obs_out[name] = record
        out["observables"] = obs_out
    return out


# --- driver ----------------------------------------------------------------------


def _read_records(path: Path, prefix: str = "") -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        record["source"] = prefix + record["source"]
        records.append(record)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sdist", help="op_system-0.9.0.tar.gz (default: pip download it)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "refs.json")
    parser.add_argument("--collect-in-process", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.collect_in_process:  # the child process of step 1
        log: dict[str, Any] = {
            "yaml_fences_not_specs": [],
            "include_fences_skipped": [],
            "code_errors": [],
        }
        collect_in_process(Path(args.collect_in_process), log)
        Path(os.environ["OPSYS09_LOG"]).write_text(json.dumps(log), encoding="utf-8")
        return

    import numpy as np

    import op_system

    if op_system.__version__ != EXPECTED_VERSION:
        raise SystemExit(
            f"needs op-system {EXPECTED_VERSION}, this interpreter has {op_system.__version__}"
        )

    with tempfile.TemporaryDirectory(prefix="compat09-") as tmp:
        work = Path(tmp)
        root, sdist_sha = obtain_sdist(args.sdist, work)
        docs_cap, docs_log = work / "docs.jsonl", work / "docs-log.json"
        env = dict(
            os.environ,
            OPSYS09_CAPTURE=str(docs_cap),
            OPSYS09_LOG=str(docs_log),
            PYTHONPATH=str(HERE),
        )
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--collect-in-process",
                str(root),
            ],
            env=env,
            check=True,
            cwd=root,
        )
        log = json.loads(docs_log.read_text(encoding="utf-8"))
        records = _read_records(docs_cap)
        suites = {}
        for folder, prefix in (
            ("tests", ""),
            ("flepimop2-op_system/tests", "flepimop2-op_system/"),
        ):
            cap = work / f"{folder.replace('/', '_')}.jsonl"
            suites[folder] = run_pytest(
                root, "tests" if folder == "tests" else "provider", cap
            )
            records += _read_records(cap, prefix)
        print("pytest:", suites, file=sys.stderr)

    # number occurrences per source, then de-duplicate on exact JSON text
    per_source: Counter[str] = Counter()
    unique: dict[str, dict[str, Any]] = {}
    unserialisable: list[dict[str, str]] = []
    for record in records:
        k = per_source[record["source"]]
        per_source[record["source"]] += 1
        rid = f"{record['source']}#{k}"
        if "spec" not in record:
            unserialisable.append(
                {
                    "id": rid,
                    "entry": record["entry"],
                    "reason": record["unserialisable"],
                }
            )
            continue
        text = json.dumps(record["spec"])
        entry = unique.get(text)
        if entry is None:
            entry = unique[text] = {
                "id": rid,
                "sources": [],
                "n_sources": 0,
                "entries": [],
                "context_outcomes": [],
                "kwargs": [],
                "spec": record["spec"],
            }
        entry["n_sources"] += 1
        if len(entry["sources"]) < MAX_SOURCES and rid != entry["id"]:
            entry["sources"].append(rid)
        for key, value in (
            ("entries", record["entry"]),
            ("context_outcomes", record["outcome"]),
        ):
            if value not in entry[key]:
                entry[key].append(value)
        if record["kwargs"] and record["kwargs"] not in entry["kwargs"]:
            entry["kwargs"].append(record["kwargs"])

    specs = []
    signal.signal(signal.SIGALRM, _alarm)
    for i, (text, entry) in enumerate(unique.items()):
        seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
        if not entry["kwargs"]:
            del entry["kwargs"]
        entry.update(evaluate(entry["spec"], seed))
        specs.append(entry)
        if i % 100 == 0:
            print(f"evaluated {i}/{len(unique)}", file=sys.stderr)

    counts = {
        "records": len(records),
        "unserialisable": len(unserialisable),
        "unique_specs": len(specs),
        "accepted": sum(1 for s in specs if s["accepted"] is True),
        "rejected": sum(1 for s in specs if s["accepted"] is False),
        "timeouts": sum(1 for s in specs if s["accepted"] is None),
        "evaluated": sum(1 for s in specs if "dydt" in s),
        "eval_errors": sum(1 for s in specs if "eval_error" in s),
    }
    out = {
        "generator": f"op-system=={EXPECTED_VERSION}",
        "script": "tests/compat09/harvest.py",
        "sdist_sha256": sdist_sha,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "counts": counts,
        "pytest": suites,
        "collection_log": log,
        "unserialisable": unserialisable,
        "specs": specs,
    }
    # one spec per line, so that a re-recording diffs line by line
    head = json.dumps({k: v for k, v in out.items() if k != "specs"}, indent=1)
    rows = ",\n".join(json.dumps(s, separators=(",", ":")) for s in specs)
    args.out.write_text(f'{head[:-2]},\n "specs": [\n{rows}\n]}}\n', encoding="utf-8")
    print(json.dumps(counts), file=sys.stderr)


if __name__ == "__main__":
    main()
