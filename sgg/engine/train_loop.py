"""The training loop: a hookable base class and a one-optimizer trainer.

``TrainerBase.train(start_iter, max_iter)`` runs ``before_step → run_step → after_step`` for each
iteration inside an :class:`~sgg.utils.events.EventStorage` and calls the hooks around it.
``SimpleTrainer.run_step`` does one optimisation step: next batch, forward (``model(batch)`` returns
a dict; entries whose name contains ``"loss"`` are summed, others are logged), a finite-loss
check, backward (with a CUDA ``GradScaler`` under float16 AMP), gradient clipping and the optimizer step.

Mixed precision (``amp=True``): float16 autocast with loss scaling on CUDA; bfloat16 autocast on the
CPU (no loss scaling: bfloat16 has float32's exponent range), which oneDNN runs natively on CPUs with
AVX512-BF16 or AMX (:func:`cpu_has_native_bf16`) and emulates, slowly, elsewhere.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from typing import Any, Dict, Iterable, List, Optional

import torch
from torch import nn

from ..utils import comm
from ..utils.events import EventStorage, get_event_storage
from ..utils.seed import set_rng_states

__all__ = ["HookBase", "TrainerBase", "SimpleTrainer", "move_to_device", "cpu_has_native_bf16", "autocast_dtype"]

logger = logging.getLogger(__name__)


def move_to_device(obj: Any, device: torch.device) -> Any:
    """Move tensors (and objects with a ``.to(device)`` method, like ``ImageSample``) in a batch."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to_device(x, device) for x in obj)
    if isinstance(obj, dict):
        return {k: move_to_device(v, device) for k, v in obj.items()}
    if hasattr(obj, "to") and callable(obj.to):
        return obj.to(device)
    return obj


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bfloat16 dot products natively (x86 AVX512-BF16 or AMX-BF16; Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def autocast_dtype(device: torch.device) -> torch.dtype:
    """The mixed-precision dtype of a device: float16 on CUDA, bfloat16 elsewhere (CPU)."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


class HookBase:
    """A callback of the training loop. ``self.trainer`` is set on registration."""

    trainer: TrainerBase

    def before_train(self) -> None:
        """Called once before the first iteration."""

    def after_train(self) -> None:
        """Called once after the last iteration (also after an exception)."""

    def before_step(self) -> None:
        """Called before each iteration."""

    def after_step(self) -> None:
        """Called after each iteration."""


class TrainerBase:
    """Iteration loop with hooks. Subclasses implement :meth:`run_step`."""

    def __init__(self) -> None:
        self._hooks: List[HookBase] = []
        self.iter = 0
        self.start_iter = 0
        self.max_iter = 0
        self.storage: EventStorage

    def register_hooks(self, hooks: Iterable[Optional[HookBase]]) -> None:
        """Append hooks (``None`` entries are skipped); they run in registration order."""
        for h in hooks:
            if h is None:
                continue
            h.trainer = weakref.proxy(self)
            self._hooks.append(h)

    def train(self, start_iter: int, max_iter: int) -> None:
        """Run iterations ``start_iter .. max_iter-1``."""
        logger.info("Starting training from iteration %d", start_iter)
        self.iter = self.start_iter = start_iter
        self.max_iter = max_iter
        with EventStorage(start_iter) as self.storage:
            try:
                self.before_train()
                for self.iter in range(start_iter, max_iter):
                    self.before_step()
                    self.run_step()
                    self.after_step()
                self.iter += 1  # == max_iter: training finished
            except Exception:
                logger.exception("Exception during training at iteration %d:", self.iter)
                raise
            finally:
                self.after_train()

    def before_train(self) -> None:  # noqa: D102
        for h in self._hooks:
            h.before_train()

    def after_train(self) -> None:  # noqa: D102
        self.storage.iter = self.iter
        for h in self._hooks:
            h.after_train()

    def before_step(self) -> None:  # noqa: D102
        self.storage.iter = self.iter
        for h in self._hooks:
            h.before_step()

    def after_step(self) -> None:  # noqa: D102
        for h in self._hooks:
            h.after_step()

    def run_step(self) -> None:  # noqa: D102
        raise NotImplementedError


class SimpleTrainer(TrainerBase):
    """One optimizer, one loss dict per step.

    Args:
        model: returns a dict of scalar tensors in training mode.
        data_loader: an iterable of batches (typically infinite).
        optimizer: the optimizer.
        grad_clip_norm: clip the global gradient norm to this value (``None`` = no clipping).
        amp: mixed precision: float16 + ``GradScaler`` on CUDA, bfloat16 autocast on the CPU.
    """

    def __init__(
        self,
        model: nn.Module,
        data_loader: Iterable,
        optimizer: torch.optim.Optimizer,
        *,
        grad_clip_norm: Optional[float] = None,
        amp: bool = False,
    ) -> None:
        super().__init__()
        model.train()
        self.model = model
        self.data_loader = data_loader
        self.optimizer = optimizer
        self.grad_clip_norm = grad_clip_norm
        self.device = next(model.parameters()).device
        self.amp = bool(amp) and self.device.type in ("cuda", "cpu")
        self.amp_dtype = autocast_dtype(self.device)
        if amp and not self.amp:
            logger.info("SOLVER.AMP.ENABLED is ignored: no mixed precision on %s", self.device)
        if self.amp and self.device.type == "cpu" and not cpu_has_native_bf16():
            logger.warning(
                "SOLVER.AMP.ENABLED on a CPU without AVX512-BF16/AMX: bfloat16 is emulated and may be slower"
            )
        self.grad_scaler = torch.amp.GradScaler("cuda") if self.amp and self.amp_dtype == torch.float16 else None
        self._data_iter = None
        self.batches_consumed = 0  # batches drawn by training; restored on resume
        self._resume_rng_states: Optional[List[Dict[str, Any]]] = None

    # -------------------------------------------------------------- data position
    def _start_data(self) -> None:
        """Create the data iterator at the saved position, then restore the saved RNG states.

        The RNG states are restored after the iterator exists, because creating a ``DataLoader``
        iterator draws from the global torch generator (as it did in the uninterrupted run,
        before the first step).
        """
        n = self.batches_consumed
        target = None
        for obj in (
            self.data_loader,
            getattr(self.data_loader, "batch_sampler", None),
            getattr(self.data_loader, "sampler", None),
        ):
            if obj is not None and callable(getattr(obj, "resume_from_batch", None)):
                target = obj
                break
        if n and target is not None:
            target.resume_from_batch(n)
            self._data_iter = iter(self.data_loader)
        else:
            self._data_iter = iter(self.data_loader)
            if n:
                logger.warning(
                    "The data loader has no resume_from_batch(); fast-forwarding %d batches to the saved position",
                    n,
                )
                for _ in range(n):
                    next(self._data_iter)
        if self._resume_rng_states is not None:
            states = self._resume_rng_states
            set_rng_states(states[comm.get_rank()] if comm.get_rank() < len(states) else states[0])
            self._resume_rng_states = None

    def before_train(self) -> None:  # noqa: D102
        self._start_data()
        super().before_train()

    # ------------------------------------------------------------------- a step
    def _next_batch(self) -> Any:
        if self._data_iter is None:
            self._start_data()
        batch = next(self._data_iter)
        self.batches_consumed += 1
        return move_to_device(batch, self.device)

    def run_step(self) -> None:
        """One forward/backward/update on the next batch."""
        assert self.model.training, "SimpleTrainer: the model was switched to eval mode"
        t0 = time.perf_counter()
        batch = self._next_batch()
        data_time = time.perf_counter() - t0

        with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            out = self.model(batch)
        if not isinstance(out, dict):
            raise TypeError(
                f"In training mode the model must return a dict of losses, got {type(out).__name__}"
            )
        loss_dict = {k: v for k, v in out.items() if "loss" in k}
        if not loss_dict:
            raise ValueError(f"The model returned no entry whose name contains 'loss': {sorted(out)}")
        total = sum(loss_dict.values())
        reduced = comm.reduce_dict({**{k: v.detach() for k, v in out.items()}, "total_loss": total.detach()})
        self._check_finite(reduced, loss_dict)

        self.optimizer.zero_grad(set_to_none=True)
        grad_norm = None
        if self.grad_scaler is not None:
            self.grad_scaler.scale(total).backward()
            self.grad_scaler.unscale_(self.optimizer)
            grad_norm = self._clip()
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            total.backward()
            grad_norm = self._clip()
            self.optimizer.step()

        storage = get_event_storage()
        storage.put_scalar("data_time", data_time)
        for k, v in reduced.items():
            storage.put_scalar(k, v)
        if grad_norm is not None:
            storage.put_scalar("grad_norm", grad_norm)

    def _clip(self) -> Optional[float]:
        if not self.grad_clip_norm:
            return None
        params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        return float(torch.nn.utils.clip_grad_norm_(params, self.grad_clip_norm))

    def _check_finite(self, reduced: Dict[str, torch.Tensor], local: Dict[str, torch.Tensor]) -> None:
        """Raise ``FloatingPointError`` naming the bad loss terms (same decision on every rank)."""
        total = float(reduced["total_loss"])
        if math.isfinite(total):
            return
        terms = ", ".join(f"{k}={float(v):.4g}" for k, v in sorted(reduced.items()))
        bad = sorted(k for k, v in reduced.items() if k in local and not math.isfinite(float(v)))
        raise FloatingPointError(
            f"Loss became {'NaN' if math.isnan(total) else 'infinite'} at iteration {self.iter} "
            f"(non-finite terms: {', '.join(bad) or 'total_loss'}; values: {terms}). Training stopped. "
            f"Try a lower SOLVER.BASE_LR, a longer SOLVER.WARMUP_ITERS or gradient clipping "
            f"(SOLVER.CLIP_GRADIENTS), and resume from the last checkpoint with --resume."
        )
