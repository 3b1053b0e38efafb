"""Pictures of scene graphs: the image with its boxes (left) and the graph (right), saved as PNG.

* :func:`draw_scene_graph` draws a prediction: a readable subset chosen by
  :func:`sgg.visualization.select.select_for_drawing` (score threshold, class-agnostic duplicate
  suppression, top distinct pairs with a few predicates each).
* :func:`draw_gt_comparison` draws a prediction against the ground truth at one K: matched GT
  triplets, missed GT triplets and false positives in three colours, as the VG-150 evaluator
  decided them (:func:`sgg.evaluation.decisions.vg_triplet_decisions`).

The graph has one node per drawn object ("<id> <class>", in the colour of its box) and one small
node per (subject, object) pair listing its predicates, with an arrow subject -> pair -> object.
Node sizes are the labels' sizes at the drawing's font size and the layout
(:mod:`sgg.visualization.layout`) is in inches, so the figure grows with the graph instead of the
text shrinking, and no two nodes overlap.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.path import Path as MplPath

from sgg.evaluation.decisions import TripletDecisions
from sgg.export.graph import as_image_entry
from sgg.export.plots import save_figure
from sgg.export.scene_graph_json import ImageInfo
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

from .layout import graph_layout_with_routes, text_size
from .select import DrawSelection, SelectionOptions, select_for_drawing

__all__ = ["STATUS_COLOURS", "draw_gt_comparison", "draw_scene_graph", "render_picture"]

#: colours of the comparison mode (Okabe-Ito palette, distinguishable with colour blindness);
#: the HTML viewer uses the same ones
STATUS_COLOURS = {"matched": "#009E73", "missed": "#D55E00", "false_positive": "#0072B2"}
_STATUS_STYLE = {"matched": "-", "missed": "--", "false_positive": ":"}
_PAD = 0.07  # inches of padding inside a node around its label


@dataclass
class BoxItem:
    """A box over the image: pixels xyxy, its label text and colour; dashed for prediction-only boxes."""

    box: Sequence[float]
    text: str
    colour: Any
    dashed: bool = False


@dataclass
class Picture:
    """Everything a drawing shows; :func:`render_picture` turns it into a PNG."""

    pixels: np.ndarray
    boxes: list[BoxItem]
    nodes: dict[Any, tuple[str, Any]]  # object node -> (text, colour)
    relations: dict[Any, tuple[str, Any, Any, str]]  # pair node -> (text, subject node, object node, status)
    title: str
    legend: list[tuple[str, str]] = field(default_factory=list)  # (status, text)
    empty_note: str = "nothing to draw"  # shown in place of the graph when it has no node
    dashed_nodes: set = field(default_factory=set)  # object nodes drawn with a dashed outline


def _image_array(image: Any) -> np.ndarray:
    array = np.asarray(image.convert("RGB")) if hasattr(image, "convert") else np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"image: expected (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(array.astype(np.float64), 0.0, 1.0 if array.max() <= 1.0 else 255.0)
    return array


def _colours(n: int) -> list:
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _border_point(centre: np.ndarray, half: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Where the segment centre -> towards leaves the rectangle of half-size ``half`` around centre."""
    d = towards - centre
    with np.errstate(divide="ignore"):
        t = np.min(np.where(np.abs(d) > 1e-12, half / np.abs(d), np.inf))
    return centre + min(t, 1.0) * d


def _edge_path(pos, sizes, route: np.ndarray | None, a, b) -> MplPath:
    """Edge a -> b from border to border: dot's route (cubic Bezier control points, which end on the
    padded rectangles) joined to the drawn borders, or a straight segment."""
    pa, pb = np.array(pos[a]), np.array(pos[b])
    ha, hb = np.array(sizes[a]) / 2, np.array(sizes[b]) / 2
    if route is None or len(route) < 4 or (len(route) - 1) % 3:
        return MplPath([_border_point(pa, ha, pb), _border_point(pb, hb, pa)])
    start, end = _border_point(pa, ha, route[0]), _border_point(pb, hb, route[-1])
    verts = [start, *route, end]
    codes = [MplPath.MOVETO, MplPath.LINETO] + [MplPath.CURVE4] * (len(route) - 1) + [MplPath.LINETO]
    return MplPath(verts, codes)


