"""tasks.reports.report (and tasks.reports.pages): `doit report` and `doit graph` read the results on disk and re-run nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import BREAK_ADD, Course, status_run, table_rows

from tasks.reports import picture
from tasks.reports.pages import _ranges
from tasks.reports.schema import ModuleReport, Report, StageReport
from tasks.reports.status import find_place, hint, stage


class Page(HTMLParser):
    """The bits of index.html the tests look at."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.in_picture = 0
        self.picture_svg = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "tr" and "module" in a.get("class", "").split():
            self.rows.append(a)
        if tag == "div" and a.get("class") == "picture":
            self.in_picture = 1
        elif self.in_picture and tag == "svg":
            self.picture_svg = True


def page(course: Course) -> tuple[Page, str]:
    text = course.read("build/reports/index.html")
    p = Page()
    p.feed(text)
    return p, text


def report_json(course: Course) -> Report:
    data: Report = json.loads(course.read("build/reports/report.json"))
    return data


# -- pure parts ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("message", "prefer", "expected"), [
    ("modules/02_ops/ops.py:15: bad", "", "modules/02_ops/ops.py:15"),
    ("test:ops: 1 of 2 failed\ntests/unit/test_ops.py:6: x\n    modules/02_ops/ops.py:15: in add: y",
     "modules/02_ops/ops.py", "modules/02_ops/ops.py:15"),
    ("test:ops: 1 of 2 failed\ntests/unit/test_ops.py:6: x", "modules/02_ops/ops.py", "tests/unit/test_ops.py:6"),
    ("modules.yaml:3:5: unknown key", "", "modules.yaml:3"),
    ("no place at all", "", None),
    (None, "", None),
])
def test_find_place(message: str | None, prefer: str, expected: str | None) -> None:
    assert find_place(message, prefer) == expected


@pytest.mark.parametrize(("task", "message", "expected"), [
    ("export:ops", "x", "modules/02_ops/ops.py cannot be exported as it stands: fix it at the line shown, then run "
                        "`doit validate:ops`"),
    ("check:ops", "x", "the exported module does not import on its own: fix modules/02_ops/ops.py at the line shown, "
                       "then run `doit check:ops`"),
    ("test:ops", "x", "a unit test of ops fails: the line shown is where it broke; rerun with `doit test:ops`"),
    ("test:ops", "6.7 points below the floor of 90%", "coverage is under the floor set in modules.yaml: test the "
                                                       "missed lines, then run `doit test:ops`"),
    ("test:ops", "did not finish within 5 s", "the tests timed out: look for an endless loop, or raise 'timeout' in "
                                              "modules.yaml"),
    ("system:xor", "x", "a system test fails across modules: fix the module at the line shown; rerun with "
                        "`doit system:xor`"),
    ("init", "x", "see the message below"),
])
def test_hint(task: str, message: str, expected: str) -> None:
    assert hint(task, message, "modules/02_ops/ops.py") == expected


@pytest.mark.parametrize(("db", "result", "timing", "expected"), [
    ("fresh", {"status": "passed"}, None, "passed"),
    ("stale", {"status": "passed"}, None, "stale"),
    (None, {"status": "failed", "message": "m.py:3: boom"}, None, "failed"),
    (None, {"status": "passed"}, {"status": "failed", "message": "m.py:3: boom", "finished": 2e9}, "failed"),
    (None, {"status": "failed"}, {"status": "blocked", "message": "not run", "finished": 2e9}, "blocked"),
    (None, {"status": "failed", "message": "m.py:3: boom"}, {"status": "blocked", "finished": 1.0}, "failed"),
    (None, {"status": "passed"}, None, "stale"),  # a result the DB does not back
    (None, None, None, "not built"),
])
def test_stage(tmp_path: Path, db: str | None, result: dict[str, Any] | None, timing: dict[str, Any] | None,
               expected: str) -> None:
    file = tmp_path / "r.json"
    file.write_text("{}")
    got: StageReport = stage("test:m", result, file, db, timing, "m.py")
    assert got["status"] == expected
    if expected == "failed":
        assert got["place"] == "m.py:3"


@pytest.mark.parametrize(("lines", "text"), [([], ""), ([4], "4"), ([3, 4, 5, 9], "3-5, 9"), ([9, 1, 2], "1-2, 9")])
def test_ranges(lines: list[int], text: str) -> None:
    assert _ranges(lines) == text


