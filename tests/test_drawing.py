"""Scene-graph drawing and the shared bar chart produce real, non-blank PNGs of the expected size."""
import numpy as np
import pytest
from PIL import Image, ImageDraw

from sgg.export.draw import draw_scene_graph, graph_layout
from sgg.export.graph import to_networkx
from sgg.export.plots import plot_per_predicate_recall
from sgg.structures.scene_graph import SceneGraphPrediction

OBJ = ["__background__", "person", "horse", "hat"]
PRED = ["__background__", "riding", "on", "wearing", "near"]


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


def _panel_stats(png):
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)
    w = pixels.shape[1]
    left, right = pixels[:, : w // 2], pixels[:, w // 2:]
    return pixels, left, right


def test_drawing_png_size_and_content(tmp_path):
    image, pred = _scene()
    out = draw_scene_graph(image, ({"file_name": "a.jpg", "image_id": 1, "width": 160, "height": 120}, pred), OBJ, PRED,
                           out_path=tmp_path / "a.png", figsize=(10, 5), dpi=80)
    pixels, left, right = _panel_stats(out)
    assert pixels.shape == (400, 800, 3)
    assert pixels.var() > 100
    # left panel shows the image (its sky colour) and the boxes; right panel shows coloured nodes
    assert (np.abs(left - [200, 220, 255]).sum(-1) < 10).mean() > 0.05
    non_white_right = (right.sum(-1) < 740).mean()
    assert non_white_right > 0.02 and right.var() > 50


def test_drawing_topk_changes_picture_and_file_policy(tmp_path):
    image, pred = _scene()
    a = draw_scene_graph(np.asarray(image), pred, OBJ, PRED, out_path=tmp_path / "all.png", dpi=50)
    b = draw_scene_graph(image, pred, OBJ, PRED, out_path=tmp_path / "top1.png", topk_relations=1, dpi=50)
    _, _, right_all = _panel_stats(a)
    _, _, right_one = _panel_stats(b)
    assert (right_all.sum(-1) < 740).sum() > (right_one.sum(-1) < 740).sum()  # 3 nodes + 4 edges vs 2 + 1
    with pytest.raises(FileExistsError, match="overwrite=True"):
        draw_scene_graph(image, pred, OBJ, PRED, out_path=tmp_path / "all.png", dpi=50)
    draw_scene_graph(image, pred, OBJ, PRED, out_path=tmp_path / "all.png", dpi=50, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.png", "top1.png"]


def test_layout_is_deterministic_and_covers_nodes():
    _, pred = _scene()
    graph = to_networkx(({"file_name": "a", "image_id": 0, "width": 1, "height": 1}, pred), OBJ, PRED)
    assert graph_layout(graph, seed=0).keys() == set(graph.nodes)
    first, second = graph_layout(graph, seed=0), graph_layout(graph, seed=0)
    assert all(np.allclose(first[n], second[n]) for n in graph.nodes)


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
