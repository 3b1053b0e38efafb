"""Box arithmetic of maskrcnn-benchmark (the detector Scene-Graph-Benchmark ships), reproduced exactly.

maskrcnn-benchmark keeps Detectron's "+1 pixel" convention: a box ``(x1, y1, x2, y2)`` covers the
pixels ``x1..x2`` inclusive, so its width is ``x2 - x1 + 1``. It shows up in the box coder, in the
areas and IoUs of its NMS, in clipping (to ``[0, W - 1]``) and in the FPN level mapper. Every
function here performs the same float32 operations in the same order as the original, so results
are bit-identical, not just close (see ``docs/sgb_detector.md``).

* :class:`LegacyBoxCoder`: ``encode`` / ``decode`` with ``w = x2 - x1 + 1`` and
  ``x2 = ctr + 0.5 w - 1``; ``dw``/``dh`` clamped at ``log(1000 / 16)``.
* :func:`clip_boxes_legacy`: clamp to ``[0, W - 1] x [0, H - 1]``.
* :func:`legacy_nms`: greedy NMS with ``+1`` areas, suppression when ``IoU >= threshold`` (the
  threshold compared as float32) and survivors returned in ascending *index* order;
  ``torchvision.ops.nms`` differs on all three points.
* :func:`legacy_batched_nms`: the same, run independently per group (class), with an optional cap
  on the survivors of each group (the first ones in index order).
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "LegacyBoxCoder",
    "clip_boxes_legacy",
    "box_area_legacy",
    "legacy_nms",
    "legacy_batched_nms",
    "remove_small_boxes_legacy",
    "BBOX_XFORM_CLIP",
]

BBOX_XFORM_CLIP = math.log(1000.0 / 16)


class LegacyBoxCoder:
    """Box <-> regression-target coder with the ``+1`` width convention.

    Args:
        weights: ``(wx, wy, ww, wh)``; the RPN uses ``(1, 1, 1, 1)``, the box head
            ``MODEL.DETECTOR.SGB.BBOX_REG_WEIGHTS`` (``(10, 10, 5, 5)``).
        bbox_xform_clip: upper clamp of the decoded ``dw``/``dh`` (before ``exp``).
    """

    def __init__(self, weights: Sequence[float], bbox_xform_clip: float = BBOX_XFORM_CLIP) -> None:
        if len(weights) != 4:
            raise ValueError(f"LegacyBoxCoder: weights must have 4 values, got {tuple(weights)}")
        self.weights = tuple(float(w) for w in weights)
        self.bbox_xform_clip = float(bbox_xform_clip)

    def encode(self, reference_boxes: Tensor, proposals: Tensor) -> Tensor:
        """(N, 4) targets that turn ``proposals`` into ``reference_boxes``."""
        ex_w = proposals[:, 2] - proposals[:, 0] + 1
        ex_h = proposals[:, 3] - proposals[:, 1] + 1
        ex_cx = proposals[:, 0] + 0.5 * ex_w
        ex_cy = proposals[:, 1] + 0.5 * ex_h
        gt_w = reference_boxes[:, 2] - reference_boxes[:, 0] + 1
        gt_h = reference_boxes[:, 3] - reference_boxes[:, 1] + 1
        gt_cx = reference_boxes[:, 0] + 0.5 * gt_w
        gt_cy = reference_boxes[:, 1] + 0.5 * gt_h
        wx, wy, ww, wh = self.weights
        return torch.stack(
            (
                wx * (gt_cx - ex_cx) / ex_w,
                wy * (gt_cy - ex_cy) / ex_h,
                ww * torch.log(gt_w / ex_w),
                wh * torch.log(gt_h / ex_h),
            ),
            dim=1,
        )

    def decode(self, rel_codes: Tensor, boxes: Tensor) -> Tensor:
        """Apply (N, 4k) deltas to (N, 4) boxes -> (N, 4k) boxes (k classes side by side)."""
        boxes = boxes.to(rel_codes.dtype)
        widths = boxes[:, 2] - boxes[:, 0] + 1
        heights = boxes[:, 3] - boxes[:, 1] + 1
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights
        wx, wy, ww, wh = self.weights
        dx = rel_codes[:, 0::4] / wx
        dy = rel_codes[:, 1::4] / wy
        dw = torch.clamp(rel_codes[:, 2::4] / ww, max=self.bbox_xform_clip)
        dh = torch.clamp(rel_codes[:, 3::4] / wh, max=self.bbox_xform_clip)
        pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
        pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
        pred_w = torch.exp(dw) * widths[:, None]
        pred_h = torch.exp(dh) * heights[:, None]
        out = torch.zeros_like(rel_codes)
        out[:, 0::4] = pred_ctr_x - 0.5 * pred_w
        out[:, 1::4] = pred_ctr_y - 0.5 * pred_h
        out[:, 2::4] = pred_ctr_x + 0.5 * pred_w - 1
        out[:, 3::4] = pred_ctr_y + 0.5 * pred_h - 1
        return out


def clip_boxes_legacy(boxes: Tensor, image_size: Tuple[int, int]) -> Tensor:
    """Clamp (N, 4) boxes to ``[0, W - 1] x [0, H - 1]`` (``image_size`` = (H, W)); returns a copy."""
    height, width = int(image_size[0]), int(image_size[1])
    out = boxes.clone()
    out[:, 0].clamp_(min=0, max=width - 1)
    out[:, 1].clamp_(min=0, max=height - 1)
    out[:, 2].clamp_(min=0, max=width - 1)
    out[:, 3].clamp_(min=0, max=height - 1)
    return out


def box_area_legacy(boxes: Tensor) -> Tensor:
    """(N,) ``(x2 - x1 + 1) * (y2 - y1 + 1)``."""
    return (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)


def _overlaps(rows: Tensor, cols: Tensor, area_rows: Tensor, area_cols: Tensor, thr: Tensor) -> Tensor:
    """Boolean (R, C): IoU(row box, column box) >= thr, in the original kernel's float32 operation order.

    The rows are the boxes visited first (the kernel's ``i``): ``inter / (area_i + area_j - inter)``.
    """
    zero = rows.new_zeros(())
    w = torch.maximum(zero, torch.minimum(rows[:, None, 2], cols[None, :, 2]) - torch.maximum(rows[:, None, 0], cols[None, :, 0]) + 1)
    h = torch.maximum(zero, torch.minimum(rows[:, None, 3], cols[None, :, 3]) - torch.maximum(rows[:, None, 1], cols[None, :, 1]) + 1)
    inter = w * h
    return inter / (area_rows[:, None] + area_cols[None, :] - inter) >= thr


def legacy_nms(boxes: Tensor, scores: Tensor, threshold: float, max_keep: int = -1, block: int = 128) -> Tensor:
    """Greedy NMS as maskrcnn-benchmark's CPU kernel; indices of the survivors in ascending index order.

    Boxes are visited in ``scores.sort(descending=True)`` order; a visited box that is still alive
    suppresses every later box whose IoU (``+1`` areas) with it is ``>= threshold``. With
    ``max_keep > 0`` only the first ``max_keep`` survivors *in index order* are returned (what
    ``boxlist_nms(max_proposals=...)`` keeps).

    Computed block by block: a candidate is alive when no box kept so far suppresses it (checked
    against the kept boxes only), then the block's own candidates are resolved in order. This is
    the same greedy decision, with the kernel's float32 IoU, without forming all pairs.
    """
    n = int(boxes.shape[0])
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    if boxes.dtype != scores.dtype:
        raise ValueError(f"legacy_nms: boxes ({boxes.dtype}) and scores ({scores.dtype}) must share a dtype")
    device = boxes.device
    boxes, scores = boxes.detach().cpu(), scores.detach().cpu()
    order = scores.sort(0, descending=True)[1]
    sboxes = boxes[order].contiguous()
    areas = box_area_legacy(sboxes)
    thr = torch.tensor(float(threshold), dtype=torch.float32).to(boxes.dtype)
    # when the score order is the index order (e.g. the RPN's sorted top-k), the first max_keep
    # survivors of the greedy pass are the answer and the pass can stop there
    stop_at = max_keep if (max_keep > 0 and bool(torch.equal(order, torch.arange(n)))) else n
    kept: list = []
    kept_boxes, kept_areas = sboxes[:0], areas[:0]
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        cand, cand_areas = sboxes[b0:b1], areas[b0:b1]
        if kept:
            alive = ~_overlaps(kept_boxes, cand, kept_areas, cand_areas, thr).any(0).numpy()
        else:
            alive = np.ones(b1 - b0, dtype=bool)
        if not alive.any():
            continue
        live = np.nonzero(alive)[0]
        live_t = torch.from_numpy(live)
        intra = _overlaps(cand[live_t], cand[live_t], cand_areas[live_t], cand_areas[live_t], thr).numpy()
        free = np.ones(len(live), dtype=bool)
        new = []
        for t in range(len(live)):
            if not free[t]:
                continue
            new.append(t)
            if len(kept) + len(new) >= stop_at:
                break
            free[t + 1:] &= ~intra[t, t + 1:]
        new_pos = torch.from_numpy(live[new] + b0)
        kept.extend(new_pos.tolist())
        kept_boxes = torch.cat([kept_boxes, sboxes[new_pos]])
        kept_areas = torch.cat([kept_areas, areas[new_pos]])
        if len(kept) >= stop_at:
            break
    keep = order[torch.tensor(kept, dtype=torch.int64)].sort().values
    if max_keep > 0:
        keep = keep[:max_keep]
    return keep.to(device)


def legacy_batched_nms(
    boxes: Tensor, scores: Tensor, groups: Tensor, threshold: float, max_keep_per_group: int = -1
) -> Tensor:
    """:func:`legacy_nms` run independently within each group; indices into the inputs.

    The result lists the groups in ascending group id, each group's survivors in ascending index
    order (each capped at ``max_keep_per_group`` when > 0), i.e. the concatenation a per-class loop
    over the original kernel gives.
    """
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    out = []
    for g in torch.unique(groups).tolist():
        idx = torch.nonzero(groups == g).squeeze(1)
        keep = legacy_nms(boxes[idx], scores[idx], threshold, max_keep_per_group)
        out.append(idx[keep])
    return torch.cat(out)


def remove_small_boxes_legacy(boxes: Tensor, min_size: float) -> Tensor:
    """Indices of the boxes whose ``+1`` width and height are both ``>= min_size``."""
    ws = boxes[:, 2] - boxes[:, 0] + 1
    hs = boxes[:, 3] - boxes[:, 1] + 1
    return torch.nonzero((ws >= min_size) & (hs >= min_size)).squeeze(1)

