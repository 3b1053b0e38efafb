"""Per-image matching and compact accumulated statistics of the VG-150 (SGB) protocol.

One image is reduced at once to, per metric family, the *first rank* at which every GT
relation is matched (``NO_HIT`` when never). Every K and every family (R, ngR, mR, zR, A)
derives from these ranks, and the accumulator keeps only running sums whose size does not
depend on the number of images, so memory stays flat however many images are processed.

Rules (eval_protocol.md section 2): graph-constrained rows are taken in the given order,
predicate = 1 + argmax over foreground columns; no-graph-constraint candidates are all
(pair, predicate) combinations scored subject x object x predicate, top 100 before K;
matches by labels + IoU >= 0.5 on both boxes (+1 pixel, float32), many-to-many;
images without GT relations or without predicted pairs are skipped; A@K keeps the rows
whose index pair is a GT pair before cutting at K.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .matching import NO_HIT, pair_match_matrix, top_candidates

__all__ = ["VGImageRanks", "VGRecallStats", "compute_image_ranks", "triplet_keys", "zeroshot_keys"]

_B = np.int64(1 << 20)


def triplet_keys(subj_labels: np.ndarray, obj_labels: np.ndarray, predicates: np.ndarray) -> np.ndarray:
    """int64 key of (subject label, object label, predicate) triplets."""
    return (subj_labels.astype(np.int64) * _B + obj_labels.astype(np.int64)) * _B + predicates.astype(np.int64)


def zeroshot_keys(zeroshot_triplets: np.ndarray | None) -> np.ndarray | None:
    """Sorted keys of a (Z, 3) array of **(subject label, object label, predicate)** rows."""
    if zeroshot_triplets is None:
        return None
    z = np.asarray(zeroshot_triplets, dtype=np.int64).reshape(-1, 3)
    return np.unique(triplet_keys(z[:, 0], z[:, 1], z[:, 2]))


@dataclass
class VGImageRanks:
    """First matching rank of every GT relation of one image, per metric family.

    ``ranks`` keys: ``R`` (graph constraint), ``ngR`` (no graph constraint), ``A`` (pair
    accuracy, rank among rows whose index pair is a GT pair), and ``phrdet_R`` /
    ``phrdet_ngR`` with phrase detection.
    """

    gt_predicates: np.ndarray
    zeroshot: np.ndarray
    ranks: dict[str, np.ndarray]


def compute_image_ranks(
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    gt_rels: np.ndarray,
    pred_boxes: np.ndarray,
    pred_labels: np.ndarray,
    pred_scores: np.ndarray,
    pair_idxs: np.ndarray,
    rel_scores: np.ndarray | None,
    rel_labels: np.ndarray | None,
    *,
    mode: str,
    iou_threshold: float = 0.5,
    max_rank: int = 100,
    ng_top_k: int = 100,
    phrase_detection: bool = False,
    zeroshot: np.ndarray | None = None,
    pair_accuracy: bool | None = None,
) -> VGImageRanks | None:
    """Match one image; ``None`` when SGB skips it (no GT relation or no predicted pair).

    ``rel_scores`` (R, C+1) with background column 0 enables the no-graph-constraint
    families; without it ``rel_labels`` (R,) gives the graph-constrained predicate.
    In ``predcls`` the predicted boxes/labels are replaced by the GT ones with score 1.
    Only ranks below ``max_rank`` (the largest K) are resolved; later ones read as no hit.
    ``pair_accuracy`` (default: in predcls / sgcls) also resolves the ``A`` family.
    """
    m = len(gt_rels)
    r = len(pair_idxs)
    if m == 0 or r == 0:
        return None
    if mode == "predcls":
        pred_boxes, pred_labels = gt_boxes, gt_labels
        pred_scores = np.ones(len(gt_labels), dtype=np.float32)
    gt_pred = gt_rels[:, 2]

    # rows that can influence a metric: first max_rank rows (R@K), top candidates (ngR@K),
    # first max_rank rows whose index pair is a GT pair (A@K); one segment each
    segments = [np.arange(min(r, max_rank))]
    names = ["R"]
    ng_pred = None
    if rel_scores is not None:
        fg = rel_scores[:, 1:]
        so = pred_scores[pair_idxs[:, 0]] * pred_scores[pair_idxs[:, 1]]
        sel = top_candidates(fg, so, ng_top_k)
        segments.append(sel // fg.shape[1])
        ng_pred = sel % fg.shape[1] + 1
        names.append("ngR")
    with_pairs = mode in ("predcls", "sgcls") if pair_accuracy is None else bool(pair_accuracy)
    if with_pairs:
        pair_key = pair_idxs[:, 0] * _B + pair_idxs[:, 1]
        gt_key = gt_rels[:, 0] * _B + gt_rels[:, 1]
        segments.append(np.flatnonzero((pair_key[:, None] == gt_key[None, :]).any(1))[:max_rank])
        names.append("A")
    rows = np.concatenate(segments)
    # graph-constrained predicate of every row (SGB: 1 + argmax over foreground columns)
    if rel_scores is not None:
        pred_of_row = rel_scores[rows, 1:].argmax(1) + 1
        if ng_pred is not None:
            pred_of_row[len(segments[0]):len(segments[0]) + len(ng_pred)] = ng_pred
    else:
        pred_of_row = rel_labels[rows]
    sizes = [len(seg) for seg in segments]
    local_rank = np.concatenate([np.arange(n) for n in sizes])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    same_pred = pred_of_row[:, None] == gt_pred[None, :]

    ranks: dict[str, np.ndarray] = {}
    variants = [("", False)] + ([("phrdet_", True)] if phrase_detection else [])
    for prefix, phrase in variants:
        pm = pair_match_matrix(pair_idxs[rows], pred_boxes, pred_labels, gt_rels, gt_boxes, gt_labels,
                               iou_threshold, phrase=phrase)
        rank_vals = np.where(pm & same_pred, local_rank[:, None], NO_HIT)
        # first (lowest) matching rank per GT and segment; empty segments read as no hit
        first = np.minimum.reduceat(np.vstack([rank_vals, np.full((1, m), NO_HIT)]), starts, axis=0)
        for i, name in enumerate(names):
            if name == "A" and phrase:
                continue
            ranks[prefix + name] = first[i] if sizes[i] else np.full(m, NO_HIT)

    if zeroshot is not None and len(zeroshot):
        keys = triplet_keys(gt_labels[gt_rels[:, 0]], gt_labels[gt_rels[:, 1]], gt_pred)
        pos = np.minimum(np.searchsorted(zeroshot, keys), len(zeroshot) - 1)
        zs = zeroshot[pos] == keys
    else:
        zs = np.zeros(m, dtype=bool)
    return VGImageRanks(gt_predicates=gt_pred, zeroshot=zs, ranks=ranks)


@dataclass
class VGRecallStats:
    """Running sums of the SGB recall families; size independent of the image count.

    ``recall_sum[f][k]``: sum over images of the image recall at ``ks[k]``;
    ``class_sum[f][k, c]``: sum over images containing predicate c of its image recall;
    ``class_images[c]``: images containing predicate c; ``zs_sum``/``zs_images``: same for
    zero-shot GT; ``pair_hits``/``pair_gt``: A@K numerator and denominator sums.
    """

    ks: Sequence[int]
    num_predicates: int
    images: int = 0
    recall_sum: dict[str, np.ndarray] = field(default_factory=dict)
    class_sum: dict[str, np.ndarray] = field(default_factory=dict)
    class_images: np.ndarray | None = None
    zs_sum: dict[str, np.ndarray] = field(default_factory=dict)
    zs_images: int = 0
    pair_hits: np.ndarray | None = None
    pair_gt: float = 0.0

    def __post_init__(self) -> None:
        self.ks = tuple(int(k) for k in self.ks)
        if self.class_images is None:
            self.class_images = np.zeros(self.num_predicates + 1, dtype=np.int64)
        if self.pair_hits is None:
            self.pair_hits = np.zeros(len(self.ks), dtype=np.float64)

    def _zeros(self, store: dict[str, np.ndarray], fam: str, shape) -> np.ndarray:
        if fam not in store:
            store[fam] = np.zeros(shape, dtype=np.float64)
        return store[fam]

    def add(self, img: VGImageRanks) -> None:
        """Fold one image's ranks into the sums."""
        m = len(img.gt_predicates)
        c1 = self.num_predicates + 1
        ks = np.asarray(self.ks)[:, None]
        counts = np.bincount(img.gt_predicates, minlength=c1)
        if len(counts) > c1:
            raise ValueError(f"GT predicate id {img.gt_predicates.max()} >= {c1} predicate classes")
        present = counts > 0
        self.images += 1
        self.class_images += present
        n_zs = int(img.zeroshot.sum())
        if n_zs:
            self.zs_images += 1
        fams = [f for f in img.ranks if f != "A"]
        n_k = len(self.ks)
        if "A" in img.ranks:
            self.pair_hits += (img.ranks["A"][None, :] < ks).sum(1)
            self.pair_gt += m
        hit = np.stack([img.ranks[f] for f in fams])[:, None, :] < ks[None]  # (F, K, M)
        recall = hit.sum(2) / m
        offsets = (np.arange(len(fams) * n_k) * c1)[:, None]
        per_cls = np.bincount((offsets + img.gt_predicates[None, :]).ravel(), weights=hit.reshape(-1),
                              minlength=len(fams) * n_k * c1).reshape(len(fams), n_k, c1)
        frac = per_cls[:, :, present] / counts[present]
        zs_rec = hit[:, :, img.zeroshot].sum(2) / n_zs if n_zs else None
        for i, fam in enumerate(fams):
            self._zeros(self.recall_sum, fam, n_k)[:] += recall[i]
            self._zeros(self.class_sum, fam, (n_k, c1))[:, present] += frac[i]
            if zs_rec is not None and fam in ("R", "ngR"):
                self._zeros(self.zs_sum, fam, n_k)[:] += zs_rec[i]

    def merge(self, other: VGRecallStats) -> None:
        """Add another worker's sums (distributed evaluation)."""
        if tuple(other.ks) != tuple(self.ks) or other.num_predicates != self.num_predicates:
            raise ValueError("cannot merge VGRecallStats with different ks / predicate counts")
        self.images += other.images
        self.class_images += other.class_images
        self.zs_images += other.zs_images
        self.pair_hits += other.pair_hits
        self.pair_gt += other.pair_gt
        for mine, theirs in ((self.recall_sum, other.recall_sum), (self.class_sum, other.class_sum),
                             (self.zs_sum, other.zs_sum)):
            for fam, arr in theirs.items():
                if fam in mine:
                    mine[fam] = mine[fam] + arr
                else:
                    mine[fam] = arr.copy()

    def families(self) -> list:
        """Metric families seen so far (R, ngR, phrdet_R, ...)."""
        return list(self.recall_sum)

    def recall(self, fam: str) -> np.ndarray:
        """(K,) image-averaged recall (NaN when no image was averaged)."""
        if fam not in self.recall_sum or self.images == 0:
            return np.full(len(self.ks), np.nan)
        return self.recall_sum[fam] / self.images

    def per_class_recall(self, fam: str) -> np.ndarray:
        """(K, C) per-predicate image-averaged recall (0 for predicates never in the GT)."""
        if fam not in self.class_sum:
            return np.zeros((len(self.ks), self.num_predicates))
        n = self.class_images[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(n > 0, self.class_sum[fam][:, 1:] / np.maximum(n, 1), 0.0)

    def mean_recall(self, fam: str) -> np.ndarray:
        """(K,) mR: per-class recalls summed over ALL C predicates, divided by C."""
        if fam not in self.class_sum:
            return np.full(len(self.ks), np.nan)
        return self.per_class_recall(fam).sum(1) / float(self.num_predicates)

    def zeroshot_recall(self, fam: str) -> np.ndarray:
        """(K,) zR over images with >= 1 zero-shot GT relation (NaN when there is none)."""
        if fam not in self.zs_sum or self.zs_images == 0:
            return np.full(len(self.ks), np.nan)
        return self.zs_sum[fam] / self.zs_images

    def pair_accuracy(self) -> np.ndarray:
        """(K,) A@K = mean(hits) / mean(GT count) = sum(hits) / sum(GT count)."""
        if self.pair_gt == 0:
            return np.full(len(self.ks), np.nan)
        return self.pair_hits / self.pair_gt
