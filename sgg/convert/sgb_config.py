"""Read a Scene-Graph-Benchmark (SGB) YAML and express it with this toolkit's config keys.

SGB configs are yacs files layered on SGB's ``defaults.py``: a published config sets only what
differs from those defaults, a run's ``config.yaml`` dump sets everything. :data:`SGB_DEFAULTS`
holds SGB's default value of every key the conversion reads (``maskrcnn_benchmark/config/
defaults.py`` at commit 6f75881), so both kinds of files convert the same way.

:func:`read_sgb_config` parses the YAML (yacs evaluates string values such as ``"(600,)"`` as
Python literals; so does this reader), :func:`check_supported` refuses settings this toolkit does
not reproduce (other backbones, attribute heads, GroupNorm, deformable convs, class-agnostic
regression, ...), and :func:`toolkit_config` builds the toolkit config: the ``sgb`` detector
backend with SGB's sizes and thresholds, SGB's input pipeline, the same classes and mode flags,
and every ``MODEL.ROI_RELATION_HEAD.*`` key that has the same name here (predictor settings such
as ``CAUSAL.EFFECT_TYPE`` or ``TRANSFORMER.NUM_HEAD``).
"""
from __future__ import annotations

import ast
import os
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import yaml

from sgg.config import get_cfg
from sgg.config.config import all_keys

__all__ = [
    "SGB_DEFAULTS",
    "SGBConfigError",
    "read_sgb_config",
    "check_supported",
    "toolkit_config",
    "relation_keys_not_carried",
]


class SGBConfigError(ValueError):
    """An SGB config that cannot be read or describes a model this toolkit does not reproduce."""


