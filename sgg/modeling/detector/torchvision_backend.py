"""Faster R-CNN (FPN) detector on torchvision's RPN / RoI machinery, behind the ``SGGDetector`` contract.

Nothing is downloaded: the backbone is randomly initialised (``weights=None``) with trainable
BatchNorm by default, so it trains from scratch. Box features go through the toolkit's own
:class:`BoxPooler`, :class:`TwoFCBoxHead` and :class:`BoxPredictor`, which the relation stage reuses.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead

from sgg.structures.image_sample import ImageSample

from .backbone import FPNBackbone
from .base import DETECTOR_BACKEND_REGISTRY, Detections, SGGDetector
from .box_head import BoxPredictor, TwoFCBoxHead
from .pooler import BoxPooler
from .postprocess import fast_rcnn_inference

__all__ = ["ArchPreset", "ARCH_PRESETS", "TorchvisionDetector"]


@dataclass(frozen=True)
class ArchPreset:
    """Architecture defaults selected by ``MODEL.DETECTOR.ARCH`` (each overridable by its config key)."""

    body: str
    returned_layers: Tuple[int, ...]
    fpn_channels: int
    anchor_sizes: Tuple[
        Tuple[int, ...], ...
    ]  # one tuple per FPN output level (returned stages + pooled level)
    rpn_pre_nms_top_n: Tuple[int, int]  # (train, test), per level
    rpn_post_nms_top_n: Tuple[int, int]  # (train, test), per image
    box_batch_size_per_image: int
    mlp_head_dim: int


_STD_ANCHORS = ((32,), (64,), (128,), (256,), (512,))
ARCH_PRESETS: Dict[str, ArchPreset] = {
    "resnet50_fpn": ArchPreset(
        "resnet50", (1, 2, 3, 4), 256, _STD_ANCHORS, (2000, 1000), (2000, 1000), 512, 1024
    ),
    "resnet18_fpn": ArchPreset(
        "resnet18", (1, 2, 3, 4), 256, _STD_ANCHORS, (2000, 1000), (2000, 1000), 512, 1024
    ),
    # MobileNetV3-Large stages of stride 8/16/32 (torchvision's own preset feeds two stride-32 maps instead)
    "mobilenet_v3_fpn": ArchPreset(
        "mobilenet_v3_large", (2, 3, 4), 256, ((32,), (64,), (128,), (256,)), (2000, 1000), (2000, 1000),
        512, 1024,
    ),
    # design.md section 7: ResNet-18 stages 2-4, 128-ch FPN, anchors matched to 16-128 px objects, few RoIs
    "toy_resnet18_fpn": ArchPreset(
        "resnet18", (2, 3, 4), 128, ((16,), (32,), (64,), (128,)), (1000, 600), (300, 300), 128, 512
    ),
}


@DETECTOR_BACKEND_REGISTRY.register()
class TorchvisionDetector(SGGDetector):
    """Faster R-CNN with FPN: torchvision RPN + Fast R-CNN losses, toolkit box pooler/head/predictor.

    Arguments left as ``None`` take the ``arch`` preset's value (:data:`ARCH_PRESETS`).

    Args:
        num_classes: object classes including background (C_obj).
        arch: one of :data:`ARCH_PRESETS`.
        norm: "BN" (trainable BatchNorm) or "FrozenBN".
        trainable_layers: backbone stages trained, from the last (5 = all).
        fpn_channels, returned_layers, anchor_sizes: backbone / anchor layout.
        aspect_ratios: anchor aspect ratios (same for every level).
        rpn_pre_nms_top_n, rpn_post_nms_top_n: (train, test) proposal counts.
        rpn_nms_thresh, rpn_batch_size_per_image: RPN proposal NMS IoU and sampled anchors per image.
        box_batch_size_per_image, box_positive_fraction, box_fg_iou_thresh, box_bg_iou_thresh: RoI sampling.
        pooler_resolution, pooler_sampling_ratio: RoIAlign settings of the box pooler.
        mlp_head_dim: width of the 2-FC box head.
        score_thresh, nms_thresh, detections_per_img: test-time post-processing.
        pixel_mean, pixel_std: RGB normalisation of [0, 1] images.
        channels_last: keep the convolutional layers and the feature maps in channels-last (NHWC)
            memory layout, which oneDNN's bfloat16 CPU convolutions (and CUDA tensor cores) need to be
            fast; the results are the same up to float rounding.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        arch: str = "resnet50_fpn",
        norm: str = "BN",
        trainable_layers: int = 5,
        fpn_channels: Optional[int] = None,
        returned_layers: Optional[Sequence[int]] = None,
        anchor_sizes: Optional[Sequence[Sequence[int]]] = None,
        aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
        rpn_pre_nms_top_n: Optional[Tuple[int, int]] = None,
        rpn_post_nms_top_n: Optional[Tuple[int, int]] = None,
        rpn_nms_thresh: float = 0.7,
        rpn_batch_size_per_image: int = 256,
        box_batch_size_per_image: Optional[int] = None,
        box_positive_fraction: float = 0.25,
        box_fg_iou_thresh: float = 0.5,
        box_bg_iou_thresh: float = 0.5,
        pooler_resolution: int = 7,
        pooler_sampling_ratio: int = 2,
        mlp_head_dim: Optional[int] = None,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        detections_per_img: int = 100,
        pixel_mean: Sequence[float] = (0.485, 0.456, 0.406),
        pixel_std: Sequence[float] = (0.229, 0.224, 0.225),
        channels_last: bool = False,
    ) -> None:
        super().__init__(pixel_mean, pixel_std)
        if arch not in ARCH_PRESETS:
            raise ValueError(f"MODEL.DETECTOR.ARCH: unknown {arch!r}; known: {sorted(ARCH_PRESETS)}")
        if num_classes < 2:
            raise ValueError(
                f"MODEL.ROI_HEADS.NUM_CLASSES must count background plus >= 1 class, got {num_classes}"
            )
        p = ARCH_PRESETS[arch]
        self.arch = arch
        self.num_classes = int(num_classes)
        self.fpn_channels = int(fpn_channels or p.fpn_channels)
        self.pooler_resolution = int(pooler_resolution)
        self.box_feature_dim = int(mlp_head_dim or p.mlp_head_dim)

        self.backbone = FPNBackbone(
            p.body, tuple(returned_layers or p.returned_layers), self.fpn_channels, norm, trainable_layers
        )
        anchor_sizes = tuple(tuple(int(a) for a in s) for s in (anchor_sizes or p.anchor_sizes))
        n_levels = len(self.backbone.out_features)
        if len(anchor_sizes) != n_levels:
            raise ValueError(
                f"MODEL.DETECTOR.ANCHOR_SIZES: {len(anchor_sizes)} tuples but the FPN has {n_levels} levels "
                f"{self.backbone.out_features}; give one tuple per level"
            )
        if len({len(s) for s in anchor_sizes}) != 1:
            raise ValueError(
                f"MODEL.DETECTOR.ANCHOR_SIZES: every level needs the same number of sizes, got {anchor_sizes}"
            )
        anchor_generator = AnchorGenerator(anchor_sizes, (tuple(float(r) for r in aspect_ratios),) * n_levels)
        pre = tuple(rpn_pre_nms_top_n or p.rpn_pre_nms_top_n)
        post = tuple(rpn_post_nms_top_n or p.rpn_post_nms_top_n)
        self.rpn = RegionProposalNetwork(
            anchor_generator,
            RPNHead(self.fpn_channels, anchor_generator.num_anchors_per_location()[0]),
            fg_iou_thresh=0.7,
            bg_iou_thresh=0.3,
            batch_size_per_image=rpn_batch_size_per_image,
            positive_fraction=0.5,
            pre_nms_top_n={"training": pre[0], "testing": pre[1]},
            post_nms_top_n={"training": post[0], "testing": post[1]},
            nms_thresh=rpn_nms_thresh,
        )
        self.box_pooler = BoxPooler(
            output_size=self.pooler_resolution,
            scales=[1.0 / self.backbone.strides[k] for k in self.backbone.box_in_features],
            sampling_ratio=pooler_sampling_ratio,
            in_features=self.backbone.box_in_features,
        )
        self.box_head = TwoFCBoxHead(self.fpn_channels, self.pooler_resolution, self.box_feature_dim)
        self.box_predictor = BoxPredictor(self.box_feature_dim, self.num_classes)
        # torchvision's RoI matcher, fg/bg sampler and box coder; the box modules stay ours (above)
        self.roi_heads = RoIHeads(
            None,
            None,
            None,
            box_fg_iou_thresh,
            box_bg_iou_thresh,
            int(box_batch_size_per_image or p.box_batch_size_per_image),
            box_positive_fraction,
            None,
            score_thresh,
            nms_thresh,
            detections_per_img,
        )
        self.score_thresh, self.nms_thresh = float(score_thresh), float(nms_thresh)
        self.detections_per_img = int(detections_per_img)
        self.channels_last = bool(channels_last)
        if self.channels_last:  # 4-d weights (backbone, FPN, RPN head) in NHWC; box head and predictor are 2-d
            self.to(memory_format=torch.channels_last)

    @classmethod
    def from_config(cls, cfg) -> Dict[str, Any]:
        """``__init__`` kwargs from ``MODEL.DETECTOR``, ``MODEL.ROI_HEADS``, ``ROI_BOX_HEAD``, ``INPUT``."""
        d, rh, bh = cfg.MODEL.DETECTOR, cfg.MODEL.ROI_HEADS, cfg.MODEL.ROI_BOX_HEAD

        def pair(train: int, test: int) -> Optional[Tuple[int, int]]:
            if (train > 0) != (test > 0):
                raise ValueError(
                    "MODEL.DETECTOR.RPN_*_NMS_TOP_N_TRAIN/_TEST: set both or neither (0 = preset)"
                )
            return (int(train), int(test)) if train > 0 else None

        return dict(
            num_classes=rh.NUM_CLASSES,
            arch=d.ARCH,
            norm=d.NORM,
            trainable_layers=d.TRAINABLE_LAYERS,
            fpn_channels=d.FPN_CHANNELS or None,
            returned_layers=tuple(d.RETURNED_LAYERS) or None,
            anchor_sizes=tuple(d.ANCHOR_SIZES) or None,
            aspect_ratios=tuple(d.ASPECT_RATIOS),
            rpn_pre_nms_top_n=pair(d.RPN_PRE_NMS_TOP_N_TRAIN, d.RPN_PRE_NMS_TOP_N_TEST),
            rpn_post_nms_top_n=pair(d.RPN_POST_NMS_TOP_N_TRAIN, d.RPN_POST_NMS_TOP_N_TEST),
            rpn_nms_thresh=d.RPN_NMS_THRESH,
            rpn_batch_size_per_image=d.RPN_BATCH_SIZE_PER_IMAGE,
            box_batch_size_per_image=d.BOX_BATCH_SIZE_PER_IMAGE or None,
            box_positive_fraction=rh.POSITIVE_FRACTION,
            box_fg_iou_thresh=rh.FG_IOU_THRESHOLD,
            box_bg_iou_thresh=rh.BG_IOU_THRESHOLD,
            pooler_resolution=bh.POOLER_RESOLUTION,
            pooler_sampling_ratio=bh.POOLER_SAMPLING_RATIO,
            mlp_head_dim=bh.MLP_HEAD_DIM or None,
            score_thresh=rh.SCORE_THRESH_TEST,
            nms_thresh=rh.NMS_THRESH_TEST,
            detections_per_img=rh.DETECTIONS_PER_IMG,
            pixel_mean=tuple(cfg.INPUT.PIXEL_MEAN),
            pixel_std=tuple(cfg.INPUT.PIXEL_STD),
            channels_last=d.CHANNELS_LAST,
        )

    # ------------------------------------------------------------------ stages
    def extract_features(self, images: Tensor) -> OrderedDict[str, Tensor]:
        """(B, 3, H, W) preprocessed batch -> FPN maps ``p<l>`` (finest first, incl. the pooled level)."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.backbone(images)

    def _image_list(self, features: Dict[str, Tensor], image_sizes: Sequence[Tuple[int, int]]) -> ImageList:
        # the anchor generator only reads the padded batch's shape, dtype and device: a zero-stride view does
        name = self.backbone.out_features[0]
        fmap, stride = features[name], self.backbone.strides[name]
        padded = fmap.new_zeros(()).expand(fmap.shape[0], 3, fmap.shape[-2] * stride, fmap.shape[-1] * stride)
        return ImageList(padded, [tuple(s) for s in image_sizes])

    @contextlib.contextmanager
    def _rpn_inference(self) -> Iterator[None]:
        """Run the RPN with its test-time settings even when the detector is in train mode (frozen use)."""
        was_training = self.rpn.training
        self.rpn.train(False)
        try:
            yield
        finally:
            self.rpn.train(was_training)

    def _box_outputs(self, features: Dict[str, Tensor], boxes: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        return self.box_predictor(self.box_head(self.box_pooler(features, boxes)))

    def detect(self, features: Dict[str, Tensor], image_sizes: List[Tuple[int, int]]) -> List[Detections]:
        """Inference-mode detections (network-input pixels) from the maps of :meth:`extract_features`."""
        with self._rpn_inference():
            proposals, _ = self.rpn(self._image_list(features, image_sizes), OrderedDict(features))
        logits, deltas = self._box_outputs(features, proposals)
        return fast_rcnn_inference(
            logits,
            deltas,
            proposals,
            image_sizes,
            self.roi_heads.box_coder,
            self.score_thresh,
            self.nms_thresh,
            self.detections_per_img,
        )

    def classify_boxes(self, features: Dict[str, Tensor], boxes: List[Tensor]) -> List[Tensor]:
        """(N_i, C_obj) class logits for given boxes (network-input pixels) of every image."""
        logits, _ = self._box_outputs(features, boxes)
        return list(logits.split([b.shape[0] for b in boxes]))

    # ------------------------------------------------------------------ forward
    def _targets(self, samples: Sequence[ImageSample]) -> List[Dict[str, Tensor]]:
        targets = []
        for s in samples:
            boxes = s.gt_boxes.to(self.device, torch.float32).reshape(-1, 4)
            labels = s.gt_labels.to(self.device, torch.int64).reshape(-1)
            where = f"ImageSample[{s.record.file_name}]"
            if boxes.shape[0] != labels.shape[0]:
                raise ValueError(f"{where}: {boxes.shape[0]} gt_boxes but {labels.shape[0]} gt_labels")
            bad = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
            if bad.any():
                i = int(torch.nonzero(bad)[0])
                raise ValueError(f"{where}.gt_boxes[{i}] = {boxes[i].tolist()}: expected x2 > x1 and y2 > y1")
            if labels.numel() and (labels.min() < 1 or labels.max() >= self.num_classes):
                raise ValueError(
                    f"{where}.gt_labels: expected values in 1..{self.num_classes - 1}, got {labels.tolist()}"
                )
            targets.append({"boxes": boxes, "labels": labels})
        return targets

    def forward(self, samples: Sequence[ImageSample]) -> Union[Dict[str, Tensor], List[Detections]]:
        """Training: ``loss_rpn_cls``, ``loss_rpn_loc``, ``loss_cls``, ``loss_box_reg``; eval: detections."""
        images, sizes = self.preprocess(samples)
        features = self.extract_features(images)
        if not self.training:
            return self.detect(features, sizes)
        targets = self._targets(samples)
        proposals, rpn_losses = self.rpn(ImageList(images, sizes), features, targets)
        proposals, _, labels, regression_targets = self.roi_heads.select_training_samples(proposals, targets)
        logits, deltas = self._box_outputs(features, proposals)
        loss_cls, loss_box_reg = fastrcnn_loss(logits, deltas, labels, regression_targets)
        return {
            "loss_rpn_cls": rpn_losses["loss_objectness"],
            "loss_rpn_loc": rpn_losses["loss_rpn_box_reg"],
            "loss_cls": loss_cls,
            "loss_box_reg": loss_box_reg,
        }
