"""`doit wheel`: a reproducible PEP 517 wheel of the generated package, checked before it is kept.

The package is named once, in the manifest: the wheel is built from a staged copy of
the generated package with a generated pyproject.toml (the course's [build-system]
and [project] tables, and a hatch config naming the package), so nothing under
[tool.hatch] in the course's pyproject.toml names it, and the distribution name
([project] name) may differ from the import package. hatchling runs through the
`build` frontend without isolation, so no network is needed once the [dev] extra is
installed. Timestamps come from a fixed SOURCE_DATE_EPOCH and hatchling sorts the
archive, so the same sources give the same sha256. The wheel is written beside
its final place and renamed only after its contents and metadata are checked.
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout
from tasks.core.errors import ReleaseError

# 1980-01-01, the earliest time a zip archive can hold: fixed, so builds are byte-identical
SOURCE_DATE_EPOCH = "315532800"


@dataclass(frozen=True)
class WheelJob:
    root: str
    lib: str
    package: str
    files: tuple[str, ...]  # the package files the wheel must hold, relative to lib (posix)
    runtime: tuple[str, ...]  # the runtime requirements pyproject.toml declares
    distribution: str = ""  # [project] name; empty: the package name
    exports: tuple[tuple[str, str], ...] = ()  # (module file relative to lib, its export record): what was validated

    @property
    def dist(self) -> Path:
        return layout.at(self.root, layout.DIST)


def dist_file_name(distribution: str) -> str:
    """A distribution name as wheel file names spell it (PEP 427 / binary distribution format)."""
    return re.sub(r"[-_.]+", "_", distribution).lower()


def wheel_name(distribution: str, version: str) -> str:
    return f"{dist_file_name(distribution)}-{version}-py3-none-any.whl"


def stash_previous(root: str) -> dict[str, list[str]]:
    """Move earlier wheels out of build/dist, so a failed release leaves no wheel that looks fresh."""
    dist = layout.at(root, layout.DIST)
    moved = []
    for whl in sorted(dist.glob("*.whl")):
        dest = layout.at(root, layout.PREVIOUS_WHEELS) / whl.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(whl, dest)
        moved.append(dest.relative_to(root).as_posix())
    return {"moved": moved}


def contents_problems(archive: Path, job: WheelJob, version: str) -> list[str]:
    """What is wrong with the wheel's file list and metadata (empty when it is right)."""
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        info = f"{dist_file_name(job.distribution or job.package)}-{version}.dist-info"
        if f"{info}/METADATA" not in names:
            return [f"no {info}/METADATA in the wheel (found {sorted(n for n in names if n.endswith('METADATA'))})"]
        meta = email.parser.Parser().parsestr(zf.read(f"{info}/METADATA").decode("utf-8"))
    expected = set(job.files) | {f"{info}/{n}" for n in ("METADATA", "WHEEL", "RECORD")}
    problems = [f"unexpected file in the wheel: {n}" for n in sorted(names - expected)
                if not n.startswith(f"{info}/licenses/")]
    problems += [f"missing from the wheel: {n}" for n in sorted(expected - names)]
    runtime = sorted(r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r)
    if runtime != sorted(job.runtime):
        problems.append(f"runtime requirements are {runtime}, expected {sorted(job.runtime)} from pyproject.toml")
    if meta["Version"] != version:
        problems.append(f"metadata version {meta['Version']} differs from pyproject.toml's {version}")
    return problems


def export_problems(archive: Path, job: WheelJob) -> list[str]:
    """Modules in the wheel whose bytes differ from what their export wrote (and the checks validated)."""
    problems: list[str] = []
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        for rel, record_path in job.exports:
            try:
                record = json.loads(layout.at(job.root, record_path).read_text(encoding="utf-8"))
                expected = record["sha256"]
            except (OSError, ValueError, KeyError, TypeError):
                problems.append(f"no export record for {rel} ({record_path}); run doit")
                continue
            if rel in names and hashlib.sha256(zf.read(rel)).hexdigest() != expected:
                problems.append(f"{rel} differs from what was exported and validated (changed after its export: "
                                f"run doit, then doit wheel)")
    return problems


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    msg = f"cannot write {value!r} to TOML"
    raise TypeError(msg)


