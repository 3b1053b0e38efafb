"""Drawings: what is selected (score, duplicates, distinct pairs), layouts without overlaps, legible PNGs."""
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw
from viewer_fixtures import OBJECTS, PREDICATES, cluttered_prediction, toy_record

from sgg.evaluation.decisions import vg_triplet_decisions
from sgg.export.plots import plot_per_predicate_recall
from sgg.export.scene_graph_json import ImageInfo, image_to_json
from sgg.structures.scene_graph import SceneGraphPrediction
from sgg.visualization import (
    STATUS_COLOURS,
    SelectionOptions,
    draw_gt_comparison,
    draw_scene_graph,
    graph_layout,
    overlapping_pairs,
    remove_overlaps,
    select_for_drawing,
)
from sgg.visualization.draw import comparison_picture
from sgg.visualization.layout import text_size

OBJ = ["__background__", "person", "horse", "hat"]
PRED = ["__background__", "riding", "on", "wearing", "near"]


def _entry(objects, relations):
    """A scene-graph file entry from (box, label, score) and (subject, object, predicate, score) tuples."""
    return {
        "file_name": "a.jpg", "image_id": 0, "width": 200, "height": 150,
        "objects": [{"id": i, "box": list(b), "label": OBJ[lbl], "label_id": lbl, "score": s}
                    for i, (b, lbl, s) in enumerate(objects)],
        "relations": [{"subject": s, "object": o, "predicate": PRED[p], "predicate_id": p, "score": sc}
                      for s, o, p, sc in relations],
    }


