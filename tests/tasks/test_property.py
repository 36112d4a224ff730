"""SPEC 5 as a property: after any seeded sequence of edits (and interrupted runs), `doit` converges.

Each step makes one random edit to the sample course (prose, a non-exported cell,
exported code, a unit or integration test, one manifest entry, a dependency, a
module added or removed); sometimes a `doit` command line is then stopped part
way (Ctrl-C, SIGTERM or kill -9). Then a full `doit` runs, and:

- build/lib is byte-identical to a clean build of the same sources;
- every task that ran is in the SPEC 5 closure of what changed since the last
  complete run (a stopped run's changes stay pending).

PROPERTY_SEED and PROPERTY_STEPS reproduce or lengthen a run.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from conftest import Course, make_course
from runs import Live, ran_of, snapshot, strays

SEED = int(os.environ.get("PROPERTY_SEED", "6061"))
STEPS = int(os.environ.get("PROPERTY_STEPS", "45"))
STEPS_OF = ("export", "notebooks", "check", "test")
SOURCES = {"core": "modules/01_core/core.py", "ops": "modules/02_ops/ops.py", "model": "modules/03_model/model.py",
           "leaf": "modules/04_leaf/leaf.py", "extra": "modules/05_extra/extra.py"}
# what each integration/system test file imports (directly); None: the whole package
SUITES: dict[str, set[str] | None] = {"integration:ops_model": {"core", "ops", "model"},
                                      "integration:leaf_core": {"core", "leaf"}, "system:package": None}

EXTRA = '''# %% [markdown]
# # Extra
# > A module added part way through the course.

# %%
#| default_exp core.extra

# %%
#| export
from minitorch.core.core import Value


def _triple(v: Value) -> Value:
    """3 * v"""
    return Value(3 * v.x)

# %%
assert _triple(Value(1)).x == 3
'''
EXTRA_TEST = "from minitorch.core.core import Value\nfrom minitorch.core.extra import _triple\n\n\n" \
             "def test_triple():\n    assert _triple(Value(2)).x == 6.0\n"


@dataclass
class Course5:
    """The course's declared shape, from which modules.yaml is written."""

    deps: dict[str, list[str]] = field(default_factory=lambda: {
        "core": [], "ops": ["core"], "model": ["core", "ops"], "leaf": ["core"]})
    timeouts: dict[str, int] = field(default_factory=dict)

    def manifest(self) -> str:
        lines = ["package:", "  name: minitorch", "  lib: build/lib", "", "defaults:", "  timeout: 60", "", "modules:"]
        for name, deps in self.deps.items():
            lines += [f"  - name: {name}", f"    source: {SOURCES[name]}", f"    target: minitorch.core.{name}",
                      f"    depends: [{', '.join(deps)}]"]
            if name in self.timeouts:
                lines.append(f"    timeout: {self.timeouts[name]}")
        return "\n".join(lines) + "\n"

    def dependants(self, name: str) -> set[str]:
        """`name` and every module that depends on it, transitively."""
        found = {name}
        while True:
            more = {m for m, deps in self.deps.items() if set(deps) & found} - found
            if not more:
                return found
            found |= more

    def reach(self, names: set[str]) -> set[str]:
        found = set(names)
        while True:
            more = {d for m in found for d in self.deps.get(m, [])} - found
            if not more:
                return found
            found |= more

    def suites_reaching(self, modules: set[str]) -> set[str]:
        return {s for s, imports in SUITES.items() if imports is None or self.reach(imports) & modules}