def _place_labels(boxes: list[Sequence[float]], sizes_px: list[tuple[float, float]],
                  window: tuple[float, float, float, float]) -> tuple[list[tuple[float, float]], float]:
    """Top-left corners (pixels) of the box labels, each at the first candidate spot around its box
    that overlaps no label placed before (else the least overlapping one), kept inside ``window``;
    and the total overlap area left."""
    left, top, right, bottom = window
    placed: list[tuple[float, float, float, float]] = []
    corners, total = [], 0.0
    for (x1, y1, x2, y2), (tw, th) in zip(boxes, sizes_px):
        candidates = [(x1, y1 - th), (x1, y1), (x1, y2), (x1, y2 - th), (x2 - tw, y1 - th), (x2 - tw, y2)]
        best, best_cost = None, None
        for cx, cy in candidates:
            cx = min(max(cx, left), max(right - tw, left))
            cy = min(max(cy, top), max(bottom - th, top))
            cost = sum(
                max(0.0, min(cx + tw, px + pw) - max(cx, px)) * max(0.0, min(cy + th, py + ph) - max(cy, py))
                for px, py, pw, ph in placed
            )
            if best_cost is None or cost < best_cost - 1e-9:
                best, best_cost = (cx, cy), cost
            if cost == 0:
                break
        placed.append((best[0], best[1], tw, th))
        corners.append(best)
        total += best_cost
    return corners, total


def zoom_window(boxes: list[Sequence[float]], width: int, height: int) -> tuple[float, float, float, float]:
    """The part of the image to show: all of it, unless the boxes cover less than half of it; then
    their union with a margin (at least a third of the image's shorter side, aspect ratio kept
    between 1:2 and 2:1)."""
    if not boxes:
        return 0.0, 0.0, float(width), float(height)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1, y1 = b[:, 0].min(), b[:, 1].min()
    x2, y2 = b[:, 2].max(), b[:, 3].max()
    margin = max(0.15 * max(x2 - x1, y2 - y1), 0.06 * min(width, height))
    x1, y1, x2, y2 = x1 - margin, y1 - margin, x2 + margin, y2 + margin
    side = min(width, height) / 3
    w, h = max(x2 - x1, side), max(y2 - y1, side)
    w, h = max(w, h / 2), max(h, w / 2)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = min(w, width), min(h, height)
    if w * h >= 0.5 * width * height:
        return 0.0, 0.0, float(width), float(height)
    x1 = min(max(cx - w / 2, 0.0), width - w)
    y1 = min(max(cy - h / 2, 0.0), height - h)
    return float(x1), float(y1), float(x1 + w), float(y1 + h)


