"""SPEC 8: the wheel (contents, reproducibility, gating), verify in a fresh venv, API compatibility."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import Course

WHEEL = "build/dist/minitorch-0.3.0-py3-none-any.whl"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def released(built: Course) -> Course:
    """The built course with a wheel and a committed API snapshot of release 0.3.0."""
    run = built.doit("wheel", "api")
    assert run.code == 0, run
    (built.root / "api").mkdir()
    shutil.copy(built.path("build/api/api.json"), built.path("api/release.json"))
    return built


def test_wheel_holds_exactly_the_generated_package(released: Course) -> None:
    with zipfile.ZipFile(released.path(WHEEL)) as zf:
        names = sorted(zf.namelist())
        meta = zf.read("minitorch-0.3.0.dist-info/METADATA").decode()
    assert names == [
        "minitorch-0.3.0.dist-info/METADATA", "minitorch-0.3.0.dist-info/RECORD", "minitorch-0.3.0.dist-info/WHEEL",
        "minitorch/__init__.py", "minitorch/core/__init__.py", "minitorch/core/core.py", "minitorch/core/leaf.py",
        "minitorch/core/model.py", "minitorch/core/ops.py",
    ]
    assert "Requires-Dist" not in meta  # the fixture declares no runtime dependency; the tooling is not one
    result = json.loads(released.read("build/results/wheel.json"))
    assert result["sha256"] == _sha(released.path(WHEEL)) and result["files"] == 9


def test_two_clean_builds_give_the_same_bytes(released: Course) -> None:
    first = _sha(released.path(WHEEL))
    assert released.doit("clean", "--clean-all").code == 0
    assert not released.path(WHEEL).exists()
    assert released.doit("wheel").code == 0
    assert _sha(released.path(WHEEL)) == first


def test_a_failing_module_blocks_the_wheel(released: Course) -> None:
    released.edit("tests/unit/test_ops.py", "== 8.0", "== 9.0")
    out = released.cli("wheel")
    assert out.returncode != 0
    assert "test:ops: 1 of 2 tests failed" in out.stdout
    assert "tests/unit/test_ops.py:" in out.stdout
    assert list(released.path("build/dist").glob("*.whl")) == []  # the old wheel is not left looking fresh
    assert released.path("build/dist/previous/minitorch-0.3.0-py3-none-any.whl").exists()


def test_a_breaking_change_without_a_version_bump_is_refused(released: Course) -> None:
    # renaming a parameter breaks callers that pass it by keyword; every positional test still passes
    released.edit("modules/02_ops/ops.py", 'def mul(a: Value, b: Value) -> Value:\n    """a * b"""\n'
                  "    return Value(a.x * b.x)", 'def mul(a: Value, factor: Value) -> Value:\n    """a * factor"""\n'
                  "    return Value(a.x * factor.x)")
    out = released.cli("wheel")
    assert out.returncode != 0, out.stdout
    assert ("pyproject.toml:7: the public API breaks 2 promise(s) of release 0.3.0 without a version bump "
            "(version is still 0.3.0):\n"
            # issue 14: each change names the source line it comes from
            "  - minitorch.core.ops.mul: parameter was added as required: 'factor' (modules/02_ops/ops.py:18)\n"
            "  - minitorch.core.ops.mul: parameter was removed: 'b' (modules/02_ops/ops.py:18)\n") in out.stdout, out.stdout
    assert not released.path(WHEEL).exists()
    # the same change with a version bump is a release
    released.edit("pyproject.toml", 'version = "0.3.0"', 'version = "0.4.0"')
    released.edit("tests/system/test_package.py", '"0.3.0"', '"0.4.0"')
    again = released.cli("wheel")
    assert again.returncode == 0, again.stdout
    assert released.path("build/dist/minitorch-0.4.0-py3-none-any.whl").exists()


def test_adding_a_public_function_passes(released: Course) -> None:
    released.edit("modules/04_leaf/leaf.py", "# %%\nassert double", (
        "# %%\n#| export\ndef triple(v: Value) -> Value:\n    \"\"\"3 * v\"\"\"\n    return Value(3 * v.x)\n\n"
        "# %%\nassert double"))
    released.edit("tests/system/test_package.py", '"double"}', '"double", "triple"}')
    run = released.doit("wheel")
    assert run.code == 0, run
    assert "minitorch/core/leaf.py" in zipfile.ZipFile(released.path(WHEEL)).namelist()


def test_verify_installs_the_wheel_in_a_fresh_venv(released: Course) -> None:
    run = released.doit("verify")
    assert run.code == 0, run
    result = json.loads(released.read("build/results/verify.json"))
    assert result["passed"] == 1 and result["failed"] == 0


def test_verify_fails_when_the_metadata_misses_a_dependency(released: Course) -> None:
    # leaf now needs numpy at import time, but pyproject.toml declares no runtime dependency:
    # issue 14 moved this failure from `doit verify` to export, at the source line, with the fix
    released.edit("modules/04_leaf/leaf.py", "from minitorch.core.core import Value\n",
                  "import numpy as np\nfrom minitorch.core.core import Value\n")
    out = released.cli("verify")
    assert out.returncode != 0
    assert ("modules/04_leaf/leaf.py:10 (leaf.ipynb:cell 3:2): leaf imports numpy, which is neither in the standard library, nor in the "
            "package, nor in [project].dependencies of pyproject.toml; add 'numpy' to dependencies there") in out.stdout, out.stdout
    assert "blocked: verify needs leaf (modules/04_leaf/leaf.py:10)" in out.stdout.splitlines()


def test_wheel_and_verify_say_what_they_produced(released: Course) -> None:
    assert released.cli("forget", "wheel").returncode == 0
    out = released.cli("wheel", "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    size = released.path(WHEEL).stat().st_size
    lines = out.stdout.splitlines()
    assert f"wheel: {WHEEL} ({size:,} bytes, sha256 {_sha(released.path(WHEEL))})" in lines
    assert (f"verify: 1 smoke tests passed against {WHEEL} installed in a fresh virtual environment "
            "(build/verify/venv)") in lines
