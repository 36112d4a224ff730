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


def _walk(mod: Any) -> list[Any]:
    """A griffe module and every module under it, at any depth."""
    out = [mod]
    for sub in mod.modules.values():
        out += _walk(sub)
    return out


def api_entries(pkg: Any) -> dict[tuple[str, str], tuple[str, str]]:
    """(module, name) -> (kind, signature) for every public object a module defines (classes: their methods too)."""
    found: dict[tuple[str, str], tuple[str, str]] = {}

    def sig(obj: Any) -> str:
        if obj.kind.value != "function":
            return ""
        params = ", ".join(str(p.name if p.default is None else f"{p.name}={p.default}") for p in obj.parameters)
        return f"({params})"

    for sub in _walk(pkg):
        for name, member in sorted(sub.members.items()):
            if member.is_alias or not member.is_public or member.kind.value == "module":
                continue
            found[(sub.path, name)] = (member.kind.value, sig(member))
            if member.kind.value == "class":
                for mname, meth in sorted(member.members.items()):
                    if not meth.is_alias and meth.is_public and meth.kind.value == "function":
                        found[(sub.path, f"{name}.{mname}")] = ("method", sig(meth))
    return found


def api_lines(pkg: Any) -> list[str]:
    """'module  name  kind  signature' for every public object, sorted."""
    return sorted(f"{m}\t{n}\t{k}\t{s}" for (m, n), (k, s) in api_entries(pkg).items())


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


def _decode(released: dict[str, Any], package: str) -> Any:
    return griffe.decode(package, released["api"])


def _records(root: Path) -> dict[str, dict[str, Any]]:
    """Export records by the generated file they describe (relative to root)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(layout.at(root, layout.EXPORT_RECORDS).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record.get("output"), str):
            out[record["output"]] = record
    return out


def _source_of(obj: Any, root: Path, lib: str, records: dict[str, dict[str, Any]]) -> str:
    """Where `obj` (a griffe object of the new package) is written in the course's sources."""
    from tasks.steps.export import source_at

    try:
        rel = Path(obj.filepath).resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, AttributeError, TypeError):
        return ""
    record = records.get(rel)
    place = source_at(record, obj.lineno) if record and obj.lineno else None  # in a list: the plain place
    return str(place) if place else f"{rel}:{obj.lineno or 1}"


def _value(value: Any, kind: str) -> str:
    """A breakage's old or new value as the user wrote it (a parameter's default, kind or annotation)."""
    if hasattr(value, "default") and hasattr(value, "name"):  # a parameter
        if "default" in kind:
            return f"{value.name}={value.default}"
        if "kind" in kind:
            return f"{value.name} ({value.kind.value})"
        return repr(str(value.name))
    name = getattr(value, "name", None)
    return repr(str(name if name is not None and not isinstance(value, str) else value))


def breaking_changes(released: dict[str, Any], root: Path, lib: str, package: str) -> list[str]:
    """Breaking changes from the released snapshot to the package under `lib`, one line each, with the source line."""
    old = _decode(released, package)
    new = load_package(root, lib, package)
    records = _records(root)
    found = []
    for b in griffe.breaking(old, new):
        kind = b.kind.value.lower()
        old_v, new_v = b.old_value, b.new_value
        if old_v is not None and new_v is not None:
            detail = f" ({_value(old_v, kind)} -> {_value(new_v, kind)})"
        elif old_v is not None or new_v is not None:
            detail = f": {_value(old_v if old_v is not None else new_v, kind)}"
        else:
            detail = ""
        try:
            where = _source_of(new[b.obj.path.split(".", 1)[1]], root, lib, records) if "." in b.obj.path else ""
        except (KeyError, ValueError, AttributeError):
            where = ""
        found.append(f"{b.obj.path}: {kind}{detail}" + (f" ({where})" if where else ""))
    return sorted(set(found))


def _released(root: Path, package: str) -> dict[str, Any] | None:
    """The last release's snapshot, or None for a first release (none, or one of another package)."""
    path = root / RELEASED
    if not path.exists():
        return None
    try:
        released: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReleaseError(f"{RELEASED}:1: not valid JSON ({exc}); restore it from git") from None
    if released.get("package") != package:
        from tasks.core import output

        output.warn(f"{RELEASED} is the API of package {released.get('package')!r}, not {package!r}: this is a first "
                    f"release of {package}; delete {RELEASED} (`doit api` writes the new one to {layout.API}/)")
        return None
    return released


def check_compatible(root: Path, lib: str, package: str, version: str) -> list[str]:
    """Raise ReleaseError when the API breaks without a version bump; return the changes otherwise."""
    released = _released(root, package)
    if released is None:
        return []
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


def release_notes(root: Path, lib: str, package: str, version: str, distribution: str) -> str:
    """RELEASE_NOTES.md: API additions, changes and removals since the last release, and modules added/removed/changed."""
    released = _released(root, package)
    new = load_package(root, lib, package)
    now = api_entries(new)
    new_mods = {m.path for m in _walk(new)}
    if released is None:
        before: dict[tuple[str, str], tuple[str, str]] = {}
        old_mods: set[str] = set()
        head = "First release."
    else:
        old = _decode(released, package)
        before, old_mods = api_entries(old), {m.path for m in _walk(old)}
        head = f"Changes since {released['version']}."
    added = sorted(k for k in now if k not in before)
    removed = sorted(k for k in before if k not in now)
    changed = sorted(k for k in now if k in before and now[k] != before[k])
    touched = {m for m, _ in added + removed + changed}

    def obj(key: tuple[str, str], entry: tuple[str, str]) -> str:
        return f"`{key[0]}.{key[1]}{entry[1]}` ({entry[0]})"

    lines = [f"# {distribution} {version}", "", head, "", "## Modules", ""]
    lines += [f"- added: `{m}`" for m in sorted(new_mods - old_mods)]
    lines += [f"- removed: `{m}`" for m in sorted(old_mods - new_mods)]
    lines += [f"- changed: `{m}`" for m in sorted(touched & new_mods & old_mods)]
    if lines[-1] == "":
        lines.append("- none")
    lines += ["", "## API", "", "### Added", ""]
    lines += [f"- {obj(k, now[k])}" for k in added] or ["- none"]
    lines += ["", "### Changed", ""]
    lines += [f"- `{k[0]}.{k[1]}`: {before[k][0]}{before[k][1]} -> {now[k][0]}{now[k][1]}" for k in changed] or ["- none"]
    lines += ["", "### Removed", ""]
    lines += [f"- {obj(k, before[k])}" for k in removed] or ["- none"]
    return "\n".join(lines) + "\n"
