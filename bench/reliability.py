"""Measured bounds of the sandbox (issue 15): `.venv/bin/python -m bench.reliability`."""

import resource
import subprocess
import tempfile
import time
from pathlib import Path

from tasks.sandbox.spawn import run_child


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def repo(body: str) -> Path:
    root = Path(tempfile.mkdtemp())
    (root / "build/lib/pkg").mkdir(parents=True)
    (root / "build/lib/pkg/m.py").write_text(body)
    return root

IMPORT = ["import", "--lib", "build/lib", "--target", "pkg.m", "--stub", "pkg"]
for how in ("os.write(1, block)", "sys.stdout.write(block.decode())"):
    root = repo(f"import os, sys\nblock = b'x' * (1 << 20)\nfor _ in range(2048):\n    {how}\n")
    before = rss_mb()
    t = time.monotonic()
    out = run_child(root, IMPORT, 600)
    print(f"2 GB via {how}: {time.monotonic()-t:.1f} s, parent peak RSS {before:.0f} -> {rss_mb():.0f} MB, "
          f"spill files {[p.stat().st_size for p in (root/'build/output').glob('*')] if (root/'build/output').exists() else []}, "
          f"message head: {out.output[:120]!r}")
root = repo("import subprocess, time\nsubprocess.Popen(['sleep', '600'], start_new_session=True)\nwhile True:\n    time.sleep(0.1)\n")
t = time.monotonic()
out = run_child(root, IMPORT, 10)
print(f"setsid daemon at import, hanging, timeout 10 s: stopped after {time.monotonic()-t:.2f} s (timed_out={out.timed_out})")
root = repo("import subprocess\nsubprocess.Popen(['sleep', '600'], start_new_session=True)\n")
t = time.monotonic()
out = run_child(root, IMPORT, 10)
print(f"setsid daemon at import, returning, timeout 10 s: stopped after {time.monotonic()-t:.2f} s")
r = subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True, text=True)
print("sleep 600 daemons left:", r.stdout.split())

# the build records checked around every sandbox child (tasks.sandbox.keep.Records), at a 1000-module course's size
from tasks.sandbox.keep import Records  # noqa: E402

root = Path(tempfile.mkdtemp())
for kind in ("check", "test", "integration"):
    (root / "build/results" / kind).mkdir(parents=True)
    for i in range(1000):
        (root / "build/results" / kind / f"m{i}.json").write_text("{}")
(root / "build/state/passed").mkdir(parents=True)
for i in range(3000):
    (root / "build/state/passed" / f"t{i}.json").write_text("{}")
records = Records(root)
t = time.perf_counter()
records.snapshot()
mid = time.perf_counter()
records.check()
print(f"build records guard, 6000 records: snapshot {(mid - t) * 1000:.1f} ms + check "
      f"{(time.perf_counter() - mid) * 1000:.1f} ms per child")
