"""tasks.tools: each adapter to another tool's internals, run against the installed tool.

These fail when doit, nbdev or griffe change what the adapters rely on; each adapter
names the version range it was checked against.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tasks.tools import doitcmd, doitdb, doitorder, griffe, nbdev, percent, pytestrewrite

REPO = Path(__file__).resolve().parents[2]


def _version(dist: str) -> Version:
    from importlib.metadata import version

    return Version(version(dist))


def test_installed_tools_are_in_the_checked_ranges() -> None:
    for dist, module in (("doit", doitdb), ("doit", doitcmd), ("doit", doitorder), ("nbdev", nbdev), ("griffe", griffe),
                         ("jupytext", percent), ("pytest", pytestrewrite)):
        assert _version(dist) in SpecifierSet(module.CHECKED), f"{dist} {_version(dist)} outside {module.CHECKED}"


DODO = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from tasks.tools.doitcmd import current_command, parallel, selected

    print("command:", current_command(), "parallel:", parallel(), "selected:", selected())
    DOIT_CONFIG = {{"backend": "sqlite3", "dep_file": "state.db", "check_file_uptodate": "md5"}}

    def task_copy():
        return {{"actions": ["cp in.txt out.txt"], "file_dep": ["in.txt"], "targets": ["out.txt"]}}
""")


def _doit(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "doit", *args], cwd=tmp, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_doit_state_db_read_as_doit_reads_it(tmp_path: Path) -> None:
    (tmp_path / "dodo.py").write_text(DODO.format(repo=str(REPO)))
    (tmp_path / "in.txt").write_text("one\n")
    run = _doit(tmp_path)
    assert run.returncode == 0, run.stderr
    db = tmp_path / "state.db"
    assert doitdb.states(tmp_path, db, ["copy", "never"]) == {"copy": "fresh"}
    row = doitdb.rows(db, ["copy"])["copy"]
    assert row["deps:"] == ["in.txt"] and len(row["in.txt"]) == 3  # [mtime, size, md5]
    time.sleep(0.01)
    (tmp_path / "in.txt").write_text("two\n")
    assert doitdb.states(tmp_path, db, ["copy"]) == {"copy": "stale"}
    # doit agrees: the task would run again
    listed = _doit(tmp_path, "list", "-s")
    assert listed.stdout.splitlines()[-1].startswith("R copy"), listed.stdout


