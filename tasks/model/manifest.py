"""The manifest (`modules.yaml`): read it, validate ALL of it, return frozen records.

Reading the file (`read_manifest`) is kept apart from checking the data
(`parse_manifest`), so tests can pass plain dicts. What each section may hold is
one table (`FIELDS`: key, type, default, example, range); each section is checked
by a small function over its rows.
"""

from __future__ import annotations

import keyword
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core import layout
from tasks.core.errors import ManifestError, Problem, join
from tasks.core.text import BadEncoding, closest, utf8
from tasks.model.extras import check_collisions, check_files, check_public, public_places
from tasks.model.fields import (
    DEFAULT_KEYS,
    DEFAULT_TIMEOUT,
    FIELDS,
    MANIFEST,
    MAX_COMPONENT,
    MAX_NAME,
    MODULE_KEYS,
    NUMBERS,
    PACKAGE_KEYS,
    REQUIRED,
    SOURCE_SUFFIXES,
    TOP_KEYS,
    Field,
    Limits,
    Manifest,
    Module,
    field_of,
)
from tasks.model.grading import parse_grading
from tasks.model.graph import find_cycle

__all__ = ["DEFAULT_TIMEOUT", "MANIFEST", "Manifest", "Module", "parse_manifest", "read_manifest"]


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def _type_name(value: Any) -> str:
    return {type(None): "nothing", bool: "a boolean", int: "a number", float: "a number",
            str: "a string", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


Where = tuple[Any, ...]
Deps = list[tuple[str, Where]]


class _Checker:
    """Collects problems with their positions."""

    def __init__(self, path: str, positions: Mapping[Where, tuple[int, int]], root: Path) -> None:
        self.path = path
        self.positions = positions
        self.root = root
        self.problems: list[Problem] = []
        self._real_roots: dict[Path, str] = {}

    def real_root(self, root: Path) -> str:
        """`os.path.realpath(root)`, once per validation (not once per path: 1000 modules, 2000 paths)."""
        if root not in self._real_roots:
            self._real_roots[root] = os.path.realpath(root)
        return self._real_roots[root]

    def line(self, where: Where) -> int:
        return self.positions.get(where, (0, 0))[0]

    def at(self, where: Where, message: str) -> None:
        line, col = self.positions.get(where, (1, 1))
        self.problems.append(Problem(self.path, line, col, message))

    def keys(self, data: Mapping[str, Any], where: Where, allowed: Sequence[str], what: str) -> None:
        for key in data:
            if key not in allowed:
                hint = _suggest(str(key), allowed) or f"; allowed keys: {', '.join(allowed)}"
                self.at(where + (("key", key),), f"unknown key {key!r} in {what}{hint}")

    def fail(self) -> ManifestError:
        return ManifestError(join(self.problems))


def _number(ck: _Checker, value: Any, where: Where, spec: Field) -> float | None:
    if value is None:
        return None
    key = spec.key
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ck.at(where, f"{key!r} must be a number, got {_type_name(value)} ({value!r}); "
                     f"write e.g. '{key}: {spec.example}'")
        return None
    if not math.isfinite(value):
        ck.at(where, f"{key!r} must be a finite number, got {value!r}; write e.g. '{key}: {spec.example}'")
        return None
    low = spec.low if spec.low is not None else float("-inf")
    if value < low or (spec.high is not None and value > spec.high):
        bound = f"between {low:g} and {spec.high:g}" if spec.high is not None else f"at least {low:g}"
        ck.at(where, f"{key!r} must be {bound}, got {value:g}")
        return None
    if spec.most is not None and value > spec.most:
        ck.at(where, f"{key!r} must be at most {spec.most:g}{spec.unit and ' ' + spec.unit}, got {value:g}; "
                     f"write e.g. '{key}: {spec.example}'")
        return None
    return float(value)


def _inside(root: Path, rel: str, real_root: str | None = None) -> bool:
    real_root = real_root or os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, rel))
    return real == real_root or real.startswith(real_root + os.sep)


def _check_path(ck: _Checker, value: Any, where: Where, what: str) -> str | None:
    root = ck.root
    if not isinstance(value, str) or not value.strip():
        got = "an empty string" if isinstance(value, str) else _type_name(value)
        ck.at(where, f"{what} must be a path (a string), got {got}")
        return None
    if "\0" in value:
        ck.at(where, f"{what} {value!r} contains a NUL byte; remove it")
        return None
    long = next((part for part in value.split("/") if len(os.fsencode(part)) > MAX_COMPONENT), None)
    if long is not None:
        ck.at(where, f"{what}: the name {long[:40]!r}... is {len(os.fsencode(long))} bytes long; "
                     f"file systems allow at most {MAX_COMPONENT}, so shorten it")
        return None
    if os.path.isabs(value) or value.startswith("~"):
        ck.at(where, f"{what} {value!r} is absolute; write it relative to the repository root")
        return None
    if not _inside(root, value, ck.real_root(root)):
        ck.at(where, f"{what} {value!r} leaves the repository; keep it inside {root.resolve().name}/")
        return None
    return Path(value).as_posix()


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a symlink loop
        return False


