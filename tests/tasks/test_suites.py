"""tasks.steps.suites: integration/system test files and the modules their imports reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.steps.suites import Suite, discover, imported_modules, resolve

TARGETS = {"pkg.core.core": "core", "pkg.core.ops": "ops", "pkg.nn.model": "model"}


def test_imported_modules_finds_package_imports_anywhere() -> None:
    text = ("import os\nimport pkg.core.ops\nfrom pkg.core.core import Value\nfrom pkgx import y\n"
            "def test():\n    from pkg import nn\n    from . import helper\n")
    assert imported_modules(text, "pkg") == [
        (2, "pkg.core.ops", ()), (3, "pkg.core.core", ("Value",)), (6, "pkg", ("nn",))]


@pytest.mark.parametrize(("found", "modules", "whole", "unknown"), [
    ([(1, "pkg.core.ops", ())], ["ops"], False, []),
    ([(1, "pkg.core.ops", ()), (2, "pkg.core.ops", ("add",))], ["ops"], False, []),
    ([(1, "pkg.core", ("core", "ops"))], ["core", "ops"], False, []),
    ([(1, "pkg", ("Value",))], [], True, []),
    ([(1, "pkg.nn", ())], [], True, []),
    ([(3, "pkg.core.nope", ())], [], False, [(3, "pkg.core.nope")]),
    ([(4, "pkg.core", ("nope",))], [], False, [(4, "pkg.core.nope")]),
])
def test_resolve(found: list[tuple[int, str, tuple[str, ...]]], modules: list[str], whole: bool,
                 unknown: list[tuple[int, str]]) -> None:
    assert resolve(found, "pkg", TARGETS) == (modules, whole, unknown)


def test_discover(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "tests/integration/test_b.py": "from pkg.core.ops import add\n",
        "tests/integration/test_a.py": "from pkg.nn.model import M\nfrom pkg.core.core import V\n",
        "tests/integration/helper.py": "from pkg import everything\n",  # not a test file
        "tests/system/test_all.py": "import pkg\n",
        "tests/system/test_broken.py": "def test(:\n",
        "tests/system/test_latin1.py": b"# caf\xe9\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        data = text if isinstance(text, bytes) else text.encode()
        (tmp_path / rel).write_bytes(data)
    suites = discover(tmp_path, "pkg", TARGETS)
    assert suites[:3] == [
        Suite("integration", "tests/integration/test_a.py", ("model", "core"), False, ()),
        Suite("integration", "tests/integration/test_b.py", ("ops",), False, ()),
        Suite("system", "tests/system/test_all.py", (), True, ()),
    ]
    assert [s.name for s in suites] == ["test_a", "test_b", "test_all", "test_broken", "test_latin1"]
    # files that cannot be read are kept, and marked, so that their task fails with the reason
    assert suites[3].unknown == ((1, "<unparsable: invalid syntax (<unknown>, line 1)>"),)
    assert suites[4].unknown[0][1].startswith("<unparsable: 'utf-8' codec can't decode byte 0xe9")
