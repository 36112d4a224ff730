"""Courses to benchmark: a copy of the real course, and generated courses of any size.

A generated course has the real course's shape: one root module everything builds
on (fan-in like `tensor`), layers of modules that each depend on the root and on
one or two modules of earlier layers, small exported code, a unit test file with
two tests per module, integration tests over pairs of modules and one system test
of the assembled package.

`expected_tasks` derives, independently of `tasks/`, which tasks SPEC 5 says must
run after an edit, so the harness can check the build ran exactly those.
"""

from __future__ import annotations

import ast
import random
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "gencourse"
# what a copy of the real course leaves out: generated files, tooling state, the harness itself
SKIP = {"build", ".venv", ".git", "__pycache__", ".pytest_cache", ".mypy_cache", "bench"}


@dataclass(frozen=True)
class Course:
    """A course directory ready for `doit`, and where its `tasks` package comes from."""

    name: str
    root: Path
    build_system: Path  # put on PYTHONPATH so dodo.py finds `tasks`
    root_module: str  # the module everything depends on
    leaf_module: str  # a module nothing depends on

    def source(self, module: str) -> Path:
        return self.root / str(manifest_modules(self.root)[module]["source"])


def copy_real(dest: Path, repo: Path = REPO) -> Course:
    """A copy of the real course (sources, tests, build system), without build/."""
    shutil.copytree(repo, dest, ignore=lambda _d, names: [n for n in names if n in SKIP])
    mods = manifest_modules(dest)
    names = list(mods)
    used = {d for m in mods.values() for d in m["depends"]}  # type: ignore[attr-defined]
    leaf = [n for n in names if n not in used][-1]
    return Course("real", dest, dest, names[0], leaf)


