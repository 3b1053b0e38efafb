"""COCODetectionEvaluator: perfect detections, hand-computed APs, input handling."""

import math

import numpy as np
import pytest
import torch

from sgg.evaluation.coco_detection import COCODetectionEvaluator, detections_to_original
from sgg.modeling.detector.base import Detections
from sgg.structures import ImageSample, SceneGraphPrediction, SceneGraphRecord


def _rec(boxes, labels, name="a.jpg"):
    return SceneGraphRecord(
        0, name, 200, 100, np.array(boxes, np.float32), np.array(labels), np.zeros((0, 3))
    )


def test_perfect_detections_give_map_one():
    recs = [_rec([[0, 0, 10, 10], [20, 20, 60, 50]], [1, 2]), _rec([[5, 5, 80, 90]], [3], "b.jpg")]
    ev = COCODetectionEvaluator(["__background__", "a", "b", "c"])
    preds = [
        SceneGraphPrediction(
            r.boxes,
            r.labels,
            np.linspace(0.9, 0.5, len(r.labels)),
            np.zeros((0, 2)),
            rel_labels=np.zeros(0),
            rel_label_scores=np.zeros(0),
        )
        for r in recs
    ]
    ev.process(recs, preds)
    res = ev.evaluate()["bbox"]
    assert res["mAP@0.5"] == pytest.approx(1.0)
    assert res["mAP@[.5:.95]"] == pytest.approx(1.0)
    ev.reset()
    ev.process(recs[:1], [(torch.tensor([[30.0, 0, 40, 10]]), torch.tensor([1]), torch.tensor([0.9]))])
    assert ev.evaluate()["bbox"]["mAP@0.5"] == pytest.approx(0.0)


def test_one_false_positive_and_one_miss_hand_computed():
    # class 1 has 2 GT boxes; a TP (score 0.9) and a FP (score 0.8) -> precision 1 up to recall 0.5,
    # recall 1 never reached: AP = 51 / 101 on COCO's 101 recall points (0.00 .. 0.50 are covered)
    rec = _rec([[0, 0, 10, 10], [50, 50, 90, 90]], [1, 1])
    ev = COCODetectionEvaluator()
    ev.process(
        [rec], [(np.array([[0, 0, 10, 10], [120, 0, 140, 20]]), np.array([1, 1]), np.array([0.9, 0.8]))]
    )
    res = ev.evaluate()["bbox"]
    assert res["mAP@0.5"] == pytest.approx(51 / 101)
    assert res["mAP@[.5:.95]"] == pytest.approx(51 / 101)
    # the FP ranked first: precision at recall 0.5 is 1/2 -> AP = 0.5 * 51 / 101
    ev.reset()
    ev.process(
        [rec], [(np.array([[0, 0, 10, 10], [120, 0, 140, 20]]), np.array([1, 1]), np.array([0.7, 0.8]))]
    )
    assert ev.evaluate()["bbox"]["mAP@0.5"] == pytest.approx(0.5 * 51 / 101)


def test_iou_thresholds_and_class_mean():
    # class 1: one GT, one detection with IoU 0.62 -> matched at IoU 0.50, 0.55, 0.60 only: AP 1 / 0.3
    # class 2: one GT, no detection -> AP 0; the mean is over classes with GT
    rec = _rec([[0, 0, 10, 10], [50, 50, 70, 70]], [1, 2])
    ev = COCODetectionEvaluator()
    ev.process([rec], [(np.array([[0, 0, 10, 6.2]]), np.array([1]), np.array([0.9]))])
    res = ev.evaluate()["bbox"]
    assert res["mAP@0.5"] == pytest.approx((1.0 + 0.0) / 2)
    assert res["mAP@[.5:.95]"] == pytest.approx((0.3 + 0.0) / 2)
    assert res["mAP@0.75"] == pytest.approx(0.0)


def test_empty_inputs_and_errors():
    ev = COCODetectionEvaluator()
    assert math.isnan(ev.evaluate()["bbox"]["mAP@0.5"])
    ev.process([_rec([[0, 0, 10, 10]], [1])], [(np.zeros((0, 4)), np.zeros(0), np.zeros(0))])
    assert ev.evaluate()["bbox"]["mAP@0.5"] == 0.0
    with pytest.raises(ValueError, match="2 boxes, 1 labels"):
        ev.process([_rec([[0, 0, 10, 10]], [1])], [(np.zeros((2, 4)), np.zeros(1), np.zeros(2))])
    ev = COCODetectionEvaluator(["__background__", "a"])
    ev.process([_rec([[0, 0, 10, 10]], [1])], [(np.array([[0, 0, 10, 10]]), np.array([3]), np.array([0.5]))])
    with pytest.raises(ValueError, match=r"labels \[3\]"):
        ev.evaluate()


def test_detections_to_original_undoes_resize_and_flip():
    rec = _rec([[10, 20, 50, 60]], [1])
    img = torch.zeros(3, 50, 100)  # original 200 x 100 resized by 0.5, flipped
    sample = ImageSample(
        img,
        rec,
        torch.tensor([[75.0, 10, 95, 30]]),
        torch.tensor([1]),
        torch.zeros(0, 3, dtype=torch.long),
        (0.5, 0.5),
        flipped=True,
    )
    det = Detections(
        torch.tensor([[75.0, 10, 95, 30]]), torch.tensor([1]), torch.tensor([0.8]), torch.zeros(1, 2)
    )
    ((boxes, labels, scores),) = detections_to_original([det], [sample])
    np.testing.assert_allclose(boxes, [[10, 20, 50, 60]])
    ev = COCODetectionEvaluator()
    ev.process([rec], [(boxes, labels, scores)])
    assert ev.evaluate()["bbox"]["mAP@[.5:.95]"] == pytest.approx(1.0)
