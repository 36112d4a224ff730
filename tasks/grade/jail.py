"""The first process of a submission's run: join its cgroup, set its limits, drop to its uid, exec the command.

    python -m tasks.grade.jail --cgroup DIR --uid N --cpu S --memory B --file-size B --open-files N
                               --processes N -- COMMAND...

It runs inside the namespaces (`unshare` execs it) and replaces itself with COMMAND, so every
process of the run inherits what it set. Standard library only: it runs before anything else.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tasks.grade.jail")
    for flag in ("--cpu", "--memory", "--file-size", "--open-files", "--processes", "--uid"):
        parser.add_argument(flag, type=int, required=True)
    parser.add_argument("--cgroup", default="")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    if args.cgroup:
        with open(os.path.join(args.cgroup, "cgroup.procs"), "w") as f:
            f.write("0")  # 0: the writing process, whatever its pid in this namespace
    _limit(resource.RLIMIT_CPU, args.cpu)
    _limit(resource.RLIMIT_AS, args.memory)
    _limit(resource.RLIMIT_FSIZE, args.file_size)
    _limit(resource.RLIMIT_NOFILE, args.open_files)
    _limit(resource.RLIMIT_CORE, 0)
    if args.uid >= 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (args.processes, args.processes))
        os.setgroups([])
        os.setgid(args.uid)
        os.setuid(args.uid)
    elif os.geteuid() != 0:
        # RLIMIT_NPROC counts every process of this user: leave room for those already running
        running = sum(1 for p in os.listdir("/proc") if p.isdigit())
        _limit(resource.RLIMIT_NPROC, running + args.processes)
    os.execvp(args.command[0], args.command)


if __name__ == "__main__":
    sys.exit(main())