def _layers(n: int) -> list[int]:
    """Layer index of each module: the root alone, then layers of about sqrt(n) modules."""
    width = max(2, round(n ** 0.5))
    return [0] + [1 + (i - 1) // width for i in range(1, n)]


def generate(dest: Path, n: int, seed: int = 7, repo: Path = REPO) -> Course:
    """Write a course of `n` modules under `dest` (which must not exist)."""
    if n < 3:
        raise ValueError("a generated course needs at least 3 modules")
    rng = random.Random(seed)
    names = [f"m{i:04d}" for i in range(n)]
    layer = _layers(n)
    deps: list[list[str]] = []
    for i in range(n):
        if i == 0:
            deps.append([])
            continue
        earlier = [j for j in range(1, i) if layer[j] < layer[i]]
        picked = sorted(rng.sample(earlier, min(len(earlier), rng.choice((1, 2)))))
        deps.append([names[0], *(names[j] for j in picked)])
    dest.mkdir(parents=True)
    (dest / "pyproject.toml").write_text(
        f'[project]\nname = "{PACKAGE}"\nversion = "0.1.0"\ndependencies = ["numpy"]\n\n'
        '[tool.pytest.ini_options]\naddopts = "-p no:cacheprovider"\nfilterwarnings = ["error"]\n',
        encoding="utf-8")
    entries = []
    for i, name in enumerate(names):
        source = f"modules/{i:04d}_{name}/{name}.py"
        entries.append(f"  - name: {name}\n    source: {source}\n    target: {PACKAGE}.core.{name}\n"
                       f"    depends: [{', '.join(deps[i])}]\n")
        _write(dest / source, _module_source(name, deps[i], layer[i]))
        _write(dest / f"tests/unit/test_{name}.py", _unit_test(name))
    (dest / "modules.yaml").write_text(
        f"package:\n  name: {PACKAGE}\n  lib: build/lib\n\ndefaults:\n  timeout: 60\n\nmodules:\n" + "".join(entries),
        encoding="utf-8")
    for i in sorted(rng.sample(range(1, n), min(n - 1, max(2, n // 10)))):
        a, b = deps[i][-1], names[i]
        _write(dest / f"tests/integration/test_{a}_{b}.py", _integration_test(a, b))
    _write(dest / "tests/system/test_package.py", _system_test(names))
    shutil.copy(repo / "dodo.py", dest / "dodo.py")
    return Course(f"gen{n}", dest, repo, names[0], names[-1])


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _module_source(name: str, deps: list[str], layer: int) -> str:
    imports = "".join(f"from {PACKAGE}.core.{d} import K_{d}\n" for d in deps)
    base = " + ".join(f"K_{d}" for d in deps) or "0"
    return f'''# %% [markdown]
# # Module {name}
# > Layer {layer} of the generated course: builds on {", ".join(deps) or "nothing"}.
#
# A short explanation of what this module adds, as a student would read it.

# %%
#| default_exp core.{name}

# %%
#| export
{imports}
K_{name}: int = ({base} + {int(name[1:]) + 1}) % 9973


def f_{name}(x: int) -> int:
    """Scale `x` and shift it by this module's constant."""
    return 2 * x + K_{name}

# %% [markdown]
# A quick check, not exported:

# %%
assert f_{name}(0) == K_{name}
'''


def _unit_test(name: str) -> str:
    return f'''from {PACKAGE}.core.{name} import K_{name}, f_{name}


def test_constant_is_bounded():
    assert 0 <= K_{name} < 9973


def test_function_is_affine():
    assert f_{name}(1) - f_{name}(0) == 2
'''


def _integration_test(a: str, b: str) -> str:
    return f'''from {PACKAGE}.core.{a} import f_{a}
from {PACKAGE}.core.{b} import f_{b}


def test_{a}_and_{b}_compose():
    assert f_{b}(f_{a}(0)) >= 0
'''


def _system_test(names: list[str]) -> str:
    last = names[-1]
    return f'''import {PACKAGE}
from {PACKAGE} import f_{last}


def test_package_exports_every_module():
    assert len([n for n in {PACKAGE}.__all__ if n.startswith("f_")]) == {len(names)}
    assert f_{last}(0) == {PACKAGE}.K_{last}
'''


# -- the expected closure (SPEC 5), derived from the files alone ------------------------------------
def manifest_modules(root: Path) -> dict[str, dict[str, object]]:
    """name -> {source, target, depends (list), tests (list)} from modules.yaml."""
    data = yaml.safe_load((root / "modules.yaml").read_text(encoding="utf-8"))
    out: dict[str, dict[str, object]] = {}
    for entry in data["modules"]:
        depends = entry.get("depends") or []
        if depends == "all":
            depends = list(out)
        tests = entry.get("tests", [f"tests/unit/test_{entry['name']}.py"])
        out[entry["name"]] = {"source": entry["source"], "target": entry["target"], "depends": list(depends),
                              "tests": [tests] if isinstance(tests, str) else list(tests or [])}
    return out


def _package(root: Path) -> str:
    data = yaml.safe_load((root / "modules.yaml").read_text(encoding="utf-8"))
    return str(data["package"]["name"])  # the manifest names the package


def _imports(path: Path, package: str, targets: dict[str, str]) -> tuple[set[str], bool]:
    """Modules a test file imports, and whether it imports the package namespace itself."""
    found: set[str] = set()
    whole = False
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        mods: list[tuple[str, list[str]]] = []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            mods.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            mods += [(a.name, []) for a in node.names]
        for mod, names in mods:
            if mod in targets:
                found.add(targets[mod])
            elif mod == package or mod.startswith(package + "."):
                children = [targets[f"{mod}.{c}"] for c in names if f"{mod}.{c}" in targets]
                if mod != package and children:
                    found.update(children)
                else:
                    whole = True
    return found, whole


def _closure(graph: dict[str, list[str]], roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(graph.get(name, ()))
    return seen


def all_tasks(root: Path) -> int:
    """How many tasks with actions a full build runs (export, notebooks, check, test, init, suites)."""
    suites = [p for kind in ("integration", "system") for p in (root / "tests" / kind).glob("test_*.py")]
    return 4 * len(manifest_modules(root)) + 1 + len(suites)


def expected_tasks(root: Path, module: str, kind: str) -> set[str]:
    """The tasks SPEC 5 says re-run after a `kind` ('prose' or 'code') edit of `module`."""
    if kind == "prose":
        return {f"export:{module}", f"notebooks:{module}"}
    mods = manifest_modules(root)
    package = _package(root)
    graph = {n: list(m["depends"]) for n, m in mods.items()}  # type: ignore[call-overload]
    targets = {str(m["target"]): n for n, m in mods.items()}
    ran = {f"export:{module}", f"notebooks:{module}", "init"}
    for name, m in mods.items():
        if module in _closure(graph, [name]):
            ran.add(f"check:{name}")
        reach = {name}
        for test in m["tests"]:  # type: ignore[attr-defined]
            found, whole = _imports(root / test, package, targets)
            reach |= set(mods) if whole else found
        if module in _closure(graph, reach):
            ran.add(f"test:{name}")
    for kind_ in ("integration", "system"):
        for path in sorted((root / "tests" / kind_).glob("test_*.py")):
            found, whole = _imports(path, package, targets)
            if whole or module in _closure(graph, found):
                ran.add(f"{kind_}:{path.stem.removeprefix('test_')}")
    return ran
