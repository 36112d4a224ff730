"""The TinyTorch build: `doit` runs the development loop; `doit list --all -s` shows every task.

The course is declared in modules.yaml; the tasks are made from it in tasks/plan/.
"""

from pathlib import Path

from tasks.core.layout import STATE_DB
from tasks.plan import Plan
from tasks.reports.console import StatusReporter
from tasks.safety.guards import install_guards

ROOT = Path(__file__).resolve().parent

DOIT_CONFIG = {
    "minversion": "0.36.0",
    "backend": "sqlite3",
    "dep_file": STATE_DB,
    "check_file_uptodate": "md5",
    "continue": True,
    "default_tasks": ["validate", "notebooks", "init", "integration", "system"],
    "reporter": StatusReporter,  # doit's lines + failures led by file:line and a hint + a module table
}

# one run at a time per tree; SIGTERM like Ctrl-C; a missing or corrupt state DB rebuilt (tasks/safety/)
install_guards(ROOT, STATE_DB)
_plan = Plan.load(ROOT)

# the development loop (tasks/plan/pipeline.py)
task_export = _plan.pipeline.task_export
task_notebooks = _plan.pipeline.task_notebooks
task_check = _plan.pipeline.task_check
task_test = _plan.pipeline.task_test
task_validate = _plan.pipeline.task_validate
task_init = _plan.pipeline.task_init
task_integration = _plan.pipeline.task_integration
task_system = _plan.pipeline.task_system

# the release (tasks/plan/release.py)
task_api = _plan.release.task_api
task_wheel = _plan.release.task_wheel
task__stash_wheel = _plan.release.task__stash_wheel
task_verify = _plan.release.task_verify

# the student edition, proven; `doit student --update PATH` brings it to a student (tasks/plan/student.py)
task_student = _plan.student.task_student

# reports: they read the results on disk and re-run nothing (tasks/plan/reports.py)
task_report = _plan.reports.task_report
task_graph = _plan.reports.task_graph
