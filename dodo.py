"""The TinyTorch build: `doit` runs the development loop; `doit list --all -s` shows every task.

The course is declared in modules.yaml; the tasks are made from it in tasks/pipeline.py.
"""

from pathlib import Path
from types import MethodType

from tasks.guards import install_guards
from tasks.pipeline import Pipeline, Release
from tasks.report import graph_task, report_task
from tasks.reporter import StatusReporter

ROOT = Path(__file__).resolve().parent

DOIT_CONFIG = {
    "minversion": "0.36.0",
    "backend": "sqlite3",
    "dep_file": "build/.doit.db",
    "check_file_uptodate": "md5",
    "continue": True,
    "default_tasks": ["validate", "notebooks", "init", "integration", "system"],
    "reporter": StatusReporter,  # doit's lines + failures led by file:line and a hint + a module table
}

# one run at a time per tree; SIGTERM like Ctrl-C; a missing or corrupt state DB rebuilt (tasks/guards.py)
install_guards(ROOT, DOIT_CONFIG["dep_file"])
_pipeline = Pipeline.load(ROOT)

task_export = _pipeline.task_export
task_notebooks = _pipeline.task_notebooks
task_check = _pipeline.task_check
task_test = _pipeline.task_test
task_validate = _pipeline.task_validate
task_init = _pipeline.task_init
task_integration = _pipeline.task_integration
task_system = _pipeline.task_system

_release = Release(_pipeline)
task_api = _release.task_api
task_wheel = _release.task_wheel
task__stash_wheel = _release.task__stash_wheel
task_verify = _release.task_verify

# not default tasks: they read the results on disk and re-run nothing (tasks/report.py)
task_report = MethodType(report_task, _pipeline)
task_graph = MethodType(graph_task, _pipeline)
