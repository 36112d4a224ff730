"""The scenarios: what is timed on each course, and the floors and baselines beside them.

Every command runs as a fresh process, as a student would type it, with the
bytecode cache on (a shell's default; a harness-wide PYTHONDONTWRITEBYTECODE
would make every run recompile `tasks/`). Task counts come from `doit -v 2`:
each line starting with '.  ' is a task that executed its actions.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.courses import Course, all_tasks, expected_tasks, manifest_modules

PY = sys.executable
NBDEV_EXPORT = Path(PY).with_name("nbdev-export")
# what loading the task list costs, measured inside one process (no interpreter start-up)
TASKLIST_PROBE = """
import time, runpy, sys
t0 = time.perf_counter()
from doit.loader import load_tasks
t1 = time.perf_counter()
ns = runpy.run_path('dodo.py')
t2 = time.perf_counter()
tasks = load_tasks(ns, command_names=(), allow_delayed=False)
t3 = time.perf_counter()
print(f"{(t2 - t1) * 1000:.3f} {(t3 - t2) * 1000:.3f} {len(tasks)}")
"""


@dataclass
class Series:
    """One scenario's runs: wall seconds, and tasks executed per run."""

    seconds: list[float] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)
    expected: int | None = None
    unexpected: list[str] = field(default_factory=list)  # first mismatch, for the report
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool | None:
        if self.expected is None:
            return None
        return all(t == self.expected for t in self.tasks) and not self.unexpected

    def summary(self) -> dict[str, Any]:
        s = self.seconds
        return {"runs": len(s), "median": statistics.median(s) if s else None, "min": min(s) if s else None,
                "max": max(s) if s else None, "seconds": [round(x, 4) for x in s], "tasks": self.tasks,
                "expected_tasks": self.expected, "tasks_ok": self.ok, "mismatch": self.unexpected, **self.extra}


def environ(course: Course) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env.update({"PYTHONPATH": str(course.build_system), "NO_COLOR": "1"})
    return env


