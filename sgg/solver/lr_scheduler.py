"""Learning-rate schedules from fvcore parameter schedulers.

A schedule is an fvcore ``ParamScheduler`` giving a *multiplier* of each group's base LR as a
function of training progress in [0, 1); :class:`LRMultiplier` applies it to an optimizer once
per iteration.
"""

from __future__ import annotations

from typing import List

import torch
from fvcore.common.param_scheduler import (
    CompositeParamScheduler,
    ConstantParamScheduler,
    LinearParamScheduler,
    ParamScheduler,
)

__all__ = ["WarmupParamScheduler", "LRMultiplier"]


class WarmupParamScheduler(CompositeParamScheduler):
    """``scheduler`` preceded by a linear warm-up.

    During the first ``warmup_length`` fraction of training the value rises linearly from
    ``warmup_factor * scheduler(warmup_length)`` to ``scheduler(warmup_length)``; afterwards it is
    ``scheduler(where)`` (the main schedule keeps its own time axis, it is not shifted).

    Args:
        scheduler: the main schedule.
        warmup_factor: multiplier at the very start of warm-up.
        warmup_length: warm-up duration as a fraction of training (``WARMUP_ITERS / MAX_ITER``).
    """

    def __init__(self, scheduler: ParamScheduler, warmup_factor: float, warmup_length: float) -> None:
        if not 0.0 <= warmup_length < 1.0:
            raise ValueError(
                f"warmup_length must be in [0, 1); got {warmup_length} (WARMUP_ITERS >= MAX_ITER?)"
            )
        end_value = scheduler(warmup_length)
        start_value = warmup_factor * end_value
        if warmup_length == 0.0:
            warmup: ParamScheduler = ConstantParamScheduler(end_value)
            lengths = [0.0, 1.0]
        else:
            warmup = LinearParamScheduler(start_value, end_value)
            lengths = [warmup_length, 1.0 - warmup_length]
        super().__init__([warmup, scheduler], interval_scaling=["rescaled", "fixed"], lengths=lengths)


class LRMultiplier(torch.optim.lr_scheduler.LRScheduler):
    """Set every param group's LR to ``base_lr * multiplier(iter / max_iter)``; step once per iteration.

    Args:
        optimizer: the optimizer whose groups carry ``initial_lr`` (set from ``lr`` on creation).
        multiplier: fvcore schedule of the LR multiplier.
        max_iter: number of training iterations.
        last_iter: index of the last finished iteration (-1 at the start of training).
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, multiplier: ParamScheduler, max_iter: int, last_iter: int = -1
    ) -> None:
        if not isinstance(multiplier, ParamScheduler):
            raise TypeError(f"multiplier must be an fvcore ParamScheduler, got {type(multiplier).__name__}")
        self._multiplier = multiplier
        self._max_iter = int(max_iter)
        super().__init__(optimizer, last_epoch=last_iter)

    def state_dict(self) -> dict:  # noqa: D102
        # the schedule itself is rebuilt from the config; only the position is state
        return {"base_lrs": self.base_lrs, "last_epoch": self.last_epoch}

    def get_lr(self) -> List[float]:  # noqa: D102
        mult = self._multiplier(min(self.last_epoch / self._max_iter, 1.0 - 1e-12))
        return [base_lr * mult for base_lr in self.base_lrs]
