"""Per-triplet decisions agree with the VG-150 evaluator's recall, image by image, in every mode."""
import numpy as np
import pytest
from viewer_fixtures import PREDICATES, cluttered_prediction, toy_record

from sgg.evaluation.decisions import vg_triplet_decisions
from sgg.evaluation.vg_evaluator import VGSceneGraphEvaluator
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord


def _evaluator_recall(record, pred, mode, ks=(20, 50, 100)):
    ev = VGSceneGraphEvaluator(PREDICATES, mode, recall_ks=ks)
    ev.process_one(record, pred)
    stats = ev._stats
    return None if stats.images == 0 else stats.recall("R")


@pytest.mark.parametrize("mode", ["sgdet", "sgcls", "predcls"])
def test_matched_counts_equal_the_evaluator_recall(mode):
    rng = np.random.default_rng(7)
    for i in range(12):
        record = toy_record(i, rng)
        # sgcls / predcls: one prediction per GT object, in GT order (the evaluator uses GT boxes in predcls)
        pred = cluttered_prediction(record, rng, copies=3 if mode == "sgdet" else 1, hit_rate=0.5)
        dec = vg_triplet_decisions(record, pred, mode=mode)
        expected = _evaluator_recall(record, pred, mode)
        for j, k in enumerate((20, 50, 100)):
            assert dec.recall(k) == pytest.approx(expected[j], abs=1e-12)
            c = dec.counts(k)
            assert c["matched"] == round(expected[j] * len(record.relations))
            assert c["matched"] + c["missed"] == len(record.relations)
            tp = dec.true_positive_rows(k)
            assert c["false_positive"] == min(k, len(pred.rel_pair_idxs)) - tp.sum()
            # every matched GT is hit by a true-positive row within K, and only by those
            hits = dec.row_hits[:k]
            assert np.array_equal(hits.any(0), dec.matched(k))
            assert not hits[~tp].any()


def test_row_predicate_is_the_evaluators_and_false_positives_are_exact():
    boxes = np.array([[0, 0, 20, 20], [30, 0, 50, 20], [60, 0, 80, 20]], np.float32)
    record = SceneGraphRecord(0, "a.jpg", 100, 40, boxes, np.array([1, 2, 3]), np.array([[0, 1, 2], [1, 2, 1]]))
    c1 = len(PREDICATES)
    dist = np.full((4, c1), 0.01, np.float32)
    dist[0, 2] = 0.9   # (0, 1) predicate 2: matches GT 0
    dist[1, 3] = 0.8   # (1, 2) predicate 3: right pair, wrong predicate -> false positive
    dist[2, 1] = 0.7   # (1, 2) predicate 1: matches GT 1
    dist[3, 0] = 0.95  # background is the highest, but the evaluator reads 1 + argmax over foreground
    dist[3, 2] = 0.5   # (0, 1) read as predicate 2: matches GT 0 again (many-to-many)
    pred = SceneGraphPrediction(boxes=boxes + 1, labels=[1, 2, 3], scores=[1, 1, 1],
                                rel_pair_idxs=[[0, 1], [1, 2], [1, 2], [0, 1]], rel_scores=dist)
    dec = vg_triplet_decisions(record, pred, mode="sgdet")
    assert dec.gt_rank.tolist() == [0, 2]
    assert dec.row_predicates.tolist() == [2, 3, 1, 2]
    assert dec.true_positive_rows(4).tolist() == [True, False, True, True]
    assert dec.counts(1) == {"matched": 1, "missed": 1, "false_positive": 0}
    assert dec.counts(2) == {"matched": 1, "missed": 1, "false_positive": 1}
    assert dec.counts(3) == {"matched": 2, "missed": 0, "false_positive": 1}
    assert dec.object_gt.tolist() == [0, 1, 2]
    # an object with the wrong label stands for no GT object
    wrong = SceneGraphPrediction(boxes=boxes, labels=[1, 3, 3], scores=[1, 1, 1],
                                 rel_pair_idxs=[[0, 1]], rel_scores=dist[:1])
    assert vg_triplet_decisions(record, wrong, mode="sgdet").object_gt.tolist() == [0, -1, 2]


def test_images_the_evaluator_skips_have_no_recall():
    boxes = np.array([[0, 0, 20, 20], [30, 0, 50, 20]], np.float32)
    no_gt = SceneGraphRecord(0, "a.jpg", 100, 40, boxes, np.array([1, 2]), np.zeros((0, 3)))
    pred = SceneGraphPrediction(boxes=boxes, labels=[1, 2], scores=[1, 1], rel_pair_idxs=[[0, 1]],
                                rel_labels=[1], rel_label_scores=[0.5])
    dec = vg_triplet_decisions(no_gt, pred, mode="sgcls")
    assert not dec.counted and dec.recall(20) is None and dec.counts(20)["false_positive"] == 1
    with_gt = SceneGraphRecord(0, "a.jpg", 100, 40, boxes, np.array([1, 2]), np.array([[0, 1, 1]]))
    empty = SceneGraphPrediction(boxes=boxes, labels=[1, 2], scores=[1, 1], rel_pair_idxs=np.zeros((0, 2)),
                                 rel_labels=np.zeros(0), rel_label_scores=np.zeros(0))
    dec = vg_triplet_decisions(with_gt, empty, mode="sgcls")
    assert not dec.counted and dec.counts(20) == {"matched": 0, "missed": 1, "false_positive": 0}
    assert _evaluator_recall(with_gt, empty, "sgcls") is None
