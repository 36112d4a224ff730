"""Taking submissions in: one folder or archive per student, read safely, only its module sources kept.

A submission is `DIR/<student>` (a folder), `DIR/<student>.zip` or `DIR/<student>.tar[.gz|.bz2|.xz]`/`.tgz`.
Nothing is extracted as a tree: each member is checked (no absolute path, no `..`, no link
leaving the submission, no device), then only the manifest's module sources are read, each
under a size cap and required to be UTF-8. A problem with the whole submission stops its
grading with a reason; a problem with one source marks that module only.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from tasks.core.text import BadEncoding, utf8
from tasks.grade.jobs import Kind, Submission

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
SOURCE_CAP = 1 << 20  # one module source: 1 MiB is a hundred times the largest real one
MEMBER_CAP = 10_000  # members of one archive


@dataclass(frozen=True)
class Rejected:
    """An entry of the submissions folder that cannot be graded at all (no usable student id)."""

    name: str
    reason: str


@dataclass
class Intake:
    """What was taken from one submission: sources by manifest path, problems by path, or a fatal reason."""

    sources: dict[str, bytes] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # manifest source path -> why it was not taken
    fatal: str | None = None


def _student_of(entry: Path) -> tuple[str, Kind] | None:
    name = entry.name
    if entry.is_dir() and not entry.is_symlink():
        return name, "dir"
    if name.endswith(".zip"):
        return name[:-4], "zip"
    for suffix in TAR_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], "tar"
    return None


def discover(folder: Path) -> tuple[list[Submission], list[Rejected]]:
    """The submissions in `folder`, sorted by student id, and the entries that are not submissions."""
    found: dict[str, Submission] = {}
    rejected: list[Rejected] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        got = _student_of(entry)
        if got is None:
            rejected.append(Rejected(entry.name, f"{entry.name}: not a submission; give each student a folder, "
                                                 "a .zip or a .tar(.gz) named by their student id"))
            continue
        student, kind = got
        if not STUDENT_ID.match(student):
            rejected.append(Rejected(entry.name, f"{entry.name}: {student!r} is not a usable student id "
                                                 "(letters, digits, '_', '-', '.'; starting with a letter or digit)"))
        elif student in found:
            rejected.append(Rejected(entry.name, f"{entry.name}: a second submission of {student!r} "
                                                 f"(beside {Path(found[student].path).name}); keep one"))
        else:
            found[student] = Submission(student, str(entry.resolve()), kind)
    return sorted(found.values(), key=lambda s: s.student), rejected


def _source_digest(path: Path) -> bytes:
    try:
        st = path.lstat()
    except OSError:
        return b"missing"
    if not path.is_file() or path.is_symlink() or st.st_size > SOURCE_CAP:
        return f"special:{st.st_mode}:{st.st_size}:{st.st_mtime_ns}".encode()
    return hashlib.sha256(path.read_bytes()).digest()


def fingerprint(sub: Submission, sources: Sequence[str]) -> str:
    """A digest of what grading takes from `sub`: its module sources (a folder) or the archive's bytes."""
    digest = hashlib.sha256(sub.kind.encode())
    if sub.kind == "dir":
        for rel in sources:
            digest.update(rel.encode() + b"\0" + _source_digest(Path(sub.path, rel)) + b"\0")
    else:
        with open(sub.path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def take(sub: Submission, sources: Sequence[str]) -> Intake:
    """Read the module sources of `sub` (see the module docstring)."""
    import tarfile
    import zipfile

    try:
        if sub.kind == "dir":
            return _take_dir(Path(sub.path), sources)
        members = _zip_members(sub.path, sources) if sub.kind == "zip" else _tar_members(sub.path, sources)
        return _take_members(sub.path, members, sources)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        return Intake(fatal=f"{Path(sub.path).name}: cannot be read as a {sub.kind}: {exc}")


def _check_text(rel: str, data: bytes, into: Intake) -> None:
    try:
        utf8(data)
    except BadEncoding as exc:
        into.problems[rel] = f"{rel}:{exc.line}: not valid UTF-8 (byte {exc.byte:#04x}); save the file as UTF-8"
        return
    into.sources[rel] = data


def _too_big(rel: str, size: int) -> str:
    return f"{rel}: {size} bytes, over the {SOURCE_CAP} byte limit for a module source"


def _not_a_repo(found: int, total: int, manifest: bool) -> bool:
    return found == 0 and not manifest and total > 0


def _take_dir(root: Path, sources: Sequence[str]) -> Intake:
    into = Intake()
    real_root = os.path.realpath(root)
    for rel in sources:
        path = root / rel
        if not os.path.lexists(path):
            into.problems[rel] = f"{rel}: missing from the submission"
            continue
        real = os.path.realpath(path)
        if not real.startswith(real_root + os.sep):
            into.problems[rel] = f"{rel}: a symbolic link out of the submission (to {real}); submit the file itself"
            continue
        if not os.path.isfile(real):
            into.problems[rel] = f"{rel}: not a regular file"
            continue
        size = os.path.getsize(real)
        if size > SOURCE_CAP:
            into.problems[rel] = _too_big(rel, size)
            continue
        with open(real, "rb") as f:
            _check_text(rel, f.read(SOURCE_CAP + 1), into)
    if _not_a_repo(len(into.sources) + sum("UTF-8" in p or "limit" in p for p in into.problems.values()),
                   len(sources), (root / "modules.yaml").exists()):
        into.fatal = (f"{root.name}: not a course repository (no modules.yaml and none of the module sources, "
                      f"e.g. {sources[0]}); submit the whole repository folder")
    return into


@dataclass(frozen=True)
class _Member:
    name: str
    kind: Literal["file", "dir", "link", "other"]
    size: int
    link: str  # a link's target
    data: bytes | None = None  # read while the archive is open, for the members that may be sources


def _candidate(name: str, size: int, wanted: Sequence[str]) -> bool:
    return size <= SOURCE_CAP and any(name == w or name.endswith("/" + w) for w in wanted)


def _zip_members(path: str, wanted: Sequence[str]) -> Iterator[_Member]:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist()[: MEMBER_CAP + 1]:
            mode = (info.external_attr >> 16) & 0o170000
            if mode == 0o120000:  # a symlink stored by `zip --symlinks`: its target is the content
                target = zf.open(info).read(4096).decode("utf-8", "replace")
                yield _Member(info.filename, "link", info.file_size, target)
            elif info.is_dir():
                yield _Member(info.filename, "dir", 0, "")
            else:
                data = zf.open(info).read(SOURCE_CAP + 1) if _candidate(info.filename, info.file_size, wanted) else None
                yield _Member(info.filename, "file", info.file_size, "", data)


def _tar_members(path: str, wanted: Sequence[str]) -> Iterator[_Member]:
    import tarfile

    with tarfile.open(path) as tf:
        for count, info in enumerate(tf):
            if count > MEMBER_CAP:
                break
            kind: Literal["file", "dir", "link", "other"]
            kind = "file" if info.isfile() else "dir" if info.isdir() else \
                "link" if info.issym() or info.islnk() else "other"
            data = None
            if kind == "file" and _candidate(info.name, info.size, wanted):
                f = tf.extractfile(info)
                data = f.read(SOURCE_CAP + 1) if f else b""
            yield _Member(info.name, kind, info.size, info.linkname, data)


def _escapes(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":")


def _take_members(archive: str, members: Iterator[_Member], sources: Sequence[str]) -> Intake:
    into = Intake()
    label = Path(archive).name
    wanted = set(sources)
    files: dict[str, _Member] = {}
    links: dict[str, str] = {}
    count = 0
    for m in members:
        count += 1
        if count > MEMBER_CAP:
            return Intake(fatal=f"{label}: more than {MEMBER_CAP} entries; submit the repository only")
        if _escapes(m.name):
            return Intake(fatal=f"{label}: entry {m.name!r} points outside the submission's folder; "
                                "archive the repository from inside it")
        if m.kind == "link":
            target = PurePosixPath(m.name).parent / m.link
            if m.link.startswith("/") or _escapes(str(target)) or ".." in PurePosixPath(os.path.normpath(target)).parts:
                return Intake(fatal=f"{label}: entry {m.name!r} is a link out of the submission (to {m.link!r}); "
                                    "submit files, not links")
            links[m.name] = m.link
        elif m.kind == "other":
            return Intake(fatal=f"{label}: entry {m.name!r} is a device or pipe; submit plain files only")
        elif m.kind == "file":
            files[m.name] = m
    prefix = _common_prefix([*files, *links], wanted)
    for rel in sources:
        name = prefix + rel
        if name in links:
            into.problems[rel] = f"{rel}: a link in the archive; submit the file itself"
        elif name not in files:
            into.problems[rel] = f"{rel}: missing from the submission"
        elif files[name].size > SOURCE_CAP:
            into.problems[rel] = _too_big(rel, files[name].size)
        else:
            data = files[name].data or b""
            if len(data) > SOURCE_CAP:
                into.problems[rel] = _too_big(rel, len(data))
            else:
                _check_text(rel, data, into)
    if _not_a_repo(len(into.sources) + sum("UTF-8" in p or "limit" in p for p in into.problems.values()),
                   len(sources), prefix + "modules.yaml" in files):
        into.fatal = (f"{label}: not a course repository (no modules.yaml and none of the module sources, "
                      f"e.g. {sources[0]}); archive the whole repository folder")
    return into


def _common_prefix(names: list[str], wanted: set[str]) -> str:
    """'' or 'alice/' when the archive holds one top folder (as `zip -r alice.zip alice` makes)."""
    if any(n in wanted or n == "modules.yaml" for n in names):
        return ""
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    return f"{tops.pop()}/" if len(tops) == 1 else ""
