"""A content record of each task's last success, kept beside doit's state so that a fixed failure re-runs nothing.

doit forgets a task's state whenever the task fails or is not run because a dependency
failed (`_handle_task_error` in doit/runner.py calls `remove_success`). After the failure
is fixed and the task's inputs are byte for byte those of its last success, doit alone
would run it again, and everything after it. `PassedRecord` is an `uptodate` entry, a
doit `UptodateCalculator` (so it is handed the dependency manager): when doit has
forgotten the task and the digests of its file_dep equal those recorded at its last
success, it restores doit's state (`save_success`, with the values saved then, such as
`config_changed`'s) and the task's result file, so doit's own checks find it up to date.
It has no opinion otherwise (returns None), so doit decides as before.

Checked against doit 0.36 and 0.37: `UptodateCalculator.setup(dep_manager, tasks_dict)`,
`Dependency._get(task, "deps:")` (None once forgotten), `save_success(task)`,
`task.values` / `task.value_savers`. tests/tasks/test_doitstate.py fails if they change.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from doit.dependency import UptodateCalculator

from tasks.core import atomic, layout

CHECKED = ">=0.36,<0.38"


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class PassedRecord(UptodateCalculator):  # type: ignore[misc]
    """`uptodate` entry: revive a forgotten task whose inputs equal those of its last success.

    `keep`: the task's result files (relative to `root`), saved with the record and put back on revival.
    Put it first in the task's `uptodate` list: the entries after it read the values it restores.
    """

    def __init__(self, root: str, keep: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.root = root
        self.keep = keep
        self.dep_manager: Any = None

    def setup(self, dep_manager: Any, tasks_dict: Any) -> None:
        super().setup(dep_manager, tasks_dict)
        self.dep_manager = dep_manager

    def _inputs(self, task: Any) -> dict[str, str | None]:
        return {dep: file_digest(layout.at(self.root, dep)) for dep in sorted(task.file_dep)}

    def __call__(self, task: Any, values: Any) -> bool | None:
        path = layout.at(self.root, layout.passed_record(task.name))

        def save() -> dict[str, Any]:
            # the other savers' values (config_changed's digest), to restore them with the state
            others: dict[str, Any] = {}
            for saver in task.value_savers:
                if saver is not save:
                    others.update(saver())
            kept = {}
            for rel in self.keep:
                try:
                    kept[rel] = layout.at(self.root, rel).read_text(encoding="utf-8")
                except OSError:
                    continue
            record = {"inputs": self._inputs(task), "values": others, "kept": kept}
            atomic.write_text(path, json.dumps(record, indent=1))
            return {}

        task.value_savers.append(save)
        if self.get_val is None or self.get_val(task.name, "deps:") is not None:
            return None  # doit remembers the task: its own checks decide
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("inputs") != self._inputs(task):
            return None
        if not all(layout.at(self.root, t).exists() for t in task.targets):
            return None  # removed on purpose (`doit clean`): build them again
        for rel, text in (record.get("kept") or {}).items():
            target = layout.at(self.root, rel)
            if target.read_text(encoding="utf-8") != text:
                atomic.write_text(target, text)  # the last success's result, not the failure's since
        task.values = dict(record.get("values") or {})
        self.dep_manager.save_success(task)
        return True


def forget_all(root: Path) -> None:
    """Drop every record (`doit forget` must make tasks run again, not revive them)."""
    shutil.rmtree(layout.at(root, layout.PASSED), ignore_errors=True)
