"""Auxiliary heads; importing this package registers them in :data:`AUX_HEAD_REGISTRY`."""
from .base import AuxiliaryHead, AuxiliaryOutputs
from .hyp_hierarchy import HypHierarchyHead
from .hyp_retrieval import HypRetrievalHead
from .registry import AUX_HEAD_REGISTRY, build_auxiliary_heads
from .xmodal_cdpae import CDPAEHead, cdpae_knn_similarity
from .xmodal_masln import MASLNHead

__all__ = [
    "AuxiliaryHead",
    "AuxiliaryOutputs",
    "AUX_HEAD_REGISTRY",
    "build_auxiliary_heads",
    "HypRetrievalHead",
    "HypHierarchyHead",
    "MASLNHead",
    "CDPAEHead",
    "cdpae_knn_similarity",
]
