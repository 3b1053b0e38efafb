"""Build the optimizer and the learning-rate schedule from ``cfg.SOLVER``."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import torch
from fvcore.common.param_scheduler import CosineParamScheduler, MultiStepParamScheduler
from torch import nn

from .lr_scheduler import LRMultiplier, WarmupParamScheduler

__all__ = ["get_param_groups", "build_optimizer", "build_lr_scheduler"]

_NORM_TYPES = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.LocalResponseNorm,
)


def get_param_groups(model: nn.Module, weight_decay: float, weight_decay_norm: float) -> List[Dict[str, Any]]:
    """Split the trainable parameters of ``model`` into two optimizer groups.

    Parameters of normalisation layers (BatchNorm, GroupNorm, LayerNorm, InstanceNorm) and
    every bias get ``weight_decay_norm``; all other parameters get ``weight_decay``. Frozen
    parameters (``requires_grad=False``) are left out; a parameter shared by several modules
    appears once. Empty groups are dropped.
    """
    decay, no_decay, seen = [], [], set()
    for module in model.modules():
        is_norm = isinstance(module, _NORM_TYPES)
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (no_decay if is_norm or name == "bias" else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": float(weight_decay)},
        {"params": no_decay, "weight_decay": float(weight_decay_norm)},
    ]
    return [g for g in groups if g["params"]]


def _has_manifold_params(groups: List[Dict[str, Any]]) -> bool:
    try:
        from geoopt import ManifoldParameter
    except ImportError:  # pragma: no cover - geoopt is a dependency
        return False
    return any(isinstance(p, ManifoldParameter) for g in groups for p in g["params"])


def build_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    """Optimizer named by ``SOLVER.OPTIMIZER`` (SGD, AdamW, Adam) over the trainable parameters.

    When the model holds geoopt ``ManifoldParameter``s (hyperbolic embeddings), the Riemannian
    counterpart is used (RiemannianSGD, RiemannianAdam); it behaves like the Euclidean optimizer on
    ordinary parameters. RiemannianAdam applies weight decay as an L2 term, so AdamW's decoupled
    decay becomes coupled in that case (logged).
    """
    s = cfg.SOLVER
    groups = get_param_groups(model, s.WEIGHT_DECAY, s.WEIGHT_DECAY_NORM)
    if not groups:
        raise ValueError("build_optimizer: the model has no parameter with requires_grad=True")
    name = s.OPTIMIZER.lower()
    riemannian = _has_manifold_params(groups)
    log = logging.getLogger(__name__)
    if name == "sgd":
        kw = dict(lr=s.BASE_LR, momentum=s.MOMENTUM)
        if riemannian:
            from geoopt.optim import RiemannianSGD

            log.info("Model has manifold parameters: using geoopt RiemannianSGD")
            return RiemannianSGD(groups, stabilize=None, **kw)
        return torch.optim.SGD(groups, **kw)
    if name in ("adam", "adamw"):
        kw = dict(lr=s.BASE_LR, betas=tuple(s.BETAS))
        if riemannian:
            from geoopt.optim import RiemannianAdam

            log.info("Model has manifold parameters: using geoopt RiemannianAdam (L2 weight decay)")
            return RiemannianAdam(groups, stabilize=None, **kw)
        return (torch.optim.AdamW if name == "adamw" else torch.optim.Adam)(groups, **kw)
    raise ValueError(f"SOLVER.OPTIMIZER: unknown optimizer {s.OPTIMIZER!r}; expected SGD, AdamW or Adam")


def build_lr_scheduler(cfg, optimizer: torch.optim.Optimizer) -> LRMultiplier:
    """Per-iteration LR schedule named by ``SOLVER.LR_SCHEDULER_NAME`` with linear warm-up.

    * ``WarmupMultiStepLR``: multiplier ``GAMMA ** k`` after the k-th entry of ``SOLVER.STEPS``
      (steps at or beyond ``MAX_ITER`` are ignored, with a warning);
    * ``WarmupCosineLR``: cosine from 1 to ``BASE_LR_END / BASE_LR`` over ``MAX_ITER``.

    Warm-up rises linearly from ``WARMUP_FACTOR`` times the schedule's value over ``WARMUP_ITERS``.
    """
    s = cfg.SOLVER
    max_iter = int(s.MAX_ITER)
    name = s.LR_SCHEDULER_NAME
    if name == "WarmupMultiStepLR":
        steps = [int(x) for x in s.STEPS if int(x) < max_iter]
        if len(steps) != len(s.STEPS):
            logging.getLogger(__name__).warning(
                "SOLVER.STEPS %s has entries >= SOLVER.MAX_ITER %d; they are ignored",
                tuple(s.STEPS),
                max_iter,
            )
        sched = MultiStepParamScheduler(
            values=[s.GAMMA**k for k in range(len(steps) + 1)], milestones=steps, num_updates=max_iter
        )
    elif name == "WarmupCosineLR":
        sched = CosineParamScheduler(1.0, s.BASE_LR_END / s.BASE_LR if s.BASE_LR else 0.0)
    else:
        raise ValueError(
            f"SOLVER.LR_SCHEDULER_NAME: unknown schedule {name!r}; expected WarmupMultiStepLR or WarmupCosineLR"
        )
    warm = WarmupParamScheduler(sched, s.WARMUP_FACTOR, min(s.WARMUP_ITERS / max_iter, 1.0 - 1e-9))
    return LRMultiplier(optimizer, multiplier=warm, max_iter=max_iter)
