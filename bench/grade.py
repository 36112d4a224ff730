"""`python -m bench.grade`: grade a generated class of the real course three ways; a table and JSON.

    .venv/bin/python -m bench.grade                 # 40 submissions: local pool, LocalCluster 1 and 2 workers
    .venv/bin/python -m bench.grade --count 8       # a smaller class

Submissions are made from the reference and from the student edition (`doit student`):
complete, partly done (the later half of the modules as the student edition ships them),
wrong in one module, hanging, printing 100 MB, forking without end, deleting the tests. Everything runs
in a temporary directory; results go to build/bench/grade.json. Not part of CI.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def make_class(course: Path, dest: Path, count: int, edition: Path | None = None) -> dict[str, str]:
    """`count` submissions under `dest`, a mix of kinds; student -> kind."""
    mods = manifest_modules(course)
    sources = [str(m["source"]) for m in mods.values()]
    kinds = ["complete", "partial", "wrong", "complete", "partial", *HOSTILE, "complete", "wrong"]
    made: dict[str, str] = {}
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
    return made


def grade(course: Path, subs: Path, scheduler: str = "") -> tuple[float, str]:
    args = [PY, "-m", "doit", "grade", "--submissions", str(subs)] + (["--scheduler", scheduler] if scheduler else [])
    start = time.perf_counter()
    out = subprocess.run(args, cwd=course, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"doit grade failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return seconds, out.stdout


def one_build(course: Path) -> float:
    start = time.perf_counter()
    subprocess.run([PY, "-m", "doit", "validate", "init", "integration", "system"], cwd=course,
                   capture_output=True, env={**os.environ, "NO_COLOR": "1"})
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.grade")
    parser.add_argument("--count", type=int, default=40)
    args = parser.parse_args(argv)
    from distributed import LocalCluster

    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        course = copy_real(Path(tmp) / "course").root
        subs = Path(tmp) / "submissions"
        subprocess.run([PY, "-m", "doit", "student"], cwd=course, capture_output=True)
        edition = Path(tmp) / "student"
        if (course / "build" / "student").is_dir():
            shutil.move(course / "build" / "student", edition)
        shutil.rmtree(course / "build", ignore_errors=True)
        kinds = make_class(course, subs, args.count, edition if edition.is_dir() else None)
        single = one_build(course)
        shutil.rmtree(course / "build")
        seconds, summary = grade(course, subs)
        rows.append(("local pool", seconds, args.count))
        for workers in (1, 2):
            shutil.rmtree(course / "build" / "grades", ignore_errors=True)
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster:  # type: ignore[no-untyped-call]
                rows.append((f"LocalCluster {workers} worker{'s' if workers > 1 else ''}",
                             grade(course, subs, cluster.scheduler_address)[0], args.count))
        changed = subs / "s000" / str(next(iter(manifest_modules(course).values()))["source"])
        changed.write_text(changed.read_text(encoding="utf-8") + "\n# a resubmission\n", encoding="utf-8")
        rows.append(("regrade after one resubmission (local pool)", grade(course, subs)[0], 1))
        book = json.loads((course / "build/grades/grades.json").read_text(encoding="utf-8"))
    print(f"one `doit` in one repository: {single:.1f} s; class of {args.count}: {dict(sorted(kinds.items()))}")
    print(f"{'executor':<46} {'wall s':>8} {'s/submission':>13}")
    for name, secs, n in rows:
        print(f"{name:<46} {secs:>8.1f} {secs / n:>13.2f}")
    one, two = rows[1][1], rows[2][1]
    print(f"speed-up 1 -> 2 workers: {one / two:.2f}x")
    print(summary)
    out = REPO / "build" / "bench" / "grade.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"single_build": single, "rows": rows, "kinds": kinds,
                               "statuses": {s["student"]: [r["status"] for r in s["rows"]] for s in book["students"]}},
                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
