"""``SceneGraphRCNN``: detector -> objects -> pairs -> features -> relation head -> aux heads -> graphs.

The relation stage runs on a FROZEN detector (methods_spec 0.3, design.md 3): every detector
parameter has ``requires_grad=False`` and the detector stays in eval mode (BatchNorm statistics,
``detect()``), while trainable copies of its box head feed the relation head. With
``relation_on=False`` the model is just the detector (detector training / detector mAP).

Modes (SGB switches ``USE_GT_BOX`` / ``USE_GT_OBJECT_LABEL``):

* predcls: objects = GT boxes with GT labels;
* sgcls: objects = GT boxes, class logits from ``detector.classify_boxes``;
* sgdet: objects = detections (at most ``detections_per_img``); at training the GT boxes are
  appended and every object gets the label of the GT box it overlaps with IoU > 0.5 (else 0).

Training returns the relation head's losses plus the auxiliary heads' losses (which the
auxiliary heads return already multiplied by their weights, ``AuxiliaryOutputs``).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ..structures.image_sample import ImageSample
from ..structures.scene_graph import SceneGraphPrediction
from .build import META_ARCH_REGISTRY
from .heads.base import RelationHeadInputs
from .relation.features import ObjectFeatureExtractor, UnionFeatureExtractor
from .relation.pairs import RelationPairSampler, assign_labels_by_iou, propose_pairs
from .relation.postprocess import RelationPostProcessor

if TYPE_CHECKING:  # pragma: no cover
    from .detector.base import Detections, SGGDetector

__all__ = ["SceneGraphRCNN", "RelationObjects", "mode_from_flags"]


def mode_from_flags(use_gt_box: bool, use_gt_object_label: bool) -> str:
    """``predcls`` (True, True), ``sgcls`` (True, False) or ``sgdet`` (False, False)."""
    if use_gt_box:
        return "predcls" if use_gt_object_label else "sgcls"
    if use_gt_object_label:
        raise ValueError(
            "MODEL.ROI_RELATION_HEAD.USE_GT_OBJECT_LABEL=True needs USE_GT_BOX=True "
            "(predcls = True/True, sgcls = True/False, sgdet = False/False)"
        )
    return "sgdet"


@dataclass
class RelationObjects:
    """The objects of a batch that the relation stage relates (per-image lists, input pixels)."""

    boxes: List[Tensor]
    scores: List[Tensor]
    labels: Optional[List[Tensor]] = None
    logits: Optional[List[Tensor]] = None
    boxes_per_cls: Optional[List[Tensor]] = None


@META_ARCH_REGISTRY.register()
class SceneGraphRCNN(nn.Module):
    """Two-stage scene-graph model on top of an :class:`SGGDetector`.

    Args:
        detector: the object detector (frozen when ``relation_on``).
        relation_head: a :class:`RelationHead` (``None`` only when ``relation_on`` is False).
        obj_feature_extractor: object RoI features (trainable copy of the detector's box head).
        union_feature_extractor: union-box + spatial-mask features of the pairs.
        pair_sampler: training-time fg/bg pair sampler.
        aux_heads: name -> auxiliary head; their losses are returned already weighted.
        use_gt_box, use_gt_object_label: the mode switches.
        postprocessor: builds the ranked :class:`SceneGraphPrediction` objects.
        require_overlap_test: sgdet test: only pairs whose boxes overlap.
        detections_per_img: sgdet: detections kept per image (highest scores).
        relation_on: False = detector only.
    """

    def __init__(
        self,
        *,
        detector: SGGDetector,
        relation_head: Optional[nn.Module] = None,
        obj_feature_extractor: Optional[ObjectFeatureExtractor] = None,
        union_feature_extractor: Optional[UnionFeatureExtractor] = None,
        pair_sampler: Optional[RelationPairSampler] = None,
        aux_heads: Optional[Dict[str, nn.Module]] = None,
        use_gt_box: bool = True,
        use_gt_object_label: bool = True,
        postprocessor: Optional[RelationPostProcessor] = None,
        require_overlap_test: bool = False,
        detections_per_img: int = 80,
        relation_on: bool = True,
    ) -> None:
        super().__init__()
        self.detector = detector
        self.relation_on = bool(relation_on)
        self.mode = mode_from_flags(use_gt_box, use_gt_object_label)
        if self.relation_on:
            missing = [
                name for name, value in (
                    ("relation_head", relation_head),
                    ("obj_feature_extractor", obj_feature_extractor),
                    ("union_feature_extractor", union_feature_extractor),
                ) if value is None
            ]
            if missing:
                raise ValueError(f"SceneGraphRCNN: relation_on=True needs {', '.join(missing)}")
            self.detector.requires_grad_(False)
            self.detector.eval()
        self.relation_head = relation_head
        self.obj_feature_extractor = obj_feature_extractor
        self.union_feature_extractor = union_feature_extractor
        self.aux_heads = nn.ModuleDict(aux_heads or {})
        self.pair_sampler = pair_sampler or RelationPairSampler()
        self.postprocessor = postprocessor or RelationPostProcessor()
        self.require_overlap_test = bool(require_overlap_test)
        self.detections_per_img = int(detections_per_img)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_config(cls, cfg, metadata) -> dict:
        """Constructor kwargs from ``cfg`` and the training dataset's metadata."""
        from .detector.build import build_detector

        detector = build_detector(cfg)
        rh = cfg.MODEL.ROI_RELATION_HEAD
        common = dict(
            detector=detector,
            use_gt_box=rh.USE_GT_BOX,
            use_gt_object_label=rh.USE_GT_OBJECT_LABEL,
            relation_on=cfg.MODEL.RELATION_ON,
        )
        if not cfg.MODEL.RELATION_ON:
            return common
        from .auxiliary.registry import build_auxiliary_heads
        from .heads.registry import build_relation_head

        obj_ext = ObjectFeatureExtractor.from_detector(detector)
        union_ext = UnionFeatureExtractor.from_detector(
            detector, canvas_size=rh.SPATIAL_MASK_SIZE, pool_all_levels=rh.POOLING_ALL_LEVELS
        )
        head = build_relation_head(
            cfg, metadata, {"obj_feat_dim": obj_ext.out_dim, "union_feat_dim": union_ext.out_dim}
        )
        aux_heads = {}
        if cfg.MODEL.AUXILIARY.HEADS:
            rel_embed_dim = getattr(head, "rel_embed_dim", None)
            if rel_embed_dim is None:
                raise ValueError(
                    f"relation head {rh.PREDICTOR!r} has no attribute 'rel_embed_dim', which the "
                    f"auxiliary heads {tuple(cfg.MODEL.AUXILIARY.HEADS)} need"
                )
            aux_heads = build_auxiliary_heads(cfg, metadata, rel_embed_dim)
        return dict(
            common,
            relation_head=head,
            obj_feature_extractor=obj_ext,
            union_feature_extractor=union_ext,
            pair_sampler=RelationPairSampler.from_config(cfg),
            aux_heads=aux_heads,
            postprocessor=RelationPostProcessor.from_config(cfg),
            require_overlap_test=cfg.TEST.RELATION.REQUIRE_OVERLAP,
            detections_per_img=cfg.TEST.DETECTIONS_PER_IMG,
        )

    def train(self, mode: bool = True) -> SceneGraphRCNN:
        """Like ``nn.Module.train`` but keeps a frozen detector in eval mode."""
        super().train(mode)
        if self.relation_on:
            self.detector.eval()
        return self

    @contextmanager
    def use_mode(self, mode: str) -> Iterator[SceneGraphRCNN]:
        """Run the block in ``mode`` (``predcls`` | ``sgcls`` | ``sgdet``), then restore the configured mode.

        For callers that choose the task per call, e.g. the demo predictor: user boxes with labels
        (predcls), boxes only (sgcls) or nothing (sgdet) with one set of weights.
        """
        if mode not in ("predcls", "sgcls", "sgdet"):
            raise ValueError(f"mode must be 'predcls', 'sgcls' or 'sgdet', got {mode!r}")
        previous = self.mode
        self.mode = mode
        try:
            yield self
        finally:
            self.mode = previous

    def refresh_feature_extractors(self) -> None:
        """Copy the detector's current box-head weights into both relation feature extractors."""
        state = self.detector.box_head.state_dict()
        self.obj_feature_extractor.box_head.load_state_dict(state)
        self.union_feature_extractor.box_head.load_state_dict(state)

    def load_detector_weights(self, path: str) -> None:
        """Load a detector checkpoint (detector-only run or a bare state dict) and re-copy the box head.

        Accepts ``{"model": state_dict}`` files written by the trainer, whose keys carry the
        ``detector.`` prefix of this module, and plain detector state dicts.
        """
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise FileNotFoundError(f"detector weights file not found: {path}") from None
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        if not isinstance(state, dict) or not state:
            raise ValueError(f"{path}: expected a state dict (or {{'model': state_dict}}), got {type(state)}")
        if all(k.startswith("detector.") for k in state):
            state = {k[len("detector."):]: v for k, v in state.items()}
        try:
            self.detector.load_state_dict(state)
        except RuntimeError as err:
            raise RuntimeError(f"{path}: does not fit the detector: {err}") from None
        if self.relation_on:
            self.refresh_feature_extractors()

    # ------------------------------------------------------------------ forward
    def _device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    def forward(
        self, samples: Sequence[ImageSample]
    ) -> Union[Dict[str, Tensor], List[SceneGraphPrediction]]:
        """Training: dict of losses; eval: one :class:`SceneGraphPrediction` per sample."""
        if not self.relation_on:
            return self._detector_only(samples)
        device = self._device()
        samples = [s.to(device) for s in samples]
        with torch.no_grad():
            images, image_sizes = self.detector.preprocess(samples)
            features = self.detector.extract_features(images)
            objects = self._objects(samples, features, image_sizes)
        if self.training:
            pair_idx, rel_labels = self._sample_pairs(samples, objects)
        else:
            require_overlap = self.require_overlap_test and self.mode == "sgdet"
            pair_idx = [propose_pairs(b, require_overlap) for b in objects.boxes]
            rel_labels = None
        inputs = RelationHeadInputs(
            obj_feats=self.obj_feature_extractor(features, objects.boxes),
            union_feats=self.union_feature_extractor(features, objects.boxes, pair_idx, image_sizes),
            boxes=objects.boxes,
            image_sizes=list(image_sizes),
            pair_idx=pair_idx,
            mode=self.mode,
            obj_labels=objects.labels,
            obj_logits=objects.logits,
            obj_scores=objects.scores,
            boxes_per_cls=objects.boxes_per_cls,
            rel_labels=rel_labels,
            captions=self._captions(samples) if self.training else None,
        )
        outputs = self.relation_head(inputs)
        losses = dict(outputs.losses)
        extras = dict(outputs.extras)
        for name, head in self.aux_heads.items():
            aux = head(inputs, outputs)
            for key, value in aux.losses.items():
                if key in losses:
                    raise KeyError(f"auxiliary head {name!r} returned loss {key!r}, which already exists")
                losses[key] = value
            for key, value in aux.extras.items():
                extras[key if key not in extras else f"{name}/{key}"] = value
        if self.training:
            if not losses:
                raise RuntimeError("SceneGraphRCNN: the relation head returned no losses in training")
            return losses
        return self.postprocessor(inputs, outputs, samples, extras)

    @staticmethod
    def _captions(samples: Sequence[ImageSample]) -> Optional[List[List[str]]]:
        """Per-image caption lists of the batch, or None when no image has a caption."""
        captions = [list(s.record.captions) for s in samples]
        return captions if any(captions) else None

    def _objects(
        self, samples: Sequence[ImageSample], features, image_sizes: Sequence[Tuple[int, int]]
    ) -> RelationObjects:
        """GT boxes (predcls/sgcls) or detections (sgdet, + GT boxes at training)."""
        gt_boxes = [s.gt_boxes.float() for s in samples]
        gt_labels = [s.gt_labels.long() for s in samples]
        if self.mode in ("predcls", "sgcls"):
            if self.mode == "predcls":
                return RelationObjects(
                    boxes=gt_boxes, scores=[torch.ones(len(b), device=b.device) for b in gt_boxes],
                    labels=gt_labels,
                )
            logits = [lg.detach() for lg in self.detector.classify_boxes(features, gt_boxes)]
            scores = [torch.softmax(lg, 1)[:, 1:].max(1).values if len(lg) else lg.new_zeros(0)
                      for lg in logits]
            return RelationObjects(
                boxes=gt_boxes, scores=scores, logits=logits,
                labels=gt_labels if self.training else None,
            )
        detections = self.detector.detect(features, list(image_sizes))
        boxes, scores, logits, per_cls, labels = [], [], [], [], []
        gt_logits = self.detector.classify_boxes(features, gt_boxes) if self.training else None
        for i, det in enumerate(detections):
            det_boxes, det_scores, det_logits, det_per_cls = self._top_detections(det)
            if self.training:
                num_classes = det_logits.shape[1]
                det_boxes = torch.cat([det_boxes, gt_boxes[i]], 0)
                det_scores = torch.cat([det_scores, torch.ones(len(gt_boxes[i]), device=det_boxes.device)])
                det_logits = torch.cat([det_logits, gt_logits[i].detach()], 0)
                det_per_cls = torch.cat([det_per_cls, gt_boxes[i][:, None].expand(-1, num_classes, -1)], 0)
                labels.append(assign_labels_by_iou(
                    det_boxes, gt_boxes[i], gt_labels[i], self.pair_sampler.fg_iou_threshold
                ))
            boxes.append(det_boxes)
            scores.append(det_scores)
            logits.append(det_logits)
            per_cls.append(det_per_cls)
        return RelationObjects(
            boxes=boxes, scores=scores, logits=logits, boxes_per_cls=per_cls,
            labels=labels if self.training else None,
        )

    def _top_detections(self, det: Detections) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """(boxes, scores, logits, boxes_per_cls) of the ``detections_per_img`` best detections.

        They keep the detector's order (score order for torchvision and detectron2; SGB's detector
        lists them in proposal order, which its relation stage keeps).
        """
        order = torch.argsort(det.scores, descending=True, stable=True)[: self.detections_per_img]
        order = order.sort().values
        boxes = det.boxes[order].float()
        per_cls = det.boxes_per_cls
        if per_cls is None:
            per_cls = boxes[:, None, :].expand(-1, det.class_logits.shape[1], -1)
        else:
            per_cls = per_cls[order].float()
        return boxes, det.scores[order].float(), det.class_logits[order].detach().float(), per_cls

    def _sample_pairs(
        self, samples: Sequence[ImageSample], objects: RelationObjects
    ) -> Tuple[List[Tensor], List[Tensor]]:
        pair_idx, rel_labels = [], []
        for i, sample in enumerate(samples):
            if self.mode == "sgdet":
                sampled = self.pair_sampler.sample_detections(
                    objects.boxes[i], objects.labels[i], sample.gt_boxes, sample.gt_labels,
                    sample.gt_relations,
                )
            else:
                sampled = self.pair_sampler.sample_gt_boxes(objects.boxes[i], sample.gt_relations)
            pair_idx.append(sampled.pair_idx)
            rel_labels.append(sampled.rel_labels)
        return pair_idx, rel_labels

    def _detector_only(
        self, samples: Sequence[ImageSample]
    ) -> Union[Dict[str, Tensor], List[SceneGraphPrediction]]:
        """Detector training (losses) or detections as object-only scene graphs."""
        if self.training:
            return self.detector(samples)
        detections = self.detector(samples)
        out = []
        for sample, det in zip(samples, detections):
            out.append(
                SceneGraphPrediction(
                    boxes=sample.to_original(det.boxes.detach().cpu()).numpy(),
                    labels=det.labels.detach().cpu().numpy(),
                    scores=det.scores.detach().float().cpu().numpy(),
                    rel_pair_idxs=torch.zeros((0, 2), dtype=torch.long).numpy(),
                    rel_labels=torch.zeros(0, dtype=torch.long).numpy(),
                    rel_label_scores=torch.zeros(0).numpy(),
                )
            )
        return out
