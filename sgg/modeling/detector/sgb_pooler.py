"""maskrcnn-benchmark's multi-level RoIAlign pooler (box head and relation head of SGB's models).

Two differences from :class:`~sgg.modeling.detector.pooler.BoxPooler`:

* level of a box: ``floor(4 + log2(sqrt(area) / 224 + 1e-6))`` clamped to the available levels,
  with the ``+1`` area ``(x2 - x1 + 1) * (y2 - y1 + 1)``;
* ``roi_align(aligned=False)``: box coordinates are scaled as they are, without the half-pixel
  shift (torchvision's kernel computes exactly maskrcnn-benchmark's ROIAlign then).

With ``cat_all_levels=True`` (SGB's ``POOLING_ALL_LEVELS``, used for union boxes) every box is
pooled from every level, the maps are concatenated along channels and ``reduce_channel``
(3x3 conv + ReLU) brings them back to ``in_channels``.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from .sgb_box_ops import box_area_legacy

__all__ = ["SGBPooler", "legacy_box_levels"]

FeatureInput = Union[Mapping[str, Tensor], Sequence[Tensor]]


def legacy_box_levels(boxes: Tensor, k_min: int, k_max: int) -> Tensor:
    """Level index (0 = ``k_min``) of every (N, 4) box, as maskrcnn-benchmark's ``LevelMapper``."""
    s = torch.sqrt(box_area_legacy(boxes))
    levels = torch.floor(4 + torch.log2(s / 224 + 1e-6))
    levels = torch.clamp(levels, min=k_min, max=k_max)
    return levels.to(torch.int64) - k_min


class SGBPooler(nn.Module):
    """Pool (sum N, C, R, R) maps for the boxes of every image from P2..P5.

    Args:
        output_size: R.
        scales: spatial scale of each pooled level, finest first (powers of 1/2).
        sampling_ratio: RoIAlign samples per bin (0 = adaptive).
        in_features: names of the pooled maps in the feature dict (default ``p2..``).
        cat_all_levels: pool every box from every level and reduce (union features).
        in_channels: channels C of each map (needed with ``cat_all_levels``).
    """

    def __init__(
        self,
        output_size: int = 7,
        scales: Sequence[float] = (0.25, 0.125, 0.0625, 0.03125),
        sampling_ratio: int = 2,
        in_features: Optional[Sequence[str]] = None,
        cat_all_levels: bool = False,
        in_channels: Optional[int] = None,
    ) -> None:
        super().__init__()
        if not scales:
            raise ValueError("SGBPooler: needs at least one scale")
        levels = [-math.log2(s) for s in scales]
        if any(abs(lv - round(lv)) > 1e-6 for lv in levels):
            raise ValueError(f"SGBPooler: every scale must be a power of 1/2, got {tuple(scales)}")
        self.output_size = int(output_size)
        self.scales = tuple(float(s) for s in scales)
        self.sampling_ratio = int(sampling_ratio)
        self.in_features = tuple(in_features) if in_features is not None else tuple(
            f"p{int(round(lv))}" for lv in levels
        )
        self.k_min, self.k_max = int(round(levels[0])), int(round(levels[-1]))
        self.cat_all_levels = bool(cat_all_levels)
        self.in_channels = in_channels
        if self.cat_all_levels:
            if in_channels is None:
                raise ValueError("SGBPooler: cat_all_levels=True needs in_channels")
            conv = nn.Conv2d(in_channels * len(self.scales), in_channels, kernel_size=3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            self.reduce_channel = nn.Sequential(conv, nn.ReLU(inplace=True))

    def variant(self, pool_all_levels: bool, in_channels: Optional[int] = None) -> SGBPooler:
        """A new pooler with the same levels and RoIAlign settings (e.g. the all-levels union pooler)."""
        return SGBPooler(
            self.output_size, self.scales, self.sampling_ratio, self.in_features, pool_all_levels, in_channels
        )

    def _maps(self, features: FeatureInput) -> Sequence[Tensor]:
        if isinstance(features, Mapping):
            missing = [k for k in self.in_features if k not in features]
            if missing:
                raise KeyError(f"SGBPooler: feature maps {missing} not found; got {list(features)}")
            return [features[k] for k in self.in_features]
        return list(features)[: len(self.scales)]

    def forward(self, features: FeatureInput, boxes: Sequence[Tensor]) -> Tensor:
        maps = self._maps(features)
        rois = torch.cat(
            [torch.cat([b.new_full((len(b), 1), float(i)), b], 1) for i, b in enumerate(boxes)], 0
        )
        channels = maps[0].shape[1]
        r = self.output_size
        if len(maps) == 1:
            return roi_align(maps[0], rois, (r, r), self.scales[0], self.sampling_ratio, aligned=False)
        if self.cat_all_levels:
            pooled = torch.cat(
                [roi_align(x, rois, (r, r), s, self.sampling_ratio, aligned=False) for x, s in zip(maps, self.scales)],
                dim=1,
            )
            return self.reduce_channel(pooled)
        levels = legacy_box_levels(rois[:, 1:], self.k_min, self.k_max)
        out = maps[0].new_zeros((rois.shape[0], channels, r, r))
        for level, (x, s) in enumerate(zip(maps, self.scales)):
            idx = torch.nonzero(levels == level).squeeze(1)
            if idx.numel():
                out[idx] = roi_align(x, rois[idx], (r, r), s, self.sampling_ratio, aligned=False)
        return out
