"""The module dependency picture: DOT, Mermaid, and SVG/PNG (through Graphviz, or a built-in SVG).

Pure functions over the modules in course order with their status; only
`graphviz()` runs a program. Edges point from a dependency to the modules built
on it. Edges implied by others (a -> c when a -> b -> c) are left out, so the
`all` modules do not bury the picture; the table beside it lists every dependency.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

Status = Literal["passed", "failed", "blocked", "stale", "not built"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "blocked", "stale", "not built")
# status -> (fill, border): readable in print and for red-green colour blindness (border styles differ too)
COLOURS: dict[Status, tuple[str, str]] = {
    "passed": ("#c8e6c9", "#2e7d32"),
    "failed": ("#ffcdd2", "#c62828"),
    "blocked": ("#ffe0b2", "#ef6c00"),
    "stale": ("#fff59d", "#9e8600"),
    "not built": ("#eeeeee", "#757575"),
}
BORDER: dict[Status, str] = {"passed": "solid", "failed": "bold", "blocked": "dashed", "stale": "dashed",
                             "not built": "dotted"}
INSTALL_HINT = ("Graphviz's `dot` is not installed, so graph.svg and graph.png were not drawn; "
                "install it with `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
                "(macOS) or `conda install graphviz`, then run `doit graph` again")


@dataclass(frozen=True)
class Node:
    """One module in the picture."""

    name: str
    number: int  # position in the course, from 1
    depends: tuple[str, ...]
    status: Status

    @property
    def label(self) -> str:
        return f"{self.number:02d} {self.name}"


def reduced(graph: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The graph without edges implied by longer paths (its transitive reduction), order kept."""
    reach: dict[str, set[str]] = {}

    def below(name: str) -> set[str]:
        if name not in reach:
            reach[name] = set()
            for dep in graph.get(name, ()):
                reach[name] |= {dep} | below(dep)
        return reach[name]

    out: dict[str, list[str]] = {}
    for name, deps in graph.items():
        direct = [d for d in deps if d in graph]
        implied = set().union(*(below(d) for d in direct)) if direct else set()
        out[name] = [d for d in direct if d not in implied]
    return out


