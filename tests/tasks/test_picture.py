"""tasks.reports.picture: the dependency picture as DOT, Mermaid and SVG, coloured by status, in course order."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest

from tasks.reports import picture
from tasks.reports.picture import COLOURS, Node, graphviz, inline_svg, layers, reduced, to_dot, to_mermaid, to_svg

COURSE = [
    Node("tensor", 1, (), "passed"),
    Node("layers", 2, ("tensor",), "failed"),
    Node("dense", 3, ("tensor", "layers"), "blocked"),
    Node("loader", 4, ("tensor",), "stale"),
    Node("capstone", 5, ("tensor", "layers", "dense", "loader"), "not built"),
]


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": [], "b": ["a"], "c": ["a", "b"]}, {"a": [], "b": ["a"], "c": ["b"]}),
    ({"a": [], "b": ["a"], "c": ["a"]}, {"a": [], "b": ["a"], "c": ["a"]}),
    ({"a": [], "b": ["a"], "c": ["b"], "d": ["a", "b", "c"]}, {"a": [], "b": ["a"], "c": ["b"], "d": ["c"]}),
    ({"a": [], "b": ["a", "zz"]}, {"a": [], "b": ["a"]}),  # unknown names are ignored
])
def test_reduced_drops_only_implied_edges(graph: dict[str, list[str]], expected: dict[str, list[str]]) -> None:
    assert reduced(graph) == expected


def test_layers_are_longest_dependency_chains() -> None:
    assert layers({n.name: n.depends for n in COURSE}) == {"tensor": 0, "layers": 1, "dense": 2, "loader": 1,
                                                           "capstone": 3}


def test_dot_has_one_rank_per_layer_in_course_order_and_status_colours() -> None:
    dot = to_dot(COURSE, "tinytorch")
    assert dot.startswith('digraph "tinytorch" {')
    ranks = [line.strip() for line in dot.splitlines() if "rank=same" in line]
    assert ranks == ['{ rank=same; "tensor"; }', '{ rank=same; "layers"; "loader"; }', '{ rank=same; "dense"; }',
                     '{ rank=same; "capstone"; }']
    for node in COURSE:
        fill, border = COLOURS[node.status]
        assert f'"{node.name}" [label="{node.number:02d} {node.name}", fillcolor="{fill}", color="{border}"' in dot
    assert '"dense" -> "capstone";' in dot and '"tensor" -> "capstone";' not in dot  # implied edge left out
    assert '"layers" -> "dense";' in dot


def test_mermaid_classes_nodes_by_status() -> None:
    text = to_mermaid(COURSE)
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    assert '  m_tensor["01 tensor"]:::passed' in lines
    assert '  m_capstone["05 capstone"]:::not_built' in lines
    assert "  m_layers --> m_dense" in lines
    assert any(line.startswith("  classDef failed fill:#ffcdd2,stroke:#c62828") for line in lines)


def test_builtin_svg_is_well_formed_and_coloured() -> None:
    svg = to_svg(COURSE)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    groups = root.findall(f"{ns}g")
    assert [g.get("class") for g in groups] == ["node passed", "node failed", "node blocked", "node stale",
                                                "node not-built"]
    assert groups[1].find(f"{ns}rect").get("fill") == COLOURS["failed"][0]  # type: ignore[union-attr]
    assert len(root.findall(f"{ns}path")) == len(reduced({n.name: n.depends for n in COURSE})["capstone"]) + 3
    # course order top to bottom: tensor above layers above dense above capstone
    y = {g.findtext(f"{ns}text"): float(g.find(f"{ns}rect").get("y")) for g in groups}  # type: ignore[union-attr,arg-type]
    assert y["01 tensor"] < y["02 layers"] == y["04 loader"] < y["03 dense"] < y["05 capstone"]


def test_graphviz_missing_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(picture, "dot_program", lambda: None)
    assert graphviz(to_dot(COURSE), "svg") is None


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_renders_svg_and_png() -> None:
    svg = graphviz(to_dot(COURSE), "svg")
    png = graphviz(to_dot(COURSE), "png")
    assert svg is not None and png is not None and png.startswith(b"\x89PNG")
    inline = inline_svg(svg)
    assert inline.startswith("<svg") and "<?xml" not in inline and "<!DOCTYPE" not in inline
    assert "02 layers" in inline and COLOURS["failed"][0] in inline


def test_graphviz_error_gives_none() -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    assert graphviz("digraph { this is not dot", "svg") is None
