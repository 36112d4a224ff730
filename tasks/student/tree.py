"""The student repository's files, made in memory from the one source.

Sources get stubs in place of their solution regions, test files lose their hidden
regions, the build system and the manifest are copied as they are, and a README and a
release record (`.student/release.json`: each module's shipped digest and stub lines)
are written. Each shipped file keeps a map from its lines back to the instructor's,
so that a proof that fails can name the line the instructor edits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core import layout
from tasks.core.errors import BuildError, SourceError
from tasks.core.places import start
from tasks.model.manifest import MANIFEST, Manifest
from tasks.steps.regions import Region, solution_regions, strip_hidden, stub_source
from tasks.steps.sources import decode, scan

# what a student repository holds besides the module sources (the build system's own tests stay home)
COPIED = ("dodo.py", "pyproject.toml", MANIFEST, "api")
BUILD_SYSTEM = "tasks"
TESTS = "tests"
NOT_SHIPPED = ("tests/tasks",)
SCHEMA = 1


@dataclass
class Shipped:
    """One file of the student tree: its bytes and, per line, the instructor file and line it came from."""

    data: bytes
    origin: str | None = None  # the instructor file (None: written for the student)
    lines: list[int] = field(default_factory=list)  # per shipped line: origin line (0 = made here)


@dataclass
class ModuleRegions:
    name: str
    source: str
    regions: list[Region]
    stubs: list[str]


@dataclass
class Tree:
    files: dict[str, Shipped]
    modules: dict[str, ModuleRegions]
    hidden: dict[str, int]  # test file -> hidden tests removed
    record: dict[str, Any]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _walk(root: Path, top: str) -> list[str]:
    base = root / top
    if base.is_file():
        return [top]
    if not base.is_dir():
        return []
    found = []
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc") \
                and not any(rel == n or rel.startswith(n + "/") for n in NOT_SHIPPED):
            found.append(rel)
    return found


def _as_is(root: Path, rel: str) -> Shipped:
    data = (root / rel).read_bytes()
    return Shipped(data, rel, list(range(1, data.count(b"\n") + 2)))


def module_regions(root: Path, name: str, source: str) -> tuple[str, ModuleRegions]:
    """A source's text and its validated solution regions."""
    text = decode((root / source).read_bytes(), source)
    if source.endswith(".ipynb"):
        msg = (f"{start(source)}: the student edition stubs percent (.py) sources only; make the notebook a '.py' "
               f"source ('jupytext --to py:percent {source}') and list that in modules.yaml: the build pairs it "
               "with a notebook again")
        raise SourceError(msg)
    regions = solution_regions(scan(text, source), source)
    return text, ModuleRegions(name, source, regions, [])


