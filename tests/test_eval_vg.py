"""VG-150 evaluator: one small hand-computed case per protocol rule (eval_protocol.md section 2)."""
import logging
import math

import numpy as np
import pytest

from sgg.evaluation import VGSceneGraphEvaluator, f_score
from sgg.evaluation.matching import box_iou_plus_one
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

C = 5
NAMES = ["__background__"] + [f"p{i}" for i in range(1, C + 1)]


def sq(x, y, w=10, h=10):
    """Box of w x h pixels under the +1 convention."""
    return [x, y, x + w - 1, y + h - 1]


def record(boxes, labels, rels, name="img.jpg"):
    return SceneGraphRecord(0, name, 200, 200, np.array(boxes, np.float32), np.array(labels),
                            np.array(rels, np.int64).reshape(-1, 3))


def one_hot_scores(preds, value=0.8):
    """rel_scores rows where predicate preds[i] gets ``value`` and the rest share the remainder."""
    out = np.full((len(preds), C + 1), (1 - value) / C, np.float32)
    out[np.arange(len(preds)), preds] = value
    return out


def prediction(boxes, labels, pairs, rel_scores, scores=None):
    n = len(boxes)
    return SceneGraphPrediction(np.array(boxes, np.float32), np.array(labels),
                                np.ones(n, np.float32) if scores is None else np.array(scores, np.float32),
                                np.array(pairs, np.int64).reshape(-1, 2), rel_scores=rel_scores)


def run(recs, preds, mode="predcls", **kw):
    ev = VGSceneGraphEvaluator(NAMES, mode, **kw)
    ev.process(recs, preds)
    return ev.evaluate()


TWO = [sq(0, 0), sq(50, 50)]


def test_iou_exactly_half_is_a_hit_and_below_is_not():
    gt = record([sq(0, 0), sq(50, 50)], [1, 2], [[0, 1, 3]])
    assert box_iou_plus_one(np.array([sq(0, 0)]), np.array([sq(0, 0, 10, 5)]))[0, 0] == 0.5
    half = prediction([sq(0, 0, 10, 5), sq(50, 50)], [1, 2], [[0, 1]], one_hot_scores([3]))
    below = prediction([sq(0, 0, 10, 4), sq(50, 50)], [1, 2], [[0, 1]], one_hot_scores([3]))
    assert run([gt], [half], "sgdet")["sgdet"]["R@20"] == 1.0
    assert run([gt], [below], "sgdet")["sgdet"]["R@20"] == 0.0


def test_both_boxes_and_labels_must_match():
    gt = record(TWO, [1, 2], [[0, 1, 3]])
    wrong_label = prediction(TWO, [1, 4], [[0, 1]], one_hot_scores([3]))
    wrong_obj_box = prediction([sq(0, 0), sq(120, 120)], [1, 2], [[0, 1]], one_hot_scores([3]))
    assert run([gt], [wrong_label], "sgdet")["sgdet"]["R@100"] == 0.0
    assert run([gt], [wrong_obj_box], "sgdet")["sgdet"]["R@100"] == 0.0


def test_one_prediction_hits_duplicate_gt_triplets():
    gt = record(TWO, [1, 2], [[0, 1, 3], [0, 1, 3]])
    res = run([gt], [prediction(TWO, [1, 2], [[0, 1]], one_hot_scores([3]))])
    assert res["predcls"]["R@20"] == 1.0


def test_gt_pair_with_two_predicates_caps_graph_recall_but_not_ngr():
    gt = record(TWO, [1, 2], [[0, 1, 3], [0, 1, 4]])
    scores = np.array([[0.0, 0.05, 0.05, 0.5, 0.4, 0.0]], np.float32)
    res = run([gt], [prediction(TWO, [1, 2], [[0, 1]], scores)])["predcls"]
    assert res["R@20"] == 0.5
    assert res["ngR@20"] == 1.0


def test_background_column_is_never_chosen():
    gt = record(TWO, [1, 2], [[0, 1, 2]])
    scores = np.array([[0.9, 0.01, 0.05, 0.02, 0.01, 0.01]], np.float32)
    assert run([gt], [prediction(TWO, [1, 2], [[0, 1]], scores)])["predcls"]["R@20"] == 1.0


def test_argmax_ties_resolve_to_lowest_predicate_id():
    gt = record(TWO, [1, 2], [[0, 1, 4]])
    scores = np.array([[0.0, 0.1, 0.1, 0.4, 0.4, 0.0]], np.float32)  # 3 and 4 tie -> 3 chosen
    assert run([gt], [prediction(TWO, [1, 2], [[0, 1]], scores)])["predcls"]["R@20"] == 0.0


