"""The trusted side of grading one submission: intake, scratch tree, isolated run, checks, grades.

`grade(job, layers)` is what a pool process or a Dask worker runs. It never raises for
anything a submission does: every outcome is a result record (see `tasks.grade.gradebook`).
Each unit (`tasks.grade.jobs.Unit`) is keyed from what was actually taken; a clean stored
result's rows are kept for the units whose key holds, and only the others are graded again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tasks.core import layout
from tasks.grade import agent, intake, isolate, verdict
from tasks.grade.isolate import Layers
from tasks.grade.jobs import GradeJob

RESULT_SCHEMA = 2


def placeholder(rel_target: str, reason: str) -> bytes:
    """A source standing in for one the submission lacks: it exports, and fails on import with `reason`."""
    return (f"# %%\n#| default_exp {rel_target}\n\n# %%\n#| export\n"
            f"raise ImportError({('not graded: ' + reason)!r})\n").encode()


def record(job: GradeJob, rows: list[verdict.Row], seconds: float, layers: Layers, *, fatal: str | None = None,
           tampered: str | None = None, log: str = "", units: dict[str, str] | None = None,
           ran: list[str] | None = None) -> dict[str, Any]:
    """The stored result of one submission; `units`: each unit's key (only a clean run's rows are reused),
    `ran`: the units graded in this run (the others' rows were reused)."""
    if tampered:
        rows = [{**r, "status": "tampered", "reason": tampered} for r in rows]
    return {"schema": RESULT_SCHEMA, "student": job.student, "key": job.key, "submission": Path(job.submission.path).name,
            "fatal": fatal, "tampered": tampered, "rows": rows, "seconds": round(seconds, 2),
            "layers": layers.active(), "log": log[-8000:],
            "units": {} if fatal or tampered else (units or {}),
            "ran": [r["item"] for r in rows] if ran is None else ran}


def unit_keys(job: GradeJob, taken: intake.Intake) -> dict[str, str]:
    """Each unit's key from what was actually taken: its own instructor files, the student's sources it runs
    (or why one was not taken), and what every unit shares."""
    paths = job.sources
    digests = {name: hashlib.sha256(taken.sources[src]).hexdigest() if src in taken.sources
               else "problem:" + taken.problems.get(src, "missing") for name, src in paths.items()}
    return {u.item: hashlib.sha256("\0".join([job.common, u.digest, *(f"{n}={digests.get(n, '')}" for n in u.reach)])
                                   .encode()).hexdigest() for u in job.units}


def previous(job: GradeJob) -> dict[str, Any] | None:
    """This student's last stored result, when its rows can be reused (a clean run of this schema)."""
    try:
        data = json.loads(layout.at(job.root, layout.grade_result(job.student)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != RESULT_SCHEMA or data.get("fatal") or data.get("tampered"):
        return None
    return data if isinstance(data.get("units"), dict) and data["units"] else None


def stale_units(job: GradeJob, keys: dict[str, str], before: dict[str, Any] | None) -> list[str]:
    """The units to grade again: those whose key changed, and those that were blocked by one of them
    (a unit that was tested keeps its row: what it needs only decides whether it is blocked now, and a
    unit blocked by what did not change stays blocked)."""
    old = (before or {}).get("units", {})
    rows = {r["item"]: r for r in (before or {}).get("rows", [])}
    stale: set[str] = set()
    for u in job.units:  # modules in course order, then suites: what a unit needs comes before it
        if keys[u.item] != old.get(u.item) or u.item not in rows or \
                any(n in stale for n in rows[u.item].get("blocked_by", ())):
            stale.add(u.item)
    return [u.item for u in job.units if u.item in stale]


def goals(job: GradeJob, stale: list[str], last: dict[str, Any]) -> list[str]:
    """The inner doit's tasks for a partial regrade, run without their task_dep (`tasks.grade.single`):
    the exports the stale units run, and only their own checks and tests (the units they need keep their
    stored rows). A unit that a kept row blocks is not run at all (`tasks.grade.verdict` marks it)."""
    units = {u.item: u for u in job.units}
    kept = {r["item"]: r for r in last.get("rows", []) if r["item"] not in stale}
    want = {item for item in stale if all(kept[n]["status"] == "done" for n in units[item].needs if n in kept)}
    stale = [item for item in stale if item in want]
    reach = {n for item in stale for n in units[item].reach}
    out = [*(layout.task("export", n) for n, _, _ in job.modules if n in reach)]
    out += [layout.task(s, n) for n, _, _ in job.modules if n in want for s in ("check", "test")]
    suites = [u for u in job.units if u.kind != "module" and u.item in want]
    if any(set(u.reach) == set(job.sources) for u in suites):
        out.append("init")
    return out + [u.item for u in suites]


def _every_module(job: GradeJob, status: verdict.Grade, reason: str) -> list[verdict.Row]:
    return [verdict.blank(name, status, reason) for name, _, _ in job.modules]


def read_channel(output: bytes, nonce: str) -> tuple[dict[str, Any] | None, str | None]:
    """The agent's signed body, and a tampering reason when the channel held anything else."""
    lines = [ln for ln in output.split(b"\n") if ln.strip()]
    good: list[dict[str, Any]] = []
    bad = 0
    for line in lines:
        try:
            msg = json.loads(line)
            body, mac = msg["body"], msg["mac"]
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        if isinstance(body, dict) and isinstance(mac, str) and hmac.compare_digest(agent.sign(nonce, body), mac):
            good.append(body)
        else:
            bad += 1
    if bad or len(good) > 1:
        return (good[-1] if good else None), (f"the result channel was written to by the submission's code "
                                              f"({bad} unsigned or forged message{'s' if bad != 1 else ''}); "
                                              "its results are not trusted")
    return (good[0] if good else None), None


def _changed(scratch: Path, before: dict[str, str]) -> list[str]:
    after = isolate.digest_files({rel: scratch / rel for rel in before})
    return sorted(rel for rel, digest in before.items() if after.get(rel) != digest)


def grade(job: GradeJob, layers: Layers) -> dict[str, Any]:
    """Grade one submission (see the module docstring)."""
    start = time.monotonic()
    taken = intake.take(job.submission, [src for _, src, _ in job.modules])
    if taken.fatal:
        return record(job, _every_module(job, "error", taken.fatal), time.monotonic() - start, layers,
                      fatal=taken.fatal)
    keys = unit_keys(job, taken)
    last = previous(job)
    stale = stale_units(job, keys, last)
    partial = last is not None and len(stale) < len(job.units)
    items = {u.item for u in job.units}  # a unit the course no longer has is not kept
    if last is not None and not stale:
        return {**last, "key": job.key, "units": keys, "ran": [], "seconds": round(time.monotonic() - start, 2),
                "rows": [r for r in last["rows"] if r["item"] in items]}
    root = Path(job.root)
    scratch = layout.at(root, layout.grade_scratch(job.student))
    sources = dict(taken.sources)
    for _, src, target in job.modules:
        if src in taken.problems:
            sources[src] = placeholder(target, taken.problems[src])
    uid = isolate.uid_for(job.student) if layers.uid else None
    try:
        files = {**{rel: root / rel for rel in job.files},
                 **{rel: Path(job.build_system, rel) for rel in job.system_files}}
        isolate.make_scratch(files, scratch, sources, uid)
        before = isolate.digest_files(files)
        nonce = secrets.token_hex(32)
        goal_line = json.dumps(goals(job, stale, last or {}) if partial else [])
        ran = isolate.run([sys.executable, "-m", agent.__name__], scratch, isolate.environment(scratch, scratch),
                          f"{nonce}\n{goal_line}\n".encode(), layers, job.limits, job.student, uid)
        body, tampered = read_channel(ran.output, nonce)
        changed = _changed(scratch, before) or restored_by_build(body)
        if changed:
            tampered = (f"the submission's code changed the instructor's {', '.join(changed[:3])}"
                        f"{' and more' if len(changed) > 3 else ''}; its results are not trusted")
        timed_out = ran.returncode is None
        if body is None and not tampered:
            reason = (f"the submission's run was stopped at its {job.limits.wall:g} s limit" if timed_out
                      else f"the grading run ended without a result (exit {ran.returncode})")
            return record(job, _every_module(job, "timeout" if timed_out else "error", reason),
                          time.monotonic() - start, layers, fatal=reason)
        reuse: dict[str, verdict.Row] = {r["item"]: r for r in last["rows"] if r["item"] in items
                                         and r["item"] not in stale} if partial and last else {}
        rows = verdict.grade_all(body or {}, taken.problems, job.sources, timed_out,
                                 {u.item: u.needs for u in job.units}, reuse)
        return record(job, rows, time.monotonic() - start, layers, tampered=tampered, log=(body or {}).get("log", ""),
                      units=keys, ran=stale)
    except OSError as exc:
        reason = f"the grader could not prepare or run this submission: {exc}"
        return record(job, _every_module(job, "error", reason), time.monotonic() - start, layers, fatal=reason)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


RESTORED = re.compile(r"changed course files; each was restored:\n((?:  \S+: (?:changed|deleted) by .*\n?)+)")


def restored_by_build(body: Any) -> list[str]:
    """Instructor files the build itself caught the submission changing, and restored (tasks.sandbox.keep):
    the digests match again afterwards, but the run was tampered with all the same."""
    found: set[str] = set()
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            for m in RESTORED.finditer(item):
                found.update(line.strip().split(": ", 1)[0] for line in m.group(1).splitlines() if line.strip())
    return sorted(found)
