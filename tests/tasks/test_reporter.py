"""tasks.reports.console: doit's lines, failures led by module, file:line and a hint, a status table, task timings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import BREAK_ADD, BREAK_EXPORT, Course, status_run, table_rows

from tasks.core.layout import split


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


@pytest.mark.parametrize(("task", "expected"), [
    ("test:ops", ("test", "ops")), ("init", ("init", "")), ("integration:ops_model", ("integration", "ops_model")),
])
def test_split(task: str, expected: tuple[str, str]) -> None:
    assert split(task) == expected


def test_table_after_a_good_build(course: Course, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = status_run(course, capsys)
    assert code == 0
    assert ".  export:core" in out  # doit's per-task lines are kept
    rows = table_rows(out)
    assert list(rows) == ["core", "ops", "model", "leaf"]  # course order
    assert rows["core"].split()[2:] == ["ok", "ok", "ok", "1/1", "83.3%", "passed"]
    assert "4 of 4 modules passed, 0 failed, 0 blocked, 0 stale, 0 not built" in out
    assert "\033[" not in out  # NO_COLOR, and not a terminal either


def test_no_color_wins_over_force_color(course: Course, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, out = status_run(course, capsys, "validate:core")
    assert "\033[" not in out
    monkeypatch.delenv("NO_COLOR")
    course.edit("modules/01_core/core.py", '"""A number."""', '"""A real number."""')
    _, out = status_run(course, capsys, "validate:core")
    assert "\033[32mok" in out


def test_timings_are_recorded_merged_and_left_alone_by_a_no_op(built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    timings = built.path("build/results/timings.json")
    assert not timings.exists()  # the template was built with another reporter
    built.edit("modules/04_leaf/leaf.py", '"""2 * v"""', '"""Twice v."""')
    status_run(built, capsys)
    data = json.loads(timings.read_text())
    assert data["schema_version"] == 1
    assert set(data["tasks"]) == {"export:leaf", "notebooks:leaf", "check:leaf", "test:leaf", "init",
                                  "integration:leaf_core", "system:package"}
    assert all(r["status"] == "passed" and r["seconds"] > 0 for r in data["tasks"].values())
    stamp = timings.stat().st_mtime_ns
    _, out = status_run(built, capsys)  # nothing to do: nothing written
    assert timings.stat().st_mtime_ns == stamp
    assert "4 of 4 modules passed" in out  # the table still comes
    built.edit("tests/unit/test_ops.py", "def test_mul():", "def test_mul_again():")
    status_run(built, capsys)
    assert set(json.loads(timings.read_text())["tasks"]) == set(data["tasks"]) | {"test:ops"}  # merged
    assert not list(timings.parent.glob(".timings.json.*"))  # no temp file left


def test_failure_leads_with_module_place_and_hint(built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit("modules/02_ops/ops.py", *BREAK_ADD)
    code, out = status_run(built, capsys)
    assert code != 0
    lines = out.splitlines()
    head = lines.index("FAILED test:ops  (module ops)  at modules/02_ops/ops.py:15 (ops.ipynb:cell 3:7)")
    assert lines[head + 1] == "  tests/unit/test_ops.py::test_add: ValueError: add is broken"  # what
    assert lines[head + 2].startswith("  hint: a unit test of ops fails")
    assert lines[head + 3] == "TaskFailed - taskid:test:ops"  # doit's details follow, unchanged
    assert out.index("--- pytest output") > head
    rows = table_rows(out)
    assert rows["ops"].split()[2:6] == ["ok", "ok", "FAIL", "1/2"]
    assert rows["ops"].endswith("failed: test at modules/02_ops/ops.py:15")
    # model is not run against a broken ops (it would fail pointing into ops): blocked, without stale counts
    assert rows["model"].split()[2:] == ["ok", "block", "block", "blocked", "by", "ops"]
    assert rows["leaf"].endswith("passed")
    assert lines[-3:-1] == ["first failure: test:ops at modules/02_ops/ops.py:15 (ops.ipynb:cell 3:7)",
                            "  tests/unit/test_ops.py::test_add: ValueError: add is broken"]
    # doit's three lines per blocked task are one per blocked module; the failed module's own are none
    assert "blocked: model needs ops (modules/02_ops/ops.py:15)" in lines
    assert "blocked: integration:ops_model needs ops (modules/02_ops/ops.py:15)" in lines
    assert not any(line.startswith("!!") for line in lines)
    assert "-- export:core" not in out  # up-to-date tasks are not listed by default
    assert "UnmetDependency" not in out
    assert "test:ops <stdout>:" not in out  # empty captured output is not shown
    record = json.loads(built.path("build/results/timings.json").read_text())["tasks"]
    assert record["test:ops"]["status"] == "failed" and "ops.py:15" in record["test:ops"]["message"]
    assert record["integration:ops_model"]["status"] == "blocked"


def test_export_failure_blocks_the_dependants(built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit("modules/02_ops/ops.py", *BREAK_EXPORT)
    code, out = status_run(built, capsys)
    assert code != 0
    assert "FAILED export:ops  (module ops)  at modules/02_ops/ops.py:18" in out
    rows = table_rows(out)
    assert rows["ops"].split()[2:5] == ["FAIL", "block", "block"]
    assert rows["ops"].endswith("failed: export at modules/02_ops/ops.py:18")
    assert rows["model"].split()[2:5] == ["ok", "block", "block"]
    assert rows["model"].endswith("blocked by ops")
    assert "2 of 4 modules passed, 1 failed, 1 blocked" in out


def test_stale_modules_are_shown(built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit("modules/04_leaf/leaf.py", '"""2 * v"""', '"""Twice v."""')
    _, out = status_run(built, capsys, "validate:core")  # leaf is not part of this run
    assert table_rows(out)["leaf"].split()[2:] == ["stale", "ok", "ok", "1/1", "100.0%", "stale:", "export", "inputs",
                                                   "changed"]


def test_no_table_for_a_run_outside_the_pipeline(built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = status_run(built, capsys, "report")
    assert code == 0
    assert "module " not in out and "wrote build/reports/index.html" in out
    assert not built.path("build/results/timings.json").exists()  # report is not timed: it would never settle


def test_cli_in_parallel(built: Course) -> None:
    built.edit("modules/01_core/core.py", '"""A number."""', '"""A real number."""')
    done = built.cli("-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 of 4 modules passed" in done.stdout
    data: dict[str, Any] = json.loads(Path(built.root, "build/results/timings.json").read_text())
    assert {"check:core", "test:leaf"} <= set(data["tasks"])
