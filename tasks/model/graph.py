"""The module dependency graph: pure functions over name -> dependencies."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence


class CycleError(ValueError):
    """The graph has a cycle; `cycle` lists it with the first node repeated at the end."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__(" -> ".join(self.cycle))


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


def topological_order(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Dependencies before dependants; ties keep the mapping's order (stable)."""
    cycle = find_cycle(graph)
    if cycle:
        raise CycleError(cycle)
    position = {name: i for i, name in enumerate(graph)}
    done: set[str] = set()
    order: list[str] = []
    pending = sorted(graph, key=position.__getitem__)
    while pending:
        for name in pending:
            if all(d in done or d not in graph for d in graph[name]):
                order.append(name)
                done.add(name)
                pending.remove(name)
                break
    return order


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