# -- on the sample course --------------------------------------------------------------------------
def test_report_page_structure(built: Course) -> None:
    run = built.doit("report")
    assert run.code == 0 and run.ran == {"report"}  # reads results, runs nothing else
    p, text = page(built)
    assert [r["data-module"] for r in p.rows] == ["core", "ops", "model", "leaf"]
    assert {r["data-status"] for r in p.rows} == {"passed"}
    assert p.picture_svg
    assert "<script" not in text
    # self-contained: nothing is fetched (namespaces inside the SVG are names, not downloads)
    for tag, attrs in p.tags:
        for key in ("src", "href"):
            assert not attrs.get(key, "").startswith(("http:", "https:", "//")), (tag, attrs)
    assert "Integration tests" in text and "tests/integration/test_ops_model.py" in text
    assert "tests/system/test_package.py" in text
    data = report_json(built)
    assert data["schema_version"] == 1
    assert set(data) == set(Report.__annotations__)
    assert all(set(m) == set(ModuleReport.__annotations__) for m in data["modules"])
    ops = data["modules"][1]
    assert ops["exported_names"] == ["add", "mul"] and ops["depends"] == ["core"] and ops["tests_passed"] == 2
    assert ops["source_lines"] == 23 and ops["target"] == "minitorch.core.ops"
    assert [s["status"] for s in data["integration"]] == ["passed", "passed"]
    md = built.read("build/reports/report.md")
    assert "```mermaid\nflowchart TB\n" in md and "| 2 | **ops** | `minitorch.core.ops` | core |" in md


