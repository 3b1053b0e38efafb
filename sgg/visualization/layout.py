"""Graph layouts in inches whose node rectangles (labels included) never overlap.

Every node is a rectangle sized to its label at the font size it will be drawn with
(:func:`text_size`), so a layout is a set of rectangle centres in inches and the drawing can use
those coordinates as they are: nothing is rescaled afterwards, and labels keep their point size.

``method="dot"`` asks graphviz's ``dot`` program (found on ``PATH``; no Python binding needed)
for a layered layout of the rectangles. ``method="networkx"`` takes networkx's Kamada-Kawai
layout, scales it so that edges are about as long as the nodes are wide, and then removes the
remaining overlaps (:func:`remove_overlaps`). ``"auto"`` (the default) uses ``dot`` when it is
installed and networkx otherwise. Both are deterministic.
"""
from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Hashable, Iterable, Mapping
from functools import lru_cache

import networkx as nx
import numpy as np

__all__ = [
    "LAYOUT_METHODS",
    "graph_layout",
    "graph_layout_with_routes",
    "overlapping_pairs",
    "remove_overlaps",
    "text_size",
]

LAYOUT_METHODS = ("auto", "networkx", "dot")

Size = tuple[float, float]
Positions = dict[Hashable, tuple[float, float]]
Routes = dict[tuple[Hashable, Hashable], np.ndarray]


@lru_cache(maxsize=8)
def _renderer(dpi: float):
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(10, 10, dpi)


@lru_cache(maxsize=4096)
def text_size(text: str, fontsize: float, bold: bool = False, dpi: float = 100.0) -> Size:
    """(width, height) in inches of ``text`` (lines split on ``\\n``) as matplotlib's Agg renderer draws it
    at ``dpi`` in the default font (glyph hinting makes widths depend a little on the resolution)."""
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(size=fontsize, weight="bold" if bold else "normal")
    lines = text.split("\n") or [""]
    width = max((_renderer(dpi).get_text_width_height_descent(line, prop, ismath=False)[0]
                 for line in lines if line), default=0.0)
    line_height = 1.25 * fontsize / 72.0
    return width / dpi, len(lines) * line_height


def overlapping_pairs(pos: Mapping[Hashable, Iterable[float]], sizes: Mapping[Hashable, Size],
                      pad: float = 0.0) -> list[tuple[Hashable, Hashable]]:
    """Pairs of nodes whose rectangles (``sizes`` plus ``pad`` on every side) intersect."""
    keys = list(pos)
    xy = np.array([pos[k] for k in keys], dtype=np.float64).reshape(-1, 2)
    wh = np.array([sizes[k] for k in keys], dtype=np.float64).reshape(-1, 2) + 2 * pad
    dx = np.abs(xy[:, None, 0] - xy[None, :, 0]) - (wh[:, None, 0] + wh[None, :, 0]) / 2
    dy = np.abs(xy[:, None, 1] - xy[None, :, 1]) - (wh[:, None, 1] + wh[None, :, 1]) / 2
    clash = (dx < -1e-9) & (dy < -1e-9)
    i, j = np.nonzero(np.triu(clash, 1))
    return [(keys[a], keys[b]) for a, b in zip(i, j)]


def remove_overlaps(pos: Mapping[Hashable, Iterable[float]], sizes: Mapping[Hashable, Size], pad: float = 0.08,
                    max_sweeps: int = 60) -> Positions:
    """Move rectangles apart until none overlap (with ``pad`` inches around each).

    Each sweep pushes every overlapping pair apart along the axis where they overlap least, half
    each way. Should pushing not settle within ``max_sweeps`` sweeps, all centres are spread by
    10 % about their mean and pushing resumes; spreading alone separates any set of distinct
    centres, so the loop ends with no overlap. Coinciding centres are first set apart along a
    fixed direction per node, so the result is deterministic.
    """
    keys = list(pos)
    if not keys:
        return {}
    xy = np.array([pos[k] for k in keys], dtype=np.float64).reshape(-1, 2)
    half = (np.array([sizes[k] for k in keys], dtype=np.float64).reshape(-1, 2) + 2 * pad) / 2
    n = len(keys)
    _, first = np.unique(np.round(xy, 9), axis=0, return_index=True)
    for i in sorted(set(range(n)) - set(first.tolist())):  # coinciding centres: fixed nudge per node
        angle = 2.399963 * i  # golden angle
        xy[i] += 1e-3 * (i + 1) * np.array([math.cos(angle), math.sin(angle)])
    for _ in range(10_000):
        for _sweep in range(max_sweeps):
            delta = xy[:, None, :] - xy[None, :, :]
            need = half[:, None, :] + half[None, :, :]
            over = need - np.abs(delta)  # positive on both axes = overlap
            clash = (over[..., 0] > 1e-9) & (over[..., 1] > 1e-9)
            np.fill_diagonal(clash, False)
            if not clash.any():
                return {k: (float(x), float(y)) for k, (x, y) in zip(keys, xy)}
            axis = np.where(over[..., 0] < over[..., 1], 0, 1)
            sign = np.where(delta[np.arange(n)[:, None], np.arange(n)[None, :], axis] >= 0, 1.0, -1.0)
            amount = np.where(clash, np.take_along_axis(over, axis[..., None], 2)[..., 0] / 2 + 1e-6, 0.0)
            move = np.zeros_like(xy)
            for ax in (0, 1):
                move[:, ax] = (np.where(axis == ax, amount * sign, 0.0)).sum(1)
            xy += move / np.maximum(1, clash.sum(1))[:, None]  # averaged over a node's clashes
        xy = xy.mean(0) + 1.1 * (xy - xy.mean(0))
    raise RuntimeError("remove_overlaps did not converge")  # unreachable for finite inputs