# SGB's defaults.py values of the keys the conversion reads (or checks)
SGB_DEFAULTS: Dict[str, Any] = {
    "INPUT.MIN_SIZE_TRAIN": (800,),
    "INPUT.MAX_SIZE_TRAIN": 1333,
    "INPUT.MIN_SIZE_TEST": 800,
    "INPUT.MAX_SIZE_TEST": 1333,
    "INPUT.PIXEL_MEAN": (102.9801, 115.9465, 122.7717),
    "INPUT.PIXEL_STD": (1.0, 1.0, 1.0),
    "INPUT.TO_BGR255": True,
    "DATALOADER.SIZE_DIVISIBILITY": 0,
    "MODEL.META_ARCHITECTURE": "GeneralizedRCNN",
    "MODEL.RPN_ONLY": False,
    "MODEL.MASK_ON": False,
    "MODEL.RETINANET_ON": False,
    "MODEL.KEYPOINT_ON": False,
    "MODEL.ATTRIBUTE_ON": False,
    "MODEL.RELATION_ON": False,
    "MODEL.CLS_AGNOSTIC_BBOX_REG": False,
    "MODEL.BACKBONE.CONV_BODY": "R-50-C4",
    "MODEL.RESNETS.NUM_GROUPS": 1,
    "MODEL.RESNETS.WIDTH_PER_GROUP": 64,
    "MODEL.RESNETS.STRIDE_IN_1X1": True,
    "MODEL.RESNETS.TRANS_FUNC": "BottleneckWithFixedBatchNorm",
    "MODEL.RESNETS.STEM_FUNC": "StemWithFixedBatchNorm",
    "MODEL.RESNETS.RES5_DILATION": 1,
    "MODEL.RESNETS.BACKBONE_OUT_CHANNELS": 1024,
    "MODEL.RESNETS.RES2_OUT_CHANNELS": 256,
    "MODEL.RESNETS.STEM_OUT_CHANNELS": 64,
    "MODEL.RESNETS.STAGE_WITH_DCN": (False, False, False, False),
    "MODEL.FPN.USE_GN": False,
    "MODEL.FPN.USE_RELU": False,
    "MODEL.RPN.USE_FPN": False,
    "MODEL.RPN.RPN_HEAD": "SingleConvRPNHead",
    "MODEL.RPN.RPN_MID_CHANNEL": 512,
    "MODEL.RPN.ANCHOR_SIZES": (32, 64, 128, 256, 512),
    "MODEL.RPN.ANCHOR_STRIDE": (16,),
    "MODEL.RPN.ASPECT_RATIOS": (0.5, 1.0, 2.0),
    "MODEL.RPN.PRE_NMS_TOP_N_TRAIN": 12000,
    "MODEL.RPN.PRE_NMS_TOP_N_TEST": 6000,
    "MODEL.RPN.POST_NMS_TOP_N_TRAIN": 2000,
    "MODEL.RPN.POST_NMS_TOP_N_TEST": 1000,
    "MODEL.RPN.NMS_THRESH": 0.7,
    "MODEL.RPN.MIN_SIZE": 0,
    "MODEL.RPN.FPN_POST_NMS_TOP_N_TEST": 2000,
    "MODEL.ROI_HEADS.USE_FPN": False,
    "MODEL.ROI_HEADS.FG_IOU_THRESHOLD": 0.5,
    "MODEL.ROI_HEADS.BG_IOU_THRESHOLD": 0.3,
    "MODEL.ROI_HEADS.BBOX_REG_WEIGHTS": (10.0, 10.0, 5.0, 5.0),
    "MODEL.ROI_HEADS.POSITIVE_FRACTION": 0.25,
    "MODEL.ROI_HEADS.SCORE_THRESH": 0.01,
    "MODEL.ROI_HEADS.NMS": 0.3,
    "MODEL.ROI_HEADS.POST_NMS_PER_CLS_TOPN": 300,
    "MODEL.ROI_HEADS.NMS_FILTER_DUPLICATES": False,
    "MODEL.ROI_HEADS.DETECTIONS_PER_IMG": 256,
    "MODEL.ROI_BOX_HEAD.FEATURE_EXTRACTOR": "ResNet50Conv5ROIFeatureExtractor",
    "MODEL.ROI_BOX_HEAD.PREDICTOR": "FastRCNNPredictor",
    "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION": 14,
    "MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO": 0,
    "MODEL.ROI_BOX_HEAD.POOLER_SCALES": (1.0 / 16,),
    "MODEL.ROI_BOX_HEAD.NUM_CLASSES": 81,
    "MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM": 2048,
    "MODEL.ROI_BOX_HEAD.USE_GN": False,
    "MODEL.ROI_RELATION_HEAD.PREDICTOR": "MotifPredictor",
    "MODEL.ROI_RELATION_HEAD.FEATURE_EXTRACTOR": "RelationFeatureExtractor",
    "MODEL.ROI_RELATION_HEAD.POOLING_ALL_LEVELS": True,
    "MODEL.ROI_RELATION_HEAD.NUM_CLASSES": 51,
    "MODEL.ROI_RELATION_HEAD.BATCH_SIZE_PER_IMAGE": 64,
    "MODEL.ROI_RELATION_HEAD.POSITIVE_FRACTION": 0.25,
    "MODEL.ROI_RELATION_HEAD.USE_GT_BOX": True,
    "MODEL.ROI_RELATION_HEAD.USE_GT_OBJECT_LABEL": False,
    "MODEL.ROI_RELATION_HEAD.EMBED_DIM": 200,
    "MODEL.ROI_RELATION_HEAD.CONTEXT_DROPOUT_RATE": 0.2,
    "MODEL.ROI_RELATION_HEAD.CONTEXT_HIDDEN_DIM": 512,
    "MODEL.ROI_RELATION_HEAD.CONTEXT_POOLING_DIM": 4096,
    "MODEL.ROI_RELATION_HEAD.CONTEXT_OBJ_LAYER": 1,
    "MODEL.ROI_RELATION_HEAD.CONTEXT_REL_LAYER": 1,
    "MODEL.ROI_RELATION_HEAD.TRANSFORMER.DROPOUT_RATE": 0.1,
    "MODEL.ROI_RELATION_HEAD.TRANSFORMER.OBJ_LAYER": 4,
    "MODEL.ROI_RELATION_HEAD.TRANSFORMER.REL_LAYER": 2,
    "MODEL.ROI_RELATION_HEAD.TRANSFORMER.NUM_HEAD": 8,
    "MODEL.ROI_RELATION_HEAD.TRANSFORMER.INNER_DIM": 2048,
    "MODEL.ROI_RELATION_HEAD.TRANSFORMER.KEY_DIM": 64,
    "MODEL.ROI_RELATION_HEAD.TRANSFORMER.VAL_DIM": 64,
    "MODEL.ROI_RELATION_HEAD.LABEL_SMOOTHING_LOSS": False,
    "MODEL.ROI_RELATION_HEAD.PREDICT_USE_VISION": True,
    "MODEL.ROI_RELATION_HEAD.PREDICT_USE_BIAS": True,
    "MODEL.ROI_RELATION_HEAD.REQUIRE_BOX_OVERLAP": True,
    "MODEL.ROI_RELATION_HEAD.NUM_SAMPLE_PER_GT_REL": 4,
    "MODEL.ROI_RELATION_HEAD.ADD_GTBOX_TO_PROPOSAL_IN_TRAIN": False,
    "MODEL.ROI_RELATION_HEAD.CAUSAL.EFFECT_ANALYSIS": False,
    "MODEL.ROI_RELATION_HEAD.CAUSAL.FUSION_TYPE": "sum",
    "MODEL.ROI_RELATION_HEAD.CAUSAL.CONTEXT_LAYER": "motifs",
    "MODEL.ROI_RELATION_HEAD.CAUSAL.SEPARATE_SPATIAL": False,
    "MODEL.ROI_RELATION_HEAD.CAUSAL.SPATIAL_FOR_VISION": False,
    "MODEL.ROI_RELATION_HEAD.CAUSAL.EFFECT_TYPE": "none",
    "TEST.RELATION.MULTIPLE_PREDS": False,
    "TEST.RELATION.IOU_THRESHOLD": 0.5,
    "TEST.RELATION.REQUIRE_OVERLAP": True,
    "TEST.RELATION.LATER_NMS_PREDICTION_THRES": 0.3,
}

