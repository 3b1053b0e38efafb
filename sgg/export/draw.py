"""Picture of one scene graph: the image with numbered boxes (left) and the graph (right).

The graph layout uses graphviz ``dot`` (through pygraphviz or pydot) when both the ``dot`` binary
and one of those packages exist, and otherwise a deterministic spring layout (seeded). Node labels
follow the usual ``"<i>_<class>"`` convention; edge labels are predicate names; parallel edges (two
predicates for one pair) are drawn as separate arcs.
"""
from __future__ import annotations

import os
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.patches as mpatches
import networkx as nx
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from sgg.structures.scene_graph import SceneGraphPrediction

from .graph import as_image_entry
from .plots import save_figure
from .scene_graph_json import ImageInfo

__all__ = ["draw_scene_graph", "graph_layout"]


def _image_array(image: Any) -> np.ndarray:
    array = np.asarray(image.convert("RGB")) if hasattr(image, "convert") else np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"image: expected (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(array.astype(np.float64), 0.0, 1.0 if array.max() <= 1.0 else 255.0)
    return array


def graph_layout(graph: nx.Graph, seed: int = 0) -> dict[Any, tuple[float, float]]:
    """Node positions: graphviz ``dot`` when available, else a seeded spring layout (deterministic)."""
    if graph.number_of_nodes() == 0:
        return {}
    if shutil.which("dot"):
        simple = nx.DiGraph(graph)  # graphviz wrappers do not need parallel edges for positions
        for module in ("nx_agraph", "nx_pydot"):
            try:
                return getattr(nx, module).graphviz_layout(simple, prog="dot")
            except ImportError:
                continue
    if graph.number_of_nodes() <= 2:
        return nx.shell_layout(graph)
    return nx.spring_layout(graph, seed=seed, k=2.0 / np.sqrt(graph.number_of_nodes()))


def draw_scene_graph(
    image: Any,
    scene: dict | tuple[Any, SceneGraphPrediction] | SceneGraphPrediction,
    object_classes: Sequence[str] | None = None,
    predicate_classes: Sequence[str] | None = None,
    *,
    out_path: str | os.PathLike,
    topk_relations: int = 20,
    figsize: tuple[float, float] = (12.0, 6.0),
    dpi: int = 100,
    title: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Draw ``scene`` over ``image`` and as a graph; save a PNG of ``figsize * dpi`` pixels to ``out_path``.

    Args:
        image: PIL image or array (H, W[, 3|4]) in original pixels.
        scene: a scene-graph file entry (dict), an ``(info, prediction)`` pair, or a bare prediction
            (the last two need the class name lists).
        topk_relations: draw the ``k`` relations with the highest predicate score; objects shown are
            those they connect (all objects when there is no relation).
        overwrite: replace an existing ``out_path``.
    """
    pixels = _image_array(image)
    if isinstance(scene, SceneGraphPrediction):
        h, w = pixels.shape[:2]
        scene = (ImageInfo("image", 0, w, h), scene)
    entry = as_image_entry(scene, object_classes, predicate_classes)
    relations = sorted(entry["relations"], key=lambda r: -r["score"])[: max(topk_relations, 0)]
    shown = sorted({r["subject"] for r in relations} | {r["object"] for r in relations})
    if not relations:
        shown = [o["id"] for o in entry["objects"]]
    objects = {o["id"]: o for o in entry["objects"]}
    cmap = colormaps["tab20"]
    colour = {i: cmap(n % 20) for n, i in enumerate(shown)}

    fig = Figure(figsize=figsize, dpi=dpi)
    ax_img = fig.add_axes((0.01, 0.02, 0.48, 0.90))
    ax_graph = fig.add_axes((0.51, 0.02, 0.48, 0.90))
    if title is None:
        title = f"{entry.get('file_name', '')}: {len(relations)} of {len(entry['relations'])} relations"
    fig.suptitle(title, fontsize=11)

    # left: image with numbered, labelled boxes
    ax_img.imshow(pixels)
    for i in shown:
        x1, y1, x2, y2 = objects[i]["box"]
        ax_img.add_patch(mpatches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour[i], linewidth=2))
        ax_img.text(x1, y1, f"{i}: {objects[i]['label']}", fontsize=7, color="white", va="bottom",
                    bbox={"facecolor": colour[i], "alpha": 0.85, "pad": 1, "edgecolor": "none"})
    ax_img.set_axis_off()

    # right: the graph
    graph = nx.MultiDiGraph()
    for i in shown:
        graph.add_node(i, text=f"{i}_{objects[i]['label']}")
    for rank, rel in enumerate(relations):
        graph.add_edge(rel["subject"], rel["object"], key=rank, predicate=rel["predicate"])
    pos = graph_layout(graph, seed=seed)
    nx.draw_networkx_nodes(graph, pos, ax=ax_graph, node_color=[colour[i] for i in graph.nodes], node_size=1500,
                           edgecolors="black", linewidths=0.8)
    nx.draw_networkx_labels(graph, pos, labels=nx.get_node_attributes(graph, "text"), font_size=6, ax=ax_graph)
    parallel = defaultdict(int)
    for u, v, key, data in graph.edges(keys=True, data=True):
        j = parallel[(u, v)]
        parallel[(u, v)] += 1
        rad = 0.12 + 0.22 * j
        nx.draw_networkx_edges(graph, pos, edgelist=[(u, v, key)], ax=ax_graph, arrows=True, arrowsize=12,
                               node_size=1500, connectionstyle=f"arc3,rad={rad}", edge_color="dimgray")
        # label at the middle of the quadratic Bezier arc: mid + rad/2 * (dy, -dx)
        (x1, y1), (x2, y2) = pos[u], pos[v]
        lx, ly = (x1 + x2) / 2 + rad / 2 * (y2 - y1), (y1 + y2) / 2 - rad / 2 * (x2 - x1)
        ax_graph.text(lx, ly, data["predicate"], fontsize=7, ha="center", va="center",
                      bbox={"facecolor": "lightyellow", "alpha": 0.9, "pad": 1, "edgecolor": "none"})
    if pos:
        xs, ys = zip(*pos.values())
        pad_x, pad_y = 0.25 * (max(xs) - min(xs)) + 0.3, 0.25 * (max(ys) - min(ys)) + 0.3
        ax_graph.set_xlim(min(xs) - pad_x, max(xs) + pad_x)
        ax_graph.set_ylim(min(ys) - pad_y, max(ys) + pad_y)
    ax_graph.set_axis_off()
    return save_figure(fig, out_path, dpi=dpi, overwrite=overwrite)