def _check_target(ck: _Checker, package: str | None, value: Any, where: Where) -> str | None:
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


# --- sections -----------------------------------------------------------------------------------

def _top(ck: _Checker, data: Any) -> dict[str, Any]:
    if data is None:
        ck.at((), "the manifest is empty; declare the course under 'modules:' (see README, 'The manifest')")
        raise ck.fail()
    if not isinstance(data, dict):
        ck.at((), f"the manifest must be a mapping with keys {', '.join(TOP_KEYS)}; got {_type_name(data)}")
        raise ck.fail()
    ck.keys(data, (), TOP_KEYS, "the manifest")
    return data


def _package(ck: _Checker, data: dict[str, Any]) -> tuple[str, str, bool]:
    """(package, lib, package_ok); package_ok False: the name is invalid, targets are not checked against it."""
    package, lib = field_of("package", "name").default, field_of("package", "lib").default
    package_ok = True
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
    elif package_ok:
        package_ok = False
        ck.at(("package",) if "package" in data else (), "the package is not named; add 'package: {name: <import name>}' "
                                                         "(the one place the package is named)")
    if "lib" in pkg:
        lib = _lib(ck, pkg["lib"]) or lib
    return package, lib, package_ok


def _files(ck: _Checker, data: dict[str, Any], package: str) -> tuple[tuple[str, str], ...]:
    """The extra package files (`package: files:`), each an existing file inside the repository."""
    pkg = data.get("package", {})
    return check_files(pkg.get("files") if isinstance(pkg, dict) else None, ("package", "files"), package, ck.at,
                       lambda value, where, what: _check_source_file(ck, value, where, what))


def _check_source_file(ck: _Checker, value: Any, where: Where, what: str) -> str | None:
    checked = _check_path(ck, value, where, what)
    if checked is not None and not _is_file(ck.root / checked):
        ck.at(where, f"{what}: {checked!r} does not exist; create it or fix the path")
        return None
    return checked


def _lib(ck: _Checker, value: Any) -> str | None:
    checked = _check_path(ck, value, ("package", "lib"), "'lib'")
    if checked is None:
        return None
    # resolved, so that 'build/../modules' or a symlink under build/ cannot point elsewhere
    real_build, real_lib = os.path.realpath(layout.at(ck.root, layout.BUILD)), os.path.realpath(ck.root / checked)
    if not (real_lib == real_build or real_lib.startswith(real_build + os.sep)):
        ck.at(("package", "lib"), f"'lib' {checked!r} must be under {layout.BUILD}/ (everything generated lives there)")
        return None
    return checked


def _defaults(ck: _Checker, data: dict[str, Any]) -> dict[str, float | None]:
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        ck.at(("defaults",), f"'defaults' must be a mapping, got {_type_name(defaults)}")
        defaults = {}
    ck.keys(defaults, ("defaults",), DEFAULT_KEYS, "'defaults'")
    return {f.key: _number(ck, defaults.get(f.key), ("defaults", f.key), f) for f in FIELDS
            if "defaults" in f.sections and f.kind == "number"}


def _module_list(ck: _Checker, data: dict[str, Any]) -> list[Any]:
    raw = data.get("modules")
    if raw is None or raw == []:
        ck.at(("modules",) if "modules" in data else (), "no modules declared; add a list under 'modules:' "
              "with at least one entry (name, source, target)")
        raise ck.fail()
    if not isinstance(raw, list):
        ck.at(("modules",), f"'modules' must be a list of modules, got {_type_name(raw)}")
        raise ck.fail()
    return raw


@dataclass
class _Course:
    """What the modules checked so far declared, for checks across modules."""

    package: str
    package_ok: bool
    defaults: dict[str, float | None]
    modules: list[Module] = field(default_factory=list)
    first_seen: dict[str, int] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)
    declared: dict[str, tuple[int, Deps]] = field(default_factory=dict)


def _missing(ck: _Checker, course: _Course, entry: dict[str, Any], here: Where, who: str) -> None:
    name = entry.get("name")
    for key in (k for k in REQUIRED if k not in entry):
        example = field_of("module", key).example.replace("<package>", course.package)
        if isinstance(name, str) and name.isidentifier():
            example = example.replace("<name>", name)
        ck.at(here, f"{who} is missing {key!r}; add '{key}: {example}'")


