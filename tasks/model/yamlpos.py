"""Safe YAML loading that remembers where each value was written (line and column)."""

from __future__ import annotations

from typing import Any

import yaml

try:
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

Path = tuple[Any, ...]
MAX_VALUES = 100_000  # values after alias expansion: a real manifest of 1000 modules has ~10 000
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
Positions = dict[Path, tuple[int, int]]


class YamlSyntaxError(ValueError):
    """Invalid YAML; carries the 1-based line and column."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.line, self.col = line, col


class _Budget:
    """How many more values may be built: aliases can multiply a 13-line file into billions (a 'YAML bomb')."""

    def __init__(self, limit: int) -> None:
        self.left = limit


def _scalar(node: yaml.Node, ctor: yaml.SafeLoader, where: tuple[int, int]) -> Any:
    try:
        return ctor.construct_object(node, deep=True)
    except yaml.MarkedYAMLError:
        raise
    except Exception as exc:  # noqa: BLE001 - any constructor failure is a value that does not fit its tag
        # an explicit tag on a value it cannot hold ('!!int abc', '!!timestamp 2020-99-99')
        raise YamlSyntaxError(f"invalid YAML: {node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]} "
                              f"({type(exc).__name__}); remove the tag or fix the value", *where) from None


def _convert(node: yaml.Node, path: Path, positions: Positions, ctor: yaml.SafeLoader,
             budget: _Budget | None = None) -> Any:
    budget = budget or _Budget(MAX_VALUES)
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    budget.left -= 1
    if budget.left < 0:
        raise YamlSyntaxError(f"invalid YAML: more than {MAX_VALUES} values once aliases are expanded "
                              "(aliases that refer to aliases?); write the values out",
                              *positions.get(path[:1], positions[path]))
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        # collections are built here, not by the loader: refuse tags the safe loader would refuse
        raise YamlSyntaxError(f"invalid YAML: tag {node.tag!r} is not allowed (safe loading); remove it",
                              *positions[path])
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, path + (("key",),), {}, ctor, budget)
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise YamlSyntaxError(f"a key must be a plain word, not {type(key).__name__}; "
                                      "write 'name: value'", line, col)
            if key in out:
                raise YamlSyntaxError(f"duplicate key {key!r}: remove one of them", line, col)
            positions[path + (("key", key),)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _convert(value_node, path + (key,), positions, ctor, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), positions, ctor, budget) for i, item in enumerate(node.value)]
    return _scalar(node, ctor, positions[path])


def _char(c: Any) -> str:
    return f"{c:#04x}" if isinstance(c, int) else f"{ord(c):#04x}" if isinstance(c, str) and len(c) == 1 else repr(c)


def _place(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of character `index` of `text`."""
    index = max(0, min(index, len(text)))
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


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
    except yaml.reader.ReaderError as exc:
        # a control character (the reader has no mark, only the index of the character)
        where = _place(text, exc.position)
        raise YamlSyntaxError(f"invalid YAML: control character {_char(exc.character)} is not allowed; remove it",
                              *where) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", 1, 1) from None
    except RecursionError:
        raise YamlSyntaxError("invalid YAML: nested too deeply; flatten the lists and mappings", 1, 1) from None
    finally:
        loader.dispose()
    return data, positions
