"""Toy generator: determinism, round trip through both loaders, long tail, zero-shot, captions, hierarchy."""
import filecmp
import json
import os

import networkx as nx
import numpy as np
import pytest

from sgg.data import load_dataset_split, load_zeroshot_triplets
from sgg.data.hierarchy import hierarchy_graph, hierarchy_path, load_hierarchy
from sgg.data.summary import summarize_dataset
from sgg.data.toy import OBJECT_CLASSES, PREDICATES, ToyDatasetSpec, generate_image, generate_toy_dataset
from sgg.data.toy.generate import heldout_triplets
from sgg.data.toy.predicates import true_predicates
from sgg.data.toy.scene import SceneConfig, sample_scene


def _gen(root, seed=0, train=12, test=6, size=96, formats=("vg150", "oiv6"), workers=1, num_val=3):
    spec = ToyDatasetSpec(seed=seed, num_train=train, num_test=test, num_val=num_val, image_size=size,
                          formats=formats)
    generate_toy_dataset(str(root), spec, workers=workers, progress=False)
    return str(root)


def _all_files(root):
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(d, f), root) for f in files]
    return sorted(out)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _gen(tmp_path_factory.mktemp("toy"))


def test_same_seed_byte_identical_other_seed_different(tiny, tmp_path):
    again = _gen(tmp_path / "again", workers=2)  # worker count must not matter
    files = _all_files(tiny)
    assert files == _all_files(again)
    assert "VG-SGG-with-attri.h5" in files and "images/1.jpg" in files
    _, mismatch, errors = filecmp.cmpfiles(tiny, again, files, shallow=False)
    assert mismatch == [] and errors == []
    other = _gen(tmp_path / "other", seed=1)
    _, mismatch, _ = filecmp.cmpfiles(tiny, other, files, shallow=False)
    assert "VG-SGG-with-attri.h5" in mismatch and "images/1.jpg" in mismatch


def test_refuses_to_overwrite(tiny):
    with pytest.raises(FileExistsError, match="already holds"):
        generate_toy_dataset(tiny, ToyDatasetSpec(num_train=2, num_test=1, num_val=1), progress=False)


def test_round_trip_vg150_and_oiv6(tiny):
    spec = ToyDatasetSpec(seed=0, num_train=12, num_test=6, num_val=3, image_size=96)
    truth = {}
    for k in range(18):
        ann, _ = generate_image(0, k, k < 12, spec, heldout_triplets(0))
        truth[ann.image_id] = ann
    name_to_obj = {n: i + 1 for i, n in enumerate(OBJECT_CLASSES)}
    name_to_pred = {n: i + 1 for i, n in enumerate(PREDICATES)}
    loaded = {s: load_dataset_split(tiny, "vg150", s, num_val_im=3) for s in ("train", "val", "test")}
    oi = {s: load_dataset_split(tiny, "oiv6", s) for s in ("train", "val", "test")}
    for split in loaded:
        assert [r.image_path for r in loaded[split]] == [r.image_path for r in oi[split]]
    n_checked = 0
    for recs in loaded.values():
        for r in recs:
            g = truth[r.image_id]
            assert (r.width, r.height) == (g.width, g.height)
            assert r.labels.tolist() == [name_to_obj[c] for c in g.labels]
            # VG encoding quantises at max(W, H)/1024 and clips x2 to W-1: within one pixel
            assert np.abs(r.boxes - g.boxes).max() <= 1.0
            assert r.relations.tolist() == [[s, o, name_to_pred[p]] for s, o, p in g.relations]
            n_checked += 1
    for recs in oi.values():
        for r in recs:
            g = truth[int(os.path.basename(r.image_path)[:-4])]
            clipped = g.boxes.copy()
            clipped[:, 0::2] = np.clip(clipped[:, 0::2], 0, g.width - 1)
            clipped[:, 1::2] = np.clip(clipped[:, 1::2], 0, g.height - 1)
            np.testing.assert_array_equal(r.boxes, clipped)
            assert r.relations.tolist() == [[s, o, name_to_pred[p]] for s, o, p in g.relations]
    assert n_checked == sum(1 for g in truth.values() if g.relations)
    assert [r.image_id for r in loaded["test"]] == [g.image_id for g in truth.values() if not g.is_train and g.relations]


