"""Where submissions are graded: a local process pool (default) or a Dask distributed cluster.

One batch per `doit grade` run. The first `grade:<student>` task to run starts it with every
submission whose stored result does not match its key; each result is written under
build/grades/results/ the moment it arrives (so an interrupted run keeps what finished), and each
`grade:<student>` task waits for its own. A Dask cluster needs the repository and the submissions
at the same path on every worker (a shared filesystem, as on a university cluster).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout
from tasks.grade.isolate import Layers, probe
from tasks.grade.jobs import BookSpec, GradeJob
from tasks.grade.worker import grade

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


def scheduler_address(given: str) -> str:
    """`--scheduler`, else DASK_SCHEDULER_ADDRESS, else '' (the local pool)."""
    return given or os.environ.get(SCHEDULER_ENV, "")


def stored(root: str, student: str) -> dict[str, Any] | None:
    try:
        data = json.loads(layout.at(root, layout.grade_result(student)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_current(job: GradeJob) -> bool:
    found = stored(job.root, job.student)
    return found is not None and found.get("key") == job.key


def save(job: GradeJob, result: dict[str, Any]) -> None:
    atomic.write_text(layout.at(job.root, layout.grade_result(job.student)), json.dumps(result, indent=1))


@dataclass
class Batch:
    """The submissions being graded in this run, and how to wait for each."""

    jobs: dict[str, GradeJob]
    scheduler: str
    layers: Layers
    done: dict[str, threading.Event] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _pool: Any = None
    _client: Any = None
    _bar: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        todo = [j for j in self.jobs.values() if not is_current(j)]
        for j in self.jobs.values():
            self.done[j.student] = threading.Event()
            if is_current(j):
                self.done[j.student].set()
        if not todo:
            return
        self._bar = _progress(len(todo), self.scheduler)
        if self.scheduler:
            self._start_dask(todo)
        else:
            import multiprocessing

            # spawn, not fork: the doit process has threads (this batch's callbacks, the progress bar)
            self._pool = ProcessPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1),
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_die_with_parent)
            for j in todo:
                self._pool.submit(grade, j, self.layers).add_done_callback(self._finisher(j))

    def _start_dask(self, todo: Sequence[GradeJob]) -> None:
        from distributed import Client

        self._client = Client(self.scheduler, timeout=30)  # type: ignore[no-untyped-call]
        # the workers import the build system from the same path (see the module docstring)
        self._client.run(sys.path.insert, 0, todo[0].root)
        for j in todo:
            fut = self._client.submit(grade, j, self.layers, key=f"grade-{j.student}-{j.key[:12]}", pure=False)
            fut.add_done_callback(self._finisher(j))

    def _finisher(self, job: GradeJob) -> Callable[[Any], None]:
        def finish(fut: Future[dict[str, Any]]) -> None:
            try:
                save(job, fut.result())
            except BaseException as exc:  # a worker lost or killed: the task reports it, the next run retries
                self.errors[job.student] = f"{type(exc).__name__}: {exc}"
            finally:
                with self._lock:
                    if self._bar is not None:
                        self._bar.update(1)
                self.done[job.student].set()
        return finish

    def wait(self, student: str) -> dict[str, Any]:
        event = self.done[student]
        while not event.wait(0.5):  # short waits: Ctrl-C stays responsive
            pass
        if student in self.errors:
            msg = f"grading {student} failed in the executor: {self.errors[student]}; run `doit grade` again"
            raise RuntimeError(msg)
        found = stored(self.jobs[student].root, student)
        assert found is not None
        return found

    def abort(self) -> None:
        """Stop now (Ctrl-C, SIGTERM): kill the pool's processes; each run dies with its grader (PDEATHSIG)."""
        if self._pool is not None:
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.kill()
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()


def _die_with_parent() -> None:
    """A pool process dies with the doit process that started it (then its runs die with it)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _progress(total: int, scheduler: str) -> Any:
    from tqdm import tqdm

    where = f"on {scheduler}" if scheduler else f"on {os.cpu_count()} local processes"
    return tqdm(total=total, desc=f"grading {where}", unit="submission", file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5)


_batch: Batch | None = None


def batch(jobs: Sequence[GradeJob], scheduler: str) -> Batch:
    """This run's batch, started on first use."""
    global _batch
    if _batch is None or set(_batch.jobs) != {j.student for j in jobs}:
        _batch = Batch({j.student: j for j in jobs}, scheduler_address(scheduler), probe())
        _batch.start()
    return _batch


def finish_batch() -> Layers:
    """Close this run's batch; the isolation layers it used (probed now if nothing ran)."""
    global _batch
    layers = _batch.layers if _batch is not None else probe()
    if _batch is not None:
        _batch.close()
        _batch = None
    return layers


def collect(job: GradeJob, jobs: Sequence[GradeJob], scheduler: str) -> dict[str, Any]:
    """The action of `grade:<student>`: its result, graded in this run's batch if it is not current."""
    global _batch
    current = batch(jobs, scheduler)
    try:
        return {"status": [r["status"] for r in current.wait(job.student)["rows"]]}
    except (KeyboardInterrupt, SystemExit):  # what finished is saved; stop the rest now, the next run resumes
        current.abort()
        _batch = None
        raise


def result_path(root: str, student: str) -> Path:
    return layout.at(root, layout.grade_result(student))


def write_gradebook(spec: BookSpec) -> None:
    """The action of `grade:~gradebook`: close the batch, write build/grades/, print the summary."""
    from tasks.grade import gradebook

    layers = finish_batch()
    results = [r for r in (stored(spec.root, s) for s in spec.students) if r is not None]
    suites: list[str] = []
    for res in results:
        suites += [r["item"] for r in res["rows"] if r["kind"] != "module" and r["item"] not in suites]
    root = Path(spec.root)
    book = gradebook.build(results, [{"name": n, "reason": r} for n, r in spec.rejected],
                           [*spec.modules, *sorted(suites)], spec.grading, layers.as_dict())
    gradebook.write(root, book, results, gradebook.hidden_tests(root, spec.test_files), spec.grading)
    for line in gradebook.summary_lines(book):
        print(line)
