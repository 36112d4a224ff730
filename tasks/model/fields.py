"""What the manifest may hold (one table of fields: key, type, default, example, range) and its records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tasks.core import layout
from tasks.model.extras import Public
from tasks.model.grading import Grading

MANIFEST = "modules.yaml"
SOURCE_SUFFIXES = (".py", ".ipynb")
DEFAULT_TIMEOUT = 120.0
MAX_SECONDS = 86400.0  # a day: a timeout above it is a typo (and `100000000` overflowed the waits)
MAX_NAME = 100  # characters of a module name: it becomes file names under build/
MAX_COMPONENT = 255  # bytes of one path component (NAME_MAX on Linux and macOS)

Section = Literal["top", "package", "defaults", "module"]
Kind = Literal["mapping", "list", "identifier", "path", "target", "depends", "tests", "number", "files", "public"]


@dataclass(frozen=True)
class Field:
    """One key the manifest may hold: where, its type, its default, what to write, its range."""

    key: str
    sections: tuple[Section, ...]
    kind: Kind
    default: Any = None
    example: str = ""
    low: float | None = None
    high: float | None = None  # part of the range: "between low and high"
    most: float | None = None  # a sanity bound only: "at most"
    required: bool = False
    unit: str = ""


FIELDS: tuple[Field, ...] = (
    Field("package", ("top",), "mapping"),
    Field("defaults", ("top",), "mapping"),
    Field("modules", ("top",), "list"),
    Field("grading", ("top",), "mapping"),  # read by `doit grade` only (tasks.model.grading)
    Field("name", ("package",), "identifier", "", "<import name>", required=True),  # the one place it is named
    Field("lib", ("package",), "path", layout.DEFAULT_LIB, layout.DEFAULT_LIB),
    Field("files", ("package",), "files", ()),  # extra package files (tasks.model.extras)
    Field("name", ("module",), "identifier", None, "<identifier>", required=True),
    Field("source", ("module",), "path", None, "modules/NN_<name>/<name>.py", required=True),
    Field("target", ("module",), "target", None, "<package>.core.<name>", required=True),
    Field("depends", ("module",), "depends", ()),
    Field("tests", ("module",), "tests", None),  # None: tests/unit/test_<name>.py
    Field("timeout", ("defaults", "module"), "number", DEFAULT_TIMEOUT, "60", low=1, most=MAX_SECONDS, unit="s"),
    Field("coverage", ("defaults", "module"), "number", None, "80", low=0, high=100),
    Field("public", ("module",), "public", "all"),  # what `from <package> import *` re-exports
    # limits of student code (tasks.sandbox.spawn): address space, processes (per user, as Linux counts
    # them), size of a file it writes, CPU seconds (None: twice the timeout)
    Field("memory", ("defaults", "module"), "number", 8192, "4096", low=64, most=1 << 20, unit="MB"),
    Field("processes", ("defaults", "module"), "number", 4096, "256", low=16, most=1 << 20),
    Field("file_size", ("defaults", "module"), "number", 1024, "256", low=1, most=1 << 20, unit="MB"),
    Field("cpu", ("defaults", "module"), "number", None, "120", low=1, most=MAX_SECONDS, unit="s"),
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
class Limits:
    """Resource limits of a module's student code (see FIELDS)."""

    memory: float = 8192  # MB of address space
    processes: float = 4096
    file_size: float = 1024  # MB
    cpu: float | None = None  # s; None: twice the timeout

    def entry(self) -> dict[str, float | None]:
        return {"memory": self.memory, "processes": self.processes, "file_size": self.file_size, "cpu": self.cpu}


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
    limits: Limits = field(default_factory=lambda: Limits())
    public: Public = "all"  # what `from <package> import *` re-exports (tasks.model.extras)
    public_at: tuple[tuple[int, int], ...] = ()  # (line, col) in the manifest of each name of a `public:` list

    def entry(self) -> dict[str, Any]:
        """The declared values, for up-to-date checks."""
        extra = {} if self.public == "all" else {"public": self.public if isinstance(self.public, str) else list(self.public)}
        return {
            **extra,
            "name": self.name,
            "source": self.source,
            "target": self.target,
            "depends": list(self.depends),
            "tests": list(self.tests),
            "timeout": self.timeout,
            "coverage": self.coverage,
            **self.limits.entry(),
        }


@dataclass(frozen=True)
class Manifest:
    """The whole course: package settings and modules in course order."""

    package: str
    lib: str
    modules: tuple[Module, ...]
    root: Path = field(default=Path("."), compare=False)
    files: tuple[tuple[str, str], ...] = ()  # (path inside the package, repository file) copied as is
    grading: Grading = field(default_factory=Grading)  # read by `doit grade` only

    @property
    def by_name(self) -> dict[str, Module]:
        return {m.name: m for m in self.modules}

    @property
    def graph(self) -> dict[str, tuple[str, ...]]:
        """Module name -> direct dependencies, in course order."""
        return {m.name: m.depends for m in self.modules}