def staged_pyproject(data: dict[str, Any], package: str) -> str:
    """The pyproject.toml of the staging directory: the course's [build-system] and [project], hatch told the package."""
    lines: list[str] = []
    for table in ("build-system", "project"):
        lines.append(f"[{table}]")
        lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in data.get(table, {}).items()]
        lines.append("")
    lines += ["[tool.hatch.build]", 'exclude = ["__pycache__", "*.pyc"]', "",
              "[tool.hatch.build.targets.wheel]", f"packages = [{json.dumps(package)}]", ""]
    return "\n".join(lines)


def _project_files(project: dict[str, Any]) -> list[str]:
    """Files [project] refers to (readme, license), which must sit beside the staged pyproject.toml."""
    found: list[str] = []
    for key in ("readme", "license"):
        value = project.get(key)
        if isinstance(value, str) and key == "readme":
            found.append(value)
        elif isinstance(value, dict) and isinstance(value.get("file"), str):
            found.append(value["file"])
    return found


def stage(job: WheelJob, dest: Path) -> None:
    """Copy the generated package and the files [project] refers to into `dest`, with a generated pyproject.toml."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    root = Path(job.root)
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = data.get("project", {})
    for rel in _project_files(project):
        if (root / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, dest / rel)
    for pattern in project.get("license-files", []) if isinstance(project.get("license-files"), list) else []:
        for found in root.glob(pattern):
            if found.is_file():
                (dest / found.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(found, dest / found.relative_to(root))
    for rel in job.files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / job.lib / rel, target)
    (dest / "pyproject.toml").write_text(staged_pyproject(data, job.package), encoding="utf-8")


def build_wheel(job: WheelJob) -> dict[str, Any]:
    """Check API compatibility, build, check contents, then publish build/dist/<wheel> and its release notes."""
    from build import ProjectBuilder

    from tasks.release.api import check_compatible, release_notes
    from tasks.steps.assemble import read_version

    root = Path(job.root)
    version = read_version(root / "pyproject.toml")
    if not job.distribution:
        raise ReleaseError('pyproject.toml:1: [project] has no name; add name = "<distribution name>" '
                           f"(it may differ from the import package {job.package!r})")
    api_changes = check_compatible(root, job.lib, job.package, version)
    notes = release_notes(root, job.lib, job.package, version, job.distribution)
    job.dist.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=job.dist, prefix=".building-") as tmp:
        staged = Path(tmp) / "stage"
        staged.mkdir()
        stage(job, staged)
        env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
        builder = ProjectBuilder(staged, runner=_runner(env))
        try:
            built = Path(builder.build("wheel", Path(tmp) / "out"))
        except Exception as exc:  # noqa: BLE001 - the backend's own error, shown as is
            raise ReleaseError(f"pyproject.toml:1: the wheel build failed: {exc}") from None
        problems = contents_problems(built, job, version) + export_problems(built, job)
        if problems:
            listed = "\n".join(f"  - {p}" for p in problems)
            raise ReleaseError(f"pyproject.toml:1: the wheel {built.name} is not what we ship; nothing was "
                               f"published:\n{listed}")
        final = job.dist / built.name
        os.replace(built, final)
    shutil.rmtree(job.dist / "previous", ignore_errors=True)
    atomic.write_text(layout.at(root, layout.RELEASE_NOTES), notes)
    result = {"file": final.relative_to(root).as_posix(), "size": final.stat().st_size, "sha256": sha256(final),
              "files": len(job.files) + 3, "version": version, "api_changes": api_changes,
              "distribution": job.distribution, "notes": layout.RELEASE_NOTES}
    atomic.write_text(layout.at(root, layout.WHEEL_RESULT), json.dumps(result, indent=1))
    return result


def _runner(env: dict[str, str]) -> Any:
    from pyproject_hooks import quiet_subprocess_runner

    def run(cmd: Any, cwd: Any = None, extra_environ: Any = None) -> None:
        quiet_subprocess_runner(cmd, cwd=cwd, extra_environ={**env, **(extra_environ or {})})

    return run
