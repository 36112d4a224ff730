"""The generated package's bytecode, compiled once per content and read by every sandboxed child.

A child never writes bytecode (no `__pycache__` in the course tree or in the package that
becomes the wheel), so without this each check and test child compiled every package module
it imports from source: about 0.1 s for the real course's package, in each of the ~30
children of an edit. The parent, which is trusted, compiles each file of the package into
build/state/pycache/ (laid out as `sys.pycache_prefix` would lay it out) whenever its content
changed, and the child's loader for the package reads them.

Only hash-checked pycs are written: the import system compares the source's hash with the
one in the pyc on every import, never its mtime, so an export that keeps a file's size within
the same second can never run stale code. Not for a build whose code under test is untrusted
(`doit grade`, UNTRUSTED_ENV): a child could plant a pyc for another module's source.

The child's side is `install()`: a path hook for the package's folders only, whose loader reads
those pycs (the interpreter's own `sys.pycache_prefix` would move every module's bytecode,
numpy's and the standard library's too, and compile them all from source).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from tasks.core import layout

# set by the grader for the build it runs in a submission's scratch tree: the code under test is not trusted
UNTRUSTED_ENV = "COURSE_UNTRUSTED"
FLAGS_CHECKED_HASH = 0b11  # the pyc header's flags: hash-based, and the source's hash is checked on import
_known: dict[Path, tuple[int, int, int]] = {}  # source -> (size, mtime_ns, inode) when its pyc was last current


def untrusted() -> bool:
    return bool(os.environ.get(UNTRUSTED_ENV))


def cached(prefix: Path, source: Path) -> Path:
    """Where the import system looks for `source`'s pyc under `sys.pycache_prefix = prefix` (source absolute)."""
    tag = sys.implementation.cache_tag
    opt = f".opt-{sys.flags.optimize}" if sys.flags.optimize else ""
    return prefix.joinpath(*source.parts[1:-1], f"{source.stem}.{tag}{opt}.pyc")


def _read(pyc: Path, size: int = -1) -> bytes:
    try:
        with open(pyc, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def _current(head: bytes, data: bytes) -> bool:
    """Whether a pyc starting with `head` is a hash-checked one of the source `data`, for this interpreter."""
    return (len(head) >= 16 and head[:4] == importlib.util.MAGIC_NUMBER
            and int.from_bytes(head[4:8], "little") == FLAGS_CHECKED_HASH
            and head[8:16] == importlib.util.source_hash(data))


def folder(root: Path) -> Path | None:
    """Where the children's pycs are, or None when there are none (untrusted code, or no cache tag)."""
    if untrusted() or sys.implementation.cache_tag is None:
        return None
    return layout.at(root, layout.PYCACHE).resolve()


def prepare(root: Path, lib: str) -> Path | None:
    """Compile what changed of the package under `lib` (relative to `root`); the prefix for the child, or None.

    None when this build's code is untrusted, or when there is no cache tag to name pycs by.
    A file that does not compile is left to the child, which reports it at its line.
    """
    prefix = folder(root)
    if prefix is None:
        return None
    import py_compile  # here, not at the top: the task list imports this module for `untrusted()`

    top = (Path(root) / lib).resolve()  # as the child puts it on sys.path (it resolves --lib)
    for source in sorted(top.rglob("*.py")):
        if "__pycache__" in source.parts:
            continue
        try:
            st = source.stat()
            stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
            if _known.get(source) == stamp:
                continue
            data = source.read_bytes()
        except OSError:
            continue
        pyc = cached(prefix, source)
        _known[source] = stamp  # the export replaces a file (a new inode): a changed one is always looked at
        if _current(_read(pyc, 16), data):
            continue
        try:  # py_compile writes atomically (a temporary file, then a rename)
            py_compile.compile(str(source), cfile=str(pyc), dfile=str(source), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
        except (py_compile.PyCompileError, OSError, ValueError):
            continue  # the child compiles it itself (and reports a syntax error), only slower
    return prefix


class _CachedLoader(importlib.machinery.SourceFileLoader):
    """A package module's loader that takes its code from the parent's pyc when the source's hash matches."""

    prefix: Path = Path("/")

    def get_code(self, fullname: str) -> Any:
        source = self.get_filename(fullname)
        data = self.get_data(source)
        pyc = _read(cached(self.prefix, Path(source)))
        if _current(pyc, data):
            try:
                return marshal.loads(pyc[16:])
            except (ValueError, EOFError, TypeError):
                pass
        return self.source_to_code(data, source)


def install(lib: Path, prefix: Path) -> None:
    """In the child, before the package is imported: its modules below `lib` load from the pycs under `prefix`."""
    _CachedLoader.prefix = prefix
    details: list[tuple[Any, list[str]]] = [
        (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
        (_CachedLoader, importlib.machinery.SOURCE_SUFFIXES),
        (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES)]
    finder = importlib.machinery.FileFinder.path_hook(*details)
    top = str(lib)

    def hook(path: str) -> Any:
        if path == top or path.startswith(top + os.sep):
            return finder(path)
        raise ImportError("not the generated package")

    sys.path_hooks.insert(0, hook)
    for path in [p for p in sys.path_importer_cache if p == top or p.startswith(top + os.sep)]:
        del sys.path_importer_cache[path]
