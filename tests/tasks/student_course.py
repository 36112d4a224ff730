"""The fixture course with solution and hidden-test regions, for the student-edition tests."""

from __future__ import annotations

from pathlib import Path

from conftest import Course, make_course

# (file, code as in the fixture, the same code with its regions)
REGIONS = [
    ("modules/01_core/core.py", "        self.x = float(x)\n",
     "        ### BEGIN SOLUTION\n        self.x = float(x)\n        ### END SOLUTION\n"),
    ("modules/02_ops/ops.py", '    """a + b"""\n    return Value(a.x + b.x)\n',
     '    """a + b"""\n    ### BEGIN SOLUTION\n    return Value(a.x + b.x)\n    ### END SOLUTION\n'),
    ("modules/02_ops/ops.py", '    """a * b"""\n    return Value(a.x * b.x)\n',
     '    """a * b"""\n    ### BEGIN SOLUTION\n    return Value(a.x * b.x)\n    ### END SOLUTION\n'),
    ("modules/03_model/model.py", "        return add(mul(self.w, x), self.b)\n",
     "        ### BEGIN SOLUTION\n        return add(mul(self.w, x), self.b)\n        ### END SOLUTION\n"),
    ("modules/04_leaf/leaf.py", "    return Value(2 * v.x)\n",
     "    ### BEGIN SOLUTION\n    return Value(2 * v.x)\n    ### END SOLUTION\n"),
    ("tests/unit/test_core.py", "    assert Value(3).x == 3.0\n",
     "    assert Value(3).x == 3.0\n\n\n### BEGIN HIDDEN TESTS\ndef test_value_from_int_is_float():\n"
     "    assert isinstance(Value(3).x, float)\n### END HIDDEN TESTS\n"),
]


def with_regions(tmp_path: Path, name: str = "course") -> Course:
    """A copy of the fixture course whose modules have solution regions (and one hidden test)."""
    course = make_course(tmp_path, name)
    for rel, old, new in REGIONS:
        course.edit(rel, old, new)
    return course
