"""griffe: load a package's API, decode a saved snapshot, find breaking changes.

Checked against griffe 1.x and 2.4: a tree decoded with `griffe.json_decoder` has no
modules collection, which alias resolution needs, and griffe offers no public setter,
so the private `_modules_collection` is set here and nowhere else.
tests/tasks/test_tools.py fails if that changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHECKED = ">=1.0,<3"


def load(package: str, lib: Path) -> Any:
    import griffe

    return griffe.load(package, search_paths=[str(lib)], resolve_aliases=False)


def decode(package: str, data: Any) -> Any:
    """A package tree from its JSON snapshot, ready to compare."""
    import griffe

    tree = json.loads(json.dumps(data), object_hook=griffe.json_decoder)
    collection = griffe.ModulesCollection()
    collection.set_member(package, tree)
    tree._modules_collection = collection
    return tree


def breaking(old: Any, new: Any) -> Iterator[Any]:
    import griffe

    yield from griffe.find_breaking_changes(old, new)
