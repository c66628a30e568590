"""The documentation's examples are tests.

Pages: every `docs/*.md`, `README.md` and `flepimop2_plugin/README.md`.

* Every code fence of every Markdown file in the repository closes, with a
  closing line that is a closing fence (`docs/_ext/mdblocks.py` reads fences;
  Markdown renders a broken one without complaint, the paragraphs after it as
  code). The docs build reports the same (`docs/_ext/fence_check.py`, a hook:
  `mkdocs build --strict`, which `make test` runs, fails on a broken fence).
* Every ```python block of a page runs, in order, in one namespace per page, in
  a fresh interpreter (so a page sees no state from other pages or from this
  test session's JAX configuration, exactly as a reader running it), in an
  empty working directory. A page is self-contained: a later block may use what
  an earlier block of the same page defined, never what another page did.
* Every shell block (```bash, ```sh, ```console) names what exists: `make`
  targets of the Makefile, `pip install` extras of the pyproject they install,
  modules and files of the repository. `op-system` commands are run, after the
  page's Python blocks before them and in the same directory, and must exit as
  the line's comment says (`# exit 1: ...`; 0 when it says nothing).
* Every ```yaml block is loaded with `yaml.safe_load`; when it holds a spec
  (a mapping with `state`, or a flepimop2 config `system: [{module: op_system,
  spec: ...}]`), the spec is validated with `normalize_rhs` and compiled with
  `compile_rhs`.
* Every figure a page shows is in `docs/`, and is drawn by the page's own code
  (the run must write it) or by a script the page names.
* One Python version is stated, everywhere; pages speak of the public API only.

A ```yaml block preceded by the HTML comment `<!-- no-test -->` is skipped (a
fragment of a spec; the marker is visible in the page source); a Python or shell
block never is: a page's examples either run or are not on the page.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import op_system

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
from mdblocks import NO_TEST, Block, FenceError, extract_blocks, scan  # noqa: E402

PAGES = [
    *sorted(p.relative_to(ROOT).as_posix() for p in DOCS.glob("*.md")),
    "README.md",
    "flepimop2_plugin/README.md",
]
SHELL = {"bash", "sh", "shell", "console"}


def _text(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def _page_blocks(page: str) -> list[Block]:
    return scan(_text(page), page)[0]  # a broken fence fails test_fences_close


def _blocks(lang: str | set[str]) -> list[Block]:
    langs = {lang} if isinstance(lang, str) else lang
    return [b for page in PAGES for b in _page_blocks(page) if b.lang in langs]


# -- fences ----------------------------------------------------------------------------


def _markdown_files() -> list[str]:
    """Every Markdown file of the repository (not in hidden folders, build output or venvs)."""
    found: list[str] = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".") and d not in ("site", "output", "__pycache__")
        ]
        found += [
            (Path(folder) / f).relative_to(ROOT).as_posix()
            for f in files
            if f.endswith(".md")
        ]
    return sorted(found)


def test_fence_reader_reports_broken_fences() -> None:
    """A closing line with text after it, and a fence never closed, are both errors."""
    ok = "x\n\n```python\na = 1\n```\n\n~~~~\n```python\ninside\n```\n~~~~\n"
    blocks, problems = scan(ok, "ok.md")
    assert problems == []
    assert [(b.lang, b.code) for b in blocks] == [
        ("python", "a = 1\n"),
        ("", "```python\ninside\n```\n"),
    ]
    # the broken fence once in docs/spec-reference.md: text on the closing line
    runs_on = "```python\na = 1\n``` Text after the code.\n\n```python\nb = 2\n```\n"
    with pytest.raises(FenceError) as err:
        extract_blocks(runs_on, "t.md")
    assert err.value.problems == [
        "t.md:3: '``` Text after the code.' is not a closing fence (a closing "
        "fence has nothing after it), so the block opened at line 1 runs on",
        "t.md:5: '```python' is not a closing fence (a closing fence has nothing "
        "after it), so the block opened at line 1 runs on",
    ]
    with pytest.raises(
        FenceError, match=r"t\.md:2: the code fence '```' opened here is never closed"
    ):
        extract_blocks("text\n```\ncode\n", "t.md")
    with pytest.raises(FenceError, match=r"t\.md:5: the closing fence is indented 0"):
        extract_blocks("* item\n\n    ```python\n    a = 1\n```\n", "t.md")
    # a shorter run of the fence character inside a longer fence is content
    assert extract_blocks("````md\n```\n````\n", "t.md")[0].code == "```\n"


@pytest.mark.parametrize("path", _markdown_files())
def test_fences_close(path: str) -> None:
    problems = scan(_text(path), path)[1]
    assert not problems, "\n".join(problems)


def test_extract_blocks_honours_no_test_marker() -> None:
    text = "x\n\n<!-- no-test -->\n```python\nboom()\n```\n\n```python\nok = 1\n```\n"
    a, b = extract_blocks(text, "t.md")
    assert (a.skip, a.line, a.code) == (True, 4, "boom()\n")
    assert (b.skip, b.code) == (False, "ok = 1\n")


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(config),
            "--site-dir",
            str(site),
        ],
        capture_output=True,
        text=True,
        cwd=config.parent,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
        timeout=300,
        check=False,
    )


def test_mkdocs_strict_build_fails_on_a_broken_fence(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    (tmp_path / "docs").mkdir()
    hook = DOCS / "_ext" / "fence_check.py"
    (tmp_path / "mkdocs.yml").write_text(f"site_name: t\nhooks:\n  - {hook}\n")
    page = tmp_path / "docs" / "index.md"
    page.write_text(
        "# t\n\n```python\na = 1\n``` A paragraph.\n\n```python\nb = 2\n```\n"
    )
    broken = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert broken.returncode != 0
    assert "index.md:5: '``` A paragraph.' is not a closing fence" in broken.stderr
    page.write_text("# t\n\n```python\na = 1\n```\n\nA paragraph.\n")
    assert _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site").returncode == 0


# -- shell -----------------------------------------------------------------------------


def _commands(block: Block) -> list[tuple[list[str], str]]:
    """(argv, comment) for each command of a shell block; `a && b` is two commands."""
    out: list[tuple[list[str], str]] = []
    for raw in block.code.splitlines():
        line = raw.strip()
        if block.lang == "console":
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        m = re.search(r"(?:^|\s)#(.*)$", line)
        comment = m.group(1).strip() if m else ""
        words = shlex.split(line, comments=True)
        argv: list[str] = []
        for w in [*words, "&&"]:
            if w != "&&":
                argv.append(w)
                continue
            while argv and re.match(r"^[A-Za-z_]\w*=", argv[0]):
                argv.pop(0)  # VAR=value before a command
            if argv:
                out.append((argv, comment))
            argv = []
    return out


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w.-]+)\s*:(?!=)", text, re.M))


def _is_python(word: str) -> bool:
    return re.fullmatch(r"(?:\S*/)?python(?:3(?:\.\d+)?)?", word) is not None


def _looks_like_path(word: str) -> bool:
    return (
        not word.startswith(("-", "/", "~", "$"))
        and "://" not in word
        and (
            "/" in word
            or re.search(r"\.(?:py|ya?ml|json|md|csv|toml)$", word) is not None
        )
    )


def _pip_problems(args: list[str], cwd: Path) -> list[str]:
    problems: list[str] = []
    pins = dict(
        re.findall(
            r'"?([\w-]+)==([\w.]+)', (ROOT / "Makefile").read_text(encoding="utf-8")
        )
    )
    for arg in (a for a in args[1:] if not a.startswith("-")):
        local = re.fullmatch(r"(\.[^\[]*)(?:\[(.*)\])?", arg)
        if local:
            project = (cwd / local.group(1)).resolve()
            if not (project / "pyproject.toml").is_file():
                problems.append(
                    f"pip install {arg}: no pyproject.toml in {local.group(1)}"
                )
                continue
            meta = tomllib.loads(
                (project / "pyproject.toml").read_text(encoding="utf-8")
            )
            extras = set(meta["project"].get("optional-dependencies", {}))
            for extra in filter(None, (local.group(2) or "").split(",")):
                if extra.strip() not in extras:
                    problems.append(
                        f"pip install {arg}: no extra {extra!r} (has {sorted(extras)})"
                    )
        pinned = re.fullmatch(r"([\w-]+)==([\w.]+)", arg)
        if (
            pinned
            and pinned.group(1) in pins
            and pins[pinned.group(1)] != pinned.group(2)
        ):
            problems.append(
                f"pip install {arg}: the Makefile installs {pinned.group(1)}=={pins[pinned.group(1)]}"
            )
    return problems


def _python_problems(args: list[str], cwd: Path) -> list[str]:
    if args[:1] == ["-m"] and len(args) > 1:
        module, rest = args[1], args[2:]
        known = {"venv", "pip", "pytest", "op_system"}
        as_path = cwd / module.replace(".", "/")
        if module not in known and not (
            as_path.with_suffix(".py").is_file() or (as_path / "__main__.py").is_file()
        ):
            return [f"python -m {module}: no such module in the repository"]
    else:
        rest = args
    return [
        f"{w}: no such file"
        for w in rest
        if _looks_like_path(w) and not (cwd / w).exists()
    ]


def shell_problems(
    block: Block,
) -> tuple[list[str], list[tuple[list[str], int, str | None]]]:
    """What a shell block names that does not exist, and the `op-system` commands to
    run: argv, expected exit status, and the folder to run in (None: the page's own
    folder, where its Python blocks write files; after a `cd`, that folder of the
    repository)."""
    problems: list[str] = []
    to_run: list[tuple[list[str], int, str | None]] = []
    cwd = ROOT  # commands are written to run from the repository root
    for argv, comment in _commands(block):
        cmd, args = argv[0], argv[1:]
        if cmd == "cd":
            cwd = cwd / args[0]
            if not cwd.is_dir():
                problems.append(f"cd {args[0]}: no such directory")
        elif cmd == "export":
            pass
        elif cmd == "make":
            problems += [
                f"make {t}: no such target" for t in args if t not in _make_targets()
            ]
        elif cmd.endswith("pip") and args[:1] == ["install"]:
            problems += _pip_problems(args, cwd)
        elif (
            _is_python(cmd) and args[:2] == ["-m", "op_system"]
        ) or cmd == "op-system":
            m = re.search(r"\bexit (\d+)", comment)
            to_run.append(
                (
                    ["op-system", *(args[2:] if _is_python(cmd) else args)],
                    int(m.group(1)) if m else 0,
                    None if cwd == ROOT else str(cwd),
                )
            )
        elif _is_python(cmd):
            problems += _python_problems(args, cwd)
        elif cmd == "flepimop2":
            problems += [
                f"{w}: no such file"
                for w in args
                if _looks_like_path(w) and not (cwd / w).exists()
            ]
        else:
            problems.append(f"{cmd}: the docs test has no rule for this command")
    return [f"{block.where}: {p}" for p in problems], to_run


def test_shell_check_catches_what_does_not_exist() -> None:
    block = Block(
        "t.md",
        "bash",
        1,
        'make demo && make nosuch\npip install ".[jax,nope]" flepimop2==9.9\n'
        "cd flepimop2_plugin/examples\nflepimop2 simulate missing.yaml\n"
        "python -m no.such.module\nop-system validate x.yaml   # exit 1: a typo\n",
        False,
    )
    problems, to_run = shell_problems(block)
    assert problems == [
        "t.md:1: make nosuch: no such target",
        "t.md:1: pip install .[jax,nope]: no extra 'nope' (has "
        f"{sorted(tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['optional-dependencies'])})",
        "t.md:1: pip install flepimop2==9.9: the Makefile installs flepimop2==0.3.0",
        "t.md:1: missing.yaml: no such file",
        "t.md:1: python -m no.such.module: no such module in the repository",
    ]
    assert to_run == [
        (
            ["op-system", "validate", "x.yaml"],
            1,
            str(ROOT / "flepimop2_plugin/examples"),
        )
    ]


_SHELL = [b for b in _blocks(SHELL) if not b.skip]


@pytest.mark.parametrize("block", _SHELL, ids=[b.where for b in _SHELL])
def test_shell_examples_name_what_exists(block: Block) -> None:
    problems = shell_problems(block)[0]
    assert not problems, "\n".join(problems)


# -- python, and the commands run with it -----------------------------------------------

_RUNNER = r"""
import json, subprocess, sys, traceback
steps = json.load(sys.stdin)
ns = {"__name__": "__main__"}
for s in steps:
    if s["kind"] == "python":
        try:
            exec(compile(s["code"], s["where"], "exec"), ns)
        except BaseException:
            print(f"block at {s['where']} raised:", file=sys.stderr)
            traceback.print_exc()
            sys.exit(1)
        continue
    argv = [sys.executable, "-m", "op_system", *s["argv"][1:]]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=s["cwd"])
    if proc.returncode != s["expect"] or "Traceback" in proc.stderr:
        print(f"command at {s['where']}: {' '.join(s['argv'])} exited {proc.returncode}, "
              f"the page says {s['expect']}\n{proc.stdout}{proc.stderr}", file=sys.stderr)
        sys.exit(1)
