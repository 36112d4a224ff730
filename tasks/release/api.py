"""The public API: snapshot it with griffe, and refuse a release that breaks it without a version bump.

`doit api` writes build/api/api.json (griffe's model of the package, docstrings
and absolute paths removed so it is stable) and build/api/api.txt (one line per
public object: module, name, kind, signature). The snapshot of the last release
is committed as `api/release.json` (with `api/release.txt` for reading); `doit wheel` compares against it with
griffe's `find_breaking_changes`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout
from tasks.core.errors import ReleaseError
from tasks.tools import griffe

SCHEMA = 1
RELEASED = "api/release.json"


@dataclass(frozen=True)
class ApiJob:
    root: str
    lib: str
    package: str

    @property
    def out_dir(self) -> Path:
        return layout.at(self.root, layout.API)


def _clean(node: Any, lib: str) -> Any:
    """Drop docstrings (not API) and make file paths relative to the library dir."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "docstring":
                continue
            if key == "filepath" and isinstance(value, str):
                value = Path(value).as_posix().split(f"/{lib}/", 1)[-1]
            out[key] = _clean(value, lib)
        return out
    if isinstance(node, list):
        return [_clean(v, lib) for v in node]
    return node


def load_package(root: Path, lib: str, package: str) -> Any:
    return griffe.load(package, root / lib)


def snapshot_data(root: Path, lib: str, package: str, version: str) -> dict[str, Any]:
    """The API snapshot as JSON-ready data."""
    pkg = load_package(root, lib, package)
    return {"schema_version": SCHEMA, "package": package, "version": version,
            "api": _clean(json.loads(pkg.as_json(full=False)), lib)}


def api_lines(pkg: Any) -> list[str]:
    """'module  name  kind  signature' for every public object, sorted."""
    lines: list[str] = []

    def sig(obj: Any) -> str:
        if obj.kind.value != "function":
            return ""
        params = ", ".join(str(p.name if p.default is None else f"{p.name}={p.default}") for p in obj.parameters)
        return f"({params})"

    for mod in pkg.modules.values():
        for sub in [mod, *mod.modules.values()]:
            for name, member in sorted(sub.members.items()):
                if member.is_alias or not member.is_public:
                    continue
                lines.append(f"{sub.path}\t{name}\t{member.kind.value}\t{sig(member)}")
                if member.kind.value == "class":
                    for mname, meth in sorted(member.members.items()):
                        if not meth.is_alias and meth.is_public and meth.kind.value == "function":
                            lines.append(f"{sub.path}\t{name}.{mname}\tmethod\t{sig(meth)}")
    return sorted(set(lines))


def write_snapshot(job: ApiJob) -> dict[str, Any]:
    """`doit api`: write build/api/api.json and api.txt."""
    from tasks.steps.assemble import read_version

    root = Path(job.root)
    version = read_version(root / "pyproject.toml")
    data = snapshot_data(root, job.lib, job.package, version)
    text = json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"
    atomic.write_if_changed(job.out_dir / "api.json", text.encode())
    lines = api_lines(load_package(root, job.lib, job.package))
    atomic.write_if_changed(job.out_dir / "api.txt", ("\n".join(lines) + "\n").encode())
    return {"objects": len(lines)}


def _version_tuple(version: str) -> tuple[int, ...]:
    from packaging.version import Version

    return Version(version).release


def breaking_changes(released: dict[str, Any], root: Path, lib: str, package: str) -> list[str]:
    """Breaking changes from the released snapshot to the package under `lib`, one line each."""
    old = griffe.decode(package, released["api"])
    new = load_package(root, lib, package)
    found = []
    for b in griffe.breaking(old, new):
        old_v, new_v = b.old_value, b.new_value
        if old_v is not None and new_v is not None:
            detail = f" ({_short(old_v)} -> {_short(new_v)})"
        elif old_v is not None or new_v is not None:
            detail = f": {_short(old_v if old_v is not None else new_v)}"
        else:
            detail = ""
        found.append(f"{b.obj.path}: {b.kind.value.lower()}{detail}")
    return sorted(set(found))


def _short(value: Any) -> str:
    name = getattr(value, "name", None)
    return repr(str(name if name is not None and not isinstance(value, str) else value))


def check_compatible(root: Path, lib: str, package: str, version: str) -> list[str]:
    """Raise ReleaseError when the API breaks without a version bump; return the changes otherwise."""
    path = root / RELEASED
    if not path.exists():
        return []
    try:
        released = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReleaseError(f"{RELEASED}:1: not valid JSON ({exc}); restore it from git") from None
    changes = breaking_changes(released, root, lib, package)
    if changes and _version_tuple(version) <= _version_tuple(released["version"]):
        listed = "\n".join(f"  - {c}" for c in changes)
        text = (root / "pyproject.toml").read_text(encoding="utf-8").splitlines()
        line = next((i for i, t in enumerate(text, 1) if t.replace(" ", "").startswith("version=")), 1)
        msg = (f"pyproject.toml:{line}: the public API breaks {len(changes)} promise(s) of release {released['version']} "
               f"without a version bump (version is still {version}):\n{listed}\n"
               "Restore these names and signatures, or bump [project] version in pyproject.toml "
               f"(then `doit api` and copy {layout.api_file('api.json')} to api/release.json when you release).")
        raise ReleaseError(msg)
    return changes
