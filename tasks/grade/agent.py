"""The grading run inside a submission's scratch tree (run by `tasks.grade.jail`, inside every isolation layer).

    python -m tasks.grade.agent     (stdin: the nonce, then a JSON list of doit goals, [] for the whole build)

It reads the per-run nonce and the goals (a partial regrade names only the tasks of the units to grade
again, `tasks.grade.worker.goals`), closes stdin, runs the instructor's pipeline with `doit` as a child
(no stdin, its output kept to a tail), reads what the build wrote through the status model, and
prints ONE line: the results and an HMAC of them keyed by the nonce. The nonce is never in an
environment, an argument or a file, so the student's code (run by the build, further down) cannot
sign a result of its own: a line it injects into this channel fails the check and is flagged.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tasks.sandbox.bytecode import UNTRUSTED_ENV

GOALS = ("validate", "init", "integration", "system")
LOG_TAIL = 20_000
FAILURES = 20  # failures kept per module or suite


def sign(nonce: str, body: dict[str, Any]) -> str:
    """The HMAC-SHA256 of `body` in canonical JSON, keyed by `nonce`."""
    blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(nonce.encode(), blob, hashlib.sha256).hexdigest()


def _run_doit(root: Path, goals: list[str]) -> tuple[int, str]:
    cmd = ["-m", "tasks.grade.single", *goals] if goals else ["-m", "doit", *GOALS]
    env = {**os.environ, UNTRUSTED_ENV: "1"}
    proc = subprocess.Popen([sys.executable, *cmd], cwd=root, stdin=subprocess.DEVNULL, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, close_fds=True)
    assert proc.stdout is not None
    tail: collections.deque[bytes] = collections.deque()
    size = 0
    for chunk in iter(lambda: proc.stdout.read(1 << 16), b""):  # type: ignore[union-attr]
        tail.append(chunk)
        size += len(chunk)
        while size - len(tail[0]) > LOG_TAIL:
            size -= len(tail.popleft())
    return proc.wait(), b"".join(tail)[-LOG_TAIL:].decode("utf-8", "replace")


def _failures(result: dict[str, Any] | None, root: Path) -> list[dict[str, Any]]:
    """The failures of a result file, with paths relative to the tree (as the student's repository has them)."""
    prefix = f"{root}/"
    out = []
    for f in (result or {}).get("failures", [])[:FAILURES]:
        crash = f.get("crash") or []
        out.append({"test": str(f.get("test", "")),
                    "message": str(crash[2]).replace(prefix, "") if len(crash) > 2 and crash[2] else "",
                    "place": f"{crash[0]}:{crash[1]}".replace(prefix, "") if len(crash) > 1 and crash[0] else "",
                    "text": str(f.get("text", ""))[-2000:].replace(prefix, "")})
    return out


def collect(root: Path) -> dict[str, Any]:
    """What the build left in `root`, read through the status model (`tasks.reports.status`)."""
    from tasks.core import layout
    from tasks.model.manifest import read_manifest
    from tasks.reports import status
    from tasks.steps.export import module_path

    manifest = read_manifest(root)
    entries = tuple(status.Entry(m.name, i, m.source, m.target, module_path(Path(manifest.lib), m.target).as_posix(),
                                 m.depends, m.tests) for i, m in enumerate(manifest.modules, start=1))
    job = status.ReportJob(str(root), manifest.package, entries, tuple((m.target, m.name) for m in manifest.modules))
    modules = []
    for m in status.collect_modules(root, job.entries, details=True):
        result = status.read_json(layout.at(root, layout.result("test", m["name"])))
        modules.append({
            "name": m["name"], "status": m["status"], "blocked_by": m["blocked_by"],
            **{s: {"status": m[s]["status"], "message": (m[s]["message"] or "")[:4000],  # type: ignore[literal-required]
                   "place": m[s]["place"]} for s in layout.STAGES},  # type: ignore[literal-required]
            "passed": m["tests_passed"], "failed": m["tests_failed"], "skipped": m["tests_skipped"],
            "exported_names": len(m["exported_names"]), "exported_lines": m["exported_lines"],
            "note": (result or {}).get("note"), "exit_code": (result or {}).get("exit_code"),
            "failures": _failures(result, root),
        })
    integration, system = status.collect_suites(root, job)
    suites = []
    for s in (*integration, *system):
        result = status.read_json(layout.at(root, layout.result(s["kind"], layout.suite_name(Path(s["path"]).stem))))
        suites.append({"name": s["task"], "kind": s["kind"], "path": s["path"], "status": s["status"],
                       "passed": s["passed"], "failed": s["failed"], "message": (s["message"] or "")[:4000],
                       "place": s["place"], "failures": _failures(result, root)})
    return {"modules": modules, "suites": suites}


def main() -> int:
    nonce = sys.stdin.readline().strip()
    try:
        goals = [str(g) for g in json.loads(sys.stdin.readline() or "[]")]
    except ValueError:
        goals = []
    sys.stdin.close()
    root = Path.cwd()
    code, log = _run_doit(root, goals)
    try:
        body: dict[str, Any] = {**collect(root), "doit_exit": code, "log": log.replace(f"{root}/", "")}
    except Exception as exc:  # a tree the build could not even read: report it, signed
        body = {"modules": [], "suites": [], "doit_exit": code, "log": log, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps({"body": body, "mac": sign(nonce, body)}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
