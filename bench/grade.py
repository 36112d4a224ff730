"""`python -m bench.grade`: grade a generated class of the real course three ways; a table and JSON.

    .venv/bin/python -m bench.grade                 # 40 submissions: local pool, LocalCluster 1 and 2 workers
    .venv/bin/python -m bench.grade --count 7 --executors local   # a smaller class (every kind once), pool only

Submissions are made from the reference and from the student edition (`doit student`):
complete, partly done (the later half of the modules as the student edition ships them),
wrong in one module, hanging, printing 100 MB, forking without end, deleting the tests. Then three
regrades: one student resubmits a leaf module, then the root module; one module's test file changes.
Everything runs in a temporary directory (removed, with every cluster, at the end; each `doit grade`
is bounded by --timeout); results go to build/bench/grade.json. Not part of CI.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.courses import REPO, copy_real, manifest_modules

PY = sys.executable
HOSTILE = {
    "hang": "\nimport time as _t\nwhile True:\n    _t.sleep(0.01)\n",
    "print": "\nfor _i in range(10_000):\n    print('x' * 10_000)\n",
    "fork": "\nimport os as _os\nfor _i in range(100_000):\n    if _os.fork() == 0:\n        import time; time.sleep(30); _os._exit(0)\n",
    "delete": "\nimport shutil as _s\n_s.rmtree('tests', ignore_errors=True)\n",
}


def stub(text: str) -> str:
    """Each exported function body replaced by `raise NotImplementedError` (a crude student edition)."""
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.body),
                       key=lambda n: -n.lineno):
        first = node.body[0]
        start = first.end_lineno if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            else first.lineno - 1
        end = node.end_lineno or start
        if start is None or end is None or start >= end:
            continue
        indent = " " * (node.col_offset + 4)
        lines[start:end] = [f"{indent}raise NotImplementedError\n"]
    return "".join(lines)


def make_class(course: Path, dest: Path, count: int, edition: Path | None = None
               ) -> tuple[dict[str, str], dict[str, str]]:
    """`count` submissions under `dest`, a mix of kinds; student -> kind, and student -> the module it changed."""
    mods = manifest_modules(course)
    sources = [str(m["source"]) for m in mods.values()]
    # every kind within the first 7, so a small class has them all; 40 make the same mix as before
    kinds = ["complete", "hang", "partial", "print", "wrong", "fork", "delete", "complete", "partial", "complete",
             "wrong"]
    made: dict[str, str] = {}
    changed: dict[str, str] = {}
    names = list(mods)
    for i in range(count):
        kind = kinds[i % len(kinds)]
        student = f"s{i:03d}"
        for src in sources:
            (dest / student / src).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(course / src, dest / student / src)
        target = dest / student / sources[(i * 7) % len(sources)]
        text = target.read_text(encoding="utf-8")
        if kind == "partial":
            for src in sources[len(sources) // 2:]:
                p = dest / student / src
                if edition is not None and (edition / src).exists():
                    shutil.copyfile(edition / src, p)
                else:
                    p.write_text(stub(p.read_text(encoding="utf-8")), encoding="utf-8")
        elif kind == "wrong":
            target.write_text(text.replace(" + ", " - ", 3), encoding="utf-8")
        elif kind in HOSTILE:
            target.write_text(text + "\n# %%\n#| export" + HOSTILE[kind], encoding="utf-8")
        made[student] = kind
        changed[student] = names[(i * 7) % len(sources)]
    return made, changed


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run `args` in its own session; past `timeout` the whole session is killed (the harness never hangs)."""
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"}, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SystemExit(f"{' '.join(args[2:4])} did not finish within {timeout:g} s; stopped") from None
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def grade(course: Path, subs: Path, timeout: float, scheduler: str = "") -> tuple[float, str]:
    args = [PY, "-m", "doit", "grade", "--submissions", str(subs)] + (["--scheduler", scheduler] if scheduler else [])
    start = time.perf_counter()
    out = _run(args, course, timeout)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"doit grade failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return seconds, out.stdout


def one_build(course: Path, timeout: float) -> float:
    start = time.perf_counter()
    _run([PY, "-m", "doit", "validate", "init", "integration", "system"], course, timeout)
    return time.perf_counter() - start


def written(course: Path) -> dict[str, int]:
    """Each stored result's mtime (ns), to tell which ones a run rewrote."""
    return {p.stem: p.stat().st_mtime_ns for p in (course / "build/grades/results").glob("*.json")}


def regraded(course: Path, before: dict[str, int]) -> dict[str, int]:
    """Per submission whose result the last `doit grade` rewrote, how many units (module or test file) it graded
    again (a tampered result is never reused: that submission is graded whole whenever its task runs)."""
    return {p.stem: len(json.loads(p.read_text(encoding="utf-8")).get("ran", []))
            for p in sorted((course / "build/grades/results").glob("*.json"))
            if before.get(p.stem) != p.stat().st_mtime_ns}


