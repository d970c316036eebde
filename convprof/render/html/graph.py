"""The network drawn top to bottom: a layered layout of its layers (or folded blocks) as inline SVG.

A node's layer is the longest path to it from the input; an edge that skips layers is routed
through a point on each layer it crosses, so skips and long shortcuts run beside the nodes, not
through them; the order of the nodes in each layer follows the mean position of their neighbours
(a few sweeps down and up), which keeps a residual block's shortcut to one side and a branch's paths
side by side. Presentation only: the figures it colours by are given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from convprof.render.html.page import attrs, esc

__all__ = ["GraphNode", "graph_svg", "layout"]

#: The network input's key among the nodes.
INPUT = "input"
_NODE_WIDTH = 172
_NODE_HEIGHT = 28
_COLUMN = 204
_ROW = 50
_MARGIN = 20
#: Padding of a block's box around its nodes, at depth 0; each level in is a step closer.
_BLOCK_PAD = 14
_BLOCK_STEP = 4
#: Sweeps of the ordering heuristic (down and up count one each).
_SWEEPS = 6


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A node to draw: a layer or a folded block."""

    key: str
    """Its path: the node's identity."""
    label: str
    """Its text in the box."""
    inputs: tuple[str, ...]
    """Keys of the nodes it reads (`input`: the network input)."""
    tip: str
    """Its tooltip."""
    fills: tuple[tuple[str, str], ...]
    """Its colour per colouring (the first is shown): (key, colour)."""
    data: tuple[tuple[str, str], ...] = ()
    """Attributes of its figures for the page's data: (name, value)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each node and each edge's bends are."""

    position: dict[str, tuple[int, int]]
    """Per node key (the input included): (column, row)."""
    routes: list[tuple[str, str, list[tuple[int, int]]]]
    """Per edge (source, target): the (column, row) of each bend between them."""
    columns: int
    """Columns used."""
    rows: int
    """Rows used."""


def layout(nodes: Sequence[GraphNode]) -> Layout:
    """Place `nodes` (in topological order, reading only earlier nodes or the input) in layers."""
    rank: dict[str, int] = {INPUT: 0}
    for node in nodes:
        rank[node.key] = 1 + max((rank[source] for source in node.inputs), default=0)
    layers: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    layers[0].append(INPUT)
    for node in nodes:
        layers[rank[node.key]].append(node.key)
    up: dict[str, list[str]] = {key: [] for key in rank}
    down: dict[str, list[str]] = {key: [] for key in rank}
    chains: list[tuple[str, str, list[str]]] = []
    dummies: list[list[str]] = [[] for _ in layers]
    for node in nodes:
        for source in dict.fromkeys(node.inputs):
            chain = []
            previous = source
            for row in range(rank[source] + 1, rank[node.key]):
                dummy = f"\0{len(up)}"
                up[dummy], down[dummy] = [previous], []
                down[previous].append(dummy)
                dummies[row].append(dummy)
                chain.append(dummy)
                previous = dummy
            up[node.key].append(previous)
            down[previous].append(node.key)
            chains.append((source, node.key, chain))
    order = [layer + extra for layer, extra in zip(layers, dummies, strict=True)]
    place = {key: i for layer in order for i, key in enumerate(layer)}

    def sweep(rows: range, neighbours: dict[str, list[str]]) -> None:
        for row in rows:

            def centre(key: str) -> tuple[float, int]:
                near = [place[other] for other in neighbours[key]]
                return (sum(near) / len(near) if near else place[key], place[key])

            order[row].sort(key=centre)
            for i, key in enumerate(order[row]):
                place[key] = i

    for number in range(_SWEEPS):
        if number % 2 == 0:
            sweep(range(1, len(order)), up)
        else:
            sweep(range(len(order) - 2, -1, -1), down)
    position = {key: (place[key], row) for row, layer in enumerate(order) for key in layer}
    routes = [(source, target, [position[d] for d in chain]) for source, target, chain in chains]
    return Layout(position, routes, max(len(layer) for layer in order), len(order))


def _centre(column: int, row: int) -> tuple[float, float]:
    return _MARGIN + column * _COLUMN + _NODE_WIDTH / 2, _MARGIN + row * _ROW + _NODE_HEIGHT / 2


