"""maskrcnn-benchmark's Fast R-CNN test-time post-processing, as SGB's detector runs it.

For one image with R proposals and C classes (column 0 = background):

1. ``softmax`` of the class logits; class-specific deltas decoded against the proposals with the
   ``+1`` box coder (weights ``BBOX_REG_WEIGHTS``) and clipped to ``[0, W-1] x [0, H-1]``;
2. for every foreground class ``j`` (in order): the proposals with ``score > score_thresh``
   (strict), NMS (``+1`` areas, ``IoU >= nms_thresh``), and of the survivors the first
   ``post_nms_per_cls_topn`` **in proposal order** (the RPN's objectness order), not the best scores;
3. ``nms_filter_duplicates``: a proposal that survived for several classes keeps only its best
   surviving class; the detections come out in proposal order. Otherwise the per-class lists are
   concatenated class by class;
4. at most ``detections_per_img``: the threshold is the ``(n - k + 1)``-th smallest score
   (``kthvalue``) and every detection ``>=`` it stays, so ties can keep more than ``k``.

Every detection carries its proposal's class logits and its clipped boxes for every class
(SGB's ``predict_logits`` and ``boxes_per_cls``, which the relation stage reads in SGDet).
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Detections
from .sgb_box_ops import LegacyBoxCoder, clip_boxes_legacy, legacy_nms

__all__ = ["sgb_box_postprocess"]


def sgb_box_postprocess(
    class_logits: Tensor,
    box_deltas: Tensor,
    proposals: Tensor,
    image_size: Tuple[int, int],
    box_coder: LegacyBoxCoder,
    score_thresh: float = 0.01,
    nms_thresh: float = 0.3,
    post_nms_per_cls_topn: int = 300,
    nms_filter_duplicates: bool = True,
    detections_per_img: int = 80,
) -> Tuple[Detections, Tensor]:
    """Detections of one image and, for each, the index of the proposal it came from.

    Args:
        class_logits: (R, C) logits of the proposals; box_deltas: (R, 4C) class-specific deltas.
        proposals: (R, 4) RPN boxes; image_size: (H, W) before padding.
    """
    num_classes = class_logits.shape[1]
    scores = F.softmax(class_logits, -1)
    decoded = box_coder.decode(box_deltas.view(proposals.shape[0], -1), proposals)
    boxes_per_cls = clip_boxes_legacy(decoded.reshape(-1, 4), image_size).reshape(-1, num_classes, 4)
    above = scores > score_thresh
    kept_per_class = []
    for j in range(1, num_classes):
        inds = torch.nonzero(above[:, j]).squeeze(1)
        keep = legacy_nms(boxes_per_cls[inds, j], scores[inds, j], nms_thresh, post_nms_per_cls_topn)
        kept_per_class.append(inds[keep])
    if nms_filter_duplicates:
        chosen = torch.zeros_like(above)
        for j, inds in enumerate(kept_per_class, start=1):
            chosen[inds, j] = True
        best_scores, best_labels = (scores * chosen.float()).max(1)
        orig_inds = torch.nonzero(best_scores).squeeze(1)
        det_scores, labels = best_scores[orig_inds], best_labels[orig_inds]
    else:
        orig_inds = torch.cat(kept_per_class)
        labels = torch.cat(
            [torch.full((len(k),), j, dtype=torch.int64, device=scores.device) for j, k in enumerate(kept_per_class, 1)]
        )
        det_scores = scores[orig_inds, labels]
    n = len(det_scores)
    if n > detections_per_img > 0:
        image_thresh, _ = torch.kthvalue(det_scores.cpu(), n - detections_per_img + 1)
        keep = torch.nonzero(det_scores >= image_thresh.item()).squeeze(1)
        orig_inds, labels, det_scores = orig_inds[keep], labels[keep], det_scores[keep]
    per_cls = boxes_per_cls[orig_inds]
    detections = Detections(
        boxes=per_cls[torch.arange(len(orig_inds), device=per_cls.device), labels],
        labels=labels,
        scores=det_scores,
        class_logits=class_logits[orig_inds],
        boxes_per_cls=per_cls,
    )
    return detections, orig_inds