def test_same_size_same_mtime_is_unchanged_as_in_doit(tmp_path: Path) -> None:
    (tmp_path / "dodo.py").write_text(DODO.format(repo=str(REPO)))
    (tmp_path / "in.txt").write_text("one\n")
    assert _doit(tmp_path).returncode == 0
    st = os.stat(tmp_path / "in.txt")
    (tmp_path / "in.txt").write_text("owt\n")  # same size, other bytes
    os.utime(tmp_path / "in.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert doitdb.states(tmp_path, tmp_path / "state.db", ["copy"]) == {"copy": "fresh"}


def test_current_command_names_doit_commands(tmp_path: Path) -> None:
    (tmp_path / "dodo.py").write_text(DODO.format(repo=str(REPO)))
    (tmp_path / "in.txt").write_text("x\n")
    assert "command: list parallel: False selected: []" in _doit(tmp_path, "list").stdout
    assert "command: run parallel: False selected: []" in _doit(tmp_path).stdout
    assert "command: run parallel: False selected: ['copy']" in _doit(tmp_path, "copy").stdout
    assert doitcmd.current_command() is None  # not under doit's command line


@pytest.mark.parametrize("option", [["-n", "2"], ["-n2"], ["--process=2"], ["-n", "2", "-P", "thread"]])
def test_parallel_sees_doit_n_while_dodo_loads(tmp_path: Path, option: list[str]) -> None:
    (tmp_path / "dodo.py").write_text(DODO.format(repo=str(REPO)))
    (tmp_path / "in.txt").write_text("x\n")
    assert "command: run parallel: True" in _doit(tmp_path, *option).stdout
    assert "command: run parallel: False" in _doit(tmp_path, "-n", "0").stdout
    assert not doitcmd.parallel() and doitcmd.selected() is None  # not under doit's command line


def test_doit_still_saves_its_state_where_saving_looks() -> None:
    import inspect

    import doit.dependency
    import doit.runner

    for file, names in doitcmd.SAVING:
        module = doit.dependency if file.endswith("dependency.py") else doit.runner
        assert inspect.getsourcefile(module).replace("\\", "/").endswith(file)  # type: ignore[union-attr]
        source = inspect.getsource(module)
        for name in names:
            assert f"def {name}(" in source, f"doit no longer has {name}() in {file}"


ORDER_DODO = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from tasks.tools import doitorder

    doitorder.install()
    NAMES = {names!r}
    DOIT_CONFIG = {{"backend": "json", "dep_file": "state.json", "verbosity": 2}}

    def task_root():
        return {{"actions": ["true"]}}

    def task_after():
        for name in NAMES:  # each waits for root: doit wakes them when it finishes
            yield {{"name": name, "actions": ["true"], "task_dep": ["root"]}}
""")


def test_tasks_waiting_for_one_run_in_task_list_order_every_time(tmp_path: Path) -> None:
    names = ["kiwi", "apple", "mango", "fig", "banana", "cherry", "lime", "date", "grape", "pear", "plum", "elder"]
    (tmp_path / "dodo.py").write_text(ORDER_DODO.format(repo=str(REPO), names=names))
    for seed in ("1", "2", "3", "4"):
        run = subprocess.run([sys.executable, "-m", "doit", "after"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60, env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed})
        ran = [line[3:].strip() for line in run.stdout.splitlines() if line.startswith(".  ")]
        assert ran == ["root", *(f"after:{n}" for n in names)], run.stdout + run.stderr


def test_list_order_set_iterates_by_position_not_by_insertion() -> None:
    class Node:  # as doit's ExecNode: hashed by identity, its task named
        def __init__(self, name: str) -> None:
            self.task = type("Task", (), {"name": name})()

    tasks = {"b": 1, "c": 2, "a": 3}
    nodes = {name: Node(name) for name in ("a", "b", "c", "z")}
    ordered = doitorder.InListOrder(doitorder.Positions(tasks))
    for name in ("z", "a", "c", "b"):
        ordered.add(nodes[name])
    assert [n.task.name for n in ordered] == ["b", "c", "a", "z"]  # one doit does not know comes last


def test_nbdev_renders_exported_cells_only(tmp_path: Path) -> None:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": "a1", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "#| default_exp core.thing"},
        {"cell_type": "code", "id": "b2", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "#| export\ndef public(x):\n    return x + 1"},
        {"cell_type": "code", "id": "c3", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "scratch = public(1)"},
    ]}
    lib = tmp_path / "lib"
    (lib / "pkg" / "core").mkdir(parents=True)
    text = nbdev.render(nb, tmp_path / "thing.py", "core.thing", lib / "pkg")
    assert "def public(x):" in text and "scratch" not in text
    assert "__all__ = ['public']" in text
    assert list((lib / "pkg" / "core").iterdir()) == []  # nothing left behind


def test_griffe_snapshot_round_trip_finds_a_removed_name(tmp_path: Path) -> None:
    import griffe as real

    pkg = tmp_path / "lib" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("def keep(a, b=1):\n    pass\n\ndef gone():\n    pass\n")
    snap = json.loads(real.load("pkg", search_paths=[str(tmp_path / "lib")]).as_json(full=True))
    (pkg / "__init__.py").write_text("def keep(a, b=2):\n    pass\n")
    old = griffe.decode("pkg", snap)
    new = griffe.load("pkg", tmp_path / "lib")
    kinds = sorted(b.kind.value for b in griffe.breaking(old, new))
    assert kinds == ["Parameter default was changed", "Public object was removed"]


def test_pytest_still_has_what_the_rewrite_cache_uses() -> None:
    from _pytest.assertion import rewrite

    assert [name for name in pytestrewrite.NEEDED if not hasattr(rewrite, name)] == []


REWRITE_RUN = textwrap.dedent("""
    import sys
    sys.dont_write_bytecode = True
    sys.path.insert(0, {repo!r})
    from tasks.tools.pytestrewrite import keep_rewrites
    import pytest
    keep_rewrites({cache!r})
    raise SystemExit(pytest.main(["-q", "-p", "no:cacheprovider", {test!r}]))
""")


def test_rewritten_test_files_are_kept_by_content_and_never_stale(tmp_path: Path) -> None:
    from tasks.core.codeversion import HERE

    test, cache = tmp_path / "test_x.py", tmp_path / "cache"
    script = tmp_path / "run.py"
    script.write_text(REWRITE_RUN.format(repo=str(HERE.parent), cache=str(cache), test=str(test)))

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=False)

    test.write_text("def test_one():\n    assert 1 == 1\n")
    assert run().returncode == 0
    kept = list(cache.rglob("test_x.*.pyc"))
    assert len(kept) == 1 and not (tmp_path / "__pycache__").exists()
    stat = test.stat()
    test.write_text("def test_one():\n    assert 1 == 2\n")  # same size, same mtime: only the content differs
    os.utime(test, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    failed = run()
    assert failed.returncode == 1 and "assert 1 == 2" in failed.stdout, failed.stdout


def test_remembered_plugins_are_the_entry_points_doit_would_find(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import entry_points

    from doit import plugin

    monkeypatch.setattr(plugin, "entry_points_impl", plugin.entry_points_impl)  # restored after the test
    before = {category: sorted(plugin.PluginDict()._from_entry_points(category)) for category in ("COMMAND", "REPORTER")}
    doitcmd.remember_plugins()
    lookup = plugin.entry_points_impl()
    assert lookup(group="doit.COMMAND") == tuple(entry_points(group="doit.COMMAND"))
    assert lookup(group="doit.COMMAND") is lookup(group="doit.COMMAND")  # looked up once
    assert {c: sorted(plugin.PluginDict()._from_entry_points(c)) for c in ("COMMAND", "REPORTER")} == before
    scripts = lookup(group="console_scripts")  # a group with entries in any venv (doit's own script)
    assert "doit" in {e.name for e in scripts} and scripts == tuple(entry_points(group="console_scripts"))


def test_code_versions_keep_the_parsed_imports_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A doit start reads each build-system module's imports from build/state, parsing only what changed."""
    import ast

    from tasks.core import codeversion as cv

    def fresh_process() -> None:
        for memo in (cv.imports_of, cv.reach, cv.code_version):
            memo.cache_clear()
        monkeypatch.setattr(cv, "_kept", {})
        monkeypatch.setattr(cv, "_store", [])
        monkeypatch.setattr(cv, "_new", [])
        cv.keep_in(store)

    store = tmp_path / "code-imports.marshal"
    try:
        fresh_process()
        first = cv.code_version("tasks.steps.testing")
        assert store.exists()
        fresh_process()

        def no_parse(*_: object, **__: object) -> ast.Module:
            raise AssertionError("parsed again")

        monkeypatch.setattr(ast, "parse", no_parse)
        assert cv.code_version("tasks.steps.testing") == first
        monkeypatch.undo()
        store.write_bytes(b"not marshal")  # a broken store is parsed around, not trusted
        fresh_process()
        assert cv.code_version("tasks.steps.testing") == first
    finally:
        for memo in (cv.imports_of, cv.reach, cv.code_version):
            memo.cache_clear()


def test_jupytext_is_loaded_without_its_jupyter_server_parts() -> None:
    code = textwrap.dedent("""
        import sys
        from tasks.tools import percent
        jupytext = percent.jupytext()
        assert jupytext is percent.jupytext() is sys.modules["jupytext"]
        nb = jupytext.reads("# %%\\nx = 1\\n", fmt="py:percent")
        assert nb.cells[0].source == "x = 1"
        assert not {"tornado", "asyncio"} & set(sys.modules), sorted({"tornado", "asyncio"} & set(sys.modules))
        assert not [name for name in percent.SERVER_PARTS if name in sys.modules]  # importable again by name
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.stdout.strip() == "ok", run.stderr
