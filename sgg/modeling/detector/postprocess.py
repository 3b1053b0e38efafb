"""Fast R-CNN inference that keeps, for every detection, its RoI's class logits and per-class boxes."""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import boxes as box_ops

from .base import Detections

__all__ = ["fast_rcnn_inference", "select_detections"]


def select_detections(
    class_logits: Tensor,
    boxes_per_cls: Tensor,
    image_size: Tuple[int, int],
    score_thresh: float,
    nms_thresh: float,
    detections_per_img: int,
    min_box_size: float = 1e-2,
) -> Detections:
    """Detections of one image from its RoIs' logits (R, C) and regressed boxes (R, C, 4).

    Every (RoI, foreground class) pair is a candidate with score softmax(logits)[class] and the RoI's
    box for that class (clipped to the image). Candidates with score <= ``score_thresh`` or a side
    below ``min_box_size`` are dropped, per-class NMS at ``nms_thresh`` is applied, and the
    ``detections_per_img`` best are kept. Unlike torchvision's ``postprocess_detections``, every kept
    detection carries its RoI's full ``class_logits`` (C,) and clipped ``boxes_per_cls`` (C, 4), as
    Scene-Graph-Benchmark's box post-processor does for sgdet.
    """
    num_classes = class_logits.shape[1]
    boxes_per_cls = box_ops.clip_boxes_to_image(boxes_per_cls.reshape(-1, 4), image_size).reshape(
        -1, num_classes, 4
    )
    fg_scores = F.softmax(class_logits, dim=-1)[:, 1:]
    roi_idx, cls_idx = torch.nonzero(fg_scores > score_thresh, as_tuple=True)
    labels = cls_idx + 1
    scores = fg_scores[roi_idx, cls_idx]
    boxes = boxes_per_cls[roi_idx, labels]
    keep = box_ops.remove_small_boxes(boxes, min_size=min_box_size)
    keep = keep[box_ops.batched_nms(boxes[keep], scores[keep], labels[keep], nms_thresh)]
    keep = keep[:detections_per_img]  # batched_nms returns indices sorted by decreasing score
    rois = roi_idx[keep]
    return Detections(
        boxes=boxes[keep],
        labels=labels[keep],
        scores=scores[keep],
        class_logits=class_logits[rois],
        boxes_per_cls=boxes_per_cls[rois],
    )


def fast_rcnn_inference(
    class_logits: Tensor,
    box_deltas: Tensor,
    proposals: Sequence[Tensor],
    image_sizes: Sequence[Tuple[int, int]],
    box_coder: BoxCoder,
    score_thresh: float,
    nms_thresh: float,
    detections_per_img: int,
) -> List[Detections]:
    """Decode class-specific deltas against the proposals and run :func:`select_detections` per image.

    Args:
        class_logits: (sum R_i, C) logits, column 0 = background.
        box_deltas: (sum R_i, 4 * C) class-specific deltas.
        proposals: one (R_i, 4) tensor of RoIs per image.
        image_sizes: (height, width) of every image, for clipping.
        box_coder: the coder the deltas were trained with.
    """
    counts = [p.shape[0] for p in proposals]
    decoded = box_coder.decode(box_deltas, list(proposals)).reshape(-1, class_logits.shape[1], 4)
    return [
        select_detections(logits_i, boxes_i, size, score_thresh, nms_thresh, detections_per_img)
        for logits_i, boxes_i, size in zip(class_logits.split(counts), decoded.split(counts), image_sizes)
    ]
