"""Config keys of the object detector (``MODEL.DETECTOR``, ``MODEL.ROI_HEADS``, ``MODEL.ROI_BOX_HEAD``).

Keys whose value is 0 or ``()`` take the default of the ``MODEL.DETECTOR.ARCH`` preset
(``sgg.modeling.detector.torchvision_backend.ARCH_PRESETS``); any other value overrides it.
"""
from __future__ import annotations

from .config import CfgNode as CN

__all__ = ["add_detector_config"]


def add_detector_config(cfg: CN) -> None:
    """Add the detector subtree to ``cfg`` in place."""
    cfg.MODEL.DETECTOR = CN()
    cfg.MODEL.DETECTOR.BACKEND = "torchvision"  # "torchvision" (default), "detectron2" (optional) or "sgb"
    cfg.MODEL.DETECTOR.ARCH = "resnet50_fpn"  # resnet50_fpn|resnet18_fpn|mobilenet_v3_fpn|toy_resnet18_fpn
    cfg.MODEL.DETECTOR.TRAINABLE_LAYERS = 5  # backbone stages trained, counted from the last (5 = all)
    cfg.MODEL.DETECTOR.NORM = "BN"  # "BN" (trainable BatchNorm) or "FrozenBN"
    cfg.MODEL.DETECTOR.FPN_CHANNELS = 0  # FPN output channels (0 = ARCH preset: 256; toy 128)
    cfg.MODEL.DETECTOR.RETURNED_LAYERS = ()  # stages (1..4, stride 2**(k+1)) fed to the FPN (() = preset)
    cfg.MODEL.DETECTOR.ANCHOR_SIZES = ()  # one tuple per FPN level incl. the extra pooled one (() = preset)
    cfg.MODEL.DETECTOR.ASPECT_RATIOS = (0.5, 1.0, 2.0)  # anchor aspect ratios (height / width)
    cfg.MODEL.DETECTOR.RPN_PRE_NMS_TOP_N_TRAIN = 0  # RPN proposals per level before NMS, train (0 = preset)
    cfg.MODEL.DETECTOR.RPN_PRE_NMS_TOP_N_TEST = 0  # RPN proposals per level before NMS, test (0 = preset)
    cfg.MODEL.DETECTOR.RPN_POST_NMS_TOP_N_TRAIN = 0  # RPN proposals per image after NMS, train (0 = preset)
    cfg.MODEL.DETECTOR.RPN_POST_NMS_TOP_N_TEST = 0  # RPN proposals per image after NMS, test (0 = preset)
    cfg.MODEL.DETECTOR.RPN_NMS_THRESH = 0.7  # RPN proposal NMS IoU
    cfg.MODEL.DETECTOR.RPN_BATCH_SIZE_PER_IMAGE = 256  # anchors sampled per image for the RPN losses
    cfg.MODEL.DETECTOR.BOX_BATCH_SIZE_PER_IMAGE = 0  # RoIs sampled per image for the box head (0 = preset)
    cfg.MODEL.DETECTOR.CHANNELS_LAST = False  # NHWC conv layers and feature maps (faster with AMP; same results up to rounding)
    cfg.MODEL.DETECTOR.WEIGHTS = ""  # user weights for the detector (a state_dict file)
    cfg.MODEL.DETECTOR.D2_CONFIG_FILE = ""  # detectron2 backend: its YAML, or model_zoo:<path>

    # sgb backend (SGB's maskrcnn-benchmark detector, docs/sgb_detector.md); it also reads ARCH
    # (R-50-FPN | R-101-FPN | R-152-FPN), FPN_CHANNELS, ANCHOR_SIZES, ASPECT_RATIOS, the RPN_*_TEST and
    # RPN_NMS_THRESH keys above and the ROI_HEADS / ROI_BOX_HEAD keys below
    cfg.MODEL.DETECTOR.SGB = CN()
    cfg.MODEL.DETECTOR.SGB.NUM_GROUPS = 32  # ResNeXt cardinality (1 = plain ResNet)
    cfg.MODEL.DETECTOR.SGB.WIDTH_PER_GROUP = 8  # channels per group of layer1's bottleneck
    cfg.MODEL.DETECTOR.SGB.STRIDE_IN_1X1 = False  # stride of a stage's first block in the 1x1 conv (else 3x3)
    cfg.MODEL.DETECTOR.SGB.STEM_OUT_CHANNELS = 64  # stem width
    cfg.MODEL.DETECTOR.SGB.RES2_OUT_CHANNELS = 256  # layer1 output width (doubles per stage)
    cfg.MODEL.DETECTOR.SGB.RPN_MID_CHANNEL = 0  # RPN 3x3 conv width (0 = FPN_CHANNELS; must equal it)
    cfg.MODEL.DETECTOR.SGB.ANCHOR_STRIDE = (4, 8, 16, 32, 64)  # anchor stride per FPN level
    cfg.MODEL.DETECTOR.SGB.RPN_MIN_SIZE = 0.0  # proposals with a +1 side below this are dropped
    cfg.MODEL.DETECTOR.SGB.FPN_POST_NMS_TOP_N_TEST = 1000  # proposals kept per image over all levels
    cfg.MODEL.DETECTOR.SGB.POOLER_SCALES = (0.25, 0.125, 0.0625, 0.03125)  # box pooler levels P2..P5
    cfg.MODEL.DETECTOR.SGB.BBOX_REG_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # box-head coder weights
    cfg.MODEL.DETECTOR.SGB.POST_NMS_PER_CLS_TOPN = 300  # survivors per class after NMS (proposal order)
    cfg.MODEL.DETECTOR.SGB.NMS_FILTER_DUPLICATES = True  # one class per proposal (its best surviving one)
    cfg.MODEL.DETECTOR.SGB.SIZE_DIVISIBILITY = 32  # batch padded to a multiple of this (0 = no rounding)

    cfg.MODEL.ROI_HEADS = CN()
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 151  # object classes including background (VG-150: 151)
    cfg.MODEL.ROI_HEADS.FG_IOU_THRESHOLD = 0.5  # RoIs with IoU >= this to a GT box are foreground
    cfg.MODEL.ROI_HEADS.BG_IOU_THRESHOLD = 0.5  # RoIs with IoU < this to every GT box are background
    cfg.MODEL.ROI_HEADS.POSITIVE_FRACTION = 0.25  # largest foreground share of the sampled RoIs
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.01  # detection score threshold at test
    cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST = 0.3  # per-class box NMS at test
    cfg.MODEL.ROI_HEADS.DETECTIONS_PER_IMG = 80  # detections kept per image

    cfg.MODEL.ROI_BOX_HEAD = CN()
    cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 7  # RoIAlign output size
    cfg.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO = 2  # RoIAlign sampling ratio
    cfg.MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM = 0  # 2-FC box head width (0 = preset: 1024, toy 512; SGB 4096)