def _many_objects(n=7):
    return [sq(20 * i, 0) for i in range(n)], list(range(1, n + 1))


def test_rank_cutoff_uses_row_order_without_resorting():
    boxes, labels = _many_objects()
    gt = record(boxes, labels, [[0, 1, 2]])
    others = [(i, j) for i in range(2, 7) for j in range(7) if i != j][:25]
    pairs = others + [(0, 1)]
    preds = [1] * 25 + [2]
    scores = one_hot_scores(preds, 0.5)
    scores[-1, 2] = 0.99  # the hit has the highest score but rank 25: no re-sort
    res = run([gt], [prediction(boxes, labels, pairs, scores)])["predcls"]
    assert (res["R@20"], res["R@50"], res["R@100"]) == (0.0, 1.0, 1.0)


def test_pair_accuracy_filters_gt_pairs_before_cutting_at_k():
    boxes, labels = _many_objects()
    gt = record(boxes, labels, [[0, 1, 2]])
    others = [(i, j) for i in range(2, 7) for j in range(7) if i != j][:30]
    pairs = others + [(0, 1)]
    res = run([gt], [prediction(boxes, labels, pairs, one_hot_scores([1] * 30 + [2]))])["predcls"]
    assert res["R@20"] == 0.0
    assert res["A@20"] == 1.0


def test_matching_is_by_boxes_not_by_index():
    gt = record(TWO, [1, 2], [[0, 1, 3]])
    swapped = prediction(TWO[::-1], [2, 1], [[1, 0]], one_hot_scores([3]), scores=[0.9, 0.9])
    res = run([gt], [swapped], "sgcls")["sgcls"]
    assert res["R@20"] == 1.0
    assert res["A@20"] == 0.0  # (1, 0) is not a GT index pair


def test_images_without_gt_or_without_predictions_are_skipped():
    hit = record(TWO, [1, 2], [[0, 1, 3]], "a.jpg")
    no_gt = record(TWO, [1, 2], [], "b.jpg")
    no_pred = record(TWO, [1, 2], [[0, 1, 3]], "c.jpg")
    good = prediction(TWO, [1, 2], [[0, 1]], one_hot_scores([3]))
    empty = prediction(TWO, [1, 2], [], np.zeros((0, C + 1), np.float32))
    res = run([hit, no_gt, no_pred], [good, good, empty])
    assert res["predcls"]["R@20"] == 1.0
    assert res["images_in_average"]["recall"] == 1
    assert res["images_in_average"]["skipped_no_gt"] == 1
    assert res["images_in_average"]["skipped_no_pred"] == 1


def test_mean_recall_divides_by_all_predicates_and_averages_per_image():
    img1 = record(TWO, [1, 2], [[0, 1, 2]], "a.jpg")
    img2 = record(TWO, [1, 2], [[0, 1, 2], [1, 0, 2], [1, 0, 2]], "b.jpg")
    p1 = prediction(TWO, [1, 2], [[0, 1]], one_hot_scores([2]))  # 1 of 1
    p2 = prediction(TWO, [1, 2], [[0, 1]], one_hot_scores([5]))  # 0 of 3
    res = run([img1, img2], [p1, p2])
    # class 2: mean(1/1, 0/3) = 0.5 (pooled would be 1/4); other 4 classes absent -> 0
    assert res["per_predicate"]["mR@20"] == [0.0, 0.5, 0.0, 0.0, 0.0]
    assert res["predcls"]["mR@20"] == pytest.approx(0.5 / 5)
    assert res["per_predicate"]["images"] == [0, 2, 0, 0, 0]


def test_ngr_allows_several_predicates_per_pair_and_caps_at_100_candidates():
    n = 11
    boxes, labels = [sq(15 * i, 0) for i in range(n)], list(range(1, n + 1))
    gt = record(boxes, labels, [[0, 1, 2]])
    pairs = [(0, 1)] + [(i, j) for i in range(n) for j in range(n) if i != j and (i, j) != (0, 1)]
    scores = np.zeros((len(pairs), C + 1), np.float32)
    scores[0] = [0.0, 0.19, 0.21, 0.2, 0.2, 0.2]  # GT pair first, predicate 2 is its argmax
    scores[1:, 1] = 0.96  # 109 other pairs have a much stronger candidate
    scores[1:, 2:] = 0.01
    res = run([gt], [prediction(boxes, labels, pairs, scores)])["predcls"]
    assert res["R@20"] == 1.0
    assert res["ngR@100"] == 0.0  # the GT candidate ranks beyond the top 100 (s x o x p)


