"""Catalog (lazy registration, loud errors, metadata) and the OI-V6 loader incl. bad input."""
import json
import os

import numpy as np
import pytest

from sgg.data import DatasetCatalog, DatasetFormatError, MetadataCatalog, register_scene_graph_dataset
from sgg.data.oiv6 import load_oiv6
from sgg.data.toy import PREDICATES, ToyDatasetSpec, generate_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("toycat"))
    generate_toy_dataset(root, ToyDatasetSpec(seed=2, num_train=10, num_test=4, num_val=2, image_size=96,
                                              formats=("vg150", "oiv6")), workers=1, progress=False)
    return root


def test_lazy_registration_and_loud_errors(tmp_path):
    names = register_scene_graph_dataset("lazytest", str(tmp_path / "nowhere"), "vg150")
    try:
        assert names == ["lazytest_train", "lazytest_val", "lazytest_test"]  # nothing read yet
        with pytest.raises(DatasetFormatError, match="missing"):
            DatasetCatalog.get("lazytest_test")
        with pytest.raises(KeyError, match=r"already registered.*lazytest_test"):
            register_scene_graph_dataset("lazytest", str(tmp_path), "vg150")
        with pytest.raises(KeyError, match=r"'nope_train' is not registered.*lazytest_train"):
            DatasetCatalog.get("nope_train")
        with pytest.raises(KeyError, match="lazytest_val"):
            MetadataCatalog.get("nope_val")
    finally:
        for n in names:
            DatasetCatalog.remove(n)
            MetadataCatalog.remove(n)


def test_metadata_of_toy(toy, tmp_path):
    register_scene_graph_dataset("metatoy", toy, "vg150", num_val_im=2, statistics_cache=str(tmp_path / "c"))
    register_scene_graph_dataset("metatoyoi", toy, "oiv6")
    try:
        m = MetadataCatalog.get("metatoy_test")
        assert m.name == "metatoy_test" and m.evaluator_type == "vg150" and m.split == "test"
        assert m.object_classes[0] == m.predicate_classes[0] == "__background__"
        assert m.predicate_classes[1:] == PREDICATES
        c_obj, c_rel = len(m.object_classes), len(m.predicate_classes)
        assert m.statistics.fg_matrix.shape == (c_obj, c_obj, c_rel)
        train = DatasetCatalog.get("metatoy_train")
        assert m.statistics.pred_counts.sum() == sum(r.num_relations for r in train)
        assert m.zeroshot_triplets.shape[1] == 3 and m.captions.endswith("captions.json")
        assert set(m.hierarchy) == {"objects", "predicates"}
        left, right = PREDICATES.index("left of") + 1, PREDICATES.index("right of") + 1
        assert m.predicate_flip_map[left] == right and m.predicate_flip_map[right] == left
        assert os.listdir(tmp_path / "c")  # cache written because a folder was given
        assert MetadataCatalog.get("metatoy_test") is m  # built once
        oi = MetadataCatalog.get("metatoyoi_val")
        assert oi.evaluator_type == "oiv6" and oi.predicate_classes == m.predicate_classes
        assert [r.image_path for r in DatasetCatalog.get("metatoyoi_val")] == \
            [r.image_path for r in DatasetCatalog.get("metatoy_val")]
    finally:
        for p in ("metatoy", "metatoyoi"):
            for s in ("train", "val", "test"):
                DatasetCatalog.remove(f"{p}_{s}")
                MetadataCatalog.remove(f"{p}_{s}")


def _write_oi(root, entries, cats=None):
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    json.dump(cats or {"obj": ["a", "b"], "rel": ["x", "y", "z"]},
              open(os.path.join(root, "annotations", "categories_dict.json"), "w"))
    json.dump(entries, open(os.path.join(root, "annotations", "vrd-train-anno.json"), "w"))
    json.dump(entries, open(os.path.join(root, "annotations", "vrd-test-anno.json"), "w"))
    for e in entries:
        open(os.path.join(root, "images", f"{e['img_fn']}.jpg"), "wb").close()
    return root


def _entry(**kw):
    e = {"img_fn": "f1", "img_size": [100, 50], "bbox": [[10, 5, 40, 30], [30, 20, 120, 60]],
         "det_labels": [0, 1], "rel": [[0, 1, 2], [0, 1, 0], [1, 0, 1]]}
    e.update(kw)
    return e


def test_oiv6_semantics(tmp_path):
    root = _write_oi(str(tmp_path), [_entry(), _entry(img_fn="f2", rel=[]), _entry(img_fn="f3", bbox=[], det_labels=[])])
    test = load_oiv6(root, "test", filter_empty_rels=False)  # test always drops images without relations
    assert [r.image_id for r in test] == [0]
    r = test[0]
    np.testing.assert_array_equal(r.boxes, np.float32([[10, 5, 40, 30], [30, 20, 99, 49]]))  # clipped W-1, H-1
    assert r.labels.tolist() == [1, 2] and r.relations.tolist() == [[0, 1, 3], [0, 1, 1], [1, 0, 2]]
    assert [x.image_id for x in load_oiv6(root, "train", filter_empty_rels=False)] == [0, 1]
    dedup = load_oiv6(root, "train", filter_duplicate_rels=True)[0].relations
    assert sorted(map(tuple, dedup[:, :2].tolist())) == [(0, 1), (1, 0)]


@pytest.mark.parametrize("kw,match", [
    (dict(det_labels=[0]), r"\[0\]\.det_labels.*2 labels"),
    (dict(det_labels=[0, 2]), r"\[0\]\.det_labels.*0\.\.1.*categories_dict"),
    (dict(rel=[[0, 5, 0]]), r"\[0\]\.rel.*indices in 0\.\.1"),
    (dict(rel=[[0, 1, 3]]), r"\[0\]\.rel.*predicates in 0\.\.2"),
    (dict(bbox=[[10, 5, 40, 30], [150, 0, 160, 10]]), r"\[0\]\.bbox.*100x50 image"),
    (dict(img_size=[0, 50]), r"img_size.*positive"),
    (dict(bbox="oops"), r"\[0\].*bbox \(n, 4\)"),
])
def test_oiv6_bad_input(tmp_path, kw, match):
    root = _write_oi(str(tmp_path), [_entry(**kw)])
    with pytest.raises(DatasetFormatError, match=match):
        load_oiv6(root, "train")


def test_oiv6_missing_files(tmp_path):
    root = _write_oi(str(tmp_path), [_entry()])
    with pytest.raises(DatasetFormatError, match=r"vrd-val-anno\.json.*missing"):
        load_oiv6(root, "val")
    os.remove(os.path.join(root, "images", "f1.jpg"))
    with pytest.raises(DatasetFormatError, match=r"f1\.jpg.*img_fn.*missing"):
        load_oiv6(root, "train")
    os.remove(os.path.join(root, "annotations", "categories_dict.json"))
    with pytest.raises(DatasetFormatError, match=r"categories_dict\.json.*missing"):
        load_oiv6(root, "train")
