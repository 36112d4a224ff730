"""tasks.steps.provides: what a source imports and provides, kept by content so that an export does not parse it again."""

from __future__ import annotations

import pytest
from conftest import Course

from tasks.core import layout
from tasks.steps import provides

OPS = "modules/02_ops/ops.py"


def test_a_sources_summary_is_kept_and_read_back_without_parsing(course: Course,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first = provides.summary(course.root, OPS, "minitorch")
    assert first is not None
    assert [(i.module, i.names) for i in first[0]] == [("minitorch.core.core", ("Value",))]
    assert layout.at(course.root, layout.provides_record(OPS)).exists()

    def no_parse(*_: object) -> None:
        raise AssertionError("parsed again although the source did not change")

    monkeypatch.setattr(provides, "scan", no_parse)
    assert provides.summary(course.root, OPS, "minitorch") == first


def test_an_edited_source_is_parsed_again(course: Course) -> None:
    assert provides.summary(course.root, OPS, "minitorch") is not None
    path = course.root / OPS
    path.write_text(path.read_text(encoding="utf-8").replace("import Value", "import Value, Other"), encoding="utf-8")
    again = provides.summary(course.root, OPS, "minitorch")
    assert again is not None and [i.names for i in again[0]] == [("Value", "Other")]


def test_a_source_that_does_not_name_the_module_is_skipped_unread(course: Course) -> None:
    assert provides.summary(course.root, OPS, "minitorch", mentions="minitorch.core.leaf") is None
    assert not layout.at(course.root, layout.provides_record(OPS)).exists()


def test_a_record_of_another_shape_is_parsed_again(course: Course) -> None:
    record = layout.at(course.root, layout.provides_record(OPS))
    record.parent.mkdir(parents=True)
    record.write_text('{"key": 1}', encoding="utf-8")
    summary = provides.summary(course.root, OPS, "minitorch")
    assert summary is not None and summary[1].exported
