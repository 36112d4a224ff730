"""The repository itself: what the build generates beside the sources is never committed.

The paired notebooks are student work kept in sync with the sources (tasks/steps/notebooks.py);
a branch once committed all fifteen because the build's own .gitignore beside them had not been
written yet in that checkout. This catches it at the next test run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tasks.core import layout
from tasks.model.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[2]


def test_no_paired_notebook_of_the_course_is_committed() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = set(subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.split("\0"))
    paired = {layout.paired_notebook(m.source) for m in read_manifest(ROOT).modules if m.source.endswith(".py")}
    assert paired, "the course has percent sources, each with a paired notebook"
    assert sorted(paired & tracked) == []
