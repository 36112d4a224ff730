"""`doit student`: write build/student/ (a self-contained student repository) and its archive, proven.

The tree is made in a private folder beside build/student/, proven there, and only then
swapped in: a failed run leaves the previous tree as it was. The archive is a tar.gz
with sorted entries, fixed times and owners, so the same sources give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout
from tasks.core.errors import BuildError
from tasks.model.manifest import read_manifest
from tasks.steps.assemble import read_version
from tasks.student import proofs
from tasks.student.tree import Tree, build_tree

EPOCH = 315532800  # 1980-01-01, as the wheel: fixed, so the archive is byte-identical


def _write_tree(staging: Path, tree: Tree) -> None:
    for rel, shipped in sorted(tree.files.items()):
        path = staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(shipped.data)
        if rel == ".ci/run":
            path.chmod(0o755)


def archive_bytes(tree: Tree, prefix: str) -> bytes:
    """A tar.gz of the tree: sorted entries under `prefix/`, fixed mtime, owner and modes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, shipped in sorted(tree.files.items()):
            info = tarfile.TarInfo(f"{prefix}/{rel}")
            info.size, info.mtime, info.mode = len(shipped.data), EPOCH, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(shipped.data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _swap(staging: Path, final: Path) -> None:
    """Replace `final` with `staging` (two renames; the old tree is removed only after)."""
    old = final.with_name(f".{final.name}.old.{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def make_student(root_dir: str, update: str = "", dry_run: bool = False) -> dict[str, Any]:
    """Build, prove and write the student edition; then, with `update`, bring it into that repository."""
    root = Path(root_dir)
    if (root / layout.STUDENT_RECORD).exists():
        msg = (f"{layout.STUDENT_RECORD}:1: this is a student edition already; `doit student` runs in the "
               "instructor's repository (to bring a newer release here, run `doit student --update PATH` there)")
        raise BuildError(msg)
    start = time.perf_counter()
    manifest = read_manifest(root)
    version = read_version(root / "pyproject.toml")
    tree = build_tree(root, manifest, version)
    final = layout.at(root, layout.STUDENT)
    staging = final.with_name(f".{final.name}.new.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    timings: dict[str, float] = {}
    try:
        _write_tree(staging, tree)
        t = time.perf_counter()
        proofs.leaks(root, layout.STUDENT, tree)
        timings["leaks"] = time.perf_counter() - t
        t = time.perf_counter()
        proofs.builds(staging, manifest, tree)
        proofs.clear_build(staging)
        timings["builds"] = time.perf_counter() - t
        t = time.perf_counter()
        reached = proofs.reached(root, staging, manifest, tree)
        timings["reached"] = time.perf_counter() - t
        archive = layout.at(root, layout.student_archive(manifest.package, version))
        data = archive_bytes(tree, f"{manifest.package}-student-{version}")
        _swap(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    atomic.write_if_changed(archive, data)
    import hashlib

    summary = {
        "archive": archive.relative_to(root).as_posix(), "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(), "files": len(tree.files),
        "modules": {n: {"regions": len(mr.regions), "reached": sum(reached.get(n, [])),
                        "hidden_tests": sum(c for f, c in tree.hidden.items()
                                            if f in manifest.by_name[n].tests)}
                    for n, mr in tree.modules.items()},
        "hidden_tests": tree.hidden, "seconds": {k: round(v, 2) for k, v in timings.items()},
        "total_seconds": round(time.perf_counter() - start, 2),
    }
    atomic.write_text(layout.at(root, layout.STUDENT_RESULT), json.dumps(summary, indent=1))
    regions = sum(len(mr.regions) for mr in tree.modules.values())
    print(f"student edition: {layout.STUDENT}/ ({len(tree.files)} files, {regions} stubs, "
          f"{sum(tree.hidden.values())} hidden tests); proofs (a)-(d) passed")
    print(f"archive: {summary['archive']} ({len(data)} bytes, sha256 {summary['sha256']})")
    if update:
        from tasks.student.update import update as bring

        bring(final, Path(update), dry_run)
    return {"sha256": summary["sha256"]}
