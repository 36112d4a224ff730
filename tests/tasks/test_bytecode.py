"""tasks.sandbox.bytecode: a child imports the generated package from the parent's hash-checked pycs."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from conftest import SANDBOX_IMPORT as IMPORT
from conftest import module

from tasks.core import layout
from tasks.sandbox import bytecode
from tasks.sandbox.spawn import run_child

# pkg.m imports pkg.n under an audit hook that sees every compile() of the import system
COMPILES = ("import os, sys\n"
            "seen = []\n"
            "sys.addaudithook(lambda event, args: seen.append(str(args[1])) if event == 'compile' else None)\n"
            "from pkg.n import X\n"
            "compiled = [f for f in seen if f.endswith('n.py')]\n"
            "assert os.environ['EXPECT'] == ('compiled' if compiled else 'cached'), (compiled, seen)\n"
            "assert X == int(os.environ['X']), X\n")


def _n(repo: Path, text: str) -> Path:
    path = repo / "build/lib/pkg/n.py"
    path.write_text(text)
    return path


def test_the_parent_compiles_each_package_module_once_into_hash_checked_pycs(repo: Path) -> None:
    source = _n(repo, "X = 1\n")
    prefix = bytecode.prepare(repo, "build/lib")
    assert prefix == layout.at(repo, layout.PYCACHE).resolve()
    pyc = bytecode.cached(prefix, source.resolve())
    head = pyc.read_bytes()[:16]
    assert head[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(head[4:8], "little") == bytecode.FLAGS_CHECKED_HASH
    assert head[8:16] == importlib.util.source_hash(source.read_bytes())
    before = pyc.stat().st_mtime_ns
    bytecode.prepare(repo, "build/lib")
    assert pyc.stat().st_mtime_ns == before  # unchanged source: not compiled again
    assert not (repo / "build/lib/pkg/__pycache__").exists()  # nothing beside the package the wheel is made of


def test_a_child_imports_the_package_from_the_parents_pycs(repo: Path) -> None:
    module(repo, COMPILES)
    _n(repo, "X = 1\n")
    outcome = run_child(repo, IMPORT, 30, env={"EXPECT": "cached", "X": "1"})
    assert outcome.result is not None and outcome.result["status"] == "ok", outcome


def test_an_untrusted_build_keeps_no_bytecode(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bytecode.UNTRUSTED_ENV, "1")
    module(repo, COMPILES)
    _n(repo, "X = 1\n")
    assert bytecode.prepare(repo, "build/lib") is None
    outcome = run_child(repo, IMPORT, 30, env={"EXPECT": "compiled", "X": "1"})
    assert outcome.result is not None and outcome.result["status"] == "ok", outcome
    assert not layout.at(repo, layout.PYCACHE).exists()


def test_a_pyc_never_outlives_its_source_even_with_the_same_size_and_mtime(repo: Path) -> None:
    module(repo, COMPILES)
    source = _n(repo, "X = 1\n")
    outcome = run_child(repo, IMPORT, 30, env={"EXPECT": "cached", "X": "1"})
    assert outcome.result is not None and outcome.result["status"] == "ok", outcome
    st = source.stat()
    with open(source, "r+", encoding="utf-8") as f:  # in place: same inode, same size, then the same mtime
        f.write("X = 2\n")
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    outcome = run_child(repo, IMPORT, 30, env={"EXPECT": "compiled", "X": "2"})
    assert outcome.result is not None and outcome.result["status"] == "ok", outcome


def test_a_module_that_does_not_compile_is_reported_by_the_child_at_its_line(repo: Path) -> None:
    module(repo, "import pkg.n\n")
    _n(repo, "X = 1\nY = (\n")
    outcome = run_child(repo, IMPORT, 30)
    assert outcome.result is not None and outcome.result["status"] == "error", outcome
    assert outcome.result["error"] == "SyntaxError: '(' was never closed (n.py, line 2)", outcome.result
