"""The edit loop on the real course (issue 12), before and after, side by side in one run.

    .venv/bin/python -m bench.editloop                 # 5 runs each; 'before' = the build system at git ref main~N
    .venv/bin/python -m bench.editloop --runs 3 --before 5b728ca --timeout 10
    .venv/bin/python -m bench.editloop --runs 3 --before main --only edit,n2   # the edit loop only

Two copies of the real course: one driven by this checkout's build system ("after"), one
by the build system of `--before` (a git ref; its tasks/ and dodo.py from `git archive`).
Per copy, each a fresh `doit` as a student types it (the copies' layers-edit rounds take
turns, so that the machine's drift over the run falls on both alike; the other scenarios
run copy after copy):

- middle-module edit: an exported-code edit of `layers`, then serial `doit`; beside it the
  same unit/integration/system test files (SPEC 5's closure of the edit) in ONE pytest
  process, and the ratio;
- the same edit with `doit -n 2` (does parallelism pay on this machine?);
- own verdict: seconds from the start of `doit` to the line that gives layers' verdict
  ('== layers passed' after; before, the status table at the end, the first place it is told),
  split into phases: start-up (doit, the task list, up-to-date checks) until layers' first
  task, then each of its notebooks/export/check/test tasks (from its `-v 2` line to the next);
- failure then fix: `Linear.forward` uses the transposed weight, `doit`, then the fix, `doit`:
  tasks run by the fixed run (beyond layers' own export/notebooks/check/test) and its wall time;
- endless loop: `Dropout.forward` never returns; layers' timeout is set to `--timeout`;
  wall time, the timeouts hit, and wall - timeout.

Also the warm worker's memory (resident set size of the worker, from /proc). Prints a
table and writes build/bench/editloop.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

from bench.courses import REPO, Course, copy_real, expected_tasks, manifest_modules
from bench.scenarios import PY, environ, executed
from tasks.core import layout

MODULE = "layers"
EDIT = "\n# %%\n#| export\n_bench_edit = {k}\n"
BREAK = ("        out = x @ self.weight\n", "        out = x @ self.weight.T\n")
LOOP = ('        """Drop activations at random in training mode; return `x` unchanged in eval mode."""\n',
        '        """Drop activations at random in training mode; return `x` unchanged in eval mode."""\n'
        "        while True:\n            pass\n")
OWN_TASKS = {f"{s}:{MODULE}" for s in ("export", "notebooks", "check", "test")}


def log(msg: str) -> None:
    print(f"[editloop {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def before_course(dest: Path, ref: str) -> Course:
    """A copy of the real course whose tasks/ and dodo.py come from git ref `ref`."""
    course = copy_real(dest)
    shutil.rmtree(dest / "tasks")
    data = subprocess.run(["git", "archive", ref, "tasks", "dodo.py"], cwd=REPO, capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return course


STARTED: dict[str, float] = {}  # task -> seconds after the start of the last timed_doit, when doit began it


def timed_doit(course: Course, *args: str, marker: re.Pattern[str] | None = None,
               env: dict[str, str] | None = None) -> tuple[float, list[str], float | None, str]:
    """`doit -v 2 ARGS`: wall seconds, tasks executed, seconds until a line matched `marker`, output.

    Also fills STARTED: when each executed task's '.  task' line came.
    """
    start = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "doit", "-v", "2", *args], cwd=course.root,
                            env={**(env or environ(course)), "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: float | None = None
    lines = []
    STARTED.clear()
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(".  "):
            STARTED.setdefault(line[3:].strip(), time.perf_counter() - start)
        if seen is None and marker is not None and marker.search(line):
            seen = time.perf_counter() - start
    proc.wait()
    out = "".join(lines)
    return time.perf_counter() - start, executed(out), seen, out


PHASES = ("start-up: task list, up-to-date checks", *(f"{s}:{MODULE}" for s in ("notebooks", "export", "check", "test")))


def phases(verdict: float | None) -> dict[str, float]:
    """Where the seconds to the own verdict went: each of the module's tasks runs from its line to the next one's."""
    marks = [STARTED.get(f"{s}:{MODULE}") for s in ("notebooks", "export", "check", "test")]
    points = [0.0, *marks, verdict]
    out: dict[str, float] = {}
    for i, name in enumerate(PHASES):
        here, there = points[i], points[i + 1]
        if here is not None and there is not None:
            out[name] = round(there - here, 3)
    return out


def closure_files(root: Path, tasks: set[str]) -> list[str]:
    """The test files the tasks of an edit's closure run."""
    mods = manifest_modules(root)
    files: list[str] = []
    for task in sorted(tasks):
        step, _, name = task.partition(":")
        if step == "test":
            files += [str(t) for t in mods[name]["tests"]]  # type: ignore[attr-defined]
        elif step in ("integration", "system"):
            files.append(f"tests/{step}/test_{name}.py")
    return sorted(set(files))


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def set_timeout(course: Course, seconds: float) -> None:
    path = course.root / "modules.yaml"
    text = path.read_text(encoding="utf-8")
    entry = f"  - name: {MODULE}\n"
    path.write_text(text.replace(entry, f"{entry}    timeout: {seconds:g}\n", 1), encoding="utf-8")


