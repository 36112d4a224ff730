"""tasks.steps.checks: how a failed import is described, with tracebacks mapped to source lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tasks.steps.checks import CheckJob, blame, describe, map_frames

SRC = "modules/02_ops/ops.py"
GEN = "build/lib/pkg/core/ops.py"
RECORD = "build/state/exports/ops.json"


@pytest.fixture
def job(tmp_path: Path) -> CheckJob:
    (tmp_path / RECORD).parent.mkdir(parents=True)
    (tmp_path / RECORD).write_text(json.dumps({"source": SRC, "lines": [[5, 10]]}))
    return CheckJob(root=str(tmp_path), name="ops", source=SRC, target="pkg.core.ops", lib="build/lib",
                    stubs=("pkg",), records={GEN: RECORD}, timeout=3)


def frame(job: CheckJob, rel: str, line: int, text: str) -> list[Any]:
    return [str(Path(job.root) / rel), line, "<module>", text]


def test_map_frames_keeps_course_frames_and_maps_generated_lines(job: CheckJob) -> None:
    frames = [["/usr/lib/python3/importlib/__init__.py", 1, "import_module", ""],
              frame(job, "tasks/sandbox/runner.py", 9, "__import__(target)"),
              frame(job, GEN, 3, "import os"),  # before the first exported cell: not mapped
              frame(job, GEN, 7, "raise ValueError()"),
              frame(job, "build/lib/pkg/core/other.py", 4, "x()")]
    assert map_frames(Path(job.root), frames, job.records) == [
        f"{GEN}:3: in <module>: import os",
        f"{SRC}:12: in <module>: raise ValueError()",
        "build/lib/pkg/core/other.py:4: in <module>: x()",
    ]


def test_map_frames_drops_a_virtualenv_inside_the_repository(job: CheckJob) -> None:
    frames = [frame(job, GEN, 7, "raise ValueError()"),
              frame(job, ".venv/lib/python3.11/site-packages/numpy/core/fromnumeric.py", 86, "ufunc.reduce()"),
              frame(job, "venv/lib/python3.11/site-packages/_pytest/python.py", 191, "warn()"),
              ["<frozen runpy>", 88, "_run_code", ""]]
    assert map_frames(Path(job.root), frames, job.records) == [f"{SRC}:12: in <module>: raise ValueError()"]


@pytest.mark.parametrize(("places", "own", "expected"), [
    (["tests/t.py:3: in test", f"{SRC}:12: in f", "modules/01_core/core.py:9: in g"], SRC, f"{SRC}:12"),
    (["tests/t.py:3: in test", "modules/01_core/core.py:9: in g"], SRC, "tests/t.py:3"),
    (["tests/t.py:3: in test", "modules/01_core/core.py:9: in g"], None, "tests/t.py:3"),
    (["modules/01_core/core.py:9: in g"], SRC, "modules/01_core/core.py:9"),
    ([], SRC, None),
])
def test_blame_prefers_the_module_under_test_then_anything_but_a_dependency(
        places: list[str], own: str | None, expected: str | None) -> None:
    assert blame(places, own, {SRC, "modules/01_core/core.py"}) == expected


DESCRIBED = [
    pytest.param(None, True, "", f"{SRC}:1: importing pkg.core.ops did not finish within 3 s (an endless loop or a "
                 "long computation at import time?); the process was killed. Move long-running code into a cell "
                 "without '#| export'.", id="timeout"),
    pytest.param(None, False, "Segmentation fault", f"{SRC}:1: importing pkg.core.ops crashed the interpreter:\n"
                 "Segmentation fault", id="crash"),
    pytest.param({"status": "ok"}, False, "", None, id="ok"),
    pytest.param({"status": "error", "error": "ValueError: boom", "frames": [[GEN, 6, "<module>", "raise X"]]},
                 False, "", f"{SRC}:11: importing pkg.core.ops raised ValueError: boom\n"
                 "  traceback (most recent call last, source lines):\n"
                 f"    {SRC}:11: in <module>: raise X", id="exception"),
    pytest.param({"status": "exit", "code": "3", "frames": [[GEN, 5, "<module>", "sys.exit(3)"]]}, False, "",
                 f"{SRC}:10: pkg.core.ops calls sys.exit(3) at import time; a library module must not stop the "
                 "interpreter: raise an exception instead, or move the code out of '#| export' cells", id="exit"),
    pytest.param({"status": "printed", "output": "a\nb\nc\nd\n", "frames": [[GEN, 5, "<module>", "print()"]]},
                 False, "", f"{SRC}:10: pkg.core.ops prints at import time ('a / b / c'); a library module must be "
                 "silent: move the print into a cell without '#| export'", id="print"),
    pytest.param({"status": "error", "error": "ImportError: x", "frames": []}, False, "",
                 f"{SRC}:1: importing pkg.core.ops raised ImportError: x\n"
                 "  traceback (most recent call last, source lines):\n", id="no frames"),
]


@pytest.mark.parametrize(("result", "timed_out", "output", "message"), DESCRIBED)
def test_describe(job: CheckJob, result: dict[str, Any] | None, timed_out: bool, output: str,
                  message: str | None) -> None:
    if result and "frames" in result:
        result["frames"] = [[str(Path(job.root) / f[0]), *f[1:]] for f in result["frames"]]
    assert describe(job, result, timed_out, output) == message
