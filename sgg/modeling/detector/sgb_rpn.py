"""maskrcnn-benchmark's FPN region proposal network at test time, reproduced exactly.

* :func:`legacy_cell_anchors`: Detectron's anchor enumeration. The base window is
  ``(0, 0, stride - 1, stride - 1)``; for a ratio ``r`` (height / width) ``w = round(sqrt(stride^2 / r))``,
  ``h = round(w * r)``; the window is then scaled by ``size / stride`` around its centre
  ``(stride - 1) / 2`` with corners ``ctr -+ 0.5 * (w - 1)``. One size per FPN level.
* :class:`LegacyAnchorGenerator`: the cell anchors (buffers ``cell_anchors.<level>``) shifted over
  the grid ``arange(0, W * stride, stride)``, flattened in (y, x, anchor) order.
* :class:`SGBRPNHead`: shared 3x3 conv + ReLU, 1x1 objectness (A) and 1x1 deltas (4A).
* :meth:`SGBRPN.proposals`: per level ``sigmoid`` -> top ``pre_nms_top_n`` -> decode (weights 1) ->
  clip to ``[0, W-1] x [0, H-1]`` -> drop boxes smaller than ``min_size`` -> NMS (``+1`` areas,
  ``>=``) keeping the first ``post_nms_top_n``; then all levels concatenated and the top
  ``fpn_post_nms_top_n`` by objectness kept per image.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .sgb_box_ops import LegacyBoxCoder, clip_boxes_legacy, legacy_nms, remove_small_boxes_legacy

__all__ = ["legacy_cell_anchors", "LegacyAnchorGenerator", "SGBRPNHead", "SGBRPN"]


def _whctrs(anchor: np.ndarray) -> Tuple[float, float, float, float]:
    w = anchor[2] - anchor[0] + 1
    h = anchor[3] - anchor[1] + 1
    return w, h, anchor[0] + 0.5 * (w - 1), anchor[1] + 0.5 * (h - 1)


def _make_windows(ws: np.ndarray, hs: np.ndarray, x_ctr: float, y_ctr: float) -> np.ndarray:
    ws, hs = ws[:, None], hs[:, None]
    return np.hstack((x_ctr - 0.5 * (ws - 1), y_ctr - 0.5 * (hs - 1), x_ctr + 0.5 * (ws - 1), y_ctr + 0.5 * (hs - 1)))


def legacy_cell_anchors(stride: int, sizes: Sequence[float], aspect_ratios: Sequence[float]) -> Tensor:
    """(len(ratios) * len(sizes), 4) float32 anchors of one level, ratio-major (Detectron's order)."""
    base = np.array([1, 1, stride, stride], dtype=np.float64) - 1
    w, h, x_ctr, y_ctr = _whctrs(base)
    ratios = np.asarray(aspect_ratios, dtype=np.float64)
    ws = np.round(np.sqrt(w * h / ratios))
    hs = np.round(ws * ratios)
    per_ratio = _make_windows(ws, hs, x_ctr, y_ctr)
    scales = np.asarray(sizes, dtype=np.float64) / stride
    rows = []
    for anchor in per_ratio:
        aw, ah, ax, ay = _whctrs(anchor)
        rows.append(_make_windows(aw * scales, ah * scales, ax, ay))
    return torch.from_numpy(np.vstack(rows)).float()


class LegacyAnchorGenerator(nn.Module):
    """Anchors of every FPN level (one size per level) for a padded batch.

    Args:
        sizes: anchor sizes per level, e.g. ``((32,), (64,), (128,), (256,), (512,))``.
        strides: stride of each level, e.g. ``(4, 8, 16, 32, 64)``.
        aspect_ratios: height / width ratios shared by all levels.
    """

    def __init__(
        self, sizes: Sequence[Sequence[float]], strides: Sequence[int], aspect_ratios: Sequence[float]
    ) -> None:
        super().__init__()
        if len(sizes) != len(strides):
            raise ValueError(
                f"LegacyAnchorGenerator: {len(sizes)} anchor size tuples for {len(strides)} strides "
                "(MODEL.DETECTOR.ANCHOR_SIZES vs MODEL.DETECTOR.SGB.ANCHOR_STRIDE)"
            )
        self.strides = tuple(int(s) for s in strides)
        self.cell_anchors = nn.Module()
        for level, (stride, size) in enumerate(zip(self.strides, sizes)):
            self.cell_anchors.register_buffer(str(level), legacy_cell_anchors(stride, size, aspect_ratios))

    def num_anchors_per_location(self) -> int:
        """A, the anchors per grid cell (the same on every level)."""
        return int(getattr(self.cell_anchors, "0").shape[0])

    def forward(self, grid_sizes: Sequence[Tuple[int, int]]) -> List[Tensor]:
        """(H_l * W_l * A, 4) anchors per level, (y, x, anchor) order."""
        out = []
        for level, ((gh, gw), stride) in enumerate(zip(grid_sizes, self.strides)):
            base = getattr(self.cell_anchors, str(level))
            shifts_x = torch.arange(0, gw * stride, step=stride, dtype=torch.float32, device=base.device)
            shifts_y = torch.arange(0, gh * stride, step=stride, dtype=torch.float32, device=base.device)
            shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
            shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
            shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
            out.append((shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4))
        return out


class SGBRPNHead(nn.Module):
    """3x3 conv (``mid_channels``) + ReLU, then 1x1 ``cls_logits`` (A) and ``bbox_pred`` (4A) per level."""

    def __init__(self, in_channels: int, mid_channels: int, num_anchors: int) -> None:
        super().__init__()
        if mid_channels != in_channels:
            # the original applies cls_logits/bbox_pred (built for in_channels) to the conv's output
            raise ValueError(
                f"SGBRPNHead: mid_channels ({mid_channels}) must equal in_channels ({in_channels}), "
                "as in maskrcnn-benchmark (MODEL.RPN.RPN_MID_CHANNEL = BACKBONE_OUT_CHANNELS)"
            )
        self.conv = nn.Conv2d(in_channels, mid_channels, kernel_size=3, stride=1, padding=1)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, kernel_size=1, stride=1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, kernel_size=1, stride=1)

    def forward(self, features: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        logits, deltas = [], []
        for x in features:
            t = F.relu(self.conv(x))
            logits.append(self.cls_logits(t))
            deltas.append(self.bbox_pred(t))
        return logits, deltas


def _flatten(layer: Tensor, channels: int) -> Tensor:
    """(N, A*C, H, W) -> (N, H*W*A, C) in (y, x, anchor) order."""
    n, _, h, w = layer.shape
    return layer.view(n, -1, channels, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, channels)


class SGBRPN(nn.Module):
    """Anchor generator + head + test-time proposal selection (the ``rpn.*`` keys of SGB checkpoints).

    Args:
        in_channels: FPN width; mid_channels: width of the head's 3x3 conv (must be equal).
        anchor_sizes, anchor_strides, aspect_ratios: see :class:`LegacyAnchorGenerator`.
        pre_nms_top_n: per level, before NMS; post_nms_top_n: per level, after NMS.
        fpn_post_nms_top_n: per image, over all levels.
        nms_thresh: proposal NMS IoU; min_size: smallest ``+1`` side kept (0 keeps all).
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        anchor_sizes: Sequence[Sequence[float]],
        anchor_strides: Sequence[int],
        aspect_ratios: Sequence[float],
        pre_nms_top_n: int = 6000,
        post_nms_top_n: int = 1000,
        fpn_post_nms_top_n: int = 1000,
        nms_thresh: float = 0.7,
        min_size: float = 0.0,
    ) -> None:
        super().__init__()
        self.anchor_generator = LegacyAnchorGenerator(anchor_sizes, anchor_strides, aspect_ratios)
        self.head = SGBRPNHead(in_channels, mid_channels, self.anchor_generator.num_anchors_per_location())
        self.box_coder = LegacyBoxCoder((1.0, 1.0, 1.0, 1.0))
        self.pre_nms_top_n = int(pre_nms_top_n)
        self.post_nms_top_n = int(post_nms_top_n)
        self.fpn_post_nms_top_n = int(fpn_post_nms_top_n)
        self.nms_thresh = float(nms_thresh)
        self.min_size = float(min_size)

    @torch.no_grad()
    def proposals(
        self, features: Sequence[Tensor], image_sizes: Sequence[Tuple[int, int]]
    ) -> Tuple[List[Tensor], List[Tensor]]:
        """Per image: proposals (R, 4) sorted by objectness and their objectness (R,).

        Args:
            features: the FPN maps the RPN runs on (P2..P6), each (N, C, H_l, W_l).
            image_sizes: (height, width) of every image before padding (for clipping).
        """
        logits, deltas = self.head(features)
        anchors = self.anchor_generator([tuple(f.shape[-2:]) for f in features])
        per_level_boxes, per_level_scores = [], []
        for lg, dl, anc in zip(logits, deltas, anchors):
            boxes, scores = self._level(lg, dl, anc, image_sizes)
            per_level_boxes.append(boxes)
            per_level_scores.append(scores)
        out_boxes, out_scores = [], []
        for i in range(len(image_sizes)):
            boxes = torch.cat([b[i] for b in per_level_boxes], 0)
            scores = torch.cat([s[i] for s in per_level_scores], 0)
            if len(per_level_boxes) > 1:
                k = min(self.fpn_post_nms_top_n, len(scores))
                _, order = torch.topk(scores, k, dim=0, sorted=True)
                boxes, scores = boxes[order], scores[order]
            out_boxes.append(boxes)
            out_scores.append(scores)
        return out_boxes, out_scores

    def _level(
        self, logits: Tensor, deltas: Tensor, anchors: Tensor, image_sizes: Sequence[Tuple[int, int]]
    ) -> Tuple[List[Tensor], List[Tensor]]:
        n, a, h, w = logits.shape
        objectness = _flatten(logits, 1).view(n, -1).sigmoid()
        box_deltas = _flatten(deltas, 4)
        k = min(self.pre_nms_top_n, a * h * w)
        objectness, topk_idx = objectness.topk(k, dim=1, sorted=True)
        batch_idx = torch.arange(n, device=logits.device)[:, None]
        box_deltas = box_deltas[batch_idx, topk_idx]
        # every image of the batch shares the anchors of the padded batch
        chosen = anchors.unsqueeze(0).expand(n, -1, -1)[batch_idx, topk_idx]
        decoded = self.box_coder.decode(box_deltas.reshape(-1, 4), chosen.reshape(-1, 4)).view(n, -1, 4)
        boxes_out, scores_out = [], []
        for boxes, scores, size in zip(decoded, objectness, image_sizes):
            boxes = clip_boxes_legacy(boxes, size)
            keep = remove_small_boxes_legacy(boxes, self.min_size)
            boxes, scores = boxes[keep], scores[keep]
            keep = legacy_nms(boxes, scores, self.nms_thresh, self.post_nms_top_n)
            boxes_out.append(boxes[keep])
            scores_out.append(scores[keep])
        return boxes_out, scores_out
