"""tasks.sandbox.runner: coverage's parse of a source is kept by content, and gives coverage's own analysis."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import coverage
import pytest
from coverage.parser import PythonParser

from tasks.sandbox import runner

SOURCE = '''\
def f(x):
    if x > 0:
        return (x +
                1)
    return 0  # pragma: no cover


class A:
    def g(self):
        return [i
                for i in range(3)]

    def unused(self):
        total = {
            "a": 1,
        }
        return total


def h():
    pass
'''


def _measured(path: Path) -> coverage.Coverage:
    cov = coverage.Coverage(data_file=None, include=[str(path)], config_file=False)
    cov.start()
    try:
        spec = importlib.util.spec_from_file_location(f"measured_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.f(1)
        mod.A().g()
    finally:
        cov.stop()
    return cov


def test_the_kept_parse_gives_what_coverages_own_analysis_gives(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "mod.py"
    src.write_text(SOURCE, encoding="utf-8")
    cov = _measured(src)
    _, statements, _, missing, _ = cov.analysis2(str(src))
    assert missing  # the test can tell a wrong mapping from a right one
    folder = tmp_path / "parsed"
    plain = runner._coverage(cov, str(src))
    fresh = runner._coverage(cov, str(src), str(folder))
    assert fresh == plain
    assert (fresh["statements"], fresh["missing"]) == (len(statements), sorted(missing))
    assert len(list(folder.iterdir())) == 1

    def no_parse(self: PythonParser) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(PythonParser, "parse_source", no_parse)
    assert runner._coverage(cov, str(src), str(folder)) == fresh  # kept: not parsed again
    monkeypatch.undo()

    src.write_text(SOURCE.replace("def h():\n    pass\n", "def h():\n    return 1\n\n\nX = h()\n"), encoding="utf-8")
    cov = _measured(src)
    changed = runner._coverage(cov, str(src), str(folder))
    assert changed == runner._coverage(cov, str(src))  # another source: parsed again, and right
    assert changed["statements"] == fresh["statements"] + 1
    assert len(list(folder.iterdir())) == 2
