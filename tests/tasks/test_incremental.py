"""SPEC 5, the incremental contract, row by row: after each kind of edit, exactly these tasks run."""

from __future__ import annotations

from pathlib import Path

from conftest import Course

ALL_CORE = {"export:core", "check:core", "test:core"}


def test_cold_build_runs_everything(course: Course) -> None:
    run = course.doit()
    assert run.code == 0
    modules = ["core", "ops", "model", "leaf"]
    expected = {f"{step}:{m}" for step in ("export", "notebooks", "check", "test") for m in modules}
    expected |= {"init", "integration:ops_model", "integration:leaf_core", "system:package"}
    assert run.ran == expected
    assert (course.root / "build/lib/minitorch/core/model.py").exists()


def test_nothing_changed_runs_nothing(built: Course) -> None:
    assert built.doit().ran == set()


def test_prose_edit_reexports_only_that_module(built: Course) -> None:
    before = built.path("build/lib/minitorch/core/ops.py").read_bytes()
    built.edit("modules/02_ops/ops.py", "# > Arithmetic on values.", "# > Arithmetic on values.\n#\n# More prose.")
    run = built.doit()
    assert run.ran == {"export:ops", "notebooks:ops"}
    assert built.path("build/lib/minitorch/core/ops.py").read_bytes() == before


def test_non_exported_cell_edit_is_cut_off_early(built: Course) -> None:
    built.edit("modules/02_ops/ops.py", "assert add(Value(1), Value(2)).x == 3", "assert add(Value(2), Value(2)).x == 4")
    assert built.doit().ran == {"export:ops", "notebooks:ops"}


def test_exported_code_edit_of_a_middle_module(built: Course) -> None:
    built.edit("modules/02_ops/ops.py", '"""a + b"""', '"""Return a + b."""')
    run = built.doit()
    assert run.ran == {
        "export:ops", "notebooks:ops", "check:ops", "test:ops",  # the module itself
        "check:model", "test:model",  # what depends on it
        "init", "integration:ops_model", "system:package",  # assembly and the suites that reach it
    }


def test_exported_code_edit_of_the_root_reaches_every_dependant(built: Course) -> None:
    built.edit("modules/01_core/core.py", '"""A number."""', '"""A real number."""')
    run = built.doit()
    checks = {f"{s}:{m}" for s in ("check", "test") for m in ("core", "ops", "model", "leaf")}
    assert run.ran == checks | {"export:core", "notebooks:core", "init", "integration:ops_model",
                                "integration:leaf_core", "system:package"}


def test_leaf_edit_leaves_the_rest_alone(built: Course) -> None:
    built.edit("modules/04_leaf/leaf.py", '"""2 * v"""', '"""Twice v."""')
    assert built.doit().ran == {"export:leaf", "notebooks:leaf", "check:leaf", "test:leaf", "init",
                                "integration:leaf_core", "system:package"}


def test_unit_test_edit_reruns_only_that_test(built: Course) -> None:
    built.edit("tests/unit/test_ops.py", "def test_mul():", "def test_mul_again():")
    assert built.doit().ran == {"test:ops"}


def test_integration_test_edit_reruns_only_that_suite(built: Course) -> None:
    built.edit("tests/integration/test_leaf_core.py", "== 4.0", "== 4")
    assert built.doit().ran == {"integration:leaf_core"}


def test_manifest_entry_edit_reruns_that_module(built: Course) -> None:
    built.edit("modules.yaml", "depends: []\n", "depends: []\n    timeout: 30\n")
    run = built.doit()
    assert run.ran == {"export:core", "notebooks:core", "check:core", "test:core"}


def test_manifest_depends_edit_reruns_dependants(built: Course) -> None:
    # leaf gains a dependency on ops: leaf's tasks re-run (its closure changed), nothing else
    built.edit("modules.yaml", "target: minitorch.core.leaf\n    depends: [core]",
               "target: minitorch.core.leaf\n    depends: [core, ops]")
    run = built.doit()
    assert {"export:leaf", "check:leaf", "test:leaf"} <= run.ran
    assert not {"export:ops", "test:ops", "export:model", "test:model", "test:core"} & run.ran


def test_build_system_code_change_reruns_that_step(tmp_path: Path) -> None:
    from conftest import make_course

    course = make_course(tmp_path, own_tasks=True)
    first = course.cli()
    assert first.returncode == 0, first.stderr
    runner = course.path("tasks/steps/assemble.py")
    runner.write_text(runner.read_text() + "\n# a change to the init step\n")
    again = course.cli("-v", "2")
    assert again.returncode == 0, again.stderr
    ran = {line.split()[1] for line in again.stdout.splitlines() if line.startswith(".  ")}
    assert ran == {"init"}


def test_removed_module_disappears_from_the_package(built: Course) -> None:
    text = built.read("modules.yaml")
    built.write("modules.yaml", text.split("  - name: leaf")[0])
    built.path("tests/integration/test_leaf_core.py").unlink()
    built.write("tests/system/test_package.py", "from minitorch import LinearModel, Value\n\n\n"
                "def test_model():\n    assert LinearModel(1, 1)(Value(1)).x == 2.0\n")
    run = built.doit()
    assert run.code == 0, run
    assert not built.path("build/lib/minitorch/core/leaf.py").exists()
    assert "leaf" not in built.read("build/lib/minitorch/__init__.py")
