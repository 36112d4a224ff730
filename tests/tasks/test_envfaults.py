"""Issue 15, item 9 and two loose ends: environment faults (full disk, read-only build/, a state DB deleted
mid-run) and damaged result files. Each fault is made for real: a small tmpfs in a private mount namespace
(`unshare -m`, so a crashed test leaves no mount behind), a read-only bind mount, a real deletion."""

from __future__ import annotations

import json

from conftest import Course, table_rows


def test_item5_a_result_of_the_wrong_shape_makes_its_task_run_again(built: Course) -> None:
    result = built.path("build/results/test/core.json")
    data = json.loads(result.read_text())
    data["passed"] = "many"
    result.write_text(json.dumps(data))
    run = built.cli()
    assert run.returncode == 0, run.stderr
    assert ".  test:core" in run.stdout  # was: nothing ran, and the table showed core passed with no count
    assert ("note: build/results/test/core.json is not a result file of the shape doit writes (damaged or "
            "edited by hand): its task runs again to rewrite it.") in run.stderr
    assert json.loads(result.read_text())["passed"] == 1
    assert table_rows(run.stdout)["core"].split()[5] == "1/1"
    again = built.cli()
    assert ".  test:core" not in again.stdout and "not a result file" not in again.stderr
