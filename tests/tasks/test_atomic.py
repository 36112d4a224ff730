"""tasks.core.atomic: a reader sees the old bytes or the new ones, never half of them, and no temporary file stays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.core import atomic


def test_write_bytes_creates_parents_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.py"
    atomic.write_bytes(target, b"x = 1\n")
    assert target.read_bytes() == b"x = 1\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.py"]


def test_written_files_get_the_usual_mode(tmp_path: Path) -> None:
    atomic.write_text(tmp_path / "f.txt", "caf\u00e9")
    assert (tmp_path / "f.txt").read_bytes() == "caf\u00e9".encode()
    (tmp_path / "plain.txt").write_text("")
    assert (tmp_path / "f.txt").stat().st_mode == (tmp_path / "plain.txt").stat().st_mode


def test_write_if_changed_keeps_identical_files_untouched(tmp_path: Path) -> None:
    target = tmp_path / "f.py"
    assert atomic.write_if_changed(target, b"a") is True
    os.utime(target, ns=(1, 1))
    assert atomic.write_if_changed(target, b"a") is False
    assert target.stat().st_mtime_ns == 1  # early cutoff: the mtime is the old one
    assert atomic.write_if_changed(target, b"b") is True
    assert target.read_bytes() == b"b"


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_bytes_and_removes_the_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    target = tmp_path / "f.py"
    target.write_bytes(b"old")

    def fail(src: str, dst: str) -> None:
        raise error

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(type(error)):
        atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.py"]
