"""tasks.model.graph: pure functions over name -> dependencies, with stable orders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from tasks.model.graph import closure, dependants, find_cycle

COURSE = {"core": [], "ops": ["core"], "model": ["core", "ops"], "leaf": ["core"]}


@pytest.mark.parametrize(("graph", "cycle"), [
    ({}, None),
    (COURSE, None),
    ({"a": ["a"]}, ("a", "a")),
    ({"a": ["b"], "b": ["a"]}, ("a", "b", "a")),
    ({"a": ["c"], "b": ["a"], "c": ["b"]}, ("a", "c", "b", "a")),
    ({"x": [], "a": ["x", "b"], "b": ["c"], "c": ["a"]}, ("a", "b", "c", "a")),
    ({"a": ["missing"]}, None),  # unknown names are the manifest's business, not a cycle
])
def test_find_cycle_reads_as_depends_on(graph: Mapping[str, Sequence[str]], cycle: tuple[str, ...] | None) -> None:
    found = find_cycle(graph)
    assert found == cycle
    if found:  # each name depends on the next one
        assert all(found[i + 1] in graph[found[i]] for i in range(len(found) - 1))


@pytest.mark.parametrize(("roots", "expected"), [
    (["model"], {"model", "ops", "core"}),
    (["leaf"], {"leaf", "core"}),
    (["core"], {"core"}),
    (["leaf", "ops"], {"leaf", "ops", "core"}),
    ([], set()),
])
def test_closure(roots: list[str], expected: set[str]) -> None:
    assert closure(COURSE, roots) == expected


@pytest.mark.parametrize(("roots", "expected"), [
    (["core"], {"core", "ops", "model", "leaf"}),
    (["ops"], {"ops", "model"}),
    (["model"], {"model"}),
    (["leaf"], {"leaf"}),
])
def test_dependants(roots: list[str], expected: set[str]) -> None:
    assert dependants(COURSE, roots) == expected
