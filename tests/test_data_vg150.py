"""VG-150 loader: every SGB quirk of eval_protocol 1.4-1.7 on a tiny hand-written h5, and bad input."""
import json
import os

import h5py
import numpy as np
import pytest

from sgg.data import DatasetFormatError, load_dataset_split
from sgg.data.vg150 import decode_vg_boxes, encode_vg_boxes, filter_duplicate_relations, load_vg150

OBJ = ["cat", "dog", "tree"]  # ids 1..3
PRED = ["near", "on"]  # ids 1..2


def _base():
    """5 images: rows 0, 1, 2 train-split, row 3 test, row 4 split 1 (belongs nowhere)."""
    images = [
        dict(w=200, h=100, split=0,
             boxes=[[100, 50, 41, 20], [1020, 500, 10, 30], [1024, 0, 0, 0], [0, 20, 3, 4]],
             labels=[1, 2, 3, 1],
             rels=[(0, 1, 1), (0, 1, 2), (0, 1, 2), (3, 3, 1), (1, 0, 1)]),
        dict(w=100, h=100, split=0, boxes=[[500, 500, 100, 100]], labels=[2], rels=[]),  # no relation
        dict(w=100, h=300, split=0, boxes=[[100, 100, 50, 50], [800, 800, 40, 40]], labels=[1, 3],
             rels=[(0, 1, 1), (0, 1, 2)]),
        dict(w=300, h=300, split=2, boxes=[[300, 300, 80, 80], [330, 330, 80, 80]], labels=[3, 2],
             rels=[(0, 1, 2), (0, 1, 2)]),
        dict(w=300, h=300, split=1, boxes=[[300, 300, 80, 80]], labels=[1], rels=[(0, 0, 1)]),
    ]
    return images


def write_vg(root, images=None, tamper=None, dicts_tamper=None, image_data_tamper=None, write_images=True):
    """Write a hand-made VG-150 folder; ``tamper(data_dict)`` may corrupt the h5 arrays."""
    images = images or _base()
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    data = {k: [] for k in ("split", "img_to_first_box", "img_to_last_box", "img_to_first_rel", "img_to_last_rel")}
    boxes, labels, rels, preds = [], [], [], []
    for im in images:
        data["split"].append(im["split"])
        n0, r0 = len(boxes), len(rels)
        boxes += im["boxes"]
        labels += im["labels"]
        data["img_to_first_box"].append(n0 if im["boxes"] else -1)
        data["img_to_last_box"].append(len(boxes) - 1 if im["boxes"] else -1)
        for s, o, p in im["rels"]:
            rels.append((n0 + s, n0 + o))
            preds.append(p)
        data["img_to_first_rel"].append(r0 if im["rels"] else -1)
        data["img_to_last_rel"].append(len(rels) - 1 if im["rels"] else -1)
    arr = {k: np.asarray(v, np.int32) for k, v in data.items()}
    arr["boxes_1024"] = np.asarray(boxes, np.int32).reshape(-1, 4)
    arr["boxes_512"] = arr["boxes_1024"] // 2
    arr["labels"] = np.asarray(labels, np.int64).reshape(-1, 1)
    arr["relationships"] = np.asarray(rels, np.int32).reshape(-1, 2)
    arr["predicates"] = np.asarray(preds, np.int64).reshape(-1, 1)
    arr["attributes"] = np.zeros((len(labels), 10), np.int64)
    if tamper:
        tamper(arr)
    with h5py.File(os.path.join(root, "VG-SGG-with-attri.h5"), "w") as f:
        for k, v in arr.items():
            f.create_dataset(k, data=v)
    dicts = {"label_to_idx": {n: i + 1 for i, n in enumerate(OBJ)},
             "idx_to_label": {str(i + 1): n for i, n in enumerate(OBJ)},
             "predicate_to_idx": {n: i + 1 for i, n in enumerate(PRED)},
             "idx_to_predicate": {str(i + 1): n for i, n in enumerate(PRED)}}
    if dicts_tamper:
        dicts_tamper(dicts)
    with open(os.path.join(root, "VG-SGG-dicts-with-attri.json"), "w") as f:
        json.dump(dicts, f)
    image_data = [{"image_id": 10 + k, "url": "", "width": im["w"], "height": im["h"], "coco_id": None,
                   "flickr_id": None} for k, im in enumerate(images)]
    if image_data_tamper:
        image_data = image_data_tamper(image_data)
    with open(os.path.join(root, "image_data.json"), "w") as f:
        json.dump(image_data, f)
    if write_images:
        for d in image_data:
            open(os.path.join(root, "images", f"{d['image_id']}.jpg"), "wb").close()
    return root


