"""Evaluator infrastructure and properties: registry, composite, memory bound, random-input checks."""
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgg.evaluation import (
    SGG_EVALUATOR_REGISTRY,
    DatasetEvaluators,
    OIRelationEvaluator,
    VGSceneGraphEvaluator,
    build_evaluator,
    gather_to_main,
)
from sgg.evaluation.matching import box_iou_plus_one
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

C = 4
NAMES = ["__background__"] + [f"p{i}" for i in range(1, C + 1)]


def random_image(rng, n_obj=5, n_rel=4, jitter=3.0, i=0):
    xy = rng.integers(0, 60, (n_obj, 2))
    wh = rng.integers(5, 30, (n_obj, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    labels = rng.integers(1, 4, n_obj)
    s = rng.integers(0, n_obj, n_rel)
    o = (s + rng.integers(1, n_obj, n_rel)) % n_obj
    rels = np.stack([s, o, rng.integers(1, C + 1, n_rel)], 1)
    rec = SceneGraphRecord(i, f"{i}.jpg", 100, 100, boxes, labels, rels)
    pboxes = (boxes + rng.normal(0, jitter, boxes.shape)).astype(np.float32)
    pboxes[:, 2:] = np.maximum(pboxes[:, 2:], pboxes[:, :2])
    plabels = np.where(rng.random(n_obj) < 0.8, labels, rng.integers(1, 4, n_obj))
    pairs = np.array([(a, b) for a in range(n_obj) for b in range(n_obj) if a != b])
    rng.shuffle(pairs)
    rel_scores = rng.dirichlet(np.ones(C + 1), len(pairs)).astype(np.float32)
    pred = SceneGraphPrediction(pboxes, plabels, rng.random(n_obj).astype(np.float32), pairs, rel_scores=rel_scores)
    return rec, pred


def naive_vg_recall(recs, preds, mode, ks=(20, 50, 100)):
    """Straight per-row loops of the SGB rules (reference for the vectorised code)."""
    out = {f"R@{k}": [] for k in ks} | {f"ngR@{k}": [] for k in ks}
    for rec, pred in zip(recs, preds):
        if len(rec.relations) == 0 or len(pred.rel_pair_idxs) == 0:
            continue
        boxes, labels, scores = pred.boxes, pred.labels, pred.scores
        if mode == "predcls":
            boxes, labels, scores = rec.boxes, rec.labels, np.ones(len(rec.labels), np.float32)

        def matches(s, o, p, rec=rec, labels=labels, boxes=boxes):
            hit = set()
            for g, (gs, go, gp) in enumerate(rec.relations):
                if gp == p and labels[s] == rec.labels[gs] and labels[o] == rec.labels[go]:
                    if box_iou_plus_one(boxes[s:s + 1], rec.boxes[gs:gs + 1])[0, 0] >= 0.5 and \
                            box_iou_plus_one(boxes[o:o + 1], rec.boxes[go:go + 1])[0, 0] >= 0.5:
                        hit.add(g)
            return hit

        graph = [matches(s, o, int(np.argmax(pred.rel_scores[r, 1:])) + 1)
                 for r, (s, o) in enumerate(pred.rel_pair_idxs)]
        cands = []
        for r, (s, o) in enumerate(pred.rel_pair_idxs):
            for p in range(1, C + 1):
                cands.append((-(scores[s] * scores[o] * pred.rel_scores[r, p]), r * C + p - 1, s, o, p))
        cands.sort()
        ng = [matches(s, o, p) for _, _, s, o, p in cands[:100]]
        for k in ks:
            out[f"R@{k}"].append(len(set().union(*graph[:k])) / len(rec.relations))
            out[f"ngR@{k}"].append(len(set().union(*ng[:k])) / len(rec.relations))
    return {k: float(np.mean(v)) for k, v in out.items()}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(["predcls", "sgdet"]), n_obj=st.integers(2, 12))
def test_vectorised_recall_equals_naive_loops(seed, mode, n_obj):
    rng = np.random.default_rng(seed)
    images = [random_image(rng, n_obj=n_obj, n_rel=int(rng.integers(1, 6)), i=i) for i in range(3)]
    recs, preds = zip(*images)
    ev = VGSceneGraphEvaluator(NAMES, mode)
    ev.process(recs, preds)
    ours = ev.evaluate()[mode]
    ref = naive_vg_recall(recs, preds, mode)
    for key, val in ref.items():
        assert ours[key] == pytest.approx(val, abs=1e-12), key


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_recall_never_decreases_with_k(seed):
    rng = np.random.default_rng(seed)
    recs, preds = zip(*[random_image(rng, n_obj=12, n_rel=6, i=i) for i in range(3)])
    for ev in (VGSceneGraphEvaluator(NAMES, "sgdet", recall_ks=(1, 5, 20, 50, 100)), OIRelationEvaluator(NAMES, "sgdet")):
        ev.process(recs, preds)
        res = ev.evaluate()["sgdet"]
        for prefix in ("R", "ngR", "mR") if isinstance(ev, VGSceneGraphEvaluator) else ("R",):
            vals = [res[f"{prefix}@{k}"] for k in ev.recall_ks]
            assert all(a <= b + 1e-15 for a, b in zip(vals, vals[1:])), (prefix, vals)


def test_perfect_predictions_score_one():
    rng = np.random.default_rng(1)
    recs, preds = [], []
    for i in range(5):
        rec, _ = random_image(rng, n_obj=6, n_rel=3, i=i)
        rels = np.unique(rec.relations[:, :2], axis=0)  # one predicate per GT pair
        rels = np.concatenate([rels, rng.integers(1, C + 1, (len(rels), 1))], 1)
        rec = SceneGraphRecord(i, rec.file_name, 100, 100, rec.boxes, rec.labels, rels)
        scores = np.full((len(rels), C + 1), 0.01, np.float32)
        scores[np.arange(len(rels)), rels[:, 2]] = 0.96
        recs.append(rec)
        preds.append(SceneGraphPrediction(rec.boxes, rec.labels, np.ones(6, np.float32), rels[:, :2], rel_scores=scores))
    for mode in ("predcls", "sgcls", "sgdet"):
        ev = VGSceneGraphEvaluator(NAMES, mode)
        ev.process(recs, preds)
        res = ev.evaluate()[mode]
        for key in ("R@20", "ngR@20", "R@100"):
            assert res[key] == 1.0
        present = len({int(p) for r in recs for p in r.relations[:, 2]})
        assert res["mR@20"] == pytest.approx(present / C)
    oi = OIRelationEvaluator(NAMES, "sgdet")
    oi.process(recs, preds)
    res = oi.evaluate()["sgdet"]
    assert res["R50"] == pytest.approx(1.0) and res["wmAP_rel"] == pytest.approx(1.0)


def test_retained_state_does_not_grow_with_images():
    rng = np.random.default_rng(0)
    images = [random_image(rng, n_obj=4, n_rel=2, i=i) for i in range(50)]
    vg = VGSceneGraphEvaluator(NAMES, "sgcls", zeroshot_triplets=np.array([[1, 2, 3]]))
    oi = OIRelationEvaluator(NAMES, "sgcls")
    sizes = {}
    for n in range(1, 2001):
        rec, pred = images[n % 50]
        vg.process_one(rec, pred)
        oi.process_one(rec, pred)
        if n in (100, 2000):
            sizes[n] = (len(pickle.dumps(vg._stats)), len(pickle.dumps(oi._stats)))
    assert sizes[2000][0] - sizes[100][0] < 64  # VG: constant-size running sums
    per_image_oi = (sizes[2000][1] - sizes[100][1]) / 1900
    assert per_image_oi <= 2 * 12 * 8 + 8  # OI: <= 2 x 12 pairs kept candidates x 8 bytes (+ amortised)


def test_registry_build_and_composite():
    assert {c.evaluator_type for _, c in SGG_EVALUATOR_REGISTRY} >= {"vg150", "oiv6"}
    cfg = SimpleNamespace(
        MODEL=SimpleNamespace(ROI_RELATION_HEAD=SimpleNamespace(USE_GT_BOX=True, USE_GT_OBJECT_LABEL=False)),
        TEST=SimpleNamespace(RELATION=SimpleNamespace(IOU_THRESHOLD=0.5, PHRDET=False)),
    )
    meta = SimpleNamespace(name="toy_test", predicate_classes=NAMES, evaluator_type="vg150", zeroshot_triplets=None)
    ev = build_evaluator(cfg, meta)
    assert isinstance(ev, VGSceneGraphEvaluator) and ev.mode == "sgcls"
    with pytest.raises(KeyError, match="evaluator_type"):
        build_evaluator(cfg, SimpleNamespace(**{**vars(meta), "evaluator_type": "coco"}))
    rng = np.random.default_rng(3)
    rec, pred = random_image(rng, i=0)
    both = DatasetEvaluators([ev])
    both.reset()
    both.process([rec], [pred])
    assert "sgcls" in both.evaluate()
    with pytest.raises(KeyError, match="same key"):
        DatasetEvaluators([VGSceneGraphEvaluator(NAMES, "sgcls"), VGSceneGraphEvaluator(NAMES, "sgcls")]).evaluate()
    assert gather_to_main({"a": 1}) == [{"a": 1}]


def test_merge_of_split_statistics_equals_single_pass():
    rng = np.random.default_rng(5)
    images = [random_image(rng, n_obj=6, n_rel=3, i=i) for i in range(8)]
    whole, a, b = (VGSceneGraphEvaluator(NAMES, "sgdet") for _ in range(3))
    for rec, pred in images:
        whole.process_one(rec, pred)
    for rec, pred in images[:3]:
        a.process_one(rec, pred)
    for rec, pred in images[3:]:
        b.process_one(rec, pred)
    a._stats.merge(b._stats)
    for k in ("R", "ngR"):
        np.testing.assert_allclose(a._stats.recall(k), whole._stats.recall(k), rtol=0, atol=1e-15)
        np.testing.assert_allclose(a._stats.mean_recall(k), whole._stats.mean_recall(k), rtol=0, atol=1e-15)
