"""The shape of tasks/: layers that only import downwards, facts kept in one place, code versions derived."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tasks
from tasks.core import codeversion
from tasks.plan import actions, pipeline, release, reports

REPO = Path(__file__).resolve().parents[2]
TASKS = REPO / "tasks"
SOURCES = sorted(p for p in TASKS.rglob("*.py"))


def _module(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return tasks.LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in tasks.LAYERS else None


def test_every_subpackage_has_a_layer() -> None:
    subpackages = sorted(p.name for p in TASKS.iterdir() if (p / "__init__.py").exists())
    assert sorted(tasks.LAYERS) == subpackages, "place every subpackage of tasks/ in tasks.LAYERS"
    assert [p.name for p in TASKS.glob("*.py")] == ["__init__.py"], "modules live in the layer subpackages"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: _module(p))
def test_no_layer_imports_a_higher_one(path: Path) -> None:
    me = _module(path)
    mine = _layer(me)
    if mine is None:
        return
    upward = [f"{me} imports {name} (layer {tasks.LAYERS[_layer(name)]})"  # type: ignore[index]
              for name in sorted(codeversion.imports_of(me)) if (_layer(name) or 0) > mine]
    assert not upward


def test_reports_never_import_the_task_creators() -> None:
    for path in (TASKS / "reports").glob("*.py"):
        assert not any(n.startswith("tasks.plan") for n in codeversion.imports_of(_module(path))), path


BUILD_LITERAL = re.compile(r"""["'](?:build/|build["'])""")


@pytest.mark.parametrize("path", [*SOURCES, REPO / "dodo.py"], ids=lambda p: p.relative_to(REPO).as_posix())
def test_build_paths_are_spelled_only_in_the_layout_module(path: Path) -> None:
    if path == TASKS / "core" / "layout.py":
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [f"{path.name}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and (node.value == "build" or node.value.startswith("build/"))]
    assert not found, "use tasks.core.layout"


def _action_targets() -> list[str]:
    found = []
    for module in (pipeline, release, reports):
        for value in vars(module).values():
            if isinstance(value, str) and re.fullmatch(r"tasks(\.\w+)+:\w+", value):
                found.append(value)
    return sorted(set(found))


def test_every_step_action_exists() -> None:
    targets = _action_targets()
    assert len(targets) >= 10
    for target in targets:
        module, _, function = target.partition(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function)), target


@pytest.mark.parametrize("target", _action_targets())
def test_code_version_covers_every_module_the_step_imports(target: str) -> None:
    """What a fresh interpreter loads for the step (top-level imports) is inside its digest."""
    module = target.partition(":")[0]
    code = (f"import sys, {module}\n"
            "print('\\n'.join(m for m in sys.modules if m == 'tasks' or m.startswith('tasks.')))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    missing = set(loaded.stdout.split()) - set(codeversion.reach(module))
    assert not missing, f"{target}: the code version misses {sorted(missing)}"


def test_code_version_follows_imports_inside_functions() -> None:
    # the unit tests map frames with checks.map_frames and export.source_line (imported lazily or not)
    reach = codeversion.reach("tasks.steps.testing")
    assert {"tasks.steps.checks", "tasks.steps.export", "tasks.sandbox.runner"} <= set(reach)
    assert "tasks.sandbox.runner" in codeversion.reach("tasks.steps.checks")


def test_type_checking_imports_are_not_code() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tasks.plan.pipeline\n"
                     "def f():\n    import tasks.core.layout\n")
    assert codeversion._imported(tree) == {"tasks.core.layout"}


def test_an_edit_to_an_imported_helper_changes_the_version(tmp_path: Path) -> None:
    """Changing tasks/steps/checks.py (used by the test step) changes the test step's code version."""
    import shutil

    shutil.copytree(TASKS, tmp_path / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import sys; sys.path.insert(0, '.');"
            "from tasks.plan.actions import version; print(version('tasks.steps.testing:run_tests'))")

    def digest() -> str:
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                              check=True).stdout.strip()

    before = digest()
    checks = tmp_path / "tasks" / "steps" / "checks.py"
    checks.write_text(checks.read_text() + "\n# a change to map_frames' module\n")
    assert digest() != before


def test_action_names_are_checked_when_tasks_are_made() -> None:
    with pytest.raises(ValueError, match="must be 'tasks.<module>:<function>'"):
        actions.action("tasks.steps.nothing:run")
    with pytest.raises(ValueError):
        actions.action("tasks.steps.export")
