"""Seeded fuzzing kept in the suite (issue 15): manifests and sources never end in a build-system traceback.

Both run in-process (the manifest reader, the export step), so hundreds of cases stay fast.
`FUZZ_SCALE=10` runs ten times as many; `FUZZ_SEED` picks another seed. A failure prints
the seed and the case number, so it can be replayed.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import pytest

from tasks.core.errors import BuildError, ManifestError
from tasks.model.manifest import read_manifest
from tasks.steps.export import ExportJob, export

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "course"
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
SEED = int(os.environ.get("FUZZ_SEED", "15"))
MANIFEST_CASES = int(300 * SCALE)
SOURCE_CASES = int(200 * SCALE)
PLACE = re.compile(r"^modules\.yaml:\d+:\d+: \S")

# what an adversarial run found effective, plus plain noise
MANIFEST_PIECES = [
    "\x00", "\x01", "\x07", "\x1b", "\t", "\r", "\ufeff", "\xe9", "!!int ", "!!float ", "!!timestamp ", "!!bool ",
    "!!str ", "!!binary ", "!!python/object:os.system ", "&a ", "*a", "<<: *a", ".inf", "-.inf", ".nan", "1e400",
    "100000000", "-1", "0", "~", "null", "yes", "[", "]", "{", "}", ": ", "- ", "? ", "---\n", "...\n", "'", '"',
    "#", "|\n", ">\n", "x" * 300, "../", "/", "~/", "all", "depends: all", "timeout: .nan", "coverage: .nan",
    "memory: 1", "cpu: -3", "name: core", "target: minitorch", "source: modules.yaml", "  ", "\n", "%YAML 1.1\n",
]


def _mutate_manifest(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(6)
        i = rng.randrange(len(lines))
        if op == 0:  # insert a piece inside a line
            at = rng.randint(0, len(lines[i]))
            lines[i] = lines[i][:at] + rng.choice(MANIFEST_PIECES) + lines[i][at:]
        elif op == 1 and len(lines) > 1:
            del lines[i]
        elif op == 2:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 3:  # replace a value
            if ":" in lines[i]:
                key = lines[i].split(":", 1)[0]
                lines[i] = f"{key}: {rng.choice(MANIFEST_PIECES)}"
        elif op == 4:  # swap two lines
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        else:  # re-indent
            lines[i] = " " * rng.randint(0, 6) + lines[i].lstrip()
    return "\n".join(lines)


def test_manifest_mutations_end_in_success_or_a_placed_message(tmp_path: Path) -> None:
    root = tmp_path / "course"
    shutil.copytree(FIXTURE, root)
    (root / "build").mkdir()
    base = (root / "modules.yaml").read_text(encoding="utf-8")
    rng = random.Random(SEED)
    outcomes = {"accepted": 0, "refused": 0}
    for case in range(MANIFEST_CASES):
        text = _mutate_manifest(base, rng)
        raw = text.encode("utf-8", "surrogateescape")
        if rng.random() < 0.05:  # bytes that are not UTF-8
            at = rng.randrange(len(raw))
            raw = raw[:at] + bytes([rng.randrange(0x80, 0x100)]) + raw[at:]
        (root / "modules.yaml").write_bytes(raw)
        try:
            read_manifest(root)
        except ManifestError as exc:
            bad = [line for line in str(exc).splitlines() if not PLACE.match(line)]
            assert not bad, f"seed {SEED} case {case}: a message without its place: {bad}\n--- manifest:\n{text}"
            outcomes["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - exactly what the test is looking for
            pytest.fail(f"seed {SEED} case {case}: {type(exc).__name__}: {exc}\n--- manifest:\n{text}")
        else:
            outcomes["accepted"] += 1
    # the mutations are not all trivially fatal, nor all harmless
    assert outcomes["accepted"] > MANIFEST_CASES // 50 and outcomes["refused"] > MANIFEST_CASES // 2, outcomes


def test_a_refused_manifest_stops_doit_with_its_place(tmp_path: Path) -> None:
    """The end-to-end half: the real command line exits non-zero with the message and no traceback."""
    import subprocess
    import sys

    root = tmp_path / "course"
    shutil.copytree(FIXTURE, root)
    shutil.copy(Path(__file__).resolve().parents[2] / "dodo.py", root / "dodo.py")
    text = (root / "modules.yaml").read_text(encoding="utf-8").replace("timeout: 60", "timeout: .nan")
    (root / "modules.yaml").write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "doit", "list"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "modules.yaml:6:12: 'timeout' must be a finite number, got nan; write e.g. 'timeout: 60'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


SOURCE_PIECES = [
    "\x00", "\x0c", "\t", "\r", "\ufeff", "\u2028", "\\", "'''", '"""', "#|", "#| export", "#| exporti", "#|export",
    "#| default_exp core.ops", "#| default_exp", "#| export other.mod", "# %%", "# %% [markdown]", "import os",
    "from . import x", "from minitorch.core.model import y", "from minitorch.core.nowhere import z",
    "import numpy", "def f(:", "lambda", "    ", "async def g(): await x", "x = (", ")", "__all__ = ['q']",
    "if True:\n", "\n", "é", "𝔘", "# coding: latin-1", "yield", "return", "print('hi')", "raise SystemExit",
]


def _mutate_source(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        i = rng.randrange(len(lines))
        if op == 0:
            at = rng.randint(0, len(lines[i]))
            lines[i] = lines[i][:at] + rng.choice(SOURCE_PIECES) + lines[i][at:]
        elif op == 1 and len(lines) > 1:
            del lines[i]
        elif op == 2:
            lines.insert(i, rng.choice(SOURCE_PIECES))
        else:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def test_source_mutations_never_end_in_a_build_system_traceback(tmp_path: Path) -> None:
    root = tmp_path / "course"
    shutil.copytree(FIXTURE, root)
    rel = "modules/02_ops/ops.py"
    base = (root / rel).read_text(encoding="utf-8")
    job = ExportJob(root=str(root), name="ops", source=rel, target="minitorch.core.ops", lib="build/lib",
                    package="minitorch", depends={"core": "minitorch.core.core"},
                    targets={"minitorch.core.core": "core", "minitorch.core.ops": "ops",
                             "minitorch.core.model": "model", "minitorch.core.leaf": "leaf"})
    rng = random.Random(SEED)
    outcomes = {"exported": 0, "refused": 0}
    for case in range(SOURCE_CASES):
        text = _mutate_source(base, rng)
        (root / rel).write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            export(job)
        except BuildError as exc:
            assert str(exc).startswith(rel), f"seed {SEED} case {case}: message without the source: {exc}"
            outcomes["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - exactly what the test is looking for
            pytest.fail(f"seed {SEED} case {case}: {type(exc).__name__}: {exc}\n--- source:\n{text}")
        else:
            outcomes["exported"] += 1
    assert outcomes["exported"] > SOURCE_CASES // 20 and outcomes["refused"] > SOURCE_CASES // 20, outcomes
