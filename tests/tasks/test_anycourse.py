"""Issue 14: a course unlike tinytorch (fixtures/flatcourse) builds, wheels, verifies and reports.

flat lessons/, a notebook source, a nested target (minigrad.nn.mlp), distribution
'minigrad-course' shipping package 'minigrad', extra package files (a hand-written
module, py.typed, a data file), public API policies, a test helper, no tests/validation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import Course, make_course

WHEEL = "build/dist/minigrad_course-0.1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def _flat_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = make_course(tmp_path_factory.mktemp("flat"), "flatcourse")
    for args in ((), ("wheel",)):
        run = course.cli(*args)
        assert run.returncode == 0, run.stdout
    return course.root


@pytest.fixture
def flat(tmp_path: Path, _flat_template: Path) -> Course:
    root = tmp_path / "flatcourse"
    shutil.copytree(_flat_template, root, symlinks=True)
    return Course(root)


def test_it_builds_and_ships_exactly_the_package_named_in_the_manifest(flat: Course) -> None:
    with zipfile.ZipFile(flat.path(WHEEL)) as zf:
        names = sorted(zf.namelist())
    info = "minigrad_course-0.1.0.dist-info"
    assert names == [
        "minigrad/__init__.py", "minigrad/data/words.txt", "minigrad/helpers.py", "minigrad/nn/__init__.py",
        "minigrad/nn/mlp.py", "minigrad/ops.py", "minigrad/py.typed", "minigrad/values.py",
        f"{info}/METADATA", f"{info}/RECORD", f"{info}/WHEEL"]
    # each percent source has its paired notebook beside it, even in one flat folder; mlp is a notebook already
    assert sorted(p.name for p in flat.path("lessons").glob("*.ipynb")) == ["mlp.ipynb", "ops.ipynb", "values.ipynb"]
    init = flat.read("build/lib/minigrad/__init__.py")
    assert init.startswith('"""minigrad: A tiny autograd engine, taught in small lessons."""')
    assert "__all__ = [\n    'Value',\n    'add',\n    'scale',\n    'MLP',\n]" in init  # public: [Value], __all__
    assert "from .mlp import *" in flat.read("build/lib/minigrad/nn/__init__.py")
    assert "tinytorch" not in flat.read("build/lib/minigrad/__init__.py").lower()
    tasks = flat.cli("list", "--all").stdout
    assert "integration:chain" in tasks and "integration:utils" not in tasks  # the helper file is no task


def test_release_notes_of_a_first_release(flat: Course) -> None:
    notes = flat.read("build/dist/RELEASE_NOTES.md")
    assert notes.startswith("# minigrad-course 0.1.0\n\nFirst release.\n\n## Modules\n\n- added: `minigrad`\n")
    assert "- `minigrad.ops.scale(a, factor=2.0)` (function)\n" in notes


def test_verify_without_smoke_tests_imports_the_package_and_says_so(flat: Course) -> None:
    run = flat.cli("verify")
    assert run.returncode == 0, run.stdout
    assert ("note: verify: minigrad_course-0.1.0-py3-none-any.whl installs and `import minigrad` works; there were "
            "no smoke tests to run (tests/validation/ has no test_*.py)") in run.stderr + run.stdout


def test_smoke_and_report(flat: Course) -> None:
    run = flat.cli("smoke", "report")
    assert run.returncode == 0, run.stdout
    assert "note: smoke: no smoke tests (tests/validation/ has no test_*.py); imported minigrad only" in run.stderr + run.stdout
    assert json.loads(flat.read("build/reports/report.json"))["modules"][2]["name"] == "mlp"


def test_an_api_break_shows_the_old_and_new_values_and_the_source_line(flat: Course) -> None:
    (flat.root / "api").mkdir()
    assert flat.cli("api").returncode == 0
    shutil.copy(flat.path("build/api/api.json"), flat.path("api/release.json"))
    flat.edit("lessons/ops.py", "factor: float = 2.0", "factor: float = 3.0")
    flat.edit("tests/test_ops.py", "== 4.0", "== 6.0")
    run = flat.cli("wheel")
    assert run.returncode != 0
    assert ("  - minigrad.ops.scale: parameter default was changed (factor=2.0 -> factor=3.0) (lessons/ops.py:17)\n"
            in run.stdout), run.stdout


def test_another_packages_release_json_is_a_first_release(flat: Course) -> None:
    (flat.root / "api").mkdir()
    flat.write("api/release.json", json.dumps({"package": "tinytorch", "version": "9.0.0", "api": {}}))
    run = flat.cli("wheel")
    assert run.returncode == 0, run.stdout
    assert ("warning: api/release.json is the API of package 'tinytorch', not 'minigrad': this is a first release of "
            "minigrad; delete api/release.json (`doit api` writes the new one to build/api/)") in run.stderr + run.stdout


@pytest.mark.parametrize(("path", "old", "new", "message"), [
    pytest.param("lessons/ops.py", "def add(", "def values(x: float) -> float:\n    return x\n\n\ndef add(",
                 "lessons/ops.py:12 (ops.ipynb:cell 3:5): public name 'values' of ops would replace the submodule minigrad.values in "
                 "'from minigrad import *' and as minigrad.values; rename it, make it private with a leading '_', "
                 "or set 'public:' of 'ops' in modules.yaml to the names to re-export (or 'none')", id="shadowed submodule"),
    pytest.param("lessons/ops.py", "from minigrad.values import Value\n",
                 "from minigrad.values import Value\nimport yaml\n",
                 "lessons/ops.py:10 (ops.ipynb:cell 3:3): ops imports yaml, which is neither in the standard library, nor in the package, nor "
                 "in [project].dependencies of pyproject.toml; add 'PyYAML' to dependencies there (the installed package "
                 "would fail without it), or remove the import", id="undeclared third-party import"),
    pytest.param("lessons/mlp.ipynb", '"    for x in xs:\\n",', '"    for x in xs:\\n", "        1 / 0\\n",',
                 "lessons/mlp.ipynb:cell 3:", id="a notebook place names the cell"),
])
def test_what_cannot_work_is_a_message_with_its_place(flat: Course, path: str, old: str, new: str, message: str) -> None:
    flat.edit(path, old, new)
    if path.endswith(".ipynb"):
        flat.edit("tests/test_mlp.py", "def test_mlp", "def test_mlp_fails")
    run = flat.cli("validate", "init")
    assert run.returncode != 0
    assert message in run.stdout, run.stdout
    assert "Traceback" not in run.stdout.split("--- pytest output")[0]


def _git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
           "HOME": str(root.parent), "PATH": os.environ["PATH"]}
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True).stdout


def test_git_status_is_clean_after_a_build_of_a_course_with_its_own_layout(tmp_path: Path) -> None:
    # flatcourse has no .gitignore of its own: the build ignores build/ and the paired notebooks itself
    course = make_course(tmp_path, "flatcourse")
    _git(course.root, "init", "-q")
    _git(course.root, "add", "-A")
    _git(course.root, "commit", "-qm", "the course")
    assert course.cli().returncode == 0
    assert _git(course.root, "status", "--porcelain", "--untracked-files=all") == ""
    assert course.read("lessons/.gitignore").splitlines()[2:] == ["/.gitignore", "/ops.ipynb", "/values.ipynb"]
    assert course.path("lessons/ops.ipynb").is_file() and course.read("build/.gitignore").endswith("\n*\n")
    # the notebook that IS a source stays tracked: an edit of it shows
    course.edit("lessons/mlp.ipynb", "A layer of neurons", "Layers of neurons")
    assert _git(course.root, "status", "--porcelain") == " M lessons/mlp.ipynb\n"


def test_a_gitignore_the_build_did_not_write_is_left_alone_with_the_line_to_add(tmp_path: Path) -> None:
    course = make_course(tmp_path, "flatcourse")
    course.write("lessons/.gitignore", "/values.ipynb\n")
    run = course.cli()
    assert run.returncode == 0, run.stdout
    assert course.read("lessons/.gitignore") == "/values.ipynb\n"
    assert ("warning: lessons/ops.ipynb is a paired notebook (student work, never committed), but lessons/.gitignore "
            "is not the build's, so it is left as it is: add the line '/ops.ipynb' to it") in run.stdout + run.stderr


def test_a_public_name_a_module_lacks_is_placed_at_its_manifest_entry(flat: Course) -> None:
    flat.edit("modules.yaml", "    public: [Value]", "    public: [Value,\n             Missing]")
    run = flat.cli("init")
    assert run.returncode != 0
    assert ("modules.yaml:16:14: module 'values': 'public' lists 'Missing', which build/lib/minigrad/values.py does "
            "not define; remove it from the list") in run.stdout, run.stdout


def test_a_missing_export_names_the_notebook_cell_and_the_paired_notebook_cell(flat: Course) -> None:
    # scale moves into a cell without '#| export'; mlp.ipynb (a notebook source) imports it
    flat.edit("lessons/ops.py", "\n\ndef scale(", "\n\n# %%\ndef scale(")
    run = flat.cli("export")
    assert run.returncode != 0
    assert ("lessons/ops.py:18 (ops.ipynb:cell 4:1): mlp imports scale from ops (lessons/mlp.ipynb:cell 3:2); ops "
            "does not export it (defined at lessons/ops.py:18 in a cell without '#| export'): add '#| export' at the "
            "top of that cell") in run.stdout, run.stdout