def render_picture(picture: Picture, out_path: str | os.PathLike, *, fontsize: float = 10.0, dpi: int = 100,
                   layout: str = "auto", overwrite: bool = False) -> Path:
    """Lay out and save ``picture``; text is ``fontsize`` points at every figure size."""
    rel_font = fontsize * 0.9
    sizes: dict[Any, tuple[float, float]] = {}
    for key, (text, _) in picture.nodes.items():
        w, h = text_size(text, fontsize, dpi=dpi)
        sizes[("o", key)] = (w + 2 * _PAD, h + 2 * _PAD)
    for key, (text, _, _, _) in picture.relations.items():
        w, h = text_size(text, rel_font, dpi=dpi)
        sizes[("r", key)] = (w + 2 * _PAD, h + 2 * _PAD)
    edges = []
    for key, (_, s, o, _) in picture.relations.items():
        edges += [(("o", s), ("r", key)), (("r", key), ("o", o))]
    pos, routes = graph_layout_with_routes(sizes, edges, method=layout)

    margin, title_h = 0.25, 0.35 * (picture.title.count("\n") + 1) + 0.15
    legend_h = 0.35 if picture.legend else 0.0
    if pos:
        corners = [np.array(pos[k]) - np.array(sizes[k]) / 2 for k in pos]
        corners += [np.array(pos[k]) + np.array(sizes[k]) / 2 for k in pos]
        corners += [p for route in routes.values() for p in route]  # dot's curved edges stay in the picture
        lo, hi = np.min(corners, axis=0) - 0.1, np.max(corners, axis=0) + 0.1
    else:
        lo, hi = np.zeros(2), np.array([3.0, 1.0])
    graph_w, graph_h = hi - lo
    img_h, img_w = picture.pixels.shape[:2]
    win = zoom_window([b.box for b in picture.boxes], img_w, img_h)
    win_w, win_h = win[2] - win[0], win[3] - win[1]
    zoomed = (win_w, win_h) != (img_w, img_h)
    panel_h = max(graph_h, 4.5)
    shown_w = panel_h * win_w / win_h
    shown_h = panel_h
    if shown_w > 9.0:
        shown_w, shown_h = 9.0, 9.0 * win_h / win_w
    content_w = shown_w + graph_w + 3 * margin
    fig_w = max(content_w, text_size(picture.title, fontsize * 1.1, dpi=dpi)[0] + 2 * margin)
    x0 = (fig_w - content_w) / 2  # a title wider than the panels widens the figure; panels stay centred
    fig_h = panel_h + title_h + legend_h + 2 * margin
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi)
    fig.text(0.5, 1 - margin / 2 / fig_h, picture.title, ha="center", va="top", fontsize=fontsize * 1.1)
    bottom = margin + legend_h

    # left: the image with its boxes, labels placed so that they do not cover each other
    ax_img = fig.add_axes(((x0 + margin) / fig_w, (bottom + (panel_h - shown_h) / 2) / fig_h, shown_w / fig_w, shown_h / fig_h))
    ax_img.imshow(picture.pixels, extent=(0, img_w, img_h, 0), aspect="auto", interpolation="antialiased")
    ax_img.set_xlim(win[0], win[2])
    ax_img.set_ylim(win[3], win[1])
    px_per_inch = win_h / shown_h
    label_font = fontsize * 0.9

    def sizes_of(texts):
        return [tuple((np.array(text_size(t, label_font, bold=True, dpi=dpi)) + [0.08, 0.03]) * px_per_inch) for t in texts]

    texts = [b.text for b in picture.boxes]
    corners, clash = _place_labels([b.box for b in picture.boxes], sizes_of(texts), win)
    if clash > 0:  # crowded: the number alone on the image (the graph's node has the class name)
        texts = [t.split(" ")[0] for t in texts]
        corners, _ = _place_labels([b.box for b in picture.boxes], sizes_of(texts), win)
    for item, text, (cx, cy), (tw, th) in zip(picture.boxes, texts, corners, sizes_of(texts)):
        x1, y1, x2, y2 = item.box
        ax_img.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=item.colour, linewidth=2.2,
                                   linestyle="--" if item.dashed else "-"))
        ax_img.add_patch(Rectangle((cx, cy), tw, th, facecolor=item.colour, edgecolor="none", alpha=0.9))
        ax_img.text(cx + 3 * px_per_inch / 72, cy + th / 2, text, fontsize=label_font, color="white", va="center",
                    ha="left", fontweight="bold", clip_on=True)
    if zoomed:
        ax_img.text(0.0, -0.01, f"zoomed to the drawn objects: x {win[0]:.0f}-{win[2]:.0f}, y {win[1]:.0f}-"
                    f"{win[3]:.0f} of {img_w}x{img_h} px", transform=ax_img.transAxes, ha="left", va="top",
                    fontsize=fontsize * 0.8, color="dimgray")
    ax_img.set_axis_off()

    # right: the graph, one data unit = one inch
    ax = fig.add_axes(((x0 + 2 * margin + shown_w) / fig_w, (bottom + (panel_h - graph_h) / 2) / fig_h,
                       graph_w / fig_w, graph_h / fig_h))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_axis_off()
    if not pos:
        ax.text((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, picture.empty_note, ha="center", va="center",
                fontsize=fontsize, color="dimgray", wrap=True)
    for key, (_, s, o, status) in picture.relations.items():
        r = ("r", key)
        colour = STATUS_COLOURS.get(status, "#555555")
        style = _STATUS_STYLE.get(status, "-")
        for a, b, arrow in ((("o", s), r, False), (r, ("o", o), True)):
            ax.add_patch(FancyArrowPatch(
                path=_edge_path(pos, sizes, routes.get((a, b)), a, b), arrowstyle="-|>" if arrow else "-",
                color=colour, linewidth=1.4, linestyle=style, shrinkA=0, shrinkB=0, mutation_scale=12, zorder=1))
    for key, (text, colour) in picture.nodes.items():
        (x, y), (w, h) = pos[("o", key)], sizes[("o", key)]
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                                    facecolor=(*colour[:3], 0.25) if not isinstance(colour, str) else colour,
                                    edgecolor=colour, linewidth=2.0, zorder=2,
                                    linestyle="--" if key in picture.dashed_nodes else "-"))
        ax.text(x, y, text, fontsize=fontsize, ha="center", va="center", zorder=3)
    for key, (text, _, _, status) in picture.relations.items():
        (x, y), (w, h) = pos[("r", key)], sizes[("r", key)]
        colour = STATUS_COLOURS.get(status, "#999999")
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.05",
                                    facecolor="#fff8d6" if status == "predicted" else "white",
                                    edgecolor=colour, linewidth=1.2,
                                    linestyle=_STATUS_STYLE.get(status, "-"), zorder=2))
        ax.text(x, y, text, fontsize=rel_font, ha="center", va="center", zorder=3,
                color="black" if status == "predicted" else colour)
    if picture.legend:
        handles = [Line2D([0], [0], color=STATUS_COLOURS[s], linestyle=_STATUS_STYLE[s], linewidth=2) for s, _ in picture.legend]
        fig.legend(handles, [t for _, t in picture.legend], loc="lower center", ncol=len(handles), frameon=False,
                   fontsize=fontsize, bbox_to_anchor=(0.5, margin / 2 / fig_h))
    return save_figure(fig, out_path, dpi=dpi, overwrite=overwrite)


