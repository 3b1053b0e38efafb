"""Input checks shared by the evaluators and the evaluation CLI (clear messages, no silent fixes)."""
from __future__ import annotations

import numpy as np

from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

__all__ = ["EVAL_MODES", "check_prediction", "check_record"]

EVAL_MODES = ("predcls", "sgcls", "sgdet")


def _bad_boxes(boxes: np.ndarray) -> np.ndarray:
    return ~np.isfinite(boxes).all(1) | (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])


def check_record(rec: SceneGraphRecord, num_predicates: int) -> None:
    """Raise ``ValueError`` when a GT record has invalid boxes or predicate ids."""
    where = f"ground truth {rec.file_name!r}"
    bad = np.flatnonzero(_bad_boxes(rec.boxes))
    if len(bad):
        raise ValueError(f"{where}: boxes[{bad[0]}] = {rec.boxes[bad[0]].tolist()} is not a finite x1<=x2, y1<=y2 box")
    if len(rec.relations):
        p = rec.relations[:, 2]
        if p.min() < 1 or p.max() > num_predicates:
            raise ValueError(f"{where}: relation predicate ids must be in 1..{num_predicates}, got {p.min()}..{p.max()}")


def check_prediction(pred: SceneGraphPrediction, num_predicates: int, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` and the field when a prediction is malformed.

    Checks: boxes finite with x1<=x2, y1<=y2; object scores finite; ``rel_scores`` width
    C+1 (background column 0) and finite; predicate ids within 1..C.
    """
    bad = np.flatnonzero(_bad_boxes(pred.boxes)) if len(pred.boxes) else []
    if len(bad):
        raise ValueError(
            f"{where}: objects[{bad[0]}].box = {pred.boxes[bad[0]].tolist()} is malformed "
            "(expected finite x1, y1, x2, y2 with x1 <= x2 and y1 <= y2)"
        )
    if len(pred.scores) and not np.isfinite(pred.scores).all():
        i = int(np.flatnonzero(~np.isfinite(pred.scores))[0])
        raise ValueError(f"{where}: objects[{i}].score is {pred.scores[i]} (expected a finite number)")
    if pred.rel_scores is not None:
        if pred.rel_scores.shape[1] != num_predicates + 1:
            raise ValueError(
                f"{where}: predicate_scores has {pred.rel_scores.shape[1]} values per relation, expected "
                f"{num_predicates + 1} (all predicate classes, background at index 0)"
            )
        if pred.rel_scores.size and not (np.isfinite(pred.rel_scores.max()) and np.isfinite(pred.rel_scores.min())):
            i = int(np.flatnonzero(~np.isfinite(pred.rel_scores).all(1))[0])
            raise ValueError(f"{where}: relations[{i}].predicate_scores contains NaN/inf")
    else:
        if len(pred.rel_label_scores) and not np.isfinite(pred.rel_label_scores).all():
            i = int(np.flatnonzero(~np.isfinite(pred.rel_label_scores))[0])
            raise ValueError(f"{where}: relations[{i}].score is {pred.rel_label_scores[i]} (expected finite)")
        if len(pred.rel_labels) and (pred.rel_labels.min() < 1 or pred.rel_labels.max() > num_predicates):
            raise ValueError(f"{where}: relations[].predicate_id must be in 1..{num_predicates}")
