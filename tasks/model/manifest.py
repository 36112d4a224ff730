"""The manifest (`modules.yaml`): read it, validate ALL of it, return frozen records.

Reading the file (`read_manifest`) is kept apart from checking the data
(`parse_manifest`), so tests can pass plain dicts.
"""

from __future__ import annotations

import keyword
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core import layout
from tasks.core.errors import ManifestError, Problem, join
from tasks.core.text import BadEncoding, closest, utf8
from tasks.model.graph import find_cycle

MANIFEST = "modules.yaml"
TOP_KEYS = ("package", "defaults", "modules")
PACKAGE_KEYS = ("name", "lib")
DEFAULT_KEYS = ("timeout", "coverage")
MODULE_KEYS = ("name", "source", "target", "depends", "tests", "timeout", "coverage")
REQUIRED = ("name", "source", "target")
SOURCE_SUFFIXES = (".py", ".ipynb")
DEFAULT_TIMEOUT = 120.0
# what to write, shown in messages about a missing or mistyped value
_EXAMPLES = {"name": "<identifier>", "source": "modules/NN_<name>/<name>.py",
             "timeout": "60", "coverage": "80"}


@dataclass(frozen=True)
class Module:
    """One course module as declared in the manifest."""

    name: str
    source: str
    target: str
    depends: tuple[str, ...]
    tests: tuple[str, ...]
    timeout: float
    coverage: float | None
    line: int

    def entry(self) -> dict[str, Any]:
        """The declared values, for up-to-date checks."""
        return {
            "name": self.name,
            "source": self.source,
            "target": self.target,
            "depends": list(self.depends),
            "tests": list(self.tests),
            "timeout": self.timeout,
            "coverage": self.coverage,
        }


@dataclass(frozen=True)
class Manifest:
    """The whole course: package settings and modules in course order."""

    package: str
    lib: str
    modules: tuple[Module, ...]
    root: Path = field(default=Path("."), compare=False)

    @property
    def by_name(self) -> dict[str, Module]:
        return {m.name: m for m in self.modules}

    @property
    def graph(self) -> dict[str, tuple[str, ...]]:
        """Module name -> direct dependencies, in course order."""
        return {m.name: m.depends for m in self.modules}


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def _type_name(value: Any) -> str:
    return {type(None): "nothing", bool: "a boolean", int: "a number", float: "a number",
            str: "a string", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


class _Checker:
    """Collects problems with their positions."""

    def __init__(self, path: str, positions: Mapping[tuple[Any, ...], tuple[int, int]]) -> None:
        self.path = path
        self.positions = positions
        self.problems: list[Problem] = []
        self._real_roots: dict[Path, str] = {}

    def real_root(self, root: Path) -> str:
        """`os.path.realpath(root)`, once per validation (not once per path: 1000 modules, 2000 paths)."""
        if root not in self._real_roots:
            self._real_roots[root] = os.path.realpath(root)
        return self._real_roots[root]

    def at(self, where: tuple[Any, ...], message: str) -> None:
        line, col = self.positions.get(where, (1, 1))
        self.problems.append(Problem(self.path, line, col, message))

    def keys(self, data: Mapping[str, Any], where: tuple[Any, ...], allowed: Sequence[str], what: str) -> None:
        for key in data:
            if key not in allowed:
                hint = _suggest(str(key), allowed) or f"; allowed keys: {', '.join(allowed)}"
                self.at(where + (("key", key),), f"unknown key {key!r} in {what}{hint}")


def _number(ck: _Checker, value: Any, where: tuple[Any, ...], key: str, low: float, high: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ck.at(where, f"{key!r} must be a number, got {_type_name(value)} ({value!r}); "
                     f"write e.g. '{key}: {_EXAMPLES[key]}'")
        return None
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        ck.at(where, f"{key!r} must be {bound}, got {value:g}")
        return None
    return float(value)


def _inside(root: Path, rel: str, real_root: str | None = None) -> bool:
    real_root = real_root or os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, rel))
    return real == real_root or real.startswith(real_root + os.sep)