# settings the toolkit reproduces only with these values: key -> (allowed values, why)
_REQUIRED: Dict[str, Tuple[Tuple[Any, ...], str]] = {
    "MODEL.META_ARCHITECTURE": (("GeneralizedRCNN",), "only maskrcnn-benchmark's GeneralizedRCNN"),
    "MODEL.RPN_ONLY": ((False,), "RPN-only models are not supported"),
    "MODEL.MASK_ON": ((False,), "mask heads are not supported"),
    "MODEL.RETINANET_ON": ((False,), "RetinaNet is not supported"),
    "MODEL.KEYPOINT_ON": ((False,), "keypoint heads are not supported"),
    "MODEL.ATTRIBUTE_ON": ((False,), "attribute heads are not supported"),
    "MODEL.CLS_AGNOSTIC_BBOX_REG": ((False,), "class-agnostic box regression is not supported"),
    "MODEL.BACKBONE.CONV_BODY": (("R-50-FPN", "R-101-FPN", "R-152-FPN"), "ResNet(X) FPN bodies only"),
    "MODEL.RESNETS.TRANS_FUNC": (("BottleneckWithFixedBatchNorm",), "frozen-BN bottlenecks only"),
    "MODEL.RESNETS.STEM_FUNC": (("StemWithFixedBatchNorm",), "frozen-BN stem only"),
    "MODEL.RESNETS.RES5_DILATION": ((1,), "dilated layer4 is not supported"),
    "MODEL.RESNETS.STAGE_WITH_DCN": (((False, False, False, False),), "deformable convs are not supported"),
    "MODEL.FPN.USE_GN": ((False,), "GroupNorm FPN is not supported"),
    "MODEL.FPN.USE_RELU": ((False,), "FPN with ReLU is not supported"),
    "MODEL.RPN.USE_FPN": ((True,), "the RPN must run on the FPN"),
    "MODEL.RPN.RPN_HEAD": (("SingleConvRPNHead",), "the single-conv RPN head only"),
    "MODEL.ROI_HEADS.USE_FPN": ((True,), "the box head must pool from the FPN"),
    "MODEL.ROI_BOX_HEAD.FEATURE_EXTRACTOR": (("FPN2MLPFeatureExtractor",), "the 2-FC FPN box head only"),
    "MODEL.ROI_BOX_HEAD.PREDICTOR": (("FPNPredictor",), "the FPN box predictor only"),
    "MODEL.ROI_BOX_HEAD.USE_GN": ((False,), "GroupNorm box heads are not supported"),
    "MODEL.ROI_RELATION_HEAD.FEATURE_EXTRACTOR": (
        ("RelationFeatureExtractor",), "SGB's RelationFeatureExtractor only"),
    "INPUT.TO_BGR255": ((True,), "SGB's BGR 0..255 input"),
}

# SGB relation-head keys the conversion sets itself (not by the same-name copy)
_RELATION_SET_EXPLICITLY = {
    "PREDICTOR", "FEATURE_EXTRACTOR", "NUM_CLASSES", "USE_GT_BOX", "USE_GT_OBJECT_LABEL", "POOLING_ALL_LEVELS",
}


