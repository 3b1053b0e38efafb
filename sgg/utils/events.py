"""Training events: a per-iteration scalar store and the writers that publish it.

The trainer opens an :class:`EventStorage`; code running inside it calls
``get_event_storage().put_scalar(name, value)``. Writers read the store periodically:

* :class:`JSONWriter`: ``metrics.json``, one JSON object per line and iteration
  (``{"iteration": 19, "total_loss": ..., "lr": ...}``);
* :class:`TensorboardWriter`: tensorboard event files in the output folder;
* :class:`CommonMetricPrinter`: one log line with ETA, losses, time, learning rate and memory.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

import torch
from fvcore.common.history_buffer import HistoryBuffer

from .io import atomic_write_text

__all__ = [
    "EventStorage",
    "get_event_storage",
    "EventWriter",
    "JSONWriter",
    "TensorboardWriter",
    "CommonMetricPrinter",
]

_STORAGE_STACK: List[EventStorage] = []


def get_event_storage() -> EventStorage:
    """The innermost open :class:`EventStorage` (raises if none is open)."""
    if not _STORAGE_STACK:
        raise RuntimeError("get_event_storage() must be called inside a `with EventStorage(...)` block")
    return _STORAGE_STACK[-1]


class EventStorage:
    """Scalars per iteration with their smoothing hints; a context manager.

    Args:
        start_iter: iteration number of the first :meth:`put_scalar` calls.
    """

    def __init__(self, start_iter: int = 0) -> None:
        self.iter = int(start_iter)
        self._history: Dict[str, HistoryBuffer] = defaultdict(HistoryBuffer)
        self._smoothing: Dict[str, bool] = {}
        self._latest: Dict[str, Tuple[float, int]] = {}

    def put_scalar(self, name: str, value: float, smoothing_hint: bool = True) -> None:
        """Record ``value`` for ``name`` at the current iteration.

        ``smoothing_hint`` tells writers to publish the median over their window (losses)
        rather than the latest value (learning rate, evaluation metrics).
        """
        value = float(value.detach().item() if isinstance(value, torch.Tensor) else value)
        self._history[name].update(value, self.iter)
        self._latest[name] = (value, self.iter)
        old = self._smoothing.setdefault(name, smoothing_hint)
        if old != smoothing_hint:
            raise ValueError(f"Scalar {name!r} was put with different smoothing hints")

    def put_scalars(self, *, smoothing_hint: bool = True, **kwargs: float) -> None:
        """:meth:`put_scalar` for every keyword argument."""
        for k, v in kwargs.items():
            self.put_scalar(k, v, smoothing_hint=smoothing_hint)

    def history(self, name: str) -> HistoryBuffer:
        """The full history buffer of ``name``."""
        if name not in self._history:
            raise KeyError(f"No scalar named {name!r} was recorded; known: {sorted(self._history)}")
        return self._history[name]

    def histories(self) -> Dict[str, HistoryBuffer]:
        """All history buffers by name."""
        return self._history

    def latest(self) -> Dict[str, Tuple[float, int]]:
        """``{name: (latest value, iteration)}``."""
        return dict(self._latest)

    def latest_with_smoothing_hint(self, window_size: int = 20) -> Dict[str, Tuple[float, int]]:
        """Like :meth:`latest`, with smoothed scalars replaced by their median over ``window_size``."""
        out = {}
        for k, (v, it) in self._latest.items():
            out[k] = (self._history[k].median(window_size) if self._smoothing[k] else v, it)
        return out

    def step(self) -> None:
        """Advance to the next iteration."""
        self.iter += 1

    def __enter__(self) -> EventStorage:
        _STORAGE_STACK.append(self)
        return self

    def __exit__(self, *exc) -> None:
        assert _STORAGE_STACK[-1] is self
        _STORAGE_STACK.pop()


class EventWriter:
    """Base class of writers: :meth:`write` publishes new scalars, :meth:`close` releases files."""

    def write(self) -> None:  # noqa: D102
        raise NotImplementedError

    def close(self) -> None:  # noqa: D102
        pass


class JSONWriter(EventWriter):
    """Append one JSON object per iteration to ``json_file`` (``metrics.json``).

    Args:
        json_file: destination path.
        window_size: median window for scalars with a smoothing hint.
    """

    def __init__(self, json_file: str, window_size: int = 20) -> None:
        self.path = json_file
        self.window_size = window_size
        self._last_written = -1
        self._file = None

    def truncate_from(self, iteration: int) -> None:
        """Drop lines with ``"iteration" >= iteration`` (a resumed run rewrites them)."""
        self._last_written = iteration - 1
        if not os.path.exists(self.path):
            return
        keep = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    if json.loads(line).get("iteration", -1) < iteration:
                        keep.append(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
        atomic_write_text(self.path, "".join(keep))

    def write(self) -> None:  # noqa: D102
        storage = get_event_storage()
        by_iter: Dict[int, Dict[str, float]] = defaultdict(dict)
        for k, (v, it) in storage.latest_with_smoothing_hint(self.window_size).items():
            if it > self._last_written:
                by_iter[it][k] = v
        if not by_iter:
            return
        if self._file is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        for it in sorted(by_iter):
            self._file.write(json.dumps({"iteration": it, **by_iter[it]}, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._last_written = max(by_iter)

    def close(self) -> None:  # noqa: D102
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorboardWriter(EventWriter):
    """Write new scalars to tensorboard event files in ``log_dir``."""

    def __init__(self, log_dir: str, window_size: int = 20) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.window_size = window_size
        self._writer = SummaryWriter(log_dir=log_dir)
        self._last_written = -1

    def write(self) -> None:  # noqa: D102
        storage = get_event_storage()
        new_last = self._last_written
        for k, (v, it) in storage.latest_with_smoothing_hint(self.window_size).items():
            if it > self._last_written:
                self._writer.add_scalar(k, v, it)
                new_last = max(new_last, it)
        self._last_written = new_last
        self._writer.flush()

    def close(self) -> None:  # noqa: D102
        self._writer.close()


class CommonMetricPrinter(EventWriter):
    """Log ETA, losses, iteration time, data time, learning rate and peak GPU memory.

    Args:
        max_iter: total iterations (for the ETA).
        window_size: median window of the losses.
    """

    def __init__(self, max_iter: Optional[int] = None, window_size: int = 20) -> None:
        self.logger = logging.getLogger("sgg.engine")
        self.max_iter = max_iter
        self.window_size = window_size

    def _eta(self, storage: EventStorage) -> str:
        if self.max_iter is None:
            return ""
        it = storage.iter
        try:
            sec = storage.history("time").global_avg() * (self.max_iter - it - 1)
            storage.put_scalar("eta_seconds", sec, smoothing_hint=False)
            return str(datetime.timedelta(seconds=int(sec)))
        except KeyError:
            return ""

    def write(self) -> None:  # noqa: D102
        storage = get_event_storage()
        it = storage.iter
        if self.max_iter is not None and it >= self.max_iter:
            return  # after training: nothing new to print
        hist = storage.histories()
        fmt = lambda k: f"{hist[k].median(self.window_size):.4g}"  # noqa: E731
        losses = "  ".join(f"{k}: {fmt(k)}" for k in sorted(hist) if "loss" in k)
        parts = [f"eta: {self._eta(storage)}", f"iter: {it}", losses]
        if "time" in hist:
            parts.append(f"time: {hist['time'].avg(self.window_size):.4f}")
        if "data_time" in hist:
            parts.append(f"data_time: {hist['data_time'].avg(self.window_size):.4f}")
        if "lr" in hist:
            parts.append(f"lr: {hist['lr'].latest():.5g}")
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            parts.append(f"max_mem: {torch.cuda.max_memory_allocated() / 1024**2:.0f}M")
        self.logger.info("  ".join(p for p in parts if p))
