"""tools/export.py and sgg.export.run_export: JSON and HDF5 exports agree and evaluate identically."""

import importlib.util
import logging

import numpy as np
import pytest
import torch
from demo_fixtures import ROOT, load_cfg, make_setup

from sgg.data.catalog import DatasetCatalog
from sgg.evaluation.cli import run_evaluation
from sgg.export.hdf5_io import HDF5PredictionReader
from sgg.export.run_export import _load_model, export_dataset, output_format
from sgg.export.scene_graph_json import ExportOptions, read_scene_graphs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    return make_setup(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def cfg(setup):
    return load_cfg(setup.config_file, "MODEL.WEIGHTS", str(setup.weights))


@pytest.fixture(scope="module")
def model(cfg):
    return _load_model(cfg)


@pytest.fixture()
def export_tool():
    spec = importlib.util.spec_from_file_location("export_under_test", ROOT / "tools" / "export.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    logging.getLogger().handlers.clear()


def _evaluate(preds, predicate_classes, mode="predcls"):
    res = run_evaluation(
        DatasetCatalog.get("demotoy_test"),
        preds,
        mode=mode,
        dataset_format="vg150",
        predicate_classes=predicate_classes,
    )
    return {k: v for k, v in _flat(res)}


def _flat(tree, prefix=""):
    """(key path, value) leaves; NaN -> the string 'nan' so that equal results compare equal."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flat(v, f"{prefix}/{k}")
    else:
        yield prefix, "nan" if isinstance(tree, float) and tree != tree else tree


def _read_h5(path):
    with HDF5PredictionReader(str(path)) as reader:
        return reader.meta, {info.file_name: pred for info, pred in reader}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        pa, pb = a[name], b[name]
        for field in (
            "boxes",
            "labels",
            "scores",
            "rel_pair_idxs",
            "rel_labels",
            "rel_label_scores",
            "rel_scores",
        ):
            np.testing.assert_allclose(
                getattr(pa, field), getattr(pb, field), rtol=1e-6, atol=0, err_msg=field
            )


def test_json_and_hdf5_round_trip_and_evaluate_identically(setup, model, tmp_path):
    # predcls (GT labels) so that even random weights recall some triplets; the model was built for sgcls
    cfg = load_cfg(
        setup.config_file,
        "MODEL.WEIGHTS",
        str(setup.weights),
        "MODEL.ROI_RELATION_HEAD.USE_GT_OBJECT_LABEL",
        "True",
    )
    full = ExportOptions(full_scores=True)
    json_path = export_dataset(
        cfg, "demotoy_test", tmp_path / "sg.json", options=full, model=model, progress=False
    )
    h5_path = export_dataset(
        cfg, "demotoy_test", tmp_path / "sg.h5", options=full, model=model, progress=False
    )
    scenes = read_scene_graphs(json_path)
    meta, h5_preds = _read_h5(h5_path)
    records = DatasetCatalog.get("demotoy_test")
    assert model.mode == "sgcls"  # restored after the export
    assert scenes.mode == meta["mode"] == "predcls" and scenes.dataset == meta["dataset"] == "demotoy_test"
    assert scenes.model["relation_head"] == meta["model"]["relation_head"] == "MotifPredictor"
    assert sorted(scenes.images) == sorted(r.file_name for r in records)
    _assert_same(scenes.predictions, h5_preds)
    for rec in records:  # predcls: the GT boxes and labels, every ordered pair
        pred = h5_preds[rec.file_name]
        np.testing.assert_allclose(pred.boxes, rec.boxes, atol=1e-3)
        np.testing.assert_array_equal(pred.labels, rec.labels)
        assert pred.num_relations == rec.num_objects * (rec.num_objects - 1)
    res_json = _evaluate(scenes.predictions, scenes.predicate_classes)
    res_h5 = _evaluate(h5_preds, meta["predicate_classes"])
    assert res_json == res_h5
    assert (
        res_json["/predcls/ngR@100"] > 0
    )  # read from the full predicate scores (random weights: R@K may be 0)

    # compact rows: smaller files, same metrics; top-k: the first k rows of the full ranking
    compact_path = export_dataset(
        cfg, "demotoy_test", tmp_path / "compact.h5", options=full, compact=True, model=model, progress=False
    )
    _, compact = _read_h5(compact_path)
    assert _evaluate(compact, meta["predicate_classes"]) == res_h5
    top_path = export_dataset(
        cfg,
        "demotoy_test",
        tmp_path / "top.h5",
        options=ExportOptions(topk_relations=3),
        model=model,
        progress=False,
    )
    _, top = _read_h5(top_path)
    for name, pred in top.items():
        assert pred.rel_scores is None and pred.num_relations == min(3, h5_preds[name].num_relations)
        np.testing.assert_array_equal(pred.rel_pair_idxs, h5_preds[name].rel_pair_idxs[:3])

    with pytest.raises(FileExistsError, match="overwrite"):
        export_dataset(cfg, "demotoy_test", json_path, model=model, progress=False)
    with pytest.raises(ValueError, match="unknown extension '.csv'"):
        output_format(tmp_path / "x.csv")


def test_export_tool_cli(setup, export_tool, tmp_path, capsys):
    out = tmp_path / "cli.json"
    base = ["--config-file", str(setup.config_file), "--dataset", "demotoy_test", "--quiet"]
    export_tool.main(
        base
        + [
            "--out",
            str(out),
            "--task",
            "predcls",
            "--topk-relations",
            "4",
            "--min-relation-score",
            "0.0",
            "MODEL.WEIGHTS",
            str(setup.weights),
        ]
    )
    scenes = read_scene_graphs(out)
    assert scenes.mode == "predcls" and scenes.meta["export"]["topk_relations"] == 4
    for rec in DatasetCatalog.get("demotoy_test"):
        pred = scenes.images[rec.file_name].prediction
        np.testing.assert_array_equal(pred.labels, rec.labels)  # predcls: GT labels
        assert pred.num_relations == min(4, rec.num_objects * (rec.num_objects - 1))
    before = out.read_bytes()
    with pytest.raises(SystemExit, match="already exists; pass --overwrite"):
        export_tool.main(base + ["--out", str(out), "MODEL.WEIGHTS", str(setup.weights)])
    assert out.read_bytes() == before
    with pytest.raises(SystemExit, match="unknown extension"):
        export_tool.main(base + ["--out", str(tmp_path / "x.txt")])
    with pytest.raises(ValueError, match="MODEL.WEIGHTS"):
        export_tool.main(base + ["--out", str(tmp_path / "y.json")])
