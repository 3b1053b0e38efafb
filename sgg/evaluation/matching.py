"""Box overlap and triplet matching shared by the VG-150 and OI-V6 evaluators.

All overlaps follow the convention of the reference evaluators (SGB ``boxlist_iou``):
boxes are inclusive pixel ranges, so a box ``x1..x2`` is ``x2 - x1 + 1`` pixels wide, and
the arithmetic is done in float32 in the same operation order, so that an IoU of exactly
0.5 is decided the same way as in the original code.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "NO_HIT",
    "best_two",
    "box_iou_plus_one",
    "first_hit_rank",
    "object_match_matrix",
    "pair_match_matrix",
    "top2_candidates",
    "top_candidates",
    "topk_desc",
    "union_boxes",
]

#: rank value used for "never matched" (larger than any K)
NO_HIT = np.iinfo(np.int32).max


def box_iou_plus_one(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """(N, M) float32 IoU of xyxy boxes with the +1 pixel convention.

    Same operation order as SGB's ``boxlist_iou`` (area = (x2-x1+1)(y2-y1+1); intersection
    sides clamped at 0; ``inter / (area1 + area2 - inter)``), evaluated in float32.
    """
    b1 = np.asarray(boxes1, dtype=np.float32).reshape(-1, 4)
    b2 = np.asarray(boxes2, dtype=np.float32).reshape(-1, 4)
    one = np.float32(1.0)
    area1 = (b1[:, 2] - b1[:, 0] + one) * (b1[:, 3] - b1[:, 1] + one)
    area2 = (b2[:, 2] - b2[:, 0] + one) * (b2[:, 3] - b2[:, 1] + one)
    lt = np.maximum(b1[:, None, :2], b2[None, :, :2])
    rb = np.minimum(b1[:, None, 2:], b2[None, :, 2:])
    wh = np.maximum(rb - lt + one, np.float32(0.0))
    inter = wh[..., 0] * wh[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area1[:, None] + area2[None, :] - inter)


def union_boxes(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """(N, 4) smallest boxes enclosing ``boxes1[i]`` and ``boxes2[i]``."""
    return np.concatenate(
        [np.minimum(boxes1[:, :2], boxes2[:, :2]), np.maximum(boxes1[:, 2:], boxes2[:, 2:])], axis=1
    )


def object_match_matrix(
    pred_boxes: np.ndarray,
    pred_labels: np.ndarray,
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    iou_threshold: float,
) -> np.ndarray:
    """(N_pred, N_gt) bool: same label and IoU >= threshold (inclusive)."""
    same = pred_labels[:, None] == gt_labels[None, :]
    if not same.any():
        return same
    return same & (box_iou_plus_one(pred_boxes, gt_boxes) >= np.float32(iou_threshold))


def pair_match_matrix(
    pair_idxs: np.ndarray,
    pred_boxes: np.ndarray,
    pred_labels: np.ndarray,
    gt_rels: np.ndarray,
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    iou_threshold: float,
    phrase: bool = False,
) -> np.ndarray:
    """(R, M) bool: predicted pair r matches GT relation g up to the predicate.

    Triplet detection (default): subject and object labels equal and both IoUs >= threshold.
    Phrase detection (``phrase=True``): labels equal and the IoU of the union boxes
    (subject U object) >= threshold.
    """
    if not phrase:
        obj_match = object_match_matrix(pred_boxes, pred_labels, gt_boxes, gt_labels, iou_threshold)
        subj_ok = obj_match[:, gt_rels[:, 0]]
        obj_ok = obj_match[:, gt_rels[:, 1]]
        return subj_ok[pair_idxs[:, 0]] & obj_ok[pair_idxs[:, 1]]
    labels_ok = (pred_labels[pair_idxs[:, 0], None] == gt_labels[gt_rels[None, :, 0]]) & (
        pred_labels[pair_idxs[:, 1], None] == gt_labels[gt_rels[None, :, 1]]
    )
    out = np.zeros(labels_ok.shape, dtype=bool)
    rows = np.flatnonzero(labels_ok.any(1))
    if len(rows):
        pu = union_boxes(pred_boxes[pair_idxs[rows, 0]], pred_boxes[pair_idxs[rows, 1]])
        gu = union_boxes(gt_boxes[gt_rels[:, 0]], gt_boxes[gt_rels[:, 1]])
        out[rows] = labels_ok[rows] & (box_iou_plus_one(pu, gu) >= np.float32(iou_threshold))
    return out


def first_hit_rank(hits: np.ndarray, ranks: np.ndarray | None = None) -> np.ndarray:
    """(M,) int64: smallest rank of a row of ``hits`` (R, M) that is True per column.

    ``ranks`` gives the rank of every row (default: the row index, rows in rank order
    and ranks increasing with the row index). Columns without a hit get ``NO_HIT``.
    """
    out = np.full(hits.shape[1], NO_HIT, dtype=np.int64)
    if hits.size == 0:
        return out
    rows = np.flatnonzero(hits.any(1))
    if len(rows) == 0:
        return out
    sub = hits[rows]
    has = sub.any(0)
    first = rows[sub.argmax(0)]
    if ranks is not None:
        first = ranks[first]
    out[has] = first[has]
    return out


def topk_desc(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, sorted descending; ties -> lower index first.

    Equivalent to ``np.argsort(-values, kind="stable")[:k]`` without sorting everything
    (``np.partition`` finds the k-th value, only the survivors are sorted).
    """
    n = values.shape[0]
    if n <= k:
        return np.argsort(-values, kind="stable")
    kth = np.partition(values, n - k)[n - k]
    above = np.flatnonzero(values > kth)
    ties = np.flatnonzero(values == kth)[: k - len(above)]
    idx = np.concatenate([above, ties])
    order = np.lexsort((idx, -values[idx]))
    return idx[order]


