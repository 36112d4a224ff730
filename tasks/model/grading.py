"""The manifest's optional `grading:` section: module points and how hidden tests show in feedback.

    grading:
      hidden_tests: names     # names: a failing hidden test is named in the feedback; none: not shown at all
      points: {tensor: 10, autograd: 20}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tasks.core.text import closest

GRADING_KEYS = ("hidden_tests", "points")
HIDDEN_CHOICES = ("names", "none")
HiddenTests = Literal["names", "none"]


@dataclass(frozen=True)
class Grading:
    """How `doit grade` scores and explains: points per module (none: no points column)."""

    hidden_tests: HiddenTests = "names"
    points: Mapping[str, float] = field(default_factory=dict)


Report = Callable[[tuple[Any, ...], str], None]  # (position key, message)


def parse_grading(data: Any, modules: Sequence[str], report: Report) -> Grading:
    """Check the `grading:` mapping; each problem goes to `report` with its position key."""
    where: tuple[Any, ...] = ("grading",)
    if data is None:
        return Grading()
    if not isinstance(data, dict):
        report(where, f"'grading' must be a mapping with keys {', '.join(GRADING_KEYS)}")
        return Grading()
    for key in data:
        if key not in GRADING_KEYS:
            near = closest(str(key), GRADING_KEYS)
            hint = f"; did you mean {near!r}?" if near else f"; allowed keys: {', '.join(GRADING_KEYS)}"
            report(where + (("key", key),), f"unknown key {key!r} in 'grading'{hint}")
    hidden = data.get("hidden_tests", "names")
    if hidden not in HIDDEN_CHOICES:
        report(where + ("hidden_tests",), f"'hidden_tests' must be one of {', '.join(HIDDEN_CHOICES)}, got {hidden!r}")
        hidden = "names"
    points: dict[str, float] = {}
    raw = data.get("points", {}) or {}
    if not isinstance(raw, dict):
        report(where + ("points",), "'points' must map module names to numbers, e.g. 'points: {tensor: 10}'")
        raw = {}
    for name, value in raw.items():
        at = where + ("points", name)
        if name not in modules:
            near = closest(str(name), modules)
            report(where + ("points", ("key", name)), f"'points' names {name!r}, which is not a module" + (f"; did you mean {near!r}?" if near else ""))
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            report(at, f"points of {name!r} must be a number >= 0, got {value!r}")
        else:
            points[name] = float(value)
    return Grading(hidden, points)
