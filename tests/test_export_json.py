"""Scene-graph JSON export: round trip, filtering, remapping, overwrite policy, atomicity, validation."""
import json

import jsonschema
import numpy as np
import pytest

from sgg.export.scene_graph_json import (
    SceneGraphFileError,
    SceneGraphWriter,
    load_schema,
    read_scene_graphs,
    write_scene_graphs,
)
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

OBJ = ["__background__", "red_circle", "blue_square", "green_star"]
PRED = ["__background__", "above", "near", "on", "has"]
HIER = ["__root__", "spatial", "semantic", "above", "near", "on", "has"]


def _prediction(seed=0, n_obj=4):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n_obj, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 50, size=(n_obj, 2))], 1)
    pairs = np.array([(s, o) for s in range(n_obj) for o in range(n_obj) if s != o])
    rel_scores = rng.dirichlet(np.ones(len(PRED)), size=len(pairs)).astype(np.float32)
    order = np.argsort(-rel_scores[:, 1:].max(1), kind="stable")  # rank order
    return SceneGraphPrediction(
        boxes=boxes,
        labels=rng.integers(1, len(OBJ), n_obj),
        scores=rng.uniform(0.1, 1.0, n_obj),
        rel_pair_idxs=pairs[order],
        rel_scores=rel_scores[order],
        extras={
            "hyp_radius": rng.uniform(0, 3, len(pairs)).astype(np.float32),
            "hier_path": np.stack([rng.integers(1, 3, len(pairs)), rng.integers(3, 7, len(pairs))], 1),
        },
        obj_extras={"depth": rng.uniform(0, 1, n_obj)},
    )


def _record(i):
    return SceneGraphRecord(image_id=i, file_name=f"images/{i}.jpg", width=320, height=240,
                            boxes=np.zeros((0, 4)), labels=np.zeros(0), relations=np.zeros((0, 3)))


def _write(path, images, **kw):
    kw.setdefault("full_scores", True)
    kw.setdefault("mode", "sgdet")
    return write_scene_graphs(path, images, object_classes=OBJ, predicate_classes=PRED,
                              dataset="toy_test", model_meta={"head": "creal", "config_sha256": "ab" * 32}, **kw)


def test_round_trip_values(tmp_path):
    preds = [_prediction(s) for s in range(3)]
    path = _write(tmp_path / "sg.json", [(_record(i), p) for i, p in enumerate(preds)])
    data = json.loads(path.read_text())
    jsonschema.Draft202012Validator(load_schema()).validate(data)  # the written file satisfies the shipped schema
    assert data["format"] == "sgg-scene-graphs" and data["version"] == 1 and data["model"]["head"] == "creal"
    assert data["meta"]["export"]["full_scores"] is True and data["meta"]["protocol"] == "sgdet"

    scenes = read_scene_graphs(path)
    assert list(scenes.images) == ["images/0.jpg", "images/1.jpg", "images/2.jpg"]
    assert scenes.mode == "sgdet" and scenes.object_classes == OBJ and scenes.predicate_classes == PRED
    for i, pred in enumerate(preds):
        info, got = scenes.images[f"images/{i}.jpg"]
        assert (info.image_id, info.width, info.height) == (i, 320, 240)
        np.testing.assert_allclose(got.boxes, pred.boxes, rtol=1e-6)
        np.testing.assert_array_equal(got.labels, pred.labels)
        np.testing.assert_allclose(got.scores, pred.scores, rtol=1e-6)
        np.testing.assert_array_equal(got.rel_pair_idxs, pred.rel_pair_idxs)
        np.testing.assert_allclose(got.rel_scores, pred.rel_scores, rtol=1e-6)
        np.testing.assert_array_equal(got.rel_labels, pred.rel_labels)
        np.testing.assert_allclose(got.rel_label_scores, pred.rel_label_scores, rtol=1e-6)
        np.testing.assert_allclose(got.triplet_scores(), pred.triplet_scores(), rtol=1e-5)
        np.testing.assert_allclose(got.extras["hyp_radius"], pred.extras["hyp_radius"], rtol=1e-6)
        np.testing.assert_array_equal(got.extras["hier_path"], pred.extras["hier_path"])
        np.testing.assert_allclose(got.obj_extras["depth"], pred.obj_extras["depth"])
    rel0 = data["images"][0]["relations"][0]
    p0 = preds[0]
    assert rel0["predicate"] == PRED[p0.rel_labels[0]] and rel0["score"] == pytest.approx(float(p0.rel_label_scores[0]))
    assert rel0["triplet_score"] == pytest.approx(float(p0.triplet_scores()[0]))
    assert len(rel0["predicate_scores"]) == len(PRED)


