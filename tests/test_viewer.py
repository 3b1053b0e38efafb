"""The HTML viewer's files: what the pages hold (the evaluator's verdicts), paging, refusals, the tool."""
import json
import os
import re

import numpy as np
import pytest
from viewer_fixtures import OBJECTS, PREDICATES, cluttered_prediction, toy_record

from sgg.evaluation.decisions import vg_triplet_decisions
from sgg.export.scene_graph_json import image_to_json, write_scene_graphs
from sgg.visualization.run import GroundTruth, ScenesInput, build_viewer, load_scene_graphs
from sgg.visualization.viewer import ViewerOptions, image_url, write_viewer
from sgg.visualization.viewer_data import match_records


def read_js(path, function):
    """The JSON argument(s) of ``function(...)`` in a data script written by the viewer."""
    text = open(path, encoding="ascii").read()
    assert text.startswith(function + "(") and text.endswith(");\n")
    return json.loads("[" + text[len(function) + 1:-3] + "]")


def make_scenes(n, seed=0, mode="sgdet", names=None):
    rng = np.random.default_rng(seed)
    records = [toy_record(i, rng) for i in range(n)]
    preds = [cluttered_prediction(r, rng, copies=2 if mode == "sgdet" else 1) for r in records]
    images = [(image_to_json(r, p, OBJECTS, PREDICATES), p) for r, p in zip(records, preds)]
    if names:
        for (entry, _), name in zip(images, names):
            entry["file_name"] = name
    return records, ScenesInput("preds.json", mode, "toy_test", {"head": "Synthetic"}, OBJECTS, PREDICATES, images)


def test_pages_hold_every_image_with_the_evaluator_verdicts(tmp_path):
    records, scenes = make_scenes(7)
    gt = GroundTruth(records, "toy (vg150) test", OBJECTS, PREDICATES)
    out = build_viewer(scenes, tmp_path / "v", gt, options=ViewerOptions(page_size=3), progress=False)
    assert sorted(os.listdir(out)) == ["data", "index.html", "viewer.css", "viewer.js", "viewer.json"]
    assert sorted(os.listdir(out / "data")) == ["meta.js", "page_000000.js", "page_000001.js", "page_000002.js"]
    (meta,) = read_js(out / "data/meta.js", "SGV.meta")
    assert (meta["num_images"], meta["num_pages"], meta["page_size"], meta["has_gt"]) == (7, 3, 3, True)
    assert meta["predicate_classes"] == PREDICATES and meta["ks"] == [20, 50, 100]
    assert len(meta["per_predicate"]["mR@50"]) == len(PREDICATES) - 1
    images = []
    for p in range(3):
        index, page = read_js(out / f"data/page_{p:06d}.js", "SGV.page")
        assert index == p and len(page) == (3 if p < 2 else 1)
        images += page
    assert [im["name"] for im in images] == [r.file_name for r in records]
    recalls = []
    for im, rec, (_, pred) in zip(images, records, scenes.images):
        dec = vg_triplet_decisions(rec, pred, mode="sgdet")
        assert len(im["rel"]) == min(100, pred.num_relations) and im["nrel"] == pred.num_relations
        assert [r[5] for r in im["rel"]] == dec.true_positive_rows(100).astype(int).tolist()
        assert [g[3] for g in im["gt"]["rel"]] == dec.gt_rank.tolist()
        assert im["gt"]["map"] == dec.object_gt.tolist()
        assert im["recall"] == {str(k): round(dec.recall(k), 4) for k in (20, 50, 100)}
        recalls.append(dec.recall(50))
    # the header's R@50 is the evaluator's: the mean of the images' recalls
    assert meta["metrics"]["R@50"] == pytest.approx(np.mean(recalls))
    assert "<title>Synthetic" in (out / "index.html").read_text()