def _dot_layout(sizes: Mapping[Hashable, Size], edges: list[tuple[Hashable, Hashable]],
                pad: float) -> tuple[Positions, Routes]:
    names = {k: f"n{i}" for i, k in enumerate(sizes)}
    lines = [
        "digraph G {",
        f'  graph [rankdir=TB, nodesep={max(pad * 2, 0.1):.3f}, ranksep=0.3, splines=true];',
        "  node [shape=box, fixedsize=true, label=\"\"];",
        "  edge [arrowhead=none];",  # the drawing adds its own arrowheads at the node borders
    ]
    for k, (w, h) in sizes.items():
        lines.append(f'  {names[k]} [width={w + 2 * pad:.4f}, height={h + 2 * pad:.4f}];')
    for u, v in edges:
        lines.append(f"  {names[u]} -> {names[v]};")
    lines.append("}")
    result = subprocess.run(["dot", "-Tplain"], input="\n".join(lines), capture_output=True, text=True,
                            timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"graphviz dot failed ({result.returncode}): {result.stderr.strip()[:300]}")
    back = {v: k for k, v in names.items()}
    pos: Positions = {}
    routes: Routes = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "node":
            pos[back[parts[1]]] = (float(parts[2]), float(parts[3]))
        elif parts and parts[0] == "edge":
            n = int(parts[3])
            points = np.array(parts[4:4 + 2 * n], dtype=np.float64).reshape(n, 2)
            routes[(back[parts[1]], back[parts[2]])] = points  # cubic Bezier control points, 1 + 3k of them
    missing = set(sizes) - set(pos)
    if missing:
        raise RuntimeError(f"graphviz dot returned no position for {len(missing)} node(s)")
    return pos, routes


def _networkx_layout(sizes: Mapping[Hashable, Size], edges: list[tuple[Hashable, Hashable]]) -> Positions:
    graph = nx.Graph()
    graph.add_nodes_from(sizes)
    graph.add_edges_from(edges)
    if len(sizes) == 1:
        return {next(iter(sizes)): (0.0, 0.0)}
    pos = nx.kamada_kawai_layout(graph)  # deterministic: starts from a circle
    # scale: the typical edge about as long as two average nodes are wide
    wh = np.array(list(sizes.values()), dtype=np.float64)
    target = float(np.mean(wh[:, 0]) + np.mean(wh[:, 1])) * 1.1 + 0.2
    lengths = [math.dist(pos[u], pos[v]) for u, v in edges if u != v]
    if not lengths:
        lengths = [math.dist(pos[a], pos[b]) for a, b in zip(list(pos), list(pos)[1:])]
    scale = target / max(float(np.median(lengths)), 1e-6)
    return {k: (float(x) * scale, float(y) * scale) for k, (x, y) in pos.items()}


def graph_layout(sizes: Mapping[Hashable, Size], edges: Iterable[tuple[Hashable, Hashable]],
                 method: str = "auto", pad: float = 0.08) -> Positions:
    """Centres (inches) of rectangles ``sizes`` (node -> (w, h) inches) joined by ``edges``.

    No two rectangles grown by ``pad`` overlap in the result. ``method`` is ``"auto"``,
    ``"networkx"`` or ``"dot"`` (module docstring); ``"dot"`` without graphviz is an error.
    """
    return graph_layout_with_routes(sizes, edges, method, pad)[0]


def graph_layout_with_routes(sizes: Mapping[Hashable, Size], edges: Iterable[tuple[Hashable, Hashable]],
                             method: str = "auto", pad: float = 0.08) -> tuple[Positions, Routes]:
    """:func:`graph_layout` plus, with ``dot``, each edge's route around the nodes as cubic Bezier
    control points (inches; empty with networkx, whose edges are straight lines)."""
    if method not in LAYOUT_METHODS:
        raise ValueError(f"layout method: expected one of {LAYOUT_METHODS}, got {method!r}")
    edges = [(u, v) for u, v in edges]
    unknown = {x for e in edges for x in e} - set(sizes)
    if unknown:
        raise ValueError(f"edges name nodes without a size: {sorted(map(str, unknown))[:5]}")
    if not sizes:
        return {}, {}
    if method == "dot" and not shutil.which("dot"):
        raise RuntimeError("layout method 'dot' needs graphviz's dot program on PATH (apt install graphviz)")
    if method == "dot" or (method == "auto" and shutil.which("dot") is not None):
        pos, routes = _dot_layout(sizes, edges, pad)
        if overlapping_pairs(pos, sizes, pad=pad * 0.99):  # dot keeps nodes apart; were it not to, fix it
            return remove_overlaps(pos, sizes, pad=pad), {}
        return pos, routes
    return remove_overlaps(_networkx_layout(sizes, edges), sizes, pad=pad), {}
