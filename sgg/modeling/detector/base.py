"""Detector contract shared by every backend: ``Detections`` and ``SGGDetector``.

The relation stage only talks to a detector through this interface (see the brief's
"Detector <-> relation stage interface"): ``preprocess`` -> ``extract_features`` ->
``box_pooler`` / ``box_head`` / ``box_predictor``, ``detect`` (sgdet) and ``classify_boxes`` (sgcls).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from fvcore.common.registry import Registry
from torch import Tensor, nn

from sgg.structures.image_sample import ImageSample

__all__ = ["Detections", "SGGDetector", "DETECTOR_BACKEND_REGISTRY", "build_detector"]

DETECTOR_BACKEND_REGISTRY = Registry("DETECTOR_BACKEND")
DETECTOR_BACKEND_REGISTRY.__doc__ = """
Registry of detector backends, keyed by class name. ``MODEL.DETECTOR.BACKEND`` names a registered
class or one of the short aliases "torchvision" (``TorchvisionDetector``) and "detectron2"
(``Detectron2Detector``).

A registered class is an :class:`SGGDetector` subclass:

* its ``__init__`` takes plain values (class count, architecture name, widths, thresholds), never a
  config, so a detector can be built in a test without a dataset;
* its classmethod ``from_config(cfg)`` returns the ``__init__`` kwargs;
* it implements ``extract_features``, ``forward`` (training: the loss dict with keys
  ``loss_rpn_cls``, ``loss_rpn_loc``, ``loss_cls``, ``loss_box_reg``; eval: ``list[Detections]``),
  ``detect`` and ``classify_boxes``, and exposes ``box_pooler``, ``box_head`` and ``box_predictor``.