def _scene():
    image = Image.new("RGB", (160, 120), (200, 220, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle([10, 10, 50, 90], fill=(200, 40, 40))
    draw.ellipse([60, 40, 150, 110], fill=(90, 60, 20))
    pred = SceneGraphPrediction(
        boxes=[[10, 10, 50, 90], [60, 40, 150, 110], [20, 0, 40, 15]], labels=[1, 2, 3], scores=[1.0, 0.9, 0.7],
        rel_pair_idxs=[[0, 1], [0, 2], [0, 1], [2, 1]], rel_labels=[1, 3, 2, 4], rel_label_scores=[0.9, 0.8, 0.6, 0.3],
    )
    return image, pred


# ----------------------------------------------------------------------------- selection


def test_duplicates_of_any_class_are_drawn_once_and_low_scores_dropped():
    entry = _entry(
        [([10, 10, 60, 60], 1, 0.9),   # 0: kept
         ([12, 11, 61, 62], 2, 0.8),   # 1: same place, other class -> duplicate of 0
         ([100, 20, 150, 80], 3, 0.7),  # 2: kept
         ([101, 21, 149, 79], 3, 0.75),  # 3: duplicate of 2 with a better score -> 3 kept, 2 hidden
         ([0, 100, 40, 140], 1, 0.05)],  # 4: below the score threshold
        [(0, 2, 1, 0.9), (1, 3, 2, 0.8), (0, 3, 3, 0.7), (4, 0, 4, 0.6)],
    )
    sel = select_for_drawing(entry, SelectionOptions(min_object_score=0.2, nms_iou=0.5))
    assert sel.objects == [0, 3]
    assert sel.suppressed == {1: 0, 2: 3}
    assert sel.candidates == 4
    # relations touching a hidden or low-score object are not drawn; (0, 3) is the only pair left
    assert [(p.subject, p.object, p.predicates) for p in sel.pairs] == [(0, 3, ("wearing",))]


def test_distinct_pairs_with_a_few_predicates_each_in_rank_order():
    objects = [([10 + 40 * i, 10, 40 + 40 * i, 40], 1, 0.9) for i in range(4)]
    relations = [(0, 1, 1, 0.9), (0, 1, 2, 0.8), (0, 1, 1, 0.7), (0, 1, 3, 0.6), (1, 0, 4, 0.5),
                 (2, 3, 2, 0.4), (1, 2, 4, 0.3)]
    sel = select_for_drawing(_entry(objects, relations), SelectionOptions(max_pairs=3, max_predicates_per_pair=2))
    got = [(p.subject, p.object, p.predicates, p.ranks) for p in sel.pairs]
    # (0,1): riding + on (the repeated "riding" and the third predicate dropped); (1,0) is another pair
    assert got == [(0, 1, ("riding", "on"), (0, 1)), (1, 0, ("near",), (4,)), (2, 3, ("on",), (5,))]
    assert sel.num_relations == 4
    assert len({(p.subject, p.object) for p in sel.pairs}) == len(sel.pairs)
    assert sel.objects == [0, 1, 2, 3]  # one node per drawn object


def test_selection_limits_are_checked():
    with pytest.raises(ValueError, match="max_predicates_per_pair"):
        SelectionOptions(max_predicates_per_pair=0)
    with pytest.raises(ValueError, match="nms_iou"):
        SelectionOptions(nms_iou=1.5)


def test_cluttered_sgdet_prediction_is_reduced_to_a_readable_subset():
    rng = np.random.default_rng(1)
    record = toy_record(0, rng)
    pred = cluttered_prediction(record, rng, copies=4)
    entry = image_to_json(ImageInfo.from_any(record), pred, OBJECTS, PREDICATES)
    sel = select_for_drawing(entry, SelectionOptions(min_object_score=0.0, nms_iou=0.3))
    boxes = np.array([entry["objects"][i]["box"] for i in sel.objects])
    import torch
    from torchvision.ops import box_iou

    iou = box_iou(torch.tensor(boxes), torch.tensor(boxes)).numpy()
    np.fill_diagonal(iou, 0)
    assert iou.max() <= 0.3  # no two drawn boxes cover the same thing
    assert len(sel.objects) <= len(record.boxes) < len(pred.boxes)
    assert len(entry["relations"]) > 50 and sel.num_relations <= 2 * 12


# ----------------------------------------------------------------------------- layout


def _sizes(n, rng):
    return {i: (float(rng.uniform(0.5, 1.6)), float(rng.uniform(0.2, 0.5))) for i in range(n)}


def test_remove_overlaps_separates_every_rectangle_even_from_one_point():
    rng = np.random.default_rng(0)
    sizes = _sizes(25, rng)
    same = {i: (0.0, 0.0) for i in sizes}  # worst case: all centres equal
    assert len(overlapping_pairs(same, sizes)) == 25 * 24 // 2
    pos = remove_overlaps(same, sizes, pad=0.05)
    assert overlapping_pairs(pos, sizes, pad=0.05) == []
    assert pos == remove_overlaps(same, sizes, pad=0.05)  # deterministic


@pytest.mark.parametrize("method", ["networkx", "dot"])
def test_graph_layout_has_no_overlapping_nodes(method):
    if method == "dot" and shutil.which("dot") is None:
        pytest.skip("graphviz's dot program is not installed")
    rng = np.random.default_rng(3)
    sizes = _sizes(20, rng)  # a drawing's size: 12 pairs at most, and the objects they join
    edges = [(int(a), int(b)) for a, b in rng.integers(0, 20, size=(26, 2)) if a != b]
    pos = graph_layout(sizes, edges, method=method, pad=0.05)
    assert set(pos) == set(sizes)
    assert overlapping_pairs(pos, sizes, pad=0.05) == []
    assert pos == graph_layout(sizes, edges, method=method, pad=0.05)


def test_graph_layout_errors():
    with pytest.raises(ValueError, match="without a size"):
        graph_layout({"a": (1, 1)}, [("a", "b")], method="networkx")
    with pytest.raises(ValueError, match="layout method"):
        graph_layout({"a": (1, 1)}, [], method="circle")


# ----------------------------------------------------------------------------- pictures


def _panel_stats(png):
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)
    w = pixels.shape[1]
    return pixels, pixels[:, : w // 3], pixels[:, w // 2:]


def test_drawing_png_content_and_file_policy(tmp_path):
    image, pred = _scene()
    info = {"file_name": "a.jpg", "image_id": 1, "width": 160, "height": 120}
    out = draw_scene_graph(image, (info, pred), OBJ, PRED, out_path=tmp_path / "a.png", layout="networkx", dpi=80)
    pixels, left, right = _panel_stats(out)
    assert pixels.var() > 100
    assert (np.abs(left - [200, 220, 255]).sum(-1) < 10).mean() > 0.05  # the image's sky colour
    assert (right.sum(-1) < 740).mean() > 0.02  # nodes and edges
    with pytest.raises(FileExistsError, match="overwrite=True"):
        draw_scene_graph(image, pred, OBJ, PRED, out_path=tmp_path / "a.png")
    draw_scene_graph(np.asarray(image), pred, OBJ, PRED, out_path=tmp_path / "a.png", overwrite=True, layout="networkx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_more_pairs_make_a_bigger_figure_with_the_same_font(tmp_path):
    image, pred = _scene()
    one = draw_scene_graph(image, pred, OBJ, PRED, out_path=tmp_path / "one.png", layout="networkx",
                           options=SelectionOptions(max_pairs=1))
    rng = np.random.default_rng(2)
    record = toy_record(0, rng, width=160, height=120)
    big = cluttered_prediction(record, rng, copies=1)
    many = draw_scene_graph(image, (record, big), OBJECTS, PREDICATES, out_path=tmp_path / "many.png",
                            layout="networkx", options=SelectionOptions(max_pairs=12, min_object_score=0))
    w1, h1 = Image.open(one).size
    w2, h2 = Image.open(many).size
    assert w2 * h2 > w1 * h1  # the figure grows instead of the text shrinking
    assert text_size("person", 10)[1] == pytest.approx(1.25 * 10 / 72)


def test_gt_comparison_draws_the_evaluator_decisions(tmp_path):
    rng = np.random.default_rng(5)
    record = toy_record(0, rng)
    pred = cluttered_prediction(record, rng, copies=2, hit_rate=0.5)
    dec = vg_triplet_decisions(record, pred, mode="sgdet")
    k = 20
    counts = dec.counts(k)
    assert counts["matched"] + counts["missed"] == len(record.relations) and counts["false_positive"] > 0
    image = Image.new("RGB", (record.width, record.height), (235, 235, 235))
    pic = comparison_picture(np.asarray(image), record, pred, dec, k, OBJECTS, PREDICATES, mode="sgdet",
                             max_false_positives=100)
    drawn = {(s, o, p, status) for text, s, o, status in pic.relations.values() for p in text.split("\n")}

    def node(i):
        return ("g", int(dec.object_gt[i])) if dec.object_gt[i] >= 0 else ("p", int(i))

    expected = {(("g", s), ("g", o), PREDICATES[p], "matched" if dec.gt_rank[g] >= 0 and dec.gt_rank[g] < k
                 else "missed") for g, (s, o, p) in enumerate(record.relations)}
    expected |= {(node(pred.rel_pair_idxs[r, 0]), node(pred.rel_pair_idxs[r, 1]),
                  PREDICATES[dec.row_predicates[r]], "false_positive")
                 for r in range(k) if not dec.row_hits[r].any()}
    assert drawn == expected
    assert [t for _, t in pic.legend] == [
        f"matched GT ({counts['matched']} of {len(record.relations)})", f"missed GT ({counts['missed']})",
        f"false positives in top {k} ({counts['false_positive']}, {counts['false_positive']} drawn)"]
    out = draw_gt_comparison(image, record, pred, dec, k, OBJECTS, PREDICATES, mode="sgdet",
                             out_path=tmp_path / "cmp.png", layout="networkx", max_false_positives=4)
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    for colour in STATUS_COLOURS.values():
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(-1) < 30).sum() > 30


def test_per_predicate_recall_plot(tmp_path):
    recalls = {f"pred_{i}": v for i, v in enumerate(np.linspace(0.05, 0.9, 20))}
    out = plot_per_predicate_recall(recalls, tmp_path / "recall.png", "mR@50")
    pixels = np.asarray(Image.open(out).convert("RGB"), dtype=np.float64)
    assert pixels.shape[0] == 450 and pixels.shape[1] >= 600 and pixels.var() > 100
    blue = (np.abs(pixels - [31, 119, 180]).sum(-1) < 30).mean()  # the tab:blue bars
    assert blue > 0.03
    with pytest.raises(ValueError, match="pred_x.*not finite"):
        plot_per_predicate_recall({"pred_x": float("nan")}, tmp_path / "nan.png")
    assert not (tmp_path / "nan.png").exists()


def test_zoom_window_shows_small_objects_larger():
    from sgg.visualization.draw import zoom_window

    assert zoom_window([[0, 0, 300, 200]], 320, 240) == (0.0, 0.0, 320.0, 240.0)  # covers most: no zoom
    assert zoom_window([], 320, 240) == (0.0, 0.0, 320.0, 240.0)
    x1, y1, x2, y2 = zoom_window([[250, 180, 270, 200], [280, 200, 300, 230]], 320, 240)
    assert (x2 - x1) * (y2 - y1) < 0.5 * 320 * 240
    assert x1 <= 250 and y1 <= 180 and x2 >= 300 and y2 >= 230  # every box inside, within the image
    assert 0 <= x1 and 0 <= y1 and x2 <= 320 and y2 <= 240
    assert 0.5 <= (x2 - x1) / (y2 - y1) <= 2.0


def test_dot_routes_every_edge_from_border_to_border():
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot program is not installed")
    from sgg.visualization.layout import graph_layout_with_routes

    sizes = {"a": (1.0, 0.3), "b": (0.6, 0.3), "c": (1.2, 0.3)}
    edges = [("a", "b"), ("b", "c"), ("a", "c")]
    pos, routes = graph_layout_with_routes(sizes, edges, method="dot", pad=0.05)
    assert set(routes) == set(edges)
    for (u, v), points in routes.items():
        assert len(points) >= 4 and (len(points) - 1) % 3 == 0  # cubic Bezier control points
        for end, node in ((points[0], u), (points[-1], v)):  # ends on the node's padded rectangle
            gap = np.abs(end - np.array(pos[node])) - (np.array(sizes[node]) / 2 + 0.05)
            assert gap.max() == pytest.approx(0.0, abs=0.02)


def test_text_size_is_the_width_matplotlib_draws():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(dpi=100)
    renderer = FigureCanvasAgg(fig).get_renderer()
    for text, bold in (("13 blue_star", True), ("same colour as", False)):
        drawn = fig.text(0, 0, text, fontsize=9, fontweight="bold" if bold else "normal")
        width = drawn.get_window_extent(renderer).width / 100
        assert text_size(text, 9, bold=bold, dpi=100)[0] == pytest.approx(width, abs=0.011)  # one pixel
