"""Starting from whatever an earlier run left: a missing or corrupt state DB, stray temporary files.

Runs before doit opens its state DB, under the tree lock (`tasks.safety.lock`), so no
other run is writing any of it. Every case ends in a clear note and a rebuild,
never a traceback: doit itself would stop on a corrupt DB with one.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from tasks.core import layout

SQLITE_MAGIC = b"SQLite format 3\x00"
# what an interrupted writer can leave behind: tasks.core.atomic temporaries, nbdev's
# private export file (tasks.steps.export), the sandbox's result file (tasks.sandbox.spawn, tasks.sandbox.runner)
STRAY = re.compile(r"^\..+\.tmp$|^\..+\.\d+\.export\.py$|^runner-.+\.json(\.\d+\.tmp)?$")


def db_problem(db: Path, timeout: float = 10.0) -> str | None:
    """Why doit could not use the state DB `db`, or None if it can (a missing DB is fine)."""
    try:
        size = db.stat().st_size
        with open(db, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if size == 0:
        return None  # sqlite makes a new database of an empty file
    if head != SQLITE_MAGIC:
        return "it is not an SQLite database"
    import sqlite3

    try:
        # mode=rw: never create a file; a hot journal left by kill -9 is rolled back, as doit would
        conn = sqlite3.connect(db.resolve().as_uri() + "?mode=rw", uri=True, timeout=timeout)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                return "sqlite: " + "; ".join(str(r[0]) for r in rows[:3])
            has_table = conn.execute("select 1 from sqlite_master where type='table' and name='doit'").fetchone()
            if has_table:
                for (data,) in conn.execute("select task_data from doit"):
                    json.loads(data)  # rows of valid JSON but the wrong shape: drop_bad_rows
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None  # in use, hence readable; doit waits for it like any sqlite client
        return f"sqlite: {exc}"
    except sqlite3.DatabaseError as exc:
        return f"sqlite: {exc}"
    except (ValueError, TypeError) as exc:
        return f"a task record in it is not valid JSON ({exc})"
    return None


def row_ok(data: object) -> bool:
    """Is a row's task_data of the shape doit writes (doit.dependency.DbmDB/SqliteDB, checked on 0.36-0.37)?
    A row of another shape made doit stop with a traceback."""
    if not isinstance(data, dict):
        return False
    deps = data.get("deps:", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        return False
    if not isinstance(data.get("_values_:", {}), dict):
        return False
    for dep in deps:
        state = data.get(dep)
        if state is not None and not (isinstance(state, list) and len(state) == 3):
            return False
    return all(isinstance(data.get(k, ""), str) for k in ("checker:", "ignore:"))


def drop_bad_rows(db: Path) -> list[str]:
    """Delete the rows whose task_data has the wrong shape (their tasks run again); return their task names."""
    if not db.exists() or db.stat().st_size == 0:
        return []
    import sqlite3

    conn = sqlite3.connect(db.resolve().as_uri() + "?mode=rw", uri=True, timeout=10.0)
    try:
        if not conn.execute("select 1 from sqlite_master where type='table' and name='doit'").fetchone():
            return []
        bad = [task for task, raw in conn.execute("select task_id, task_data from doit")
               if not row_ok(json.loads(raw))]
        if bad:
            conn.executemany("delete from doit where task_id = ?", [(t,) for t in bad])
            conn.commit()
        return bad
    except (sqlite3.Error, ValueError, TypeError):
        return []
    finally:
        conn.close()


def quarantine(db: Path) -> Path:
    """Move the DB (and its journal files) aside to `<db>.corrupt-<timestamp>`; return the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = db.with_name(f"{db.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = db.with_name(f"{db.name}.corrupt-{stamp}-{n}")
    os.replace(db, aside)
    for suffix in ("-journal", "-wal", "-shm"):
        extra = db.with_name(db.name + suffix)
        if extra.exists():
            os.replace(extra, aside.with_name(aside.name + suffix))
    return aside


def sweep(build: Path) -> list[Path]:
    """Delete temporary files that an interrupted run left under `build` (never inside a virtualenv)."""
    removed: list[Path] = []
    for here, dirs, files in os.walk(build):
        dirs[:] = [d for d in dirs if not (Path(here, d) / "pyvenv.cfg").exists()]
        for name in files:
            if STRAY.match(name):
                path = Path(here, name)
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed.append(path)
    return removed


def state_notes(root: Path, db: Path, build_existed: bool) -> list[str]:
    """What the user should know before a run starts from scratch, as short sentences."""
    rel = db.relative_to(root).as_posix() if db.is_relative_to(root) else str(db)
    if not build_existed:
        return [f"{layout.BUILD}/ does not exist: building everything from the sources."]
    if not db.exists():
        return [f"{rel} (doit's record of finished tasks) is missing: every task runs once to rebuild it; "
                "generated files that come out the same are left as they are."]
    return []


def result_intact(root: str, rel: str) -> bool:
    """`uptodate` check: is the result file `rel` of the shape the steps write? A damaged or hand-edited one
    (valid JSON such as `"passed": "many"`) counts as absent: its task runs again, with a note, to rewrite it."""
    from tasks.reports.status import read_result

    path = layout.at(root, rel)
    if not path.exists() or read_result(path) is not None:
        return True  # a missing target is doit's own business (it runs the task)
    from tasks.core import output

    output.emit("note", f"{rel} is not a result file of the shape doit writes (damaged or edited by hand): "
                        "its task runs again to rewrite it.")
    return False


def guard_state_db(root: Path) -> bool:
    """Have doit keep its state DB through `tasks.tools.doitdb.guarded_sqlite` (False if it could not):
    - a full disk at the end of a run (every task done, the last rows to save) spends the reserve
      (`tasks.safety.disk`), and if even that is not enough ends in the full-disk message, not sqlite's traceback;
    - a DB deleted during the run is made again, with a warning, not sqlite's "readonly database" traceback."""
    from tasks.core import output
    from tasks.core.errors import DiskFull, full_disk_message
    from tasks.safety import disk
    from tasks.tools import doitcmd, doitdb

    def stop(exc: BaseException) -> None:
        raise DiskFull(full_disk_message(layout.STATE_DB)) from None

    def make_room() -> bool:
        if not disk.release_reserve(root):
            return False
        output.warn(f"the disk that holds {layout.BUILD}/ is full: doit spent its reserve ({layout.RESERVE}) to "
                    "save its record of this run. Free some space before the next run.")
        return True

    def vanished() -> None:
        output.warn(f"{layout.STATE_DB} (doit's record of finished tasks) was deleted while this run was going on: "
                    "a new one holds what this run checked and ran; any other task runs once on the next doit.")

    return doitcmd.use_backend("sqlite3", doitdb.guarded_sqlite(make_room, stop, vanished))
