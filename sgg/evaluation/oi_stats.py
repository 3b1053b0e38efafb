"""Per-image candidates and pooled AP of the Open Images V6 protocol (PySGG / RelDN).

Per image (eval_protocol.md section 3.2): drop the background column, keep the top 2
predicates of every pair, score = subject x object x predicate, keep the top 100 of the
2R candidates, drop scores <= 1e-5. Recall matches like SGB (labels, IoU >= 0.5 on both
boxes). For AP, a candidate of predicate c is a TP when its best label-consistent GT of
class c in the same image has overlap > 0.5 (strict; rel: min of the subject/object IoUs,
phr: IoU of the union boxes) and that GT is not taken yet (greedy, no fall-back).

Because the "taken" state is per (image, predicate), the TP/FP flag of every kept
candidate is fixed inside its image (candidates are visited in descending score), so an
image is reduced to at most 100 rows of (score, predicate, tp_rel, tp_phr).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .matching import (
    box_iou_plus_one,
    first_hit_rank,
    pair_match_matrix,
    top2_candidates,
    topk_desc,
    union_boxes,
)

__all__ = ["CANDIDATE_DTYPE", "OIImageDets", "OIStats", "oi_image_candidates", "voc_ap"]

#: one kept candidate: 8 bytes
CANDIDATE_DTYPE = np.dtype([("score", "<f4"), ("predicate", "<i2"), ("tp_rel", "?"), ("tp_phr", "?")])


@dataclass
class OIImageDets:
    """Kept candidates of one image (rank order) with their AP outcome, plus recall data."""

    scores: np.ndarray  # (D,) float32, descending
    predicates: np.ndarray  # (D,) int16, 1-based
    tp_rel: np.ndarray  # (D,) bool
    tp_phr: np.ndarray  # (D,) bool
    first_hit: np.ndarray  # (M,) rank of the first kept candidate matching each GT (recall)
    gt_predicates: np.ndarray  # (M,)


def _greedy_tp(overlap: np.ndarray, same_class: np.ndarray, threshold: float) -> np.ndarray:
    """TP flags of detections (rows, in score order) against GT (columns), VOC greedy, no fall-back."""
    ov = np.where(same_class, overlap, -np.inf)
    jmax = ov.argmax(1)
    ovmax = ov[np.arange(len(ov)), jmax]
    tp = np.zeros(len(ov), dtype=bool)
    taken = set()
    for d in np.flatnonzero(ovmax > threshold):
        j = int(jmax[d])
        if j not in taken:
            taken.add(j)
            tp[d] = True
    return tp


def oi_image_candidates(
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    gt_rels: np.ndarray,
    pred_boxes: np.ndarray,
    pred_labels: np.ndarray,
    pred_scores: np.ndarray,
    pair_idxs: np.ndarray,
    rel_scores: np.ndarray,
    *,
    top_k: int = 100,
    predicates_per_pair: int = 2,
    min_score: float = 1e-5,
    recall_iou: float = 0.5,
    ap_iou: float = 0.5,
) -> OIImageDets:
    """Select the kept candidates of one image and decide their recall matches and AP TPs."""
    m = len(gt_rels)
    gt_pred = gt_rels[:, 2]
    r = len(pair_idxs)
    empty = OIImageDets(np.zeros(0, np.float32), np.zeros(0, np.int16), np.zeros(0, bool), np.zeros(0, bool),
                        first_hit_rank(np.zeros((0, m), bool)), gt_pred)
    if r == 0:
        return empty
    fg = rel_scores[:, 1:]
    so = pred_scores[pair_idxs[:, 0]] * pred_scores[pair_idxs[:, 1]]
    if predicates_per_pair == 2:
        det_rows, det_cols, det_scores = top2_candidates(fg, so, top_k)
    elif predicates_per_pair == 1:
        c1 = fg.argmax(1)
        cand = so * fg[np.arange(r), c1]
        sel = topk_desc(cand, top_k)
        det_rows, det_cols, det_scores = sel, c1[sel], cand[sel]
    else:
        raise ValueError(f"predicates_per_pair must be 1 or 2, got {predicates_per_pair}")
    keep = det_scores > min_score
    if not keep.any():
        return empty
    det_rows, det_pred, det_scores = det_rows[keep], det_cols[keep] + 1, det_scores[keep].astype(np.float32)
    det_pairs = pair_idxs[det_rows]

    # recall: SGB matching on the kept candidates
    pm = pair_match_matrix(det_pairs, pred_boxes, pred_labels, gt_rels, gt_boxes, gt_labels, recall_iou)
    same_class = det_pred[:, None] == gt_pred[None, :]
    first_hit = first_hit_rank(pm & same_class)

    # AP: label-consistent overlaps against GT of the same predicate
    tp_rel = np.zeros(len(det_rows), bool)
    tp_phr = np.zeros(len(det_rows), bool)
    if m:
        sb, ob = pred_boxes[det_pairs[:, 0]], pred_boxes[det_pairs[:, 1]]
        gsb, gob = gt_boxes[gt_rels[:, 0]], gt_boxes[gt_rels[:, 1]]
        valid = (pred_labels[det_pairs[:, 0], None] == gt_labels[gt_rels[None, :, 0]]) & (
            pred_labels[det_pairs[:, 1], None] == gt_labels[gt_rels[None, :, 1]]
        )
        rows_any = np.flatnonzero((same_class & valid).any(1))
        if len(rows_any):
            sc, va = same_class[rows_any], valid[rows_any]
            ov_rel = np.minimum(box_iou_plus_one(sb[rows_any], gsb), box_iou_plus_one(ob[rows_any], gob)) * va
            ov_phr = box_iou_plus_one(union_boxes(sb[rows_any], ob[rows_any]), union_boxes(gsb, gob)) * va
            tp_rel[rows_any] = _greedy_tp(ov_rel, sc, ap_iou)
            tp_phr[rows_any] = _greedy_tp(ov_phr, sc, ap_iou)
    return OIImageDets(det_scores, det_pred.astype(np.int16), tp_rel, tp_phr, first_hit, gt_pred)


def voc_ap(tp: np.ndarray, npos: int) -> float:
    """All-point interpolated AP of detections in descending score order (VOC / Detectron)."""
    tp_c = np.cumsum(tp.astype(np.float64))
    fp_c = np.cumsum(1.0 - tp.astype(np.float64))
    rec = tp_c / (float(npos) + 1e-12)
    prec = tp_c / np.maximum(tp_c + fp_c, np.finfo(np.float64).eps)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


@dataclass
class OIStats:
    """Accumulated OI statistics: bounded per-image candidate rows plus recall/GT sums."""

    ks: Sequence[int]
    num_predicates: int
    images: int = 0
    gt_total: int = 0
    hits: np.ndarray | None = None  # (K,) matched GT summed over images
    per_image_recall_sum: np.ndarray | None = None  # (K,)
    npos: np.ndarray | None = None  # (C+1,)
    chunks: list[np.ndarray] = field(default_factory=list)  # packed CANDIDATE_DTYPE rows
    pending: list[np.ndarray] = field(default_factory=list)  # recent images, packed every 256

    def __post_init__(self) -> None:
        self.ks = tuple(int(k) for k in self.ks)
        if self.hits is None:
            self.hits = np.zeros(len(self.ks), np.int64)
        if self.per_image_recall_sum is None:
            self.per_image_recall_sum = np.zeros(len(self.ks), np.float64)
        if self.npos is None:
            self.npos = np.zeros(self.num_predicates + 1, np.int64)

    def add(self, img: OIImageDets) -> None:
        """Fold one image in (keeps its <= top_k candidate rows)."""
        m = len(img.gt_predicates)
        hit = (img.first_hit[None, :] < np.asarray(self.ks)[:, None]).sum(1)
        self.images += 1
        self.gt_total += m
        self.hits += hit
        self.per_image_recall_sum += hit / (m + 1e-12)
        if m:
            cnt = np.bincount(img.gt_predicates, minlength=self.num_predicates + 1)
            if len(cnt) > self.num_predicates + 1:
                raise ValueError(f"GT predicate id {img.gt_predicates.max()} > {self.num_predicates}")
            self.npos += cnt
        if len(img.scores):
            rows = np.empty(len(img.scores), CANDIDATE_DTYPE)
            rows["score"], rows["predicate"] = img.scores, img.predicates
            rows["tp_rel"], rows["tp_phr"] = img.tp_rel, img.tp_phr
            self.pending.append(rows)
            if len(self.pending) >= 256:
                self._pack()

    def _pack(self) -> None:
        if self.pending:
            self.chunks.append(np.concatenate(self.pending))
            self.pending = []

    def merge(self, other: OIStats) -> None:
        """Add another worker's statistics."""
        self.images += other.images
        self.gt_total += other.gt_total
        self.hits += other.hits
        self.per_image_recall_sum += other.per_image_recall_sum
        self.npos += other.npos
        self._pack()
        other._pack()
        self.chunks.extend(other.chunks)

    def pooled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All kept candidates concatenated in processing order."""
        self._pack()
        rows = np.concatenate(self.chunks) if self.chunks else np.empty(0, CANDIDATE_DTYPE)
        return rows["score"], rows["predicate"], rows["tp_rel"], rows["tp_phr"]
