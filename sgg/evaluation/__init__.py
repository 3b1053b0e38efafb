"""Evaluators: VG-150 (SGB-exact recall family) and OI-V6 (PySGG-exact R@50 / wmAP / score_wtd)."""
from .base import (
    SGG_EVALUATOR_REGISTRY,
    DatasetEvaluator,
    DatasetEvaluators,
    build_evaluator,
    gather_to_main,
    is_main_process,
)
from .oi_evaluator import OIRelationEvaluator
from .vg_evaluator import VGSceneGraphEvaluator, f_score

__all__ = [
    "SGG_EVALUATOR_REGISTRY",
    "DatasetEvaluator",
    "DatasetEvaluators",
    "OIRelationEvaluator",
    "VGSceneGraphEvaluator",
    "build_evaluator",
    "f_score",
    "gather_to_main",
    "is_main_process",
]
