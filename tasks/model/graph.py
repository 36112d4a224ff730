"""The module dependency graph: pure functions over name -> dependencies."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence


def find_cycle(graph: Mapping[str, Sequence[str]]) -> tuple[str, ...] | None:
    """Return one cycle as `(a, b, ..., a)`, or None if the graph is acyclic."""
    sorter = graphlib.TopologicalSorter({k: [d for d in v if d in graph] for k, v in graph.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        # graphlib reports the cycle backwards (each node followed by a dependant)
        nodes = list(exc.args[1])
        return tuple(reversed(nodes))
    return None


def closure(graph: Mapping[str, Sequence[str]], roots: Iterable[str]) -> set[str]:
    """The roots and everything they depend on, transitively."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(graph.get(name, ()))
    return seen


def dependants(graph: Mapping[str, Sequence[str]], roots: Iterable[str]) -> set[str]:
    """The roots and everything that depends on them, transitively."""
    reverse: dict[str, list[str]] = {name: [] for name in graph}
    for name, deps in graph.items():
        for dep in deps:
            reverse.setdefault(dep, []).append(name)
    return closure(reverse, roots)
