"""Optional backend: a detectron2 ``GeneralizedRCNN`` (FPN, ``StandardROIHeads``) behind ``SGGDetector``.

detectron2 is not on PyPI; build it from source (https://github.com/facebookresearch/detectron2,
``pip install 'git+https://github.com/facebookresearch/detectron2.git'``) and set
``MODEL.DETECTOR.BACKEND detectron2`` and ``MODEL.DETECTOR.D2_CONFIG_FILE`` to a detectron2 YAML, or to
``model_zoo:<path>`` (e.g. ``model_zoo:COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml``). detectron2 is
imported lazily, so this module imports fine without it.

Class conventions are converted at the boundary: detectron2 puts background in the LAST logit column
and has no background deltas; the toolkit puts background in column 0 (``Detections.class_logits``,
``box_predictor`` outputs) and labels objects 1..C-1.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Mapping, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from sgg.structures.image_sample import ImageSample

from .base import DETECTOR_BACKEND_REGISTRY, Detections, SGGDetector
from .postprocess import select_detections

__all__ = ["Detectron2Detector", "import_detectron2"]

_INSTALL_HINT = (
    "MODEL.DETECTOR.BACKEND detectron2 needs detectron2, which is not on PyPI. Build it from source: "
    "pip install 'git+https://github.com/facebookresearch/detectron2.git' (see "
    "https://detectron2.readthedocs.io/en/latest/tutorials/install.html), "
    "or use MODEL.DETECTOR.BACKEND torchvision."
)


def import_detectron2():
    """Import detectron2, or raise ImportError with installation instructions."""
    try:
        import detectron2  # noqa: F401
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    return detectron2


def _to_toolkit_logits(scores: Tensor) -> Tensor:
    """detectron2 (R, K+1) logits, background last -> (R, K+1), background first."""
    return torch.cat([scores[:, -1:], scores[:, :-1]], dim=1)


class _D2BoxPooler(nn.Module):
    """``pooler(features: dict | list, boxes: list[Tensor])`` over a detectron2 ``ROIPooler``."""

    def __init__(self, pooler: nn.Module, in_features: Sequence[str]) -> None:
        super().__init__()
        self.pooler = pooler
        self.in_features = list(in_features)

    def forward(
        self, features: Union[Mapping[str, Tensor], Sequence[Tensor]], boxes: Sequence[Tensor]
    ) -> Tensor:
        """(sum N_i, C, R, R) features of the given xyxy boxes (input pixels)."""
        from detectron2.structures import Boxes

        maps = [features[f] for f in self.in_features] if isinstance(features, Mapping) else list(features)
        return self.pooler(maps, [Boxes(b) for b in boxes])


class _D2BoxPredictor(nn.Module):
    """detectron2 ``FastRCNNOutputLayers`` with the toolkit's output layout (background column 0)."""

    def __init__(self, predictor: nn.Module) -> None:
        super().__init__()
        self.predictor = predictor

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """(N, D) -> ((N, C) logits, (N, 4C) deltas; zero background deltas, class-agnostic ones repeated)."""
        scores, deltas = self.predictor(x)
        k = scores.shape[1] - 1
        if deltas.shape[1] == 4:
            deltas = deltas.repeat(1, k)
        return _to_toolkit_logits(scores), torch.cat([deltas.new_zeros(deltas.shape[0], 4), deltas], dim=1)