def _entry(image_pixels: np.ndarray, scene: Any, object_classes, predicate_classes) -> dict:
    if isinstance(scene, SceneGraphPrediction):
        h, w = image_pixels.shape[:2]
        scene = (ImageInfo("image", 0, w, h), scene)
    return as_image_entry(scene, object_classes, predicate_classes)


def prediction_picture(pixels: np.ndarray, entry: dict, selection: DrawSelection, options: SelectionOptions,
                       title: str | None = None) -> Picture:
    """The :class:`Picture` of a selection of a scene-graph file entry."""
    objects = {o["id"]: o for o in entry["objects"]}
    colours = dict(zip(selection.objects, _colours(len(selection.objects))))
    boxes = [BoxItem(objects[i]["box"], f"{i} {objects[i]['label']}", colours[i]) for i in selection.objects]
    nodes = {i: (f"{i} {objects[i]['label']}", colours[i]) for i in selection.objects}
    relations = {(p.subject, p.object): ("\n".join(p.predicates), p.subject, p.object, "predicted")
                 for p in selection.pairs}
    if title is None:
        title = (
            f"{entry.get('file_name', '')}: {selection.num_relations} of {len(entry['relations'])} relations "
            f"({len(selection.pairs)} pairs, at most {options.max_predicates_per_pair} predicates each), "
            f"{len(selection.objects)} of {len(entry['objects'])} objects\n"
            f"objects scoring >= {options.min_object_score:g}, overlapping boxes (IoU > {options.nms_iou:g}) "
            f"drawn once ({len(selection.suppressed)} duplicates hidden)"
        )
    scores = [o["score"] for o in entry["objects"]]
    note = ("no object" if not scores else
            f"no object scores >= {options.min_object_score:g}\n(best {max(scores):.2f}; lower the threshold)")
    return Picture(pixels, boxes, nodes, relations, title, empty_note=note)


