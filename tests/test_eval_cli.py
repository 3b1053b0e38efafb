"""Evaluation CLI: matching by file name, clear errors, missing images, JSON output."""
import json
import logging

import numpy as np
import pytest

from sgg.evaluation import cli
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

PREDS = ["__background__", "on", "near", "has"]
OBJS = ["__background__", "cup", "table"]


def gt_records():
    boxes = np.array([[0, 0, 9, 9], [20, 0, 29, 9]], np.float32)
    return [
        SceneGraphRecord(1, "images/1.jpg", 100, 80, boxes, np.array([1, 2]), np.array([[0, 1, 1]])),
        SceneGraphRecord(2, "images/2.jpg", 100, 80, boxes, np.array([1, 2]), np.array([[1, 0, 2]])),
    ]


def scenes_json(path, images, full_scores=True):
    """Write a predictions file in the exported format (design.md section 5)."""
    out = {"format": "sgg-scene-graphs", "version": 1, "mode": "predcls", "dataset": "toy_test",
           "model": {"head": "motifs"}, "object_classes": OBJS, "predicate_classes": PREDS, "images": []}
    for file_name, rels in images:
        img = {"image_id": 0, "file_name": file_name, "width": 100, "height": 80,
               "objects": [{"id": 0, "box": [0, 0, 9, 9], "label": "cup", "label_id": 1, "score": 1.0},
                           {"id": 1, "box": [20, 0, 29, 9], "label": "table", "label_id": 2, "score": 1.0}],
               "relations": []}
        for s, o, p, dist in rels:
            rel = {"subject": s, "object": o, "predicate": PREDS[p], "predicate_id": p, "score": dist[p]}
            if full_scores:
                rel["predicate_scores"] = dist
            img["relations"].append(rel)
        out["images"].append(img)
    path.write_text(json.dumps(out))


def read_scenes(path):
    """Minimal reader of the exported format, standing in for sgg.export.scene_graph_json."""
    data = json.loads(open(path).read())
    preds = {}
    for img in data["images"]:
        rels = img["relations"]
        full = all("predicate_scores" in r for r in rels)
        preds[img["file_name"]] = SceneGraphPrediction(
            np.array([o["box"] for o in img["objects"]], np.float32).reshape(-1, 4),
            np.array([o["label_id"] for o in img["objects"]]), np.array([o["score"] for o in img["objects"]]),
            np.array([[r["subject"], r["object"]] for r in rels]).reshape(-1, 2),
            rel_scores=np.array([r["predicate_scores"] for r in rels], np.float32) if full else None,
            rel_labels=None if full else np.array([r["predicate_id"] for r in rels]),
            rel_label_scores=None if full else np.array([r["score"] for r in rels]),
        )
    return {k: v for k, v in data.items() if k != "images"}, preds


@pytest.fixture
def patched(monkeypatch):
    monkeypatch.setattr(cli, "load_inputs", lambda d, f, s, p: (gt_records(), *read_scenes(p)))


GOOD = [(0, 1, 1, [0.1, 0.7, 0.1, 0.1])]
GOOD2 = [(1, 0, 2, [0.1, 0.1, 0.7, 0.1])]
ARGS = ["--dataset-dir", "unused", "--dataset-format", "vg150", "--mode", "predcls"]


def test_cli_writes_metrics_and_refuses_to_overwrite(tmp_path, patched):
    pred = tmp_path / "scene_graphs.json"
    scenes_json(pred, [("images/1.jpg", GOOD), ("images/2.jpg", GOOD2)])
    out = tmp_path / "metrics.json"
    res = cli.main(ARGS + ["--predictions", str(pred), "--out", str(out)])
    assert res["predcls"]["R@20"] == 1.0
    assert json.loads(out.read_text())["predcls"]["ngR@100"] == 1.0
    with pytest.raises(SystemExit, match="exists"):
        cli.main(ARGS + ["--predictions", str(pred), "--out", str(out)])
    cli.main(ARGS + ["--predictions", str(pred), "--out", str(out), "--overwrite"])


def test_unknown_and_missing_images(tmp_path, patched):
    pred = tmp_path / "p.json"
    scenes_json(pred, [("images/1.jpg", GOOD), ("images/9.jpg", GOOD)])
    with pytest.raises(ValueError, match="images/9.jpg"):
        cli.main(ARGS + ["--predictions", str(pred)])
    scenes_json(pred, [("images/1.jpg", GOOD)])
    with pytest.raises(ValueError, match="no prediction.*images/2.jpg"):
        cli.main(ARGS + ["--predictions", str(pred)])
    res = cli.main(ARGS + ["--predictions", str(pred), "--missing-as-empty"])
    assert res["predcls"]["R@20"] == 1.0  # VG-150: the image without predictions is skipped
    assert res["images_in_average"]["skipped_no_pred"] == 1
    oi = cli.main(["--dataset-dir", "x", "--dataset-format", "oiv6", "--mode", "predcls",
                   "--predictions", str(pred), "--missing-as-empty"])
    assert oi["predcls"]["R@50"] == pytest.approx(0.5)  # OI-V6 counts it (1 of 2 GT)


