"""Relation heads. Importing this package registers MotifPredictor, CoRE, CReaL and FrequencyBaseline."""
from .base import RelationHead, RelationHeadInputs, RelationHeadOutputs
from .core import CoRE
from .creal import CReaL
from .frequency_baseline import FrequencyBaseline
from .motifs import MotifPredictor, MotifsHead
from .registry import RELATION_HEAD_REGISTRY, build_relation_head

__all__ = [
    "RelationHead",
    "RelationHeadInputs",
    "RelationHeadOutputs",
    "RELATION_HEAD_REGISTRY",
    "build_relation_head",
    "MotifPredictor",
    "MotifsHead",
    "CoRE",
    "CReaL",
    "FrequencyBaseline",
]
