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


def test_the_parent_parses_ahead_what_the_child_then_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "build/lib/mod.py"
    src.parent.mkdir(parents=True)
    src.write_text(SOURCE, encoding="utf-8")
    folder = tmp_path / "build/state/parsed"
    args = ["pytest", "--lib", "build/lib", "--cover", "build/lib/mod.py", "--data-file", str(tmp_path / "d"),
            "--parsed", str(folder), "--", "tests/unit/test_mod.py", "-q"]
    runner.parse_ahead(tmp_path, args)  # in the parent, while the child runs
    assert len(list(folder.iterdir())) == 1
    cov = _measured(src)

    def no_parse(self: PythonParser) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(PythonParser, "parse_source", no_parse)
    kept = runner._coverage(cov, str(src), str(folder))  # the child: coverage's own exclusions, the same key
    monkeypatch.undo()
    assert kept == runner._coverage(cov, str(src))


def test_parsing_ahead_leaves_a_run_without_coverage_or_a_bad_source_alone(tmp_path: Path) -> None:
    folder = tmp_path / "parsed"
    runner.parse_ahead(tmp_path, ["pytest", "--lib", "lib", "--parsed", str(folder), "--", "--cover", "x.py"])
    (tmp_path / "bad.py").write_text("def f(:\n", encoding="utf-8")
    runner.parse_ahead(tmp_path, ["pytest", "--cover", "bad.py", "--parsed", str(folder)])  # the child reports it
    runner.parse_ahead(tmp_path, ["pytest", "--cover", "missing.py", "--parsed", str(folder)])
    assert not folder.exists()
