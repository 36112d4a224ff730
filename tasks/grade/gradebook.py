"""The gradebook under build/grades/: grades.csv, grades.json, index.html and one feedback file per student.

Every file is written atomically. The HTML page is self-contained (no script, no network): a
student x module grid coloured by status, and per module how many students have it done.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any, TypedDict

from tasks.core import atomic, layout
from tasks.grade.verdict import GRADES, Row
from tasks.model.grading import Grading

SCHEMA_VERSION = 1
CSV_FIELDS = ("student", "item", "kind", "status", "passed", "total", "points", "max_points", "reason")
# status -> (fill, text): distinct in lightness too, so the grid reads in grey and for colour blindness
COLOURS = {"done": ("#2e7d32", "#ffffff"), "failing": ("#c62828", "#ffffff"), "todo": ("#e0e0e0", "#212121"),
           "error": ("#6a1b9a", "#ffffff"), "timeout": ("#ef6c00", "#000000"), "tampered": ("#000000", "#ffeb3b"),
           "missing": ("#ffffff", "#757575")}
_TEST_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(test\w*)|^\s*class\s+(Test\w*)", re.MULTILINE)


class Gradebook(TypedDict):
    schema_version: int
    items: list[str]
    students: list[dict[str, Any]]
    rejected: list[dict[str, str]]
    summary: dict[str, dict[str, int]]
    isolation: dict[str, Any]


def hidden_tests(root: Path, files: Sequence[str]) -> set[str]:
    """`file::name` of each test defined inside a hidden-tests region (the student edition's markers)."""
    from tasks.steps.regions import BEGIN_HIDDEN, END_HIDDEN, marker

    found: set[str] = set()
    for rel in files:
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        inside = False
        for line in text.splitlines():
            kind = marker(line)
            if kind == BEGIN_HIDDEN:
                inside = True
            elif kind == END_HIDDEN:
                inside = False
            elif inside and (m := _TEST_DEF.match(line)):
                found.add(f"{rel}::{m.group(1) or m.group(2)}")
    return found


def _is_hidden(nodeid: str, hidden: set[str]) -> bool:
    parts = nodeid.split("::")
    return len(parts) >= 2 and f"{parts[0]}::{parts[1].split('[')[0]}" in hidden


def points(row: Row, grading: Grading) -> tuple[float | None, float | None]:
    weight = grading.points.get(row["item"]) if row["kind"] == "module" else None
    if weight is None:
        return None, None
    if row["status"] in ("done", "failing") and row["total"]:
        return round(weight * row["passed"] / row["total"], 2), weight
    return 0.0, weight


def build(results: Sequence[Mapping[str, Any]], rejected: Sequence[Mapping[str, str]], items: Sequence[str],
          grading: Grading, isolation: Mapping[str, Any]) -> Gradebook:
    """The gradebook's data from each student's result record."""
    students = []
    summary: dict[str, dict[str, int]] = {item: {g: 0 for g in GRADES} for item in items}
    for res in sorted(results, key=lambda r: str(r["student"])):
        rows = []
        for row in res["rows"]:
            got, most = points(row, grading)
            rows.append({k: row[k] for k in ("item", "kind", "status", "passed", "total", "reason")}
                        | {"points": got, "max_points": most})
            if row["item"] in summary:
                summary[row["item"]][row["status"]] += 1
        total = [r["points"] for r in rows if r["points"] is not None]
        students.append({"student": res["student"], "submission": res.get("submission"), "fatal": res.get("fatal"),
                         "tampered": res.get("tampered"), "seconds": res.get("seconds"), "rows": rows,
                         "points": round(sum(total), 2) if total else None})
    return {"schema_version": SCHEMA_VERSION, "items": list(items), "students": students,
            "rejected": [dict(r) for r in rejected], "summary": summary, "isolation": dict(isolation)}


def to_csv(book: Gradebook) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for s in book["students"]:
        for r in s["rows"]:
            writer.writerow({"student": s["student"], **{k: r[k] for k in CSV_FIELDS[1:]},
                             "points": "" if r["points"] is None else f"{r['points']:g}",
                             "max_points": "" if r["max_points"] is None else f"{r['max_points']:g}"})
    for r in book["rejected"]:
        writer.writerow({"student": r["name"], "item": "", "kind": "submission", "status": "error", "passed": 0,
                         "total": 0, "points": "", "max_points": "", "reason": r["reason"]})
    return out.getvalue()


_CSS = """body{font:14px system-ui,sans-serif;margin:1.5em;color:#212121}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #9e9e9e;padding:4px 8px;text-align:center}
th{background:#f5f5f5}td.name{text-align:left;font-weight:600}.legend span{display:inline-block;padding:2px 8px;
margin-right:6px;border:1px solid #9e9e9e}""" + "".join(
    f"td.s-{g},span.s-{g}{{background:{bg};color:{fg}}}" for g, (bg, fg) in COLOURS.items())


def to_html(book: Gradebook) -> str:
    items = book["items"]
    head = "".join(f"<th>{escape(i)}</th>" for i in items)
    rows = []
    for s in book["students"]:
        cells = {r["item"]: r for r in s["rows"]}
        tds = []
        for item in items:
            r = cells.get(item)
            if r is None:
                tds.append('<td class="s-missing">-</td>')
                continue
            count = f" {r['passed']}/{r['total']}" if r["total"] else ""
            tds.append(f'<td class="s-{r["status"]}" data-status="{r["status"]}" title="{escape(r["reason"])}">'
                       f'{r["status"]}{count}</td>')
        pts = "" if s["points"] is None else f"{s['points']:g}"
        rows.append(f'<tr data-student="{escape(s["student"])}"><td class="name">{escape(s["student"])}</td>'
                    f'{"".join(tds)}<td>{pts}</td></tr>')
    summary = "".join(f"<td>{book['summary'][i]['done']}/{len(book['students'])}</td>" for i in items)
    legend = "".join(f'<span class="s-{g}">{g}</span>' for g in GRADES)
    rejected = "".join(f"<li>{escape(r['reason'])}</li>" for r in book["rejected"])
    iso = book["isolation"]
    layers = "".join(f"<li>{escape(str(x))}</li>" for x in iso.get("active", []))
    missing = "".join(f"<li>{escape(str(x))}</li>" for x in iso.get("missing", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gradebook</title><style>{_CSS}</style></head>
<body><h1>Gradebook</h1>
<p>{len(book["students"])} submissions graded with the instructor's build, manifest and tests.</p>
<p class="legend">{legend}</p>
<table id="grades"><thead><tr><th>student</th>{head}<th>points</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
<tfoot><tr id="summary"><th>done</th>{summary}<td></td></tr></tfoot></table>
{"<h2>Not graded</h2><ul>" + rejected + "</ul>" if rejected else ""}
<h2>Isolation</h2><ul id="layers">{layers}</ul>{"<p>Not available here:</p><ul>" + missing + "</ul>" if missing else ""}
</body></html>
"""


def feedback(result: Mapping[str, Any], hidden: set[str], grading: Grading) -> str:
    """One student's feedback in Markdown: each item's status, then what failed and where."""
    lines = [f"# Feedback for {result['student']}", ""]
    if result.get("tampered"):
        lines += [f"**Not graded:** {result['tampered']}", ""]
    elif result.get("fatal"):
        lines += [f"**Not graded:** {result['fatal']}", ""]
    lines += ["| item | status | tests | why |", "|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['item']} | {r['status']} | {r['passed']}/{r['total']} | {r['reason']} |")
    for r in result["rows"]:
        shown = [f for f in r["failures"] if not _is_hidden(f["test"], hidden)]
        secret = [f for f in r["failures"] if _is_hidden(f["test"], hidden)]
        if not shown and not (secret and grading.hidden_tests == "names"):
            continue
        lines += ["", f"## {r['item']}: {r['status']}", ""]
        for f in shown:
            lines += [f"### {f['test']}", "", f"at `{f['place']}`: {f['message']}" if f["place"] else f["message"],
                      "", "```", f["text"].strip(), "```", ""]
        if grading.hidden_tests == "names":
            lines += [f"- hidden test failed: `{f['test'].split('::')[-1]}`" for f in secret]
    return "\n".join(lines).rstrip() + "\n"


def write(root: Path, book: Gradebook, results: Sequence[Mapping[str, Any]], hidden: set[str],
          grading: Grading) -> None:
    """All of the gradebook, each file replaced atomically."""
    atomic.write_text(layout.at(root, layout.gradebook_file("grades.csv")), to_csv(book))
    atomic.write_text(layout.at(root, layout.gradebook_file("grades.json")), json.dumps(book, indent=1))
    atomic.write_text(layout.at(root, layout.gradebook_file("index.html")), to_html(book))
    for res in results:
        atomic.write_text(layout.at(root, layout.grade_feedback(str(res["student"]))), feedback(res, hidden, grading))


def summary_lines(book: Gradebook) -> list[str]:
    """What the console shows at the end of `doit grade`."""
    counts = {g: 0 for g in GRADES}
    for s in book["students"]:
        for r in s["rows"]:
            counts[r["status"]] += 1
    lines = [f"graded {len(book['students'])} submissions: " +
             ", ".join(f"{n} {g}" for g, n in counts.items() if n)]
    lines += [f"  {item}: {book['summary'][item]['done']}/{len(book['students'])} done" for item in book["items"]]
    if book["rejected"]:
        lines.append(f"  not graded: {len(book['rejected'])} (see {layout.gradebook_file('grades.csv')})")
    lines.append("isolation: " + "; ".join(book["isolation"].get("active", [])))
    lines.append(f"gradebook: {layout.gradebook_file('index.html')}, grades.csv, grades.json, feedback/")
    return lines
