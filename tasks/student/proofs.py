"""The student edition proves itself (proof (a), the reference passing every test, is the task's gates).

(b) `builds`: the student tree exports and imports every module with its stubs in place;
(c) `reached`: every solution region runs under the module's visible unit tests, measured
    by coverage of the reference module (one pytest run per module, not one per region:
    a stub that runs raises, so a reached region is one whose stub fails a visible test);
(d) `leaks`: no marker and no solution line anywhere in the student tree.
Each failure names the instructor's file:line (and the shipped file's line).
"""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tasks.core import layout
from tasks.core.errors import BuildError, CheckError
from tasks.model.graph import closure
from tasks.model.manifest import Manifest
from tasks.steps.export import ExportJob, export, module_path, source_line
from tasks.steps.regions import marker
from tasks.steps.sources import scan
from tasks.student.tree import Tree


def _namespaces(manifest: Manifest) -> tuple[str, ...]:
    from tasks.core.text import parents

    return tuple(sorted({p for m in manifest.modules for p in parents(m.target)}))


def _to_instructor(message: str, tree: Tree) -> str:
    """Student-tree places in `message` -> the instructor's lines (the stubbed sources shift)."""
    def swap(m: re.Match[str]) -> str:
        rel, line = m.group(1), int(m.group(2))
        shipped = tree.files.get(rel)
        if shipped is None or not shipped.lines or line > len(shipped.lines):
            return m.group(0)
        return f"{shipped.origin or rel}:{shipped.lines[line - 1]}"
    return re.sub(r"([\w.\-/]+\.py):(\d+)", swap, message)


def builds(staging: Path, manifest: Manifest, tree: Tree) -> None:
    """(b) every module of the student tree exports and imports with its stubs."""
    from tasks.steps.checks import CheckJob, check_import

    targets = {m.target: m.name for m in manifest.modules}
    by_name = manifest.by_name
    problems: list[str] = []
    ok: set[str] = set()
    for m in manifest.modules:
        job = ExportJob(root=str(staging), name=m.name, source=m.source, target=m.target, lib=manifest.lib,
                        package=manifest.package, depends={d: by_name[d].target for d in m.depends},
                        targets=targets)
        try:
            export(job)
            ok.add(m.name)
        except BuildError as exc:
            problems.append(f"(b) {m.name} does not export in the student tree:\n{_to_instructor(str(exc), tree)}")
    for m in manifest.modules:
        if m.name not in ok or any(d not in ok for d in m.depends):
            continue
        reach = {m.name} | closure(manifest.graph, m.depends)
        records = {module_path(Path(manifest.lib), by_name[n].target).as_posix(): layout.export_record(n)
                   for n in reach}
        check = CheckJob(root=str(staging), name=m.name, source=m.source, target=m.target, lib=manifest.lib,
                         stubs=_namespaces(manifest), records=records, timeout=m.timeout)
        try:
            check_import(check)
        except CheckError as exc:
            problems.append(f"(b) {m.name} does not import with its stubs:\n{_to_instructor(str(exc), tree)}\n"
                            "  fix: no solution region may run at import time (module level, class bodies, "
                            "decorators, default values)")
    if problems:
        raise CheckError("\n".join(problems))


