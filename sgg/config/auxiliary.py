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

    _C.HYP_HIERARCHY = CN()
    _C.HYP_HIERARCHY.WEIGHT = 0.1  # lambda_hier
    _C.HYP_HIERARCHY.EMBED_DIM = 256  # Poincare embedding width
    _C.HYP_HIERARCHY.CURVATURE = 0.1  # c of the Poincare ball
    _C.HYP_HIERARCHY.CLIP_R = 2.3  # feature clipping radius before exp0
    _C.HYP_HIERARCHY.HCL_WEIGHT = 0.1  # hyperbolic class loss weight
    _C.HYP_HIERARCHY.LHL_WEIGHT = 1.0  # local hierarchy loss weight
    _C.HYP_HIERARCHY.ORD_WEIGHT = 0.1  # parent-closer-to-origin ordering loss weight
    _C.HYP_HIERARCHY.HIERARCHY_FILE = ""  # predicate/object hierarchy JSON; "" = dataset default

    _C.XMODAL = CN()
    _C.XMODAL.MASLN_WEIGHT = 0.1  # lambda_x of MASLN
    _C.XMODAL.CDPAE_WEIGHT = 0.1  # lambda_cd of CDPAE
    _C.XMODAL.COMMON_DIM = 512  # common-space width
