"""`python -m bench.watch`: save to verdict under `doit watch`, on a copy of the real course.

    .venv/bin/python -m bench.watch                 # layers, 5 saves (median, min-max)
    .venv/bin/python -m bench.watch --module tensor --runs 3

One `doit watch` is started in a copy of the repository (no build/), brought up to date,
then each run saves a code edit of an exported cell of the module (a new value each time,
written by rename as editors do) and reads the watch's stdout: "save -> own verdict" is
the time until the `verdict <module>:` line, "save -> status" until the `status:` line,
that is the whole affected closure (dependants, init, integration and system tests).
Results: a table on stdout and build/bench/watch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from bench.courses import REPO, copy_real, manifest_modules
from bench.scenarios import PY, environ


class Watch:
    """A running `doit watch`, its stdout read line by line with the time each line arrived."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([PY, "-m", "doit", "watch"], cwd=root, env={**env, "PYTHONUNBUFFERED": "1"},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self.lines.put((time.perf_counter(), line.rstrip("\n")))

    def until(self, prefix: str, timeout: float = 900) -> tuple[float, str, list[str]]:
        """Wait for a line starting with `prefix`: when it came, the line, and the lines before it."""
        before: list[str] = []
        deadline = time.perf_counter() + timeout
        while True:
            try:
                at, line = self.lines.get(timeout=1.0)
            except queue.Empty:
                if self.proc.poll() is not None or time.perf_counter() > deadline:
                    msg = f"doit watch ended or stalled before {prefix!r}:\n" + "\n".join(before[-40:])
                    raise RuntimeError(msg) from None
                continue
            if line.startswith(prefix):
                return at, line, before
            before.append(line)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=120)


def save(path: Path, text: str) -> float:
    tmp = path.with_name(f".{path.name}.bench")
    tmp.write_text(text, encoding="utf-8")
    at = time.perf_counter()
    os.replace(tmp, path)
    return at


def bench(module: str, runs: int, scratch: Path) -> dict[str, Any]:
    course = copy_real(scratch / "real")
    env = environ(course)
    source = course.root / str(manifest_modules(course.root)[module]["source"])
    original = source.read_text(encoding="utf-8")
    watch = Watch(course.root, env)
    rows: list[dict[str, Any]] = []
    try:
        watch.until("status: ")  # the cold build
        for k in range(runs):
            saved = save(source, original + f"\n# %%\n#| export\n_bench_watch_edit = {k}\n")
            verdict_at, verdict, _ = watch.until(f"verdict {module}: ")
            status_at, status, between = watch.until("status: ")
            ran = [line[3:].strip() for line in between if line.startswith(".  ")]
            rows.append({"verdict": round(verdict_at - saved, 3), "status": round(status_at - saved, 3),
                         "verdict_line": verdict, "status_line": status, "tasks_after_verdict": len(ran)})
            print(f"[bench.watch] run {k + 1}: verdict {verdict_at - saved:.2f} s, status {status_at - saved:.2f} s "
                  f"({verdict.split('  (')[0]})", file=sys.stderr, flush=True)
    finally:
        code = watch.stop()
    verdicts, statuses = [r["verdict"] for r in rows], [r["status"] for r in rows]
    return {"schema": 1, "module": module, "runs": runs, "exit_code": code, "rows": rows,
            "verdict": {"median": statistics.median(verdicts), "min": min(verdicts), "max": max(verdicts)},
            "status": {"median": statistics.median(statuses), "min": min(statuses), "max": max(statuses)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.watch", description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="layers")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        result = bench(args.module, args.runs, Path(tmp))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "watch.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    v, s = result["verdict"], result["status"]
    print(f"| scenario (real course, {args.runs} saves) | median | min-max |\n|---|---|---|\n"
          f"| save -> own verdict, {args.module} code edit | {v['median']:.2f} s | {v['min']:.2f}-{v['max']:.2f} s |\n"
          f"| save -> status line (whole affected closure) | {s['median']:.2f} s | {s['min']:.2f}-{s['max']:.2f} s |")
    return 0 if result["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
