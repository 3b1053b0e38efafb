"""Build a detector from the config and load user weights into it."""

from __future__ import annotations

import os
from typing import Dict, List, Mapping

import torch
from torch import Tensor, nn

from .base import DETECTOR_BACKEND_REGISTRY, SGGDetector

__all__ = ["build_detector", "load_detector_weights", "DetectorWeightsError", "BACKEND_ALIASES"]

# short names accepted by MODEL.DETECTOR.BACKEND; any registered class name works too
BACKEND_ALIASES = {"torchvision": "TorchvisionDetector", "detectron2": "Detectron2Detector", "sgb": "SGBDetector"}


class DetectorWeightsError(RuntimeError):
    """A weights file does not fit the detector built from the config."""


def _extract_state_dict(obj, path: str) -> Dict[str, Tensor]:
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]  # a toolkit / fvcore checkpoint {"model": ..., "iteration": ...}
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise DetectorWeightsError(
            f"{path}: expected a state_dict (name -> tensor) or a checkpoint with a 'model' state_dict"
        )
    state = dict(obj)
    if state and all(k.startswith("detector.") for k in state):
        state = {k[len("detector.") :]: v for k, v in state.items()}  # a full SceneGraphRCNN checkpoint
    elif any(k.startswith("detector.") for k in state):
        state = {k[len("detector.") :]: v for k, v in state.items() if k.startswith("detector.")}
    return state


def load_detector_weights(model: nn.Module, path: str) -> None:
    """Load a detector state_dict file (``torch.load(weights_only=True)``) into ``model``, strictly.

    Accepts a plain state_dict, a checkpoint holding it under ``"model"``, or a full toolkit checkpoint
    whose detector keys start with ``detector.``. Raises :class:`DetectorWeightsError` listing every
    missing key, unexpected key and shape mismatch (a different class count shows up as a
    ``box_predictor`` shape mismatch and is named as such).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MODEL.DETECTOR.WEIGHTS: file not found: {path}")
    state = _extract_state_dict(torch.load(path, map_location="cpu", weights_only=True), path)
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    mismatched: List[str] = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(own)
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        lines = [f"MODEL.DETECTOR.WEIGHTS {path} does not fit the detector built from the config:"]
        if mismatched:
            lines.append("  shape mismatch: " + "; ".join(mismatched))
            if any(k.startswith("box_predictor.") for k in (m.split(":")[0] for m in mismatched)):
                n_file = state.get("box_predictor.cls_score.weight", torch.empty(0)).shape[:1]
                lines.append(
                    f"  (class count differs: file has {tuple(n_file)[0] if n_file else '?'} classes incl. "
                    f"background, MODEL.ROI_HEADS.NUM_CLASSES = {getattr(model, 'num_classes', '?')})"
                )
        if missing:
            lines.append(
                f"  missing in file ({len(missing)}): "
                + ", ".join(missing[:20])
                + (" ..." if len(missing) > 20 else "")
            )
        if unexpected:
            lines.append(
                f"  unexpected in file ({len(unexpected)}): "
                + ", ".join(unexpected[:20])
                + (" ..." if len(unexpected) > 20 else "")
            )
        lines.append(
            "  check MODEL.DETECTOR.ARCH / FPN_CHANNELS / ROI_BOX_HEAD.MLP_HEAD_DIM / ROI_HEADS.NUM_CLASSES"
        )
        raise DetectorWeightsError("\n".join(lines))
    model.load_state_dict(state, strict=True)


def build_detector(cfg) -> SGGDetector:
    """Build ``MODEL.DETECTOR.BACKEND`` from ``cfg`` and load ``MODEL.DETECTOR.WEIGHTS`` when set.

    Registered backends: "torchvision" (default) and "detectron2" (needs detectron2 installed).
    """
    from . import detectron2_adapter, sgb_detector, torchvision_backend  # noqa: F401  (register the backends)

    name = cfg.MODEL.DETECTOR.BACKEND
    name = BACKEND_ALIASES.get(name, name)
    if name not in DETECTOR_BACKEND_REGISTRY:
        known = sorted(set(BACKEND_ALIASES) | {k for k, _ in DETECTOR_BACKEND_REGISTRY})
        raise KeyError(
            f"MODEL.DETECTOR.BACKEND: unknown backend {cfg.MODEL.DETECTOR.BACKEND!r}; known: {known}"
        )
    cls = DETECTOR_BACKEND_REGISTRY.get(name)
    model = cls(**cls.from_config(cfg))
    if cfg.MODEL.DETECTOR.WEIGHTS:
        model.load_weights(cfg.MODEL.DETECTOR.WEIGHTS)
    return model