def test_ngr_score_includes_subject_and_object_scores():
    boxes = TWO + [sq(100, 100)]
    gt = record(boxes, [1, 2, 3], [[0, 1, 2]])
    scores = np.zeros((2, C + 1), np.float32)
    scores[0, 2] = 0.6  # GT pair: 0.5 * 0.5 * 0.6 = 0.15
    scores[1, 4] = 0.3  # other pair: 1.0 * 1.0 * 0.3 = 0.3
    pred = prediction(boxes, [1, 2, 3], [(0, 1), (2, 2)], scores, scores=[0.5, 0.5, 1.0])
    res = run([gt], [pred], "sgdet", ng_top_k=1)["sgdet"]
    assert res["R@20"] == 1.0
    assert res["ngR@20"] == 0.0  # with only the predicate probability it would be 1.0


def test_zeroshot_columns_are_subject_object_predicate_and_average_over_zs_images():
    img1 = record(TWO, [3, 4], [[0, 1, 2], [1, 0, 5]], "a.jpg")
    img2 = record(TWO, [1, 1], [[0, 1, 2]], "b.jpg")
    p1 = prediction(TWO, [3, 4], [[0, 1]], one_hot_scores([2]))
    p2 = prediction(TWO, [1, 1], [[0, 1]], one_hot_scores([1]))
    res = run([img1, img2], [p1, p2], zeroshot_triplets=np.array([[3, 4, 2]]))
    assert res["predcls"]["zR@20"] == 1.0  # only img1 has zero-shot GT (its hit one)
    assert res["images_in_average"]["zeroshot_recall"] == 1
    assert res["predcls"]["R@20"] == pytest.approx((0.5 + 0.0) / 2)
    wrong_order = run([img1, img2], [p1, p2], zeroshot_triplets=np.array([[3, 2, 4]]))
    assert math.isnan(wrong_order["predcls"]["zR@20"])


def test_f_score_and_log_format(caplog):
    gt = record(TWO, [1, 2], [[0, 1, 3]])
    with caplog.at_level(logging.INFO, logger="sgg.evaluation.vg_evaluator"):
        res = run([gt], [prediction(TWO, [1, 2], [[0, 1]], one_hot_scores([3]))])["predcls"]
    assert res["F@20"] == pytest.approx(2 * 1.0 * 0.2 / 1.2)
    assert f_score(np.array([0.0]), np.array([0.0]))[0] != f_score(np.array([0.0]), np.array([0.0]))[0]  # NaN
    text = caplog.text
    assert "SGG eval:     R @ 20: 1.0000;     R @ 50: 1.0000;     R @ 100: 1.0000;  for mode=predcls, type=Recall(Main)." in text
    assert "SGG eval: ng-mR @ 20: 0.2000;" in text
    assert "type=TopK Accuracy." in text


def test_missing_predicate_scores_gives_graph_metrics_only(caplog):
    gt = record(TWO, [1, 2], [[0, 1, 3]])
    pred = SceneGraphPrediction(np.array(TWO, np.float32), np.array([1, 2]), np.ones(2, np.float32),
                                np.array([[0, 1]]), rel_labels=np.array([3]), rel_label_scores=np.array([0.7]))
    with caplog.at_level(logging.WARNING):
        res = run([gt], [pred])["predcls"]
    assert res["R@20"] == 1.0 and "ngR@20" not in res
    assert "predicate_scores" in caplog.text


def test_phrase_detection_matches_union_boxes():
    gt = record([sq(0, 0, 20, 20), sq(5, 5)], [1, 2], [[0, 1, 3]])
    # subject box is too small for triplet matching, but the union box is the same
    pred = prediction([sq(0, 0, 20, 20), sq(10, 10, 5, 5)], [1, 2], [[0, 1]], one_hot_scores([3]))
    res = run([gt], [pred], "sgdet", phrase_detection=True)["sgdet"]
    assert res["R@20"] == 0.0 and res["phrdet_R@20"] == 1.0


def test_writes_metrics_json_and_chart(tmp_path):
    import json

    gt = record(TWO, [1, 2], [[0, 1, 3]])
    run([gt], [prediction(TWO, [1, 2], [[0, 1]], one_hot_scores([3]))], output_dir=str(tmp_path),
        zeroshot_triplets=np.zeros((0, 3), np.int64))
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["predcls"]["R@50"] == 1.0 and data["predcls"]["zR@50"] is None
    assert (tmp_path / "per_predicate_recall.png").stat().st_size > 1000