@DETECTOR_BACKEND_REGISTRY.register()
class Detectron2Detector(SGGDetector):
    """Wrap a built detectron2 ``GeneralizedRCNN`` with ``StandardROIHeads`` into the toolkit interface.

    Args:
        model: the detectron2 model (``detectron2.modeling.build_model(d2_cfg)``); its
            ``ROI_HEADS.NUM_CLASSES`` is the toolkit's C_obj - 1.
        pooler_resolution: the model's ``ROI_BOX_HEAD.POOLER_RESOLUTION``.
    """

    def __init__(self, *, model: nn.Module, pooler_resolution: int) -> None:
        input_format = getattr(model, "input_format", "BGR")
        if input_format not in ("RGB", "BGR"):
            raise ValueError(f"detectron2 INPUT.FORMAT {input_format!r} is not supported (RGB or BGR)")
        order = [2, 1, 0] if input_format == "BGR" else [0, 1, 2]
        mean = (model.pixel_mean.flatten()[order] / 255.0).tolist()
        std = (model.pixel_std.flatten()[order] / 255.0).tolist()
        super().__init__(mean, std)
        roi_heads = model.roi_heads
        if not all(
            hasattr(roi_heads, a) for a in ("box_pooler", "box_head", "box_predictor", "box_in_features")
        ):
            raise ValueError(
                f"detectron2 backend needs StandardROIHeads (box_pooler/box_head/box_predictor), got "
                f"{type(roi_heads).__name__}; e.g. COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"
            )
        self.model = model
        self.input_format = input_format
        self.size_divisibility = max(int(getattr(model.backbone, "size_divisibility", 0) or 0), 32)
        self.num_classes = int(roi_heads.box_predictor.cls_score.out_features)
        shape = roi_heads.box_head.output_shape
        self.box_feature_dim = int(shape.channels * (shape.height or 1) * (shape.width or 1))
        self.pooler_resolution = int(pooler_resolution)
        self.fpn_channels = int(model.backbone.output_shape()[roi_heads.box_in_features[0]].channels)
        # views over the wrapped model's modules, kept out of ``_modules`` so state_dict has no duplicates
        object.__setattr__(
            self, "_pooler_view", _D2BoxPooler(roi_heads.box_pooler, roi_heads.box_in_features)
        )
        object.__setattr__(self, "_predictor_view", _D2BoxPredictor(roi_heads.box_predictor))

    @classmethod
    def from_config(cls, cfg) -> Dict[str, Any]:
        """Build the detectron2 model from ``MODEL.DETECTOR.D2_CONFIG_FILE`` (toolkit class count)."""
        import_detectron2()
        from detectron2.config import get_cfg as get_d2_cfg
        from detectron2.modeling import build_model

        path = cfg.MODEL.DETECTOR.D2_CONFIG_FILE
        if not path:
            raise ValueError(
                "MODEL.DETECTOR.D2_CONFIG_FILE is empty: name a detectron2 YAML config, or "
                "model_zoo:COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"
            )
        if path.startswith("model_zoo:"):
            from detectron2 import model_zoo

            path = model_zoo.get_config_file(path[len("model_zoo:") :])
        d2_cfg = get_d2_cfg()
        d2_cfg.merge_from_file(path)
        d2_cfg.MODEL.ROI_HEADS.NUM_CLASSES = int(cfg.MODEL.ROI_HEADS.NUM_CLASSES) - 1
        d2_cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = float(cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST)
        d2_cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST = float(cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST)
        d2_cfg.TEST.DETECTIONS_PER_IMAGE = int(cfg.MODEL.ROI_HEADS.DETECTIONS_PER_IMG)
        d2_cfg.MODEL.DEVICE = "cpu"  # the toolkit's trainer moves the model
        d2_cfg.MODEL.WEIGHTS = ""  # weights come from MODEL.DETECTOR.WEIGHTS (load_weights)
        return {
            "model": build_model(d2_cfg),
            "pooler_resolution": d2_cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION,
        }

    # ----------------------------------------------------------------- modules
    @property
    def box_pooler(self) -> nn.Module:
        """``pooler(features, boxes: list[Tensor]) -> (sum N, C, R, R)`` (detectron2 ``ROIPooler``)."""
        return self._pooler_view

    @property
    def box_head(self) -> nn.Module:
        """The detectron2 box head (``FastRCNNConvFCHead``)."""
        return self.model.roi_heads.box_head

    @property
    def box_predictor(self) -> nn.Module:
        """The detectron2 box predictor with background moved to column 0."""
        return self._predictor_view

    def load_weights(self, path: str) -> None:
        """Load detectron2 weights (``.pth`` or model-zoo ``.pkl``) with detectron2's checkpointer."""
        from detectron2.checkpoint import DetectionCheckpointer

        DetectionCheckpointer(self.model).load(path)

    # ------------------------------------------------------------------ stages
    def preprocess(self, samples: Sequence[ImageSample]) -> Tuple[Tensor, List[Tuple[int, int]]]:
        """Normalise as the detectron2 model expects (0-255 scale, its channel order) and pad."""
        images, sizes = super().preprocess(samples)
        if self.input_format == "BGR":
            images = images.flip(1)
        return images, sizes

    def extract_features(self, images: Tensor) -> OrderedDict[str, Tensor]:
        """detectron2 backbone maps (``p2``..``p6`` for FPN configs)."""
        return OrderedDict(self.model.backbone(images))

    @contextlib.contextmanager
    def _rpn_inference(self) -> Iterator[None]:
        rpn = self.model.proposal_generator
        was_training = rpn.training
        rpn.train(False)
        try:
            yield
        finally:
            rpn.train(was_training)

    def detect(self, features: Dict[str, Tensor], image_sizes: List[Tuple[int, int]]) -> List[Detections]:
        """Inference-mode detections from backbone features, keeping logits and per-class boxes."""
        from detectron2.structures import ImageList

        any_map = next(iter(features.values()))
        images = ImageList(
            any_map.new_zeros(()).expand(len(image_sizes), 3, 1, 1), [tuple(s) for s in image_sizes]
        )
        with self._rpn_inference():
            proposals, _ = self.model.proposal_generator(images, features, None)
        boxes = [p.proposal_boxes.tensor for p in proposals]
        feats = self.box_head(self.box_pooler(features, boxes))
        scores, deltas = self.model.roi_heads.box_predictor(feats)
        k = scores.shape[1] - 1
        transform = self.model.roi_heads.box_predictor.box2box_transform
        all_props = torch.cat(boxes, dim=0)
        per_cls = transform.apply_deltas(deltas.float(), all_props).reshape(all_props.shape[0], -1, 4)
        if per_cls.shape[1] == 1:
            per_cls = per_cls.expand(-1, k, 4)
        per_cls = torch.cat([all_props[:, None, :], per_cls], dim=1)  # background column: the proposal itself
        logits = _to_toolkit_logits(scores)
        counts = [b.shape[0] for b in boxes]
        pred = self.model.roi_heads.box_predictor
        return [
            select_detections(
                lg, bx, size, pred.test_score_thresh, pred.test_nms_thresh, pred.test_topk_per_image
            )
            for lg, bx, size in zip(logits.split(counts), per_cls.split(counts), image_sizes)
        ]

    def classify_boxes(self, features: Dict[str, Tensor], boxes: List[Tensor]) -> List[Tensor]:
        """(N_i, C_obj) class logits (background column 0) for the given boxes."""
        logits, _ = self.box_predictor(self.box_head(self.box_pooler(features, boxes)))
        return list(logits.split([b.shape[0] for b in boxes]))

    def forward(self, samples: Sequence[ImageSample]) -> Union[Dict[str, Tensor], List[Detections]]:
        """Training: detectron2's losses (same four names); eval: :class:`Detections`."""
        if not self.training:
            images, sizes = self.preprocess(samples)
            return self.detect(self.extract_features(images), sizes)
        from detectron2.structures import Boxes, Instances
        from detectron2.utils.events import EventStorage, get_event_storage

        order = [2, 1, 0] if self.input_format == "BGR" else [0, 1, 2]
        inputs = []
        for s in samples:
            h, w = s.image_size
            inst = Instances((h, w))
            inst.gt_boxes = Boxes(s.gt_boxes.to(self.device, torch.float32).reshape(-1, 4))
            inst.gt_classes = (
                s.gt_labels.to(self.device, torch.int64).reshape(-1) - 1
            )  # detectron2: 0-indexed
            inputs.append(
                {"image": s.image.to(self.device)[order] * 255.0, "instances": inst, "height": h, "width": w}
            )
        try:
            get_event_storage()
            storage = contextlib.nullcontext()
        except AssertionError:  # detectron2 logs training statistics into an EventStorage
            storage = EventStorage(0)
        with storage:
            return self.model(inputs)