"""


def _steps(page: str) -> list[dict[str, object]]:
    steps: list[dict[str, object]] = []
    for b in _page_blocks(page):
        if b.skip:
            continue
        if b.lang == "python":
            steps.append({"kind": "python", "code": b.code, "where": b.where})
        elif b.lang in SHELL:
            for argv, expect, cwd in shell_problems(b)[1]:
                steps.append(
                    {
                        "kind": "command",
                        "argv": argv,
                        "expect": expect,
                        "cwd": cwd,
                        "where": b.where,
                    }
                )
    return steps


def _images(page: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+\.(?:png|svg|jpe?g))\)", _text(page))


def _runnable_pages() -> list[str]:
    return [p for p in PAGES if _steps(p)]


def test_every_python_and_shell_block_runs() -> None:
    """No Python or shell example is exempt: a snippet that cannot run misleads."""
    skipped = [b.where for b in _blocks({"python", *SHELL}) if b.skip]
    assert not skipped, f"marked {NO_TEST}: {skipped}"


def test_docs_have_examples() -> None:
    assert len(_runnable_pages()) >= 8
    assert {"README.md", "docs/getting-started.md", "docs/fitting.md"} <= set(
        _runnable_pages()
    )
    assert len(_blocks("yaml")) >= 5


@pytest.mark.parametrize("page", _runnable_pages())
def test_python_examples_run(page: str, tmp_path: Path) -> None:
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg", PYTHONHASHSEED="0")
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(_steps(page)),
        capture_output=True,
        text=True,
        cwd=tmp_path,  # examples that write files write them here
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{page}: an example failed\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    )
    code = "".join(str(s.get("code", "")) for s in _steps(page))
    for image in _images(page):
        if image in code:  # drawn by the page itself: the run must have drawn it
            assert (tmp_path / image).is_file(), (
                f"{page}: the code names {image} but did not write it"
            )


# -- figures, versions, public API -------------------------------------------------------


@pytest.mark.parametrize("page", [p for p in PAGES if _images(p)])
def test_figures_exist_and_have_a_producer(page: str) -> None:
    """Every figure is committed and drawn by the page's code or by a script it names."""
    text = _text(page)
    code = "".join(b.code for b in _page_blocks(page) if b.lang == "python")
    scripts = [
        ROOT / s
        for s in re.findall(r"`(?:python )?((?:examples|benchmarks)/[\w/]+\.py)", text)
    ]
    if re.search(r"python -m benchmarks|make bench", text):
        scripts += sorted((ROOT / "benchmarks").glob("*.py"))
    for image in _images(page):
        assert (ROOT / Path(page).parent / image).is_file(), (
            f"{page} shows {image}, which is not committed"
        )
        producers = [
            code,
            *(s.read_text(encoding="utf-8") for s in scripts if s.is_file()),
        ]
        assert any(image in p for p in producers), (
            f"{page}: nothing the page shows or names draws {image}"
        )


