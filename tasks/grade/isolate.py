"""Isolation of one submission: its own scratch tree, and a child run inside every layer this OS allows.

Layers, probed once (`probe`) and reported:
- scratch: the instructor's tree copied, only the student's module sources over it, its own build/;
- home: a private HOME and TMPDIR inside the scratch tree, an environment without the grader's secrets;
- rlimits: CPU time, address space, file size, open files (and processes when not root), set in the child;
- cgroup: a pids cgroup (v1 or v2) capping the submission's processes (a fork bomb stops there);
- netns / pidns: `unshare --net --pid --mount-proc`: no network, and every process of the run dies with it;
- uid: when the grader is root, the run drops to an unprivileged uid of its own, so it cannot write the
  instructor's files, the gradebook, another submission's tree or anything else on the machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.core import layout
from tasks.grade.jobs import Limits

SKIP = {layout.BUILD, ".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache",
        "node_modules", "bench", "seeds"}
CGROUP_ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup")
UID_BASE = 200_000  # the run's uid when the grader is root: UID_BASE + a number derived from the student


@dataclass(frozen=True)
class Layers:
    """Which isolation layers are active on this machine."""

    rlimits: bool
    home: bool
    unshare: tuple[str, ...]  # the `unshare` options that work here, () if none
    cgroup: str  # the pids cgroup root used, '' if none
    uid: bool  # runs as an unprivileged uid of its own (grader is root)

    def active(self) -> list[str]:
        found = ["scratch tree", "private HOME/TMPDIR"]
        if self.rlimits:
            found.append("rlimits (cpu, memory, file size, open files" + (", processes)" if self.uid or
                                                                            os.geteuid() else ")"))
        if self.cgroup:
            found.append(f"pids cgroup ({self.cgroup})")
        if "--net" in self.unshare:
            found.append("no network (network namespace)")
        if "--pid" in self.unshare:
            found.append("pid namespace (every process dies with the run)")
        if self.uid:
            found.append("unprivileged uid per submission")
        return found

    def missing(self) -> list[str]:
        gone = []
        if "--net" not in self.unshare:
            gone.append("network namespace (`unshare --net` refused): the student's code can reach the network")
        if "--pid" not in self.unshare:
            gone.append("pid namespace: leftover processes are killed by process group only")
        if not self.cgroup and not self.uid:
            gone.append("process cap (no writable pids cgroup, and RLIMIT_NPROC counts all of this user's processes)")
        if not self.uid:
            gone.append("separate uid (needs a root grader whose Python another uid can run): the student's code "
                        "can write what the grader can; changes to the instructor's files are detected instead")
        return gone

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "active": self.active(), "missing": self.missing()}


def _works(cmd: Sequence[str]) -> bool:
    try:
        return subprocess.run(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _cgroup_root() -> str:
    for root in CGROUP_ROOTS:
        probe = Path(root, f"grade-probe-{os.getpid()}")
        try:
            probe.mkdir()
        except OSError:
            continue
        try:
            if (probe / "pids.max").exists():
                return root
        finally:
            probe.rmdir()
    return ""


def sweep_cgroups(root: str) -> None:
    """Remove the empty cgroups of grading runs whose grader died (a cgroup cannot remove itself)."""
    for path in Path(root).glob("grade-*") if root else ():
        try:
            alive = Path(path, "cgroup.procs").read_text().split()
            if not alive:
                path.rmdir()
        except OSError:
            pass


def probe() -> Layers:
    """Try each layer once on this machine."""
    unshare = shutil.which("unshare")
    options: tuple[str, ...] = ()
    if unshare:
        root = os.geteuid() == 0
        user = () if root else ("--user", "--map-root-user")
        for opts in ((*user, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
                     (*user, "--net"), (*user, "--pid", "--fork", "--kill-child", "--mount-proc")):
            if _works([unshare, *opts, "true"]):
                options = opts
                break
    cgroup = _cgroup_root()
    sweep_cgroups(cgroup)
    return Layers(rlimits=True, home=True, unshare=options, cgroup=cgroup, uid=_uid_works())


def _uid_works() -> bool:
    """Root can run the grade as another uid only if that uid can run this interpreter (not under /root)."""
    if os.geteuid() != 0:
        return False
    here = str(Path(__file__).resolve().parents[2])
    jail = [sys.executable, "-m", "tasks.grade.jail", "--uid", str(UID_BASE), "--processes", "64", "--",
            sys.executable, "-c", "pass"]
    try:
        return subprocess.run(jail, cwd="/", env={"PYTHONPATH": here}, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def uid_for(student: str) -> int:
    return UID_BASE + int(hashlib.sha256(student.encode()).hexdigest()[:8], 16) % 100_000


# -- the scratch tree ------------------------------------------------------------------------------
def instructor_files(root: Path, skip: Iterable[str | Path] = ()) -> list[str]:
    """The instructor's files to copy (relative, '/'), leaving out generated and private folders."""
    skip_paths = {Path(p).resolve() for p in skip}
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP and not d.startswith(".")
                             and (here / d).resolve() not in skip_paths)
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                out.append((here / name).relative_to(root).as_posix())
    return out