def test_box_decoding_quirks_hand_computed(tmp_path):
    root = write_vg(str(tmp_path))
    val = load_dataset_split(root, "vg150", "val", num_val_im=1)
    assert [r.image_id for r in val] == [10]
    b = val[0].boxes
    s = 200 / 1024.0  # max(W, H) / 1024
    # box 0: cx=100, w=41 (odd) -> x1 = trunc(79.5) = 79, x2 = 79 + 41 = 120; cy=50, h=20 -> 40, 60
    np.testing.assert_array_equal(b[0], np.float32([79 * s, 40 * s, 120 * s, 60 * s]))
    # box 1: x1 = 1015, x2 = 1025 -> 200.2 clipped to W-1 = 199; y1 = 485, y2 = 515 -> 100.6 clipped to 99
    np.testing.assert_array_equal(b[1], np.float32([1015 * s, 485 * s, 199, 99]))
    # box 2: zero-size at the corner: degenerate after clipping but KEPT
    np.testing.assert_array_equal(b[2], np.float32([199, 0, 199, 0]))
    # box 3: cx=0, w=3 -> x1 = trunc(-1.5) = -1 (toward zero), x2 = 2; then clipped to 0
    np.testing.assert_array_equal(decode_vg_boxes(np.array([[0, 20, 3, 4]]))[0], [-1, 18, 2, 22])
    np.testing.assert_array_equal(b[3], np.float32([0, 18 * s, 2 * s, 22 * s]))
    assert b.dtype == np.float32 and val[0].labels.tolist() == [1, 2, 3, 1]
    # relations local, duplicates (even identical triplets) and self-loops kept in val
    assert val[0].relations.tolist() == [[0, 1, 1], [0, 1, 2], [0, 1, 2], [3, 3, 1], [1, 0, 1]]
    assert val[0].file_name == os.path.join("images", "10.jpg")


def test_encode_decode_round_trip_within_quantisation():
    rng = np.random.default_rng(0)
    for _ in range(50):
        w, h = int(rng.integers(50, 900)), int(rng.integers(50, 900))
        x1, y1 = rng.uniform(0, w - 10), rng.uniform(0, h - 10)
        box = np.array([[x1, y1, rng.uniform(x1 + 1, w), rng.uniform(y1 + 1, h)]])
        dec = decode_vg_boxes(encode_vg_boxes(box, w, h)) / 1024 * max(w, h)
        step = max(w, h) / 1024
        assert np.all(np.abs(dec - box) <= 2 * step + 1e-6)


def test_splits_val_carveout_and_empty_filter(tmp_path):
    root = write_vg(str(tmp_path))
    assert [r.image_id for r in load_vg150(root, "train", num_val_im=1)] == [12]
    assert [r.image_id for r in load_vg150(root, "val", num_val_im=1)] == [10]
    assert [r.image_id for r in load_vg150(root, "test", num_val_im=1)] == [13]
    # without filter_empty_rels the relation-less image 11 is a candidate and becomes the 2nd train image
    assert [r.image_id for r in load_vg150(root, "val", num_val_im=2, filter_empty_rels=False)] == [10, 11]
    with pytest.raises(ValueError, match="NUM_VAL_IM"):
        load_vg150(root, "train", num_val_im=2)  # would leave no training image
    assert load_vg150(root, "val", num_val_im=0) == []


def test_duplicate_filter_only_in_train(tmp_path):
    root = write_vg(str(tmp_path))
    train = load_vg150(root, "train", num_val_im=0, filter_duplicate_rels=True, seed=3)
    first = train[0]
    pairs = [tuple(p) for p in first.relations[:, :2]]
    assert len(pairs) == len(set(pairs)) == 3  # (0,1), (3,3), (1,0)
    # the kept predicate of (0, 1) is one of the annotated ones
    assert first.relations[0, 2] in (1, 2)
    assert load_vg150(root, "train", num_val_im=0, filter_duplicate_rels=False)[0].num_relations == 5
    val = load_vg150(root, "val", num_val_im=1, filter_duplicate_rels=True)
    assert val[0].num_relations == 5
    test = load_vg150(root, "test", filter_duplicate_rels=True)
    assert test[0].num_relations == 2
    # the random choice covers both predicates over seeds
    rel = np.array([[0, 1, 1], [0, 1, 2], [1, 0, 1]])
    seen = {int(filter_duplicate_relations(rel, np.random.default_rng(s))[0, 2]) for s in range(20)}
    assert seen == {1, 2}


def test_filter_non_overlap(tmp_path):
    root = write_vg(str(tmp_path))
    # image 12: boxes far apart -> its relations are dropped, and the image with them
    tr = load_vg150(root, "train", num_val_im=0, filter_non_overlap=True)
    ids = [r.image_id for r in tr]
    assert 12 not in ids and 10 in ids
    # image 10: (0,1) boxes do not overlap, self-loop (3,3) does, (1,0) does not
    assert tr[ids.index(10)].relations.tolist() == [[3, 3, 1]]