def layers(graph: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each module's layer: the length of its longest dependency chain (the graph is acyclic)."""
    depth: dict[str, int] = {}
    for name in graph:  # course order lists dependencies first
        depth[name] = 1 + max((depth.get(d, 0) for d in graph[name] if d in graph), default=-1)
    return depth


def _by_layer(nodes: Sequence[Node]) -> list[list[Node]]:
    depth = layers({n.name: n.depends for n in nodes})
    rows: list[list[Node]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in nodes:
        rows[depth[n.name]].append(n)
    return rows


def _edges(nodes: Sequence[Node]) -> list[tuple[str, str]]:
    red = reduced({n.name: n.depends for n in nodes})
    return [(dep, n.name) for n in nodes for dep in red[n.name]]


def _q(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(nodes: Sequence[Node], title: str = "course") -> str:
    """Graphviz DOT: one rank per layer, modules in course order within it, filled by status."""
    lines = [
        f"digraph {_q(title)} {{",
        '  graph [rankdir=TB, nodesep=0.25, ranksep=0.45, fontname="Helvetica", fontsize=10, '
        'label="green passed, red failed, orange blocked by a failed dependency, yellow stale, grey not built", '
        "labelloc=b, ordering=out];",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, penwidth=1.4];',
        '  edge [color="#8a8a8a", arrowsize=0.6];',
    ]
    for row in _by_layer(nodes):
        lines.append("  { rank=same; " + " ".join(_q(n.name) + ";" for n in row) + " }")
    for n in nodes:
        fill, border = COLOURS[n.status]
        style = "rounded,filled" + (",dashed" if BORDER[n.status] == "dashed" else "") + \
            (",bold" if BORDER[n.status] == "bold" else "")
        lines.append(f'  {_q(n.name)} [label={_q(n.label)}, fillcolor="{fill}", color="{border}", '
                     f'style="{style}", tooltip={_q(n.name + ": " + n.status)}];')
    lines.extend(f"  {_q(a)} -> {_q(b)};" for a, b in _edges(nodes))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mid(name: str) -> str:
    return "m_" + "".join(c if c.isalnum() else "_" for c in name)


def to_mermaid(nodes: Sequence[Node]) -> str:
    """Mermaid flowchart text (renders on GitHub/GitLab), nodes classed by status."""
    lines = ["flowchart TB"]
    for n in nodes:
        lines.append(f'  {_mid(n.name)}["{n.label}"]:::{n.status.replace(" ", "_")}')
    lines.extend(f"  {_mid(a)} --> {_mid(b)}" for a, b in _edges(nodes))
    for status in STATUSES:
        fill, border = COLOURS[status]
        dash = ",stroke-dasharray:4 3" if BORDER[status] in ("dashed", "dotted") else ""
        lines.append(f"  classDef {status.replace(' ', '_')} fill:{fill},stroke:{border},color:#000{dash}")
    return "\n".join(lines) + "\n"


def to_svg(nodes: Sequence[Node]) -> str:
    """A plain SVG of the same layout, for pages made where Graphviz is not installed."""
    width, height, gap_x, gap_y, pad = 118.0, 30.0, 16.0, 46.0, 12.0
    rows = _by_layer(nodes)
    widest = max((len(r) for r in rows), default=1)
    total_w = pad * 2 + widest * width + (widest - 1) * gap_x
    total_h = pad * 2 + len(rows) * height + max(len(rows) - 1, 0) * gap_y
    where: dict[str, tuple[float, float]] = {}
    for i, row in enumerate(rows):
        row_w = len(row) * width + (len(row) - 1) * gap_x
        for j, n in enumerate(row):
            where[n.name] = ((total_w - row_w) / 2 + j * (width + gap_x), pad + i * (height + gap_y))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{total_w:.0f}" height="{total_h:.0f}" '
           f'viewBox="0 0 {total_w:.0f} {total_h:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="12" '
           'role="img" aria-label="module dependency graph">']
    for a, b in _edges(nodes):
        (ax, ay), (bx, by) = where[a], where[b]
        x1, y1, x2, y2 = ax + width / 2, ay + height, bx + width / 2, by
        out.append(f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + gap_y / 2:.1f} {x2:.1f},{y2 - gap_y / 2:.1f} '
                   f'{x2:.1f},{y2 - 4:.1f}" fill="none" stroke="#8a8a8a" stroke-width="1" '
                   'marker-end="url(#arrow)"/>')
    out.insert(1, '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
                  'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#8a8a8a"/></marker></defs>')
    for n in nodes:
        x, y = where[n.name]
        fill, border = COLOURS[n.status]
        dash = ' stroke-dasharray="4 3"' if BORDER[n.status] in ("dashed", "dotted") else ""
        stroke = 2.4 if BORDER[n.status] == "bold" else 1.4
        out.append(f'<g class="node {n.status.replace(" ", "-")}"><title>{escape(n.name)}: {n.status}</title>'
                   f'<rect x="{x:.1f}" y="{y:.1f}" width="{width}" height="{height}" rx="6" fill="{fill}" '
                   f'stroke="{border}" stroke-width="{stroke}"{dash}/>'
                   f'<text x="{x + width / 2:.1f}" y="{y + height / 2 + 4:.1f}" text-anchor="middle">'
                   f"{escape(n.label)}</text></g>")
    out.append("</svg>")
    return "\n".join(out)


def dot_program() -> str | None:
    """Where Graphviz's `dot` is, if installed."""
    return shutil.which("dot")


def graphviz(dot_text: str, fmt: Literal["svg", "png"], timeout: float = 30.0) -> bytes | None:
    """Render DOT with Graphviz; None when `dot` is missing or fails."""
    program = dot_program()
    if program is None:
        return None
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None


def inline_svg(svg: bytes) -> str:
    """Graphviz SVG made embeddable in HTML: without the XML prologue and doctype."""
    text = svg.decode("utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text