FAILURES: list[str] = []  # doit runs that failed (a course module whose tests fail): reported, not fatal


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 3600, check: bool = True) -> tuple[float, str]:
    """Run `cmd`; return its wall time and output. A failure stops the benchmark with the output."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode != 0 and not check:
        failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
        FAILURES.append(f"{' '.join(cmd[2:])} in {cwd.name}: exit {proc.returncode}: {'; '.join(failed[:3])}")
    elif proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}:\n{proc.stdout[-3000:]}"
                           f"\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def executed(output: str) -> list[str]:
    """Task names doit executed, from `-v 2` output."""
    return [line[3:].strip() for line in output.splitlines() if line.startswith(".  ")]


class Bench:
    """Runs the scenarios on one course."""

    def __init__(self, course: Course, runs: int, heavy_runs: int, jobs: int, log: Callable[[str], None]) -> None:
        self.course = course
        self.runs = runs
        self.heavy_runs = heavy_runs
        self.jobs = jobs
        self.env = environ(course)
        self.log = log
        self.pristine: dict[Path, str] = {}

    def doit(self, *args: str, parallel: bool = False) -> tuple[float, list[str]]:
        """`doit -v 2 ARGS` as a student types it; `parallel`: with `-n JOBS` (full rebuilds)."""
        jobs = ["-n", str(self.jobs)] if parallel else []
        wall, out = run([PY, "-m", "doit", *jobs, "-v", "2", *args], self.course.root, self.env, check=False)
        return wall, executed(out)

    def _record(self, series: Series, wall: float, ran: list[str], expected: set[str] | None) -> None:
        series.seconds.append(wall)
        series.tasks.append(len(ran))
        if expected is not None and set(ran) != expected and not series.unexpected:
            series.unexpected = [f"+{t}" for t in sorted(set(ran) - expected)] + \
                                [f"-{t}" for t in sorted(expected - set(ran))]

    # -- scenarios ---------------------------------------------------------------------------------
    def cold(self, only: str | None = None) -> Series:
        """Empty build/ -> `doit` (or `doit <only>`)."""
        mods = len(manifest_modules(self.course.root))
        # `doit export` syncs each module's paired notebook first (export:<m> depends on notebooks:<m>)
        series = Series(expected=2 * mods if only == "export" else all_tasks(self.course.root))
        for _ in range(self.heavy_runs):
            shutil.rmtree(self.course.root / "build", ignore_errors=True)
            wall, ran = self.doit(*([only] if only else []), parallel=True)
            self._record(series, wall, ran, None)
        return series

    def noop(self) -> Series:
        series = Series(expected=0)
        self.doit()  # settle
        for _ in range(self.runs):
            wall, ran = self.doit()
            self._record(series, wall, ran, set())
        return series

    def forced(self) -> Series:
        series = Series(expected=all_tasks(self.course.root))
        for _ in range(self.heavy_runs):
            wall, ran = self.doit("-a", parallel=True)
            self._record(series, wall, ran, None)
        return series

    def edit(self, module: str, kind: str, runs: int, parallel: bool = False) -> Series:
        """`runs` successive edits of one kind, each followed by a timed `doit`."""
        path = self.course.source(module)
        original = self.pristine.setdefault(path, path.read_text(encoding="utf-8"))
        path.write_text(original, encoding="utf-8")
        self.doit()  # settle on the pristine sources
        expected = expected_tasks(self.course.root, module, kind)
        series = Series(expected=len(expected))
        for k in range(runs):
            path.write_text(edited(path, original, kind, k), encoding="utf-8")
            wall, ran = self.doit(parallel=parallel)
            self._record(series, wall, ran, expected)
        path.write_text(original, encoding="utf-8")
        self.doit()
        return series

    def leaf_work(self) -> Series:
        """Leaf code edits run serially with doit's JSON reporter: wall vs the summed task times."""
        module = self.course.leaf_module
        path = self.course.source(module)
        original = self.pristine.setdefault(path, path.read_text(encoding="utf-8"))
        series = Series()
        work: list[float] = []
        for k in range(self.runs):
            path.write_text(edited(path, original, "code", 100 + k), encoding="utf-8")
            wall, out = run([PY, "-m", "doit", "--reporter", "json"], self.course.root, self.env, check=False)
            report = json.loads(out[out.index("{"):])
            done = [t for t in report["tasks"] if t.get("elapsed") is not None]
            work.append(sum(t["elapsed"] for t in done))
            series.seconds.append(wall)
            series.tasks.append(len(done))
        path.write_text(original, encoding="utf-8")
        self.doit()
        over = [w - x for w, x in zip(series.seconds, work, strict=True)]
        series.extra = {"work_median": statistics.median(work), "overhead_median": statistics.median(over),
                        "overhead": [round(x, 4) for x in over]}
        return series

    def command(self, cmd: list[str], runs: int, cwd: Path | None = None) -> Series:
        series = Series()
        for _ in range(runs):
            wall, _ = run(cmd, cwd or self.course.root, self.env)
            series.seconds.append(wall)
        return series

    def tasklist(self) -> Series:
        """Task-list construction in-process: loading dodo.py (manifest included) + generating the tasks."""
        series = Series()
        dodo, gen = [], []
        for _ in range(self.runs):
            _, out = run([PY, "-c", TASKLIST_PROBE], self.course.root, self.env)
            a, b, n = out.split()
            dodo.append(float(a) / 1000)
            gen.append(float(b) / 1000)
            series.seconds.append(dodo[-1] + gen[-1])
            series.tasks.append(int(n))
        series.extra = {"load_dodo_median": statistics.median(dodo), "generate_median": statistics.median(gen)}
        return series

    def nbdev(self, scratch: Path) -> Series | None:
        """`nbdev-export` over the same sources as notebooks, in a scratch nbdev project."""
        if not NBDEV_EXPORT.exists():
            return None
        import jupytext
        import yaml

        data = yaml.safe_load((self.course.root / "modules.yaml").read_text(encoding="utf-8"))
        package = str(data["package"]["name"])  # the manifest names the package (tasks.model.manifest)
        shutil.rmtree(scratch, ignore_errors=True)
        (scratch / "nbs").mkdir(parents=True)
        for i, (name, m) in enumerate(manifest_modules(self.course.root).items()):
            nb = jupytext.read(self.course.root / str(m["source"]), fmt="py:percent")
            jupytext.write(nb, scratch / "nbs" / f"{i:04d}_{name}.ipynb", fmt="ipynb")
        (scratch / "pyproject.toml").write_text(
            f'[project]\nname = "{package}"\nversion = "0.1.0"\n\n'
            f'[tool.nbdev]\nlib_path = "{package}"\nnbs_path = "nbs"\ndoc_path = "_docs"\n'
            f'branch = "main"\nuser = "bench"\nrepo = "{package}"\n', encoding="utf-8")
        series = Series()
        for _ in range(self.heavy_runs):
            shutil.rmtree(scratch / package, ignore_errors=True)
            wall, _ = run([str(NBDEV_EXPORT)], scratch, self.env)
            series.seconds.append(wall)
        series.extra = {"modules_written": len(list((scratch / package).rglob("*.py")))}
        return series


def edited(path: Path, original: str, kind: str, k: int) -> str:
    """`original` with one more cell of `kind`: appended text for a percent source, a new cell for a notebook."""
    if path.suffix != ".ipynb":
        return original + _edit(kind, k)
    nb = json.loads(original)
    source = f"A prose edit (benchmark run {k})." if kind == "prose" else f"#| export\n_bench_edit = {k}"
    cell: dict[str, Any] = {"cell_type": "markdown" if kind == "prose" else "code", "id": f"bench{k}",
                            "metadata": {}, "source": source}
    if kind != "prose":
        cell.update({"execution_count": None, "outputs": []})
    nb["cells"].append(cell)
    return json.dumps(nb, indent=1) + "\n"


def _edit(kind: str, k: int) -> str:
    if kind == "prose":
        return f"\n# %% [markdown]\n# A prose edit (benchmark run {k}).\n"
    return f"\n# %%\n#| export\n_bench_edit = {k}\n"