def _literal(value: Any) -> Any:
    """yacs' value decoding: strings that are Python literals become those values; lists become tuples."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, list):
        return tuple(_literal(v) for v in value)
    return value


def _flatten(node: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = _literal(value)
    return out


def read_sgb_config(path: str) -> Dict[str, Any]:
    """Flat ``{dotted key: value}`` of an SGB YAML over :data:`SGB_DEFAULTS`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--config-file: SGB config not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise SGBConfigError(f"{path}: not a readable YAML file ({e})") from None
    if not isinstance(raw, Mapping):
        raise SGBConfigError(f"{path}: expected a YAML mapping of config keys, got {type(raw).__name__}")
    if "_BASE_" in raw:
        raise SGBConfigError(f"{path}: '_BASE_' is a detectron2 feature; SGB configs are single yacs files")
    flat = dict(SGB_DEFAULTS)
    flat.update(_flatten(raw))
    flat["__file__"] = os.path.abspath(path)
    return flat


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    return value


def check_supported(sgb: Mapping[str, Any]) -> None:
    """Raise :class:`SGBConfigError` listing every setting the toolkit cannot reproduce."""
    problems = []
    for key, (allowed, why) in _REQUIRED.items():
        value = _norm(sgb.get(key, SGB_DEFAULTS.get(key)))
        if value not in allowed:
            problems.append(f"{key} = {value!r} ({why}; supported: {', '.join(map(repr, allowed))})")
    strides, sizes = tuple(sgb["MODEL.RPN.ANCHOR_STRIDE"]), tuple(sgb["MODEL.RPN.ANCHOR_SIZES"])
    if len(strides) != 5 or len(sizes) != 5:
        problems.append(
            f"MODEL.RPN.ANCHOR_STRIDE {strides} / ANCHOR_SIZES {sizes}: one stride and one size per FPN level "
            "(P2..P6, 5 values each) expected"
        )
    if len(tuple(sgb["MODEL.ROI_BOX_HEAD.POOLER_SCALES"])) != 4:
        problems.append(f"MODEL.ROI_BOX_HEAD.POOLER_SCALES {sgb['MODEL.ROI_BOX_HEAD.POOLER_SCALES']}: P2..P5 expected")
    if sgb.get("DATALOADER.SIZE_DIVISIBILITY", 0) not in (0, 32):
        problems.append(f"DATALOADER.SIZE_DIVISIBILITY = {sgb['DATALOADER.SIZE_DIVISIBILITY']} (0 or 32 supported)")
    if problems:
        raise SGBConfigError(
            f"{sgb.get('__file__', 'SGB config')}: this SGB model cannot be converted:\n  " + "\n  ".join(problems)
        )


def relation_keys_not_carried(sgb: Mapping[str, Any]) -> List[str]:
    """SGB ``MODEL.ROI_RELATION_HEAD.*`` keys without a same-named toolkit key (informational)."""
    known = set(all_keys(get_cfg()))
    return sorted(
        k for k in sgb
        if k.startswith("MODEL.ROI_RELATION_HEAD.") and k not in known
        and k.split(".", 2)[2] not in _RELATION_SET_EXPLICITLY
    )


