"""The report rendered for people: one self-contained HTML page (no network, no scripts) and Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from tasks.core import layout
from tasks.reports.picture import COLOURS, STATUSES
from tasks.reports.status import reason

if TYPE_CHECKING:
    from tasks.reports.schema import ModuleReport, Report, StageReport, SuiteReport

MARK = {"passed": "passed", "failed": "FAILED", "blocked": "blocked", "stale": "stale", "not built": "not built"}


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


def _secs(s: float | None) -> str:
    return "" if s is None else f"{s:.2f} s"


def _ranges(lines: Sequence[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9'."""
    out: list[str] = []
    start = prev = None
    for n in sorted(lines):
        if start is None:
            start = prev = n
        elif prev is not None and n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if start != prev else f"{start}")
    return ", ".join(out)


def _tests(m: ModuleReport) -> str:
    if m["tests_passed"] is None:
        return ""
    return f"{m['tests_passed']}/{m['tests_passed'] + (m['tests_failed'] or 0)}"


def _cov(m: ModuleReport) -> str:
    return "" if m["coverage"] is None else f"{m['coverage']['percent']:.1f}%"


def _why(m: ModuleReport) -> str:
    """A short reason for a module that did not pass (in a student tree: its progress first)."""
    p = m["progress"]
    if p is not None:
        return p["label"] + (f" at {p['place']}" if p["state"] == "failing" and p["place"] else "")
    why = reason(m)
    after = f" (after failed {', '.join(why.blocked_by)})" if why.blocked_by else ""
    if why.failed:
        return f"{why.failed} failed" + (f" at {why.place}" if why.place else "") + after
    if why.blocked_by:
        return "blocked by " + ", ".join(why.blocked_by)
    if why.stale:
        return "inputs changed since " + "/".join(why.stale) + " last ran"
    return ""


# -- Markdown --------------------------------------------------------------------------------------
def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_suites(title: str, suites: Sequence[SuiteReport]) -> list[str]:
    out = [f"## {title}", ""]
    if not suites:
        return out + ["(none)", ""]
    out += ["| test file | status | passed | failed | seconds | where |", "|---|---|---|---|---|---|"]
    for s in suites:
        out.append(f"| `{s['path']}` | {MARK[s['status']]} | {s['passed'] if s['passed'] is not None else ''} | "
                   f"{s['failed'] if s['failed'] is not None else ''} | {_secs(s['seconds'])} | {s['place'] or ''} |")
    return out + [""]


