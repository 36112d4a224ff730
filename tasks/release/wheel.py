"""`doit wheel`: a reproducible PEP 517 wheel of the generated package, checked before it is kept.

The build runs hatchling (declared in pyproject.toml) through the `build`
frontend without isolation, so no network is needed once the [dev] extra is
installed. Timestamps come from a fixed SOURCE_DATE_EPOCH and hatchling sorts the
archive, so the same sources give the same sha256. The wheel is written beside
its final place and renamed only after its contents and metadata are checked.
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
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

    @property
    def dist(self) -> Path:
        return layout.at(self.root, layout.DIST)


def wheel_name(package: str, version: str) -> str:
    return f"{package}-{version}-py3-none-any.whl"


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
        info = f"{job.package}-{version}.dist-info"
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


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def build_wheel(job: WheelJob) -> dict[str, Any]:
    """Check API compatibility, build, check contents, then publish build/dist/<wheel>."""
    from build import ProjectBuilder
    from tasks.release.api import check_compatible
    from tasks.steps.assemble import read_version

    root = Path(job.root)
    version = read_version(root / "pyproject.toml")
    api_changes = check_compatible(root, job.lib, job.package, version)
    job.dist.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=job.dist, prefix=".building-") as tmp:
        env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
        builder = ProjectBuilder(root, runner=_runner(env))
        try:
            built = Path(builder.build("wheel", tmp))
        except Exception as exc:  # noqa: BLE001 - the backend's own error, shown as is
            raise ReleaseError(f"pyproject.toml:1: the wheel build failed: {exc}") from None
        problems = contents_problems(built, job, version)
        if problems:
            listed = "\n".join(f"  - {p}" for p in problems)
            raise ReleaseError(f"pyproject.toml:1: the wheel {built.name} is not what we ship; nothing was "
                               f"published:\n{listed}")
        final = job.dist / built.name
        os.replace(built, final)
    shutil.rmtree(job.dist / "previous", ignore_errors=True)
    result = {"file": final.relative_to(root).as_posix(), "size": final.stat().st_size, "sha256": sha256(final),
              "files": len(job.files) + 3, "version": version, "api_changes": api_changes}
    atomic.write_text(layout.at(root, layout.WHEEL_RESULT), json.dumps(result, indent=1))
    return result


def _runner(env: dict[str, str]) -> Any:
    from pyproject_hooks import quiet_subprocess_runner

    def run(cmd: Any, cwd: Any = None, extra_environ: Any = None) -> None:
        quiet_subprocess_runner(cmd, cwd=cwd, extra_environ={**env, **(extra_environ or {})})

    return run