def digest_files(paths: Mapping[str, Path]) -> dict[str, str]:
    found = {}
    for rel, path in paths.items():
        try:
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            found[rel] = "missing"
    return found


def make_scratch(files: Mapping[str, Path], scratch: Path, sources: Mapping[str, bytes], uid: int | None) -> None:
    """A fresh scratch tree: `files` (relative path -> the instructor's file), then `sources` (the student's).

    The tree belongs to the grader; only build/, HOME, TMPDIR and the module sources' folders are the
    run's (`uid`), so the instructor's tests and build cannot be changed by the student's code.
    """
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    for rel, origin in files.items():
        dest = scratch / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, dest)
    for rel, data in sources.items():
        dest = scratch / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    own = [layout.at(scratch, layout.BUILD), scratch / ".home", scratch / ".tmp"]
    for d in own:
        d.mkdir(exist_ok=True)
    if uid is not None:
        for d in own + [(scratch / rel).parent for rel in sources]:
            os.chown(d, uid, uid)
        for rel in sources:
            os.chown(scratch / rel, uid, uid)
        scratch.chmod(0o755)


def environment(scratch: Path, build_system: Path) -> dict[str, str]:
    """The run's environment: nothing of the grader's but PATH and the locale."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "NO_COLOR", "TERM")}
    return {**keep, "HOME": str(scratch / ".home"), "TMPDIR": str(scratch / ".tmp"),
            "PYTHONPATH": str(build_system), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
            "PYTHONNOUSERSITE": "1", "NO_COLOR": "1", "MPLBACKEND": "Agg",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# -- the run -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ran:
    returncode: int | None  # None: killed at the wall limit
    output: bytes  # the channel (stdout), at most Limits.output bytes
    seconds: float


def _make_cgroup(root: str, name: str, limits: Limits) -> str:
    if not root:
        return ""
    path = os.path.join(root, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "pids.max"), "w") as f:
        f.write(str(limits.processes))
    return path


def _kill_cgroup(path: str) -> None:
    if not path:
        return
    for _ in range(50):
        try:
            pids = [int(p) for p in Path(path, "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    try:
        os.rmdir(path)
    except OSError:
        pass


def run(cmd: Sequence[str], scratch: Path, env: Mapping[str, str], stdin: bytes, layers: Layers,
        limits: Limits, name: str, uid: int | None) -> Ran:
    """Run `cmd` in `scratch` inside every active layer; keep at most `limits.output` bytes of its stdout."""
    cgroup = _make_cgroup(layers.cgroup, f"grade-{name}-{os.getpid()}", limits)
    jail = [sys.executable, "-m", "tasks.grade.jail"]
    inner = [*jail, "--uid", str(-1 if uid is None else uid), "--processes", str(limits.processes), "--", *cmd]
    outer = [*jail, "--pdeathsig", "--cgroup", cgroup, "--cpu", str(limits.cpu), "--memory", str(limits.memory),
             "--file-size", str(limits.file_size), "--open-files", str(limits.open_files), "--"]
    full = [*outer, shutil.which("unshare") or "unshare", *layers.unshare, *inner] if layers.unshare else \
        [*outer, *inner]
    start = time.monotonic()
    # no preexec_fn (unsafe beside threads, as in a Dask worker): the jail sets the limits, then execs
    proc = subprocess.Popen(full, cwd=scratch, env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
    timed_out = False
    try:
        out = _communicate(proc, stdin, limits, start)
        if out is None:
            timed_out = True
            out = b""
    finally:
        _kill_group(proc.pid)
        proc.wait()
        _kill_cgroup(cgroup)
    return Ran(None if timed_out else proc.returncode, out, time.monotonic() - start)


def _communicate(proc: subprocess.Popen[bytes], stdin: bytes, limits: Limits, start: float) -> bytes | None:
    """Send `stdin`, read stdout up to the cap (the rest is drained and dropped); None at the wall limit."""
    import selectors

    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    kept = bytearray()
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = limits.wall - (time.monotonic() - start)
            if left <= 0:
                return None
            if not sel.select(timeout=min(left, 1.0)):
                continue
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            if len(kept) < limits.output:
                kept += chunk[: limits.output - len(kept)]
    try:
        proc.wait(timeout=max(0.1, limits.wall - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
        return None
    return bytes(kept)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass

