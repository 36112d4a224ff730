"""Naming the test after which a course file changed: inotify's events where it runs, a stat of every file elsewhere."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tasks.sandbox import runner
from tasks.sandbox.notify import Folders

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")


def _course(root: Path) -> dict[str, list[int]]:
    """A few course files in two folders, and their stamps as the parent takes them."""
    for rel in ("modules.yaml", "modules/a.py", "modules/b.py", "tests/unit/test_a.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# {rel}\n")
    watch = {}
    for rel in ("modules.yaml", "modules/a.py", "modules/b.py", "tests/unit/test_a.py"):
        st = os.stat(root / rel)
        watch[rel] = [st.st_size, st.st_mtime_ns, st.st_ino]
    return watch


@linux
def test_folders_name_what_was_written_renamed_or_deleted_and_not_what_was_read(tmp_path: Path) -> None:
    _course(tmp_path)
    folders = Folders([str(tmp_path / "modules"), str(tmp_path)])
    assert folders.changed() == set()
    (tmp_path / "modules/a.py").read_text()
    assert folders.changed() == set()  # reading is not a change
    with open(tmp_path / "modules/a.py", "a") as f:
        f.write("x = 1\n")
    (tmp_path / "modules/.b.py.tmp").write_text("y = 2\n")
    os.replace(tmp_path / "modules/.b.py.tmp", tmp_path / "modules/b.py")  # as editors save
    (tmp_path / "modules.yaml").unlink()
    assert folders.changed() == {str(tmp_path / "modules/a.py"), str(tmp_path / "modules/b.py"),
                                 str(tmp_path / "modules/.b.py.tmp"), str(tmp_path / "modules.yaml")}
    os.chmod(tmp_path / "modules/a.py", 0o600)
    assert folders.changed() == {str(tmp_path / "modules/a.py")}
    assert folders.changed() == set()
    folders.close()


@linux
def test_folders_say_so_when_a_folder_goes_away(tmp_path: Path) -> None:
    _course(tmp_path)
    folders = Folders([str(tmp_path / "modules"), str(tmp_path / "tests/unit")])
    shutil.rmtree(tmp_path / "modules")
    assert folders.changed() is None  # the events after it could be missing: look at every file
    folders.close()


def test_folders_refuse_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        Folders([str(tmp_path / "nowhere")])


def _outcomes(root: Path, watch: dict[str, list[int]]) -> runner._Outcomes:
    plugin = runner._Outcomes(root=root)
    plugin.follow(watch)
    return plugin


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "stat-all"])
def test_each_change_is_put_on_the_test_after_which_it_was_seen(tmp_path: Path, inotify: bool,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if not inotify:
        def unavailable(folders: object) -> Folders:
            raise OSError("inotify is not available here")

        monkeypatch.setattr(runner, "Folders", unavailable)
    elif not sys.platform.startswith("linux"):
        pytest.skip("inotify is Linux's")
    watch = _course(tmp_path)
    plugin = _outcomes(tmp_path, watch)
    assert (plugin._folders is not None) == inotify
    (tmp_path / "tests/unit/test_a.py").write_text("# changed while collecting\n")
    plugin.pytest_runtest_logfinish("t.py::test_one", None)
    plugin.pytest_runtest_logfinish("t.py::test_two", None)  # changed nothing
    (tmp_path / "modules/.a.py.tmp").write_text("# replaced\n")
    os.replace(tmp_path / "modules/.a.py.tmp", tmp_path / "modules/a.py")
    plugin.pytest_runtest_logfinish("t.py::test_three", None)
    (tmp_path / "modules.yaml").unlink()
    (tmp_path / "modules/a.py").write_text("# again: still put on test_three\n")
    plugin.pytest_runtest_logfinish("t.py::test_four", None)
    assert plugin.touched == {"tests/unit/test_a.py": "t.py::test_one", "modules/a.py": "t.py::test_three",
                              "modules.yaml": "t.py::test_four"}


@linux
def test_after_a_folder_goes_away_every_file_is_looked_at(tmp_path: Path) -> None:
    watch = _course(tmp_path)
    plugin = _outcomes(tmp_path, watch)
    plugin.pytest_runtest_logfinish("t.py::test_one", None)
    shutil.rmtree(tmp_path / "tests")
    plugin.pytest_runtest_logfinish("t.py::test_two", None)
    assert plugin._folders is None
    (tmp_path / "modules/b.py").write_text("# changed\n")
    plugin.pytest_runtest_logfinish("t.py::test_three", None)
    assert plugin.touched == {"tests/unit/test_a.py": "t.py::test_two", "modules/b.py": "t.py::test_three"}
