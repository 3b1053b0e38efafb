"""RelationUncertaintyEvaluator: hand-computed AUROC / Spearman / quartile error rates."""

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from sgg.evaluation.uncertainty import CONFIDENCE_KEY, RelationUncertaintyEvaluator, error_auroc
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord


def _record(relations, n=4):
    boxes = np.array([[0, 0, 10, 10]] * n, np.float32) + np.arange(n, dtype=np.float32)[:, None]
    return SceneGraphRecord(
        file_name="img.jpg",
        image_id=0,
        width=50,
        height=50,
        boxes=boxes,
        labels=np.ones(n, np.int64),
        relations=np.array(relations, np.int64),
    )


def _prediction(pairs, top, conf, radius, n=4, num_pred=4):
    scores = np.full((len(pairs), num_pred), 0.01, np.float32)
    for i, (t, c) in enumerate(zip(top, conf)):
        scores[i, t] = c
    return SceneGraphPrediction(
        boxes=np.zeros((n, 4), np.float32) + [0, 0, 5, 5],
        labels=np.ones(n, np.int64),
        scores=np.ones(n, np.float32),
        rel_pair_idxs=np.array(pairs, np.int64),
        rel_scores=scores,
        extras={"radius": np.array(radius, np.float32)},
    )


def test_error_auroc_hand_values():
    # errors at scores 3, 4; correct at 1, 2 -> every error above every correct pair
    assert error_auroc(np.array([1, 2, 3, 4]), np.array([0, 0, 1, 1], bool)) == 1.0
    assert error_auroc(np.array([4, 3, 2, 1]), np.array([0, 0, 1, 1], bool)) == 0.0
    # error at 2 vs correct 1 (win) and 3 (loss); tie of error 2 vs correct 2 counts half -> (1 + 0.5) / 3
    assert error_auroc(np.array([1, 2, 3, 2]), np.array([0, 1, 0, 0], bool)) == pytest.approx(0.5)
    assert np.isnan(error_auroc(np.array([1.0, 2.0]), np.array([0, 0], bool)))


def test_evaluator_matches_pairs_and_counts_errors(tmp_path):
    ev = RelationUncertaintyEvaluator(["radius"], "predcls", output_dir=str(tmp_path))
    # GT: (0,1) pred 1; (1,2) preds {2, 3} (multi-label pair); (2,3) pred 1; (3,0) pred 2 (not scored)
    rec = _record([[0, 1, 1], [1, 2, 2], [1, 2, 3], [2, 3, 1], [3, 0, 2]])
    # rows: (2,3) wrong (top 2), (0,1) right, (1,2) right (3 is one of the GT predicates), (0,2) unannotated
    pred = _prediction(
        [[2, 3], [0, 1], [1, 2], [0, 2]],
        top=[2, 1, 3, 1],
        conf=[0.3, 0.9, 0.6, 0.5],
        radius=[0.1, 0.8, 0.5, 0.9],
    )
    ev.reset()
    ev.process([rec], [pred])
    rec2 = _record([[0, 1, 2]], n=2)
    pred2 = _prediction([[0, 1]], top=[1], conf=[0.4], radius=[0.2], n=2)  # wrong
    ev.process([rec2], [pred2])
    out = ev.evaluate()["uncertainty"]
    assert out["pairs"] == 4 and out["error_rate"] == 50.0
    radius = np.array([0.1, 0.8, 0.5, 0.2])
    error = np.array([1, 0, 0, 1], bool)
    assert out["radius/auroc"] == 0.0  # both errors have the smallest radii
    assert out["radius/spearman"] == pytest.approx(spearmanr(radius, error).statistic)
    assert out["radius/error_low_q"] == 100.0 and out["radius/error_high_q"] == 0.0
    assert out[f"{CONFIDENCE_KEY}/auroc"] == 0.0  # the errors also have the lowest confidences
    assert json.loads((tmp_path / "uncertainty.json").read_text())["uncertainty"]["pairs"] == 4


def test_evaluator_refuses_sgdet_and_missing_extras():
    with pytest.raises(ValueError, match="GT boxes"):
        RelationUncertaintyEvaluator(["radius"], "sgdet")
    ev = RelationUncertaintyEvaluator(["hier_radius"], "sgcls")
    pred = _prediction([[0, 1]], top=[1], conf=[0.4], radius=[0.2])
    with pytest.raises(KeyError, match="hier_radius"):
        ev.process([_record([[0, 1, 1]])], [pred])
