"""Safe YAML loading that remembers where each value was written (line and column)."""

from __future__ import annotations

from typing import Any

import yaml

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

Path = tuple[Any, ...]
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
Positions = dict[Path, tuple[int, int]]


class YamlSyntaxError(ValueError):
    """Invalid YAML; carries the 1-based line and column."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.line, self.col = line, col


def _convert(node: yaml.Node, path: Path, positions: Positions, ctor: yaml.SafeLoader) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        # collections are built here, not by the loader: refuse tags the safe loader would refuse
        raise YamlSyntaxError(f"invalid YAML: tag {node.tag!r} is not allowed (safe loading); remove it",
                              *positions[path])
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, path + (("key",),), {}, ctor)
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise YamlSyntaxError(f"a key must be a plain word, not {type(key).__name__}; "
                                      "write 'name: value'", line, col)
            if key in out:
                raise YamlSyntaxError(f"duplicate key {key!r}: remove one of them", line, col)
            positions[path + (("key", key),)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _convert(value_node, path + (key,), positions, ctor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), positions, ctor) for i, item in enumerate(node.value)]
    return ctor.construct_object(node, deep=True)


def load(text: str) -> tuple[Any, Positions]:
    """Parse YAML `text` with the safe loader; return the data and each value's (line, col).

    Positions are keyed by path: `("modules", 2, "depends")` is the value, and
    `("modules", 2, ("key", "depends"))` is where its key was written.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        positions: Positions = {}
        data = None if node is None else _convert(node, (), positions, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if mark and text[mark.index:mark.index + 1] == "\t" and "tab" not in problem:
            problem += " (a tab: YAML indents with spaces only)"
        raise YamlSyntaxError(f"invalid YAML: {problem}", line, col) from None
    finally:
        loader.dispose()
    return data, positions