def _module_name(ck: _Checker, course: _Course, entry: dict[str, Any], i: int) -> tuple[str | None, bool]:
    """(name or None when invalid, whether it duplicates an earlier module's)."""
    here, name = ("modules", i), entry.get("name")
    if "name" in entry and not (isinstance(name, str) and name.isidentifier()):
        ck.at(here + ("name",), f"module name {name!r} must be an identifier (letters, digits, underscores)")
        return None, False
    if not isinstance(name, str):
        return None, False
    if len(name) > MAX_NAME:
        ck.at(here + ("name",), f"module name {name[:40]!r}... is {len(name)} characters long; "
                                f"keep it under {MAX_NAME + 1} (it names files under {layout.BUILD}/)")
        return None, False
    if name in course.first_seen:
        line = ck.line(("modules", course.first_seen[name], "name"))
        ck.at(here + ("name",), f"duplicate module name {name!r} (first declared at line {line}); rename one")
        return name, True
    course.first_seen[name] = i
    return name, False


def _module_source(ck: _Checker, entry: dict[str, Any], here: Where, label: str) -> str | None:
    if "source" not in entry:
        return None
    source = _check_path(ck, entry["source"], here + ("source",), f"{label}: 'source'")
    if source is not None:
        if Path(source).suffix not in SOURCE_SUFFIXES:
            ck.at(here + ("source",), f"{label}: source {source!r} must be a jupytext percent .py or an .ipynb")
        elif not _is_file(ck.root / source):
            ck.at(here + ("source",), f"{label}: source file {source!r} does not exist; create it or fix the path")
    return source


def _module_target(ck: _Checker, course: _Course, entry: dict[str, Any], here: Where,
                   name: str | None, label: str, i: int) -> str | None:
    if "target" not in entry:
        return None
    target = _check_target(ck, course.package if course.package_ok else None, entry["target"], here + ("target",))
    if target is not None:
        if target in course.targets:
            ck.at(here + ("target",), f"{label}: target {target!r} is already the target of module "
                                      f"{course.targets[target]!r}; each module needs its own target")
        else:
            course.targets[target] = name if isinstance(name, str) else f"#{i + 1}"
    return target


def _module_depends(ck: _Checker, course: _Course, entry: dict[str, Any], here: Where, label: str, i: int) -> Deps:
    deps_raw = entry.get("depends", [])
    deps: Deps = []
    if deps_raw == "all":
        if i == 0:
            ck.at(here + ("depends",), f"{label}: 'depends: all' on the first module means no module; "
                                       "write 'depends: []'")
        return [(m.name, here + ("depends",)) for m in course.modules]
    if isinstance(deps_raw, list):
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
    return deps


def _module_tests(ck: _Checker, entry: dict[str, Any], here: Where, name: str | None, label: str) -> list[str]:
    declared = "tests" in entry
    tests_raw = entry.get("tests", [f"tests/unit/test_{name}.py"] if isinstance(name, str) else [])
    if isinstance(tests_raw, str):
        tests_raw = [tests_raw]
    if not isinstance(tests_raw, list):
        ck.at(here + ("tests",), f"{label}: 'tests' must be a path or a list of paths, got {_type_name(tests_raw)}")
        tests_raw = []
    tests: list[str] = []
    for j, test in enumerate(tests_raw):
        where = here + ("tests", j) if declared and isinstance(entry["tests"], list) else here + ("tests",)
        if not declared:
            where = here + ("name",)
        checked = _check_path(ck, test, where, f"{label}: test file")
        if checked is None:
            continue
        if not _is_file(ck.root / checked):
            fix = "create it or fix the path" if declared else \
                "create it, or declare 'tests:' (a list of files, or [] for none)"
            ck.at(where, f"{label}: test file {checked!r} does not exist; {fix}")
        tests.append(checked)
    return tests


def _settings(ck: _Checker, course: _Course, entry: dict[str, Any], here: Where) -> dict[str, float | None]:
    """The module's numbers (timeout, coverage, ...): its own, else the defaults', else the table's."""
    out: dict[str, float | None] = {}
    for spec in NUMBERS:
        value = _number(ck, entry.get(spec.key), here + (spec.key,), spec)
        if value is None:
            value = course.defaults.get(spec.key)
        out[spec.key] = spec.default if value is None else value
    return out


