"""Optimizers and learning-rate schedules."""

from .build import build_lr_scheduler, build_optimizer, get_param_groups
from .lr_scheduler import LRMultiplier, WarmupParamScheduler

__all__ = [
    "build_optimizer",
    "build_lr_scheduler",
    "get_param_groups",
    "LRMultiplier",
    "WarmupParamScheduler",
]
