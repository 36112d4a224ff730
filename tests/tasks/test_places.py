"""tasks.core.places: every message about an .ipynb source names the cell and the line in it (`x.ipynb:cell 7:3`)."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import pytest
from conftest import Course
from test_catalogue import run_doit

from tasks.core.errors import Problem, join
from tasks.core.places import Place, parse, percent_cells, place, shown, start
from tasks.steps.notebooks import _ipynb, from_source
from tasks.steps.sources import scan
from tasks.tools.percent import read_percent

NB = {"cells": [{"cell_type": "markdown", "source": ["# Ops\n", "prose"]},
                {"cell_type": "code", "source": "#| default_exp core.ops"},
                {"cell_type": "code", "source": ["#| export\n", "x = 1\n", "y = (\n"]}]}
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("at", "shown"), [
    (Place("m/ops.py", 12), "m/ops.py:12"), (Place("m/ops.py", 12, 4), "m/ops.py:12:4"),
    (Place("m/ops.ipynb", 3, 0, 7), "m/ops.ipynb:cell 7:3"), (Place("m/ops.ipynb", 3, 12, 7), "m/ops.ipynb:cell 7:3:12"),
])
def test_one_printer_for_every_place(at: Place, shown: str) -> None:
    assert str(at) == place(at.path, at.line, at.col, at.cell) == shown
    assert parse(shown) == at


def test_a_whole_file_starts_at_line_1_or_cell_1() -> None:
    assert str(start("m/ops.py")) == "m/ops.py:1" and str(start("m/ops.ipynb")) == "m/ops.ipynb:cell 1:1"


def test_the_scanner_numbers_notebook_lines_within_each_cell() -> None:
    cells = scan(json.dumps(NB), "m/ops.ipynb")
    assert [(c.number, c.first_line, c.at) for c in cells] == [(1, 1, 1), (2, 1, 2), (3, 1, 3)]


def test_a_problem_in_a_notebook_names_its_cell() -> None:
    assert str(Problem("m/ops.ipynb", 3, 3, "boom", 3)) == "m/ops.ipynb:cell 3:3:3: boom"
    # sorted by cell, then line: cell 10 after cell 2
    assert join([Problem("m.ipynb", 1, 0, "b", 10), Problem("m.ipynb", 5, 0, "a", 2)]) == \
        "m.ipynb:cell 2:5: a\nm.ipynb:cell 10:1: b"


SOURCES = sorted([*REPO.glob("modules/*/*.py"), *REPO.glob("tests/tasks/fixtures/*/modules/*/*.py"),
                  *REPO.glob("tests/tasks/fixtures/flatcourse/lessons/*.py")])


@pytest.mark.parametrize("text", [
    "x = 1\n", "", "# %%\n", "\n\n# %% [markdown]\n# hi\n", "# hi\n\n# %%\nx\n", "#%%\nx\n# In[ ]:\ny\n",
    "# ---\n# jupyter:\n#   a: 1\n# ---\n\n# %%\nx = 1\n", "# ---\n# jupyter:\n#   a: 1\n# ---\n# %%\nx\n",
    *(p.read_text(encoding="utf-8") for p in SOURCES),
])
def test_cells_of_a_percent_source_are_jupytexts(text: str) -> None:
    assert len(SOURCES) >= 18
    assert percent_cells(text) == tuple(loc.first_line for loc in read_percent(text)[1])


PAIRED = "# %% [markdown]\n# # Ops\n# prose\n\n# %%\n#| default_exp ops\n\n# %%\n#| export\ndef f():\n    return 1\n"


def test_a_py_place_names_its_paired_notebook_cell(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m/ops.py").write_text(PAIRED, encoding="utf-8")
    assert shown(Place("m/ops.py", 11), tmp_path) == "m/ops.py:11"  # no notebook: no cell
    (tmp_path / "m/ops.ipynb").write_bytes(_ipynb(from_source(PAIRED, None)))
    assert shown(Place("m/ops.py", 11), tmp_path) == "m/ops.py:11 (ops.ipynb:cell 3:3)"
    assert shown(Place("m/ops.py", 3, 5), tmp_path) == "m/ops.py:3:5 (ops.ipynb:cell 1:2)"
    assert shown(Place("m/ops.py", 5), tmp_path) == "m/ops.py:5"  # a marker line is in no cell
    # the notebook holds other cells (not synced yet): the .py place alone, never a wrong cell
    (tmp_path / "m/ops.py").write_text(PAIRED + "\n# %%\nf()\n", encoding="utf-8")
    assert shown(Place("m/ops.py", 11), tmp_path) == "m/ops.py:11"


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
