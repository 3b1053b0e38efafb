"""Per-triplet match decisions of the VG-150 (SGB) evaluator, for pictures and the viewer.

The evaluator reduces an image to the first rank at which each GT relation is matched
(:func:`sgg.evaluation.vg_stats.compute_image_ranks`, graph-constrained family ``R``); R@K of
the image is the fraction of GT relations whose rank is below K. :func:`vg_triplet_decisions`
returns exactly those ranks (taken from the evaluator's own function) together with, for each of
the first ``max_rank`` predicted relations, the GT relations it matches under the same rule
(subject and object labels equal, both IoUs >= threshold with the +1 pixel convention, and the
predicate read the way the evaluator reads it). At a given K:

* a GT relation is **matched** when its rank < K, otherwise **missed**;
* a predicted relation of rank r < K is a **true positive** when it matches at least one GT
  relation, otherwise a **false positive** (matching is many-to-many, as in SGB).

So ``matched(K) / len(GT)`` is the image's R@K as the evaluator averages it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

from .matching import NO_HIT, box_iou_plus_one, object_match_matrix, pair_match_matrix
from .vg_stats import compute_image_ranks

__all__ = ["TripletDecisions", "vg_triplet_decisions"]


@dataclass
class TripletDecisions:
    """Match decisions of one image.

    Attributes:
        gt_rank: (M,) int64 first rank at which the evaluator matched each GT relation, -1 when
            no predicted relation among the first ``max_rank`` matches it.
        row_predicates: (R',) predicate the evaluator reads for each of the first R' = min(R,
            max_rank) predicted relations (1-based).
        row_hits: (R', M) bool, predicted relation r matches GT relation g.
        object_gt: (N_pred,) int64 the GT object each predicted object stands for: among those with
            its label and IoU >= threshold the one of highest IoU, -1 when none (in predcls the
            predicted objects are the GT objects).
        counted: False when the evaluator skips the image (no GT relation or no predicted
            relation); such an image has no recall.
    """

    gt_rank: np.ndarray
    row_predicates: np.ndarray
    row_hits: np.ndarray
    object_gt: np.ndarray
    counted: bool

    def matched(self, k: int) -> np.ndarray:
        """(M,) bool: GT relations matched at K."""
        return (self.gt_rank >= 0) & (self.gt_rank < k)

    def true_positive_rows(self, k: int) -> np.ndarray:
        """(min(R', K),) bool: the first K predicted relations that match a GT relation."""
        return self.row_hits[:k].any(1)

    def recall(self, k: int) -> float | None:
        """The image's R@K as the evaluator averages it; None when the evaluator skips the image."""
        if not self.counted:
            return None
        return float(self.matched(k).sum()) / len(self.gt_rank)

    def counts(self, k: int) -> dict[str, int]:
        """``matched``, ``missed`` (GT relations) and ``false_positive`` (predicted relations) at K."""
        matched = int(self.matched(k).sum())
        tp = self.true_positive_rows(k)
        return {"matched": matched, "missed": len(self.gt_rank) - matched, "false_positive": int((~tp).sum())}


def vg_triplet_decisions(
    record: SceneGraphRecord,
    prediction: SceneGraphPrediction,
    *,
    mode: str,
    iou_threshold: float = 0.5,
    max_rank: int = 100,
) -> TripletDecisions:
    """Decisions of the VG-150 evaluator (graph constraint) for one image; see the module docstring."""
    gt_rels = np.asarray(record.relations, dtype=np.int64).reshape(-1, 3)
    pairs = prediction.rel_pair_idxs
    m = len(gt_rels)
    if mode == "predcls":
        boxes, labels = record.boxes, record.labels
    else:
        boxes, labels = prediction.boxes, prediction.labels
    if mode == "predcls":
        object_gt = np.arange(len(record.boxes), dtype=np.int64)
    else:
        iou = box_iou_plus_one(boxes, record.boxes)
        ok = object_match_matrix(boxes, labels, record.boxes, record.labels, iou_threshold)
        best = np.where(ok, iou, -1.0)
        object_gt = np.where(ok.any(1), best.argmax(1), -1).astype(np.int64) if ok.size else np.full(len(boxes), -1)
    ranks = compute_image_ranks(
        record.boxes, record.labels, gt_rels,
        prediction.boxes, prediction.labels, prediction.scores, pairs, prediction.rel_scores,
        prediction.rel_labels, mode=mode, iou_threshold=iou_threshold, max_rank=max_rank,
        pair_accuracy=False,
    )
    rows = np.arange(min(len(pairs), max_rank))
    if prediction.rel_scores is not None:  # the evaluator's graph-constrained predicate
        row_predicates = prediction.rel_scores[rows, 1:].argmax(1) + 1 if len(rows) else rows
    else:
        row_predicates = prediction.rel_labels[rows]
    row_predicates = np.asarray(row_predicates, dtype=np.int64)
    if ranks is None:
        return TripletDecisions(
            gt_rank=np.full(m, -1, dtype=np.int64), row_predicates=row_predicates,
            row_hits=np.zeros((len(rows), m), dtype=bool), object_gt=object_gt, counted=False,
        )
    hits = pair_match_matrix(pairs[rows], boxes, labels, gt_rels, record.boxes, record.labels, iou_threshold)
    hits &= row_predicates[:, None] == gt_rels[None, :, 2]
    gt_rank = np.where(ranks.ranks["R"] == NO_HIT, -1, ranks.ranks["R"]).astype(np.int64)
    # the rows' hits are the same rule the evaluator applied: its first hit is the evaluator's rank
    first = np.where(hits.any(0), hits.argmax(0), -1)
    if not np.array_equal(first, gt_rank):
        raise AssertionError(f"{record.file_name}: per-row matches disagree with the evaluator's ranks")
    return TripletDecisions(gt_rank, row_predicates, hits, object_gt, counted=True)
