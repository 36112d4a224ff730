"""The layout of build/ and the names of tasks: the one module that spells either.

Every generated path is a constant or a function here, relative to the repository
root and written with '/', as doit's file_dep and targets want them; `at(root, rel)`
turns one into a Path. Task names are made by `task()` and read back by `split()`.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

BUILD = "build"
DEFAULT_LIB = f"{BUILD}/lib"  # where the package is generated unless the manifest says otherwise
STATE_DB = f"{BUILD}/.doit.db"  # doit's sqlite3 state
LOCK = f"{BUILD}/.lock"  # one run at a time (tasks.safety.lock)
RESERVE = f"{BUILD}/.reserve"  # space kept free so that a run stopped by a full disk can still record itself (tasks.safety.disk)

STATE = f"{BUILD}/state"
EXPORT_RECORDS = f"{STATE}/exports"  # what each export wrote: digest and line map
MANIFEST_CACHE = f"{STATE}/manifest-yaml.marshal"
TEST_IMPORTS = f"{STATE}/test-imports.json"
STACKS = f"{STATE}/stacks"  # where a run that hangs was, dumped just before it is killed
PROVIDES = f"{STATE}/provides"  # per source: its package imports and the names it provides, keyed by content
PROVIDERS = f"{PROVIDES}/installed.json"  # which installed distribution provides which import name
PYTEST_REWRITES = f"{STATE}/pytest-rewrites"  # test files with their asserts rewritten, keyed by content
CODE_IMPORTS = f"{STATE}/code-imports.marshal"  # the build system's modules' imports (tasks.core.codeversion)
COVERAGE_PARSED = f"{STATE}/coverage-parsed"  # coverage's parse of each covered source, keyed by content
PYCACHE = f"{STATE}/pycache"  # the generated package's bytecode, hash-checked (tasks.sandbox.bytecode)
NEXT_RUNS = f"{STATE}/next-runs.json"  # which test run followed which, to stand by for it (tasks.sandbox.standby)
PASSED = f"{STATE}/passed"  # the content of each check/test/suite task's inputs at its last success
SYNC_RECORDS = f"{STATE}/notebooks"  # each source/paired-notebook pair's digests at its last sync

RESULTS = f"{BUILD}/results"
TIMINGS = f"{RESULTS}/timings.json"  # written by the console reporter
WHEEL_RESULT = f"{RESULTS}/wheel.json"
SMOKE_RESULT = f"{RESULTS}/smoke/smoke.json"
VERIFY_RESULT = f"{RESULTS}/verify.json"

BUILD_IGNORE = f"{BUILD}/.gitignore"  # build/ ignores itself, whatever the course's own .gitignore says
NOTEBOOKS = f"{BUILD}/notebooks"
NOTEBOOK_ASIDE = f"{NOTEBOOKS}/aside"  # a notebook's version kept when it and its source both changed
COVERAGE = f"{BUILD}/coverage"
REPORTS = f"{BUILD}/reports"
API = f"{BUILD}/api"
DIST = f"{BUILD}/dist"
RELEASE_NOTES = f"{DIST}/RELEASE_NOTES.md"
STAGE = f"{BUILD}/stage"  # the wheel is built from a copy of the package with a generated hatch config
PREVIOUS_WHEELS = f"{DIST}/previous"
VERIFY_VENV = f"{BUILD}/verify/venv"
WHEELHOUSE = f"{BUILD}/wheelhouse"
HAND_EDITS = f"{BUILD}/hand-edits"

RUNNER_PREFIX = "runner-"  # a sandbox child's result file: build/runner-*.json while it runs
SANDBOX_PREFIX = ".sandbox-"  # a sandbox child's private HOME and TMPDIR: build/.sandbox-*/ while it runs
OUTPUT_SPILL = f"{BUILD}/output"  # a child's output beyond what a message shows, size-capped
SOURCE_COPIES = f"{BUILD}/state/originals"  # copies of sources and tests, to restore what student code changed

# the result files the reports read, by folder under build/
REPORT_INPUTS = ("results/check", "results/test", "results/integration", "results/system", "state/exports", "dist")


def at(root: Path | str, rel: str) -> Path:
    """The absolute path of a layout path under `root`."""
    return Path(root).joinpath(*PurePosixPath(rel).parts)


def export_record(name: str) -> str:
    return f"{EXPORT_RECORDS}/{name}.json"


def provides_record(source: str) -> str:
    """The record of what `source` (a path relative to the root) imports and provides (tasks.steps.provides)."""
    return f"{PROVIDES}/{source.replace('/', '__')}.json"


def result(kind: str, name: str) -> str:
    """The JSON result of a check, test, integration or system run."""
    return f"{RESULTS}/{kind}/{name}.json"


def stack_dump(kind: str, name: str) -> str:
    return f"{STACKS}/{kind}-{name}.txt"


def passed_record(task_name: str) -> str:
    """The inputs' digests of a task at its last success (tasks.tools.doitstate)."""
    step, sub = split(task_name)
    return f"{PASSED}/{step}/{sub or step}.json"