def test_missing_image_fails_clearly(tmp_path):
    root = write_vg(str(tmp_path))
    os.remove(os.path.join(root, "images", "12.jpg"))
    with pytest.raises(DatasetFormatError, match=r"12\.jpg.*image_id.*12"):
        load_vg150(root, "train", num_val_im=1)
    assert len(load_vg150(root, "train", num_val_im=1, check_images=False)) == 1


def test_corrupted_vg_ids_are_dropped_only_when_counts_agree(tmp_path):
    def add_corrupted(d):
        return [{"image_id": 1592, "width": 5, "height": 5}] + d

    root = write_vg(str(tmp_path), image_data_tamper=add_corrupted)
    assert [r.image_id for r in load_vg150(root, "test")] == [13]

    def drop_one(d):
        return d[1:]

    root2 = write_vg(str(tmp_path / "b"), image_data_tamper=drop_one)
    with pytest.raises(DatasetFormatError, match=r"image_data\.json.*5 image entries.*4 entries"):
        load_vg150(root2, "test")


# ------------------------------------------------------------------ bad input
def _expect(root, match, split="test"):
    with pytest.raises(DatasetFormatError, match=match):
        load_vg150(root, split, num_val_im=1)


def test_missing_files(tmp_path):
    root = write_vg(str(tmp_path))
    os.remove(os.path.join(root, "VG-SGG-with-attri.h5"))
    _expect(root, r"VG-SGG-with-attri\.h5.*existing VG-150 h5.*missing")
    root = write_vg(str(tmp_path / "b"))
    os.remove(os.path.join(root, "VG-SGG-dicts-with-attri.json"))
    _expect(root, r"dicts-with-attri\.json.*missing")
    root = write_vg(str(tmp_path / "c"))
    os.remove(os.path.join(root, "image_data.json"))
    _expect(root, r"image_data\.json.*missing")


def test_truncated_h5_and_corrupt_json(tmp_path):
    root = write_vg(str(tmp_path))
    p = os.path.join(root, "VG-SGG-with-attri.h5")
    data = open(p, "rb").read()
    open(p, "wb").write(data[: len(data) // 3])
    _expect(root, r"VG-SGG-with-attri\.h5.*readable HDF5")
    root = write_vg(str(tmp_path / "b"))
    open(os.path.join(root, "image_data.json"), "w").write("[{")
    _expect(root, r"image_data\.json.*valid JSON")


def test_missing_h5_key(tmp_path):
    root = write_vg(str(tmp_path), tamper=lambda a: a.pop("predicates"))
    _expect(root, r"field 'predicates'.*missing")


def test_index_outside_arrays(tmp_path):
    def bad(a):
        a["img_to_last_box"][3] = 99

    _expect(write_vg(str(tmp_path), tamper=bad), r"img_to_first_box/img_to_last_box.*inside 0\.\.9.*image row 3")


def test_relationship_rows_outside_image(tmp_path):
    def bad(a):
        a["relationships"][-3] = [0, 1]  # first rel of test image (rows 7, 8) points into image 0

    _expect(write_vg(str(tmp_path), tamper=bad), r"field 'relationships'.*inside 7\.\.8.*image_id 13")


def test_boxes_outside_frame(tmp_path):
    def bad(a):
        a["boxes_1024"][7] = [3000, 10, 5, 5]

    _expect(write_vg(str(tmp_path), tamper=bad), r"field 'boxes_1024'.*cx, cy in 0\.\.1024.*3000")


def test_label_and_predicate_ids_beyond_class_list(tmp_path):
    def bad_label(a):
        a["labels"][7] = 7

    _expect(write_vg(str(tmp_path), tamper=bad_label), r"field 'labels'.*1\.\.3.*dicts-with-attri")

    def bad_pred(a):
        a["predicates"][-3] = 0

    _expect(write_vg(str(tmp_path / "b"), tamper=bad_pred), r"field 'predicates'.*1\.\.2")


def test_dicts_disagreeing(tmp_path):
    def mismatch(d):
        d["idx_to_label"]["2"] = "horse"

    _expect(write_vg(str(tmp_path), dicts_tamper=mismatch), r"field 'idx_to_label'.*'2' -> 'dog'.*horse")

    def fewer(d):  # h5 has label 3 but dicts list only 2 classes
        d["label_to_idx"] = {"cat": 1, "dog": 2}
        d["idx_to_label"] = {"1": "cat", "2": "dog"}

    _expect(write_vg(str(tmp_path / "b"), dicts_tamper=fewer), r"field 'labels'.*1\.\.2.*got 2\.\.3")

    def gap(d):
        d["predicate_to_idx"] = {"near": 1, "on": 3}
        d.pop("idx_to_predicate")

    _expect(write_vg(str(tmp_path / "c"), dicts_tamper=gap), r"field 'predicate_to_idx'.*1\.\.2 without gaps")
