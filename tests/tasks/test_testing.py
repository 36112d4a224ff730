"""tasks.steps.testing: pytest in a sandboxed child; results and failures mapped to source lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.core.errors import CheckError
from tasks.steps.testing import TestJob, run_tests

TestJob.__test__ = False  # type: ignore[attr-defined]  # a job record, not a test class


def make(repo: Path, test: str, **extra: object) -> TestJob:
    (repo / "build/lib/pkg").mkdir(parents=True, exist_ok=True)
    (repo / "build/lib/pkg/m.py").write_text("def f():\n    return 1\n")
    (repo / "tests").mkdir(exist_ok=True)
    (repo / "tests/test_m.py").write_text(test)
    return TestJob(root=str(repo), kind="test", name="m", files=("tests/test_m.py",), lib="build/lib",
                   stubs=("pkg",), records={}, timeout=30, **extra)  # type: ignore[arg-type]


def test_no_tests_declared(tmp_path: Path) -> None:
    job = TestJob(root=str(tmp_path), kind="test", name="m", files=(), lib="build/lib", stubs=(), records={},
                  timeout=5)
    assert run_tests(job) == {"passed": 0}
    assert json.loads(job.result_file.read_text())["note"] == "no tests declared"


def test_passing_tests_with_coverage(tmp_path: Path) -> None:
    job = make(tmp_path, "from pkg.m import f\n\n\ndef test_f():\n    assert f() == 1\n",
               cover="build/lib/pkg/m.py", floor=50.0)
    assert run_tests(job) == {"passed": 1, "coverage": 100.0}
    result = json.loads(job.result_file.read_text())
    assert (result["status"], result["passed"], result["message"]) == ("passed", 1, None)
    assert result["sandbox"] in ("fork", "spawn")


@pytest.mark.parametrize("conftest", ["tests/conftest.py", "conftest.py"])
def test_a_module_a_conftest_imports_is_measured_from_its_first_line(tmp_path: Path, conftest: str) -> None:
    """Coverage starts at the first conftest (not before pytest's own set-up): what a conftest imports counts."""
    job = make(tmp_path, "from pkg.m import f\n\n\ndef test_f():\n    assert f() == 1\n", cover="build/lib/pkg/m.py")
    (tmp_path / conftest).write_text("import pkg.m  # the module's 'def' line runs here\n")
    assert run_tests(job) == {"passed": 1, "coverage": 100.0}


@pytest.mark.parametrize(("test", "extra", "lines"), [
    ("from pkg.m import f\n\n\ndef test_f():\n    assert f() == 2\n", {},
     ["test:m: 1 of 1 tests failed",
      "tests/test_m.py:5: tests/test_m.py::test_f: assert 1 == 2"]),
    ("import pkg.m\n", {},
     ["tests/test_m.py:1: test:m: no tests collected; name test functions 'test_*'"]),
    ("from pkg.m import f\n\n\ndef test_f():\n    pass\n", {"cover": "build/lib/pkg/m.py", "floor": 90.0},
     ["tests/test_m.py:1: test:m: coverage of build/lib/pkg/m.py is 50.0%, 40.0 points below the floor of 90% set "
      "in modules.yaml; add tests for source lines []"]),
    ("import time\n\n\ndef test_slow():\n    time.sleep(30)\n", {"timeout": 1.5},
     ["tests/test_m.py:5: test:m: tests/test_m.py::test_slow did not finish within 1.5 s; it was running this line "
      "when it was stopped (an endless loop?), and the process group was killed. Raise 'timeout' in modules.yaml if "
      "it is just slow.",
      "  stack (most recent call last, source lines):",
      "    tests/test_m.py:5: in test_slow: time.sleep(30)"]),
])
def test_failures(tmp_path: Path, test: str, extra: dict[str, object], lines: list[str]) -> None:
    job = make(tmp_path, test, **{k: v for k, v in extra.items() if k != "timeout"})
    if "timeout" in extra:
        job = TestJob(**{**job.__dict__, "timeout": extra["timeout"]})
    with pytest.raises(CheckError) as exc:
        run_tests(job)
    for line in lines:
        assert line in str(exc.value).splitlines()
    assert json.loads(job.result_file.read_text())["status"] == "failed"


def test_a_collection_error_points_at_the_test_files_line(tmp_path: Path) -> None:
    job = make(tmp_path, "import math\nfrom pkg.m import f, g\n\n\ndef test_f():\n    assert f() == 1\n")
    with pytest.raises(CheckError) as err:
        run_tests(job)
    assert ("tests/test_m.py:2: tests/test_m.py: ImportError: cannot import name 'g' from 'pkg.m'"
            in str(err.value)), str(err.value)


def test_one_file_that_does_not_compile_hides_no_other_file(tmp_path: Path) -> None:
    job = make(tmp_path, "from pkg.m import f\n\n\ndef test_f():\n    assert f() == 1\n")
    (tmp_path / "tests/test_bad.py").write_text("def test_g(:\n    pass\n")
    job = TestJob(**{**job.__dict__, "files": ("tests/test_bad.py", "tests/test_m.py")})
    with pytest.raises(CheckError) as err:
        run_tests(job)
    lines = str(err.value).splitlines()
    assert lines[:2] == ["test:m: 1 of 2 tests failed",
                         "tests/test_bad.py:1: tests/test_bad.py: SyntaxError: invalid syntax"]
    result = json.loads(job.result_file.read_text())
    assert (result["passed"], result["errors"]) == (1, 1)  # test_m.py still ran


def test_a_test_that_returns_a_value_is_reported_at_its_line(tmp_path: Path) -> None:
    job = make(tmp_path, "from pkg.m import f\n\n\ndef test_f():\n    return f() == 1\n")
    with pytest.raises(CheckError) as err:
        run_tests(job)
    assert str(err.value).splitlines()[:2] == [
        "test:m: 1 of 1 tests failed",
        "tests/test_m.py:4: tests/test_m.py::test_f: returns a value instead of asserting; pytest counts it as "
        "passed: write 'assert ...' instead of 'return'"]
