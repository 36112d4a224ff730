"""`doit student --update PATH`: bring a newer release into a student's repository.

A module source is replaced only when its bytes are still those the earlier release
shipped (its digest in `.student/release.json`); an edited one is kept, always.
Tests, the build system and the manifest come from the release. Whatever is replaced
is first copied under `.student/replaced/<time>/`; nothing is deleted. `--dry-run`
prints the plan and changes nothing.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout
from tasks.core.errors import BuildError
from tasks.student.tree import digest


@dataclass(frozen=True)
class Plan:
    add: list[str]
    replace: list[str]
    kept: list[str]  # edited module sources, left as they are
    same: int


def _record(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError) as exc:
        msg = (f"{path}:1: not a student repository made by `doit student` ({exc}); give the folder that holds "
               f"{layout.STUDENT_RECORD}")
        raise BuildError(msg) from None


def plan(release: Path, workspace: Path) -> Plan:
    """What an update would do: files to add, to replace, edited modules to keep."""
    new = _record(release / layout.STUDENT_RECORD)
    old = _record(workspace / layout.STUDENT_RECORD)
    shipped = {m["source"]: m["sha256"] for m in old.get("modules", {}).values()}
    add: list[str] = []
    replace: list[str] = []
    kept: list[str] = []
    same = 0
    for rel in sorted(new["files"]):
        here = workspace / rel
        if not here.exists():
            add.append(rel)
            continue
        mine = digest(here.read_bytes())
        if mine == new["files"][rel]:
            same += 1
        elif rel in shipped and mine != shipped[rel]:
            kept.append(rel)  # the student wrote in it: never overwritten
        else:
            replace.append(rel)
    return Plan(add, replace, kept, same)


def _new_record(release: Path, workspace: Path, kept: list[str]) -> bytes:
    """The release's record, except that a kept module keeps the stubs and digest it was shipped with."""
    new = _record(release / layout.STUDENT_RECORD)
    old = _record(workspace / layout.STUDENT_RECORD)
    for name, entry in old.get("modules", {}).items():
        if entry["source"] in kept:
            new["modules"][name] = entry
    return (json.dumps(new, indent=1, sort_keys=True) + "\n").encode()


def update(release: Path, workspace: Path, dry_run: bool = False) -> Plan:
    """Apply (or, dry, only print) the plan; print what was updated and what was kept."""
    if not (workspace / layout.STUDENT_RECORD).exists():
        msg = (f"{workspace}: no {layout.STUDENT_RECORD} here; `--update` takes a student repository made from "
               "an earlier `doit student` (its archive, unpacked)")
        raise BuildError(msg)
    p = plan(release, workspace)
    verb = "would " if dry_run else ""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = workspace / layout.STUDENT_ASIDE / stamp
    print(f"update of {workspace} from {release}{' (dry run: nothing is changed)' if dry_run else ''}:")
    for rel in p.add:
        print(f"  {verb}add      {rel}")
    for rel in p.replace:
        print(f"  {verb}update   {rel}" + ("" if dry_run else f"  (old copy in {aside.relative_to(workspace) / rel})"))
    for rel in p.kept:
        print(f"  keep     {rel}  (you edited it; the new release's version is in "
              f"{(aside.relative_to(workspace) / rel).as_posix()}.new)")
    print(f"  {p.same} files unchanged")
    if dry_run:
        return p
    for rel in p.replace:
        dest = aside / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(workspace / rel, dest)  # saved before it is replaced
    for rel in p.kept:
        dest = aside / f"{rel}.new"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(release / rel, dest)
    for rel in [*p.add, *p.replace]:
        if rel == layout.STUDENT_RECORD:
            continue
        atomic.write_bytes(workspace / rel, (release / rel).read_bytes())
    atomic.write_bytes(workspace / layout.STUDENT_RECORD, _new_record(release, workspace, p.kept))
    return p
