"""The catalogue of bad inputs (issue 6, item 1): every mistake a student or maintainer makes gets a clear answer.

Each row takes a copy of the fixture course that was built once successfully, applies ONE bad input, runs
`doit` and asserts three things:

- the exact message (file:line and the fix) is in doit's output, and the exit code is non-zero;
- nothing previously good was destroyed: every generated file keeps its old bytes, except the few the
  row names (the module whose source changed, when its export itself succeeded);
- no half-written or temporary file is left anywhere under build/.

The last rows are inputs that look odd but are valid (a BOM, CRLF line endings): they must simply work.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Course, drive

CORE, OPS, MODEL, LEAF = (f"modules/0{i}_{m}/{m}.py" for i, m in enumerate(("core", "ops", "model", "leaf"), 1))
LIB = "build/lib/minitorch"
INIT = f"{LIB}/__init__.py"
MANIFEST_FAILED = "modules.yaml is invalid; nothing was run."
# temporary names the build uses while writing (tasks.core.atomic, tasks.steps.export, tasks.sandbox.spawn, tasks.sandbox.runner)
TEMPORARY = ("*.tmp", ".*.export.py", "runner-*.json")


def gen(module: str) -> str:
    return f"{LIB}/core/{module}.py"


def notebook(module: str) -> str:
    """The paired notebook beside a source (tasks.steps.notebooks)."""
    n = {"core": 1, "ops": 2, "model": 3, "leaf": 4}[module]
    return f"modules/0{n}_{module}/{module}.ipynb"


Edit = Callable[[Course], None]


def yaml(old: str, new: str) -> Edit:
    return lambda c: c.edit("modules.yaml", old, new)


def source(path: str, old: str, new: str) -> Edit:
    return lambda c: c.edit(path, old, new)


def raw(path: str, change: Callable[[bytes], bytes]) -> Edit:
    def apply(c: Course) -> None:
        p = c.path(path)
        p.write_bytes(change(p.read_bytes()))
    return apply


def both(*edits: Edit) -> Edit:
    def apply(c: Course) -> None:
        for e in edits:
            e(c)
    return apply


def symlink_out(c: Course) -> None:
    outside = c.root.parent / "elsewhere.py"
    outside.write_text("#| default_exp core.ops\n", encoding="utf-8")
    os.symlink(outside, c.path("modules/02_ops/link.py"))
    c.edit("modules.yaml", "source: modules/02_ops/ops.py", "source: modules/02_ops/link.py")


def BOM(b: bytes) -> bytes:  # noqa: N802 - reads like the constant it adds
    return b"\xef\xbb\xbf" + b


def CRLF(b: bytes) -> bytes:  # noqa: N802
    return b.replace(b"\n", b"\r\n")
TIMEOUT_2 = yaml("target: minitorch.core.leaf\n    depends: [core]\n",
                 "target: minitorch.core.leaf\n    depends: [core]\n    timeout: 2\n")


@dataclass(frozen=True)
class Row:
    edit: Edit
    messages: tuple[str, ...]  # each must appear in doit's output, exactly
    changes: frozenset[str] = field(default_factory=frozenset)  # generated files allowed to change
    ok: bool = False  # a valid input: doit succeeds and the exported bytes are the same

    @classmethod
    def bad(cls, edit: Edit, *messages: str, changes: tuple[str, ...] = ()) -> Row:
        return cls(edit, messages, frozenset(changes))


def m(line: str, message: str) -> str:
    return f"modules.yaml:{line}: {message}"


ROWS = {
    # -- modules.yaml: doit stops before running anything ------------------------------------------
    "invalid YAML": Row.bad(yaml("depends: [core]\n", "depends: [core\n"),
                            MANIFEST_FAILED, m("17:9", "invalid YAML: did not find expected ',' or ']'")),
    "YAML indented with a tab": Row.bad(yaml("    depends: [core]\n", "\tdepends: [core]\n"),
                                        m("16:1", "invalid YAML: found a tab character that violates "
                                                  "indentation")),
    "duplicate YAML key": Row.bad(yaml("depends: [core]\n", "depends: [core]\n    depends: []\n"),
                                  m("17:5", "duplicate key 'depends': remove one of them")),
    "misspelled key": Row.bad(yaml("depends: [core]\n", "depend: [core]\n"),
                              m("16:5", "unknown key 'depend' in module 'ops'; did you mean 'depends'?")),
    "unknown key": Row.bad(yaml("  name: minitorch\n", "  name: minitorch\n  colour: red\n"),
                           m("3:3", "unknown key 'colour' in 'package'; allowed keys: name, lib")),
    "missing field": Row.bad(yaml("    source: modules/02_ops/ops.py\n", ""),
                             m("13:5", "module 'ops' is missing 'source'; add 'source: modules/NN_ops/ops.py'")),
    "wrong type": Row.bad(yaml("timeout: 60", "timeout: soon"),
                          m("6:12", "'timeout' must be a number, got a string ('soon'); write e.g. 'timeout: 60'")),
    "wrong type of depends": Row.bad(yaml("depends: [core, ops]", "depends: core ops"),
                                     m("20:14", "module 'model': 'depends' must be a list of module names or the "
                                                "word 'all', got a string")),
    "duplicate module name": Row.bad(yaml("name: leaf", "name: ops"),
                                     m("21:11", "duplicate module name 'ops' (first declared at line 13); "
                                                "rename one")),
    "duplicate target": Row.bad(yaml("target: minitorch.core.leaf", "target: minitorch.core.ops"),
                                m("23:13", "module 'leaf': target 'minitorch.core.ops' is already the target of "
                                           "module 'ops'; each module needs its own target")),
    "unknown dependency": Row.bad(yaml("depends: [core, ops]", "depends: [core, opz]"),
                                  m("20:21", "module 'model' depends on unknown module 'opz'; did you mean 'ops'?")),
    "self-dependency": Row.bad(yaml("depends: [core, ops]", "depends: [core, ops, model]"),
                               m("20:26", "module 'model' depends on itself; remove 'model' from its 'depends'")),
    "cycle": Row.bad(yaml("depends: []", "depends: [model]"),
                     m("12:14", "dependency cycle: core -> model -> ops -> core; remove one of these dependencies")),
    "dependency listed later": Row.bad(yaml("depends: [core, ops]", "depends: [core, ops, leaf]"),
                                       m("20:26", "module 'model' is listed before its dependency 'leaf' (line 21); "
                                                  "move 'leaf' above 'model' so the course can be taught in order")),
    "depends: all on the first module": Row.bad(yaml("depends: []", "depends: all"),
                                                m("12:14", "module 'core': 'depends: all' on the first module means "
                                                           "no module; write 'depends: []'")),
    "missing source": Row.bad(yaml("modules/02_ops/ops.py", "modules/02_ops/opz.py"),
                              m("14:13", "module 'ops': source file 'modules/02_ops/opz.py' does not exist; "
                                         "create it or fix the path")),
    "path with ..": Row.bad(yaml("modules/02_ops/ops.py", "../ops.py"),
                            m("14:13", "module 'ops': 'source' '../ops.py' leaves the repository; "
                                       "keep it inside course/")),
    "absolute path": Row.bad(yaml("modules/02_ops/ops.py", "/etc/passwd"),
                             m("14:13", "module 'ops': 'source' '/etc/passwd' is absolute; write it relative to "
                                        "the repository root")),
    "symlink out of the repository": Row.bad(symlink_out,
                                             m("14:13", "module 'ops': 'source' 'modules/02_ops/link.py' leaves the "
                                                        "repository; keep it inside course/")),
    "lib outside build/": Row.bad(yaml("lib: build/lib", "lib: src"),
                                  m("3:8", "'lib' 'src' must be under build/ (everything generated lives there)")),
    "target outside the package": Row.bad(yaml("target: minitorch.core.leaf", "target: numpy.leaf"),
                                          m("23:13", "target 'numpy.leaf' is outside the package; write it as "
                                                     "'minitorch.<module>', e.g. 'minitorch.core.leaf'")),
    "target not an identifier": Row.bad(yaml("target: minitorch.core.leaf", "target: minitorch.core.2leaf"),
                                        m("23:13", "target 'minitorch.core.2leaf': '2leaf' is not a valid Python "
                                                   "identifier; use letters, digits and underscores, not starting "
                                                   "with a digit")),
    "empty manifest": Row.bad(lambda c: c.write("modules.yaml", ""),
                              m("1:1", "the manifest is empty; declare the course under 'modules:' "
                                       "(see README, 'The manifest')")),
    "manifest not UTF-8": Row.bad(raw("modules.yaml", lambda b: b.replace(b"name: leaf", b"name: l\xe9af")),
                                  "modules.yaml:21:12: not valid UTF-8 (byte 0xe9); save the file as UTF-8"),
    "test file that does not exist": Row.bad(yaml("depends: [core]\n", "depends: [core]\n    tests: [tests/unit/t.py]\n"),
                                             m("17:13", "module 'ops': test file 'tests/unit/t.py' does not exist; "
                                                        "create it or fix the path")),
    "default test file that does not exist": Row.bad(lambda c: c.path("tests/unit/test_leaf.py").unlink(),
                                                     m("21:11", "module 'leaf': test file 'tests/unit/test_leaf.py' "
                                                                "does not exist; create it, or declare 'tests:' (a "
                                                                "list of files, or [] for none)")),
    # -- sources: export:<m> refuses, the previous export stays ---------------------------------------
    "source without default_exp": Row.bad(source(OPS, "#| default_exp core.ops\n", ""),
                                          f"{OPS}:1: no '#| default_exp' directive; add a code cell with "
                                          "'#| default_exp core.ops' near the top", changes=(notebook("ops"),)),
    "two default_exp": Row.bad(source(OPS, "#| default_exp core.ops\n", "#| default_exp core.ops\n\n# %%\n"
                                      "#| default_exp core.ops\n"),
                               f"{OPS}:9 (ops.ipynb:cell 3:1): second '#| default_exp' (the first is at line 6); a module exports to one "
                               "target: remove this one", changes=(notebook("ops"),)),
    "default_exp differing from the manifest": Row.bad(
        source(OPS, "#| default_exp core.ops\n", "#| default_exp core.opz\n"),
        f"{OPS}:6 (ops.ipynb:cell 2:1): '#| default_exp core.opz' does not match the manifest target; write '#| default_exp core.ops' "
        "(or change 'target' in modules.yaml)", changes=(notebook("ops"),)),
    "misspelled directive #export": Row.bad(source(OPS, "#| export\n", "#export\n"),
                                            f"{OPS}:9 (ops.ipynb:cell 3:1): '#export' is not an nbdev directive, so nbdev silently "
                                            "ignores it; did you mean '#| export'?", changes=(notebook("ops"),)),
    "misspelled directive #| exprot": Row.bad(source(OPS, "#| export\n", "#| exprot\n"),
                                              f"{OPS}:9 (ops.ipynb:cell 3:1): unknown directive '#| exprot'; did you mean '#| export'?",
                                              changes=(notebook("ops"),)),
    "targeted export to another module": Row.bad(
        source(OPS, "#| export\n", "#| export core.core\n"),
        f"{OPS}:9 (ops.ipynb:cell 3:1): '#| export core.core' exports to another module; every module exports to its own target only: "
        "write '#| export' and move the code to the module that owns 'core.core'", changes=(notebook("ops"),)),
    "relative import": Row.bad(source(OPS, "from minitorch.core.core import Value", "from .core import Value"),
                               f"{OPS}:10 (ops.ipynb:cell 3:2): relative import 'from .core import ...'; write the absolute form "
                               "'from minitorch.<module> import ...' (nbdev makes it relative on export)",
                               changes=(notebook("ops"),)),
    "syntax error in an exported cell": Row.bad(
        source(OPS, "return Value(a.x + b.x)", "return Value(a.x + b.x"),
        f"{OPS}:15:17 (ops.ipynb:cell 3:7): syntax error in an exported cell: '(' was never closed; correct the code here "
        "(the last good export is kept until then)", changes=(notebook("ops"),)),
    "import of an undeclared dependency": Row.bad(
        source(LEAF, "from minitorch.core.core import Value", "from minitorch.core.core import Value\n"
               "from minitorch.core.ops import add"),
        f"{LEAF}:11 (leaf.ipynb:cell 3:3): leaf imports minitorch.core.ops but does not depend on ops; add 'ops' to the 'depends' of "
        "'leaf' in modules.yaml, or remove the import", changes=(notebook("leaf"),)),
    "import of a package module that does not exist": Row.bad(
        source(LEAF, "from minitorch.core.core import Value", "from minitorch.core.core import Value\n"
               "from minitorch.core.opps import add"),
        f"{LEAF}:11 (leaf.ipynb:cell 3:3): leaf imports minitorch.core.opps, which no module in modules.yaml produces; did you mean "
        "'minitorch.core.ops'?", changes=(notebook("leaf"),)),
    "non-UTF-8 source": Row.bad(raw(OPS, lambda b: b.replace(b'"""a + b"""', '"""a + b, café"""'.encode("latin-1"))),
                                f"{OPS}:14: not valid UTF-8 (byte 0xe9); save the file as UTF-8 in your editor"),
    # -- assembly: init refuses, the package __init__ stays ----------------------------------------
    "the same public name in two modules": Row.bad(
        source(LEAF, "def double(", "def add(v: Value) -> Value:\n    return v\n\n\ndef double("),
        f"{LEAF}:13 (leaf.ipynb:cell 3:5): public name 'add' is exported by ops ({OPS}:13) and by leaf; one would shadow the other in "
        "'from minitorch import *': rename one, make it private with a leading '_', "
        "or set 'public:' of 'leaf' in modules.yaml to the names to re-export (or 'none')",
        changes=(gen("leaf"), notebook("leaf"))),
    # -- check:<m>: importing the exported module in a fresh process --------------------------------
    "exception at import": Row.bad(
        source(LEAF, "def double(", 'raise ValueError("boom")\n\n\ndef double('),
        f"{LEAF}:13 (leaf.ipynb:cell 3:5): importing minitorch.core.leaf raised ValueError: boom",
        f"    {LEAF}:13 (leaf.ipynb:cell 3:5): in <module>: raise ValueError(\"boom\")", changes=(gen("leaf"), notebook("leaf"), INIT)),
    "sys.exit at import": Row.bad(
        source(LEAF, "def double(", "import sys\nsys.exit(3)\n\n\ndef double("),
        f"{LEAF}:14 (leaf.ipynb:cell 3:6): minitorch.core.leaf calls sys.exit(3) at import time; a library module must not stop the "
        "interpreter: raise an exception instead, or move the code out of '#| export' cells",
        changes=(gen("leaf"), notebook("leaf"), INIT)),
    "print at import": Row.bad(
        source(LEAF, "def double(", 'print("hello")\n\n\ndef double('),
        f"{LEAF}:13 (leaf.ipynb:cell 3:5): minitorch.core.leaf prints at import time ('hello'); a library module must be silent: move the "
        "print into a cell without '#| export'", changes=(gen("leaf"), notebook("leaf"), INIT)),
    "infinite loop at import": Row.bad(
        # the loop on one line: the stack is dumped wherever the loop is, and all of it is on line 13
        both(TIMEOUT_2, source(LEAF, "def double(", "while True: pass\n\n\ndef double(")),
        f"{LEAF}:13 (leaf.ipynb:cell 3:5): importing minitorch.core.leaf did not finish within 2 s; it was running this line when it was "
        "stopped (an endless loop, or a long computation at import time?), and the process was killed. Move "
        "long-running code into a cell without '#| export'.",
        changes=(gen("leaf"), notebook("leaf"), INIT)),
    # -- test:<m>: the module's unit tests -------------------------------------------------------------
    "a test that hangs": Row.bad(
        both(TIMEOUT_2, source("tests/unit/test_leaf.py", "def test_double():",
                               "def test_hang():\n    while True: pass\n\n\ndef test_double():")),
        "tests/unit/test_leaf.py:6: test:leaf: tests/unit/test_leaf.py::test_hang did not finish within 2 s; it was "
        "running this line when it was stopped (an endless loop?), and the process group was killed. Raise 'timeout' "
        "in modules.yaml if it is just slow.",
        "    tests/unit/test_leaf.py:6: in test_hang: while True: pass"),
    "a failing test": Row.bad(
        source("tests/unit/test_leaf.py", "== 4.0", "== 5.0"),
        "test:leaf: 1 of 1 tests failed",
        "tests/unit/test_leaf.py:6: tests/unit/test_leaf.py::test_double: assert 4.0 == 5.0"),
    "a test file without tests": Row.bad(
        lambda c: c.write("tests/unit/test_leaf.py", "from minitorch.core.leaf import double\n"),
        "tests/unit/test_leaf.py:1: test:leaf: no tests collected; name test functions 'test_*'"),
    # -- valid inputs that look odd: they must work, with the same exported bytes -----------------------
    "a source with a BOM": Row(raw(OPS, BOM), (), ok=True),
    "a source with CRLF line endings": Row(raw(OPS, CRLF), (), ok=True),
    "BOM and CRLF in a source and its test file": Row(
        both(raw(LEAF, lambda b: BOM(CRLF(b))), raw("tests/unit/test_leaf.py", lambda b: BOM(CRLF(b)))), (), ok=True),
    "a manifest with a BOM and CRLF": Row(raw("modules.yaml", lambda b: BOM(CRLF(b))), (), ok=True),
}


def run_doit(course: Course, *args: str) -> int:
    """`doit` in-process in the course; a manifest error is shown as doit's command line shows it."""
    # doit binds its output stream when it is imported; write where this test can read it
    return drive(course.root, args, manifest_errors=True, outfile=sys.stdout)


