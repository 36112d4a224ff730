"""Integration and system test files, and the modules each one reaches through its imports."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SuiteKind = Literal["integration", "system"]


@dataclass(frozen=True)
class Suite:
    """One test file and the modules it imports directly (`whole`: it imports the package itself)."""

    kind: SuiteKind
    path: str
    modules: tuple[str, ...]
    whole: bool
    unknown: tuple[tuple[int, str], ...]  # (line, module) imports of package modules nobody produces

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
            targets: dict[str, str]) -> tuple[list[str], bool, list[tuple[int, str]]]:
    """Map imports to module names; `whole` when the package's own namespace is used."""
    parents = {".".join(t.split(".")[:i]) for t in targets for i in range(1, t.count(".") + 1)}
    modules: list[str] = []
    whole = False
    unknown: list[tuple[int, str]] = []

    def add(name: str) -> None:
        if name not in modules:
            modules.append(name)

    for line, mod, names in found:
        if mod in targets:
            add(targets[mod])
        elif mod == package:
            whole = True
        elif mod in parents and names:
            for child in names:
                if f"{mod}.{child}" in targets:
                    add(targets[f"{mod}.{child}"])
                else:
                    unknown.append((line, f"{mod}.{child}"))
        elif mod in parents:
            whole = True
        else:
            unknown.append((line, mod))
    return modules, whole, unknown


def discover(root: Path, package: str, targets: dict[str, str]) -> list[Suite]:
    """The integration and system test files under tests/, sorted, with their imports resolved."""
    suites: list[Suite] = []
    for kind in ("integration", "system"):
        for path in sorted((root / "tests" / kind).glob("test_*.py")):
            try:
                found = imported_modules(path.read_text(encoding="utf-8"), package)
            except (SyntaxError, UnicodeDecodeError) as exc:
                line = getattr(exc, "lineno", 1) or 1
                found, unknown = [], [(line, f"<unparsable: {exc}>")]
                suites.append(Suite(kind, path.relative_to(root).as_posix(), (), True, tuple(unknown)))  # type: ignore[arg-type]
                continue
            modules, whole, unknown_ = resolve(found, package, targets)
            suites.append(Suite(kind, path.relative_to(root).as_posix(), tuple(modules), whole,  # type: ignore[arg-type]
                                tuple(unknown_)))
    return suites
