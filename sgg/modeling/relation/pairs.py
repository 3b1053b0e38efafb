"""Pair proposal and training-time pair sampling of the relation stage.

Test time: every ordered pair ``(i, j)``, ``i != j``, of an image's objects, optionally only
pairs whose boxes overlap (``TEST.RELATION.REQUIRE_OVERLAP``, sgdet).

Training (methods_spec 2.4, SGB ``RelationSampling``):

* GT-box modes (predcls/sgcls): the objects are the GT boxes, every GT relation gives a
  foreground pair (a pair annotated with several predicates gets one of them at random);
  foreground pairs are capped at ``int(BATCH_SIZE_PER_IMAGE * POSITIVE_FRACTION)``, the rest of
  the budget is filled with randomly drawn background pairs (label 0).
* sgdet: a proposal matches a GT box when IoU > ``fg_iou_threshold`` and its (assigned) label
  equals the GT label; every GT relation yields all matched (subject proposal, object proposal)
  combinations, at most ``NUM_SAMPLE_PER_GT_REL`` of them drawn with probability proportional to
  the product of the two IoUs; background pairs are drawn among proposals with a foreground
  label. The relation stage appends the GT boxes to the proposals before sampling.

Randomness comes from an optional ``torch.Generator`` so sampling is reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = [
    "SampledPairs",
    "RelationPairSampler",
    "propose_pairs",
    "overlap_matrix",
    "assign_labels_by_iou",
]


def overlap_matrix(boxes: Tensor) -> Tensor:
    """(N, N) bool: True where two boxes intersect (the diagonal included).

    Uses SGB's "+1" pixel convention (``boxlist_iou(...) > 0``): boxes that share an edge
    pixel, e.g. ``x2 == x1'``, overlap.
    """
    boxes = boxes.float()
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    return ((rb - lt + 1.0) > 0).all(-1)


def propose_pairs(boxes: Tensor, require_overlap: bool = False) -> Tensor:
    """All ordered pairs ``(i, j)``, ``i != j``, of ``boxes`` (N, 4) as an (R, 2) int64 tensor.

    With ``require_overlap`` only pairs whose boxes overlap (:func:`overlap_matrix`) are kept. Rows are in
    row-major order of ``(i, j)``.
    """
    n = len(boxes)
    possible = ~torch.eye(n, dtype=torch.bool, device=boxes.device)
    if require_overlap:
        possible &= overlap_matrix(boxes)
    return possible.nonzero().reshape(-1, 2).long()


def assign_labels_by_iou(
    boxes: Tensor, gt_boxes: Tensor, gt_labels: Tensor, iou_threshold: float = 0.5
) -> Tensor:
    """Label of the best-overlapping GT box when its IoU exceeds ``iou_threshold``, else 0."""
    labels = torch.zeros(len(boxes), dtype=torch.long, device=boxes.device)
    if len(boxes) == 0 or len(gt_boxes) == 0:
        return labels
    best_iou, best_gt = box_iou(gt_boxes.float(), boxes.float()).max(0)
    matched = best_iou > iou_threshold
    labels[matched] = gt_labels[best_gt[matched]].long()
    return labels


@dataclass
class SampledPairs:
    """Pairs chosen for one training image: ``pair_idx`` (R, 2) and ``rel_labels`` (R,), fg first."""

    pair_idx: Tensor
    rel_labels: Tensor

    @property
    def num_foreground(self) -> int:
        return int((self.rel_labels > 0).sum())


def _randperm(n: int, generator: Optional[torch.Generator], device: torch.device) -> Tensor:
    return torch.randperm(n, generator=generator).to(device)


def _one_predicate_per_pair(relations: Tensor, generator: Optional[torch.Generator]) -> Tensor:
    """Keep one row per (subject, object); a pair with several predicates keeps a random one."""
    if len(relations) == 0:
        return relations
    shuffled = relations[_randperm(len(relations), generator, relations.device)]
    key = shuffled[:, 0] * (int(shuffled[:, :2].max()) + 1) + shuffled[:, 1]
    _, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(shuffled), dtype=torch.long, device=key.device)
    first = first.scatter_reduce(0, inverse, torch.arange(len(shuffled), device=key.device), "amin")
    return shuffled[first.sort().values]


class RelationPairSampler:
    """Foreground/background pair sampling for relation training (SGB semantics).

    Args:
        batch_size_per_image: pairs sampled per image (``BATCH_SIZE_PER_IMAGE``).
        positive_fraction: at most this fraction of the budget is foreground.
        num_sample_per_gt_rel: sgdet: proposal pairs kept per GT relation.
        require_box_overlap: background pairs (and sgdet pairs) only among overlapping boxes.
        fg_iou_threshold: sgdet: IoU above which a proposal matches a GT box.
    """

    def __init__(
        self,
        batch_size_per_image: int = 1024,
        positive_fraction: float = 0.25,
        num_sample_per_gt_rel: int = 4,
        require_box_overlap: bool = False,
        fg_iou_threshold: float = 0.5,
    ) -> None:
        if batch_size_per_image <= 0 or not 0.0 <= positive_fraction <= 1.0:
            raise ValueError(
                "RelationPairSampler: batch_size_per_image must be > 0 and positive_fraction in [0, 1], "
                f"got {batch_size_per_image} and {positive_fraction}"
            )
        self.batch_size_per_image = int(batch_size_per_image)
        self.positive_fraction = float(positive_fraction)
        self.num_sample_per_gt_rel = int(num_sample_per_gt_rel)
        self.require_box_overlap = bool(require_box_overlap)
        self.fg_iou_threshold = float(fg_iou_threshold)

    @classmethod
    def from_config(cls, cfg) -> RelationPairSampler:
        """Build from ``MODEL.ROI_RELATION_HEAD``."""
        rh = cfg.MODEL.ROI_RELATION_HEAD
        return cls(
            batch_size_per_image=rh.BATCH_SIZE_PER_IMAGE,
            positive_fraction=rh.POSITIVE_FRACTION,
            num_sample_per_gt_rel=rh.NUM_SAMPLE_PER_GT_REL,
            require_box_overlap=rh.REQUIRE_BOX_OVERLAP,
            fg_iou_threshold=rh.FG_IOU_THRESHOLD,
        )

    @property
    def max_positives(self) -> int:
        return int(self.batch_size_per_image * self.positive_fraction)

    def _possible(self, boxes: Tensor) -> Tensor:
        possible = ~torch.eye(len(boxes), dtype=torch.bool, device=boxes.device)
        if self.require_box_overlap:
            possible &= overlap_matrix(boxes)
        return possible

    def _finish(
        self, fg: Tensor, possible_bg: Tensor, generator: Optional[torch.Generator]
    ) -> SampledPairs:
        """Cap ``fg`` (K, 3) rows, fill the budget with background pairs from ``possible_bg``."""
        device = possible_bg.device
        if len(fg) > self.max_positives:
            fg = fg[_randperm(len(fg), generator, device)[: self.max_positives]]
        bg_pairs = possible_bg.nonzero().reshape(-1, 2)
        num_bg = min(self.batch_size_per_image - len(fg), len(bg_pairs))
        bg_pairs = bg_pairs[_randperm(len(bg_pairs), generator, device)[:num_bg]]
        pair_idx = torch.cat([fg[:, :2], bg_pairs], 0).long()
        rel_labels = torch.cat([fg[:, 2], bg_pairs.new_zeros(len(bg_pairs))], 0).long()
        return SampledPairs(pair_idx, rel_labels)

    def sample_gt_boxes(
        self, boxes: Tensor, gt_relations: Tensor, generator: Optional[torch.Generator] = None
    ) -> SampledPairs:
        """Sample pairs among GT boxes (predcls/sgcls).

        Args:
            boxes: (N, 4) GT boxes (only their count and, with overlap filtering, geometry matter).
            gt_relations: (M, 3) int64 rows (subject, object, predicate).
        """
        rels = gt_relations.long().reshape(-1, 3).to(boxes.device)
        rels = rels[(rels[:, 0] != rels[:, 1]) & (rels[:, 2] > 0)]
        if len(rels) and int(rels[:, :2].max()) >= len(boxes):
            raise ValueError(
                f"sample_gt_boxes: gt_relations index {int(rels[:, :2].max())} outside 0..{len(boxes) - 1}"
            )
        fg = _one_predicate_per_pair(rels, generator)
        possible_bg = self._possible(boxes)
        if len(fg):
            possible_bg[fg[:, 0], fg[:, 1]] = False
        return self._finish(fg, possible_bg, generator)

    def sample_detections(
        self,
        boxes: Tensor,
        labels: Tensor,
        gt_boxes: Tensor,
        gt_labels: Tensor,
        gt_relations: Tensor,
        generator: Optional[torch.Generator] = None,
    ) -> SampledPairs:
        """Sample pairs among proposals (sgdet).

        Args:
            boxes: (N, 4) proposals (detections with the GT boxes appended).
            labels: (N,) labels of the proposals (assigned from the GT, 0 = unmatched).
            gt_boxes, gt_labels: (G, 4), (G,) ground truth.
            gt_relations: (M, 3) int64 rows (subject, object, predicate) into the GT boxes.
        """
        device = boxes.device
        labels = labels.long()
        possible = self._possible(boxes)
        fg_proposal = labels > 0
        possible &= fg_proposal[:, None] & fg_proposal[None, :]
        rels = gt_relations.long().reshape(-1, 3).to(device)
        rels = rels[(rels[:, 0] != rels[:, 1]) & (rels[:, 2] > 0)]
        fg_rows = []
        if len(rels) and len(boxes) and len(gt_boxes):
            ious = box_iou(gt_boxes.float(), boxes.float())  # (G, N)
            is_match = (gt_labels.long()[:, None] == labels[None, :]) & (ious > self.fg_iou_threshold)
            for s, o, p in rels.tolist():
                heads = is_match[s].nonzero().flatten()
                tails = is_match[o].nonzero().flatten()
                if len(heads) == 0 or len(tails) == 0:
                    continue
                hh = heads[:, None].expand(-1, len(tails)).reshape(-1)
                tt = tails[None, :].expand(len(heads), -1).reshape(-1)
                valid = hh != tt
                hh, tt = hh[valid], tt[valid]
                if len(hh) == 0:
                    continue
                possible[hh, tt] = False
                if len(hh) > self.num_sample_per_gt_rel:
                    weight = (ious[s, hh] * ious[o, tt]).double().cpu()
                    keep = torch.multinomial(
                        weight, self.num_sample_per_gt_rel, replacement=False, generator=generator
                    ).to(device)
                    hh, tt = hh[keep], tt[keep]
                fg_rows.append(torch.stack([hh, tt, torch.full_like(hh, p)], 1))
        fg = torch.cat(fg_rows, 0) if fg_rows else torch.zeros((0, 3), dtype=torch.long, device=device)
        return self._finish(fg, possible, generator)
