"""The build system: a declarative, incremental pipeline on doit.

Layers, lowest first; a module imports only from its own layer or lower ones
(tests/tasks/test_architecture.py checks it):

  core/     errors, output (levels, colour), atomic writes, layout (every build/ path
            and task name), codeversion (a step's code digest, from its imports), text,
            places (how a source place prints, cells of a notebook included)
  tools/    one adapter per other tool's internals, with the versions it was checked
            against: doitdb (state DB), doitstate (content records of passed tasks), doitcmd
            (command, saving), doitorder (waiting tasks woken in task-list order), nbdev,
            percent (jupytext's reader), griffe
  model/    yamlpos -> fields (the table of manifest keys, records) -> manifest (validated)
            with extras (public policy, package files) and grading; graph
  sandbox/  spawn (parent: bounded waits and output, tree kill, limits) -> runner (child:
            import, pytest); warm (a forking worker), proc (process tree), keep (course files
            restored if student code changes them)
  steps/    sources, regions (solution/hidden markers) -> export (nbdev), provides ->
            checks, testing (testconfig: what decides a result), suites -> assemble;
            notebooks (jupytext pairing)
  release/  api snapshot and compatibility, wheel, verify
  student/  the student edition: tree (stubs, visible tests, record, README) -> proofs
            (builds, reached, leaks) -> edition (atomic tree, archive); progress; update
  reports/  status (the one status model) -> schema, pages, picture, report; console
            (doit's reporter: reads status only)
  safety/   lock, interrupts, recovery, guards (what dodo.py sets up before doit runs), disk (a full disk)
  grade/    `doit grade`: jobs (records) -> intake (submissions, safely) -> isolate, jail
            (scratch tree, limits, namespaces) -> agent (the run inside, signed result) ->
            verdict, worker (trusted side) -> executors (pool, Dask), gradebook
  plan/     task creators: pipeline, release, student, reports, grade, with actions (the lazy action
            helper); Plan bundles them for dodo.py
  watch/    `doit watch`, a doit command plugin: watchfiles -> reload the task list -> doit's
            engine in-process; its reporter prints the edited module's verdict first

Data flows one way: modules.yaml -> model.Manifest -> plan (task dicts with plain-data
jobs) -> doit -> step actions -> files under build/ -> reports.status -> pages, console.
"""

LAYERS = ("core", "tools", "model", "sandbox", "steps", "release", "student", "reports", "safety", "grade", "plan",
          "watch")