def test_without_full_scores_reads_top_predicate_only(tmp_path):
    pred = _prediction(1)
    path = _write(tmp_path / "sg.json", [(_record(0), pred)], full_scores=False)
    assert "predicate_scores" not in path.read_text()
    got = read_scene_graphs(path).predictions["images/0.jpg"]
    assert got.rel_scores is None
    np.testing.assert_array_equal(got.rel_labels, pred.rel_labels)
    np.testing.assert_allclose(got.rel_label_scores, pred.rel_label_scores, rtol=1e-6)


def test_hierarchy_ids_resolved_to_names(tmp_path):
    pred = _prediction(2)
    path = _write(tmp_path / "sg.json", [(_record(0), pred)], extras_vocab={"hier_path": HIER})
    rels = json.loads(path.read_text())["images"][0]["relations"]
    for r, rel in enumerate(rels):
        assert rel["extras"]["hier_path"] == [HIER[i] for i in pred.extras["hier_path"][r]]
        assert isinstance(rel["extras"]["hyp_radius"], float)


def test_topk_and_thresholds(tmp_path):
    pred = _prediction(3, n_obj=5)
    path = _write(tmp_path / "sg.json", [(_record(0), pred)], topk_relations=4, score_threshold_relations=0.25)
    rels = json.loads(path.read_text())["images"][0]["relations"]
    expected = [r for r in range(pred.num_relations) if pred.rel_label_scores[r] >= 0.25][:4]
    assert [(x["subject"], x["object"], x["score"]) for x in rels] == [
        (int(pred.rel_pair_idxs[r, 0]), int(pred.rel_pair_idxs[r, 1]), pytest.approx(float(pred.rel_label_scores[r])))
        for r in expected
    ]
    path = _write(tmp_path / "sg2.json", [(_record(0), pred)], score_threshold_objects=0.5)
    objs = json.loads(path.read_text())["images"][0]["objects"]
    assert [o["score"] for o in objs] == pytest.approx([float(s) for s in pred.scores if s >= 0.5])


def test_relations_remapped_when_objects_dropped(tmp_path):
    pred = _prediction(4, n_obj=5)
    path = _write(tmp_path / "sg.json", [(_record(0), pred)], topk_objects=3)
    entry = json.loads(path.read_text())["images"][0]
    kept = np.sort(np.argsort(-pred.scores, kind="stable")[:3])  # original indices, original order
    assert [o["id"] for o in entry["objects"]] == [0, 1, 2]
    np.testing.assert_allclose([o["box"] for o in entry["objects"]], pred.boxes[kept], rtol=1e-6)
    expected = [(s, o, p) for (s, o), p in zip(pred.rel_pair_idxs.tolist(), pred.rel_labels.tolist())
                if s in kept and o in kept]
    old_of_new = {i: int(k) for i, k in enumerate(kept)}
    got = [(old_of_new[r["subject"]], old_of_new[r["object"]], r["predicate_id"]) for r in entry["relations"]]
    assert got == expected and len(got) == 6  # 3 objects -> 6 ordered pairs, in rank order
    scenes = read_scene_graphs(path)  # still a valid file
    assert scenes.images["images/0.jpg"].prediction.num_objects == 3


def test_streaming_writer_and_overwrite_policy(tmp_path):
    target = tmp_path / "sg.json"
    kwargs = {"object_classes": OBJ, "predicate_classes": PRED, "mode": "predcls", "dataset": "toy"}
    with SceneGraphWriter(target, **kwargs) as writer:
        for i in range(5):
            writer.add(_record(i), _prediction(i))
        assert not target.exists()  # appears only when closed
    assert len(read_scene_graphs(target)) == 5
    with pytest.raises(FileExistsError, match="overwrite=True"):
        SceneGraphWriter(target, **kwargs)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _write(target, [(_record(0), _prediction(0))])
    assert len(read_scene_graphs(target)) == 5  # untouched
    _write(target, [(_record(0), _prediction(0))], overwrite=True)
    assert len(read_scene_graphs(target)) == 1
    with pytest.raises(ValueError, match="appears twice"):
        _write(tmp_path / "dup.json", [(_record(0), _prediction(0)), (_record(0), _prediction(1))])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sg.json"]


def test_failure_midway_leaves_no_partial_file(tmp_path):
    target = tmp_path / "sg.json"
    bad = _prediction(1)
    bad.extras["broken"] = np.array([object()] * bad.num_relations, dtype=object)  # not serialisable
    images = [(_record(0), _prediction(0)), (_record(1), bad)]
    with pytest.raises(TypeError, match=r"image 'images/1.jpg' relations\[0\].extras.broken"):
        _write(target, images)
    assert list(tmp_path.iterdir()) == []
    # an existing file survives a failed overwrite unchanged
    _write(target, images[:1])
    before = target.read_bytes()
    with pytest.raises(TypeError):
        _write(target, images, overwrite=True)
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["sg.json"]


