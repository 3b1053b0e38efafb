"""``SGBDetector``: Scene-Graph-Benchmark's Faster R-CNN (maskrcnn-benchmark) behind the detector interface.

Selected with ``MODEL.DETECTOR.BACKEND sgb``. It computes what SGB's detector computes at test
time, bit for bit on the same machine (checked against SGB's own code, see ``docs/sgb_detector.md``):
ResNet/ResNeXt-FPN with frozen batch norm without eps (:mod:`.sgb_backbone`), Detectron's
anchors and the ``+1`` box coder, per-level top-n / NMS / top-n and a per-image top-n over levels
(:mod:`.sgb_rpn`), level-mapped RoIAlign with ``aligned=False`` (:mod:`.sgb_pooler`), the
two-FC box head, and SGB's post-processing (:mod:`.sgb_box_postprocess`). Input normalisation
follows ``INPUT.TO_BGR255`` / ``PIXEL_MEAN`` / ``PIXEL_STD`` (SGB: BGR in 0..255 minus the Caffe
means) and the images of a batch are zero-padded to a multiple of 32.

Weights come from a converted SGB checkpoint (``tools/convert_checkpoint.py --from sgb``); the
parameter names are the original ones under ``backbone.``, ``rpn.``, ``box_head.`` (SGB's
``roi_heads.box.feature_extractor``) and ``box_predictor.`` (``roi_heads.box.predictor``).
The backend is for inference and for relation training on a frozen detector: training the
detector itself (RPN and box losses) is not implemented and raises.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Sequence, Tuple, Union

import torch
from torch import Tensor

from sgg.structures.image_sample import ImageSample

from .base import DETECTOR_BACKEND_REGISTRY, Detections, SGGDetector
from .box_head import BoxPredictor, TwoFCBoxHead
from .sgb_backbone import SGBResNetFPN
from .sgb_box_ops import LegacyBoxCoder
from .sgb_box_postprocess import sgb_box_postprocess
from .sgb_pooler import SGBPooler
from .sgb_rpn import SGBRPN

__all__ = ["SGBDetector"]


@DETECTOR_BACKEND_REGISTRY.register()
class SGBDetector(SGGDetector):
    """SGB's detector (maskrcnn-benchmark conventions); see the module docstring.

    Args:
        num_classes: object classes incl. background.
        arch: ``R-50-FPN`` | ``R-101-FPN`` | ``R-152-FPN``.
        fpn_channels: FPN width (SGB ``BACKBONE_OUT_CHANNELS``); rpn_mid_channels: width of the RPN
            conv (must equal ``fpn_channels``).
        num_groups, width_per_group, stride_in_1x1, stem_out_channels, res2_out_channels: ResNet(X).
        anchor_sizes: one tuple per level; anchor_strides: stride per level; aspect_ratios: shared.
        rpn_pre_nms_top_n, rpn_post_nms_top_n: per level (test); fpn_post_nms_top_n: per image.
        rpn_nms_thresh, rpn_min_size: proposal NMS IoU and smallest ``+1`` side.
        pooler_resolution, pooler_scales, pooler_sampling_ratio: RoIAlign of the box head.
        mlp_head_dim: width of fc6/fc7.
        bbox_reg_weights: box-head coder weights.
        score_thresh, nms_thresh, post_nms_per_cls_topn, nms_filter_duplicates, detections_per_img:
            post-processing (see :func:`sgb_box_postprocess`).
        pixel_mean, pixel_std, to_bgr255: input normalisation.
        size_divisibility: the padded batch's sides are multiples of this (0: no rounding).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        arch: str = "R-101-FPN",
        fpn_channels: int = 256,
        rpn_mid_channels: int = 256,
        num_groups: int = 32,
        width_per_group: int = 8,
        stride_in_1x1: bool = False,
        stem_out_channels: int = 64,
        res2_out_channels: int = 256,
        anchor_sizes: Sequence[Sequence[float]] = ((32,), (64,), (128,), (256,), (512,)),
        anchor_strides: Sequence[int] = (4, 8, 16, 32, 64),
        aspect_ratios: Sequence[float] = (0.23232838, 0.63365731, 1.28478321, 3.15089189),
        rpn_pre_nms_top_n: int = 6000,
        rpn_post_nms_top_n: int = 1000,
        fpn_post_nms_top_n: int = 1000,
        rpn_nms_thresh: float = 0.7,
        rpn_min_size: float = 0.0,
        pooler_resolution: int = 7,
        pooler_scales: Sequence[float] = (0.25, 0.125, 0.0625, 0.03125),
        pooler_sampling_ratio: int = 2,
        mlp_head_dim: int = 4096,
        bbox_reg_weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0),
        score_thresh: float = 0.01,
        nms_thresh: float = 0.3,
        post_nms_per_cls_topn: int = 300,
        nms_filter_duplicates: bool = True,
        detections_per_img: int = 80,
        pixel_mean: Sequence[float] = (102.9801, 115.9465, 122.7717),
        pixel_std: Sequence[float] = (1.0, 1.0, 1.0),
        to_bgr255: bool = True,
        size_divisibility: int = 32,
    ) -> None:
        super().__init__(pixel_mean, pixel_std, to_bgr255=to_bgr255)
        self.size_divisibility = int(size_divisibility)
        if num_classes < 2:
            raise ValueError(f"MODEL.ROI_HEADS.NUM_CLASSES must count background plus >= 1 class, got {num_classes}")
        self.num_classes = int(num_classes)
        self.fpn_channels = int(fpn_channels)
        self.pooler_resolution = int(pooler_resolution)
        self.box_feature_dim = int(mlp_head_dim)
        self.backbone = SGBResNetFPN(
            arch, fpn_channels, num_groups, width_per_group, stride_in_1x1, stem_out_channels, res2_out_channels
        )
        if len(anchor_sizes) != len(self.backbone.out_features):
            raise ValueError(
                f"MODEL.DETECTOR.ANCHOR_SIZES: {len(anchor_sizes)} tuples for the FPN's "
                f"{len(self.backbone.out_features)} levels {self.backbone.out_features}"
            )
        self.rpn = SGBRPN(
            fpn_channels, rpn_mid_channels, anchor_sizes, anchor_strides, aspect_ratios,
            rpn_pre_nms_top_n, rpn_post_nms_top_n, fpn_post_nms_top_n, rpn_nms_thresh, rpn_min_size,
        )
        self.box_pooler = SGBPooler(pooler_resolution, pooler_scales, pooler_sampling_ratio)
        self.box_head = TwoFCBoxHead(self.fpn_channels, self.pooler_resolution, self.box_feature_dim)
        self.box_predictor = BoxPredictor(self.box_feature_dim, self.num_classes)
        self.box_coder = LegacyBoxCoder(bbox_reg_weights)
        self.score_thresh = float(score_thresh)
        self.nms_thresh = float(nms_thresh)
        self.post_nms_per_cls_topn = int(post_nms_per_cls_topn)
        self.nms_filter_duplicates = bool(nms_filter_duplicates)
        self.detections_per_img = int(detections_per_img)

    @classmethod
    def from_config(cls, cfg) -> Dict[str, Any]:
        """``__init__`` kwargs from ``MODEL.DETECTOR`` (incl. ``MODEL.DETECTOR.SGB``), ``ROI_*`` and ``INPUT``."""
        d, s = cfg.MODEL.DETECTOR, cfg.MODEL.DETECTOR.SGB
        rh, bh = cfg.MODEL.ROI_HEADS, cfg.MODEL.ROI_BOX_HEAD

        def positive(key: str, value: int) -> int:
            if value <= 0:
                raise ValueError(f"MODEL.DETECTOR.{key}: the sgb backend needs an explicit value > 0, got {value}")
            return int(value)

        fpn_channels = positive("FPN_CHANNELS", d.FPN_CHANNELS)
        return dict(
            num_classes=rh.NUM_CLASSES,
            arch=d.ARCH,
            fpn_channels=fpn_channels,
            rpn_mid_channels=s.RPN_MID_CHANNEL or fpn_channels,
            num_groups=s.NUM_GROUPS,
            width_per_group=s.WIDTH_PER_GROUP,
            stride_in_1x1=s.STRIDE_IN_1X1,
            stem_out_channels=s.STEM_OUT_CHANNELS,
            res2_out_channels=s.RES2_OUT_CHANNELS,
            anchor_sizes=tuple(tuple(a) for a in d.ANCHOR_SIZES) or ((32,), (64,), (128,), (256,), (512,)),
            anchor_strides=tuple(s.ANCHOR_STRIDE),
            aspect_ratios=tuple(d.ASPECT_RATIOS),
            rpn_pre_nms_top_n=positive("RPN_PRE_NMS_TOP_N_TEST", d.RPN_PRE_NMS_TOP_N_TEST),
            rpn_post_nms_top_n=positive("RPN_POST_NMS_TOP_N_TEST", d.RPN_POST_NMS_TOP_N_TEST),
            fpn_post_nms_top_n=s.FPN_POST_NMS_TOP_N_TEST,
            rpn_nms_thresh=d.RPN_NMS_THRESH,
            rpn_min_size=s.RPN_MIN_SIZE,
            pooler_resolution=bh.POOLER_RESOLUTION,
            pooler_scales=tuple(s.POOLER_SCALES),
            pooler_sampling_ratio=bh.POOLER_SAMPLING_RATIO,
            mlp_head_dim=positive("ROI_BOX_HEAD.MLP_HEAD_DIM", bh.MLP_HEAD_DIM),
            bbox_reg_weights=tuple(s.BBOX_REG_WEIGHTS),
            score_thresh=rh.SCORE_THRESH_TEST,
            nms_thresh=rh.NMS_THRESH_TEST,
            post_nms_per_cls_topn=s.POST_NMS_PER_CLS_TOPN,
            nms_filter_duplicates=s.NMS_FILTER_DUPLICATES,
            detections_per_img=rh.DETECTIONS_PER_IMG,
            pixel_mean=tuple(cfg.INPUT.PIXEL_MEAN),
            pixel_std=tuple(cfg.INPUT.PIXEL_STD),
            to_bgr255=cfg.INPUT.TO_BGR255,
            size_divisibility=s.SIZE_DIVISIBILITY,
        )

    # ------------------------------------------------------------------ stages
    def extract_features(self, images: Tensor) -> OrderedDict[str, Tensor]:
        """(B, 3, H, W) preprocessed batch -> ``p2..p6``."""
        return self.backbone(images)

    def _box_outputs(self, features: Dict[str, Tensor], boxes: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        return self.box_predictor(self.box_head(self.box_pooler(features, boxes)))

    def proposals(
        self, features: Dict[str, Tensor], image_sizes: Sequence[Tuple[int, int]]
    ) -> Tuple[List[Tensor], List[Tensor]]:
        """RPN proposals and objectness of every image (sorted by objectness)."""
        return self.rpn.proposals([features[k] for k in self.backbone.out_features], image_sizes)

    @torch.no_grad()
    def detect(self, features: Dict[str, Tensor], image_sizes: List[Tuple[int, int]]) -> List[Detections]:
        """SGB's detections (network-input pixels), in its order (see :func:`sgb_box_postprocess`)."""
        proposals, _ = self.proposals(features, image_sizes)
        logits, deltas = self._box_outputs(features, proposals)
        counts = [len(p) for p in proposals]
        out = []
        for lg, dl, props, size in zip(logits.split(counts), deltas.split(counts), proposals, image_sizes):
            det, _ = sgb_box_postprocess(
                lg, dl, props, size, self.box_coder, self.score_thresh, self.nms_thresh,
                self.post_nms_per_cls_topn, self.nms_filter_duplicates, self.detections_per_img,
            )
            out.append(det)
        return out

    @torch.no_grad()
    def classify_boxes(self, features: Dict[str, Tensor], boxes: List[Tensor]) -> List[Tensor]:
        """(N_i, C) box-classifier logits of given boxes (SGCls)."""
        if sum(len(b) for b in boxes) == 0:
            return [b.new_zeros((0, self.num_classes)) for b in boxes]
        logits, _ = self._box_outputs(features, [b.float() for b in boxes])
        return list(logits.split([len(b) for b in boxes]))

    def forward(self, samples: Sequence[ImageSample]) -> Union[Dict[str, Tensor], List[Detections]]:
        """Eval: detections per image. Training the SGB detector itself is not supported."""
        if self.training:
            raise NotImplementedError(
                "MODEL.DETECTOR.BACKEND sgb: training the detector itself (RPN / box losses) is not "
                "implemented; the backend runs converted SGB detectors and serves as the frozen detector "
                "of relation training (MODEL.RELATION_ON True). Train a detector with the torchvision backend."
            )
        images, sizes = self.preprocess(samples)
        return self.detect(self.extract_features(images), sizes)