def render_markdown(report: Report) -> str:
    """report.md: the same content as the page, the graph as a Mermaid block."""
    s = report["summary"]
    out = [f"# {report['package']} build report", "",
           f"Generated {report['generated']}. **{s['passed']} of {s['modules']} modules passed**, {s['failed']} failed, "
           f"{s['blocked']} blocked, {s['stale']} stale, {s['not_built']} not built.", ""]
    ff = report["first_failure"]
    if ff:
        out += ["## First failure", "", f"**{ff['task']}** at `{ff['place'] or '?'}`: {ff['hint']}", "", "```text",
                ff["message"].strip()[:3000], "```", ""]
    out += ["## Modules", "",
            "| # | module | target | depends | export | check | test | tests | coverage | exported names | lines | "
            "duration | note |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    seen: list[str] = []
    for m in report["modules"]:
        seen.append(m["name"])
        names = ", ".join(m["exported_names"][:12]) + (" ..." if len(m["exported_names"]) > 12 else "")
        deps = f"all earlier ({len(m['depends'])})" if _all_earlier(m, seen) else ", ".join(m["depends"]) or "-"
        out.append(f"| {m['number']} | **{m['name']}** | `{m['target']}` | {deps} | "
                   f"{MARK[m['export']['status']]} | {MARK[m['check']['status']]} | {MARK[m['test']['status']]} | "
                   f"{_tests(m)} | {_cov(m)} | {_md(names)} | {m['source_lines'] or ''} | {_secs(m['duration'])} | "
                   f"{_md(_why(m))} |")
    missed = [m for m in report["modules"] if m["coverage"] and m["coverage"]["missing_source"]]
    if missed:
        out += ["", "### Lines not run by the unit tests", ""]
        out += [f"- `{m['coverage']['source']}` lines {_ranges(m['coverage']['missing_source'])}"  # type: ignore[index]
                for m in missed]
    out += ["", "## Dependency graph", "", "```mermaid", report["mermaid"].rstrip(), "```", ""]
    out += _md_suites("Integration tests", report["integration"])
    out += _md_suites("System tests", report["system"])
    out += ["## Wheel", ""]
    out += [f"- `{w['file']}`: {_size(w['size'])}, sha256 `{w['sha256']}`" for w in report["wheels"]] or \
        [f"(no wheel in {layout.DIST}; run `doit wheel`)"]
    out += ["", "## Task timings (slowest first)", ""]
    if report["timings"]:
        out += ["| task | status | seconds | finished |", "|---|---|---|---|"]
        out += [f"| {t['task']} | {t['status']} | {t['seconds']:.2f} | {t['finished']} |" for t in report["timings"][:25]]
    else:
        out.append("(none recorded yet: run `doit`)")
    return "\n".join(out) + "\n"


# -- HTML ------------------------------------------------------------------------------------------
def _css() -> str:
    rules = [
        "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px;color:#1b1b1b}",
        "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}",
        "table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #d6d6d6;padding:3px 7px;"
        "text-align:left;vertical-align:top}th{background:#f3f3f3}td.num{text-align:right}",
        "code{font:12px ui-monospace,Menlo,Consolas,monospace}",
        ".pill{display:inline-block;padding:0 6px;border-radius:8px;border:1px solid;font-size:12px;white-space:nowrap}",
        ".names{max-width:300px;font-size:12px}.note{font-size:12px;max-width:320px}",
        "pre{background:#f7f7f7;border:1px solid #ddd;padding:8px;overflow:auto;max-height:340px;font-size:12px}",
        ".failure{border-left:5px solid #c62828;background:#fff5f5;padding:8px 12px;margin:12px 0}",
        ".picture svg{max-width:100%;height:auto}.legend span{margin-right:10px}",
    ]
    for status in STATUSES:
        fill, border = COLOURS[status]
        cls = status.replace(" ", "-")
        rules.append(f".s-{cls}{{background:{fill};border-color:{border}}}")
        rules.append(f"tr.row-{cls} td.mod{{box-shadow:inset 5px 0 0 {border}}}")
    return "\n".join(rules)


def _pill(status: str, extra: str = "") -> str:
    title = f' title="{escape(extra)}"' if extra else ""
    return f'<span class="pill s-{status.replace(" ", "-")}"{title}>{escape(MARK.get(status, status))}</span>'


def _stage_cell(st: StageReport) -> str:
    return f"<td>{_pill(st['status'], st['place'] or '')}</td>"


def _depends(m: ModuleReport, seen: Sequence[str]) -> str:
    """The dependency list, or 'all earlier' for a module that depends on every module before it."""
    deps = m["depends"]
    if _all_earlier(m, seen):
        return f'<span title="{escape(", ".join(deps))}">all earlier ({len(deps)})</span>'
    return escape(", ".join(deps) or "-")


def _all_earlier(m: ModuleReport, seen: Sequence[str]) -> bool:
    """Does `m` (the last of `seen`) depend on every module before it (`depends: all`), more than 3?"""
    return len(m["depends"]) > 3 and sorted(m["depends"]) == sorted(seen[:-1])


def _html_suites(title: str, suites: Sequence[SuiteReport]) -> list[str]:
    out = [f"<h2>{escape(title)}</h2>"]
    if not suites:
        return out + ["<p>(none)</p>"]
    out.append('<table class="suites"><tr><th>test file</th><th>status</th><th>passed</th><th>failed</th>'
               "<th>seconds</th><th>where</th></tr>")
    for s in suites:
        out.append(f"<tr class=\"row-{s['status'].replace(' ', '-')}\"><td><code>{escape(s['path'])}</code></td>"
                   f"<td>{_pill(s['status'])}</td><td class=num>{'' if s['passed'] is None else s['passed']}</td>"
                   f"<td class=num>{'' if s['failed'] is None else s['failed']}</td>"
                   f"<td class=num>{_secs(s['seconds'])}</td><td><code>{escape(s['place'] or '')}</code></td></tr>")
    return out + ["</table>"]


def render_html(report: Report, picture: str) -> str:
    """index.html: one page, styles inline, the dependency picture as inline SVG."""
    s = report["summary"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{escape(report['package'])} build report</title>", f"<style>{_css()}</style></head><body>",
           f"<h1>{escape(report['package'])} build report</h1>",
           f'<p class="summary">Generated {escape(report["generated"])}. <b>{s["passed"]} of {s["modules"]} modules '
           f"passed</b>, {s['failed']} failed, {s['blocked']} blocked, {s['stale']} stale, {s['not_built']} not built."
           "</p>"]
    ff = report["first_failure"]
    if ff:
        out.append(f'<div class="failure" id="first-failure"><b>First failure: {escape(ff["task"])}</b> at '
                   f"<code>{escape(ff['place'] or '?')}</code><br>{escape(ff['hint'])}"
                   f"<pre>{escape(ff['message'].strip()[:4000])}</pre></div>")
    out += ["<h2>Modules</h2>", '<table class="modules"><tr><th>#</th><th>module</th><th>target</th><th>depends</th>'
            "<th>export</th><th>check</th><th>test</th><th>tests</th><th>coverage</th><th>exported names</th>"
            "<th>source lines</th><th>last duration</th><th>note</th></tr>"]
    earlier: list[str] = []
    for m in report["modules"]:
        earlier.append(m["name"])
        cov = m["coverage"]
        cov_cell = _cov(m)
        if cov and cov["missing_source"]:
            cov_cell += (f'<br><small title="lines of {escape(cov["source"] or "")} not run by the unit tests">'
                         f"missed lines {escape(_ranges(cov['missing_source']))}</small>")
        out.append(
            f"<tr class=\"module row-{m['status'].replace(' ', '-')}\" data-module=\"{escape(m['name'])}\" "
            f"data-status=\"{m['status']}\"><td class=num>{m['number']}</td>"
            f"<td class=mod><b>{escape(m['name'])}</b><br>{_pill(m['status'])}</td><td><code>{escape(m['target'])}"
            f"</code></td><td>{_depends(m, earlier)}</td>{_stage_cell(m['export'])}"
            f"{_stage_cell(m['check'])}{_stage_cell(m['test'])}<td class=num>{_tests(m)}</td><td>{cov_cell}</td>"
            f"<td class=names>{escape(', '.join(m['exported_names']))}</td>"
            f"<td class=num>{m['source_lines'] or ''}</td><td class=num>{_secs(m['duration'])}</td>"
            f"<td class=note>{escape(_why(m))}</td></tr>")
    out.append("</table>")
    legend = "".join(f"{_pill(st)} " for st in STATUSES)
    out += ["<h2>Dependency graph</h2>",
            f'<p class="legend">{legend}&nbsp; arrows go from a module to those built on it; '
            "edges implied by longer paths are omitted.</p>", f'<div class="picture">{picture}</div>']
    out += _html_suites("Integration tests", report["integration"])
    out += _html_suites("System tests", report["system"])
    out.append("<h2>Wheel</h2>")
    if report["wheels"]:
        out.append('<table class="wheels"><tr><th>file</th><th>size</th><th>sha256</th></tr>')
        out += [f"<tr><td><code>{escape(w['file'])}</code></td><td class=num>{_size(w['size'])}</td>"
                f"<td><code>{w['sha256']}</code></td></tr>" for w in report["wheels"]]
        out.append("</table>")
    else:
        out.append(f"<p>No wheel in {layout.DIST} (run <code>doit wheel</code>).</p>")
    out.append("<h2>Task timings</h2>")
    if report["timings"]:
        total = sum(t["seconds"] for t in report["timings"])
        out.append(f"<p>{len(report['timings'])} tasks, {total:.1f} s in all when each last ran; slowest first.</p>")
        out.append('<table class="timings"><tr><th>task</th><th>status</th><th>seconds</th><th>finished (UTC)</th></tr>')
        out += [f"<tr><td><code>{escape(t['task'])}</code></td><td>{escape(t['status'])}</td>"
                f"<td class=num>{t['seconds']:.2f}</td><td>{escape(t['finished'])}</td></tr>"
                for t in report["timings"][:30]]
        out.append("</table>")
    else:
        out.append("<p>None recorded yet (run <code>doit</code>).</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
