"""tasks.steps.export: source -> package module through nbdev, atomically, only when the bytes change."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Course

from tasks.core.errors import SourceError
from tasks.steps.export import ExportJob, cell_id, export, hand_edited, intact, module_path, read_notebook, source_line

OPS = "modules/02_ops/ops.py"
TARGETS = {"minitorch.core.core": "core", "minitorch.core.ops": "ops", "minitorch.core.model": "model",
           "minitorch.core.leaf": "leaf"}


def job(course: Course, name: str = "ops", source: str = OPS) -> ExportJob:
    return ExportJob(root=str(course.root), name=name, source=source, target=f"minitorch.core.{name}",
                     lib="build/lib", package="minitorch", depends={"core": "minitorch.core.core"}, targets=TARGETS)


def test_module_path() -> None:
    assert module_path(Path("build/lib"), "pkg.core.ops") == Path("build/lib/pkg/core/ops.py")


def test_cell_ids_depend_on_content_only() -> None:
    assert cell_id("code", "x = 1") == cell_id("code", "x = 1")
    assert len({cell_id("code", "x = 1"), cell_id("markdown", "x = 1"), cell_id("code", "x = 2")}) == 3


@pytest.mark.parametrize(("line", "expected"), [(1, None), (4, None), (5, 10), (7, 12), (20, 25), (21, 30), (22, 31)])
def test_source_line(line: int, expected: int | None) -> None:
    record = {"lines": [[5, 10], [21, 30]]}
    assert source_line(record, line) == expected


def test_export_writes_once_then_only_on_change(course: Course) -> None:
    j = job(course)
    assert export(j)["written"] is True
    text = j.output.read_text()
    assert text.startswith('"""Arithmetic on values."""\n')  # nbdev: the '> ...' line is the module docstring
    assert "__all__ = ['add', 'mul']" in text
    assert "from .core import Value" in text  # nbdev's import rewriting
    mtime = j.output.stat().st_mtime_ns
    course.edit(OPS, "# > Arithmetic on values.", "# > Arithmetic on values.\n#\n# More prose.")
    assert export(j)["written"] is False
    assert j.output.stat().st_mtime_ns == mtime
    assert intact(j)
    # the record maps generated lines back to the source: `def add` is now line 15 of ops.py (13 + 2 prose lines)
    import json
    record = json.loads(j.record.read_text())
    generated = text.splitlines().index("def add(a: Value, b: Value) -> Value:") + 1
    assert source_line(record, generated) == 15
    assert list(j.output.parent.iterdir()) == [j.output]  # nbdev's scratch file is gone


def test_bom_and_crlf_export_the_same_bytes(course: Course) -> None:
    j = job(course)
    export(j)
    before = j.output.read_bytes()
    src = course.path(OPS)
    src.write_bytes(b"\xef\xbb\xbf" + src.read_bytes().replace(b"\n", b"\r\n"))
    assert export(j)["written"] is False
    assert j.output.read_bytes() == before


def test_a_bad_source_keeps_the_previous_export(course: Course) -> None:
    j = job(course)
    export(j)
    before = j.output.read_bytes()
    course.edit(OPS, "#| default_exp core.ops", "#| default_exp core.opz")
    with pytest.raises(SourceError) as exc:
        export(j)
    assert str(exc.value) == (f"{OPS}:6: '#| default_exp core.opz' does not match the manifest target; write "
                              "'#| default_exp core.ops' (or change 'target' in modules.yaml)")
    assert j.output.read_bytes() == before


def test_an_undeclared_dependency_is_refused(course: Course) -> None:
    j = ExportJob(**{**job(course, "model", "modules/03_model/model.py").__dict__,
                     "depends": {"core": "minitorch.core.core"}})
    with pytest.raises(SourceError) as exc:
        export(j)
    assert str(exc.value) == ("modules/03_model/model.py:11: model imports minitorch.core.ops but does not depend "
                              "on ops; add 'ops' to the 'depends' of 'model' in modules.yaml, or remove the import")
    assert not j.output.exists()


def test_a_hand_edit_is_saved_aside_and_regenerated(course: Course, capsys: pytest.CaptureFixture[str]) -> None:
    j = job(course)
    export(j)
    good = j.output.read_bytes()
    j.output.write_bytes(good + b"# my fix\n")
    assert hand_edited(j) and not intact(j)
    export(j)
    assert j.output.read_bytes() == good
    saved = list((course.root / "build" / "hand-edits").rglob("*.py"))
    assert len(saved) == 1 and saved[0].read_bytes() == good + b"# my fix\n"
    err = capsys.readouterr().err
    assert "build/lib/minitorch/core/ops.py was edited by hand; your edit is saved in build/hand-edits/" in err
    assert f"Edit {OPS} instead: the file is regenerated from it." in err


def test_a_missing_output_is_not_intact(course: Course) -> None:
    j = job(course)
    assert not intact(j)
    export(j)
    assert intact(j)
    j.output.unlink()
    assert not intact(j) and not hand_edited(j)


def test_read_notebook_names_the_source_relative_to_the_repository(
        course: Course, monkeypatch: pytest.MonkeyPatch) -> None:
    src = course.path(OPS)
    src.write_bytes(src.read_bytes().replace(b'"""a + b"""', b'"""a + b, caf\xe9"""'))
    monkeypatch.chdir(course.root)
    with pytest.raises(SourceError) as exc:
        read_notebook(src)
    assert str(exc.value) == f"{OPS}:14: not valid UTF-8 (byte 0xe9); save the file as UTF-8 in your editor"


def test_read_notebook_gives_stable_cell_ids(course: Course) -> None:
    first = read_notebook(course.path(OPS))
    second = read_notebook(course.path(OPS))
    assert [c["id"] for c in first["cells"]] == [c["id"] for c in second["cells"]]
    assert [c["cell_type"] for c in first["cells"]] == ["markdown", "code", "code", "code"]


def test_an_export_starts_the_warm_worker_for_the_checks_that_follow(course: Course) -> None:
    from tasks.sandbox import warm

    if not warm.enabled():
        pytest.skip("no fork here: the plain spawn is used")
    warm.stop()  # one started by an earlier test of this process
    export(job(course))
    assert warm.worker_pid() is not None


def test_installed_providers_are_read_again_when_a_folder_on_sys_path_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata
    import sys

    from tasks.steps.export import installed_providers

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [str(site)])
    calls: list[int] = []

    def read() -> dict[str, list[str]]:
        calls.append(1)
        return {"numpy": ["numpy"]}

    monkeypatch.setattr(importlib.metadata, "packages_distributions", read)
    assert installed_providers(str(tmp_path)) == {"numpy": ["numpy"]}
    assert installed_providers(str(tmp_path)) == {"numpy": ["numpy"]}
    assert len(calls) == 1
    (site / "newdist-1.0.dist-info").mkdir()  # what an install does
    installed_providers(str(tmp_path))
    assert len(calls) == 2
