"""Model construction: the meta-architecture registry and :func:`build_model`."""
from __future__ import annotations

import torch
from fvcore.common.registry import Registry
from torch import nn

__all__ = ["META_ARCH_REGISTRY", "build_model", "resolve_device"]

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = """
Registry of meta-architectures (whole models), keyed by ``MODEL.META_ARCHITECTURE``.

A registered class is an ``nn.Module`` whose ``__init__`` takes plain values and built
sub-modules, with a classmethod ``from_config(cfg, metadata)`` returning those kwargs
(``metadata`` is the training dataset's ``DatasetMetadata``). ``forward(samples:
list[ImageSample])`` returns a dict of scalar losses in training and a list of
``SceneGraphPrediction`` (original-image pixels, one per sample) in eval mode.
"""


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> cuda when available else cpu; any other value is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_model(cfg, metadata) -> nn.Module:
    """Build ``cfg.MODEL.META_ARCHITECTURE`` on ``cfg.MODEL.DEVICE``.

    When ``cfg.MODEL.DETECTOR_WEIGHTS`` is set and the relation stage is on, the detector-only
    checkpoint is loaded into the detector and its box head re-copied into the relation
    feature extractors (``model.load_detector_weights``).
    """
    from . import meta_arch  # noqa: F401  (registers SceneGraphRCNN)

    cls = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)
    model = cls(**cls.from_config(cfg, metadata))
    if cfg.MODEL.DETECTOR_WEIGHTS and getattr(model, "relation_on", False):
        model.load_detector_weights(cfg.MODEL.DETECTOR_WEIGHTS)
    return model.to(resolve_device(cfg.MODEL.DEVICE))
