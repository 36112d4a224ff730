"""`python -m bench`: every scenario on the real course and on generated courses; a table and JSON.

    .venv/bin/python -m bench               # real course + 20/200/1000 modules, medians of 5 runs
    .venv/bin/python -m bench --quick       # CI: one small generated course, one run each

Courses are built in a temporary directory (nothing in the repository changes);
results go to build/bench/latest.json (and a timestamped copy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.courses import REPO, Course, copy_real, generate, manifest_modules
from bench.scenarios import FAILURES, PY, Bench, Series

SCHEMA = 1
FLOORS = {"python -c pass": [PY, "-c", "pass"], "python -c 'import doit'": [PY, "-c", "import doit"]}
PROBES = {"import pytest": [PY, "-c", "import pytest"], "import numpy": [PY, "-c", "import numpy"],
          "import tasks.sandbox.runner (sandbox child start-up)": [PY, "-c", "import tasks.sandbox.runner"]}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def bench_course(course: Course, runs: int, heavy: int, jobs: int, scratch: Path,
                 rebuilds: bool = True) -> dict[str, Any]:
    b = Bench(course, runs, heavy, jobs, log)
    n = len(manifest_modules(course.root))
    out: dict[str, Series | None] = {}
    steps = [
        ("cold export (doit -n J export, empty build/)", lambda: b.cold("export")),
        ("cold build (doit -n J, empty build/)", b.cold),
        ("no-op doit", b.noop),
        (f"prose edit, leaf ({course.leaf_module})", lambda: b.edit(course.leaf_module, "prose", runs)),
        (f"code edit, leaf ({course.leaf_module})", lambda: b.edit(course.leaf_module, "code", runs)),
        (f"code edit, root ({course.root_module}; doit -n J)",
         lambda: b.edit(course.root_module, "code", heavy, parallel=True)),
        ("doit -n J -a (everything forced)", b.forced),
        ("leaf code edit, serial: wall vs work", b.leaf_work),
        ("task list in-process (dodo.py + tasks)", b.tasklist),
        ("doit list", lambda: b.command([PY, "-m", "doit", "list"], runs)),
        ("nbdev-export (same sources as notebooks)", lambda: b.nbdev(scratch)),
        *((name, (lambda cmd=cmd: b.command(cmd, runs))) for name, cmd in {**FLOORS, **PROBES}.items()),
    ]
    for name, step in steps:
        if not rebuilds and (name.startswith("code edit, root") or name.startswith("doit -n J -a")):
            log(f"{course.name}: {name}: skipped (--rebuilds-upto; a full rebuild costs about the cold build)")
            continue
        log(f"{course.name}: {name}")
        out[name] = step()  # type: ignore[no-untyped-call]
    return {"name": course.name, "modules": n, "runs": runs, "heavy_runs": heavy, "jobs": jobs,
            "scenarios": {k: v.summary() for k, v in out.items() if v is not None}}


def _fmt(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def table(results: list[dict[str, Any]]) -> str:
    """A plain-text table: one block per course."""
    lines = []
    head = f"{'scenario':<46} {'median':>9} {'min-max':>19} {'n':>2} {'tasks (expected)':>17} {'x import doit':>13}"
    for course in results:
        sc = course["scenarios"]
        floor = sc["python -c 'import doit'"]["median"]
        lines += ["", f"== {course['name']}: {course['modules']} modules (J = {course['jobs']}; other doit runs "
                      "are plain `doit`, as a student types it)", head, "-" * len(head)]
        for name, s in sc.items():
            rng = f"{_fmt(s['min'])}-{_fmt(s['max'])}"
            tasks = ""
            if s["expected_tasks"] is not None:
                tasks = f"{statistics.median(s['tasks']):g} ({s['expected_tasks']})" + ("" if s["tasks_ok"] else " !!")
            elif s["tasks"]:
                tasks = f"{statistics.median(s['tasks']):g}"
            ratio = f"{s['median'] / floor:.1f}x" if floor and s["median"] else ""
            lines.append(f"{name:<46} {_fmt(s['median']):>9} {rng:>19} {s['runs']:>2} {tasks:>17} {ratio:>13}")
            if "overhead_median" in s:
                lines.append(f"{'  work in the closure (sum of task times)':<46} {_fmt(s['work_median']):>9}")
                lines.append(f"{'  overhead (wall - work)':<46} {_fmt(s['overhead_median']):>9}")
            if "load_dodo_median" in s:
                lines.append(f"{'  of which: load dodo.py + manifest':<46} {_fmt(s['load_dodo_median']):>9}")
                lines.append(f"{'  of which: generate task dicts':<46} {_fmt(s['generate_median']):>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one small generated course, one run each (CI)")
    parser.add_argument("--sizes", type=int, nargs="*", help="generated course sizes (default 20 200 1000)")
    parser.add_argument("--no-real", action="store_true", help="skip the real course")
    parser.add_argument("--runs", type=int, help="runs per scenario (default 5)")
    parser.add_argument("--heavy-runs", type=int,
                        help="runs of cold / forced / root-edit builds (default: --runs up to 20 modules, "
                             "2 up to 200, 1 above)")
    parser.add_argument("--jobs", "-n", type=int, default=min(2, os.cpu_count() or 1), help="doit -n (default 2)")
    parser.add_argument("--rebuilds-upto", type=int, default=None, metavar="N",
                        help="skip the root edit and doit -a (full rebuilds) on courses above N modules")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench", help="where the JSON goes")
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 5)
    sizes = args.sizes if args.sizes is not None else ([8] if args.quick else [20, 200, 1000])
    real = not (args.no_real or args.quick)

    results = []
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        courses: list[Course] = []
        if real:
            courses.append(copy_real(Path(tmp) / "real"))
        courses += [generate(Path(tmp) / f"gen{n}", n) for n in sizes]
        for course in courses:
            n = len(manifest_modules(course.root))
            # a full rebuild of 200 modules takes minutes: fewer runs there (the table shows n)
            heavy = args.heavy_runs or (runs if n <= 20 else min(runs, 2) if n <= 200 else 1)
            rebuilds = args.rebuilds_upto is None or n <= args.rebuilds_upto
            results.append(bench_course(course, runs, heavy, args.jobs, Path(tmp) / f"nbdev-{course.name}", rebuilds))
    report = {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick,
              "machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": os.cpu_count(), "jobs": args.jobs},
              "courses": results, "failed_runs": FAILURES}
    text = table(results)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    data = json.dumps(report, indent=1)
    for name in (f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json", "latest.json"):
        tmp_file = args.out / f".{name}.tmp"
        tmp_file.write_text(data, encoding="utf-8")
        os.replace(tmp_file, args.out / name)
    (args.out / "latest.txt").write_text(text + "\n", encoding="utf-8")
    if FAILURES:
        print("\ndoit runs that failed (course code, not the harness):\n  " + "\n  ".join(FAILURES), file=sys.stderr)
    bad = [f"{c['name']}: {k}" for c in results for k, s in c["scenarios"].items() if s["tasks_ok"] is False]
    if bad:
        print("\ntask counts differ from the SPEC 5 closure in: " + "; ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
