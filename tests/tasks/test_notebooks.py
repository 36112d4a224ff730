"""Paired notebooks (issue 13): an edit saved in the notebook or the source reaches the other; none is ever lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Course

LEAF, NB = "modules/04_leaf/leaf.py", "modules/04_leaf/leaf.ipynb"
GEN = "build/lib/minitorch/core/leaf.py"
ASIDE = "build/notebooks/aside"


def read_nb(course: Course, rel: str = NB) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(course.read(rel))
    return data


def write_nb(course: Course, nb: dict[str, Any], rel: str = NB) -> None:
    course.write(rel, json.dumps(nb, indent=1))


def edit_cell(course: Course, old: str, new: str, rel: str = NB) -> dict[str, Any]:
    """What a student does in Jupyter: change a cell's text and save."""
    nb = read_nb(course, rel)
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if old in text:
            cell["source"] = text.replace(old, new, 1)
            write_nb(course, nb, rel)
            return nb
    raise AssertionError(f"{old!r} in no cell of {rel}")


def asides(course: Course) -> list[Path]:
    folder = course.path(ASIDE)
    return sorted(folder.glob("*.ipynb")) if folder.is_dir() else []


def test_the_build_pairs_a_notebook_beside_each_source(built: Course) -> None:
    nb = read_nb(built)
    assert nb["metadata"]["jupytext"]["formats"] == "ipynb,py:percent"
    assert [c["cell_type"] for c in nb["cells"]] == ["markdown", "code", "code", "code"]
    # the notebook says nothing the source does not: jupytext writes back the same bytes
    from tasks.steps.notebooks import as_source, parse_notebook

    assert as_source(parse_notebook(built.path(NB).read_bytes(), NB)) == built.read(LEAF)
    assert built.doit().ran == set()


def test_an_edit_saved_in_the_notebook_is_tested_and_kept(built: Course) -> None:
    edit_cell(built, "return Value(2 * v.x)", "return Value(3 * v.x)")
    run = built.doit()
    assert run.code != 0  # the tests ran on the notebook's code: 3 * 2 != 4
    assert {"notebooks:leaf", "export:leaf", "check:leaf", "test:leaf"} <= run.ran
    assert run.failed[0] == "test:leaf"
    assert "return Value(3 * v.x)" in built.read(LEAF)
    assert "return Value(3 * v.x)" in built.read(GEN)
    assert "return Value(3 * v.x)" in "".join(read_nb(built)["cells"][2]["source"])  # kept in the notebook too
    # the student fixes the test in the notebook's module and saves again: green, and nothing re-syncs after
    edit_cell(built, "return Value(3 * v.x)", "return Value(2.0 * v.x)")
    assert built.doit().code == 0
    assert "return Value(2.0 * v.x)" in built.read(GEN)
    assert built.doit().ran == set()


def test_an_edit_in_the_source_reaches_the_notebook_with_its_outputs(built: Course) -> None:
    nb = read_nb(built)
    nb["cells"][3]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ran it\n"]}]
    nb["cells"][3]["execution_count"] = 7
    nb["cells"][2]["metadata"]["tags"] = ["mine"]
    write_nb(built, nb)
    assert built.doit().code == 0  # outputs and metadata only: the source is unchanged
    built.edit(LEAF, '"""2 * v"""', '"""Twice v."""')
    assert built.doit().code == 0
    after = read_nb(built)
    assert '"""Twice v."""' in "".join(after["cells"][2]["source"])
    assert after["cells"][2]["metadata"]["tags"] == ["mine"]
    assert after["cells"][3]["outputs"] == [{"output_type": "stream", "name": "stdout", "text": ["ran it\n"]}]
    assert after["cells"][3]["execution_count"] == 7
    assert asides(built) == []


def test_both_edited_stops_with_both_kept(built: Course, capsys: pytest.CaptureFixture[str]) -> None:
    edit_cell(built, "return Value(2 * v.x)", "return Value(v.x + v.x)  # notebook")
    nb_bytes = built.path(NB).read_bytes()
    built.edit(LEAF, '"""2 * v"""', '"""source side"""')
    source = built.read(LEAF)
    run = built.doit()
    assert run.code != 0 and "notebooks:leaf" in run.failed
    assert "export:leaf" not in run.ran
    assert built.read(LEAF) == source and built.path(NB).read_bytes() == nb_bytes  # nothing overwritten
    [aside] = asides(built)
    assert aside.read_bytes() == nb_bytes
    rel = aside.relative_to(built.root).as_posix()
    from tasks.steps.notebooks import NotebookJob, conflict

    message = conflict(NotebookJob(str(built.root), "leaf", LEAF, NB), rel)
    assert message.startswith(f"{NB} and {LEAF} were both edited since they were last synced; nothing was overwritten. "
                              f"The notebook's version is saved in {rel}.")
    # a second run keeps refusing, and does not pile up copies
    assert built.doit().code != 0 and len(asides(built)) == 1
    # the documented way out: keep the source by deleting the notebook
    built.path(NB).unlink()
    assert built.doit().code == 0
    assert '"""source side"""' in "".join(read_nb(built)["cells"][2]["source"])