@pytest.mark.parametrize("page", ["docs/getting-started.md", "docs/using-jax.md"])
def test_page_draws_its_curves(page: str) -> None:
    """The first pages a reader runs end in a picture, drawn by their own code."""
    code = "".join(b.code for b in _page_blocks(page) if b.lang == "python")
    assert [image for image in _images(page) if image in code], f"{page} draws no curve"


def _stated_python_versions() -> dict[str, set[str]]:
    """Every statement of the minimum Python version, by where it is made."""
    sources = {
        "pyproject.toml": [
            r'requires-python = ">=(3\.\d+)"',
            r'python_version = "(3\.\d+)"',  # mypy
            r'target-version = "py(3)(\d+)"',  # ruff
        ],
        "flepimop2_plugin/pyproject.toml": [r'requires-python = ">=(3\.\d+)"'],
        "Makefile": [
            r"sys\.version_info < \((3), (\d+)\)",
            r"--python-version (3\.\d+)",
            r"Python >= (3\.\d+)",
        ],
    }
    found: dict[str, set[str]] = {}
    for path, patterns in sources.items():
        text = (ROOT / path).read_text(encoding="utf-8")
        for pattern in patterns:
            hits = {
                ".".join(m) if isinstance(m, tuple) else m
                for m in re.findall(pattern, text)
            }
            assert hits, f"{path}: no longer states the Python version as {pattern!r}"
            found[f"{path}: {pattern}"] = hits
    for path in _markdown_files():
        hits = set(re.findall(r"Python\s*(?:≥|>=)\s*(3\.\d+)", _text(path)))
        if hits:
            found[path] = hits
    return found