def _module(ck: _Checker, course: _Course, entry: Any, i: int) -> None:
    here = ("modules", i)
    if not isinstance(entry, dict):
        ck.at(here, f"module #{i + 1} must be a mapping with keys {', '.join(REQUIRED)}, got {_type_name(entry)}")
        return
    raw_name = entry.get("name")
    who = f"module {raw_name!r}" if isinstance(raw_name, str) else f"module #{i + 1}"
    ck.keys(entry, here, MODULE_KEYS, who)
    _missing(ck, course, entry, here, who)
    name, duplicate = _module_name(ck, course, entry, i)
    label = f"module {name!r}" if isinstance(name, str) else f"module #{i + 1}"
    source = _module_source(ck, entry, here, label)
    target = _module_target(ck, course, entry, here, name, label, i)
    deps = _module_depends(ck, course, entry, here, label, i)
    tests = _module_tests(ck, entry, here, name, label)
    settings = _settings(ck, course, entry, here)
    public = check_public(entry.get("public"), here + ("public",), label, ck.at)
    if name is None or duplicate:
        return  # a duplicate is reported above; its dependencies are checked under the first declaration only
    course.declared[name] = (i, deps)
    if source is not None and target is not None:
        limits = Limits(**{k: None if settings[k] is None else float(settings[k] or 0)  # type: ignore[arg-type]
                           for k in ("memory", "processes", "file_size", "cpu")})
        course.modules.append(Module(
            name=name, source=source, target=target, depends=tuple(d for d, _ in deps), tests=tuple(tests),
            timeout=float(settings["timeout"] or DEFAULT_TIMEOUT), coverage=settings["coverage"],
            line=ck.line(here), limits=limits, public=public,
            public_at=public_places(public, here + ("public",), ck.positions),
        ))


def _dependencies(ck: _Checker, declared: dict[str, tuple[int, Deps]]) -> None:
    """Across modules: unknown dependencies, self-dependency, cycles, course order."""
    names = list(declared)
    for name, (_, deps) in declared.items():
        for dep, where in deps:
            if dep == name:
                ck.at(where, f"module {name!r} depends on itself; remove {dep!r} from its 'depends'")
            elif dep not in declared:
                ck.at(where, f"module {name!r} depends on unknown module {dep!r}{_suggest(dep, names)}")
    graph = {name: [d for d, _ in deps if d != name and d in declared] for name, (_, deps) in declared.items()}
    cycle = find_cycle(graph)
    in_cycle = set(cycle or ())
    if cycle:
        start = declared[cycle[0]][0]
        ck.at(("modules", start, "depends"), f"dependency cycle: {' -> '.join(cycle)}; "
                                             "remove one of these dependencies")
    for name, (i, deps) in declared.items():
        for dep, where in deps:
            if dep in declared and dep != name and not (name in in_cycle and dep in in_cycle):
                j = declared[dep][0]
                if j > i:
                    ck.at(where, f"module {name!r} is listed before its dependency {dep!r} "
                                 f"(line {ck.line(('modules', j))}); "
                                 f"move {dep!r} above {name!r} so the course can be taught in order")


def parse_manifest(data: Any, positions: Mapping[Where, tuple[int, int]],
                   root: Path, path: str = MANIFEST) -> Manifest:
    """Validate manifest `data` (as loaded from YAML) and return it as records.

    Every problem is collected and reported at once, each as `path:line:col: message`.
    """
    ck = _Checker(path, positions, root)
    top = _top(ck, data)
    package, lib, package_ok = _package(ck, top)
    files = _files(ck, top, package)
    course = _Course(package, package_ok, _defaults(ck, top))
    raw = _module_list(ck, top)
    for i, entry in enumerate(raw):
        _module(ck, course, entry, i)
    _dependencies(ck, course.declared)
    index = {m["name"]: i for i, m in enumerate(raw) if isinstance(m, dict) and isinstance(m.get("name"), str)}
    check_collisions([(m.name, m.target, index[m.name]) for m in course.modules], files, package, positions, ck.at)
    grading = parse_grading(top.get("grading"), [m.name for m in course.modules], ck.at)
    if ck.problems:
        raise ck.fail()
    return Manifest(package=package, lib=lib, modules=tuple(course.modules), root=root, files=files, grading=grading)


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


def _bad_column(raw: bytes) -> int:
    """1-based column (in characters, as an editor counts) of the first byte that is not UTF-8."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        return len(raw[line_start:exc.start].decode("utf-8-sig")) + 1
    return 1


def read_manifest(root: Path, name: str = MANIFEST) -> Manifest:
    """Read and validate `root/name`."""
    path = root / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        msg = f"{name}: not found in {root.resolve()}; create it (see README, 'The manifest')"
        raise ManifestError(msg) from None
    except IsADirectoryError:
        msg = f"{name}:1:1: is a directory, not a file; the manifest is one YAML file (see README, 'The manifest')"
        raise ManifestError(msg) from None
    except OSError as exc:  # a symlink loop, no permission, ...
        msg = f"{name}:1:1: cannot be read ({exc.strerror or exc}); make it a readable YAML file"
        raise ManifestError(msg) from None
    try:
        text = utf8(raw)
    except BadEncoding as exc:
        msg = f"{name}:{exc.line}:{_bad_column(raw)}: not valid UTF-8 (byte {exc.byte:#04x}); save the file as UTF-8"
        raise ManifestError(msg) from None
    data, positions = _load_yaml(text, name, layout.at(root, layout.MANIFEST_CACHE))
    return parse_manifest(data, positions, root, name)
