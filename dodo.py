"""The TinyTorch build: `doit` runs the development loop; `doit list --all -s` shows every task.

The course is declared in modules.yaml; the tasks are made from it in tasks/pipeline.py.
"""

from pathlib import Path

from tasks.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent
(ROOT / "build").mkdir(exist_ok=True)

DOIT_CONFIG = {
    "minversion": "0.36.0",
    "backend": "sqlite3",
    "dep_file": "build/.doit.db",
    "check_file_uptodate": "md5",
    "continue": True,
    "default_tasks": ["validate", "notebooks", "init", "integration", "system"],
}

_pipeline = Pipeline.load(ROOT)

task_export = _pipeline.task_export
task_notebooks = _pipeline.task_notebooks
task_check = _pipeline.task_check
task_test = _pipeline.task_test
task_validate = _pipeline.task_validate
task_init = _pipeline.task_init
task_integration = _pipeline.task_integration
task_system = _pipeline.task_system
