"""Config keys of the object detector (``MODEL.DETECTOR``, ``MODEL.ROI_HEADS``, ``MODEL.ROI_BOX_HEAD``)."""
from __future__ import annotations

from .config import CfgNode as CN

__all__ = ["add_detector_config"]


def add_detector_config(cfg: CN) -> None:
    """Add the detector subtree to ``cfg`` in place."""
    cfg.MODEL.DETECTOR = CN()
    cfg.MODEL.DETECTOR.BACKEND = "torchvision"  # "torchvision" (default) or "detectron2" (optional adapter)
    cfg.MODEL.DETECTOR.ARCH = "resnet50_fpn"  # resnet50_fpn | resnet18_fpn | mobilenet_v3_fpn | toy_resnet18_fpn
    cfg.MODEL.DETECTOR.TRAINABLE_LAYERS = 5  # backbone stages trained (5 = all)
    cfg.MODEL.DETECTOR.NORM = "BN"  # "BN" (trainable BatchNorm) or "FrozenBN"
    cfg.MODEL.DETECTOR.FPN_CHANNELS = 256  # FPN output channels
    cfg.MODEL.DETECTOR.RETURNED_LAYERS = (1, 2, 3, 4)  # ResNet stages fed to the FPN
    cfg.MODEL.DETECTOR.ANCHOR_SIZES = ((32,), (64,), (128,), (256,), (512,))  # one tuple per FPN level
    cfg.MODEL.DETECTOR.ASPECT_RATIOS = (0.5, 1.0, 2.0)  # anchor aspect ratios
    cfg.MODEL.DETECTOR.RPN_PRE_NMS_TOP_N_TRAIN = 2000  # RPN proposals before NMS (train)
    cfg.MODEL.DETECTOR.RPN_PRE_NMS_TOP_N_TEST = 1000  # RPN proposals before NMS (test)
    cfg.MODEL.DETECTOR.RPN_POST_NMS_TOP_N_TRAIN = 2000  # RPN proposals after NMS (train)
    cfg.MODEL.DETECTOR.RPN_POST_NMS_TOP_N_TEST = 1000  # RPN proposals after NMS (test)
    cfg.MODEL.DETECTOR.BOX_BATCH_SIZE_PER_IMAGE = 512  # RoIs sampled per image for the box head
    cfg.MODEL.DETECTOR.WEIGHTS = ""  # user weights for the detector (a state_dict file)

    cfg.MODEL.ROI_HEADS = CN()
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 151  # object classes including background (VG-150: 151)
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.01  # detection score threshold at test
    cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST = 0.3  # per-class box NMS at test
    cfg.MODEL.ROI_HEADS.DETECTIONS_PER_IMG = 80  # detections kept per image

    cfg.MODEL.ROI_BOX_HEAD = CN()
    cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 7  # RoIAlign output size
    cfg.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO = 2  # RoIAlign sampling ratio
    cfg.MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM = 1024  # width of the 2-FC box head (SGB: 4096)
