"""What the manifest may hold (one table of fields: key, type, default, example, range) and its records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tasks.core import layout

MANIFEST = "modules.yaml"
SOURCE_SUFFIXES = (".py", ".ipynb")
DEFAULT_TIMEOUT = 120.0

Section = Literal["top", "package", "defaults", "module"]
Kind = Literal["mapping", "list", "identifier", "path", "target", "depends", "tests", "number"]


@dataclass(frozen=True)
class Field:
    """One key the manifest may hold: where, its type, its default, what to write, its range."""

    key: str
    sections: tuple[Section, ...]
    kind: Kind
    default: Any = None
    example: str = ""
    low: float | None = None
    high: float | None = None
    required: bool = False


FIELDS: tuple[Field, ...] = (
    Field("package", ("top",), "mapping"),
    Field("defaults", ("top",), "mapping"),
    Field("modules", ("top",), "list"),
    Field("name", ("package",), "identifier", "tinytorch", "tinytorch"),
    Field("lib", ("package",), "path", layout.DEFAULT_LIB, layout.DEFAULT_LIB),
    Field("name", ("module",), "identifier", None, "<identifier>", required=True),
    Field("source", ("module",), "path", None, "modules/NN_<name>/<name>.py", required=True),
    Field("target", ("module",), "target", None, "<package>.core.<name>", required=True),
    Field("depends", ("module",), "depends", ()),
    Field("tests", ("module",), "tests", None),  # None: tests/unit/test_<name>.py
    Field("timeout", ("defaults", "module"), "number", DEFAULT_TIMEOUT, "60", low=1),
    Field("coverage", ("defaults", "module"), "number", None, "80", low=0, high=100),
)


def keys_of(section: Section) -> tuple[str, ...]:
    """The keys a section allows, in table order."""
    return tuple(f.key for f in FIELDS if section in f.sections)


def field_of(section: Section, key: str) -> Field:
    return next(f for f in FIELDS if section in f.sections and f.key == key)


TOP_KEYS = keys_of("top")
PACKAGE_KEYS = keys_of("package")
DEFAULT_KEYS = keys_of("defaults")
MODULE_KEYS = keys_of("module")
REQUIRED = tuple(f.key for f in FIELDS if "module" in f.sections and f.required)
NUMBERS = tuple(f for f in FIELDS if "module" in f.sections and f.kind == "number")


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
