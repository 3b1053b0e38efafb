"""Config keys of the relation stage and the relation heads (``MODEL.ROI_RELATION_HEAD``)."""
from __future__ import annotations

from .config import CfgNode as CN

__all__ = ["add_relation_config"]


def add_relation_config(cfg: CN) -> None:
    """Add the relation-stage subtree to ``cfg`` in place."""
    cfg.MODEL.ROI_RELATION_HEAD = _C = CN()
    _C.PREDICTOR = "MotifPredictor"  # relation head: MotifPredictor | CoRE | CReaL (registry name)
    _C.NUM_CLASSES = 51  # predicate classes including background (VG-150: 51)
    _C.USE_GT_BOX = True  # predcls/sgcls: use GT boxes (False = sgdet)
    _C.USE_GT_OBJECT_LABEL = True  # predcls: use GT labels (needs USE_GT_BOX)
    _C.BATCH_SIZE_PER_IMAGE = 1024  # training: pairs sampled per image
    _C.POSITIVE_FRACTION = 0.25  # training: at most this fraction of sampled pairs are foreground
    _C.NUM_SAMPLE_PER_GT_REL = 4  # sgdet training: proposal pairs sampled per GT relation
    _C.REQUIRE_BOX_OVERLAP = False  # training: only pairs whose boxes overlap
    _C.FG_IOU_THRESHOLD = 0.5  # sgdet training: IoU above which a proposal matches a GT box
    _C.PREDICT_USE_BIAS = True  # add the frequency bias to the relation logits
    _C.PREDICT_USE_VISION = True  # fuse union-box features into the pair representation
    _C.CONTEXT_POOLING_DIM = 1024  # width of relation/union features (SGB: 4096)
    _C.CONTEXT_HIDDEN_DIM = 512  # context LSTM hidden size
    _C.CONTEXT_OBJ_LAYER = 1  # object-context LSTM layers
    _C.CONTEXT_REL_LAYER = 1  # edge-context LSTM layers
    _C.CONTEXT_DROPOUT_RATE = 0.2  # dropout in the context modules
    _C.EMBED_DIM = 200  # word-embedding width of the label tables
    _C.WORD_VECTORS = "kumo50"  # "kumo50" (glove.6B 50-d lifted to EMBED_DIM), "learned", or a path to a glove .txt
    _C.FREEZE_WORD_VECTORS = False  # keep the word tables fixed during training
    _C.LOSS = "ce"  # relation loss: ce | reweighted_ce | class_balanced_ce
    _C.REWEIGHT_POWER = 1.0  # kappa in w_c = (1/f_c)^kappa for reweighted_ce
    _C.CLASS_BALANCED_BETA = 0.9999  # beta of class_balanced_ce
    _C.SPATIAL_MASK_SIZE = 27  # canvas of the 2-channel union spatial mask (4*7-1)
    _C.POOLING_ALL_LEVELS = False  # union boxes pooled from every FPN level + 3x3 reduce conv (SGB: True)

    _C.MOTIFS = CN()
    _C.MOTIFS.OBJ_ORDER = "leftright"  # object order of the context LSTMs: leftright | confidence | size | random
    _C.MOTIFS.POS_EMBED_DIM = 128  # width of the box-position embedding
    _C.MOTIFS.SOFT_FREQ_BIAS = False  # sgcls/sgdet: frequency bias from predicted label distributions (soft lookup)

    _C.CORE = CN()
    _C.CORE.QUAT_DIM = 64  # d_q: width of each quaternion component
    _C.CORE.HIDDEN_DIM = 256  # hidden width of the quaternion-to-real MLP

    _C.CREAL = CN()
    _C.CREAL.MLP_DIM = 1024  # d: width of the PE-Net style entity/pair features (paper: 2048)
    _C.CREAL.COMPLEX_DIM = 512  # d_c: complex embedding width
    _C.CREAL.PROTO_DIM = 512  # d_p: amplitude/phase embedding and prototype width
    _C.CREAL.USE_AMPLITUDE = True  # amplitude branch in the logits
    _C.CREAL.USE_PHASE = True  # phase branch in the logits
    _C.CREAL.GATE = "global"  # gate alpha: global | per_relation | fixed (0.5)
    _C.CREAL.TAU_INIT = 0.07  # initial temperatures tau_a, tau_p
    _C.CREAL.REG_LOSS = True  # prototype regulariser L_reg
    _C.CREAL.AMP_TRIPLET_LOSS = True  # amplitude triplet loss with the hardest negative prototype
    _C.CREAL.PHASE_TRIPLET_LOSS = True  # phase triplet loss restricted per (subject, object) pair
    _C.CREAL.MARGIN_AMP = 0.5  # gamma_a
    _C.CREAL.MARGIN_PHASE = 0.5  # gamma_p
    _C.CREAL.MARGIN_SEP = 1.0  # gamma_dp (normalised prototypes)
    _C.CREAL.PROTO_SEP_SPACE = "normalized"  # normalized (gamma 1.0) | raw (gamma 7.0)
    _C.CREAL.WORD_DIM = 300  # width of the entity and predicate word tables (paper: glove 300-d)
    _C.CREAL.USE_FREQ_BIAS = False  # add a trainable frequency bias to the logits (off in CReaL / PE-Net)
