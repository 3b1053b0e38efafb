"""RoIAlign box pooler over FPN levels (detectron2's level assignment, torchvision's roi_align).

On the CPU the backward pass of RoIAlign is :mod:`sgg.modeling.detector.roi_align`'s (same values
as torchvision's, several times faster).
"""

from __future__ import annotations

import math
from typing import List, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from .roi_align import roi_align

__all__ = ["BoxPooler", "assign_boxes_to_levels"]

FeatureInput = Union[Mapping[str, Tensor], Sequence[Tensor]]


def assign_boxes_to_levels(
    boxes: Tensor, min_level: int, max_level: int, canonical_box_size: float = 224.0, canonical_level: int = 4
) -> Tensor:
    """FPN level of every box, as an index into ``min_level..max_level`` (0 = finest level).

    ``level = floor(canonical_level + log2(sqrt(area) / canonical_box_size + 1e-8))``, clamped to
    ``[min_level, max_level]`` (Lin et al. 2017, eq. 1; detectron2's ``assign_boxes_to_levels``).

    Args:
        boxes: (N, 4) xyxy boxes in input pixels.
        min_level, max_level: the pyramid levels available (e.g. 2 and 5 for P2..P5).
    """
    widths = (boxes[:, 2] - boxes[:, 0]).clamp(min=0)
    heights = (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    sizes = torch.sqrt(widths * heights)
    levels = torch.floor(canonical_level + torch.log2(sizes / canonical_box_size + 1e-8))
    levels = levels.clamp(min=min_level, max=max_level)
    return (levels - min_level).to(torch.int64)


def _boxes_to_rois(boxes: Sequence[Tensor]) -> Tensor:
    """list of (N_i, 4) -> (sum N_i, 5) rows ``(batch index, x1, y1, x2, y2)``."""
    rois = []
    for i, b in enumerate(boxes):
        if b.ndim != 2 or b.shape[-1] != 4:
            raise ValueError(f"BoxPooler: boxes[{i}] must have shape (N, 4), got {tuple(b.shape)}")
        rois.append(torch.cat([b.new_full((b.shape[0], 1), float(i)), b], dim=1))
    return torch.cat(rois, dim=0)


class BoxPooler(nn.Module):
    """Pool a fixed-size feature map per box from a feature pyramid.

    Each box is pooled from one level chosen by :func:`assign_boxes_to_levels`, with
    ``torchvision.ops.roi_align(aligned=True)``. With ``pool_all_levels=True`` (SGB's
    ``POOLING_ALL_LEVELS``) every box is pooled from every level, the results are concatenated
    along channels and reduced back to ``in_channels`` by a 3x3 conv + ReLU.

    Args:
        output_size: side R of the pooled (R, R) map.
        scales: spatial scale of each level, finest first (e.g. ``(1/4, 1/8, 1/16, 1/32)``);
            each must be a power of 1/2.
        sampling_ratio: roi_align sampling points per bin (0 = adaptive).
        canonical_box_size, canonical_level: FPN assignment constants (224, 4).
        in_features: names of the levels in a feature dict, finest first; when given, a dict
            input is indexed by these names (other entries such as ``p6`` are ignored).
        pool_all_levels: pool every box from every level (needs ``in_channels``).
        in_channels: channels of the feature maps (only used with ``pool_all_levels``).
    """

    def __init__(
        self,
        output_size: int,
        scales: Sequence[float],
        sampling_ratio: int = 2,
        canonical_box_size: float = 224.0,
        canonical_level: int = 4,
        in_features: Optional[Sequence[str]] = None,
        pool_all_levels: bool = False,
        in_channels: Optional[int] = None,
    ) -> None:
        super().__init__()
        if len(scales) == 0:
            raise ValueError("BoxPooler: scales must name at least one level")
        levels = [-math.log2(s) for s in scales]
        if any(abs(lv - round(lv)) > 1e-6 for lv in levels):
            raise ValueError(f"BoxPooler: every scale must be a power of 1/2, got {tuple(scales)}")
        levels = [int(round(lv)) for lv in levels]
        if levels != list(range(levels[0], levels[0] + len(levels))):
            raise ValueError(
                f"BoxPooler: scales must be consecutive levels, finest first; got {tuple(scales)}"
            )
        if in_features is not None and len(in_features) != len(scales):
            raise ValueError(
                f"BoxPooler: {len(in_features)} in_features {tuple(in_features)} but {len(scales)} scales"
            )
        self.output_size = int(output_size)
        self.scales = tuple(float(s) for s in scales)
        self.sampling_ratio = int(sampling_ratio)
        self.canonical_box_size = float(canonical_box_size)
        self.canonical_level = int(canonical_level)
        self.min_level, self.max_level = levels[0], levels[-1]
        self.in_features = tuple(in_features) if in_features is not None else None
        self.pool_all_levels = bool(pool_all_levels)
        self.reduce_channel: Optional[nn.Module] = None
        if self.pool_all_levels and len(scales) > 1:
            if in_channels is None:
                raise ValueError("BoxPooler: pool_all_levels=True needs in_channels")
            conv = nn.Conv2d(in_channels * len(scales), in_channels, kernel_size=3, padding=1)
            nn.init.kaiming_uniform_(conv.weight, a=1)
            nn.init.zeros_(conv.bias)
            self.reduce_channel = nn.Sequential(conv, nn.ReLU(inplace=True))

    def variant(self, pool_all_levels: bool, in_channels: Optional[int] = None) -> BoxPooler:
        """A new pooler with the same levels and RoIAlign settings (e.g. the all-levels union pooler)."""
        return BoxPooler(
            self.output_size, self.scales, self.sampling_ratio, self.canonical_box_size, self.canonical_level,
            self.in_features, pool_all_levels, in_channels,
        )

    def _select(self, features: FeatureInput) -> List[Tensor]:
        if isinstance(features, Mapping):
            if self.in_features is not None:
                missing = [k for k in self.in_features if k not in features]
                if missing:
                    raise KeyError(
                        f"BoxPooler: feature levels {missing} not found; got {list(features.keys())}"
                    )
                return [features[k] for k in self.in_features]
            features = list(features.values())
        features = list(features)
        if len(features) != len(self.scales):
            raise ValueError(
                f"BoxPooler: {len(features)} feature maps given but the pooler has {len(self.scales)} "
                f"scales {self.scales}; pass in_features to select levels from a dict"
            )
        return features

    def _pool(self, x: Tensor, rois: Tensor, level: int) -> Tensor:
        return roi_align(x, rois, self.output_size, self.scales[level], self.sampling_ratio)

    def forward(self, features: FeatureInput, boxes: Sequence[Tensor]) -> Tensor:
        """Pool (sum N_i, C, R, R) features for the boxes of every image, in input order.

        Args:
            features: dict of (B, C, H_l, W_l) maps (selected by ``in_features``) or a list, finest first.
            boxes: one (N_i, 4) xyxy tensor per image, in input pixels.
        """
        maps = self._select(features)
        if len(boxes) != maps[0].shape[0]:
            raise ValueError(f"BoxPooler: {len(boxes)} box lists for a batch of {maps[0].shape[0]} images")
        rois = _boxes_to_rois([b.to(maps[0].dtype) for b in boxes])
        if self.pool_all_levels:
            pooled = torch.cat([self._pool(x, rois, lv) for lv, x in enumerate(maps)], dim=1)
            return self.reduce_channel(pooled) if self.reduce_channel is not None else pooled
        if len(maps) == 1:
            return self._pool(maps[0], rois, 0)
        levels = assign_boxes_to_levels(
            rois[:, 1:], self.min_level, self.max_level, self.canonical_box_size, self.canonical_level
        )
        out = maps[0].new_zeros((rois.shape[0], maps[0].shape[1], self.output_size, self.output_size))
        for lv, x in enumerate(maps):
            idx = torch.nonzero(levels == lv, as_tuple=True)[0]
            if idx.numel():
                out.index_copy_(0, idx, self._pool(x, rois[idx], lv))
        return out
