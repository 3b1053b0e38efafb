"""Run a model over a dataset: evaluation and (optionally) scene-graph export."""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
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
    """Stream predictions into a scene-graph file during inference, one image at a time.

    Nothing is kept per image: each ``process`` call hands the (optionally transformed)
    predictions to a writer at once, so memory does not grow with the number of images.

    With one process the writer writes ``path`` directly. With several, each rank streams
    into its own shard ``<path>.rank<r>-of-<w>`` and :meth:`finalize` has the main process
    copy the shards (read back one image at a time with ``read_shard``) into ``path`` and
    delete them.

    Args:
        path: destination file (``inference/<dataset>/scene_graphs.json`` or ``.h5``).
        open_writer: ``open_writer(path) -> writer``; the writer has ``add(info, prediction)``,
            ``close()`` and ``abort()`` (e.g. ``sgg.export.scene_graph_json.SceneGraphWriter``,
            ``sgg.export.hdf5_io.HDF5PredictionWriter``) and writes atomically.
        transform: optional ``transform(record, prediction) -> prediction`` applied before
            writing, e.g. :func:`sgg.export.compact.compact_for_evaluation` (exact compact export).
        read_shard: ``read_shard(path) -> iterable of (info, prediction)``; required when more
            than one process runs.
    """

    def __init__(
        self,
        path: str,
        open_writer: Callable[[str], Any],
        transform: Optional[Callable[[Any, Any], Any]] = None,
        read_shard: Optional[Callable[[str], Iterable[Tuple[Any, Any]]]] = None,
    ) -> None:
        self.path = path
        self.open_writer = open_writer
        self.transform = transform
        self.read_shard = read_shard
        self._writer: Any = None
        self.num_written = 0

    def _shard_path(self, rank: int, world: int) -> str:
        return f"{self.path}.rank{rank}-of-{world}"

    def _open(self) -> Any:
        if self._writer is None:
            world = comm.get_world_size()
            if world > 1 and self.read_shard is None:
                raise ValueError(
                    f"SceneGraphExporter({self.path!r}): {world} processes need read_shard to merge the per-rank files"
                )
            target = self.path if world == 1 else self._shard_path(comm.get_rank(), world)
            self._writer = self.open_writer(target)
        return self._writer

    def process(self, inputs: Sequence[Any], outputs: Sequence[Any]) -> None:
        """Write ``(record, prediction)`` of every image of the batch now."""
        writer = self._open()
        for rec, pred in zip(inputs, outputs):
            if self.transform is not None:
                pred = self.transform(rec, pred)
            writer.add(rec, pred)
            self.num_written += 1

    def abort(self) -> None:
        """Discard the file being written (used when inference fails)."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None

    def finalize(self) -> Optional[str]:
        """Close (and merge the shards on the main process); returns the path there, ``None`` elsewhere."""
        self._open().close()
        self._writer = None
        world = comm.get_world_size()
        if world == 1:
            logger.info("Wrote %d scene graphs to %s", self.num_written, self.path)
            return self.path
        comm.synchronize()
        if not comm.is_main_process():
            return None
        shards = [self._shard_path(r, world) for r in range(world)]
        writer = self.open_writer(self.path)
        count = 0
        try:
            for shard in shards:
                for info, pred in self.read_shard(shard):
                    writer.add(info, pred)
                    count += 1
        except BaseException:
            writer.abort()
            raise
        writer.close()
        for shard in shards:
            os.remove(shard)
        logger.info("Wrote %d scene graphs to %s (merged from %d processes)", count, self.path, world)
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
    ``process(records, predictions)`` and the exporter, when given, the same. Neither the loop
    nor the exporter keeps predictions: each batch is reduced (evaluator) and written
    (exporter) before the next one, so memory does not grow with the number of images. If
    inference fails, the exporter's partial file is discarded.

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
    try:
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
                del outputs, batch  # nothing of this batch outlives the iteration
    except BaseException:
        if exporter is not None:
            exporter.abort()
        raise
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
