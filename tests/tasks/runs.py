"""Helpers for tests that drive the real `doit` command line while it runs: start, watch, signal, compare."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import Course

from tasks.safety.recovery import STRAY


class Live:
    """A `doit` command line running in a course; its output is read as it comes."""

    def __init__(self, course: Course, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONPATH": str(course.build_system), "NO_COLOR": "1",
                    "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "doit", *args], cwd=course.root, env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self._readers = [threading.Thread(target=self._read, args=(stream, name, sink), daemon=True)
                         for stream, name, sink in ((self.proc.stdout, "out", self.out),
                                                    (self.proc.stderr, "err", self.err))]
        for t in self._readers:
            t.start()

    def _read(self, stream: object, name: str, sink: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line.rstrip("\n"))
            self._lines.put((name, line.rstrip("\n")))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_for(self, text: str, timeout: float = 60, stream: str = "out") -> None:
        """Block until a line of `stream` starts with `text` (or fail after `timeout` s)."""
        deadline = time.monotonic() + timeout
        seen = self.out if stream == "out" else self.err
        if any(line.startswith(text) for line in seen):
            return
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared in {stream}:\n" + "\n".join(seen)
            try:
                name, line = self._lines.get(timeout=min(left, 0.2))
            except queue.Empty:
                ended = self.proc.poll() is not None and not any(t.is_alive() for t in self._readers)
                assert not (ended and self._lines.empty()), \
                    f"doit ended before {text!r}:\n" + "\n".join(self.out + self.err)
                continue
            if name == stream and line.startswith(text):
                return

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout=timeout)
        for t in self._readers:
            t.join(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return code

    @property
    def ran(self) -> list[str]:
        """Tasks whose actions started, in order (doit prints '.  name' for them)."""
        return [line.split()[1] for line in self.out if line.startswith(".  ")]

    @property
    def stderr(self) -> str:
        return "\n".join(self.err)


def ran_of(stdout: str) -> set[str]:
    return {line.split()[1] for line in stdout.splitlines() if line.startswith(".  ")}


def snapshot(root: Path, sub: str = "build/lib") -> dict[str, bytes]:
    """Every file under `root/sub` (relative path -> bytes), caches left out."""
    base = root / sub
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def strays(root: Path) -> list[str]:
    """Temporary files an interrupted writer left under build/."""
    return sorted(p.relative_to(root).as_posix() for p in (root / "build").rglob("*")
                  if p.is_file() and STRAY.match(p.name))