def test_order_worst_first_and_image_references(tmp_path):
    records, scenes = make_scenes(5, seed=1)
    img_dir = tmp_path / "photos"
    img_dir.mkdir()
    (img_dir / "2.jpg").write_bytes(b"jpeg")
    gt = GroundTruth(records, "toy", OBJECTS, PREDICATES)
    out = build_viewer(scenes, tmp_path / "v", gt, image_dir=str(img_dir), progress=False,
                       options=ViewerOptions(order="recall-asc"))
    _, page = read_js(out / "data/page_000000.js", "SGV.page")
    r100 = [im["recall"]["100"] for im in page]
    assert r100 == sorted(r100)
    src = {im["name"]: im["src"] for im in page}
    assert src["images/2.jpg"] == "../photos/2.jpg" and src["images/1.jpg"] is None
    copied = build_viewer(scenes, tmp_path / "c", gt, image_dir=str(img_dir), progress=False,
                          options=ViewerOptions(copy_images=True))
    assert (copied / "images/images/2.jpg").read_bytes() == b"jpeg"
    assert image_url("/a/b c/#1.jpg", "/a/out") == "../b%20c/%231.jpg"


def test_refuses_to_replace_what_is_not_a_viewer(tmp_path):
    _, scenes = make_scenes(2)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        build_viewer(scenes, tmp_path / "notes", progress=False)
    with pytest.raises(FileExistsError, match="not a viewer folder"):
        build_viewer(scenes, tmp_path / "notes", overwrite=True, progress=False)
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"
    out = build_viewer(scenes, tmp_path / "v", progress=False)
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_viewer(scenes, out, progress=False)
    build_viewer(scenes, out, overwrite=True, progress=False, options=ViewerOptions(page_size=1))
    assert sorted(os.listdir(out / "data")) == ["meta.js", "page_000000.js", "page_000001.js"]
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []  # no staging folder left behind


def test_write_viewer_counts_its_images(tmp_path):
    with pytest.raises(ValueError, match="num_images=3 but 2"):
        write_viewer(tmp_path / "v", {"title": "t"}, ['{"name":"a"}', '{"name":"b"}'], num_images=3, page_size=2)
    assert not (tmp_path / "v").exists()


def test_ground_truth_is_found_by_base_name_and_mismatches_are_refused(tmp_path):
    records, scenes = make_scenes(3, names=["0.jpg", "1.jpg", "2.jpg"])  # the demo keys images by base name
    assert {k: v.file_name for k, v in match_records(["0.jpg", "images/2.jpg"], records, "p.json").items()} == {
        "0.jpg": "images/0.jpg", "images/2.jpg": "images/2.jpg"}
    with pytest.raises(ValueError, match=r"p.json: 1 image\(s\) not in the ground-truth split: \['9.jpg'\]"):
        match_records(["9.jpg"], records, "p.json")
    out = build_viewer(scenes, tmp_path / "v", GroundTruth(records, "toy", OBJECTS, PREDICATES), progress=False)
    (meta,) = read_js(out / "data/meta.js", "SGV.meta")
    assert meta["has_gt"] and meta["metrics"]["R@20"] >= 0
    wrong = GroundTruth(records, "other", OBJECTS, PREDICATES[:-1] + ["eating"])
    with pytest.raises(ValueError, match="predicate_classes' does not match the dataset other.*'has' vs 'eating'"):
        build_viewer(scenes, tmp_path / "w", wrong, progress=False)


def test_predictions_only_viewer_keeps_all_relations(tmp_path):
    _, scenes = make_scenes(2)
    assert all(len(e["relations"]) > 30 for e, _ in scenes.images)
    out = build_viewer(scenes, tmp_path / "v", options=ViewerOptions(max_relations=30), progress=False)
    (meta,) = read_js(out / "data/meta.js", "SGV.meta")
    _, page = read_js(out / "data/page_000000.js", "SGV.page")
    assert meta["has_gt"] is False and "metrics" not in meta
    assert all(len(im["rel"]) == 30 and im["recall"] is None and "gt" not in im for im in page)
    assert all(r[5] is None for im in page for r in im["rel"])


