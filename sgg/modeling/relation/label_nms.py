"""Greedy per-class label suppression of sgdet ("late NMS", methods_spec 2.1 step 6).

Repeatedly pick the (box, class) with the highest remaining foreground probability, give the box
that class, zero the class on every box whose class-specific box overlaps the picked one with
IoU >= ``iou_threshold`` (``TEST.RELATION.LATER_NMS_PREDICTION_THRES``) and remove the picked
box from further picks. IoU uses SGB's "+1" pixel convention (``nms_overlaps``).

A box whose every class has been suppressed (possible only when probabilities underflow to 0 or
boxes outnumber classes): SGB gives it the background label 0, which scores 0 (``unassigned=
"background"``); by default (``"foreground"``) it gets its most probable foreground class, so
every object keeps a label in ``1..C_obj-1``.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

__all__ = ["greedy_label_nms", "pairwise_iou_plus_one"]


def pairwise_iou_plus_one(box: Tensor, boxes: Tensor) -> Tensor:
    """IoU of one box (4,) against (N, 4) boxes with width = x2 - x1 + 1 (SGB convention)."""
    lt = torch.maximum(box[:2], boxes[:, :2])
    rb = torch.minimum(box[2:], boxes[:, 2:])
    wh = (rb - lt + 1.0).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area = (box[2] - box[0] + 1.0) * (box[3] - box[1] + 1.0)
    areas = (boxes[:, 2] - boxes[:, 0] + 1.0) * (boxes[:, 3] - boxes[:, 1] + 1.0)
    return inter / ((-inter + areas) + area)  # SGB's nms_overlaps order of float32 operations


@torch.no_grad()
def greedy_label_nms(
    boxes_per_cls: Tensor, obj_logits: Tensor, iou_threshold: float = 0.5, unassigned: str = "foreground"
) -> Tuple[Tensor, Tensor]:
    """Assign one foreground label per box by greedy per-class suppression.

    Args:
        boxes_per_cls: (N, C_obj, 4) class-specific boxes (column 0 = background, unused), or
            (N, 4) boxes shared by all classes.
        obj_logits: (N, C_obj) object logits; softmax probabilities are compared.
        iou_threshold: boxes overlapping a picked box with IoU >= this lose the picked class.
        unassigned: label of a box left without any class: "foreground" (its best foreground
            class) or "background" (0 with score 0, SGB's ``obj_prediction_nms``).

    Returns:
        labels (N,) int64 in 1..C_obj-1 and their softmax probabilities (N,) (the object scores
        of the sgdet post-processor).
    """
    num_obj, num_cls = obj_logits.shape
    if boxes_per_cls.dim() == 2 and boxes_per_cls.shape == (num_obj, 4):
        boxes_per_cls = boxes_per_cls[:, None, :].expand(num_obj, num_cls, 4)
    if boxes_per_cls.shape[:2] != (num_obj, num_cls):
        raise ValueError(
            f"greedy_label_nms: boxes_per_cls has shape {tuple(boxes_per_cls.shape)}, "
            f"expected ({num_obj}, {num_cls}, 4) or ({num_obj}, 4)"
        )
    probs = torch.softmax(obj_logits.float(), dim=1)
    remaining = probs.clone()
    remaining[:, 0] = 0.0
    labels = torch.zeros(num_obj, dtype=torch.long, device=obj_logits.device)
    boxes_per_cls = boxes_per_cls.float()
    for _ in range(num_obj):
        flat = int(remaining.argmax())
        box_ind, cls_ind = divmod(flat, num_cls)
        if float(remaining[box_ind, cls_ind]) <= 0.0:
            break
        labels[box_ind] = cls_ind
        ious = pairwise_iou_plus_one(boxes_per_cls[box_ind, cls_ind], boxes_per_cls[:, cls_ind])
        remaining[ious >= iou_threshold, cls_ind] = 0.0
        remaining[box_ind] = -1.0
    if unassigned not in ("foreground", "background"):
        raise ValueError(f"greedy_label_nms: unassigned must be 'foreground' or 'background', got {unassigned!r}")
    left = labels == 0
    if unassigned == "foreground" and bool(left.any()):
        labels[left] = probs[left, 1:].argmax(1) + 1
    probs[:, 0] = 0.0  # the background scores 0 (SGB zeroes it before taking object scores)
    scores = probs.gather(1, labels[:, None]).squeeze(1)
    return labels, scores
