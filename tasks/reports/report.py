"""`doit report` and `doit graph`: the pages and pictures made from the status model (`tasks.reports.status`).

Nothing is re-run. `report.json` follows `Report` (tasks/reports/schema.py); `schema_version`
changes when a field changes meaning or disappears (adding a field keeps the version).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tasks.core import atomic, layout
from tasks.reports.schema import SCHEMA_VERSION, ModuleReport, Report, TimingReport, WheelReport
from tasks.reports.status import ReportJob, collect_modules, collect_suites, first_failure, progress_summary, read_timings

if TYPE_CHECKING:  # tasks.reports.picture is imported by the actions only
    from tasks.reports.picture import Node


def wheels(root: Path) -> list[WheelReport]:
    out: list[WheelReport] = []
    for path in sorted(layout.at(root, layout.DIST).glob("*.whl")):
        data = path.read_bytes()
        out.append({"file": path.relative_to(root).as_posix(), "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()})
    return out


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def nodes(modules: Sequence[ModuleReport]) -> list[Node]:
    from tasks.reports.picture import Node

    return [Node(m["name"], m["number"], tuple(m["depends"]), m["status"]) for m in modules]


def collect(job: ReportJob) -> Report:
    """The whole report, from what is on disk."""
    from tasks.reports.picture import to_mermaid

    root = Path(job.root)
    modules = collect_modules(root, job.entries)
    integration, system = collect_suites(root, job)
    timings: list[TimingReport] = [
        {"task": t, "status": str(r.get("status")), "seconds": float(r.get("seconds") or 0.0),
         "finished": _iso(float(r.get("finished") or 0.0))}
        for t, r in read_timings(root).items()]
    timings.sort(key=lambda t: -t["seconds"])
    count = {s: sum(m["status"] == s for m in modules) for s in ("passed", "failed", "blocked", "stale", "not built")}
    report: Report = {
        "schema_version": SCHEMA_VERSION,
        "generated": _iso(time.time()),
        "package": job.package,
        "summary": {"modules": len(modules), "passed": count["passed"], "failed": count["failed"],
                    "blocked": count["blocked"], "stale": count["stale"], "not_built": count["not built"]},
        "first_failure": first_failure(modules, [*integration, *system]),
        "modules": modules,
        "integration": integration,
        "system": system,
        "wheels": wheels(root),
        "timings": timings,
        "mermaid": to_mermaid(nodes(modules)),
        "progress": progress_summary(modules),  # None outside a student tree
    }
    return report


# -- actions ---------------------------------------------------------------------------------------
def picture_svg(report: Report) -> str:
    """The dependency picture for the page: Graphviz's when installed, else the built-in one."""
    from tasks.reports.picture import graphviz, inline_svg, to_dot, to_svg

    svg = graphviz(to_dot(nodes(report["modules"]), report["package"]), "svg")
    return inline_svg(svg) if svg else to_svg(nodes(report["modules"]))


def write_reports(job: ReportJob) -> dict[str, Any]:
    """Write index.html, report.md and report.json under build/reports/."""
    from tasks.reports.pages import render_html, render_markdown

    root = Path(job.root)
    report = collect(job)
    out = layout.at(root, layout.REPORTS)
    atomic.write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    atomic.write_text(out / "report.md", render_markdown(report))
    atomic.write_text(out / "index.html", render_html(report, picture_svg(report)))
    s = report["summary"]
    print(f"wrote {layout.REPORTS}/index.html, report.md, report.json: {s['passed']} of {s['modules']} modules passed, "
          f"{s['failed']} failed, {s['blocked']} blocked, {s['stale']} stale, {s['not_built']} not built")
    return {"summary": dict(s)}


def write_graph(job: ReportJob) -> dict[str, Any]:
    """Write graph.dot and graph.mmd, and graph.svg/graph.png when Graphviz is installed."""
    from tasks.reports.picture import INSTALL_HINT, graphviz, to_dot, to_mermaid

    root = Path(job.root)
    graph = nodes(collect_modules(root, job.entries, details=False))
    out = layout.at(root, layout.REPORTS)
    dot = to_dot(graph, job.package)
    atomic.write_text(out / "graph.dot", dot)
    atomic.write_text(out / "graph.mmd", to_mermaid(graph))
    written = ["graph.dot", "graph.mmd"]
    formats: tuple[Literal["svg", "png"], ...] = ("svg", "png")
    for fmt in formats:
        data = graphviz(dot, fmt)
        if data:
            atomic.write_bytes(out / f"graph.{fmt}", data)
            written.append(f"graph.{fmt}")
    print(f"wrote {', '.join(f'{layout.REPORTS}/{w}' for w in written)}")
    if len(written) == 2:
        print(f"note: {INSTALL_HINT}")
    return {"written": written}


def inputs(root: Path, files: Sequence[str]) -> list[str]:
    """The files a report is made from: results, export records, timings, wheels, and the given
    sources and tests (so that a report shows an edited module as stale)."""
    found = [f for f in files if (root / f).is_file()]
    for sub in layout.REPORT_INPUTS:
        folder = f"{layout.BUILD}/{sub}"
        try:
            with os.scandir(layout.at(root, folder)) as it:
                found += sorted(f"{folder}/{d.name}" for d in it if d.name.endswith((".json", ".whl")))
        except OSError:
            continue
    if layout.at(root, layout.TIMINGS).is_file():
        found.append(layout.TIMINGS)
    return found


class InputsUnchanged:
    """doit `uptodate`: the report's input files hold the same bytes as when it was last made.

    Not `file_dep`: the results are other tasks' targets, and doit would run those tasks
    first; a report shows the state of the build, it never changes it. Computed only
    when the task is considered, so loading the task list stays cheap.
    """

    KEY = "_inputs"

    def __init__(self, root: str, files: tuple[str, ...], extra: dict[str, Any]) -> None:
        self.root = root
        self.files = files
        self.extra = extra
        self._digest: str | None = None

    def digest(self) -> str:
        if self._digest is None:
            root = Path(self.root)
            h = hashlib.md5(json.dumps(self.extra, sort_keys=True).encode())
            for rel in inputs(root, self.files):
                try:
                    h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
                except OSError:
                    continue
            self._digest = h.hexdigest()
        return self._digest

    def configure_task(self, task: Any) -> None:
        task.value_savers.append(lambda: {self.KEY: self.digest()})

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        return bool(values.get(self.KEY) == self.digest())