def best_two(fg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``fg`` (R, C): first and second largest column and value (ties -> lower id)."""
    r = np.arange(fg.shape[0])
    c1 = fg.argmax(1)
    v1 = fg[r, c1]
    if fg.shape[1] < 2:
        return c1, v1, c1[:0], v1[:0]
    tmp = fg.copy()
    tmp[r, c1] = -np.inf
    c2 = tmp.argmax(1)
    return c1, v1, c2, fg[r, c2]


def top_candidates(fg: np.ndarray, pair_scores: np.ndarray, k: int) -> np.ndarray:
    """Flat indices into ``fg`` (R, C) of the ``k`` largest ``pair_scores[r] * fg[r, c]`` (float32).

    Descending, ties -> lower flat index; same result as ``topk_desc((pair_scores[:, None] *
    fg).ravel(), k)`` without forming the full product: the k-th largest value among the
    first k rows bounds the overall k-th value from below, and a row whose
    ``pair_score x max(fg)`` is under that bound cannot hold a candidate.
    """
    r, c = fg.shape
    if r * c <= 16384 or r <= k:  # small: one product and one partition beat the bound's extra steps
        return topk_desc((pair_scores[:, None] * fg).reshape(-1), k)
    sample = (pair_scores[:k, None] * fg[:k]).reshape(-1)
    kth = np.partition(sample, len(sample) - k)[len(sample) - k]
    rows = np.flatnonzero(pair_scores * fg.max() >= kth)
    prod = pair_scores[rows, None] * fg[rows]
    flat = prod.reshape(-1)
    cand = np.flatnonzero(flat >= kth)
    sel = cand[topk_desc(flat[cand], k)]
    return rows[sel // c] * c + sel % c


def top2_candidates(fg: np.ndarray, pair_scores: np.ndarray, k: int):
    """Top-k of the (pair, 1st/2nd best predicate) candidates scored ``pair_score * fg``.

    Returns ``(rows, cols, values)``: pair row, 0-based column and float32 score of each
    kept candidate, descending (ties -> lower (row, rank) position), as PySGG's
    ``argsort_desc(det_scores_spo)[:topk]`` with ``prd_k = 2``.
    """
    r = fg.shape[0]
    rows = np.arange(r)
    if r > k:  # only pairs holding an entry above a lower bound of the k-th best can contribute
        _, s1, _, s2 = best_two(fg[:k])
        sample = np.concatenate([pair_scores[:k] * s1, pair_scores[:k] * s2])
        kth = np.partition(sample, len(sample) - k)[len(sample) - k]
        prod = pair_scores[:, None] * fg
        rows = np.unique(np.flatnonzero(prod.reshape(-1) >= kth) // fg.shape[1])
    a1, b1, a2, b2 = best_two(fg[rows])
    if fg.shape[1] >= 2:
        cols = np.stack([a1, a2], 1)
        cand = pair_scores[rows, None] * np.stack([b1, b2], 1)
    else:
        cols = a1[:, None]
        cand = (pair_scores[rows] * b1)[:, None]
    flat = cand.reshape(-1)
    sel = topk_desc(flat, k)
    n_pp = cols.shape[1]
    return rows[sel // n_pp], cols.reshape(-1)[sel], flat[sel]
