"""tasks.tools.doitstate: a failure, then its fix, re-runs nothing downstream when the exported bytes are the
last good ones, although doit forgot every task it did not run; `doit forget` still makes a task run again."""

from __future__ import annotations

import json

from conftest import Course

OPS = "modules/02_ops/ops.py"
BREAK = ("    return Value(a.x + b.x)", '    raise ValueError("add is broken")')
DOWNSTREAM = {"check:model", "test:model", "init", "integration:ops_model", "system:package"}


def test_a_fixed_test_failure_reruns_nothing_downstream(built: Course) -> None:
    good = built.read("build/results/test/ops.json")
    built.edit(OPS, *BREAK)
    broken = built.doit()
    assert broken.code != 0 and "test:ops" in broken.failed
    assert not broken.ran & DOWNSTREAM  # blocked: doit forgets them
    built.edit(OPS, BREAK[1], BREAK[0])
    fixed = built.doit()
    assert fixed.code == 0
    # the module's own export (its source changed) and its check (it last passed on the broken bytes)
    assert fixed.ran == {"export:ops", "notebooks:ops", "check:ops"}
    assert built.read("build/results/test/ops.json") == good  # the last success's result is back
    assert built.doit().ran == set()  # and doit agrees from now on


def test_a_fixed_export_failure_reruns_nothing_downstream(built: Course) -> None:
    built.edit(OPS, "def mul(a: Value, b: Value) -> Value:", "def mul(a: Value, b: Value) -> Value")
    assert built.doit().code != 0
    built.edit(OPS, "def mul(a: Value, b: Value) -> Value\n", "def mul(a: Value, b: Value) -> Value:\n")
    fixed = built.doit()
    assert fixed.code == 0
    assert fixed.ran == {"export:ops", "notebooks:ops"}


def test_a_directive_spelled_differently_exports_the_same_bytes(built: Course) -> None:
    before = built.path("build/lib/minitorch/core/ops.py").read_bytes()
    built.edit(OPS, "#| export\n", "#|export  \n")
    run = built.doit()
    assert run.ran == {"export:ops", "notebooks:ops"}
    assert built.path("build/lib/minitorch/core/ops.py").read_bytes() == before


def test_forget_makes_a_task_run_again(built: Course) -> None:
    built.edit(OPS, *BREAK)
    built.doit()
    built.edit(OPS, BREAK[1], BREAK[0])
    assert built.cli("forget", "test:model").returncode == 0  # the real command line: dodo.py sees 'forget'
    assert not built.path("build/state/passed").exists()
    assert built.doit().ran == {"export:ops", "notebooks:ops", "check:ops", "check:model", "test:model", "test:ops",
                                "init", "integration:ops_model", "system:package"}
    assert json.loads(built.read("build/state/passed/test/model.json"))["inputs"]
