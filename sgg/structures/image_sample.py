"""One training/inference sample as produced by the data mapper and consumed by the model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
from torch import Tensor

from .scene_graph import SceneGraphRecord

__all__ = ["ImageSample"]


@dataclass
class ImageSample:
    """An image resized to the network input plus its ground truth in both frames.

    Attributes:
        image: (3, H, W) float32 RGB in [0, 1], already resized (and flipped) for the network.
            Normalisation and padding into a batch are the detector's job.
        record: ground truth in original-image pixels (the evaluators' input).
        gt_boxes: (N, 4) float32 GT boxes in network-input pixels (flipped when ``flipped``).
        gt_labels: (N,) int64 GT labels (1-indexed).
        gt_relations: (M, 3) int64 (subject, object, predicate); at training after the
            duplicate filter, at test the full evaluation GT.
        scale: (scale_x, scale_y) with ``input_px = original_px * scale``.
        flipped: whether the image (and boxes, and direction-dependent predicates) were flipped.
    """

    image: Tensor
    record: SceneGraphRecord
    gt_boxes: Tensor
    gt_labels: Tensor
    gt_relations: Tensor
    scale: Tuple[float, float]
    flipped: bool = False

    @property
    def image_size(self) -> Tuple[int, int]:
        """(height, width) of the network input."""
        return int(self.image.shape[-2]), int(self.image.shape[-1])

    def to_original(self, boxes: Tensor) -> Tensor:
        """Map (N, 4) network-input boxes back to original-image pixels (undoing the flip).

        Coordinates are multiplied by ``record size / input size`` per axis, the float32
        operation of maskrcnn-benchmark's ``BoxList.resize`` that SGB's evaluation applies
        (divided by ``scale`` when the sample has no record).
        """
        out = boxes.clone().float()
        h, w = self.image_size
        if self.flipped:
            out[:, [0, 2]] = w - boxes[:, [2, 0]].float()
        if self.record is None:
            out[:, [0, 2]] /= self.scale[0]
            out[:, [1, 3]] /= self.scale[1]
        else:
            out[:, [0, 2]] *= float(self.record.width) / float(w)
            out[:, [1, 3]] *= float(self.record.height) / float(h)
        return out

    def to(self, device: torch.device) -> ImageSample:
        """A copy with tensors on ``device``."""
        return ImageSample(
            self.image.to(device), self.record, self.gt_boxes.to(device), self.gt_labels.to(device),
            self.gt_relations.to(device), self.scale, self.flipped,
        )