def test_relations_follow_rendered_geometry():
    """A few hand-checkable rules on generated scenes: true sets are consistent with the boxes."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        objs = sample_scene(rng, SceneConfig(), 256, 256)
        truth = true_predicates(objs, 256)
        for (i, j), preds in truth.items():
            s, o = objs[i], objs[j]
            assert len(preds & {"left of", "right of", "above", "below"}) == 1
            if "left of" in preds:
                assert s.cx < o.cx and "right of" in truth[(j, i)]
            if "above" in preds:
                assert s.cy < o.cy and "below" in truth[(j, i)]
            if "bigger than" in preds:
                assert s.area >= 2 * o.area and "smaller than" in truth[(j, i)]
            if "on" in preds:
                assert "under" in truth[(j, i)]
            if "in front of" in preds:
                assert i > j and "behind" in truth[(j, i)]
            if "inside" in preds:
                assert (s.mask & o.mask).sum() >= 0.9 * s.area
            assert ("same colour as" in preds) == (s.colour == o.colour)


def test_long_tail_zeroshot_captions_hierarchy(tmp_path):
    root = _gen(tmp_path / "mid", train=500, test=120, size=128, formats=("vg150",), workers=2, num_val=50)
    summary = summarize_dataset(root, "vg150", num_val_im=50)
    counts = summary["predicate_counts"]
    assert set(counts) == set(PREDICATES)
    assert summary["head_tail_ratio"] >= 30, counts
    # zero-shot: listed test triplets never occur in train (incl. val), and every one occurs in test
    zs = {tuple(t) for t in load_zeroshot_triplets(os.path.join(root, "zeroshot_triplets.npy")).tolist()}
    assert len(zs) > 0
    assert summary["zeroshot"]["file_triplets_seen_in_train"] == 0
    assert summary["zeroshot"]["test_triplets_unseen_in_train"] == len(zs)
    # incomplete annotation: fewer annotated pairs than pairs with a true predicate
    spec = ToyDatasetSpec(seed=0, num_train=4, num_test=0, image_size=128)
    anns = [generate_image(0, k, True, spec, frozenset())[0] for k in range(4)]
    assert sum(len({(s, o) for s, o, _ in a.relations}) for a in anns) < sum(a.num_true_pairs for a in anns)
    # captions mention annotated relations
    caps = json.load(open(os.path.join(root, "captions.json")))
    assert len(caps) == 620 and all(isinstance(c, list) and c for c in caps.values())
    recs = load_dataset_split(root, "vg150", "test", num_val_im=50)
    r = recs[0]
    pred = PREDICATES[r.relations[0, 2] - 1]
    assert any(f" {pred} " in c for c in caps[str(r.image_id)])
    # hierarchies: 2-level DAGs covering every class
    h = load_hierarchy(os.path.join(root, "hierarchy.json"))
    pg, og = hierarchy_graph(h["predicates"]), hierarchy_graph(h["objects"])
    assert nx.is_directed_acyclic_graph(pg) and nx.is_directed_acyclic_graph(og)
    assert {n for n in pg if pg.out_degree(n) == 0} == set(PREDICATES)
    assert {n for n in og if og.out_degree(n) == 0} == set(OBJECT_CLASSES)
    assert hierarchy_path(pg, "left of") == ["position", "left of"]
    assert hierarchy_path(og, "red_circle") == ["circles", "red_circle"]


def test_make_toy_dataset_tool_prints_stats(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_toy", os.path.join(os.path.dirname(__file__), "..", "tools",
                                                                          "make_toy_dataset.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / "t")
    assert tool.main(["--out", out, "--seed", "0", "--train", "6", "--test", "3", "--num-val", "1",
                      "--image-size", "64", "--workers", "1", "--stats"]) == 0
    text = capsys.readouterr().out
    assert "head/tail predicate frequency ratio" in text and "zero-shot triplets" in text
    assert "DATASETS.NUM_VAL_IM 1" in text
