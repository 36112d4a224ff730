"""The first process of a submission's run: join its cgroup, set its limits, drop to its uid, exec the command.

    python -m tasks.grade.jail [--pdeathsig] [--cgroup DIR] [--uid N] [--cpu S --memory B --file-size B
                               --open-files N] [--processes N] -- COMMAND...

It replaces itself with COMMAND, so every process of the run inherits what it set. The grader
runs it twice: outside the namespaces (cgroup, limits, and death with the grader's process), then
inside them (the uid: dropping it first would forbid creating the namespaces). Standard library only.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys


def _limit(what: int, value: int) -> None:
    _, hard = resource.getrlimit(what)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(what, (value, value))


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: the kernel kills this process (and so, through the pid namespace, the whole run)
    when the grading process that started it dies, however it dies."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the process group and the wall limit still stop the run
    if os.getppid() == 1:  # the parent died before the signal was armed
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tasks.grade.jail")
    for flag in ("--cpu", "--memory", "--file-size", "--open-files", "--processes"):
        parser.add_argument(flag, type=int, default=0)
    parser.add_argument("--uid", type=int, default=-1)
    parser.add_argument("--cgroup", default="")
    parser.add_argument("--pdeathsig", action="store_true", help="die (SIGKILL) when the grader's process dies")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    if args.pdeathsig:
        _die_with_parent()
    if args.cgroup:
        with open(os.path.join(args.cgroup, "cgroup.procs"), "w") as f:
            f.write("0")  # 0: the writing process, whatever its pid in this namespace
    for what, value in ((resource.RLIMIT_CPU, args.cpu), (resource.RLIMIT_AS, args.memory),
                        (resource.RLIMIT_FSIZE, args.file_size), (resource.RLIMIT_NOFILE, args.open_files)):
        if value:
            _limit(what, value)
    _limit(resource.RLIMIT_CORE, 0)
    if args.uid >= 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (args.processes, args.processes))
        os.setgroups([])
        os.setgid(args.uid)
        os.setuid(args.uid)
    elif args.processes and os.geteuid() != 0:
        # RLIMIT_NPROC counts every process of this user: leave room for those already running
        running = sum(1 for p in os.listdir("/proc") if p.isdigit())
        _limit(resource.RLIMIT_NPROC, running + args.processes)
    os.execvp(args.command[0], args.command)


if __name__ == "__main__":
    sys.exit(main())
