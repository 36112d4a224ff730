"""Manifest keys for courses of any shape (issue 14): public API policy, extra package files, collisions.

Kept beside `manifest` so that its validator calls one function per key; each takes
`at(where, message)` to report a problem at its YAML position.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from tasks.core.text import parents

At = Callable[[tuple[Any, ...], str], None]
PUBLIC_WORDS = ("all", "none", "__all__")
Public = str | tuple[str, ...]


def check_public(value: Any, where: tuple[Any, ...], label: str, at: At) -> Public:
    """`public:` of a module: 'all' (nbdev's `__all__`), 'none', '__all__' (the module's own), or a list of names."""
    if value is None:
        return "all"
    if isinstance(value, str) and value in PUBLIC_WORDS:
        return value
    if isinstance(value, list) and all(isinstance(v, str) and v.isidentifier() for v in value):
        return tuple(value)
    at(where, f"{label}: 'public' must be one of {', '.join(map(repr, PUBLIC_WORDS))} or a list of names, "
              f"got {value!r}; e.g. 'public: [Tensor, zeros]'")
    return "all"


def public_places(value: Public, where: tuple[Any, ...],
                  positions: Mapping[tuple[Any, ...], tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """(line, col) in the manifest of each name of a `public:` list, so a problem with a name points at it."""
    if isinstance(value, str):
        return ()
    entry = positions.get(where, (1, 1))
    return tuple(positions.get((*where, i), entry) for i in range(len(value)))


def check_files(value: Any, where: tuple[Any, ...], package: str, at: At,
                check_source: Callable[[Any, tuple[Any, ...], str], str | None]) -> tuple[tuple[str, str], ...]:
    """`package: files:` maps a path inside the package to the repository file copied there as is."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        at(where, "'files' must be a mapping of a path inside the package to a file of the repository, "
                  "e.g. 'files: {py.typed: src/py.typed, data/words.txt: data/words.txt}'")
        return ()
    out: list[tuple[str, str]] = []
    for dest, source in value.items():
        here = (*where, dest)
        d = str(dest)
        parts = PurePosixPath(d).parts
        if not d or os.path.isabs(d) or ".." in parts or "\\" in d:
            at(here, f"'files': {d!r} must be a relative path inside the package {package}/ (no '..')")
            continue
        if parts[-1] == "__init__.py":
            at(here, f"'files': {d!r} would replace an __init__.py the build assembles; give the file another name")
            continue
        checked = check_source(source, here, f"'files' entry {d!r}")
        if checked is not None:
            out.append((PurePosixPath(d).as_posix(), checked))
    return tuple(out)


def check_collisions(modules: Sequence[tuple[str, str, int]], files: Sequence[tuple[str, str]], package: str,
                     positions: Mapping[tuple[Any, ...], tuple[int, int]], at: At) -> None:
    """No module is also a package of another module's target, and no extra file lands on a generated one.

    `modules`: (name, target, index in the list).
    """
    by_target = {t: (n, i) for n, t, i in modules}
    for name, target, i in modules:
        for parent in parents(target):
            if parent in by_target:
                other, j = by_target[parent]
                line = positions.get(("modules", j, "target"), (0, 0))[0]
                at(("modules", i, "target"), (
                    f"module {name!r}: target {target!r} needs {parent!r} to be a package, but {parent!r} is the "
                    f"target of module {other!r} (line {line}), a file; a module and a package cannot share a name: "
                    f"rename one target (e.g. '{parent}.{other}')"))
    generated = {f"{'/'.join(t.split('.')[1:])}.py": (n, i) for n, t, i in modules}
    for dest, _ in files:
        if dest in generated:
            name, i = generated[dest]
            line = positions.get(("modules", i, "target"), (0, 0))[0]
            at(("package", "files", dest), (
                f"'files': {dest!r} is also where module {name!r} is exported (line {line}); "
                "rename the file or the module's target"))
