"""The report tasks: `doit report` and `doit graph` (not default tasks; they re-run nothing)."""

from __future__ import annotations

from typing import Any

from tasks.core import layout
from tasks.plan.actions import action, version
from tasks.plan.pipeline import Pipeline
from tasks.reports.report import InputsUnchanged
from tasks.reports.status import Entry, ReportJob

TaskDict = dict[str, Any]
WRITE_REPORTS = "tasks.reports.report:write_reports"
WRITE_GRAPH = "tasks.reports.report:write_graph"


def report_job(p: Pipeline) -> ReportJob:
    entries = tuple(Entry(m.name, i, m.source, m.target, p.generated(m.name), m.depends, m.tests)
                    for i, m in enumerate(p.manifest.modules, start=1))
    return ReportJob(str(p.root), p.manifest.package, entries, tuple(p.targets.items()))


class Reports:
    """`doit report` and `doit graph`, made from the course's pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline

    def _uptodate(self, dot: bool) -> InputsUnchanged:
        mods = self.p.manifest.modules
        files = ("modules.yaml", *(path for m in mods for path in (m.source, *m.tests)))
        extra = {"code": version(WRITE_REPORTS), "dot": dot, "modules": [m.entry() for m in mods]}
        return InputsUnchanged(str(self.p.root), files, extra)

    def task_report(self) -> TaskDict:
        """`doit report`: build/reports/index.html, report.md, report.json (not a default task)."""
        from tasks.reports.picture import dot_program

        return {
            "doc": f"{layout.REPORTS}: index.html, report.md, report.json from the last results (re-runs nothing)",
            "actions": [action(WRITE_REPORTS, report_job(self.p))],
            "targets": [layout.report_file(f) for f in ("index.html", "report.md", "report.json")],
            "uptodate": [self._uptodate(bool(dot_program()))],
            "clean": True,
            "verbosity": 2,
        }

    def task_graph(self) -> TaskDict:
        """`doit graph`: the dependency picture as DOT, Mermaid, and SVG/PNG with Graphviz (not a default task)."""
        from tasks.reports.picture import dot_program

        dot = bool(dot_program())
        return {
            "doc": f"{layout.REPORTS}/graph.{{dot,mmd}} and, with Graphviz installed, graph.{{svg,png}}",
            "actions": [action(WRITE_GRAPH, report_job(self.p))],
            "targets": [layout.report_file(f"graph.{ext}") for ext in ("dot", "mmd", *(("svg", "png") if dot else ()))],
            "uptodate": [self._uptodate(dot)],
            "clean": True,
            "verbosity": 2,
        }
