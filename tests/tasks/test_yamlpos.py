"""tasks.model.yamlpos: safe YAML loading that remembers where each value and key was written."""

from __future__ import annotations

import pytest

from tasks.model.yamlpos import YamlSyntaxError, load

TEXT = """\
package:
  name: pkg
modules:
  - name: a
    depends: [x, y]
  - {name: b, timeout: 2.5}
"""


def test_values_and_positions() -> None:
    data, positions = load(TEXT)
    assert data == {"package": {"name": "pkg"},
                    "modules": [{"name": "a", "depends": ["x", "y"]}, {"name": "b", "timeout": 2.5}]}
    assert positions[()] == (1, 1)
    assert positions[("package", "name")] == (2, 9)
    assert positions[("package", ("key", "name"))] == (2, 3)
    assert positions[("modules", 0)] == (4, 5)
    assert positions[("modules", 0, "depends", 1)] == (5, 18)
    assert positions[("modules", 1, "timeout")] == (6, 24)
    assert positions[("modules", 1, ("key", "timeout"))] == (6, 15)


@pytest.mark.parametrize(("text", "positions"), [("", {}), ("# only a comment\n", {}), ("---\n", {(): (2, 1)})])
def test_empty_documents_load_as_none(text: str, positions: dict[tuple[object, ...], tuple[int, int]]) -> None:
    assert load(text) == (None, positions)


def test_scalars_keep_their_yaml_types() -> None:
    data, _ = load("a: 1\nb: 1.5\nc: yes\nd: ~\ne: '1'\n")
    assert data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "1"}


BAD = [
    ("a: [1, 2\n", 2, 1, "invalid YAML: did not find expected ',' or ']'"),
    ("a:\n  b: 1\n c: 2\n", 3, 2, "invalid YAML: did not find expected key"),
    ("a: 1\na: 2\n", 2, 1, "duplicate key 'a': remove one of them"),
    ("a: {b: 1, b: 2}\n", 1, 11, "duplicate key 'b': remove one of them"),
    ("a: 'open\n", 2, 1, "invalid YAML: found unexpected end of stream"),
    ("a: 1\n---\nb: 2\n", 2, 1, "invalid YAML: but found another document"),
    ("a: *nowhere\n", 1, 4, "invalid YAML: found undefined alias"),
    ("a: !!python/object:os.system {}\n", 1, 4,
     "invalid YAML: tag 'tag:yaml.org,2002:python/object:os.system' is not allowed (safe loading); remove it"),
    ("a: !!python/name:os.system\n", 1, 4,
     "invalid YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:python/name:os.system'"),
    ("? {x: 1}\n: 2\n", 1, 3, "a key must be a plain word, not dict; write 'name: value'"),
    ("\tname: a\n", 1, 1, "invalid YAML: found character that cannot start any token (a tab: YAML indents with spaces only)"),
]


@pytest.mark.parametrize(("text", "line", "col", "message"), BAD)
def test_invalid_yaml(text: str, line: int, col: int, message: str) -> None:
    with pytest.raises(YamlSyntaxError) as exc:
        load(text)
    assert (exc.value.line, exc.value.col, str(exc.value)) == (line, col, message)
