"""pytest's assertion rewriting, kept across runs: a test file unchanged since the last run is not parsed again.

Rewriting the asserts of a test file costs ~0.1-0.2 s of a unit-test child (more under the
coverage tracer). pytest caches the rewritten module as a pyc, but not when bytecode
writing is off, as it is in every sandboxed child (no `__pycache__` in the course tree).
`keep_rewrites(directory)` moves pytest's cache of rewritten test files to a folder under
build/ and writes the pyc pytest would have written. Only hash-checked pycs are
written (pytest 9 checks the source's hash, never its mtime), so an edit that keeps the size
within the same second can never reuse a stale rewrite; with an older pytest nothing is kept.

Checked against pytest 9.0-9.2: `_pytest.assertion.rewrite._rewrite_test(fn, config)` returns
(source hash, code), `_write_pyc(state, co, source_hash, pyc)`, `get_cache_dir`, `try_makedirs`,
`PYC_TAIL`, `assertstate_key`. tests/tasks/test_tools.py fails if they change.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

CHECKED = ">=9.0,<10"
NEEDED = ("_rewrite_test", "_write_pyc", "get_cache_dir", "try_makedirs", "PYC_TAIL", "assertstate_key")


def keep_rewrites(directory: str | Path) -> bool:
    """Have pytest keep rewritten test modules in `directory`, keyed by content; False when this pytest cannot."""
    try:
        from _pytest.assertion import rewrite
    except ImportError:
        return False
    if not all(hasattr(rewrite, name) for name in NEEDED):
        return False
    original = rewrite._rewrite_test

    def rewrite_and_keep(fn: Path, config: Any) -> tuple[Any, Any]:
        source_hash, co = original(fn, config)
        # bytes: pytest >= 9's source hash (checked on read); an os.stat_result (pytest 8) is never written
        if isinstance(source_hash, bytes) and sys.dont_write_bytecode:
            cache = rewrite.get_cache_dir(fn)
            if rewrite.try_makedirs(cache):
                state = config.stash[rewrite.assertstate_key]
                rewrite._write_pyc(state, co, source_hash, cache / (fn.name[:-3] + rewrite.PYC_TAIL))
        return source_hash, co

    def cache_dir(file_path: Path) -> Path:
        # as pytest does for sys.pycache_prefix; that setting itself would move every module's bytecode
        return Path(directory).joinpath(*Path(file_path).resolve().parts[1:-1])

    rewrite.get_cache_dir = cache_dir
    rewrite._rewrite_test = rewrite_and_keep
    return True
