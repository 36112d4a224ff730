"""`doit verify`: install the wheel into a fresh virtual environment and run the smoke suite there.

The environment has no dev tooling and no view of the repository: the smoke
tests (tests/validation/) are copied to a temporary directory outside the repo and
run by a tiny harness with the environment's own interpreter (pytest is not
installed there on purpose). numpy comes from the package index, or, offline, from
a wheelhouse directory: build/wheelhouse/ or $COURSE_WHEELHOUSE ($TINYTORCH_WHEELHOUSE, its old name, still works).
Without smoke tests the package is only imported, and the result says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout
from tasks.core.errors import EnvironmentFault, ReleaseError, disk_full
from tasks.sandbox.spawn import trim

# run in the fresh environment: import everything, then every test_* function of every smoke file
HARNESS = """\
import importlib.util, pathlib, sys, traceback
exec("from {package} import *")
failed = 0
files = sorted(pathlib.Path(".").glob("test_*.py"))
for path in files:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in sorted(n for n in vars(mod) if n.startswith("test_")):
        try:
            getattr(mod, name)()
            print(f"PASSED {{path.name}}::{{name}}")
        except Exception:
            failed += 1
            print(f"FAILED {{path.name}}::{{name}}")
            traceback.print_exc()
if files:
    print(f"{{len(files)}} files, {{failed}} failed")
else:
    print("NO SMOKE TESTS: imported {package}; tests/validation/ has no test_*.py")
sys.exit(1 if failed else 0)
"""


WHEELHOUSE_ENV = "COURSE_WHEELHOUSE"
WHEELHOUSE_ENV_OLD = "TINYTORCH_WHEELHOUSE"  # the old name, kept as an alias


@dataclass(frozen=True)
class VerifyJob:
    root: str
    package: str
    smoke: str = "tests/validation"
    timeout: float = 600.0

    @property
    def env_dir(self) -> Path:
        return layout.at(self.root, layout.VERIFY_VENV)


def wheelhouse(root: Path) -> Path | None:
    """Where offline installs take their wheels from, if anywhere."""
    configured = os.environ.get(WHEELHOUSE_ENV) or os.environ.get(WHEELHOUSE_ENV_OLD)
    if configured:
        return Path(configured)
    local = layout.at(root, layout.WHEELHOUSE)
    return local if local.is_dir() and any(local.glob("*.whl")) else None


def _python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_"))}
    env["PYTHONNOUSERSITE"] = "1"
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _says_full(exc: BaseException) -> bool:
    """A full disk, raised here or reported by a child (ensurepip's output, pip's)?"""
    if disk_full(exc):
        return True
    out = getattr(exc, "output", None) or b""
    return disk_full(out.decode(errors="replace") if isinstance(out, bytes) else str(out))


def verify(job: VerifyJob, wheel: str | None = None) -> dict[str, Any]:
    """Fresh venv, install the wheel (and its declared dependencies only), run the smoke suite.

    On any failure the environment is deleted: a half-built venv must not keep a full disk full."""
    root = Path(job.root)
    wheels = [Path(wheel)] if wheel else sorted(layout.at(root, layout.DIST).glob("*.whl"))
    if not wheels:
        raise ReleaseError(f"{layout.DIST}: no wheel to verify; run `doit wheel` first")
    whl = wheels[-1]
    try:
        return _verify(job, root, whl)
    except BaseException as exc:
        shutil.rmtree(job.env_dir, ignore_errors=True)
        if _says_full(exc):
            msg = (f"{layout.VERIFY_VENV}/ could not be written: the disk is full (No space left on device) while "
                   f"{whl.name} was being verified in a fresh environment. The half-built environment was deleted. "
                   "Free some space on that disk, then run `doit verify` again.")
            raise EnvironmentFault(msg) from None
        raise


def _verify(job: VerifyJob, root: Path, whl: Path) -> dict[str, Any]:
    shutil.rmtree(job.env_dir, ignore_errors=True)
    venv.EnvBuilder(clear=True, with_pip=True, system_site_packages=False).create(job.env_dir)
    py = str(_python(job.env_dir))
    install = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(whl.resolve())]
    house = wheelhouse(root)
    if house is not None:
        install[4:4] = ["--no-index", "--find-links", str(house)]
    with tempfile.TemporaryDirectory(prefix=f"{job.package}-verify-") as tmp:
        work = Path(tmp)
        done = _run(install, work, job.timeout)
        if done.returncode != 0:
            where = f"wheelhouse {house}" if house else "the package index"
            raise ReleaseError(f"{whl.relative_to(root)}: pip could not install it into a fresh environment "
                               f"(dependencies from {where}):\n{trim(done.stdout + done.stderr)}")
        for test in sorted((root / job.smoke).glob("test_*.py")):
            shutil.copy(test, work / test.name)
        (work / "_harness.py").write_text(HARNESS.format(package=job.package), encoding="utf-8")
        ran = _run([py, "_harness.py"], work, job.timeout)
    output = ran.stdout + ran.stderr
    result = {"wheel": whl.name, "python": sys.version.split()[0], "returncode": ran.returncode,
              "passed": output.count("PASSED "), "failed": output.count("FAILED "),
              "offline": house is not None, "output": trim(output),
              "smoke_tests": "NO SMOKE TESTS" not in output}
    atomic.write_text(layout.at(root, layout.VERIFY_RESULT), json.dumps(result, indent=1))
    if ran.returncode != 0:
        hint = ""
        if "ModuleNotFoundError" in output:
            hint = ("\nA module is missing in the fresh environment: does the wheel's metadata declare every "
                    "runtime dependency ([project] dependencies in pyproject.toml)?")
        raise ReleaseError(f"{job.smoke}: the smoke suite failed against the installed {whl.name}:\n"
                           f"{trim(output)}{hint}")
    if not result["smoke_tests"]:
        from tasks.core import output as console

        console.emit("note", f"verify: {whl.name} installs and `import {job.package}` works; there were no smoke "
                             f"tests to run ({job.smoke}/ has no test_*.py)")
    return {"passed": result["passed"], "wheel": whl.relative_to(root).as_posix()}
