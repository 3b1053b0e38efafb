"""Run a model over a dataset: evaluation and (optionally) scene-graph export."""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn
from tqdm import tqdm

from ..utils import comm
from .train_loop import move_to_device

__all__ = ["inference_on_dataset", "inference_context", "SceneGraphExporter"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def inference_context(model: nn.Module):
    """Put ``model`` in eval mode for the block and restore its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class SceneGraphExporter:
    """Collect predictions per image during inference and write them once at the end.

    Every rank collects its share; :meth:`finalize` gathers them on the main process, which
    calls ``write_fn(path, predictions)`` with ``predictions`` = ``{file_name: (record, prediction)}``
    (the argument of :func:`sgg.export.scene_graph_json.write_scene_graphs`).

    Args:
        path: destination file (``inference/<dataset>/scene_graphs.json``).
        write_fn: the writer, e.g. a closure over ``write_scene_graphs`` and the file's metadata.
    """

    def __init__(self, path: str, write_fn: Callable[[str, Dict[str, Tuple[Any, Any]]], Any]) -> None:
        self.path = path
        self.write_fn = write_fn
        self._items: Dict[str, Tuple[Any, Any]] = {}

    def process(self, inputs: Sequence[Any], outputs: Sequence[Any]) -> None:
        """Keep ``(record, prediction)`` per image, keyed by ``record.file_name``."""
        for rec, pred in zip(inputs, outputs):
            self._items[rec.file_name] = (rec, pred)

    def finalize(self) -> Optional[str]:
        """Gather and write on the main process; returns the path there, ``None`` elsewhere."""
        parts = comm.gather(self._items)
        self._items = {}
        if not comm.is_main_process():
            return None
        merged: Dict[str, Tuple[Any, Any]] = {}
        for part in parts:
            merged.update(part)
        self.write_fn(self.path, merged)
        logger.info("Wrote %d scene graphs to %s", len(merged), self.path)
        return self.path


def inference_on_dataset(
    model: nn.Module,
    data_loader: Iterable,
    evaluator: Optional[Any],
    exporter: Optional[SceneGraphExporter] = None,
    desc: str = "inference",
) -> Dict[str, Any]:
    """Run ``model`` in eval mode without gradients over ``data_loader``.

    Each batch is a list of samples (``ImageSample`` or anything with a ``record`` attribute, or
    records themselves); the model returns one prediction per sample. The evaluator receives
    ``process(records, predictions)`` and the exporter, when given, the same.

    Returns:
        ``evaluator.evaluate()`` (``{}`` on non-main ranks or without an evaluator).
    """
    if evaluator is not None:
        evaluator.reset()
    device = next(model.parameters()).device
    try:
        total: Optional[int] = len(data_loader)  # type: ignore[arg-type]
    except TypeError:  # iterable-style datasets have no length
        total = None
    num_images, compute = 0, 0.0
    start = time.perf_counter()
    with inference_context(model), torch.no_grad():
        for batch in tqdm(
            data_loader,
            total=total,
            desc=desc,
            unit="batch",
            disable=not comm.is_main_process(),
            dynamic_ncols=True,
        ):
            t0 = time.perf_counter()
            outputs = model(move_to_device(batch, device))
            if device.type == "cuda":
                torch.cuda.synchronize()
            compute += time.perf_counter() - t0
            records: List[Any] = [getattr(s, "record", s) for s in batch]
            if len(outputs) != len(records):
                raise ValueError(
                    f"The model returned {len(outputs)} predictions for a batch of {len(records)} images"
                )
            if evaluator is not None:
                evaluator.process(records, outputs)
            if exporter is not None:
                exporter.process(records, outputs)
            num_images += len(records)
    elapsed = time.perf_counter() - start
    logger.info(
        "%s: %d images in %s (%.4f s/img compute, %.4f s/img total) on %d process(es)",
        desc,
        num_images,
        datetime.timedelta(seconds=int(elapsed)),
        compute / max(num_images, 1),
        elapsed / max(num_images, 1),
        comm.get_world_size(),
    )
    results = evaluator.evaluate() if evaluator is not None else {}
    if exporter is not None:
        exporter.finalize()
    return results or {}
