"""Config keys of the auxiliary heads (``MODEL.AUXILIARY``): each off by default, weight 0.1."""
from __future__ import annotations

from .config import CfgNode as CN

__all__ = ["add_auxiliary_config"]


def add_auxiliary_config(cfg: CN) -> None:
    """Add the auxiliary-head subtree to ``cfg`` in place."""
    cfg.MODEL.AUXILIARY = _C = CN()
    _C.HEADS = ()  # enabled auxiliary heads, e.g. ("hyp_retrieval", "hyp_hierarchy")

    _C.HYP_RETRIEVAL = CN()
    _C.HYP_RETRIEVAL.WEIGHT = 0.1  # lambda_hr
    _C.HYP_RETRIEVAL.EMBED_DIM = 256  # d_h
    _C.HYP_RETRIEVAL.CURV_INIT = 1.0  # initial curvature c (learnable in [c/10, 10c])
    _C.HYP_RETRIEVAL.LEARN_CURV = True  # learn the curvature
    _C.HYP_RETRIEVAL.ENTAIL_WEIGHT = 0.2  # weight of the entailment-cone loss
    _C.HYP_RETRIEVAL.GEOMETRY = "lorentz"  # lorentz | euclidean (cosine baseline)
    _C.HYP_RETRIEVAL.MARGIN = 0.0  # GAHR-style semantic margin m (0 = off)
    _C.HYP_RETRIEVAL.RANDOM_REGION = False  # hyperbolic BLIP-2 random query/region selection
    _C.HYP_RETRIEVAL.RANDOM_PRUNE = 0.0  # probability of dropping subject/object words (RTP)
    _C.HYP_RETRIEVAL.DETACH_INPUT = False  # probe only: no gradient into the relation head
    _C.HYP_RETRIEVAL.TEXT_MODE = "prototype"  # prototype (predicate points, CE) | triplet (subject-predicate-object InfoNCE)
    _C.HYP_RETRIEVAL.RQS_BEST_PROB = 0.0  # RANDOM_REGION: probability of the best token instead of a random one
    _C.HYP_RETRIEVAL.GRAPH_LEVEL = False  # image <-> caption losses on the training captions (captions.json)
    _C.HYP_RETRIEVAL.CAPTION_VOCAB = ""  # caption vocabulary JSON; "" = built from the training captions (GRAPH_LEVEL)
    _C.HYP_RETRIEVAL.GRAPH_WEIGHT = 1.0  # weight of the graph-level losses relative to WEIGHT
    _C.HYP_RETRIEVAL.CAPTION_ENCODER = "bag"  # caption encoder: bag (mean of word embeddings) | gru

    _C.HYP_HIERARCHY = CN()
    _C.HYP_HIERARCHY.WEIGHT = 0.1  # lambda_hier
    _C.HYP_HIERARCHY.EMBED_DIM = 256  # Poincare embedding width
    _C.HYP_HIERARCHY.CURVATURE = 0.1  # c of the Poincare ball
    _C.HYP_HIERARCHY.CLIP_R = 2.3  # feature clipping radius before exp0
    _C.HYP_HIERARCHY.HCL_WEIGHT = 0.1  # hyperbolic class loss weight
    _C.HYP_HIERARCHY.LHL_WEIGHT = 1.0  # local hierarchy loss weight
    _C.HYP_HIERARCHY.ORD_WEIGHT = 0.1  # parent-closer-to-origin ordering loss weight
    _C.HYP_HIERARCHY.HIERARCHY_FILE = ""  # predicate/object hierarchy JSON; "" = dataset default
    _C.HYP_HIERARCHY.HCL_SMOOTHING = 0.1  # label smoothing of the hyperbolic class loss
    _C.HYP_HIERARCHY.EMA_MOMENTUM = 0.9  # momentum of the class-centre EMA (used for classes absent from a batch)
    _C.HYP_HIERARCHY.LHL_TOPK = 30  # mutual top-k neighbours defining LHL positives
    _C.HYP_HIERARCHY.LHL_TRIPLETS = 50  # LHL triplets sampled per anchor
    _C.HYP_HIERARCHY.LHL_MARGIN = 0.1  # LHL hinge margin
    _C.HYP_HIERARCHY.GUMBEL_TAU = 0.1  # temperature of the hard Gumbel-softmax LCA choice
    _C.HYP_HIERARCHY.ORD_MARGIN = 0.1  # parent radius must be this much smaller than its children's

    _C.XMODAL = CN()
    _C.XMODAL.MASLN_WEIGHT = 0.1  # lambda_x of MASLN
    _C.XMODAL.CDPAE_WEIGHT = 0.1  # lambda_cd of CDPAE
    _C.XMODAL.COMMON_DIM = 512  # common-space width
    _C.XMODAL.HIDDEN_DIM = 1024  # MASLN encoder hidden width
    _C.XMODAL.ADV_WEIGHT = 0.1  # MASLN weight of the modality-adversarial loss
    _C.XMODAL.SEM_TEMPERATURE = 0.1  # MASLN temperature of the semantic-compatibility logits
    _C.XMODAL.GRL_GAMMA = 10.0  # DANN schedule steepness of the gradient-reversal coefficient
    _C.XMODAL.CDPAE_MASK_VISUAL = 0.5  # CDPAE fraction of visual input dims zeroed per batch
    _C.XMODAL.CDPAE_MASK_TEXT = 0.7  # CDPAE fraction of text input dims zeroed per batch