def _blocks(nodes: Sequence[GraphNode], placed: Layout, tips: dict[str, str]) -> list[str]:
    """Return a box behind the nodes of each block (a path the nodes' paths go through), deeper
    blocks inside shallower ones; the outermost are named."""
    spans: dict[str, list[int]] = {}
    for node in nodes:
        column, row = placed.position[node.key]
        parts = node.key.split(".")
        for end in range(1, len(parts)):
            span = spans.setdefault(".".join(parts[:end]), [column, row, column, row])
            span[0], span[1] = min(span[0], column), min(span[1], row)
            span[2], span[3] = max(span[2], column), max(span[3], row)
    shown = []
    for path, (left, top, right, bottom) in spans.items():
        depth = path.count(".")
        pad = max(_BLOCK_PAD - _BLOCK_STEP * depth, 2)
        x, y = _MARGIN + left * _COLUMN - pad, _MARGIN + top * _ROW - pad
        width = (right - left) * _COLUMN + _NODE_WIDTH + 2 * pad
        height = (bottom - top) * _ROW + _NODE_HEIGHT + 2 * pad
        shown.append(
            f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="8" fill="#5b6570" '
            f'fill-opacity="0.05" stroke="#c3c9d0" stroke-dasharray="3 3"'
            f"{attrs(data_block=path, data_tip=tips.get(path, path))}/>"
        )
        if depth == 0:
            shown.append(
                f'<text class="muted" x="{x + width - 4}" y="{y + 10}" text-anchor="end" font-size="10">'
                f"{esc(path)}</text>"
            )
    return shown


def graph_svg(
    nodes: Sequence[GraphNode], input_label: str, input_tip: str, blocks: dict[str, str] | None = None
) -> str:
    """Return the graph of `nodes` as SVG: boxes coloured by their first fill, edges top to bottom,
    each block's nodes in a box of their own (its tooltip from `blocks`, by path)."""
    placed = layout(nodes)
    width = 2 * _MARGIN + (placed.columns - 1) * _COLUMN + _NODE_WIDTH
    height = 2 * _MARGIN + (placed.rows - 1) * _ROW + _NODE_HEIGHT
    parts = [
        f'<svg id="graph-drawing" width="{width}" height="{height}" role="img" '
        'aria-label="the network graph">'
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0L8,4L0,8z" fill="#8a939c"/></marker></defs>',
        *_blocks(nodes, placed, blocks or {}),
        '<g fill="none" stroke="#8a939c" stroke-width="1.2">',
    ]
    half = _NODE_HEIGHT / 2
    for source, target, bends in placed.routes:
        sx, sy = _centre(*placed.position[source])
        tx, ty = _centre(*placed.position[target])
        points = [(sx, sy + half)] + [_centre(*bend) for bend in bends] + [(tx, ty - half)]
        path = "M" + " L".join(f"{x:.0f},{y:.0f}" for x, y in points)
        parts.append(f'<path d="{path}" marker-end="url(#arrow)"/>')
    parts.append("</g>")

    def box(key: str, label: str, tip: str, fill: str, extra: str) -> str:
        column, row = placed.position[key]
        x, y = _MARGIN + column * _COLUMN, _MARGIN + row * _ROW
        shown = label if len(label) <= 26 else label[:25] + "…"
        return (
            f'<g{attrs(data_tip=tip)}><rect x="{x}" y="{y}" width="{_NODE_WIDTH}" '
            f'height="{_NODE_HEIGHT}" rx="5" stroke="#6b747d" fill="{esc(fill)}"{extra}/>'
            f'<text x="{x + _NODE_WIDTH / 2:.0f}" y="{y + half + 4:.0f}" text-anchor="middle">'
            f"{esc(shown)}</text></g>"
        )

    parts.append(box(INPUT, input_label, input_tip, "#e9ecef", ""))
    for node in nodes:
        extra = attrs(data_node=node.key, **{f"data_fill_{key}": fill for key, fill in node.fills})
        extra += "".join(f' data-{esc(name)}="{esc(value)}"' for name, value in node.data)
        parts.append(box(node.key, node.label, node.tip, node.fills[0][1] if node.fills else "#fff", extra))
    parts.append("</svg>")
    return "\n".join(parts)