def test_bad_predictions_give_clear_errors():
    preds = read_scenes_from([("images/1.jpg", GOOD), ("images/2.jpg", GOOD2)])
    kw = dict(mode="predcls", dataset_format="vg150", predicate_classes=PREDS, source="p.json")
    wrong_width = dict(preds)
    p = preds["images/1.jpg"]
    wrong_width["images/1.jpg"] = SceneGraphPrediction(p.boxes, p.labels, p.scores, p.rel_pair_idxs,
                                                       rel_scores=p.rel_scores[:, :3])
    with pytest.raises(ValueError, match=r"p.json.*images/1.jpg.*3 values per relation, expected 4"):
        cli.run_evaluation(gt_records(), wrong_width, **kw)
    nan = dict(preds)
    rs = p.rel_scores.copy()
    rs[0, 2] = np.nan
    nan["images/1.jpg"] = SceneGraphPrediction(p.boxes, p.labels, p.scores, p.rel_pair_idxs, rel_scores=rs)
    with pytest.raises(ValueError, match="NaN"):
        cli.run_evaluation(gt_records(), nan, **kw)
    bad_box = dict(preds)
    boxes = p.boxes.copy()
    boxes[1] = [30, 0, 20, 9]
    bad_box["images/1.jpg"] = SceneGraphPrediction(boxes, p.labels, p.scores, p.rel_pair_idxs, rel_scores=p.rel_scores)
    with pytest.raises(ValueError, match=r"objects\[1\].box"):
        cli.run_evaluation(gt_records(), bad_box, **kw)
    nan_score = dict(preds)
    nan_score["images/1.jpg"] = SceneGraphPrediction(p.boxes, p.labels, np.array([1.0, np.nan]), p.rel_pair_idxs,
                                                     rel_scores=p.rel_scores)
    with pytest.raises(ValueError, match=r"objects\[1\].score"):
        cli.run_evaluation(gt_records(), nan_score, **kw)


def read_scenes_from(images, full=True):
    import os
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(os.path.join(d, "p.json"))
        scenes_json(path, images, full)
        return read_scenes(str(path))[1]


def test_without_predicate_scores_only_graph_metrics(caplog):
    preds = read_scenes_from([("images/1.jpg", GOOD), ("images/2.jpg", GOOD2)], full=False)
    with caplog.at_level(logging.WARNING):
        res = cli.run_evaluation(gt_records(), preds, mode="predcls", dataset_format="vg150",
                                 predicate_classes=PREDS)
    assert res["predcls"]["R@20"] == 1.0 and "ngR@20" not in res["predcls"]
    assert "only graph-constrained metrics" in caplog.text
    with pytest.raises(ValueError, match="OI-V6 protocol needs"):
        cli.run_evaluation(gt_records(), preds, mode="predcls", dataset_format="oiv6", predicate_classes=PREDS)


def test_zeroshot_file_formats(tmp_path):
    rows = np.array([[1, 2, 3], [4, 5, 6]])
    np.save(tmp_path / "z.npy", rows)
    (tmp_path / "z.json").write_text(json.dumps(rows.tolist()))
    (tmp_path / "z.txt").write_text("1 2 3\n4 5 6\n")
    for name in ("z.npy", "z.json", "z.txt"):
        assert cli.load_zeroshot_triplets(str(tmp_path / name)).tolist() == rows.tolist()
    (tmp_path / "bad.json").write_text("[[1, 2]]")
    with pytest.raises(ValueError, match="subject label, object label, predicate"):
        cli.load_zeroshot_triplets(str(tmp_path / "bad.json"))


def test_dataset_zeroshot_file_is_used_by_default(tmp_path, patched):
    # image 1's GT triplet (cup, on, table) = (1, 2, 1) is listed as zero-shot; image 2's is not
    np.save(tmp_path / "zeroshot_triplets.npy", np.array([[1, 2, 1]], np.int64))
    pred = tmp_path / "scene_graphs.json"
    scenes_json(pred, [("images/1.jpg", GOOD), ("images/2.jpg", [(1, 0, 1, [0.1, 0.7, 0.1, 0.1])])])
    args = ["--dataset-dir", str(tmp_path), "--dataset-format", "vg150", "--mode", "predcls"]
    res = cli.main(args + ["--predictions", str(pred)])
    assert res["predcls"]["zR@20"] == 1.0  # only image 1 has zero-shot GT, and it is hit
    assert res["predcls"]["R@20"] == 0.5
    no_file = cli.main(ARGS + ["--predictions", str(pred)])
    assert np.isnan(no_file["predcls"]["zR@20"])