def build_tree(root: Path, manifest: Manifest, version: str) -> Tree:
    """Every file of the student repository, with the stubs and the record."""
    files: dict[str, Shipped] = {}
    modules: dict[str, ModuleRegions] = {}
    problems: list[str] = []
    for m in manifest.modules:
        try:
            text, mr = module_regions(root, m.name, m.source)
        except BuildError as exc:
            problems.append(str(exc))
            continue
        student, stubs, origin = stub_source(text, mr.regions, m.name, m.source)
        mr.stubs = stubs
        modules[m.name] = mr
        # a stub line stands for its region: point it at the BEGIN marker
        begins = iter(r.begin for r in mr.regions)
        files[m.source] = Shipped(student.encode("utf-8"), m.source, [n or next(begins) for n in origin])
    hidden: dict[str, int] = {}
    sources = {m.source for m in manifest.modules}
    for rel in _walk(root, TESTS):
        if rel.endswith(".py"):
            try:
                text, origin, count = strip_hidden(decode((root / rel).read_bytes(), rel), rel)
            except BuildError as exc:
                problems.append(str(exc))
                continue
            files[rel] = Shipped(text.encode("utf-8"), rel, origin)
            if count:
                hidden[rel] = count
        else:
            files[rel] = _as_is(root, rel)
    for top in COPIED:
        for rel in _walk(root, top):
            files[rel] = _as_is(root, rel)
    system = Path(__file__).resolve().parents[2]  # the build system that runs: the one the student gets
    for rel in _walk(system, BUILD_SYSTEM):
        files[rel] = _as_is(system, rel)
    for m in manifest.modules:  # other files beside a source (data, images) travel with it
        folder = Path(m.source).parent.as_posix()
        if folder not in (".", ""):
            for rel in _walk(root, folder):
                if rel not in sources and not rel.endswith(".ipynb") and not _build_ignore(root, rel):
                    files.setdefault(rel, _as_is(root, rel))
    if problems:
        raise SourceError("\n".join(problems))
    files[".gitignore"] = Shipped(gitignore(manifest).encode("utf-8"))
    files["README.md"] = Shipped(readme(manifest, modules).encode("utf-8"))
    record = {
        "schema_version": SCHEMA, "package": manifest.package, "version": version,
        "modules": {n: {"source": mr.source, "sha256": digest(files[mr.source].data), "stubs": mr.stubs,
                        "regions": len(mr.regions)} for n, mr in modules.items()},
    }
    record["files"] = {rel: digest(f.data) for rel, f in sorted(files.items())}
    files[layout.STUDENT_RECORD] = Shipped((json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    return Tree(files, modules, hidden, record)


def gitignore(manifest: Manifest) -> str:
    """The student repository's .gitignore: what the build generates, and the notebooks paired with the sources."""
    paired = [f"/{layout.paired_notebook(m.source)}" for m in manifest.modules if not m.source.endswith(".ipynb")]
    return "\n".join([f"{layout.BUILD}/", ".venv/", "__pycache__/",
                      "# the notebooks paired with the sources (doit notebooks): your work is in the sources too",
                      *paired]) + "\n"


def _build_ignore(root: Path, rel: str) -> bool:
    """A .gitignore the build wrote beside paired notebooks (the student's build writes its own)."""
    from tasks.steps.notebooks import IGNORE, IGNORE_MARK

    return Path(rel).name == IGNORE and (root / rel).read_bytes().startswith(IGNORE_MARK.encode())


def readme(manifest: Manifest, modules: dict[str, ModuleRegions]) -> str:
    """The student's README: the two commands, the module order, how progress shows."""
    rows = "\n".join(f"| {i} | {m.name} | `{m.source}` | {', '.join(m.depends) or '-'} | "
                     f"{len(modules[m.name].regions) if m.name in modules else 0} |"
                     for i, m in enumerate(manifest.modules, start=1))
    first = manifest.modules[0].name if manifest.modules else "-"
    return f"""# {manifest.package}: the student edition

You build `{manifest.package}` one module at a time. Each module is one source file; the
functions you write raise `NotImplementedError("... not written yet ...")` until you do.

## The two commands

```
python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/doit
```

installs the tooling and runs the whole build: every module is exported, imported and
tested as far as it can be. Then, after each edit:

```
.venv/bin/doit
```

(`doit validate:<module>` checks one module and what it needs.)

## The modules, in order

| # | module | source | needs | stubs |
|---|---|---|---|---|
{rows}

Start with {first}; a module's tests run once every module it needs is done.

## How progress shows

`doit` ends with a table and a line like `0 of {len(manifest.modules)} done; next: {first}`. Each module is

- **todo**: its stubs are untouched;
- **in progress (k of n)**: k of its n stubs are written; its tests run when all are;
- **done**: every stub written and its tests pass;
- **failing**: written, but a test fails: the table names the line of your source where;
- **waiting for <m>**: it needs module m, which is not done yet.

Todo and waiting are not failures: `doit` exits 0 until something you wrote fails.
`doit wheel` builds an installable package once every module is done.
"""
