"""`python -m tasks.grade.single TASK...`: `doit run --single TASK...` (each task without its task_dep).

doit 0.36.0 runs only the first of several tasks given with `--single`: it selects the tasks a second
time, and `Task.init_options` returns None (not the names left) for a task whose options are already
set, which ends the selection. The partial regrade of a submission (`tasks.grade.worker.goals`) needs
several, so this runs doit with `init_options` returning what is left. Checked against doit 0.36.0.
"""

from __future__ import annotations

import sys
from typing import Any


def main(argv: list[str]) -> int:
    from doit.doit_cmd import DoitMain
    from doit.task import Task

    first = Task.init_options

    def init_options(self: Any, args: Any = None) -> Any:
        if self.options is not None:
            return args
        return first(self, args)

    Task.init_options = init_options
    return int(DoitMain().run(["run", "--single", *argv]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