def test_page_without_graphviz_draws_its_own_picture(built: Course, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(picture, "dot_program", lambda: None)
    assert built.doit("report").code == 0
    p, text = page(built)
    assert p.picture_svg and '<svg xmlns="http://www.w3.org/2000/svg" class="graph"' in text


def test_report_rerenders_only_when_its_inputs_change(built: Course) -> None:
    assert built.doit("report").ran == {"report"}
    assert built.doit("report").ran == set()
    built.edit("tests/unit/test_ops.py", "def test_mul():", "def test_mul_again():")
    assert built.doit("report").ran == {"report"}  # a test file is an input (staleness), and nothing else runs
    assert report_json(built)["modules"][1]["status"] == "stale"
    assert built.doit().ran == {"test:ops"}
    assert built.doit("report").ran == {"report"}  # the test result changed
    assert report_json(built)["modules"][1]["status"] == "passed"


def test_edited_source_shows_stale(built: Course) -> None:
    built.edit("modules/04_leaf/leaf.py", '"""2 * v"""', '"""Twice v."""')
    built.doit("report")
    leaf = report_json(built)["modules"][3]
    assert (leaf["status"], leaf["export"]["status"], leaf["test"]["status"]) == ("stale", "stale", "passed")
    assert 'data-module="leaf" data-status="stale"' in built.read("build/reports/index.html")


def test_failing_module_is_red_in_json_html_and_console(built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit("modules/02_ops/ops.py", *BREAK_ADD)
    code, out = status_run(built, capsys)
    assert code != 0
    assert table_rows(out)["ops"].endswith("failed: test at modules/02_ops/ops.py:15")
    code, out = status_run(built, capsys, "report", "graph")
    assert code == 0, out
    data = report_json(built)
    ops = data["modules"][1]
    assert (ops["status"], ops["test"]["status"], ops["test"]["place"]) == ("failed", "failed",
                                                                            "modules/02_ops/ops.py:15")
    assert (ops["tests_passed"], ops["tests_failed"]) == (1, 1)
    assert data["first_failure"] is not None and data["first_failure"]["task"] == "test:ops"
    assert data["first_failure"]["place"] == "modules/02_ops/ops.py:15"
    # model is blocked by ops (not run against a broken ops), not a second failure
    assert data["summary"] == {"modules": 4, "passed": 2, "failed": 1, "blocked": 1, "stale": 0, "not_built": 0}
    assert [s["status"] for s in data["system"]] == ["blocked"]
    _, text = page(built)
    row = text[text.index('data-module="ops"'):]
    row = row[:row.index("</tr>")]
    assert 'data-status="failed"' in row and '<span class="pill s-failed"' in row
    assert "test failed at modules/02_ops/ops.py:15" in row
    assert 'id="first-failure"' in text
    fill, border = picture.COLOURS["failed"]
    assert f'"ops" [label="02 ops", fillcolor="{fill}", color="{border}"' in built.read("build/reports/graph.dot")
    assert ":::failed" in built.read("build/reports/graph.mmd")


def test_coverage_matches_coverage_py(built: Course) -> None:
    import coverage

    built.doit("report")
    core = report_json(built)["modules"][0]
    cov = coverage.Coverage(data_file=str(built.path("build/coverage/core.coverage")), config_file=False)
    cov.load()
    # the data file names the file where it was measured (the session's template course)
    [generated] = cov.get_data().measured_files()
    assert generated.endswith("build/lib/minitorch/core/core.py")
    _, statements, _, missing, _ = cov.analysis2(generated)
    with built.path("cov.txt").open("w") as table:  # `coverage report`, as run by hand
        percent = cov.report(include=[generated], file=table)
    assert core["coverage"] is not None
    assert core["coverage"]["percent"] == round(percent, 2) == 83.33
    assert core["coverage"]["statements"] == len(statements) and core["coverage"]["missing"] == missing
    # the missed line, `return f"Value({self.x})"`, is line 17 of the source the student edits
    assert core["coverage"]["missing_source"] == [17]
    assert built.read("modules/01_core/core.py").splitlines()[16].strip() == 'return f"Value({self.x})"'
    assert "83.3%<br><small" in built.read("build/reports/index.html")
    assert "`modules/01_core/core.py` lines 17" in built.read("build/reports/report.md")


def test_coverage_floor_fails_the_test_task(built: Course) -> None:
    built.edit("modules.yaml", "target: minitorch.core.core\n    depends: []",
               "target: minitorch.core.core\n    depends: []\n    coverage: 90")
    run = built.doit()
    assert "test:core" in run.failed
    result = json.loads(built.read("build/results/test/core.json"))
    assert result["status"] == "failed"
    assert "coverage of build/lib/minitorch/core/core.py is 83.3%, 6.7 points below the floor of 90%" in result["message"]
    assert "source lines [17]" in result["message"]
    built.doit("report")
    core = report_json(built)["modules"][0]
    assert core["status"] == "failed" and core["test"]["status"] == "failed"
    assert report_json(built)["first_failure"]["hint"].startswith("coverage is under the floor")  # type: ignore[index]
    built.edit("modules.yaml", "coverage: 90", "coverage: 80")
    assert "test:core" not in built.doit().failed


def test_wheel_is_listed(built: Course) -> None:
    wheel = built.path("build/dist/minitorch-0.1.0-py3-none-any.whl")
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"PK fake wheel")
    built.doit("report")
    assert report_json(built)["wheels"] == [{"file": "build/dist/minitorch-0.1.0-py3-none-any.whl", "size": 13,
                                            "sha256": hashlib.sha256(b"PK fake wheel").hexdigest()}]
    assert hashlib.sha256(b"PK fake wheel").hexdigest() in built.read("build/reports/index.html")


def test_not_built_course(course: Course) -> None:
    assert course.doit("report").code == 0
    data = report_json(course)
    assert {m["status"] for m in data["modules"]} == {"not built"}
    assert data["summary"]["not_built"] == 4 and data["timings"] == []


def test_timings_appear_in_the_report(built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit("modules/04_leaf/leaf.py", '"""2 * v"""', '"""Twice v."""')
    status_run(built, capsys)
    built.doit("report")
    data = report_json(built)
    assert {t["task"] for t in data["timings"]} >= {"export:leaf", "test:leaf"}
    assert [t["seconds"] for t in data["timings"]] == sorted((t["seconds"] for t in data["timings"]), reverse=True)
    assert data["modules"][3]["duration"] is not None and data["modules"][3]["duration"] > 0
    assert time.strftime("%Y-%m-%dT", time.gmtime()) in data["timings"][0]["finished"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_with_graphviz(built: Course) -> None:
    assert built.doit("graph").ran == {"graph"}
    out = built.path("build/reports")
    assert sorted(p.name for p in out.iterdir()) == ["graph.dot", "graph.mmd", "graph.png", "graph.svg"]
    assert out.joinpath("graph.png").read_bytes().startswith(b"\x89PNG")
    assert "01 core" in out.joinpath("graph.svg").read_text()
    assert built.doit("graph").ran == set()


def test_graph_without_graphviz_says_how_to_install_it(built: Course, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(picture, "dot_program", lambda: None)
    code, out = status_run(built, capsys, "graph")
    assert code == 0
    assert sorted(p.name for p in built.path("build/reports").iterdir()) == ["graph.dot", "graph.mmd"]
    assert "apt-get install graphviz" in out and "graph.svg and graph.png were not drawn" in out
