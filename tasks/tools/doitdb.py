"""doit's state DB, read without running doit: which tasks last succeeded, and whether their files changed.

Checked against doit 0.36 and 0.37 (`DOIT_CONFIG["backend"] = "sqlite3"`): doit's
`SqliteDB` keeps one row per task, `task_id` and `task_data` (JSON: a `deps:` list
and, per file, `[mtime, size, md5]`). Files are compared with doit's own
`MD5Checker`, so the rule is doit's, not a copy. tests/tasks/test_tools.py fails
if either changes shape.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any, Literal

CHECKED = ">=0.36,<0.38"
TABLE = "doit"  # doit.dependency.SqliteDB's table


def _changed(root: Path, path: str, state: Any) -> bool:
    from doit.dependency import MD5Checker

    if not isinstance(state, list) or len(state) != 3:
        return True
    full = root / path
    try:
        return bool(MD5Checker().check_modified(str(full), os.stat(full), state))
    except OSError:
        return True


def rows(db: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """task name -> doit's saved data, for the named tasks that have a row (read-only)."""
    if not names or not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2.0)
    try:
        marks = ",".join("?" * len(names))
        found = conn.execute(f"select task_id, task_data from {TABLE} where task_id in ({marks})", names).fetchall()
    finally:
        conn.close()
    out: dict[str, dict[str, Any]] = {}
    for task, raw in found:
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if isinstance(data, dict):
            out[task] = data
    return out


def states(root: Path, db: Path, names: Iterable[str],
           fresh: Collection[str] = ()) -> dict[str, Literal["fresh", "stale"]]:
    """For tasks whose last run succeeded: 'fresh', or 'stale' when an input file changed since.

    Tasks absent from the result never succeeded, failed last, or were forgotten.
    `fresh`: tasks already known to be up to date (doit just checked them), not looked up again.
    """
    names = list(names)
    out: dict[str, Literal["fresh", "stale"]] = {n: "fresh" for n in names if n in fresh}
    try:
        saved = rows(db, [n for n in names if n not in out])
    except sqlite3.Error:
        return {}
    for task, data in saved.items():
        deps = data.get("deps:") or []
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            continue  # a row of the wrong shape counts as absent (tasks.safety.recovery.drop_bad_rows deletes it)
        out[task] = "stale" if any(_changed(root, d, data.get(d)) for d in deps) else "fresh"
    return out


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _full(exc: sqlite3.OperationalError) -> bool:
    return "full" in str(exc)


def guarded_sqlite(make_room: Callable[[], bool], stop: Callable[[BaseException], None],
                   vanished: Callable[[], None]) -> type:
    """doit's SqliteDB, hardened against the machine (doit's `_conn`, `_cache`, `_dirty`, `name`, `_sqlite3`):

    - a full disk at the final save: roll back, `make_room`, save again; `stop` (which raises) when that fails;
    - the DB file deleted (or replaced) during the run: sqlite would refuse every write ("attempt to write a
      readonly database"); instead a new file is made holding every row this run read or wrote, and
      `vanished` is called (the tasks it does not hold run once on the next run).
    """
    from doit.dependency import SqliteDB

    class GuardedSqliteDB(SqliteDB):  # type: ignore[misc]
        _conn: sqlite3.Connection

        def __init__(self, name: str, codec: Any, **kwargs: Any) -> None:
            super().__init__(name, codec, **kwargs)
            self._identity = _identity(name)

        def _reopen_if_gone(self) -> None:
            if _identity(self.name) == self._identity:
                return
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            Path(self.name).parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._sqlite3(self.name)
            self._identity = _identity(self.name)
            self._dirty.update(task for task, data in self._cache.items() if data)  # {}: a task it has no row of
            vanished()

        def remove(self, task_id: str) -> None:
            self._reopen_if_gone()
            super().remove(task_id)

        def dump(self) -> None:
            self._reopen_if_gone()
            try:
                super().dump()
                return
            except sqlite3.OperationalError as exc:
                if not _full(exc):
                    raise
                self._conn.rollback()
                if not make_room():
                    stop(exc)
                    raise
            try:
                super().dump()
            except sqlite3.OperationalError as exc:
                if not _full(exc):
                    raise
                stop(exc)
                raise

    return GuardedSqliteDB