def coverage_data(name: str) -> str:
    return f"{COVERAGE}/{name}.coverage"


def paired_notebook(source: str) -> str:
    """The notebook paired with a percent source: beside it, same name (not under build/: students edit it)."""
    return PurePosixPath(source).with_suffix(".ipynb").as_posix()


def sync_record(name: str) -> str:
    return f"{SYNC_RECORDS}/{name}.json"


def notebook_aside(name: str, stamp: str) -> str:
    return f"{NOTEBOOK_ASIDE}/{name}.{stamp}.ipynb"


def report_file(name: str) -> str:
    return f"{REPORTS}/{name}"


def api_file(name: str) -> str:
    return f"{API}/{name}"


def wheel_file(name: str) -> str:
    return f"{DIST}/{name}"


# -- task names ------------------------------------------------------------------------------------
MODULE_STEPS = ("export", "notebooks", "check", "test", "validate")  # one task per module
STAGES = ("export", "check", "test")  # the steps a module's state is made of
SUITE_KINDS = ("integration", "system")
PIPELINE_STEPS = (*MODULE_STEPS, "init", *SUITE_KINDS)


def task(step: str, name: str | None = None) -> str:
    """'test', 'ops' -> 'test:ops'; 'init' -> 'init'."""
    return f"{step}:{name}" if name else step


def split(name: str) -> tuple[str, str]:
    """'test:ops' -> ('test', 'ops'); 'init' -> ('init', '')."""
    step, _, sub = name.partition(":")
    return step, sub


def suite_name(file_stem: str) -> str:
    """The task name of an integration/system test file: test_xor.py -> 'xor'."""
    return file_stem.removeprefix("test_")


def suite_task(kind: str, file_stem: str) -> str:
    return task(kind, suite_name(file_stem))


# -- the student edition (tasks.student) ------------------------------------------------------------
STUDENT = f"{BUILD}/student"  # the student repository, written whole by `doit student`
STUDENT_RESULT = f"{RESULTS}/student.json"  # what the last `doit student` proved
STUDENT_RECORD = ".student/release.json"  # in a student tree: what the release shipped (stub digests)
STUDENT_ASIDE = ".student/replaced"  # in a student tree: files an update replaced, kept here first


def student_archive(package: str, version: str) -> str:
    return f"{DIST}/{package}-student-{version}.tar.gz"


def student_coverage(name: str) -> str:
    """Coverage of the reference module under its visible tests (proof (c) of `doit student`)."""
    return f"{COVERAGE}/student-{name}.coverage"


# -- grading a class (tasks.grade, tasks.plan.grade) ----------------------------------------------------
GRADES = f"{BUILD}/grades"  # the gradebook: the only place `doit grade` writes besides the scratch trees
GRADE_RESULTS = f"{GRADES}/results"  # one signed result per student, keyed by what it was graded from
GRADE_FEEDBACK = f"{GRADES}/feedback"
GRADE_SCRATCH = f"{GRADES}/scratch"  # one scratch tree per submission while it is graded
GRADEBOOK_FILES = ("grades.csv", "grades.json", "index.html")
GRADEBOOK_TASK = "~gradebook"  # a subtask name no student id can take (ids start with a letter or digit)


def gradebook_file(name: str) -> str:
    return f"{GRADES}/{name}"


def grade_result(student: str) -> str:
    return f"{GRADE_RESULTS}/{student}.json"


def grade_feedback(student: str) -> str:
    return f"{GRADE_FEEDBACK}/{student}.md"


def grade_scratch(student: str) -> str:
    return f"{GRADE_SCRATCH}/{student}"


def grade_task(student: str) -> str:
    """'alice' -> 'grade:alice' (the gradebook itself is `grade_task(GRADEBOOK_TASK)`)."""
    return task("grade", student)