def load_tool():
    """``tools/visualize.py`` as a module (tools/ is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "tools" / "visualize.py"
    spec = importlib.util.spec_from_file_location("visualize_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_on_an_exported_file_with_ground_truth_and_drawings(tmp_path):
    import viewer_fixtures

    from sgg.data.catalog import load_class_names, load_dataset_split
    from sgg.data.toy import ToyDatasetSpec, generate_toy_dataset

    main = load_tool().main

    root = tmp_path / "toy"
    generate_toy_dataset(str(root), ToyDatasetSpec(seed=2, num_train=3, num_test=4, num_val=1, image_size=96),
                         workers=1, progress=False)
    classes = load_class_names(str(root), "vg150")
    records = load_dataset_split(str(root), "vg150", "test")
    rng = np.random.default_rng(0)
    old = viewer_fixtures.OBJECTS, viewer_fixtures.PREDICATES
    viewer_fixtures.OBJECTS, viewer_fixtures.PREDICATES = classes["object_classes"], classes["predicate_classes"]
    try:
        pairs = [(r, cluttered_prediction(r, rng)) for r in records]
    finally:
        viewer_fixtures.OBJECTS, viewer_fixtures.PREDICATES = old
    preds = tmp_path / "scene_graphs.json"
    write_scene_graphs(preds, pairs, object_classes=classes["object_classes"],
                       predicate_classes=classes["predicate_classes"], mode="sgdet", dataset="toy_test",
                       model_meta={"head": "Synthetic"}, full_scores=True)
    name = os.path.basename(records[0].file_name)
    out = main(["--predictions", str(preds), "--dataset-dir", str(root), "--out", str(tmp_path / "v"),
                "--page-size", "3", "--draw", name, "--layout", "networkx"])
    stem = os.path.splitext(name)[0]
    assert sorted(os.listdir(os.path.join(out, "drawings"))) == [f"{stem}.png", f"{stem}_gt_k20.png"]
    _, page = read_js(os.path.join(out, "data/page_000000.js"), "SGV.page")
    assert len(page) == 3 and page[0]["src"] == f"../toy/images/{name}"
    assert os.path.isfile(os.path.join(out, page[0]["src"]))
    assert load_scene_graphs(preds).mode == "sgdet"
    with pytest.raises(SystemExit, match="--overwrite"):
        main(["--predictions", str(preds), "--out", str(tmp_path / "v")])
    with pytest.raises(SystemExit, match=r"--draw nope.jpg: not an image"):
        main(["--predictions", str(preds), "--out", str(tmp_path / "d"), "--no-viewer", "--draw", "nope.jpg"])


def test_static_files_load_nothing_from_outside():
    from importlib import resources

    static = resources.files("sgg.visualization").joinpath("static")
    for name in ("index.html", "viewer.js", "viewer.css"):
        text = static.joinpath(name).read_text(encoding="utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), name  # no network resource
        assert not re.search(r"\bfetch\(", text) and "XMLHttpRequest" not in text and "innerHTML" not in text


def test_hdf5_export_reads_like_the_json_one(tmp_path):
    from sgg.export.hdf5_io import HDF5PredictionWriter

    records, scenes = make_scenes(2)
    json_path = write_scene_graphs(tmp_path / "p.json", [(r, p) for r, (_, p) in zip(records, scenes.images)],
                                   object_classes=OBJECTS, predicate_classes=PREDICATES, mode="sgdet",
                                   dataset="toy_test", full_scores=True)
    with HDF5PredictionWriter(str(tmp_path / "p.h5"), object_classes=OBJECTS, predicate_classes=PREDICATES,
                              mode="sgdet", dataset="toy_test", model_meta={"head": "Synthetic"}) as writer:
        for rec, (_, pred) in zip(records, scenes.images):
            writer.add(rec, pred)
    from_json, from_h5 = load_scene_graphs(json_path), load_scene_graphs(tmp_path / "p.h5")
    assert from_h5.mode == "sgdet" and from_h5.names() == from_json.names()
    for (a, _), (b, _) in zip(from_json.images, from_h5.images):
        assert [r["predicate_id"] for r in a["relations"]] == [r["predicate_id"] for r in b["relations"]]
        np.testing.assert_allclose([o["box"] for o in a["objects"]], [o["box"] for o in b["objects"]], atol=1e-4)
