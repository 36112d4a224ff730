"""The benchmark harness (bench/) keeps working: its quick mode runs, its JSON has the right shape,
and the task counts it checks are SPEC 5's closures. No timing is asserted (machines are noisy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES, REPO

sys.path.insert(0, str(REPO))

from bench.courses import all_tasks, expected_tasks, generate, manifest_modules  # noqa: E402
from bench.scenarios import executed  # noqa: E402

SCENARIOS = {
    "cold export (doit -n J export, empty build/)", "cold build (doit -n J, empty build/)", "no-op doit",
    "prose edit, leaf (m0005)", "code edit, leaf (m0005)", "code edit, root (m0000; doit -n J)", "doit -n J -a (everything forced)",
    "leaf code edit, serial: wall vs work", "task list in-process (dodo.py + tasks)", "doit list",
    "nbdev-export (same sources as notebooks)", "python -c pass", "python -c 'import doit'",
}


def test_expected_closures_match_the_incremental_contract_on_the_fixture() -> None:
    course = FIXTURES / "course"
    assert expected_tasks(course, "ops", "prose") == {"export:ops", "notebooks:ops"}
    assert expected_tasks(course, "ops", "code") == {
        "export:ops", "notebooks:ops", "check:ops", "test:ops", "check:model", "test:model",
        "init", "integration:ops_model", "system:package"}
    assert expected_tasks(course, "leaf", "code") == {
        "export:leaf", "notebooks:leaf", "check:leaf", "test:leaf", "init", "integration:leaf_core", "system:package"}
    assert all_tasks(course) == 4 * 4 + 1 + 3


def test_generated_course_is_a_valid_layered_course(tmp_path: Path) -> None:
    from tasks.model.manifest import read_manifest

    course = generate(tmp_path / "gen", 30)
    manifest = read_manifest(course.root)  # validates everything, files included
    assert len(manifest.modules) == 30
    depends = {m.name: m.depends for m in manifest.modules}
    assert depends["m0000"] == ()
    assert all(d[0] == "m0000" and 1 <= len(d) <= 3 for n, d in depends.items() if n != "m0000")
    assert not any(course.leaf_module in d for d in depends.values())
    assert sum(len(d) > 1 for d in depends.values()) >= 20  # beyond the first layer, fan-in from earlier layers
    assert len(list((course.root / "tests" / "integration").glob("test_*.py"))) == 3
    assert len(manifest_modules(course.root)) == 30


def test_executed_reads_doit_verbose_lines() -> None:
    out = ".  export:a\n-- check:a\n.  test:a\nsome output\n.  init\n"
    assert executed(out) == ["export:a", "test:a", "init"]


def test_quick_mode_runs_and_writes_json_with_the_expected_task_counts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--sizes", "6", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no-op doit" in proc.stdout
    report = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert report["schema"] == 1 and report["quick"] is True and report["failed_runs"] == []
    [course] = report["courses"]
    assert course["name"] == "gen6" and course["modules"] == 6
    scenarios = course["scenarios"]
    assert SCENARIOS <= set(scenarios)
    for name, s in scenarios.items():
        assert s["runs"] == len(s["seconds"]) >= 1, name
        assert s["min"] <= s["median"] <= s["max"], name
    counts = {name: (s["tasks"], s["expected_tasks"]) for name, s in scenarios.items() if s["expected_tasks"] is not None}
    full = 4 * 6 + 1 + 2 + 1  # export/notebooks/check/test per module, init, 2 integration, 1 system
    assert counts["cold build (doit -n J, empty build/)"] == ([full], full)
    assert counts["doit -n J -a (everything forced)"] == ([full], full)
    assert counts["cold export (doit -n J export, empty build/)"] == ([12], 12)  # each export syncs its notebook first
    assert counts["no-op doit"] == ([0], 0)
    assert counts["prose edit, leaf (m0005)"] == ([2], 2)
    assert counts["code edit, root (m0000; doit -n J)"][0] == [counts["code edit, root (m0000; doit -n J)"][1]]
    assert all(s["tasks_ok"] for s in scenarios.values() if s["expected_tasks"] is not None)
    assert scenarios["nbdev-export (same sources as notebooks)"]["modules_written"] >= 6
    work = scenarios["leaf code edit, serial: wall vs work"]
    assert work["work_median"] > 0 and "overhead_median" in work


def test_editloop_runs_the_closures_test_files_in_one_pytest() -> None:
    from bench.editloop import closure_files

    course = FIXTURES / "course"
    assert closure_files(course, expected_tasks(course, "ops", "code")) == [
        "tests/integration/test_ops_model.py", "tests/system/test_package.py", "tests/unit/test_model.py",
        "tests/unit/test_ops.py"]


def test_editloop_table_puts_before_and_after_side_by_side() -> None:
    from bench.editloop import table

    def result(label: str, serial: float, loop: float) -> dict[str, object]:
        return {"label": label,
                "edit": {"doit_serial": [serial], "one_pytest": [4.0], "doit_n2": [serial / 2], "tasks": [37],
                         "expected_tasks": 37, "test_files": 22, "verdict": [1.2], "worker_rss_max": 64 * 2**20},
                "fix": {"wall": [1.0], "downstream": [0], "first": []},
                "loop": {"wall": [loop], "timeout": 10.0, "timeouts_hit": [1]}}

    text = table([result("before", 12.0, 35.0), result("after", 5.0, 14.0)], 1).splitlines()
    assert text[2] == f"{'layers edit: doit (serial)':<58}{'12.00 s':>16}{'5.00 s':>16}"
    assert any(line.startswith("  ratio doit / one pytest") and line.endswith("3.00x           1.25x")
               for line in text), text
    assert any(line.startswith("  wall - one timeout") and line.endswith("25.00 s          4.00 s") for line in text)


def test_editloop_splits_the_own_verdict_into_the_modules_tasks() -> None:
    from bench import editloop

    editloop.STARTED.clear()
    editloop.STARTED.update({"notebooks:tensor": 0.2, "notebooks:layers": 0.3, "export:layers": 0.5,
                             "check:layers": 0.7, "test:layers": 0.75})
    assert editloop.phases(1.15) == {"start-up: task list, up-to-date checks": 0.3, "notebooks:layers": 0.2,
                                     "export:layers": 0.2, "check:layers": 0.05, "test:layers": 0.4}
    assert editloop.phases(None) == {"start-up: task list, up-to-date checks": 0.3, "notebooks:layers": 0.2,
                                     "export:layers": 0.2, "check:layers": 0.05}


def test_editloop_table_shows_skipped_scenarios_as_dashes() -> None:
    from bench.editloop import table

    result = {"label": "after",
              "edit": {"doit_serial": [5.0], "one_pytest": [4.0], "doit_n2": [], "tasks": [37], "expected_tasks": 37,
                       "test_files": 22, "verdict": [1.2], "worker_rss_max": None,
                       "phases": {"test:layers": [0.4]}},
              "fix": {"wall": [], "downstream": [], "first": []}, "loop": {"wall": [], "timeout": 10.0,
                                                                          "timeouts_hit": []}}
    text = table([result], 1).splitlines()
    assert f"{'  test:layers':<58}{'0.40 s':>16}" in text
    assert f"{'layers edit: doit -n 2':<58}{'-':>16}" in text
    assert f"{'  wall - one timeout (target <= 10 s)':<58}{'-':>16}" in text


def test_a_notebook_source_is_edited_as_a_notebook(tmp_path: Path) -> None:
    """Issue 14: bench appends a cell to an .ipynb, never percent text that corrupts it."""
    import json as _json

    from bench.scenarios import edited

    nb = {"cells": [{"cell_type": "code", "id": "a", "metadata": {}, "source": "#| default_exp x",
                     "execution_count": None, "outputs": []}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    out = _json.loads(edited(tmp_path / "m.ipynb", _json.dumps(nb), "code", 3))
    assert out["cells"][-1]["source"] == "#| export\n_bench_edit = 3" and len(out["cells"]) == 2
    assert edited(tmp_path / "m.py", "x = 1\n", "prose", 1) == "x = 1\n\n# %% [markdown]\n# A prose edit (benchmark run 1).\n"
