"""The child side of the sandbox: runs student code in a fresh process and writes a JSON result.

Run as `python -m tasks.sandbox.runner import|pytest ...` by `tasks.sandbox.spawn`. Only the
standard library is imported up front; the result file is the only channel back.

Package isolation: with `--stub`, the package and its subpackages are put in
`sys.modules` as bare namespaces, so importing `tinytorch.core.layers` loads
layers and what it imports, and NOT `tinytorch/__init__.py` (which would import
every module). A module is thereby checked and tested against its declared
dependencies only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any


def install_stubs(lib: Path, packages: list[str]) -> None:
    """Make `packages` (dotted) importable namespaces without running their `__init__.py`."""
    for dotted in sorted(packages, key=lambda p: p.count(".")):
        mod = types.ModuleType(dotted)
        mod.__path__ = [str(lib.joinpath(*dotted.split(".")))]
        mod.__package__ = dotted
        sys.modules[dotted] = mod
        if "." in dotted:
            parent, child = dotted.rsplit(".", 1)
            setattr(sys.modules[parent], child, mod)


def _frames(tb: Any, lib: Path) -> list[list[Any]]:
    """Traceback frames as [file, line, function, text], innermost last."""
    return [[f.filename, f.lineno, f.name, (f.line or "").strip()] for f in traceback.extract_tb(tb)]


def _stack_frames() -> list[list[Any]]:
    return [[f.filename, f.lineno, f.name, (f.line or "").strip()] for f in traceback.extract_stack()[:-2]]


class _Recorder(io.TextIOBase):
    """Captures output written at import time, and where the first write came from."""

    def __init__(self) -> None:
        self.text = ""
        self.where: list[list[Any]] = []

    def write(self, s: str) -> int:
        if s and not self.where:
            self.where = _stack_frames()
        self.text += s
        return len(s)


def run_import(target: str, lib: Path) -> dict[str, Any]:
    """Import `target` as a library user would; report exceptions, exits and output."""
    out, err = _Recorder(), _Recorder()
    real = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    start = time.perf_counter()
    result: dict[str, Any] = {"status": "ok"}
    try:
        __import__(target)
    except SystemExit as exc:
        result = {"status": "exit", "code": str(exc.code), "frames": _frames(exc.__traceback__, lib)}
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                  "frames": _frames(exc.__traceback__, lib)}
    finally:
        sys.stdout, sys.stderr = real
    result["seconds"] = round(time.perf_counter() - start, 4)
    if result["status"] == "ok" and (out.text or err.text):
        rec = out if out.text else err
        result = {"status": "printed", "output": rec.text[:2000], "frames": rec.where, **result}
        result["status"] = "printed"
    return result


class _Outcomes:
    """A pytest plugin that records each test's outcome."""

    def __init__(self) -> None:
        self.passed = self.failed = self.errors = self.skipped = 0
        self.failures: list[dict[str, Any]] = []
        self.durations: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" or report.outcome != "passed":
            self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration
        if report.when == "call":
            if report.passed:
                self.passed += 1
            elif report.skipped:
                self.skipped += 1
            else:
                self.failed += 1
                self.failures.append(_failure(report))
        elif report.failed:
            self.errors += 1
            self.failures.append(_failure(report))
        elif report.skipped and report.when == "setup":
            self.skipped += 1

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.errors += 1
            self.failures.append(_failure(report))


def _failure(report: Any) -> dict[str, Any]:
    longrepr = getattr(report, "longrepr", None)
    where: list[Any] = []
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        where = [crash.path, crash.lineno, crash.message]
    entries: list[list[Any]] = []
    chain = getattr(longrepr, "chain", None)
    if chain:
        for tb, _, _ in chain:
            for entry in getattr(tb, "reprentries", []):
                loc = getattr(entry, "reprfileloc", None)
                if loc is not None:
                    entries.append([loc.path, loc.lineno, loc.message])
    text = str(longrepr) if longrepr is not None else ""
    if not where and not entries and text:
        # a collection error (e.g. an ImportError in the test file) comes as plain text:
        # take its frames ('path:line: in name') and its error line ('E   ...')
        for m in _FRAME.finditer(text):
            entries.append([m.group("path"), int(m.group("line")), m.group("name")])
        error = next((ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")), "")
        if entries:
            where = [entries[-1][0], entries[-1][1], error or "error while collecting the tests"]
    return {"test": report.nodeid, "crash": where, "entries": entries, "text": text[-4000:]}


_FRAME = re.compile(r"^(?P<path>[^\s:][^:]*\.py):(?P<line>\d+): in (?P<name>.+)$", re.MULTILINE)


def run_pytest(args: list[str], cover: str | None, data_file: str | None) -> dict[str, Any]:
    """Run pytest in this process (optionally under coverage of one file)."""
    import pytest

    cov = None
    if cover:
        import coverage

        cov = coverage.Coverage(data_file=data_file, include=[cover], config_file=False)
        cov.start()
    plugin = _Outcomes()
    start = time.perf_counter()
    code = int(pytest.main(args, plugins=[plugin]))
    seconds = time.perf_counter() - start
    result: dict[str, Any] = {
        "exit_code": code, "passed": plugin.passed, "failed": plugin.failed, "errors": plugin.errors,
        "skipped": plugin.skipped, "failures": plugin.failures, "seconds": round(seconds, 3),
        "durations": {k: round(v, 4) for k, v in plugin.durations.items()},
    }
    if cov is not None:
        cov.stop()
        cov.save()
        result["coverage"] = _coverage(cov, cover or "")
    return result


def _coverage(cov: Any, path: str) -> dict[str, Any]:
    import coverage

    try:
        _, statements, _, missing, _ = cov.analysis2(path)
    except coverage.CoverageException:
        return {"percent": 0.0, "statements": 0, "missing": []}
    total = len(statements)
    percent = 100.0 * (total - len(missing)) / total if total else 100.0
    executed = sorted(set(statements) - set(missing))  # what `doit student` proves its regions reached by
    return {"percent": round(percent, 2), "statements": total, "missing": list(missing), "executed": executed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.sandbox.runner")
    parser.add_argument("mode", choices=["import", "pytest"])
    parser.add_argument("--lib", required=True)
    parser.add_argument("--stub", action="append", default=[])
    parser.add_argument("--result", required=True)
    parser.add_argument("--target")
    parser.add_argument("--cover")
    parser.add_argument("--data-file")
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    ns = parser.parse_args(argv[:split])
    rest = argv[split + 1:]
    lib = Path(ns.lib).resolve()
    sys.path.insert(0, str(lib))
    if ns.stub:
        install_stubs(lib, ns.stub)
    if ns.mode == "import":
        result = run_import(ns.target, lib)
    else:
        result = run_pytest(rest, ns.cover, ns.data_file)
    tmp = f"{ns.result}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, ns.result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