def toolkit_config(
    sgb: Mapping[str, Any],
    object_classes: Sequence[str],
    predicate_classes: Sequence[str],
    dataset_root: str,
    weights: str = "",
):
    """The toolkit config (a frozen-free ``CfgNode``) of the SGB model described by ``sgb``.

    Args:
        sgb: :func:`read_sgb_config` output (already :func:`check_supported`).
        object_classes, predicate_classes: names incl. ``__background__`` (from the dicts file);
            their counts must equal SGB's ``NUM_CLASSES``.
        dataset_root: the VG-150 folder for ``DATASETS.ROOT`` (where the dicts file lives).
        weights: ``MODEL.WEIGHTS`` of the converted checkpoint.
    """
    n_obj, n_rel = int(sgb["MODEL.ROI_BOX_HEAD.NUM_CLASSES"]), int(sgb["MODEL.ROI_RELATION_HEAD.NUM_CLASSES"])
    relation_on = bool(sgb["MODEL.RELATION_ON"])
    if len(object_classes) != n_obj:
        raise SGBConfigError(
            f"class count mismatch: the dicts file has {len(object_classes)} object classes (incl. background) "
            f"but the SGB config says MODEL.ROI_BOX_HEAD.NUM_CLASSES = {n_obj}"
        )
    if relation_on and len(predicate_classes) != n_rel:
        raise SGBConfigError(
            f"class count mismatch: the dicts file has {len(predicate_classes)} predicate classes (incl. "
            f"background) but the SGB config says MODEL.ROI_RELATION_HEAD.NUM_CLASSES = {n_rel}"
        )
    cfg = get_cfg()
    known = set(all_keys(cfg))
    m = cfg.MODEL
    m.RELATION_ON = relation_on
    m.WEIGHTS = weights
    m.DETECTOR.BACKEND = "sgb"
    m.DETECTOR.ARCH = sgb["MODEL.BACKBONE.CONV_BODY"]
    m.DETECTOR.FPN_CHANNELS = int(sgb["MODEL.RESNETS.BACKBONE_OUT_CHANNELS"])
    m.DETECTOR.ANCHOR_SIZES = tuple((float(s),) for s in sgb["MODEL.RPN.ANCHOR_SIZES"])
    m.DETECTOR.ASPECT_RATIOS = tuple(float(r) for r in sgb["MODEL.RPN.ASPECT_RATIOS"])
    m.DETECTOR.RPN_PRE_NMS_TOP_N_TRAIN = int(sgb["MODEL.RPN.PRE_NMS_TOP_N_TRAIN"])
    m.DETECTOR.RPN_PRE_NMS_TOP_N_TEST = int(sgb["MODEL.RPN.PRE_NMS_TOP_N_TEST"])
    m.DETECTOR.RPN_POST_NMS_TOP_N_TRAIN = int(sgb["MODEL.RPN.POST_NMS_TOP_N_TRAIN"])
    m.DETECTOR.RPN_POST_NMS_TOP_N_TEST = int(sgb["MODEL.RPN.POST_NMS_TOP_N_TEST"])
    m.DETECTOR.RPN_NMS_THRESH = float(sgb["MODEL.RPN.NMS_THRESH"])
    s = m.DETECTOR.SGB
    s.NUM_GROUPS = int(sgb["MODEL.RESNETS.NUM_GROUPS"])
    s.WIDTH_PER_GROUP = int(sgb["MODEL.RESNETS.WIDTH_PER_GROUP"])
    s.STRIDE_IN_1X1 = bool(sgb["MODEL.RESNETS.STRIDE_IN_1X1"])
    s.STEM_OUT_CHANNELS = int(sgb["MODEL.RESNETS.STEM_OUT_CHANNELS"])
    s.RES2_OUT_CHANNELS = int(sgb["MODEL.RESNETS.RES2_OUT_CHANNELS"])
    s.RPN_MID_CHANNEL = int(sgb["MODEL.RPN.RPN_MID_CHANNEL"])
    s.ANCHOR_STRIDE = tuple(int(v) for v in sgb["MODEL.RPN.ANCHOR_STRIDE"])
    s.RPN_MIN_SIZE = float(sgb["MODEL.RPN.MIN_SIZE"])
    s.FPN_POST_NMS_TOP_N_TEST = int(sgb["MODEL.RPN.FPN_POST_NMS_TOP_N_TEST"])
    s.POOLER_SCALES = tuple(float(v) for v in sgb["MODEL.ROI_BOX_HEAD.POOLER_SCALES"])
    s.BBOX_REG_WEIGHTS = tuple(float(v) for v in sgb["MODEL.ROI_HEADS.BBOX_REG_WEIGHTS"])
    s.POST_NMS_PER_CLS_TOPN = int(sgb["MODEL.ROI_HEADS.POST_NMS_PER_CLS_TOPN"])
    s.NMS_FILTER_DUPLICATES = bool(sgb["MODEL.ROI_HEADS.NMS_FILTER_DUPLICATES"])
    s.SIZE_DIVISIBILITY = int(sgb["DATALOADER.SIZE_DIVISIBILITY"])
    rh = m.ROI_HEADS
    rh.NUM_CLASSES = n_obj
    rh.FG_IOU_THRESHOLD = float(sgb["MODEL.ROI_HEADS.FG_IOU_THRESHOLD"])
    rh.BG_IOU_THRESHOLD = float(sgb["MODEL.ROI_HEADS.BG_IOU_THRESHOLD"])
    rh.POSITIVE_FRACTION = float(sgb["MODEL.ROI_HEADS.POSITIVE_FRACTION"])
    rh.SCORE_THRESH_TEST = float(sgb["MODEL.ROI_HEADS.SCORE_THRESH"])
    rh.NMS_THRESH_TEST = float(sgb["MODEL.ROI_HEADS.NMS"])
    rh.DETECTIONS_PER_IMG = int(sgb["MODEL.ROI_HEADS.DETECTIONS_PER_IMG"])
    bh = m.ROI_BOX_HEAD
    bh.POOLER_RESOLUTION = int(sgb["MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION"])
    bh.POOLER_SAMPLING_RATIO = int(sgb["MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO"])
    bh.MLP_HEAD_DIM = int(sgb["MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM"])
    inp = cfg.INPUT
    inp.MIN_SIZE_TRAIN = tuple(int(v) for v in sgb["INPUT.MIN_SIZE_TRAIN"])
    inp.MAX_SIZE_TRAIN = int(sgb["INPUT.MAX_SIZE_TRAIN"])
    inp.MIN_SIZE_TEST = int(sgb["INPUT.MIN_SIZE_TEST"])
    inp.MAX_SIZE_TEST = int(sgb["INPUT.MAX_SIZE_TEST"])
    inp.PIXEL_MEAN = tuple(float(v) for v in sgb["INPUT.PIXEL_MEAN"])
    inp.PIXEL_STD = tuple(float(v) for v in sgb["INPUT.PIXEL_STD"])
    inp.TO_BGR255 = True
    inp.RESIZE_RULE = "sgb"
    cfg.TEST.IMS_PER_BATCH = 1  # SGB tests one image per batch (padding would change the features)
    cfg.TEST.DETECTIONS_PER_IMG = rh.DETECTIONS_PER_IMG
    cfg.TEST.RELATION.REQUIRE_OVERLAP = bool(sgb["TEST.RELATION.REQUIRE_OVERLAP"])
    cfg.TEST.RELATION.LATER_NMS_PREDICTION_THRES = float(sgb["TEST.RELATION.LATER_NMS_PREDICTION_THRES"])
    cfg.TEST.RELATION.IOU_THRESHOLD = float(sgb["TEST.RELATION.IOU_THRESHOLD"])
    cfg.TEST.RELATION.MULTIPLE_PREDS = bool(sgb["TEST.RELATION.MULTIPLE_PREDS"])
    cfg.DATASETS.ROOT = os.path.abspath(dataset_root)
    cfg.DATASETS.FORMAT = "vg150"
    cfg.DATASETS.TRAIN, cfg.DATASETS.VAL, cfg.DATASETS.TEST = ("VG150_train",), ("VG150_val",), ("VG150_test",)
    r = m.ROI_RELATION_HEAD
    r.NUM_CLASSES = n_rel
    r.PREDICTOR = sgb["MODEL.ROI_RELATION_HEAD.PREDICTOR"]
    r.USE_GT_BOX = bool(sgb["MODEL.ROI_RELATION_HEAD.USE_GT_BOX"])
    r.USE_GT_OBJECT_LABEL = bool(sgb["MODEL.ROI_RELATION_HEAD.USE_GT_OBJECT_LABEL"])
    r.POOLING_ALL_LEVELS = bool(sgb["MODEL.ROI_RELATION_HEAD.POOLING_ALL_LEVELS"])
    if relation_on and not r.USE_GT_BOX and r.USE_GT_OBJECT_LABEL:
        raise SGBConfigError("MODEL.ROI_RELATION_HEAD: USE_GT_OBJECT_LABEL True needs USE_GT_BOX True")
    for key, value in sgb.items():
        if key.startswith("MODEL.ROI_RELATION_HEAD.") and key in known:
            if key.split(".", 2)[2] in _RELATION_SET_EXPLICITLY:
                continue
            node, leaf = cfg, key.split(".")
            for part in leaf[:-1]:
                node = node[part]
            node[leaf[-1]] = _coerce(value, node[leaf[-1]], key)
    return cfg


def _coerce(value: Any, default: Any, key: str) -> Any:
    """``value`` in the type of the toolkit key's default (SGB writes 1 where a float is meant, ...)."""
    try:
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError
            return value
        if isinstance(default, float):
            return float(value)
        if isinstance(default, int):
            if isinstance(value, bool) or float(value) != int(value):
                raise TypeError
            return int(value)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise TypeError
            return value
        if isinstance(default, (tuple, list)):
            return _norm(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise SGBConfigError(f"{key} = {value!r}: expected a value of type {type(default).__name__}")