def _check_path(ck: _Checker, root: Path, value: Any, where: tuple[Any, ...], what: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        got = "an empty string" if isinstance(value, str) else _type_name(value)
        ck.at(where, f"{what} must be a path (a string), got {got}")
        return None
    if os.path.isabs(value) or value.startswith("~"):
        ck.at(where, f"{what} {value!r} is absolute; write it relative to the repository root")
        return None
    if not _inside(root, value, ck.real_root(root)):
        ck.at(where, f"{what} {value!r} leaves the repository; keep it inside {root.resolve().name}/")
        return None
    return Path(value).as_posix()


def _check_target(ck: _Checker, package: str | None, value: Any, where: tuple[Any, ...]) -> str | None:
    """`package` is None when the package name itself is invalid (reported once, not per target)."""
    if not isinstance(value, str):
        ck.at(where, f"'target' must be a dotted module path (a string), got {_type_name(value)}")
        return None
    parts = value.split(".")
    if package is None:
        parts = ["<package>", *parts[1:]]
    elif value == package:
        ck.at(where, f"target {value!r} is the package itself; write it as '{package}.<module>', "
                     f"e.g. '{package}.core.name'")
        return None
    elif parts[0] != package or len(parts) < 2:
        ck.at(where, f"target {value!r} is outside the package; write it as '{package}.<module>', "
                     f"e.g. '{package}.core.{parts[-1] if parts[-1].isidentifier() else 'name'}'")
        return None
    for part in parts[1:]:
        if not part.isidentifier() or keyword.iskeyword(part):
            ck.at(where, f"target {value!r}: {part!r} is not a valid Python identifier; "
                         "use letters, digits and underscores, not starting with a digit")
            return None
    return value


def parse_manifest(data: Any, positions: Mapping[tuple[Any, ...], tuple[int, int]],
                   root: Path, path: str = MANIFEST) -> Manifest:
    """Validate manifest `data` (as loaded from YAML) and return it as records.

    Every problem is collected and reported at once, each as `path:line:col: message`.
    """
    ck = _Checker(path, positions)
    if data is None:
        ck.at((), "the manifest is empty; declare the course under 'modules:' (see README, 'The manifest')")
        raise ManifestError(join(ck.problems))
    if not isinstance(data, dict):
        ck.at((), f"the manifest must be a mapping with keys {', '.join(TOP_KEYS)}; got {_type_name(data)}")
        raise ManifestError(join(ck.problems))
    ck.keys(data, (), TOP_KEYS, "the manifest")

    package, lib = "tinytorch", layout.DEFAULT_LIB
    package_ok = True  # False: the package name is invalid, so targets are not checked against it
    pkg = data.get("package", {})
    if not isinstance(pkg, dict):
        ck.at(("package",), f"'package' must be a mapping with keys {', '.join(PACKAGE_KEYS)}, got {_type_name(pkg)}")
        pkg = {}
        package_ok = False
    ck.keys(pkg, ("package",), PACKAGE_KEYS, "'package'")
    if any(key not in PACKAGE_KEYS for key in pkg):
        package_ok = False
    if "name" in pkg:
        if isinstance(pkg["name"], str) and pkg["name"].isidentifier() and not keyword.iskeyword(pkg["name"]):
            package = pkg["name"]
        else:
            package_ok = False
            ck.at(("package", "name"), f"package name {pkg['name']!r} is not a valid Python identifier; "
                                       "use letters, digits and underscores, e.g. 'tinytorch'")
    if "lib" in pkg:
        checked = _check_path(ck, root, pkg["lib"], ("package", "lib"), "'lib'")
        if checked is not None:
            # resolved, so that 'build/../modules' or a symlink under build/ cannot point elsewhere
            real_build, real_lib = os.path.realpath(layout.at(root, layout.BUILD)), os.path.realpath(root / checked)
            if not (real_lib == real_build or real_lib.startswith(real_build + os.sep)):
                ck.at(("package", "lib"), f"'lib' {checked!r} must be under {layout.BUILD}/ (everything generated lives there)")
            else:
                lib = checked

    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        ck.at(("defaults",), f"'defaults' must be a mapping, got {_type_name(defaults)}")
        defaults = {}
    ck.keys(defaults, ("defaults",), DEFAULT_KEYS, "'defaults'")
    d_timeout = _number(ck, defaults.get("timeout"), ("defaults", "timeout"), "timeout", 1, None)
    d_cover = _number(ck, defaults.get("coverage"), ("defaults", "coverage"), "coverage", 0, 100)

    raw = data.get("modules")
    if raw is None or raw == []:
        ck.at(("modules",) if "modules" in data else (), "no modules declared; add a list under 'modules:' "
              "with at least one entry (name, source, target)")
        raise ManifestError(join(ck.problems))
    if not isinstance(raw, list):
        ck.at(("modules",), f"'modules' must be a list of modules, got {_type_name(raw)}")
        raise ManifestError(join(ck.problems))

    modules: list[Module] = []
    first_seen: dict[str, int] = {}
    targets: dict[str, str] = {}
    declared_deps: dict[str, tuple[int, list[tuple[str, tuple[Any, ...]]]]] = {}
    for i, entry in enumerate(raw):
        here = ("modules", i)
        if not isinstance(entry, dict):
            ck.at(here, f"module #{i + 1} must be a mapping with keys {', '.join(REQUIRED)}, got {_type_name(entry)}")
            continue
        missing = [k for k in REQUIRED if k not in entry]
        name = entry.get("name")
        who = f"module {name!r}" if isinstance(name, str) else f"module #{i + 1}"
        ck.keys(entry, here, MODULE_KEYS, who)
        for key in missing:
            example = f"{package}.core.<name>" if key == "target" else _EXAMPLES[key]
            if isinstance(name, str) and name.isidentifier():
                example = example.replace("<name>", name)
            ck.at(here, f"{who} is missing {key!r}; add '{key}: {example}'")
        duplicate = False
        if "name" in entry and not (isinstance(name, str) and name.isidentifier()):
            ck.at(here + ("name",), f"module name {name!r} must be an identifier (letters, digits, underscores)")
            name = None
        label = f"module {name!r}" if isinstance(name, str) else f"module #{i + 1}"
        if isinstance(name, str):
            if name in first_seen:
                line = positions.get(("modules", first_seen[name], "name"), (0, 0))[0]
                ck.at(here + ("name",), f"duplicate module name {name!r} (first declared at line {line}); rename one")
                duplicate = True
            else:
                first_seen[name] = i
        source = _check_path(ck, root, entry["source"], here + ("source",), f"{label}: 'source'") \
            if "source" in entry else None
        if source is not None:
            if Path(source).suffix not in SOURCE_SUFFIXES:
                ck.at(here + ("source",), f"{label}: source {source!r} must be a jupytext percent .py or an .ipynb")
            elif not (root / source).is_file():
                ck.at(here + ("source",), f"{label}: source file {source!r} does not exist; create it or fix the path")
        target = _check_target(ck, package if package_ok else None, entry["target"], here + ("target",)) if "target" in entry else None
        if target is not None:
            if target in targets:
                ck.at(here + ("target",), f"{label}: target {target!r} is already the target of module "
                                          f"{targets[target]!r}; each module needs its own target")
            else:
                targets[target] = name if isinstance(name, str) else f"#{i + 1}"
        deps_raw = entry.get("depends", [])
        deps: list[tuple[str, tuple[Any, ...]]] = []
        if deps_raw == "all":
            if i == 0:
                ck.at(here + ("depends",), f"{label}: 'depends: all' on the first module means no module; "
                                           "write 'depends: []'")
            deps = [(m.name, here + ("depends",)) for m in modules]
        elif isinstance(deps_raw, list):
            for j, dep in enumerate(deps_raw):
                if not isinstance(dep, str):
                    ck.at(here + ("depends", j), f"{label}: dependency must be a module name, got {_type_name(dep)}")
                elif dep in [d for d, _ in deps]:
                    ck.at(here + ("depends", j), f"{label}: dependency {dep!r} is listed twice; remove one")
                else:
                    deps.append((dep, here + ("depends", j)))
        elif deps_raw is not None:
            ck.at(here + ("depends",), f"{label}: 'depends' must be a list of module names or the word 'all', "
                                       f"got {_type_name(deps_raw)}")
        tests_raw = entry.get("tests", [f"tests/unit/test_{name}.py"] if isinstance(name, str) else [])
        if isinstance(tests_raw, str):
            tests_raw = [tests_raw]
        tests: list[str] = []
        if not isinstance(tests_raw, list):
            ck.at(here + ("tests",), f"{label}: 'tests' must be a path or a list of paths, got {_type_name(tests_raw)}")
            tests_raw = []
        for j, test in enumerate(tests_raw):
            where = here + ("tests", j) if "tests" in entry and isinstance(entry["tests"], list) else here + ("tests",)
            if "tests" not in entry:
                where = here + ("name",)
            checked = _check_path(ck, root, test, where, f"{label}: test file")
            if checked is None:
                continue
            if not (root / checked).is_file():
                fix = "create it or fix the path" if "tests" in entry else \
                    "create it, or declare 'tests:' (a list of files, or [] for none)"
                ck.at(where, f"{label}: test file {checked!r} does not exist; {fix}")
            tests.append(checked)
        timeout = _number(ck, entry.get("timeout"), here + ("timeout",), "timeout", 1, None)
        cover = _number(ck, entry.get("coverage"), here + ("coverage",), "coverage", 0, 100)
        if isinstance(name, str) and duplicate:
            continue  # reported above; its dependencies are checked under the first declaration only
        if isinstance(name, str) and source is not None and target is not None:
            declared_deps[name] = (i, deps)
            modules.append(Module(
                name=name, source=source, target=target, depends=tuple(d for d, _ in deps),
                tests=tuple(tests), timeout=timeout or d_timeout or DEFAULT_TIMEOUT,
                coverage=cover if cover is not None else d_cover,
                line=positions.get(here, (0, 0))[0],
            ))
        elif isinstance(name, str):
            declared_deps[name] = (i, deps)

    names = list(declared_deps)
    for name, (_, deps) in declared_deps.items():
        for dep, where in deps:
            if dep == name:
                ck.at(where, f"module {name!r} depends on itself; remove {dep!r} from its 'depends'")
            elif dep not in declared_deps:
                ck.at(where, f"module {name!r} depends on unknown module {dep!r}{_suggest(dep, names)}")
    graph = {name: [d for d, _ in deps if d != name and d in declared_deps]
             for name, (_, deps) in declared_deps.items()}
    cycle = find_cycle(graph)
    in_cycle = set(cycle or ())
    if cycle:
        start = declared_deps[cycle[0]][0]
        ck.at(("modules", start, "depends"), f"dependency cycle: {' -> '.join(cycle)}; "
                                             "remove one of these dependencies")
    for name, (i, deps) in declared_deps.items():
        for dep, where in deps:
            if dep in declared_deps and dep != name and not (name in in_cycle and dep in in_cycle):
                j = declared_deps[dep][0]
                if j > i:
                    line = positions.get(("modules", j), (0, 0))[0]
                    ck.at(where, f"module {name!r} is listed before its dependency {dep!r} (line {line}); "
                                 f"move {dep!r} above {name!r} so the course can be taught in order")
    if ck.problems:
        raise ManifestError(join(ck.problems))
    return Manifest(package=package, lib=lib, modules=tuple(modules), root=root)


def _load_yaml(text: str, name: str, store: Path) -> tuple[Any, Any]:
    """`tasks.model.yamlpos.load(text)`, remembered in `store` under the digest of the text and of yamlpos.py.

    Importing PyYAML and walking its nodes was a third of what every doit start spent
    on the task list, for a file that rarely changes. Only the parse is remembered:
    `parse_manifest` validates the data (files on disk included) on every run.
    """
    import hashlib
    import marshal

    key = hashlib.sha256(text.encode("utf-8") + b"\0" + Path(__file__).with_name("yamlpos.py").read_bytes()).hexdigest()
    try:
        cached_key, data, positions = marshal.loads(store.read_bytes())
        if cached_key == key:
            return data, positions
    except (OSError, ValueError, EOFError, TypeError):
        pass
    from tasks.model.yamlpos import YamlSyntaxError, load

    try:
        data, positions = load(text)
    except YamlSyntaxError as exc:
        raise ManifestError(f"{name}:{exc.line}:{exc.col}: {exc}") from None
    try:
        blob = marshal.dumps((key, data, positions))
    except ValueError:  # values marshal cannot hold (YAML dates): parsed again next time
        return data, positions
    try:
        from tasks.core import atomic

        atomic.write_bytes(store, blob)
    except OSError:
        pass  # a read-only tree: nothing remembered
    return data, positions


def read_manifest(root: Path, name: str = MANIFEST) -> Manifest:
    """Read and validate `root/name`."""
    path = root / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        msg = f"{name}: not found in {root.resolve()}; create it (see README, 'The manifest')"
        raise ManifestError(msg) from None
    try:
        text = utf8(raw)
    except BadEncoding as exc:
        msg = f"{name}:{exc.line}: not valid UTF-8 (byte {exc.byte:#04x}); save the file as UTF-8"
        raise ManifestError(msg) from None
    data, positions = _load_yaml(text, name, layout.at(root, layout.MANIFEST_CACHE))
    return parse_manifest(data, positions, root, name)
