"""Where a failure is blamed (SPEC 5, "Where a failure is reported"): each case on the fixture course, with the
exact lines a student reads: the FAILED line with its place, what happened there, and blocked dependants."""

from __future__ import annotations

import json
import time

import pytest
from conftest import Course, status_run

OPS = "modules/02_ops/ops.py"
MODEL = "modules/03_model/model.py"


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")


def failed(out: str, task: str) -> list[str]:
    """The FAILED line of `task` and the line after it (what happened)."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith(f"FAILED {task} "))
    return lines[head:head + 2]


def test_an_error_deep_in_a_dependency_is_blamed_on_the_module_under_test(
        built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    # model passes None on to ops.add, which fails on it: the student's line is in model, not in ops
    built.edit(MODEL, "return add(mul(self.w, x), self.b)", "return add(mul(self.w, x), None)")
    _, out = status_run(built, capsys)
    assert failed(out, "test:model") == [
        f"FAILED test:model  (module model)  at {MODEL}:21 (model.ipynb:cell 3:13)",
        "  tests/unit/test_model.py::test_model: AttributeError: 'NoneType' object has no attribute 'x'"]


def test_a_dependant_of_a_failing_module_gets_one_line(built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit(OPS, "    return Value(a.x + b.x)", '    raise ValueError("add is broken")')
    _, out = status_run(built, capsys)
    blocked = [line for line in out.splitlines() if line.startswith("blocked:")]
    assert blocked == [f"blocked: model needs ops ({OPS}:15)", f"blocked: init needs ops ({OPS}:15)",
                       f"blocked: integration:ops_model needs ops ({OPS}:15)",
                       f"blocked: system:package needs ops ({OPS}:15)"]
    assert "FAILED test:model" not in out and "FAILED check:model" not in out


def test_a_hanging_test_is_named_with_the_line_it_loops_on_and_costs_one_timeout(
        built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit("modules.yaml", "    depends: [core]\n  - name: model", "    depends: [core]\n    timeout: 3\n  - name: model")
    # one line: the stack is dumped wherever the loop is, and all of it is on line 15
    built.edit(OPS, "    return Value(a.x + b.x)", "    while a.x == a.x: pass\n    return Value(a.x + b.x)")
    start = time.perf_counter()
    _, out = status_run(built, capsys)
    wall = time.perf_counter() - start
    assert failed(out, "test:ops") == [
        f"FAILED test:ops  (module ops)  at {OPS}:15 (ops.ipynb:cell 3:7)",
        "  test:ops: tests/unit/test_ops.py::test_add did not finish within 3 s; it was running this line when it "
        "was stopped (an endless loop?), and the process group was killed. Raise 'timeout' in modules.yaml if it is "
        "just slow."]
    assert f"    {OPS}:15 (ops.ipynb:cell 3:7): in add: while a.x == a.x: pass" in out  # the stack, in source lines
    assert f"blocked: model needs ops ({OPS}:15)" in out  # not run into the same timeout
    assert wall < 3 + 10, wall


def test_a_name_whose_cell_lost_its_export_is_found_at_export_with_both_places(
        built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit(OPS, "\n\ndef mul(", "\n\n# %%\ndef mul(")  # mul now sits in a cell without '#| export'
    _, out = status_run(built, capsys)
    assert failed(out, "export:ops") == [
        f"FAILED export:ops  (module ops)  at {OPS}:19 (ops.ipynb:cell 4:1)",
        f"  model imports mul from ops ({MODEL}:11); ops does not export it (defined at {OPS}:19 in a cell without "
        "'#| export'): add '#| export' at the top of that cell"]
    assert f"blocked: model needs ops ({OPS}:19)" in out
    assert "FAILED test:model" not in out


def test_a_deleted_name_a_dependant_imports_is_found_at_export(
        built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit(OPS, 'def mul(a: Value, b: Value) -> Value:\n    """a * b"""\n    return Value(a.x * b.x)\n', "")
    _, out = status_run(built, capsys)
    assert failed(out, "export:ops") == [
        f"FAILED export:ops  (module ops)  at {MODEL}:11 (model.ipynb:cell 3:3)",
        f"  model imports mul from ops ({MODEL}:11); ops does not export it (there is no definition of mul in {OPS}): "
        "restore it in ops, or change the import in model"]


def test_importing_a_later_module_says_so_instead_of_advising_a_cycle(
        built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit(OPS, "from minitorch.core.core import Value\n", "from minitorch.core.core import Value\n"
               "from minitorch.core.model import LinearModel\n")
    _, out = status_run(built, capsys)
    assert failed(out, "export:ops") == [
        f"FAILED export:ops  (module ops)  at {OPS}:11 (ops.ipynb:cell 3:3)",
        "  ops imports minitorch.core.model, but model is built on ops; a module cannot import a later one: move the "
        "code that needs model into model or a module after it"]


def test_a_test_file_that_does_not_compile_is_blamed_at_its_line_and_hides_no_other(
        built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit("modules.yaml", "    depends: [core]\n  - name: model",
               "    depends: [core]\n    tests: [tests/unit/test_ops.py, tests/unit/test_ops_more.py]\n  - name: model")
    built.write("tests/unit/test_ops_more.py", "from minitorch.core.ops import add\n\n\ndef test_more(:\n    pass\n")
    _, out = status_run(built, capsys)
    assert failed(out, "test:ops") == [
        "FAILED test:ops  (module ops)  at tests/unit/test_ops_more.py:4",
        "  tests/unit/test_ops_more.py: SyntaxError: invalid syntax"]
    result = json.loads(built.read("build/results/test/ops.json"))
    assert (result["passed"], result["errors"]) == (2, 1)  # test_ops.py still ran


def test_a_test_that_returns_a_value_is_reported_at_its_line(built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    built.edit("tests/unit/test_ops.py", "    assert mul(Value(2), Value(4)).x == 8.0",
               "    return mul(Value(2), Value(4)).x == 8.0")
    _, out = status_run(built, capsys)
    assert failed(out, "test:ops") == [
        "FAILED test:ops  (module ops)  at tests/unit/test_ops.py:9",
        "  tests/unit/test_ops.py::test_mul: returns a value instead of asserting; pytest counts it as passed: write "
        "'assert ...' instead of 'return'"]