:func:`sgg.modeling.detector.build.build_detector` builds it and loads ``MODEL.DETECTOR.WEIGHTS``.
"""


@dataclass
class Detections:
    """Detections of one image, in network-input pixels.

    Attributes:
        boxes: (N, 4) xyxy.
        labels: (N,) int64 in 1..C_obj-1.
        scores: (N,) probability of ``labels`` (softmax of ``class_logits``).
        class_logits: (N, C_obj) box-classifier logits of the RoI each detection came from
            (background column 0).
        boxes_per_cls: (N, C_obj, 4) that RoI's box regressed for every class (clipped), or None.
    """

    boxes: Tensor
    labels: Tensor
    scores: Tensor
    class_logits: Tensor
    boxes_per_cls: Optional[Tensor] = None

    def __post_init__(self) -> None:
        n = self.boxes.shape[0]
        if self.boxes.shape != (n, 4):
            raise ValueError(f"Detections.boxes: expected (N, 4), got {tuple(self.boxes.shape)}")
        for name in ("labels", "scores"):
            if getattr(self, name).shape != (n,):
                raise ValueError(
                    f"Detections.{name}: expected ({n},), got {tuple(getattr(self, name).shape)}"
                )
        if self.class_logits.ndim != 2 or self.class_logits.shape[0] != n:
            raise ValueError(
                f"Detections.class_logits: expected ({n}, C), got {tuple(self.class_logits.shape)}"
            )
        if self.boxes_per_cls is not None and self.boxes_per_cls.shape != (n, self.class_logits.shape[1], 4):
            raise ValueError(
                f"Detections.boxes_per_cls: expected ({n}, {self.class_logits.shape[1]}, 4), "
                f"got {tuple(self.boxes_per_cls.shape)}"
            )

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def to(self, device: Union[str, torch.device]) -> Detections:
        """A copy with every tensor on ``device``."""
        return Detections(
            self.boxes.to(device),
            self.labels.to(device),
            self.scores.to(device),
            self.class_logits.to(device),
            None if self.boxes_per_cls is None else self.boxes_per_cls.to(device),
        )


class SGGDetector(nn.Module):
    """Base class of detector backends (see ``DETECTOR_BACKEND_REGISTRY`` for the contract).

    Subclasses set ``num_classes`` (C_obj incl. background), ``box_feature_dim`` (box head output
    width), ``pooler_resolution`` and ``fpn_channels``, and provide the box modules.
    ``pixel_mean`` / ``pixel_std`` are buffers: RGB for images in [0, 1], or, with ``to_bgr255``
    (``INPUT.TO_BGR255``, maskrcnn-benchmark's convention), BGR for images in [0, 255].
    """

    num_classes: int
    box_feature_dim: int
    pooler_resolution: int
    fpn_channels: int
    size_divisibility: int = 32

    def __init__(self, pixel_mean: Sequence[float], pixel_std: Sequence[float], to_bgr255: bool = False) -> None:
        super().__init__()
        if len(pixel_mean) != 3 or len(pixel_std) != 3:
            raise ValueError(f"pixel_mean/pixel_std need 3 values (RGB), got {pixel_mean} / {pixel_std}")
        self.to_bgr255 = bool(to_bgr255)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(3, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(3, 1, 1), False)

    @property
    def device(self) -> torch.device:
        """Device of the detector's buffers (inputs are moved there)."""
        return self.pixel_mean.device

    def preprocess(self, samples: Sequence[ImageSample]) -> Tuple[Tensor, List[Tuple[int, int]]]:
        """Normalise with pixel mean/std and zero-pad into one (B, 3, Hmax, Wmax) tensor.

        With ``to_bgr255`` the [0, 1] RGB image becomes ``image[[2, 1, 0]] * 255`` first. Hmax and
        Wmax are rounded up to a multiple of ``size_divisibility`` (32). Returns the batch and the
        (height, width) of every image before padding.
        """
        if len(samples) == 0:
            raise ValueError("preprocess: empty batch")
        images, sizes = [], []
        for s in samples:
            img = s.image
            if img.ndim != 3 or img.shape[0] != 3 or not img.is_floating_point():
                raise ValueError(
                    f"ImageSample[{s.record.file_name}].image: expected float (3, H, W) RGB in [0, 1], "
                    f"got {tuple(img.shape)} {img.dtype}"
                )
            img = img.to(self.device, torch.float32)
            if self.to_bgr255:
                img = img[[2, 1, 0]] * 255
            images.append((img - self.pixel_mean) / self.pixel_std)
            sizes.append((int(img.shape[1]), int(img.shape[2])))
        d = max(1, int(self.size_divisibility))
        h = -(-max(hw[0] for hw in sizes) // d) * d
        w = -(-max(hw[1] for hw in sizes) // d) * d
        batch = torch.stack([F.pad(im, (0, w - im.shape[2], 0, h - im.shape[1])) for im in images])
        return batch, sizes

    def load_weights(self, path: str) -> None:
        """Load user weights (``MODEL.DETECTOR.WEIGHTS``) strictly; errors list every offending key."""
        from .build import load_detector_weights

        load_detector_weights(self, path)

    def extract_features(self, images: Tensor) -> OrderedDict[str, Tensor]:
        """Feature pyramid of a preprocessed batch, keys ``p<level>`` finest first."""
        raise NotImplementedError

    def detect(self, features: Dict[str, Tensor], image_sizes: List[Tuple[int, int]]) -> List[Detections]:
        """Inference-mode detections from precomputed features (sgdet)."""
        raise NotImplementedError

    def classify_boxes(self, features: Dict[str, Tensor], boxes: List[Tensor]) -> List[Tensor]:
        """(N_i, C_obj) box-classifier logits for the given boxes of every image (sgcls)."""
        raise NotImplementedError


def build_detector(cfg) -> SGGDetector:
    """Build the backend named by ``cfg.MODEL.DETECTOR.BACKEND`` (see :mod:`sgg.modeling.detector.build`)."""
    from .build import build_detector as _build

    return _build(cfg)