class Walk:
    """One random walk over a course copy, with the closure of what each step may re-run."""

    def __init__(self, course: Course, rng: random.Random, refs: Path) -> None:
        self.course, self.rng, self.refs = course, rng, refs
        self.shape = Course5()
        self.n = 0
        self.cache: dict[str, dict[str, bytes]] = {}
        self.log: list[str] = []

    # -- edits: each returns the tasks it may make run ---------------------------------
    def prose(self, m: str) -> set[str]:
        text = self.course.read(SOURCES[m])
        line = next(x for x in text.splitlines() if x.startswith("# > "))
        self.course.write(SOURCES[m], text.replace(line, f"{line}\n#\n# Note {self.n}.", 1))
        return {f"export:{m}", f"notebooks:{m}"}

    def demo(self, m: str) -> set[str]:
        self.course.write(SOURCES[m], self.course.read(SOURCES[m]) + f"# demo note {self.n}\n")
        return {f"export:{m}", f"notebooks:{m}"}

    def code(self, m: str) -> set[str]:
        text = self.course.read(SOURCES[m])
        self.course.write(SOURCES[m], re.sub(r'"""([^"]*?)( r\d+)?"""', rf'"""\1 r{self.n}"""', text, count=1))
        affected = self.shape.dependants(m)
        return {f"export:{m}", f"notebooks:{m}", "init"} | {f"{s}:{d}" for s in ("check", "test") for d in affected} \
            | self.shape.suites_reaching(affected)

    def unit_test(self, m: str) -> set[str]:
        rel = f"tests/unit/test_{m}.py"
        self.course.write(rel, self.course.read(rel) + f"\n\ndef test_step_{self.n}():\n    assert {self.n} == {self.n}\n")
        return {f"test:{m}"}

    def suite_test(self, m: str) -> set[str]:
        name = self.rng.choice(["ops_model", "leaf_core"])
        rel = f"tests/integration/test_{name}.py"
        self.course.write(rel, self.course.read(rel) + f"\n\ndef test_step_{self.n}():\n    assert True\n")
        return {f"integration:{name}"}

    def timeout(self, m: str) -> set[str]:
        self.shape.timeouts[m] = self.rng.choice([30, 45, 90])
        self.course.write("modules.yaml", self.shape.manifest())
        return {f"{s}:{m}" for s in STEPS_OF}

    def depends(self, m: str) -> set[str]:
        before = self.shape.dependants("leaf")
        deps = self.shape.deps["leaf"]
        self.shape.deps["leaf"] = ["core"] if "ops" in deps else ["core", "ops"]
        self.course.write("modules.yaml", self.shape.manifest())
        affected = before | self.shape.dependants("leaf")
        return {f"{s}:{d}" for s in STEPS_OF for d in affected} | self.shape.suites_reaching(affected | {"ops"})

    def add_or_remove(self, m: str) -> set[str]:
        if "extra" in self.shape.deps:
            del self.shape.deps["extra"]
            self.shape.timeouts.pop("extra", None)
            self.course.write("modules.yaml", self.shape.manifest())
            return {"init", "system:package"}
        if not self.course.path(SOURCES["extra"]).exists():
            self.course.write(SOURCES["extra"], EXTRA)
            self.course.write("tests/unit/test_extra.py", EXTRA_TEST)
        self.shape.deps["extra"] = ["core"]
        self.course.write("modules.yaml", self.shape.manifest())
        return {f"{s}:extra" for s in STEPS_OF} | {"init", "system:package"}

    EDITS = {"prose": 2, "demo": 1, "code": 4, "unit_test": 2, "suite_test": 1, "timeout": 1, "depends": 1,
             "add_or_remove": 1}

    # -- runs ------------------------------------------------------------------------
    def clean_lib(self) -> dict[str, bytes]:
        """build/lib of a clean build of the current sources (cached by their content)."""
        digest = hashlib.sha256()
        for p in sorted(self.course.root.rglob("*")):
            rel = p.relative_to(self.course.root)
            if p.is_file() and rel.parts[0] not in ("build",) and "__pycache__" not in rel.parts:
                digest.update(rel.as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
        key = digest.hexdigest()
        if key not in self.cache:
            ref = Course(self.refs / key[:12])
            shutil.copytree(self.course.root, ref.root, ignore=shutil.ignore_patterns("build", "__pycache__"))
            run = ref.doit("export", "init")
            assert run.code == 0, run
            self.cache[key] = snapshot(ref.root)
        return self.cache[key]

    def interrupted_run(self) -> str:
        how = self.rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
        delay = self.rng.uniform(0.3, 2.5)
        live = Live(self.course)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and live.proc.poll() is None:
            time.sleep(0.02)
        live.proc.send_signal(how)
        live.finish()
        assert "Traceback" not in live.stderr, live.stderr
        return f"{signal.Signals(how).name}@{delay:.1f}s"

    def step(self, pending: set[str]) -> tuple[set[str], str]:
        self.n += 1
        kind = self.rng.choices(list(self.EDITS), weights=list(self.EDITS.values()))[0]
        m = self.rng.choice(list(self.shape.deps))
        allowed = pending | getattr(self, kind)(m)
        note = f"{self.n}: {kind}({'leaf' if kind == 'depends' else '' if kind == 'add_or_remove' else m})"
        if self.rng.random() < 0.25:
            return allowed, note + " + " + self.interrupted_run()
        return allowed, note


def test_random_edits_converge_to_a_clean_build(tmp_path: Path) -> None:
    start = time.monotonic()
    rng = random.Random(SEED)
    course = make_course(tmp_path)
    walk = Walk(course, rng, tmp_path / "refs")
    course.write("modules.yaml", walk.shape.manifest())
    assert course.doit().code == 0
    pending: set[str] = set()
    after_interrupt = False
    for _ in range(STEPS):
        pending, note = walk.step(pending)
        if "@" in note:  # a stopped run: its work stays pending; the next run is the real command line
            after_interrupt = True
            pending, more = walk.step(pending)
            note += "; " + more
        if after_interrupt:
            result = course.cli()
            code, ran, err = result.returncode, ran_of(result.stdout), result.stderr
            assert "edited by hand" not in err, f"seed {SEED}, {note}: {err}"
        else:
            run = course.doit()
            code, ran, err = run.code, run.ran, ""
        walk.log.append(f"{note} -> ran {sorted(ran)}")
        trail = "\n".join(walk.log)
        assert code == 0, f"seed {SEED}:\n{trail}\n{err}"
        assert ran <= pending, f"seed {SEED}: ran outside the closure: {sorted(ran - pending)}\n{trail}"
        assert snapshot(course.root) == walk.clean_lib(), f"seed {SEED}: build/lib differs from a clean build\n{trail}"
        assert strays(course.root) == [], f"seed {SEED}: {strays(course.root)}\n{trail}"
        pending, after_interrupt = set(), False
    print("\n".join(walk.log))
    print(f"property: seed {SEED}, {walk.n} edits in {STEPS} checked runs, {time.monotonic() - start:.0f} s")
