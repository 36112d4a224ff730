"""Integration and system test files, and the modules each one reaches through its imports."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

SuiteKind = Literal["integration", "system"]


@dataclass(frozen=True)
class Suite:
    """One test file and the modules it imports directly (`whole`: it imports the package itself)."""

    kind: SuiteKind
    path: str
    modules: tuple[str, ...]
    whole: bool
    unknown: tuple[tuple[int, str], ...]  # (line, module) imports of package modules nobody produces
    helpers: tuple[str, ...] = ()  # helper files beside it (no tests of their own) that decide its result

    @property
    def name(self) -> str:
        return Path(self.path).stem


def imported_modules(text: str, package: str) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, dotted module, names) of every import of `package` in Python `text` (names: `from` imports)."""
    found: list[tuple[int, str, tuple[str, ...]]] = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == package or node.module.startswith(package + "."):
                found.append((node.lineno, node.module, tuple(a.name for a in node.names)))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, ()) for a in node.names
                         if a.name == package or a.name.startswith(package + "."))
    return found


def resolve(found: list[tuple[int, str, tuple[str, ...]]], package: str,
            targets: dict[str, str], extras: frozenset[str] = frozenset()) -> tuple[list[str], bool, list[tuple[int, str]]]:
    """Map imports to module names; `whole` when the package's own namespace (or an extra package file) is used."""
    parents: set[str] | None = None  # built on first need: O(modules), and most imports name a target
    modules: list[str] = []
    whole = False
    unknown: list[tuple[int, str]] = []

    def add(name: str) -> None:
        if name not in modules:
            modules.append(name)

    for line, mod, names in found:
        if mod in targets:
            add(targets[mod])
            continue
        if mod == package or mod in extras:
            whole = True
            continue
        if parents is None:
            parents = {".".join(t.split(".")[:i]) for t in targets for i in range(1, t.count(".") + 1)}
        if mod in parents and names:
            for child in names:
                if f"{mod}.{child}" in targets:
                    add(targets[f"{mod}.{child}"])
                elif mod == package:
                    whole = True
                else:  # a name a sub-package re-exports: it needs every module under it
                    for t in sorted(t for t in targets if t.startswith(mod + ".")):
                        add(targets[t])
        elif mod in parents:
            whole = True
        else:
            unknown.append((line, mod))
    return modules, whole, unknown


def _entry_ok(entry: Any) -> bool:
    """[stamp of 3 ints, [[line, module, [names]], ...]]: what `ImportScan.found` stores."""
    try:
        stamp, found = entry
        return isinstance(stamp, list) and len(stamp) == 3 and all(type(x) is int for x in stamp) and \
            isinstance(found, list) and all(type(line) is int and isinstance(mod, str) and isinstance(names, list)
                                            and all(isinstance(n, str) for n in names) for line, mod, names in found)
    except (TypeError, ValueError):
        return False


class ImportScan:
    """`imported_modules` of files, remembered between doit runs by each file's size, mtime and inode.

    Every doit start (even `doit list`) builds the task list, and parsing each test file
    with `ast` was most of that time (SPEC 9: a no-op run stays near interpreter start-up).
    A file whose stat is unchanged is not read again: the trust doit's own file_dep
    check places in mtimes. The store is keyed by this module's code, so a change to
    the scanner invalidates it.
    """

    def __init__(self, package: str, store: Path | None = None) -> None:
        self.package = package
        self.store = store
        self.code = hashlib.md5(Path(__file__).read_bytes()).hexdigest()
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        if store is not None:
            try:
                data = json.loads(store.read_text(encoding="utf-8"))
                if data.get("code") == self.code and data.get("package") == package:
                    self.entries = {k: v for k, v in data["files"].items() if _entry_ok(v)}
            except (OSError, ValueError, KeyError, AttributeError, TypeError):
                self.entries = {}  # a store of the wrong shape counts as absent: the files are parsed again

    def found(self, path: Path) -> list[tuple[int, str, tuple[str, ...]]]:
        """`imported_modules` of the file at `path`; raises what reading or parsing it raises."""
        st = path.stat()  # before reading: a write in between only makes the next run parse again
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        key = str(path)
        hit = self.entries.get(key)
        if hit is not None and hit[0] == stamp:
            return [(line, mod, tuple(names)) for line, mod, names in hit[1]]
        found = imported_modules(path.read_text(encoding="utf-8"), self.package)
        self.entries[key] = [stamp, [[line, mod, list(names)] for line, mod, names in found]]
        self.dirty = True
        return found

    def save(self) -> None:
        """Write the store if anything was parsed (atomically; a read-only tree just skips it)."""
        if self.store is None or not self.dirty:
            return
        from tasks.core import atomic

        data = {"code": self.code, "package": self.package, "files": self.entries}
        try:
            atomic.write_text(self.store, json.dumps(data, separators=(",", ":")))
            self.dirty = False
        except OSError:
            pass


_HAS_TESTS = re.compile(r"^\s*(?:async\s+)?def\s+test|^\s*class\s+Test", re.MULTILINE)


def has_tests(path: Path) -> bool:
    """Does a test_*.py file define tests? One that does not is a helper the others import, not a task."""
    try:
        return bool(_HAS_TESTS.search(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return True


def discover(root: Path, package: str, targets: dict[str, str], scan: ImportScan | None = None,
             extras: frozenset[str] = frozenset()) -> list[Suite]:
    """The integration and system test files under tests/, sorted, with their imports resolved.

    Helper files (no tests) are not suites: every suite of their folder depends on them and
    on the modules they import.
    """
    suites: list[Suite] = []
    for kind in ("integration", "system"):
        files = sorted((root / "tests" / kind).glob("test_*.py"))
        helpers = [p for p in files if not has_tests(p)]
        helper_rel = tuple(p.relative_to(root).as_posix() for p in helpers)
        for path in [p for p in files if p not in helpers] + helpers:
            try:
                found = scan.found(path) if scan is not None else \
                    imported_modules(path.read_text(encoding="utf-8"), package)
            except (SyntaxError, UnicodeDecodeError) as exc:
                if path in helpers:
                    continue  # reported by the suites that import it
                line = getattr(exc, "lineno", 1) or 1
                found, unknown = [], [(line, f"<unparsable: {exc}>")]
                suites.append(Suite(kind, path.relative_to(root).as_posix(), (), True, tuple(unknown), helper_rel))
                continue
            modules, whole, unknown_ = resolve(found, package, targets, extras)
            if path in helpers:  # its imports count for every suite of the folder
                for i, s in enumerate(suites):
                    if s.kind == kind:
                        suites[i] = Suite(kind, s.path, tuple(dict.fromkeys([*s.modules, *modules])), s.whole or whole,
                                          s.unknown + tuple(unknown_), s.helpers)
                continue
            suites.append(Suite(kind, path.relative_to(root).as_posix(), tuple(modules), whole,
                                tuple(unknown_), helper_rel))
    return suites