def test_the_conflict_message_reaches_the_command_line(built: Course) -> None:
    edit_cell(built, "return Value(2 * v.x)", "return Value(v.x + v.x)")
    built.edit(LEAF, '"""2 * v"""', '"""source side"""')
    out = built.cli()
    assert out.returncode != 0
    assert f"{NB} and {LEAF} were both edited since they were last synced; nothing was overwritten." in out.stdout + out.stderr


def test_keeping_the_notebook_with_jupytext_settles_a_conflict(built: Course) -> None:
    import jupytext

    edit_cell(built, "return Value(2 * v.x)", "return Value(v.x + v.x)")
    built.edit(LEAF, '"""2 * v"""', '"""source side"""')
    assert built.doit().code != 0
    # 'jupytext --to py:percent modules/04_leaf/leaf.ipynb', as the message says
    jupytext.write(jupytext.read(built.path(NB)), built.path(LEAF), fmt="py:percent")
    assert built.doit().code == 0
    assert "return Value(v.x + v.x)" in built.read(GEN)


@pytest.mark.parametrize(("content", "reason"), [
    ('{"cells": [', "Expecting value"),
    ('{"not": "a notebook"}', "no 'cells' list: this JSON is not a notebook"),
    ("[1, 2]", "no 'cells' list: this JSON is not a notebook"),
])
def test_a_broken_notebook_changes_nothing(built: Course, capfd: pytest.CaptureFixture[str], content: str,
                                           reason: str) -> None:
    from test_catalogue import run_doit

    built.write(NB, content)
    source = built.read(LEAF)
    assert run_doit(built) != 0
    shown = "".join(capfd.readouterr())
    assert f"{NB}:1: not a valid notebook ({reason}" in shown
    assert ("nothing was synced and no file was changed. Fix it (Jupyter's File > Revert, or your editor's undo), "
            "or move it away and run doit: a fresh notebook is paired from the source") in shown
    assert built.read(LEAF) == source and built.read(NB) == content


def test_pairing_metadata_dropped_by_another_tool_is_restored(built: Course, capfd: pytest.CaptureFixture[str]) -> None:
    from test_catalogue import run_doit

    nb = read_nb(built)
    del nb["metadata"]["jupytext"]
    nb["cells"][2]["source"] = "".join(nb["cells"][2]["source"]).replace("2 * v.x", "2.0 * v.x")
    write_nb(built, nb)
    assert run_doit(built) == 0
    assert f"warning: {NB} had lost its jupytext pairing metadata" in "".join(capfd.readouterr())
    assert read_nb(built)["metadata"]["jupytext"]["formats"] == "ipynb,py:percent"
    assert "2.0 * v.x" in built.read(LEAF) and "2.0 * v.x" in built.read(GEN)


def test_cells_that_no_longer_match_follow_the_side_that_changed(built: Course) -> None:
    # the notebook gains and loses cells: the source follows, cell for cell
    nb = read_nb(built)
    nb["cells"].insert(3, {"cell_type": "markdown", "metadata": {}, "source": "A new note.", "id": "n1"})
    del nb["cells"][4]
    write_nb(built, nb)
    assert built.doit().code == 0
    text = built.read(LEAF)
    assert "# A new note." in text and "assert double(Value(2)).x == 4" not in text


def test_a_notebook_renamed_into_place_is_synced(built: Course) -> None:
    # editors save by writing a temporary file and renaming it over the notebook
    nb = edit_cell(built, "return Value(2 * v.x)", "return Value(2.0 * v.x)")
    tmp = built.path("modules/04_leaf/.leaf.ipynb~")
    tmp.write_text(json.dumps(nb), encoding="utf-8")
    tmp.replace(built.path(NB))
    assert built.doit().code == 0
    assert "2.0 * v.x" in built.read(GEN)


def test_an_interrupted_sync_converges(built: Course, monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.core import atomic
    from tasks.steps import notebooks

    edit_cell(built, "return Value(2 * v.x)", "return Value(2.0 * v.x)")
    real = atomic.write_bytes

    def stop_at_record(path: Path, data: bytes) -> None:
        if path.name == "leaf.json" and "notebooks" in path.parts:
            raise KeyboardInterrupt  # the source is written, the record is not
        real(path, data)

    monkeypatch.setattr(atomic, "write_bytes", stop_at_record)
    job = notebooks.NotebookJob(str(built.root), "leaf", LEAF, NB)
    with pytest.raises(KeyboardInterrupt):
        notebooks.sync(job)
    monkeypatch.undo()
    assert "2.0 * v.x" in built.read(LEAF)
    assert notebooks.sync(job) == {"sync": "agree"}  # both files say the same: no conflict
    assert asides(built) == []


def test_doit_clean_keeps_the_notebooks(built: Course) -> None:
    assert built.doit("clean").code == 0
    assert built.path(NB).exists()
    assert built.doit().code == 0 and asides(built) == []