def test_one_python_version_is_stated() -> None:
    found = _stated_python_versions()
    versions = set().union(*found.values())
    assert len(versions) == 1, f"Python versions stated: {found}"
    assert sys.version_info >= tuple(int(v) for v in versions.pop().split("."))


@pytest.mark.parametrize("page", PAGES)
def test_pages_speak_of_the_public_api(page: str) -> None:
    private = sorted(set(re.findall(r"op_system\._\w+", _text(page))))
    assert not private, f"{page} names private modules: {private}"


# -- yaml ------------------------------------------------------------------------------


def specs_in(doc: object) -> list[dict]:
    """The op_system specs a YAML document holds (bare, or in a flepimop2 `system:` list)."""
    if not isinstance(doc, dict):
        return []
    if "state" in doc:
        return [doc]
    found: list[dict] = []
    systems = doc.get("system")
    if isinstance(systems, dict):
        systems = [systems]
    if isinstance(systems, list):
        for entry in systems:
            if (
                isinstance(entry, dict)
                and entry.get("module") == "op_system"
                and isinstance(entry.get("spec"), dict)
            ):
                found.append(entry["spec"])
    if isinstance(doc.get("spec"), dict) and "state" in doc["spec"]:
        found.append(doc["spec"])
    return found


_YAML = [b for b in _blocks("yaml") if not b.skip]


@pytest.mark.parametrize("block", _YAML, ids=[b.where for b in _YAML])
def test_yaml_examples_are_valid(block: Block) -> None:
    doc = yaml.safe_load(block.code)
    for spec in specs_in(doc):
        rhs = op_system.normalize_rhs(spec)
        op_system.compile_rhs(rhs)
