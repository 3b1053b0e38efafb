"""Evaluation at real scale: OI classic recall, exact compact export, HDF5 input, bounded memory."""
from __future__ import annotations

import numpy as np
import pytest

from sgg.evaluation import OIRelationEvaluator, VGSceneGraphEvaluator
from sgg.evaluation.synthetic import synthetic_images

N_PRED = 12
NAMES = ["__background__"] + [f"p{i}" for i in range(1, N_PRED + 1)]
MODES = ("predcls", "sgcls", "sgdet")


def split(mode: str, n: int = 12, seed: int = 5, **kw):
    """Small synthetic split: lists of records and full predictions."""
    kw.setdefault("num_detections", 24)
    pairs = list(synthetic_images(n, mode, seed=seed, num_predicates=N_PRED, num_object_classes=6, **kw))
    return [p[0] for p in pairs], [p[1] for p in pairs]


def evaluate(evaluator, records, preds):
    evaluator.reset()
    evaluator.process(records, preds)
    return evaluator.evaluate()


@pytest.mark.parametrize("mode", MODES)
def test_oi_classic_recall_equals_vg_evaluator(mode):
    records, preds = split(mode)
    vg = evaluate(VGSceneGraphEvaluator(NAMES, mode), records, preds)
    oi = evaluate(OIRelationEvaluator(NAMES, mode), records, preds)
    main = oi[mode]
    checked = 0
    for name in ("R", "ngR", "mR", "ng-mR"):
        for k in (20, 50, 100):
            assert main[f"classic/{name}@{k}"] == vg[mode][f"{name}@{k}"]
            checked += 1
    assert checked == 12 and 0 < main["classic/mR@50"] < 1 and 0 < main["classic/R@20"] < 1
    # the per-predicate table of the classic family is the VG one
    assert oi["oi_per_predicate"]["classic/mR@100"] == vg["per_predicate"]["mR@100"]
    # and the two recall definitions differ (dataset-level OI R@50 vs image-averaged classic R@50)
    assert main["R@50"] != main["classic/R@50"]
    assert oi["oi_images"]["classic_recall"] == vg["images_in_average"]["recall"]


def test_oi_classic_recall_can_be_switched_off_and_is_nan_without_images():
    records, preds = split("sgdet", n=3)
    res = evaluate(OIRelationEvaluator(NAMES, "sgdet", classic_ks=()), records, preds)["sgdet"]
    assert not any(k.startswith("classic/") for k in res)
    empty = OIRelationEvaluator(NAMES, "sgdet").evaluate()["sgdet"]
    assert np.isnan(empty["classic/mR@50"]) and np.isnan(empty["classic/R@100"])
