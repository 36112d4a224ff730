"""doit's order of the tasks that waited for one, made the same in every run: the order of the task list.

When a task finishes, doit's dispatcher makes ready the tasks that waited for it in the
iteration order of a set of its nodes (`ExecNode.waiting_me`): the order of their memory
addresses, different from run to run. So the same edit ran the dependants' checks and tests
in another order each time: the console's lines moved, and the test runs that a standby set
up for (`tasks.sandbox.standby` learns which run follows which) came in another order than
learned, so a standby that waited was dropped and its run set up afresh.

`install` makes that set iterate in the order of doit's task list (dodo.py's, which is the
course order within each step), wherever doit runs (`doit`, `doit -n`, `doit watch`). Checked
against doit 0.36 and 0.37: `ExecNode.__init__` makes `waiting_me`, the nodes are made by
`TaskDispatcher._gen_node(parent, task_name)` from `TaskDispatcher.tasks`, a dict in the task
list's order. tests/tasks/test_tools.py fails if those names move.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

CHECKED = ">=0.36,<0.38"


class Positions:
    """Each task's place in a dispatcher's task list, made once per dispatcher (again only when the list grew:
    doit's delayed task creation), not at every wake-up."""

    def __init__(self, tasks: dict[str, Any]) -> None:
        self.tasks = tasks
        self._made: dict[str, int] = {}

    def of(self) -> dict[str, int]:
        if len(self._made) != len(self.tasks):
            self._made = {name: i for i, name in enumerate(self.tasks)}
        return self._made


class InListOrder(set[Any]):
    """A set of doit's `ExecNode`s that iterates in the order of the dispatcher's task list (unknown ones last)."""

    def __init__(self, positions: Positions) -> None:
        super().__init__()
        self.positions = positions

    def __iter__(self) -> Iterator[Any]:
        nodes = list(super().__iter__())
        if len(nodes) < 2:
            return iter(nodes)
        where = self.positions.of()
        return iter(sorted(nodes, key=lambda node: (where.get(node.task.name, len(where)), node.task.name)))


POSITIONS = "_in_list_positions"  # the dispatcher's Positions, shared by its nodes


def install() -> None:
    """Make every doit dispatcher of this process wake waiting tasks in task-list order (once; idempotent)."""
    from doit import control

    made = control.TaskDispatcher._gen_node
    if getattr(made, "in_list_order", False):
        return

    def _gen_node(self: Any, parent: Any, task_name: str) -> Any:
        node = made(self, parent, task_name)
        if node is not None and not isinstance(node.waiting_me, InListOrder):
            positions = self.__dict__.setdefault(POSITIONS, Positions(self.tasks))
            ordered = InListOrder(positions)
            ordered.update(node.waiting_me)
            node.waiting_me = ordered
        return node

    _gen_node.in_list_order = True  # type: ignore[attr-defined]
    control.TaskDispatcher._gen_node = _gen_node
