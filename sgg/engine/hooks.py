"""Hooks of the training loop: timing, LR schedule, checkpoints, evaluation, writers, progress bar."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, Optional

import torch
from fvcore.common.checkpoint import PeriodicCheckpointer as _FvPeriodicCheckpointer

from ..utils import comm
from ..utils.events import EventWriter
from ..utils.seed import get_rng_states, set_rng_states
from .train_loop import HookBase

__all__ = [
    "IterationTimer",
    "LRScheduler",
    "PeriodicCheckpointer",
    "EvalHook",
    "PeriodicWriter",
    "ProgressBar",
    "flatten_results",
]

logger = logging.getLogger(__name__)


def flatten_results(results: Mapping, prefix: str = "") -> Dict[str, float]:
    """``{"predcls": {"R@50": x}}`` -> ``{"predcls/R@50": x}`` (numbers only)."""
    out: Dict[str, float] = {}
    for k, v in results.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_results(v, key + "/"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    return out


class IterationTimer(HookBase):
    """Record the wall time of each step as scalar ``time`` and log the total at the end."""

    def __init__(self) -> None:
        self._step_start = 0.0
        self._train_start = 0.0

    def before_train(self) -> None:  # noqa: D102
        self._train_start = time.perf_counter()

    def before_step(self) -> None:  # noqa: D102
        self._step_start = time.perf_counter()

    def after_step(self) -> None:  # noqa: D102
        self.trainer.storage.put_scalar("time", time.perf_counter() - self._step_start)

    def after_train(self) -> None:  # noqa: D102
        done = self.trainer.iter - self.trainer.start_iter
        total = time.perf_counter() - self._train_start
        if done > 0:
            logger.info("Trained %d iterations in %.1f s (%.4f s/it)", done, total, total / done)


class LRScheduler(HookBase):
    """Record the learning rate used in the step (scalar ``lr``), then step the schedule."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler
    ) -> None:
        self.optimizer = optimizer
        self.scheduler = scheduler
        # report the group with most parameters (the main LR, not the norm/bias group)
        self._group = max(
            range(len(optimizer.param_groups)), key=lambda i: len(optimizer.param_groups[i]["params"])
        )

    def after_step(self) -> None:  # noqa: D102
        lr = self.optimizer.param_groups[self._group]["lr"]
        self.trainer.storage.put_scalar("lr", lr, smoothing_hint=False)
        self.scheduler.step()


class PeriodicCheckpointer(HookBase):
    """Save ``model_<iter>.pth`` every ``period`` iterations and ``model_final.pth`` at the end.

    Each file also holds the trainer state needed to continue exactly: ``iteration``, the number
    of batches consumed, and the RNG states of every rank (gathered, so this is collective).

    Args:
        checkpointer: an :class:`~sgg.engine.checkpoint.SGGCheckpointer`.
        period: save interval in iterations.
        max_to_keep: periodic files kept on disk (the final file is always kept).
    """

    def __init__(self, checkpointer, period: int, max_to_keep: Optional[int] = None) -> None:
        self.checkpointer = checkpointer
        self.period = int(period)
        self.max_to_keep = max_to_keep
        self._periodic: Optional[_FvPeriodicCheckpointer] = None

    def before_train(self) -> None:  # noqa: D102
        self._periodic = _FvPeriodicCheckpointer(
            self.checkpointer,
            self.period,
            max_iter=self.trainer.max_iter,
            max_to_keep=self.max_to_keep if self.max_to_keep and self.max_to_keep > 0 else None,
        )

    def _trainer_state(self) -> Dict[str, Any]:
        return {
            "trainer": {
                "batches_consumed": int(self.trainer.batches_consumed),
                "rng_states": comm.all_gather(get_rng_states()),
                "world_size": comm.get_world_size(),
            }
        }

    def after_step(self) -> None:  # noqa: D102
        it = self.trainer.iter
        if (it + 1) % self.period == 0 or it >= self.trainer.max_iter - 1:
            state = self._trainer_state()  # collective: every rank takes part
            if comm.is_main_process():
                self._periodic.step(it, **state)


class EvalHook(HookBase):
    """Run ``eval_function()`` every ``period`` iterations and after the last one.

    Results (``{dataset: {task: {metric: value}}}``) are flattened into scalars of the event
    storage (written to metrics.json and tensorboard) and kept in ``latest_results``. RNG states
    are saved and restored around the evaluation, so evaluating does not change the training run.

    Args:
        period: evaluation interval in iterations (0 = only at the end).
        eval_function: no-argument callable returning the results dict.
    """

    def __init__(self, period: int, eval_function: Callable[[], Mapping]) -> None:
        self.period = int(period)
        self.eval_function = eval_function
        self.latest_results: Optional[Mapping] = None

    def _do_eval(self) -> None:
        rng = get_rng_states()
        try:
            results = self.eval_function()
        finally:
            set_rng_states(rng)
        self.latest_results = results
        if results:
            self.trainer.storage.put_scalars(smoothing_hint=False, **flatten_results(results))
        comm.synchronize()

    def after_step(self) -> None:  # noqa: D102
        nxt = self.trainer.iter + 1
        if self.period > 0 and nxt % self.period == 0 and nxt != self.trainer.max_iter:
            self._do_eval()

    def after_train(self) -> None:  # noqa: D102
        # only when training finished (not after an exception)
        if self.trainer.iter >= self.trainer.max_iter:
            self._do_eval()


class PeriodicWriter(HookBase):
    """Call every writer every ``period`` iterations and at the end; close them afterwards.

    Writers with a ``truncate_from(iteration)`` method (the JSON writer) drop stale entries of a
    previous attempt at or after the start iteration, so a resumed run has no duplicate lines.
    """

    def __init__(self, writers: List[EventWriter], period: int = 20) -> None:
        self.writers = writers
        self.period = int(period)

    def before_train(self) -> None:  # noqa: D102
        for w in self.writers:
            if hasattr(w, "truncate_from"):
                w.truncate_from(self.trainer.start_iter)

    def after_step(self) -> None:  # noqa: D102
        it = self.trainer.iter
        if (it + 1) % self.period == 0 or it == self.trainer.max_iter - 1:
            for w in self.writers:
                w.write()

    def after_train(self) -> None:  # noqa: D102
        for w in self.writers:
            w.write()  # e.g. final evaluation results
            w.close()


class ProgressBar(HookBase):
    """A tqdm bar with ETA over the training iterations (main process only)."""

    def __init__(self, disable: Optional[bool] = None) -> None:
        self.disable = disable
        self._bar = None

    def before_train(self) -> None:  # noqa: D102
        from tqdm import tqdm

        disable = (not comm.is_main_process()) if self.disable is None else self.disable
        self._bar = tqdm(
            total=self.trainer.max_iter,
            initial=self.trainer.start_iter,
            desc="train",
            unit="it",
            dynamic_ncols=True,
            disable=disable,
        )

    def after_step(self) -> None:  # noqa: D102
        hist = self.trainer.storage.histories()
        if "total_loss" in hist:
            self._bar.set_postfix(loss=f"{hist['total_loss'].latest():.4g}", refresh=False)
        self._bar.update(1)

    def after_train(self) -> None:  # noqa: D102
        if self._bar is not None:
            self._bar.close()