def test_writer_rejects_bad_predictions(tmp_path):
    pred = _prediction(0)
    pred.scores[1] = np.nan
    with pytest.raises(ValueError, match=r"image 'images/0.jpg': scores\[1\] is not finite"):
        _write(tmp_path / "a.json", [(_record(0), pred)])
    with pytest.raises(ValueError, match="rel_scores has 5 columns, predicate_classes 4"):
        write_scene_graphs(tmp_path / "b.json", [(_record(0), _prediction(0))], object_classes=OBJ,
                           predicate_classes=PRED[:4], mode="predcls", dataset="x", full_scores=True)
    with pytest.raises(ValueError, match="mode"):
        _write(tmp_path / "c.json", [], mode="detection")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- malformed files


def _valid_document(tmp_path):
    path = _write(tmp_path / "ok.json", [(_record(i), _prediction(i)) for i in range(2)])
    return json.loads(path.read_text())


def _corrupt(doc, how):
    image = doc["images"][1]
    if how == "version":
        doc["version"] = 2
    elif how == "format":
        doc["format"] = "something-else"
    elif how == "n_scores":
        image["relations"][3]["predicate_scores"] = image["relations"][3]["predicate_scores"][:-1]
    elif how == "box_order":
        box = image["objects"][2]["box"]
        box[0], box[2] = box[2], box[0]
    elif how == "box_nan":
        image["objects"][2]["box"][1] = float("nan")
    elif how == "score_nan":
        image["relations"][3]["score"] = float("nan")
    elif how == "subject_range":
        image["relations"][3]["subject"] = 17
    elif how == "label_mismatch":
        image["objects"][2]["label"] = "purple_moon"
    elif how == "missing_field":
        del image["relations"][3]["predicate_id"]
    elif how == "wrong_type":
        image["objects"][2]["score"] = "high"
    elif how == "box_len":
        image["objects"][2]["box"] = [1, 2, 3]
    return doc


@pytest.mark.parametrize("how, message", [
    ("version", r"field 'version' is 2; this toolkit reads version 1"),
    ("format", r"field 'format' is 'something-else'"),
    ("n_scores", r"images/1.jpg.*relations\[3\]\.predicate_scores has 4 values, expected 5"),
    ("box_order", r"images/1.jpg.*objects\[2\]\.box .* x2 < x1"),
    ("box_nan", r"images/1.jpg.*objects\[2\]\.box .* non-finite"),
    ("score_nan", r"images/1.jpg.*relations\[3\]\.score is nan"),
    ("subject_range", r"images/1.jpg.*relations\[3\]\.subject is 17, but the image has 4 objects"),
    ("label_mismatch", r"images/1.jpg.*objects\[2\]: label 'purple_moon'"),
    ("missing_field", r"images/1.jpg.*field 'relations\[3\]': 'predicate_id' is a required property"),
    ("wrong_type", r"images/1.jpg.*field 'objects\[2\]\.score': 'high' is not of type 'number'"),
    ("box_len", r"images/1.jpg.*field 'objects\[2\]\.box'"),
])
def test_reader_rejects_malformed_files(tmp_path, how, message):
    doc = _corrupt(_valid_document(tmp_path), how)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(SceneGraphFileError, match=message) as info:
        read_scene_graphs(bad)
    assert str(bad) in str(info.value)


def test_reader_rejects_non_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "sgg-scene-graphs", "images": [')
    with pytest.raises(SceneGraphFileError, match="not valid JSON"):
        read_scene_graphs(bad)


def test_fast_schema_check_agrees_with_jsonschema(tmp_path):
    from sgg.export.fast_schema import compile_schema

    schema = load_schema()
    reference = jsonschema.Draft202012Validator(schema)
    fast = compile_schema(schema)
    doc = _valid_document(tmp_path)
    assert fast(doc) and reference.is_valid(doc)
    rng = np.random.default_rng(0)
    replacements = [None, True, -1, 0.5, 2.0, "x", "", [], [1, 2, 3], {}, float("nan"), 7]
    disagreements, invalid = [], 0
    for trial in range(300):
        mutated = json.loads(json.dumps(doc))
        # walk to a random node and replace a child, drop it, or add an unknown key
        node, depth = mutated, int(rng.integers(0, 5))
        for _ in range(depth):
            children = list(node.values()) if isinstance(node, dict) else node
            children = [c for c in children if isinstance(c, (dict, list)) and c]
            if not children:
                break
            node = children[int(rng.integers(len(children)))]
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            continue
        key = keys[int(rng.integers(len(keys)))]
        action = int(rng.integers(3))
        if action == 0:
            node[key] = replacements[int(rng.integers(len(replacements)))]
        elif action == 1:
            del node[key]
        elif isinstance(node, dict):
            node["unexpected"] = 1
        else:
            node.append(node[key])
        invalid += not reference.is_valid(mutated)
        if fast(mutated) != reference.is_valid(mutated):
            disagreements.append((trial, mutated))
    assert not disagreements
    assert invalid > 100  # the mutations really exercise the invalid side
