"""Solution and hidden-test markers: every misplaced marker is an error at its line, with the fix."""

from __future__ import annotations

import pytest

from tasks.core.errors import SourceError
from tasks.steps.regions import remaining, solution_regions, strip_hidden, stub_source
from tasks.steps.sources import scan

HEAD = "# %%\n#| default_exp core.x\n\n# %%\n#| export\n"
GOOD = HEAD + "def f(a):\n    \"\"\"doc\"\"\"\n    ### BEGIN SOLUTION\n    return a + 1\n    ### END SOLUTION\n"


def regions(text: str) -> list[tuple[int, int, str]]:
    return [(r.begin, r.end, r.qualname) for r in solution_regions(scan(text, "m.py"), "m.py")]


def test_a_region_in_a_function_body() -> None:
    assert regions(GOOD) == [(8, 10, "f")]
    text, stubs, origin = stub_source(GOOD, solution_regions(scan(GOOD, "m.py"), "m.py"), "x", "m.py")
    assert text.endswith('    """doc"""\n    raise NotImplementedError("x.f: not written yet (write it in m.py)")\n')
    assert origin[7] == 0 and remaining(text, stubs) == 1 and remaining(GOOD, stubs) == 0


def test_methods_and_nested_functions_are_named() -> None:
    src = HEAD + ("class A:\n    def g(self):\n        ### BEGIN SOLUTION\n        return 1\n        ### END SOLUTION\n"
                  "def make():\n    def inner():\n        ### BEGIN SOLUTION\n        return 2\n        ### END SOLUTION\n"
                  "    return inner\n")
    assert regions(src) == [(8, 10, "A.g"), (13, 15, "make.<locals>.inner")]


BAD = [
    (HEAD + "def f():\n    ### BEGIN SOLUTION\n    return 1\n",
     "m.py:7: solution region not closed in its cell (it would span cells); add '### END SOLUTION' before the "
     "cell ends, at the same indentation"),
    (HEAD + "def f():\n    return 1\n    ### END SOLUTION\n",
     "m.py:8: '### END SOLUTION' without a '### BEGIN SOLUTION' above it in this cell; add the BEGIN marker or "
     "remove this line"),
    (HEAD + "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
     "m.py:8: '### BEGIN SOLUTION' inside the solution region opened at line 7; regions do not nest: close that "
     "one with '### END SOLUTION' first"),
    (HEAD + "### BEGIN SOLUTION\nX = 1\n### END SOLUTION\n",
     "m.py:6: a solution region must be inside a function body (this one is at module or class level, which runs "
     "at import time); put the markers inside the function whose body the student writes"),
    (HEAD + "def f():\n    return 1\n\n# %%\n### BEGIN SOLUTION\nf()\n### END SOLUTION\n",
     "m.py:10: '### BEGIN SOLUTION' in a cell without '#| export'; markers belong in exported code only: move the "
     "region into a '#| export' cell, or remove the marker\n"
     "m.py:12: '### END SOLUTION' in a cell without '#| export'; markers belong in exported code only: move the "
     "region into a '#| export' cell, or remove the marker"),
    (HEAD + "def f():\n    return 1\n\n# %% [markdown]\n# ### END SOLUTION\n",
     "m.py:10: '### END SOLUTION' in a markdown cell; markers belong in exported code only: move the region into "
     "a '#| export' cell, or remove the marker"),
    (HEAD + "def f():\n    ### BEGIN HIDDEN TESTS\n    return 1\n",
     "m.py:7: '### BEGIN HIDDEN TESTS' in a source file; hidden-test regions belong in test files: move these "
     "tests to the module's test file, or mark a solution with '### BEGIN SOLUTION'"),
    (HEAD + "def f():\n    ## BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
     "m.py:7: '## BEGIN SOLUTION' is not a marker as written; did you mean '### BEGIN SOLUTION'? (exactly that, "
     "on a line of its own)"),
    (HEAD + "def f():\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n    return 1\n",
     "m.py:7: empty solution region; put the code the student writes between the markers, or remove them"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_misplaced_solution_markers(text: str, message: str) -> None:
    with pytest.raises(SourceError) as err:
        solution_regions(scan(text, "m.py"), "m.py")
    assert str(err.value) == message


HIDDEN_OK = "def test_a():\n    pass\n### BEGIN HIDDEN TESTS\ndef test_b():\n    pass\n### END HIDDEN TESTS\n"


def test_hidden_tests_are_removed() -> None:
    text, origin, hidden = strip_hidden(HIDDEN_OK, "t.py")
    assert text == "def test_a():\n    pass\n" and hidden == 1 and origin[:2] == [1, 2]


HIDDEN_BAD = [
    ("### BEGIN HIDDEN TESTS\ndef test_b():\n    pass\n",
     "t.py:1: hidden region not closed; add '### END HIDDEN TESTS' after its tests"),
    ("def test_b():\n    pass\n### END HIDDEN TESTS\n",
     "t.py:3: '### END HIDDEN TESTS' without a '### BEGIN HIDDEN TESTS' above it; add the BEGIN marker or remove "
     "this line"),
    ("### BEGIN HIDDEN TESTS\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n",
     "t.py:2: '### BEGIN HIDDEN TESTS' inside the hidden region opened at line 1; regions do not nest: close that "
     "one with '### END HIDDEN TESTS' first"),
    ("def test_b():\n    ### BEGIN SOLUTION\n    pass\n",
     "t.py:2: '### BEGIN SOLUTION' in a test file; solution regions belong in exported cells of a module source; "
     "to hide tests write '### BEGIN HIDDEN TESTS' / '### END HIDDEN TESTS'"),
]


@pytest.mark.parametrize(("text", "message"), HIDDEN_BAD)
def test_misplaced_hidden_markers(text: str, message: str) -> None:
    with pytest.raises(SourceError) as err:
        strip_hidden(text, "t.py")
    assert str(err.value) == message
