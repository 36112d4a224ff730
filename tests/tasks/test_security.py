"""Security basics (SPEC 6): student code contained; YAML safe-loaded; no shell; paths confined; writes under build/."""

from __future__ import annotations

import ast
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import REPO, Course

from tasks.core.errors import ManifestError
from tasks.model.manifest import read_manifest
from tasks.safety.recovery import STRAY
from tasks.sandbox.spawn import run_child

# -- student code runs in a sandboxed child -------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))  # a zombie is dead


def _wait_dead(pids: list[int], within: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    (tmp_path / "build" / "lib").mkdir(parents=True)
    return tmp_path / "build" / "lib"


def _module(lib: Path, name: str, body: str) -> None:
    (lib / f"{name}.py").write_text(body, encoding="utf-8")


SPAWNER = ("import os, subprocess, time\n"
           "p = subprocess.Popen(['sleep', '120'])\n"
           "open({pids!r}, 'w').write(f'{{os.getpid()}} {{p.pid}} {{os.getpgid(0)}}')\n"
           "while True:\n    time.sleep(0.05)\n")


def test_ctrl_c_in_the_build_kills_the_child_group_and_leaves_no_file(lib: Path) -> None:
    root, pids = lib.parent.parent, lib.parent.parent / "pids"
    _module(lib, "spawner", SPAWNER.format(pids=str(pids)))

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_child(root, ["import", "--lib", "build/lib", "--target", "spawner"], timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    child, grandchild, group = (int(x) for x in pids.read_text().split())
    assert group == child != os.getpgid(0)  # its own group: a terminal's Ctrl-C reaches doit, which cleans up
    assert _wait_dead([child, grandchild]) == []
    assert [p.name for p in (root / "build").iterdir() if STRAY.match(p.name)] == []


def test_output_is_captured_and_trimmed_to_its_end(lib: Path) -> None:
    _module(lib, "noisy", "import os\nos.write(1, b'x' * 10000 + b'THE END')\n")
    outcome = run_child(lib.parent.parent, ["import", "--lib", "build/lib", "--target", "noisy"], timeout=60)
    assert outcome.output.startswith("[... 7007 characters cut ...]\n")
    assert outcome.output.endswith("THE END") and len(outcome.output) < 3100


def test_an_orphan_left_by_a_child_that_finished_is_killed(lib: Path) -> None:
    pids = lib.parent.parent / "pids"
    _module(lib, "leaver", "import os, subprocess\n"
                           "p = subprocess.Popen(['sleep', '120'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
                           f"open({str(pids)!r}, 'w').write(str(p.pid))\n")
    outcome = run_child(lib.parent.parent, ["import", "--lib", "build/lib", "--target", "leaver"], timeout=60)
    assert not outcome.timed_out and outcome.result == {"status": "ok", "seconds": outcome.result["seconds"]}  # type: ignore[index]
    assert _wait_dead([int(pids.read_text())]) == []


# -- YAML ------------------------------------------------------------------------------------


MANIFEST = """package:
  name: minitorch
  lib: {lib}
modules:
  - name: core
    source: {source}
    target: minitorch.core.core
    tests: {tests}
"""


def _manifest(root: Path, lib: str = "build/lib", source: str = "modules/01_core/core.py", tests: str = "[]") -> None:
    (root / "modules.yaml").write_text(MANIFEST.format(lib=lib, source=source, tests=tests), encoding="utf-8")


def test_python_tags_in_yaml_are_refused_not_run(course: Course, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    course.write("modules.yaml", f"package: !!python/object/apply:os.system ['touch {marker}']\nmodules: []\n")
    with pytest.raises(ManifestError) as err:
        read_manifest(course.root)
    assert str(err.value).startswith("modules.yaml:1:10: invalid YAML: tag 'tag:yaml.org,2002:python/object/apply:")
    assert "not allowed" in str(err.value)
    assert not marker.exists()
    run = course.cli()  # and through doit: a message, no traceback, nothing run
    assert run.returncode == 3 and "Traceback" not in run.stderr and "modules.yaml:1:10" in run.stderr
    assert not marker.exists()


@pytest.mark.parametrize("tag", ["!!python/name:os.system", "!!python/module:os", "!custom"])
def test_any_unknown_yaml_tag_is_refused(course: Course, tag: str) -> None:
    course.write("modules.yaml", f"package: {tag} x\nmodules: []\n")
    with pytest.raises(ManifestError, match=r"^modules\.yaml:1:10: invalid YAML: "):
        read_manifest(course.root)


def test_the_build_loads_yaml_only_through_the_safe_loader() -> None:
    for path in sorted((REPO / "tasks").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for unsafe in ("yaml.load(", "yaml.unsafe_load", "yaml.full_load", "yaml.Loader", "FullLoader", "UnsafeLoader"):
            assert unsafe not in text, f"{path.name} uses {unsafe}"


# -- no shell --------------------------------------------------------------------------------


SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
               ("os", "execl"), ("os", "spawnl")}


def _shell_uses(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                found.append((node.lineno, "shell=..."))
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                (func.value.id, func.attr) in SHELL_CALLS:
            found.append((node.lineno, f"{func.value.id}.{func.attr}"))
        if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
            found.append((node.lineno, func.id))
    return found


def test_no_shell_strings_anywhere_in_the_build_system() -> None:
    problems = [f"{path.name}:{line}: {what}" for path in sorted((REPO / "tasks").rglob("*.py"))
                for line, what in _shell_uses(ast.parse(path.read_text(encoding="utf-8")))]
    problems += [f"dodo.py:{line}: {what}" for line, what in _shell_uses(ast.parse((REPO / "dodo.py").read_text()))]
    assert problems == []


def test_the_shell_detector_can_fail() -> None:
    tree = ast.parse("import os, subprocess\nsubprocess.run(cmd, shell=True)\nos.system(x)\neval(s)\n"
                     "subprocess.run(['ls'], shell=False)\n")
    assert _shell_uses(tree) == [(2, "shell=..."), (3, "os.system"), (4, "eval")]


# -- paths confined to the repository, generated files under build/ ---------------------------


@pytest.mark.parametrize(("field", "value", "message"), [
    ("source", "../outside/core.py", "'source' '../outside/core.py' leaves the repository"),
    ("source", "modules/../../outside/core.py", "leaves the repository"),
    ("source", "/etc/passwd.py", "is absolute; write it relative to the repository root"),
    ("source", "~/core.py", "is absolute"),
    ("source", "modules/escape/core.py", "'source' 'modules/escape/core.py' leaves the repository"),
    ("tests", "['../outside/test_core.py']", "test file '../outside/test_core.py' leaves the repository"),
    ("tests", "['modules/escape/test_core.py']", "leaves the repository"),
    ("lib", "../lib", "'lib' '../lib' leaves the repository"),
    ("lib", "/tmp/lib", "'lib' '/tmp/lib' is absolute"),
    ("lib", "modules", "'lib' 'modules' must be under build/"),
    ("lib", "build/../modules", "'lib' 'build/../modules' must be under build/"),
    ("lib", "build/escape", "leaves the repository"),
    ("lib", "build/inward", "'lib' 'build/inward' must be under build/"),
])
def test_manifest_paths_are_confined(tmp_path: Path, field: str, value: str, message: str) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    (root / "modules/01_core").mkdir(parents=True)
    (root / "modules/01_core/core.py").write_text("# %%\n#| default_exp core.core\n")
    (root / "build").mkdir()
    outside.mkdir()
    (outside / "core.py").write_text("# %%\n#| default_exp core.core\n")
    (outside / "test_core.py").write_text("def test_x():\n    pass\n")
    (root / "modules/escape").symlink_to(outside, target_is_directory=True)
    (root / "build/escape").symlink_to(outside, target_is_directory=True)
    (root / "build/inward").symlink_to(root / "modules", target_is_directory=True)
    _manifest(root, **{field: value})
    with pytest.raises(ManifestError) as err:
        read_manifest(root)
    assert message in str(err.value)
    assert str(err.value).startswith("modules.yaml:")


def test_a_build_writes_only_under_build(_built_template: Path) -> None:
    fixture = REPO / "tests/tasks/fixtures/course"
    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*")
                if p.is_file() and p.relative_to(root).parts[0] != "build"}
    # and the paired notebooks beside the sources (students edit them), each folder's .gitignore naming them
    paired = {p.relative_to(fixture).with_suffix(".ipynb").as_posix() for p in (fixture / "modules").rglob("*.py")}
    ignores = {p.rsplit("/", 1)[0] + "/.gitignore" for p in paired}
    assert files(_built_template) == files(fixture) | {"dodo.py"} | paired | ignores
    assert all(f"/{p.rsplit('/', 1)[1]}" in (_built_template / i).read_text(encoding="utf-8").splitlines()
               for p, i in zip(sorted(paired), sorted(ignores), strict=True))
    assert not (REPO / "tests/tasks/fixtures/course/build").exists()


def test_generated_files_sit_under_build_lib(_built_template: Path) -> None:
    from tasks.plan.pipeline import Pipeline

    pipeline = Pipeline.load(_built_template)
    build = (_built_template / "build").resolve()
    for creator in (pipeline.task_export, pipeline.task_notebooks, pipeline.task_check, pipeline.task_test,
                    pipeline.task_integration, pipeline.task_system):
        for task in creator():
            for target in task.get("targets", []):
                assert (_built_template / target).resolve().is_relative_to(build), target
    for target in pipeline.task_init()["targets"]:
        assert (_built_template / target).resolve().is_relative_to(build), target
