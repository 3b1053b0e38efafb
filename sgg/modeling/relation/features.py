"""Geometry encodings and the trainable feature extractors of the relation stage.

* :func:`encode_box_info`: the 9-d box encoding of methods_spec 0.5 (SGB ``encode_box_info``,
  "+1" pixel convention).
* :func:`union_boxes`: the smallest box enclosing subject and object of each pair.
* :func:`spatial_masks`: the 2-channel (subject, object) binary mask of methods_spec 0.4: the
  boxes are rescaled from the image to a ``canvas_size`` x ``canvas_size`` canvas and a cell
  ``(y, x)`` is inside a box when ``floor(x1) <= x <= ceil(x2)`` and ``floor(y1) <= y <= ceil(y2)``.
* :class:`SpatialMaskEncoder`: conv 7x7/2 -> ReLU -> BN -> maxpool 3/2 -> conv 3x3 -> ReLU -> BN.
* :class:`ObjectFeatureExtractor` / :class:`UnionFeatureExtractor`: trainable copies of the
  detector's box head fed by the detector's RoI pooler; the union extractor adds the spatial-mask
  map to the pooled union box before the two FC layers.
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from typing import Callable, List, Mapping, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

__all__ = [
    "encode_box_info",
    "union_boxes",
    "spatial_masks",
    "SpatialMaskEncoder",
    "ObjectFeatureExtractor",
    "UnionFeatureExtractor",
]

Pooler = Callable[[object, List[Tensor]], Tensor]


def encode_box_info(boxes: Tensor, image_size: Tuple[int, int]) -> Tensor:
    """(N, 9) ``[w/W, h/H, cx/W, cy/H, x1/W, y1/H, x2/W, y2/H, w*h/(W*H)]``.

    ``w = x2 - x1 + 1``, ``h = y2 - y1 + 1``, ``cx = x1 + w/2``, ``cy = y1 + h/2``;
    ``image_size`` is ``(H, W)`` of the frame the boxes live in.
    """
    height, width = float(image_size[0]), float(image_size[1])
    boxes = boxes.float()
    x1, y1, x2, y2 = boxes.unbind(-1)
    w = x2 - x1 + 1.0
    h = y2 - y1 + 1.0
    cx = x1 + 0.5 * w
    cy = y1 + 0.5 * h
    return torch.stack(
        [w / width, h / height, cx / width, cy / height,
         x1 / width, y1 / height, x2 / width, y2 / height, w * h / (width * height)],
        dim=-1,
    )


def union_boxes(boxes: Tensor, pair_idx: Tensor) -> Tensor:
    """(R, 4) smallest boxes enclosing ``boxes[pair_idx[:, 0]]`` and ``boxes[pair_idx[:, 1]]``."""
    subj, obj = boxes[pair_idx[:, 0]], boxes[pair_idx[:, 1]]
    return torch.cat([torch.minimum(subj[:, :2], obj[:, :2]), torch.maximum(subj[:, 2:], obj[:, 2:])], 1)


def spatial_masks(
    boxes: Tensor, pair_idx: Tensor, image_size: Tuple[int, int], canvas_size: int = 27
) -> Tensor:
    """(R, 2, S, S) float masks of the subject (channel 0) and object (channel 1) boxes.

    The boxes are scaled from the ``(H, W)`` image to the ``S x S`` canvas (``S = canvas_size``);
    cell ``(y, x)`` is 1 when ``floor(x1) <= x <= ceil(x2)`` and ``floor(y1) <= y <= ceil(y2)``.
    """
    height, width = float(image_size[0]), float(image_size[1])
    scale = boxes.new_tensor([canvas_size / width, canvas_size / height] * 2)
    scaled = boxes.float() * scale
    lo = scaled[:, :2].floor()
    hi = scaled[:, 2:].ceil()
    grid = torch.arange(canvas_size, device=boxes.device, dtype=torch.float32)
    inside_x = (grid[None, :] >= lo[:, 0:1]) & (grid[None, :] <= hi[:, 0:1])  # (N, S)
    inside_y = (grid[None, :] >= lo[:, 1:2]) & (grid[None, :] <= hi[:, 1:2])  # (N, S)
    per_box = (inside_y[:, :, None] & inside_x[:, None, :]).float()  # (N, S, S)
    return torch.stack([per_box[pair_idx[:, 0]], per_box[pair_idx[:, 1]]], 1)


class SpatialMaskEncoder(nn.Module):
    """Maps (R, 2, S, S) masks to (R, C, P, P) with ``P = ceil(ceil(S / 2) / 2)`` (27 -> 7).

    conv 7x7 stride 2 (2 -> C/2) -> ReLU -> BN(momentum 0.01) -> max-pool 3/2 ->
    conv 3x3 (C/2 -> C) -> ReLU -> BN(momentum 0.01).
    """

    def __init__(self, out_channels: int = 256, canvas_size: int = 27) -> None:
        super().__init__()
        mid = max(1, out_channels // 2)
        self.canvas_size = int(canvas_size)
        self.out_channels = int(out_channels)
        self.layers = nn.Sequential(
            nn.Conv2d(2, mid, kernel_size=7, stride=2, padding=3, bias=True),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(mid, momentum=0.01),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            nn.Conv2d(mid, out_channels, kernel_size=3, stride=1, padding=1, bias=True),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(out_channels, momentum=0.01),
        )

    @staticmethod
    def output_size(canvas_size: int) -> int:
        """Spatial size of the output for a ``canvas_size`` input."""
        return math.ceil(math.ceil(canvas_size / 2) / 2)

    def forward(self, masks: Tensor) -> Tensor:
        return self.layers(masks)


def _trainable_copy(module: nn.Module) -> nn.Module:
    out = copy.deepcopy(module)
    out.requires_grad_(True)
    out.train()
    return out


class ObjectFeatureExtractor(nn.Module):
    """Object RoI features: ``box_head(pooler(features, boxes))`` -> (sum N, D).

    Args:
        pooler: callable ``(features, boxes: list[Tensor]) -> (sum N, C, P, P)`` (the detector's).
        box_head: ``(sum N, C, P, P) -> (sum N, D)``, trained (a copy of the detector's head).
        out_dim: D.
    """

    def __init__(self, pooler: Pooler, box_head: nn.Module, out_dim: int) -> None:
        super().__init__()
        self.pooler = pooler
        self.box_head = box_head
        self.out_dim = int(out_dim)

    @classmethod
    def from_detector(cls, detector) -> ObjectFeatureExtractor:
        """Deep copies of the detector's pooler and box head (trainable, detector weights)."""
        return cls(copy.deepcopy(detector.box_pooler), _trainable_copy(detector.box_head),
                   detector.box_feature_dim)

    def forward(self, features, boxes: Sequence[Tensor]) -> Tensor:
        boxes = [b.float() for b in boxes]
        if sum(len(b) for b in boxes) == 0:
            return boxes[0].new_zeros((0, self.out_dim)) if boxes else torch.zeros((0, self.out_dim))
        return self.box_head(self.pooler(features, boxes))


class UnionFeatureExtractor(nn.Module):
    """Union-box features of candidate pairs (methods_spec 0.4) -> (sum R, D).

    ``box_head(pooler(features, union boxes) + mask_encoder(spatial masks))``; with
    ``separate_spatial`` (SGB's ``CAUSAL.SEPARATE_SPATIAL``) the two parts stay apart and the
    extractor returns ``(box_head(pooled), spatial_fc(flattened mask features))``, where
    ``spatial_fc`` is Linear(C P^2 -> D/2), ReLU, Linear(D/2 -> D), ReLU.

    Args:
        pooler: the detector's RoI pooler (see :class:`ObjectFeatureExtractor`).
        box_head: trainable copy of the detector's box head.
        out_dim: D.
        feature_channels: channels C of the pooled maps (FPN channels).
        pooler_resolution: P, the pooled map size; must equal the mask encoder's output size.
        canvas_size: S of the spatial masks (27 for P = 7).
        chunk_size: pairs of an image processed at once (memory bound of many-pair SGDet).
        separate_spatial: return region and spatial features apart (see above).
    """

    def __init__(
        self,
        pooler: Pooler,
        box_head: nn.Module,
        out_dim: int,
        feature_channels: int,
        pooler_resolution: int,
        canvas_size: int = 27,
        chunk_size: int = 1024,
        separate_spatial: bool = False,
    ) -> None:
        super().__init__()
        if SpatialMaskEncoder.output_size(canvas_size) != pooler_resolution:
            raise ValueError(
                f"UnionFeatureExtractor: canvas_size {canvas_size} gives a "
                f"{SpatialMaskEncoder.output_size(canvas_size)}x{SpatialMaskEncoder.output_size(canvas_size)} "
                f"mask map, expected the pooler resolution {pooler_resolution} "
                f"(use canvas_size = 4 * {pooler_resolution} - 1)"
            )
        self.pooler = pooler
        self.box_head = box_head
        self.out_dim = int(out_dim)
        self.canvas_size = int(canvas_size)
        if chunk_size < 1:
            raise ValueError(f"UnionFeatureExtractor: chunk_size must be >= 1, got {chunk_size}")
        self.chunk_size = int(chunk_size)
        self.mask_encoder = SpatialMaskEncoder(feature_channels, canvas_size)
        self.separate_spatial = bool(separate_spatial)
        if self.separate_spatial:
            self.spatial_fc = nn.Sequential(
                nn.Linear(feature_channels * pooler_resolution**2, self.out_dim // 2),
                nn.ReLU(inplace=True),
                nn.Linear(self.out_dim // 2, self.out_dim),
                nn.ReLU(inplace=True),
            )

    @classmethod
    def from_detector(
        cls, detector, canvas_size: int = 27, pool_all_levels: bool = False, separate_spatial: bool = False
    ) -> UnionFeatureExtractor:
        """Copies of the detector's pooler and box head plus a fresh mask encoder.

        With ``pool_all_levels`` (SGB's ``POOLING_ALL_LEVELS``) the union box is pooled from every
        level and the concatenation reduced by a 3x3 conv (the pooler's ``variant``).
        """
        pooler = (
            detector.box_pooler.variant(True, detector.fpn_channels)
            if pool_all_levels
            else copy.deepcopy(detector.box_pooler)
        )
        return cls(
            pooler,
            _trainable_copy(detector.box_head),
            detector.box_feature_dim,
            detector.fpn_channels,
            detector.pooler_resolution,
            canvas_size,
            separate_spatial=separate_spatial,
        )

    def forward(
        self,
        features,
        boxes: Sequence[Tensor],
        pair_idx: Sequence[Tensor],
        image_sizes: Sequence[Tuple[int, int]],
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """``boxes``/``pair_idx``/``image_sizes`` are per image; returns packed (sum R, D)
        (``(region, spatial)``, both (sum R, D), with ``separate_spatial``).

        The union box of ``(i, j)`` equals that of ``(j, i)``, so each is pooled once per unordered
        pair. In eval mode, an image with more than ``chunk_size`` pairs is processed that many
        pairs at a time (both orders of a pair in the same chunk; rows are independent there since
        BatchNorm uses its running statistics), which bounds the memory of SGDet with many
        detections (80 boxes: 6,320 pairs). In training all pairs of the batch go through the mask
        encoder together (its BatchNorm statistics are those of the whole batch).
        """
        device = boxes[0].device if len(boxes) else torch.device("cpu")
        width = self.out_dim * (2 if self.separate_spatial else 1)
        total = sum(len(p) for p in pair_idx)
        if total == 0:
            feats = torch.zeros((0, width), device=device)
        elif self.training or total <= self.chunk_size:
            feats = self._pairs(features, [b.float() for b in boxes], [p.long() for p in pair_idx], image_sizes)
        else:
            feats = torch.cat([self._image_in_chunks(features, i, b.float(), p.long(), size)
                               for i, (b, p, size) in enumerate(zip(boxes, pair_idx, image_sizes))], 0)
        if self.separate_spatial:
            return feats[:, : self.out_dim], feats[:, self.out_dim:]
        return feats

    def _image_in_chunks(self, features, i: int, boxes: Tensor, pairs: Tensor, size: Tuple[int, int]) -> Tensor:
        """Features of image ``i``'s pairs, ``chunk_size`` pairs at a time (eval mode)."""
        maps = _image_maps(features, i)
        order = torch.sort(_unordered_key(pairs, len(boxes)), stable=True).indices
        out = None
        for start in range(0, len(pairs), self.chunk_size):
            idx = order[start:start + self.chunk_size]
            feats = self._pairs(maps, [boxes], [pairs[idx]], [size])
            if out is None:
                out = feats.new_empty((len(pairs), feats.shape[1]))
            out[idx] = feats
        return out if out is not None else boxes.new_zeros((0, self.out_dim * (2 if self.separate_spatial else 1)))

    def _pairs(self, features, boxes: Sequence[Tensor], pairs: Sequence[Tensor], sizes) -> Tensor:
        """Packed features of the given pairs; union boxes pooled once per unordered pair."""
        unions, inverses, offset = [], [], 0
        for b, p in zip(boxes, pairs):
            _, inverse = torch.unique(_unordered_key(p, len(b)), return_inverse=True)
            first = torch.zeros(int(inverse.max()) + 1 if len(p) else 0, dtype=torch.long, device=p.device)
            first.scatter_(0, inverse, torch.arange(len(p), device=p.device))  # either order: same union box
            unions.append(union_boxes(b, p[first]))
            inverses.append(inverse + offset)
            offset += len(first)
        pooled = self.pooler(features, unions)[torch.cat(inverses)]
        masks = torch.cat([spatial_masks(b, p, size, self.canvas_size) for b, p, size in zip(boxes, pairs, sizes)], 0)
        rect = self.mask_encoder(masks.to(pooled.dtype))
        if self.separate_spatial:
            return torch.cat([self.box_head(pooled), self.spatial_fc(rect.flatten(1))], 1)
        return self.box_head(pooled + rect)


def _unordered_key(pairs: Tensor, n: int) -> Tensor:
    """``min(i, j) * n + max(i, j)`` of every pair: equal for ``(i, j)`` and ``(j, i)``."""
    return torch.minimum(pairs[:, 0], pairs[:, 1]) * n + torch.maximum(pairs[:, 0], pairs[:, 1])


def _image_maps(features, i: int):
    """The feature maps of image ``i`` of the batch (a dict or a list of (B, C, H, W) maps)."""
    if isinstance(features, Mapping):
        return OrderedDict((k, v[i:i + 1]) for k, v in features.items())
    return [v[i:i + 1] for v in features]
