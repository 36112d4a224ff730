"""tasks.core.places: every message about an .ipynb source names the cell and the line in it (`x.ipynb:cell 7:3`)."""

from __future__ import annotations

import json
from typing import Any

import jupytext
import pytest
from conftest import Course
from test_catalogue import run_doit

from tasks.core.errors import Problem
from tasks.core.places import cell_of, cell_table, place
from tasks.steps.sources import scan

NB = {"cells": [{"cell_type": "markdown", "source": ["# Ops\n", "prose"]},       # lines 1-2
                {"cell_type": "code", "source": "#| default_exp core.ops"},      # line 3
                {"cell_type": "code", "source": ["#| export\n", "x = 1\n", "y = (\n"]}]}  # lines 4-7


@pytest.mark.parametrize(("line", "col", "shown"), [
    (1, 0, "m/ops.ipynb:cell 1:1"), (2, 0, "m/ops.ipynb:cell 1:2"), (3, 0, "m/ops.ipynb:cell 2:1"),
    (6, 5, "m/ops.ipynb:cell 3:3:5"), (7, 0, "m/ops.ipynb:cell 3:4"),
    (99, 0, "m/ops.ipynb:99"),  # past the last cell: the plain number, never a wrong cell
])
def test_a_notebook_line_is_shown_as_cell_and_line(line: int, col: int, shown: str) -> None:
    assert place("m/ops.ipynb", line, col, table=cell_table(json.dumps(NB))) == shown


def test_a_percent_source_keeps_its_line_numbers() -> None:
    assert place("m/ops.py", 12) == "m/ops.py:12" and place("m/ops.py", 12, 4) == "m/ops.py:12:4"
    assert cell_of((2, 1, 4), 3) == (2, 1) and cell_of((), 1) is None


def test_the_scanner_numbers_notebook_lines_within_each_cell() -> None:
    cells = scan(json.dumps(NB), "m/ops.ipynb")
    # lines count within the cell, and the cell is named where a place is printed (sources.cell_place)
    assert [(c.number, c.first_line) for c in cells] == [(1, 1), (2, 1), (3, 1)]


def test_a_problem_in_a_notebook_names_its_cell(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m/ops.ipynb").write_text(json.dumps(NB), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert str(Problem("m/ops.ipynb", 6, 3, "boom")) == "m/ops.ipynb:cell 3:3:3: boom"


LEAF_NB = "modules/04_leaf/leaf.ipynb"


@pytest.fixture
def notebook_course(course: Course) -> Course:
    """The fixture course with leaf's source given as a notebook (cells: prose, default_exp, export, demo)."""
    nb = jupytext.read(course.path("modules/04_leaf/leaf.py"), fmt="py:percent")
    jupytext.write(nb, course.path(LEAF_NB), fmt="ipynb")
    course.path("modules/04_leaf/leaf.py").unlink()
    course.edit("modules.yaml", "source: modules/04_leaf/leaf.py", f"source: {LEAF_NB}")
    assert course.doit().code == 0
    return course


def edit_cell(course: Course, number: int, old: str, new: str) -> None:
    nb = json.loads(course.read(LEAF_NB))
    cell = nb["cells"][number - 1]
    text = "".join(cell["source"])
    assert old in text
    cell["source"] = text.replace(old, new, 1)
    course.write(LEAF_NB, json.dumps(nb))


def test_a_syntax_error_in_a_notebook_source_names_the_cell(notebook_course: Course,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    edit_cell(notebook_course, 3, "return Value(2 * v.x)", "return Value(2 * v.x")
    assert run_doit(notebook_course) != 0
    shown = "".join(capfd.readouterr())
    assert f"{LEAF_NB}:cell 3:7:17: syntax error in an exported cell: '(' was never closed" in shown, shown


def test_an_import_error_in_a_notebook_source_names_the_cell(notebook_course: Course,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    edit_cell(notebook_course, 3, "def double(", 'raise ValueError("boom")\n\n\ndef double(')
    assert run_doit(notebook_course) != 0
    shown = "".join(capfd.readouterr())
    assert f"{LEAF_NB}:cell 3:5: importing minitorch.core.leaf raised ValueError: boom" in shown, shown
    assert f"    {LEAF_NB}:cell 3:5: in <module>: raise ValueError(\"boom\")" in shown


def test_a_failing_test_and_missing_coverage_name_the_cell(notebook_course: Course,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    edit_cell(notebook_course, 3, "    return Value(2 * v.x)", "    if v.x > 100:\n        return v\n"
              "    raise ValueError(v.x)")
    notebook_course.edit("modules.yaml", "source: modules/04_leaf/leaf.ipynb\n",
                         "source: modules/04_leaf/leaf.ipynb\n    coverage: 99\n")
    assert run_doit(notebook_course) != 0
    shown = "".join(capfd.readouterr())
    assert f"{LEAF_NB}:cell 3:9: tests/unit/test_leaf.py::test_double: ValueError: 2.0" in shown, shown
    notebook_course.write("tests/unit/test_leaf.py", "from minitorch.core.core import Value\n"
                          "from minitorch.core.leaf import double\n\n\ndef test_double():\n"
                          "    assert double(Value(200)).x == 200.0\n")
    assert run_doit(notebook_course) != 0
    shown = "".join(capfd.readouterr())
    assert f"add tests for {LEAF_NB}:cell 3:9" in shown, shown