def timeouts_since(course: Course, began: float) -> int:
    """Tasks that hit their timeout in a run that started at `began` (epoch), from the reporter's timings."""
    try:
        tasks = json.loads(layout.at(course.root, layout.TIMINGS).read_text(encoding="utf-8"))["tasks"]
    except (OSError, ValueError, KeyError):
        return -1
    return sum(1 for t in tasks.values() if t.get("finished", 0) >= began
               and "did not finish within" in (t.get("message") or ""))


def worker_rss() -> int | None:
    """Resident set size (bytes) of a warm worker process of this user, if one runs right now."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            if b"tasks.sandbox.warm" in cmd:
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            continue
    return None


SCENARIOS = ("edit", "n2", "fix", "loop")


class _Loop:
    """One course copy in the layers-edit scenario: its cold build, then one edit round at a time."""

    def __init__(self, course: Course, label: str) -> None:
        self.course, self.label = course, label
        self.src = course.source(MODULE)
        self.original = self.src.read_text(encoding="utf-8")
        self.env = environ(course)
        log(f"{label}: cold build")
        timed_doit(course)
        self.expected = expected_tasks(course.root, MODULE, "code")
        self.files = closure_files(course.root, self.expected)
        self.walls: list[float] = []
        self.verdicts: list[float] = []
        self.ran_n: list[int] = []
        self.pytest_walls: list[float] = []
        self.split: list[dict[str, float]] = []

    def round(self, k: int) -> None:
        """An exported-code edit of layers, serial `doit`, then the same tests in one pytest process."""
        verdict = re.compile(rf"^(== {MODULE} passed| ?\d+ {MODULE}\s)")
        self.src.write_text(self.original + EDIT.format(k=k), encoding="utf-8")
        wall, ran, seen, _ = timed_doit(self.course, marker=verdict)
        self.walls.append(wall)
        self.ran_n.append(len(ran))
        self.split.append(phases(seen))
        if seen is not None:
            self.verdicts.append(seen)
        start = time.perf_counter()
        subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", *self.files], cwd=self.course.root,
                       env={**self.env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, capture_output=True, check=False)
        self.pytest_walls.append(time.perf_counter() - start)


def bench(loop: _Loop, runs: int, timeout: float, only: tuple[str, ...] = SCENARIOS) -> dict[str, Any]:
    """The scenarios after the layers edit's rounds (which `main` runs, the copies' rounds alternating)."""
    course, label, src, original, env = loop.course, loop.label, loop.src, loop.original, loop.env
    log(f"{label}: layers edit, serial {median(loop.walls)} s; one pytest {median(loop.pytest_walls)} s")
    res: dict[str, Any] = {"label": label}
    parallel: list[float] = []
    rss: list[int] = []
    for k in range(runs if "n2" in only else 0):
        src.write_text(original + EDIT.format(k=100 + k), encoding="utf-8")
        # the worker's memory, sampled while a run is under way
        proc = subprocess.Popen([PY, "-m", "doit", "-n", "2"], cwd=course.root, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = time.perf_counter()
        while proc.poll() is None:
            size = worker_rss()
            if size:
                rss.append(size)
            time.sleep(0.5)
        parallel.append(time.perf_counter() - start)
    res["edit"] = {"doit_serial": loop.walls, "one_pytest": loop.pytest_walls, "doit_n2": parallel, "tasks": loop.ran_n,
                   "expected_tasks": len(loop.expected), "test_files": len(loop.files), "verdict": loop.verdicts,
                   "worker_rss_max": max(rss) if rss else None,
                   "phases": {name: [p[name] for p in loop.split if name in p] for name in PHASES}}
    src.write_text(original, encoding="utf-8")
    res["fix"] = {"wall": [], "downstream": [], "first": []}
    res["loop"] = {"wall": [], "timeout": timeout, "timeouts_hit": []}
    if "fix" not in only and "loop" not in only:
        return res
    timed_doit(course)
    fix_walls, fix_ran = [], []
    for _ in range(runs if "fix" in only else 0):
        src.write_text(original.replace(*BREAK), encoding="utf-8")
        timed_doit(course)
        src.write_text(original, encoding="utf-8")
        wall, ran, _, _ = timed_doit(course)
        fix_walls.append(wall)
        fix_ran.append(sorted(set(ran) - OWN_TASKS))
    res["fix"] = {"wall": fix_walls, "downstream": [len(r) for r in fix_ran], "first": fix_ran[0] if fix_ran else []}
    log(f"{label}: failure then fix: {res['fix']['downstream']} downstream tasks")
    if "loop" not in only:
        return res
    set_timeout(course, timeout)
    timed_doit(course)
    loop_walls, timeouts = [], []
    for _ in range(runs):
        src.write_text(original.replace(*LOOP), encoding="utf-8")
        began = time.time()
        wall, _, _, _ = timed_doit(course)
        loop_walls.append(wall)
        timeouts.append(timeouts_since(course, began))
        src.write_text(original, encoding="utf-8")
        timed_doit(course)
    res["loop"] = {"wall": loop_walls, "timeout": timeout, "timeouts_hit": timeouts}
    log(f"{label}: endless loop {median(loop_walls)} s")
    return res


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def table(results: list[dict[str, Any]], runs: int) -> str:
    head = f"{'scenario (real course, median of ' + str(runs) + ')':<58}" + "".join(f"{r['label']:>16}" for r in results)
    rows = [head, "-" * len(head)]

    def row(name: str, cells: list[str]) -> None:
        rows.append(f"{name:<58}" + "".join(f"{c:>16}" for c in cells))

    row("layers edit: doit (serial)", [_s(median(r["edit"]["doit_serial"])) for r in results])
    row("layers edit: the same tests in one pytest process", [_s(median(r["edit"]["one_pytest"])) for r in results])
    row("  ratio doit / one pytest (target <= 1.3x)",
        [_ratio(median(r["edit"]["doit_serial"]), median(r["edit"]["one_pytest"])) for r in results])
    row("layers edit: doit -n 2", [_s(median(r["edit"]["doit_n2"])) for r in results])
    row("  tasks run (SPEC 5 closure)", [f"{median(r['edit']['tasks']):g} ({r['edit']['expected_tasks']})"
                                         for r in results])
    row("own verdict of layers, from the start (target <= 1.5 s)", [_s(median(r["edit"]["verdict"])) for r in results])
    for name in PHASES:
        row(f"  {name}", [_s(median(r["edit"].get("phases", {}).get(name, []))) for r in results])
    row("failure then fix: downstream tasks re-run (target 0)", [_n(median(r["fix"]["downstream"])) for r in results])
    row("failure then fix: wall of the fixed run", [_s(median(r["fix"]["wall"])) for r in results])
    row("endless loop: wall", [_s(median(r["loop"]["wall"])) for r in results])
    row("  timeouts hit", [_n(median(r["loop"]["timeouts_hit"])) for r in results])
    row("  wall - one timeout (target <= 10 s)",
        [_s(None if not r["loop"]["wall"] else (median(r["loop"]["wall"]) or 0.0) - r["loop"]["timeout"])
         for r in results])
    rss = [r["edit"]["worker_rss_max"] for r in results]
    row("warm worker resident memory (max sampled)", [f"{x / 2**20:.0f} MiB" if x else "-" for x in rss])
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.editloop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", default="5b728ca", help="git ref of the build system to compare with")
    parser.add_argument("--timeout", type=float, default=10.0, help="layers' timeout in the endless-loop scenario")
    parser.add_argument("--no-before", action="store_true")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios to run, of {','.join(SCENARIOS)} (the layers edit always runs)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench")
    args = parser.parse_args(argv)
    only = tuple(x.strip() for x in args.only.split(",") if x.strip())
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    with tempfile.TemporaryDirectory(prefix="tinytorch-editloop-") as tmp:
        # both copies first (the checkout as it is now), then their edit rounds in turn: a drift of the
        # machine's speed over the minutes of a run falls on both alike
        copies = [] if args.no_before else [(before_course(Path(tmp) / "before", args.before),
                                             f"before {args.before[:7]}")]
        copies.append((copy_real(Path(tmp) / "after"), "after"))
        loops = [_Loop(course, label) for course, label in copies]
        for k in range(args.runs):
            for loop in loops:
                loop.round(k)
        results = [bench(loop, args.runs, args.timeout, only) for loop in loops]
    text = table(results, args.runs)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    data = {"schema": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(), "runs": args.runs,
            "results": results}
    tmp_file = args.out / ".editloop.json.tmp"
    tmp_file.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp_file, args.out / "editloop.json")
    (args.out / "editloop.txt").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
