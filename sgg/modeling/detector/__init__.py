"""Object detectors behind one interface: torchvision Faster R-CNN (default), detectron2 (optional),
and SGB's maskrcnn-benchmark detector (``sgb``)."""

from . import detectron2_adapter  # noqa: F401,E402  (registers Detectron2Detector; detectron2 imported lazily)
from .base import DETECTOR_BACKEND_REGISTRY, Detections, SGGDetector
from .box_head import BoxPredictor, TwoFCBoxHead
from .build import DetectorWeightsError, build_detector, load_detector_weights
from .pooler import BoxPooler, assign_boxes_to_levels
from .sgb_detector import SGBDetector
from .sgb_pooler import SGBPooler
from .torchvision_backend import ARCH_PRESETS, TorchvisionDetector

__all__ = [
    "DETECTOR_BACKEND_REGISTRY",
    "Detections",
    "SGGDetector",
    "build_detector",
    "load_detector_weights",
    "DetectorWeightsError",
    "BoxPooler",
    "assign_boxes_to_levels",
    "TwoFCBoxHead",
    "BoxPredictor",
    "TorchvisionDetector",
    "ARCH_PRESETS",
    "SGBDetector",
    "SGBPooler",
]