def generated(root: Path) -> dict[str, bytes]:
    files = [*(root / "build" / "lib").rglob("*"), *(root / "modules").rglob("*.ipynb")]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files
            if p.is_file() and "__pycache__" not in p.parts}


def leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for pattern in TEMPORARY for p in (root / "build").rglob(pattern))


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_bad_input(built: Course, capfd: pytest.CaptureFixture[str], row: Row) -> None:
    before = generated(built.root)
    row.edit(built)
    code = run_doit(built)
    out, err = capfd.readouterr()
    shown = out + err
    if row.ok:
        assert code == 0, shown
        assert "TaskFailed" not in shown and "ERROR" not in shown
    else:
        assert code != 0, shown
        for message in row.messages:
            assert message in shown, f"{message!r} not in:\n{shown}"
    after = generated(built.root)
    kept = {rel: data for rel, data in before.items() if rel not in row.changes}
    assert {rel: after.get(rel) for rel in kept} == kept, "a previously good generated file changed or vanished"
    assert leftovers(built.root) == []
    if not row.ok:
        assert not (built.root / "build" / "hand-edits").exists()


@pytest.mark.parametrize("name", ["duplicate target", "exception at import"])
def test_the_command_line_shows_the_same_message(built: Course, name: str) -> None:
    """The real `doit` command line: the message reaches the terminal and the exit code is non-zero."""
    row = ROWS[name]
    row.edit(built)
    proc = built.cli()
    assert proc.returncode != 0
    for message in row.messages:
        assert message in proc.stdout + proc.stderr
    assert leftovers(built.root) == []