def leftovers(tmp: Path) -> list[int]:
    """Processes still running in the temporary tree (a contained class leaves none)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(str(tmp)):
                found.append(int(pid))
        except OSError:
            pass
    return found


def hostile(book: dict[str, Any], kinds: dict[str, str], targets: dict[str, str]) -> list[dict[str, str]]:
    """Each hostile submission: the module it attacked, its status there and why (contained: not done)."""
    rows = {(s["student"], r["item"]): r for s in book["students"] for r in s["rows"]}
    out = []
    for student, kind in sorted(kinds.items()):
        if kind in HOSTILE:
            r = rows.get((student, targets[student]), {"status": "missing", "reason": ""})
            out.append({"student": student, "kind": kind, "module": targets[student], "status": r["status"],
                        "reason": r["reason"][:110], "marked": str(r["status"] != "done")})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.grade")
    parser.add_argument("--count", type=int, default=40, help="submissions in the class (default 40)")
    parser.add_argument("--executors", default="local,1,2",
                        help="comma-separated: local (the process pool), 1 and 2 (LocalCluster workers)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="the bound of each `doit grade` (s)")
    args = parser.parse_args(argv)
    executors = args.executors.split(",")
    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        real = copy_real(Path(tmp) / "course")
        course = real.root
        subs = Path(tmp) / "submissions"
        _run([PY, "-m", "doit", "student"], course, args.timeout)
        edition = Path(tmp) / "student"
        if (course / "build" / "student").is_dir():
            shutil.move(course / "build" / "student", edition)
        shutil.rmtree(course / "build", ignore_errors=True)
        kinds, targets = make_class(course, subs, args.count, edition if edition.is_dir() else None)
        single = one_build(course, args.timeout)
        shutil.rmtree(course / "build")
        summary = ""
        if "local" in executors:
            seconds, summary = grade(course, subs, args.timeout)
            rows.append(("local pool", seconds, args.count))
        for workers in (1, 2):
            if str(workers) not in executors:
                continue
            from distributed import LocalCluster

            shutil.rmtree(course / "build" / "grades", ignore_errors=True)
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=":0") as cluster:  # type: ignore[no-untyped-call]
                seconds, summary = grade(course, subs, args.timeout, cluster.scheduler_address)
                rows.append((f"LocalCluster {workers} worker{'s' if workers > 1 else ''}", seconds, args.count))
        book = json.loads((course / "build/grades/grades.json").read_text(encoding="utf-8"))
        contained = hostile(book, kinds, targets)
        per_student = [float(s["seconds"] or 0) for s in book["students"]]
        regrades = []
        for label, path in (("a leaf module resubmitted", subs / "s000" / str(real.source(real.leaf_module)
                                                                                 .relative_to(course))),
                            ("the root module resubmitted", subs / "s000" / str(real.source(real.root_module)
                                                                                   .relative_to(course))),
                            ("one module's test file changed", course / str(manifest_modules(course)[
                                real.leaf_module]["tests"][0]))):  # type: ignore[index]
            path.write_text(path.read_text(encoding="utf-8") + "\n# a change\n", encoding="utf-8")
            before = written(course)
            secs = grade(course, subs, args.timeout)[0]
            regrades.append((f"regrade: {label} (local pool)", secs, regraded(course, before)))
        scratch = sorted(p.name for p in (course / "build/grades/scratch").glob("*"))
        left = leftovers(Path(tmp))
    report = {"count": args.count, "single_build": single, "rows": rows, "regrades": regrades, "kinds": kinds,
              "per_submission_in_worker": sum(per_student) / max(1, len(per_student)), "hostile": contained,
              "isolation": book["isolation"], "scratch_left": scratch, "processes_left": left,
              "statuses": {s["student"]: [r["status"] for r in s["rows"]] for s in book["students"]}}
    print(render(report))
    print(summary)
    out = REPO / "build" / "bench" / "grade.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"written: {out}")
    return 0


def render(r: dict[str, Any]) -> str:
    """The benchmark's table and figures, as the README quotes them."""
    single, count = r["single_build"], r["count"]
    lines = [f"class of {count}: {dict(collections.Counter(r['kinds'].values()))}",
             f"one `doit validate init integration system` in one repository: {single:.1f} s",
             f"{'executor':<48} {'wall s':>8} {'s/submission':>13} {'vs one doit':>12}"]
    for name, secs, n in r["rows"]:
        lines.append(f"{name:<48} {secs:>8.1f} {secs / n:>13.2f} {secs / n / single:>11.2f}x")
    lines.append(f"mean grading time of one submission inside its worker: {r['per_submission_in_worker']:.1f} s")
    timed = {name: secs for name, secs, _ in r["rows"]}
    if "LocalCluster 1 worker" in timed and "LocalCluster 2 workers" in timed:
        lines.append(f"speed-up 1 -> 2 workers: {timed['LocalCluster 1 worker'] / timed['LocalCluster 2 workers']:.2f}x")
    lines.append(f"{'regrade':<48} {'wall s':>8} {'units re-graded':>16}  (per submission rewritten)")
    lines += [f"{name:<48} {secs:>8.1f} {sum(units.values()):>16}  {units}" for name, secs, units in r["regrades"]]
    lines.append("hostile submissions (contained: the class finished; marked: the module is not done):")
    lines += [f"  {h['student']} {h['kind']:<7} {h['module']:<13} {h['status']:<9} {h['reason']}" for h in r["hostile"]]
    lines.append(f"all hostile marked: {all(h['marked'] == 'True' for h in r['hostile'])}; "
                 f"scratch trees left: {len(r['scratch_left'])}; processes left: {len(r['processes_left'])}")
    lines.append("isolation active: " + "; ".join(r["isolation"].get("active", [])))
    if r["isolation"].get("missing"):
        lines.append("isolation missing: " + "; ".join(r["isolation"]["missing"]))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