def draw_scene_graph(
    image: Any,
    scene: dict | tuple[Any, SceneGraphPrediction] | SceneGraphPrediction,
    object_classes: Sequence[str] | None = None,
    predicate_classes: Sequence[str] | None = None,
    *,
    out_path: str | os.PathLike,
    options: SelectionOptions | None = None,
    layout: str = "auto",
    fontsize: float = 10.0,
    dpi: int = 100,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Draw a readable subset of ``scene`` over ``image`` and as a graph; save a PNG to ``out_path``.

    Args:
        image: PIL image or array (H, W[, 3|4]) in original pixels.
        scene: a scene-graph file entry (dict), an ``(info, prediction)`` pair, or a bare prediction
            (the last two need the class name lists).
        options: what is drawn (:class:`SelectionOptions`: object score threshold, duplicate
            suppression, number of pairs, predicates per pair).
        layout: ``"auto"`` (graphviz ``dot`` when installed, else networkx), ``"networkx"`` or ``"dot"``.
        fontsize: label size in points; the figure is sized so that it stays this size.
        overwrite: replace an existing ``out_path``.
    """
    pixels = _image_array(image)
    entry = _entry(pixels, scene, object_classes, predicate_classes)
    options = options or SelectionOptions()
    selection = select_for_drawing(entry, options)
    picture = prediction_picture(pixels, entry, selection, options, title)
    return render_picture(picture, out_path, fontsize=fontsize, dpi=dpi, layout=layout, overwrite=overwrite)


def comparison_picture(
    pixels: np.ndarray,
    record: SceneGraphRecord,
    prediction: SceneGraphPrediction,
    decisions: TripletDecisions,
    k: int,
    object_classes: Sequence[str],
    predicate_classes: Sequence[str],
    *,
    mode: str,
    max_false_positives: int = 8,
) -> Picture:
    """The :class:`Picture` of matched / missed / false-positive triplets at ``k`` (see :func:`draw_gt_comparison`)."""
    gt_rels = np.asarray(record.relations).reshape(-1, 3)
    matched = decisions.matched(k)
    tp_rows = decisions.true_positive_rows(k)
    fp_rows = np.flatnonzero(~tp_rows)
    shown_fp = fp_rows[:max_false_positives]

    def node_of(i: int) -> tuple[str, int]:  # a predicted object is drawn as the GT object it stands for
        g = int(decisions.object_gt[i])
        return ("g", g) if g >= 0 else ("p", int(i))

    groups: dict[tuple, list[str]] = {}
    for g, (s, o, p) in enumerate(gt_rels):
        status = "matched" if matched[g] else "missed"
        groups.setdefault((("g", int(s)), ("g", int(o)), status), []).append(predicate_classes[p])
    pairs = prediction.rel_pair_idxs
    for r in shown_fp:
        s, o = node_of(pairs[r, 0]), node_of(pairs[r, 1])
        groups.setdefault((s, o, "false_positive"), []).append(predicate_classes[decisions.row_predicates[r]])
    used = sorted({n for (s, o, _) in groups for n in (s, o)})
    colours = dict(zip(used, _colours(len(used))))
    nodes, boxes = {}, []
    for kind, i in used:
        if kind == "g":
            label, box, text = object_classes[record.labels[i]], record.boxes[i], f"{i} {object_classes[record.labels[i]]}"
        else:
            label, box = object_classes[prediction.labels[i]], prediction.boxes[i]
            text = f"P{i} {label}"
        nodes[(kind, i)] = (text, colours[(kind, i)])
        boxes.append(BoxItem(box.tolist(), text, colours[(kind, i)], dashed=kind == "p"))
    relations = {}
    for n, ((s, o, status), preds) in enumerate(groups.items()):
        unique = list(dict.fromkeys(preds))
        relations[n] = ("\n".join(unique), s, o, status)
    n_match, n_gt = int(matched.sum()), len(gt_rels)
    recall = decisions.recall(k)
    title = (
        f"{record.file_name} ({mode}): R@{k} = " + ("n/a (not counted by the evaluator)" if recall is None else f"{recall:.2f}")
        + "; GT numbered, predicted-only objects as P<id> (dashed)"
    )
    legend = [
        ("matched", f"matched GT ({n_match} of {n_gt})"),
        ("missed", f"missed GT ({n_gt - n_match})"),
        ("false_positive", f"false positives in top {k} ({len(fp_rows)}, {len(shown_fp)} drawn)"),
    ]
    return Picture(pixels, boxes, nodes, relations, title, legend,
                   dashed_nodes={key for key in nodes if key[0] == "p"})


def draw_gt_comparison(
    image: Any,
    record: SceneGraphRecord,
    prediction: SceneGraphPrediction,
    decisions: TripletDecisions,
    k: int,
    object_classes: Sequence[str],
    predicate_classes: Sequence[str],
    *,
    mode: str,
    out_path: str | os.PathLike,
    max_false_positives: int = 8,
    layout: str = "auto",
    fontsize: float = 10.0,
    dpi: int = 100,
    overwrite: bool = False,
) -> Path:
    """Draw GT triplets matched / missed at ``k`` and the best ``max_false_positives`` false positives.

    ``decisions`` come from :func:`sgg.evaluation.decisions.vg_triplet_decisions` for this record
    and prediction, so the colours are the evaluator's verdicts: green = GT triplet matched within
    the top ``k`` predictions, orange dashed = missed, blue dotted = a top-``k`` prediction matching
    no GT triplet. Predicted objects are drawn as the GT object they match (same label, IoU >= the
    threshold); others get their own dashed box.
    """
    pixels = _image_array(image)
    picture = comparison_picture(pixels, record, prediction, decisions, k, object_classes, predicate_classes,
                                 mode=mode, max_false_positives=max_false_positives)
    return render_picture(picture, out_path, fontsize=fontsize, dpi=dpi, layout=layout, overwrite=overwrite)
