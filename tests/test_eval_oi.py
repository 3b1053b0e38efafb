"""OI-V6 evaluator: hand-computed cases for top-2 candidates, strict-IoU greedy AP, weights, score_wtd."""
import numpy as np
import pytest

from sgg.evaluation import OIRelationEvaluator
from sgg.evaluation.oi_stats import voc_ap
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

C = 3
NAMES = ["__background__", "a", "b", "c"]


def box(x1, y1, x2, y2):
    return [x1, y1, x2, y2]


def record(boxes, labels, rels, name="img.jpg"):
    return SceneGraphRecord(0, name, 100, 100, np.array(boxes, np.float32), np.array(labels),
                            np.array(rels, np.int64).reshape(-1, 3))


def prediction(boxes, labels, pairs, rel_scores, scores=None):
    n = len(boxes)
    return SceneGraphPrediction(np.array(boxes, np.float32), np.array(labels),
                                np.ones(n, np.float32) if scores is None else np.array(scores, np.float32),
                                np.array(pairs, np.int64).reshape(-1, 2),
                                rel_scores=np.array(rel_scores, np.float32).reshape(-1, C + 1))


def run(recs, preds, mode="sgdet", **kw):
    ev = OIRelationEvaluator(NAMES, mode, **kw)
    ev.process(recs, preds)
    return ev.evaluate()


def test_iou_exactly_half_recall_hit_but_relationship_ap_false_positive():
    # GT subject 10x10 inside a 20x20 object; predicted subject covers half of it (IoU = 0.5)
    gt = record([box(0, 0, 9, 9), box(0, 0, 19, 19)], [1, 2], [[0, 1, 2]])
    pred = prediction([box(0, 0, 9, 4), box(0, 0, 19, 19)], [1, 2], [[0, 1]], [[0.0, 0.1, 0.8, 0.1]])
    res = run([gt], [pred])
    assert res["sgdet"]["R50"] == pytest.approx(1.0)
    per = res["oi_per_predicate"]
    assert per["AP_rel"][1] == 0.0  # min IoU = 0.5 is not > 0.5
    assert per["AP_phr"][1] == pytest.approx(1.0)  # union boxes coincide


def test_top2_predicates_per_pair():
    gt = record([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1, 3]])
    second = prediction([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1]], [[0.0, 0.5, 0.1, 0.4]])
    third = prediction([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1]], [[0.0, 0.5, 0.4, 0.1]])
    assert run([gt], [second])["sgdet"]["R@50"] == pytest.approx(1.0)
    assert run([gt], [third])["sgdet"]["R@50"] == 0.0
    # one candidate per pair: the 2nd-best predicate no longer enters
    assert run([gt], [second], predicates_per_pair=1)["sgdet"]["R@50"] == 0.0


def test_top_k_and_min_score_filter():
    gt = record([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1, 3]])
    pred = prediction([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1]], [[0.0, 0.9, 0.1, 0.4]],
                      scores=[1.0, 1e-5])  # every candidate scores <= 1e-5 and is dropped
    assert run([gt], [pred])["sgdet"]["R@100"] == 0.0
    good = prediction([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1]], [[0.0, 0.9, 0.1, 0.4]])
    assert run([gt], [good], top_k=1)["sgdet"]["R@100"] == 0.0  # only (pair, predicate 1) is kept


def _greedy_case():
    gt = record([box(0, 0, 9, 9), box(20, 0, 29, 9), box(0, 0, 9, 7)], [1, 2, 1], [[0, 1, 2], [2, 1, 2]])
    dets = [box(0, 0, 9, 9), box(20, 0, 29, 9), box(0, 0, 9, 8)]
    rel = [[0.05, 0.1, 0.8, 0.05], [0.1, 0.1, 0.7, 0.1]]
    return gt, prediction(dets, [1, 2, 1], [[0, 1], [2, 1]], rel)


def test_greedy_matching_without_fall_back_weights_and_score_wtd():
    gt, pred = _greedy_case()
    res = run([gt], [pred])
    main, per = res["sgdet"], res["oi_per_predicate"]
    # 2nd detection's best GT is the one already taken -> FP, no fall-back to the other GT
    # tp = [1, 0], npos = 2: recall [0.5, 0.5], precision [1, 0.5] -> AP = 0.5
    assert per["AP_rel"] == pytest.approx([0.0, 0.5, 0.0])
    assert per["AP_phr"] == pytest.approx([0.0, 0.5, 0.0])
    assert per["npos"] == [0, 2, 0] and per["weight"] == [0.0, 1.0, 0.0]
    assert main["R50"] == pytest.approx(1.0)  # recall matching is many-to-many with IoU >= 0.5
    assert main["wmAP_rel"] == pytest.approx(0.5)
    assert main["mAP_rel"] == pytest.approx(0.5 / 3)
    assert main["score_wtd"] == pytest.approx(0.2 * 1.0 + 0.4 * 0.5 + 0.4 * 0.5)
    assert main["final_score"] == pytest.approx(0.2 * 1.0 + 0.4 * 0.5 / 3 + 0.4 * 0.5 / 3)


def test_weights_follow_gt_frequency_over_images():
    gt_a, pred_a = _greedy_case()  # predicate 2: AP 0.5 ... pooled with image b below
    gt_b = record([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1, 1]], "b.jpg")
    pred_b = prediction([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1]], [[0.0, 0.9, 0.05, 0.05]])
    res = run([gt_a, gt_b], [pred_a, pred_b])
    per, main = res["oi_per_predicate"], res["sgdet"]
    assert per["npos"] == [1, 2, 0]
    assert per["AP_rel"][0] == pytest.approx(1.0)
    assert main["wmAP_rel"] == pytest.approx(1.0 * 1 / 3 + per["AP_rel"][1] * 2 / 3)


def test_dataset_level_recall_and_per_image_variant():
    hit = record([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1, 1]], "a.jpg")
    miss = record([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1, 1], [1, 0, 1], [1, 0, 2]], "b.jpg")
    p_hit = prediction([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1]], [[0.0, 0.9, 0.05, 0.05]])
    p_none = prediction([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [], np.zeros((0, C + 1)))
    main = run([hit, miss], [p_hit, p_none])["sgdet"]
    assert main["R@50"] == pytest.approx(1 / 4)  # sum of hits / sum of GT
    assert main["R@50_per_image"] == pytest.approx(0.5)  # image without predictions counts as 0


def test_voc_ap_all_point_interpolation():
    # tp, fp, tp with npos = 2: precision 1, 1/2, 2/3 -> envelope 1, 2/3, 2/3; recall steps 0.5, 0.5
    assert voc_ap(np.array([True, False, True]), 2) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert voc_ap(np.array([], bool), 3) == 0.0


def test_predcls_uses_gt_boxes_and_unit_scores():
    gt = record([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1, 2]])
    far = prediction([box(50, 50, 59, 59), box(70, 70, 79, 79)], [3, 3], [[0, 1]], [[0.0, 0.1, 0.8, 0.1]],
                     scores=[1e-4, 1e-4])
    assert run([gt], [far], "predcls")["predcls"]["R50"] == pytest.approx(1.0)


def test_missing_predicate_scores_is_an_error():
    gt = record([box(0, 0, 9, 9), box(20, 0, 29, 9)], [1, 2], [[0, 1, 2]])
    pred = SceneGraphPrediction(np.array(gt.boxes), gt.labels, np.ones(2, np.float32), np.array([[0, 1]]),
                                rel_labels=np.array([2]), rel_label_scores=np.array([0.5]))
    with pytest.raises(ValueError, match="predicate_scores"):
        run([gt], [pred])