def _covered(root: Path, staging: Path, manifest: Manifest, name: str) -> tuple[set[int], str | None]:
    """Source lines of module `name` that its visible unit tests run (reference code), and a failure."""
    from tasks.sandbox.spawn import run_child

    m = manifest.by_name[name]
    generated = module_path(Path(manifest.lib), m.target).as_posix()
    data = layout.at(root, layout.student_coverage(name))
    data.parent.mkdir(parents=True, exist_ok=True)
    tests = [str(staging / t) for t in m.tests if (staging / t).exists()]
    if not tests:
        return set(), None
    args = ["pytest", "--lib", manifest.lib, *(a for s in _namespaces(manifest) for a in ("--stub", s)),
            "--cover", generated, "--data-file", str(data), "--", *tests, "-q", "-p", "no:cacheprovider",
            "--no-header", "-o", "console_output_style=classic"]
    outcome = run_child(root, args, m.timeout, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    result = outcome.result or {}
    if outcome.timed_out or result.get("exit_code") not in (0, 5):
        return set(), f"the visible tests of {name} do not pass on the reference:\n{outcome.output[-1500:]}"
    try:
        record = json.loads(layout.at(root, layout.export_record(name)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set(), f"{m.source}:1: {name} has no export record; run `doit export:{name}` first"
    executed = result.get("coverage", {}).get("executed", [])
    return {n for n in (source_line(record, g) for g in executed) if n is not None}, None


def reached(root: Path, staging: Path, manifest: Manifest, tree: Tree) -> dict[str, list[bool]]:
    """(c) each region's first statement runs under a visible test; per module, reached or not per region."""
    names = [n for n, mr in tree.modules.items() if mr.regions]
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores: one pytest child each
        runs = dict(zip(names, pool.map(lambda n: _covered(root, staging, manifest, n), names), strict=True))
    problems: list[str] = []
    found: dict[str, list[bool]] = {}
    for name in names:
        lines, failure = runs[name]
        mr = tree.modules[name]
        if failure:
            problems.append(f"(c) {failure}")
            continue
        found[name] = [any(r.begin < n < r.end for n in lines) for r in mr.regions]
        tests = ", ".join(manifest.by_name[name].tests) or "no test file"
        for r, hit in zip(mr.regions, found[name], strict=True):
            if not hit:
                problems.append(
                    f"{mr.source}:{r.begin}: (c) the solution region of {name}.{r.qualname} is not reached by any "
                    f"visible test of {name} ({tests}): its stub would pass unnoticed; add a visible test that "
                    "calls it (a hidden one does not count), or remove the region")
    if problems:
        raise CheckError("\n".join(problems))
    return found


def _norm(text: str) -> str:
    return " ".join(text.split())


def _solution_lines(root: Path, tree: Tree) -> tuple[dict[str, tuple[str, int]], set[str]]:
    """Normalised solution lines -> (source, region line), and the lines that occur outside regions in code."""
    solutions: dict[str, tuple[str, int]] = {}
    outside: set[str] = set()
    for mr in tree.modules.values():
        text = (root / mr.source).read_text(encoding="utf-8")
        lines = text.split("\n")
        inside = {n for r in mr.regions for n in range(r.begin, r.end + 1)}
        for r in mr.regions:
            for n in range(r.begin + 1, r.end):
                key = _norm(lines[n - 1])
                if len(key) > 3:  # 'pass', ')', 'else:' say nothing about a solution
                    solutions.setdefault(key, (mr.source, r.begin))
        for cell in scan(text, mr.source):
            if cell.kind == "code":  # prose may not vouch for a line: a leak into markdown is a leak
                outside |= {_norm(t) for i, t in enumerate(cell.lines) if cell.first_line + i not in inside}
    for shipped in tree.files.values():  # the build system and the visible tests, as shipped
        if shipped.origin and shipped.origin not in {mr.source for mr in tree.modules.values()}:
            outside |= {_norm(t) for t in shipped.data.decode("utf-8", "replace").split("\n")}
    return solutions, outside - {""}


def _text_lines(rel: str, data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []
    if not rel.endswith(".ipynb"):
        return text.split("\n")
    out: list[str] = []  # every string of a notebook: sources, outputs, metadata

    def walk(x: Any) -> None:
        if isinstance(x, str):
            out.extend(x.split("\n"))
        elif isinstance(x, list):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for k, y in x.items():
                walk(k)
                walk(y)
    try:
        walk(json.loads(text))
    except ValueError:
        return text.split("\n")
    return out


def leaks(root: Path, shown: str, tree: Tree, extra: dict[str, bytes] | None = None) -> None:
    """(d) no marker, no solution line (whitespace normalised; a '#' prefix removed) in any shipped file."""
    solutions, outside = _solution_lines(root, tree)
    problems: list[str] = []
    files = {rel: f.data for rel, f in tree.files.items()} | (extra or {})
    for rel in sorted(files):
        shipped = tree.files.get(rel)
        for n, text in enumerate(_text_lines(rel, files[rel]), start=1):
            where = f"{shown}/{rel}:{n}"
            origin = f"{shipped.origin}:{shipped.lines[n - 1]}" if shipped and shipped.origin and \
                n <= len(shipped.lines) and shipped.lines[n - 1] else where
            kind = marker(text)
            if kind and not rel.startswith("tasks/"):
                problems.append(f"{origin}: (d) the marker '{kind}' reaches the student tree ({where}); "
                                "remove it or fix its placement")
                continue
            key = _norm(text)
            for candidate in (key, _norm(key.lstrip("#"))):
                if candidate in solutions and candidate not in outside:
                    src, begin = solutions[candidate]
                    problems.append(f"{origin}: (d) a solution line leaks into the student tree ({where}): "
                                    f"{candidate!r} is in the solution region at {src}:{begin}; remove it here "
                                    "or reword it")
                    break
    if problems:
        raise CheckError("\n".join(problems))


def clear_build(staging: Path) -> None:
    """Drop what proof (b) generated: the student tree ships sources only."""
    shutil.rmtree(staging / layout.BUILD, ignore_errors=True)
