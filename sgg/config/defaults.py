"""Default configuration of the toolkit.

Every key carries a one-line comment. Key names follow Scene-Graph-Benchmark.pytorch
(SGB) wherever SGB has one, so that ``MODEL.ROI_RELATION_HEAD.USE_GT_BOX True`` works from
muscle memory. Component-specific subtrees are added by the ``add_*_config`` helpers of
the sibling modules; :func:`get_cfg` applies all of them.
"""
from __future__ import annotations

from .auxiliary import add_auxiliary_config
from .config import CfgNode as CN
from .detector import add_detector_config
from .relation import add_relation_config

__all__ = ["get_cfg"]


def _base_config() -> CN:
    _C = CN()
    _C.VERSION = 1  # config format version

    # ------------------------------------------------------------------ model
    _C.MODEL = CN()
    _C.MODEL.DEVICE = "cpu"  # "cpu" or "cuda"; "auto" picks cuda when available
    _C.MODEL.META_ARCHITECTURE = "SceneGraphRCNN"  # meta architecture (registry name)
    _C.MODEL.RELATION_ON = True  # False trains/evaluates the detector only
    _C.MODEL.WEIGHTS = ""  # checkpoint to load (a model_*.pth of this toolkit or a detector file)
    _C.MODEL.DETECTOR_WEIGHTS = ""  # detector-only checkpoint used to initialise the relation stage

    # --------------------------------------------------------------- datasets
    _C.DATASETS = CN()
    _C.DATASETS.TRAIN = ("toy_train",)  # registered dataset names used for training
    _C.DATASETS.VAL = ("toy_val",)  # registered dataset names used for periodic evaluation
    _C.DATASETS.TEST = ("toy_test",)  # registered dataset names used by --eval-only
    _C.DATASETS.ROOT = "datasets/toy"  # folder of the dataset files (toy / VG-150 / OI-V6 layout)
    _C.DATASETS.FORMAT = "vg150"  # "vg150" or "oiv6": which loader reads DATASETS.ROOT
    _C.DATASETS.NUM_VAL_IM = 5000  # VG: val = the first NUM_VAL_IM train-split images (SGB)
    _C.DATASETS.FILTER_EMPTY_RELS = True  # drop images without relations (SGB: = RELATION_ON)
    _C.DATASETS.FILTER_DUPLICATE_RELS = True  # train only: one random predicate per (s, o) pair
    _C.DATASETS.FILTER_NON_OVERLAP = False  # train only: drop relations of non-overlapping boxes
    _C.DATASETS.ZEROSHOT_TRIPLETS = ""  # file of (subject, object, predicate) rows; "" = dataset default
    _C.DATASETS.STATISTICS_CACHE = ""  # folder for cached frequency statistics; "" = no cache
    _C.DATASETS.IMAGE_DIR = ""  # image folder relative to ROOT; "" = images/ (or VG_100K/ for SGB's layout)

    # ------------------------------------------------------------- data loader
    _C.DATALOADER = CN()
    _C.DATALOADER.NUM_WORKERS = 0  # data loading worker processes
    _C.DATALOADER.ASPECT_RATIO_GROUPING = False  # group images of similar aspect ratio in a batch

    # ------------------------------------------------------------------ input
    _C.INPUT = CN()
    _C.INPUT.MIN_SIZE_TRAIN = (600,)  # shorter side at training (one is drawn per image)
    _C.INPUT.MAX_SIZE_TRAIN = 1000  # longer side cap at training
    _C.INPUT.MIN_SIZE_TEST = 600  # shorter side at test time
    _C.INPUT.MAX_SIZE_TEST = 1000  # longer side cap at test time
    _C.INPUT.FLIP_PROB = 0.0  # horizontal flip probability at training (needs a flippable predicate set)
    _C.INPUT.PIXEL_MEAN = (0.485, 0.456, 0.406)  # RGB mean on [0, 1] pixels
    _C.INPUT.PIXEL_STD = (0.229, 0.224, 0.225)  # RGB std on [0, 1] pixels
    _C.INPUT.TO_BGR255 = False  # True: the detector sees BGR in 0..255 and PIXEL_MEAN/STD are BGR 0..255 (SGB)
    _C.INPUT.RESIZE_RULE = "round"  # test/train resize: "round" (detectron2) or "sgb" (SGB's int truncation)

    # ----------------------------------------------------------------- solver
    _C.SOLVER = CN()
    _C.SOLVER.OPTIMIZER = "SGD"  # "SGD", "AdamW" or "Adam"
    _C.SOLVER.BASE_LR = 0.01  # learning rate at the end of warm-up
    _C.SOLVER.MOMENTUM = 0.9  # SGD momentum
    _C.SOLVER.BETAS = (0.9, 0.999)  # Adam/AdamW betas
    _C.SOLVER.WEIGHT_DECAY = 1e-4  # weight decay of weights
    _C.SOLVER.WEIGHT_DECAY_NORM = 0.0  # weight decay of normalisation layers and biases
    _C.SOLVER.MAX_ITER = 50000  # number of training iterations
    _C.SOLVER.IMS_PER_BATCH = 12  # images per batch over all processes
    _C.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"  # "WarmupMultiStepLR" or "WarmupCosineLR"
    _C.SOLVER.STEPS = (30000, 45000)  # iterations at which the LR is multiplied by GAMMA
    _C.SOLVER.GAMMA = 0.1  # LR decay factor at each step
    _C.SOLVER.WARMUP_ITERS = 500  # linear warm-up length
    _C.SOLVER.WARMUP_FACTOR = 0.1  # LR factor at the start of warm-up
    _C.SOLVER.BASE_LR_END = 0.0  # WarmupCosineLR: learning rate at MAX_ITER
    _C.SOLVER.CLIP_GRADIENTS = CN()
    _C.SOLVER.CLIP_GRADIENTS.ENABLED = True  # clip the global gradient norm
    _C.SOLVER.CLIP_GRADIENTS.MAX_NORM = 5.0  # max global gradient norm (SGB: 5)
    _C.SOLVER.AMP = CN()
    _C.SOLVER.AMP.ENABLED = False  # mixed precision: float16 + loss scaling on CUDA, bfloat16 on the CPU
    _C.SOLVER.CHECKPOINT_PERIOD = 2000  # save a checkpoint every N iterations
    _C.SOLVER.MAX_KEEP = 3  # periodic checkpoints kept on disk (the final one is always kept)

    # ------------------------------------------------------------------- test
    _C.TEST = CN()
    _C.TEST.EVAL_PERIOD = 0  # evaluate on DATASETS.VAL every N iterations (0 = only at the end)
    _C.TEST.IMS_PER_BATCH = 1  # images per batch at inference
    _C.TEST.EXPORT = False  # with --eval-only write inference/<dataset>/scene_graphs.json
    _C.TEST.EXPORT_FULL_SCORES = True  # include predicate_scores (needed for ngR / OI metrics)
    _C.TEST.EXPORT_TOPK_OBJECTS = -1  # keep at most this many objects per image (-1 = all)
    _C.TEST.EXPORT_TOPK_RELATIONS = 100  # keep at most this many relations per image (-1 = all)
    _C.TEST.EXPORT_COMPACT = False  # keep only rows that can influence a metric (exact)
    _C.TEST.EXPORT_FORMAT = "json"  # "json" (scene_graphs.json) or "hdf5" (scene_graphs.h5, binary)
    _C.TEST.UNCERTAINTY_SCORES = ()  # relation extras (e.g. "hier_radius") to rank against errors (predcls/sgcls)
    _C.TEST.RELATION = CN()
    _C.TEST.RELATION.IOU_THRESHOLD = 0.5  # subject and object IoU needed for a match (>=)
    _C.TEST.RELATION.REQUIRE_OVERLAP = False  # sgdet: only score pairs whose boxes overlap
    _C.TEST.RELATION.LATER_NMS_PREDICTION_THRES = 0.5  # sgdet per-class label NMS IoU
    _C.TEST.RELATION.MULTIPLE_PREDS = False  # phrase-level: keep several predicates per pair
    _C.TEST.RELATION.PHRDET = False  # also report phrase detection (union-box matching)
    _C.TEST.DETECTIONS_PER_IMG = 80  # sgdet: boxes kept per image (SGB standard config: 80)

    # ------------------------------------------------------------------ misc
    _C.OUTPUT_DIR = "output"  # run directory: checkpoints, logs, metrics, inference results
    _C.SEED = -1  # global seed; -1 = random (logged)
    _C.CUDNN_BENCHMARK = False  # torch.backends.cudnn.benchmark
    _C.LOG_PERIOD = 20  # log training metrics every N iterations
    _C.FIND_UNUSED_PARAMETERS = False  # DDP find_unused_parameters (True when some heads skip parameters)
    return _C


def get_cfg() -> CN:
    """A fresh copy of the toolkit's full default config."""
    cfg = _base_config()
    add_detector_config(cfg)
    add_relation_config(cfg)
    add_auxiliary_config(cfg)
    return cfg
