"""Evaluator base classes, the evaluator registry and the distributed gather.

Life cycle (detectron2 style; the engine's inference loop drives it):
``reset()`` once, ``process(inputs, outputs)`` per batch, ``evaluate()`` once at the end.
``process`` must reduce each image to compact statistics at once (never keep predictions),
and ``evaluate`` gathers those statistics from all workers a single time; only the main
process (rank 0) computes and returns metrics, the others return ``{}``.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from fvcore.common.registry import Registry

from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

__all__ = [
    "SGG_EVALUATOR_REGISTRY",
    "DatasetEvaluator",
    "DatasetEvaluators",
    "PerImageEvaluator",
    "eval_mode_from_config",
    "build_evaluator",
    "gather_to_main",
    "is_main_process",
]

logger = logging.getLogger(__name__)

SGG_EVALUATOR_REGISTRY = Registry("SGG_EVALUATOR")
SGG_EVALUATOR_REGISTRY.__doc__ = """
Registry of scene-graph evaluators, one per dataset protocol.

A registered class is a :class:`DatasetEvaluator` subclass with:

* a class attribute ``evaluator_type`` equal to a dataset's
  ``DatasetMetadata.evaluator_type`` (``"vg150"``, ``"oiv6"``); :func:`build_evaluator`
  picks the class by it;
* an ``__init__`` that takes plain values only (predicate names, mode, zero-shot triplets,
  thresholds, output directory), so it is built in a test without config or dataset;
* a classmethod ``from_config(cfg, metadata, output_dir=None) -> dict`` of those kwargs;
* ``process(inputs: list[SceneGraphRecord], outputs: list[SceneGraphPrediction])`` that
  keeps only compact per-image statistics (bounded size per image), and ``evaluate()``
  returning ``{mode: {metric name: float}, ...}`` on the main process, ``{}`` elsewhere.
"""


def _dist():
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return None
    if dist.is_available() and dist.is_initialized():
        return dist
    return None


def is_main_process() -> bool:
    """True when not distributed or when this is rank 0."""
    dist = _dist()
    return dist is None or dist.get_rank() == 0


def gather_to_main(obj: Any) -> list[Any]:
    """Gather one picklable object per worker; returns the list on every rank.

    Without an initialised process group it returns ``[obj]``. Uses
    ``torch.distributed.all_gather_object`` (one collective call).
    """
    dist = _dist()
    if dist is None or dist.get_world_size() == 1:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


class DatasetEvaluator:
    """Base class: accumulate per-image statistics, then compute metrics once."""

    def reset(self) -> None:
        """Clear the accumulated statistics (called before an evaluation run)."""

    def process(self, inputs: Sequence[SceneGraphRecord], outputs: Sequence[SceneGraphPrediction]) -> None:
        """Fold a batch of ground-truth records and matching predictions into the statistics."""

    def evaluate(self) -> dict[str, Any]:
        """Return ``{task: {metric: value}}`` on the main process, ``{}`` on other ranks."""
        return {}


def eval_mode_from_config(cfg) -> str:
    """``predcls`` / ``sgcls`` / ``sgdet`` from ``MODEL.ROI_RELATION_HEAD.USE_GT_BOX`` and ``USE_GT_OBJECT_LABEL``."""
    rh = cfg.MODEL.ROI_RELATION_HEAD
    return ("predcls" if rh.USE_GT_OBJECT_LABEL else "sgcls") if rh.USE_GT_BOX else "sgdet"


class PerImageEvaluator(DatasetEvaluator):
    """Evaluator that folds images one at a time (:meth:`process_one`) and reports through
    ``format_log`` / ``write_outputs`` (files only when ``self.output_dir`` is set)."""

    output_dir: str | None = None

    def process(self, inputs: Sequence[SceneGraphRecord], outputs: Sequence[SceneGraphPrediction]) -> None:
        """Check that inputs and outputs pair up, then :meth:`process_one` each image."""
        if len(inputs) != len(outputs):
            raise ValueError(f"process(): {len(inputs)} inputs but {len(outputs)} outputs")
        for rec, pred in zip(inputs, outputs):
            self.process_one(rec, pred)

    def process_one(self, rec: SceneGraphRecord, pred: SceneGraphPrediction) -> None:
        """Fold one image into the statistics."""
        raise NotImplementedError

    def format_log(self, results: dict[str, Any]) -> str:
        """The text block logged after an evaluation."""
        raise NotImplementedError

    def write_outputs(self, results: dict[str, Any], output_dir: str) -> None:
        """Write the metric files of ``results`` into ``output_dir``."""
        raise NotImplementedError

    def report(self, results: dict[str, Any]) -> dict[str, Any]:
        """Log ``results`` (logger of the subclass's module), write them if ``output_dir``; returns them."""
        log = logging.getLogger(type(self).__module__)
        if log.isEnabledFor(logging.INFO):  # the text costs milliseconds; build it only when it is shown
            log.info(self.format_log(results))
        if self.output_dir:
            self.write_outputs(results, self.output_dir)
        return results


class DatasetEvaluators(DatasetEvaluator):
    """Run several evaluators side by side and merge their result dicts."""

    def __init__(self, evaluators: Sequence[DatasetEvaluator]):
        super().__init__()
        self._evaluators = list(evaluators)

    @property
    def output_dir(self) -> str | None:
        """The folder all member evaluators write their own files to (None unless they all do)."""
        dirs = {getattr(ev, "output_dir", None) for ev in self._evaluators}
        return dirs.pop() if len(dirs) == 1 else None

    def reset(self) -> None:
        for ev in self._evaluators:
            ev.reset()

    def process(self, inputs, outputs) -> None:
        for ev in self._evaluators:
            ev.process(inputs, outputs)

    def evaluate(self) -> dict[str, Any]:
        results: dict[str, Any] = OrderedDict()
        for ev in self._evaluators:
            res = ev.evaluate() or {}
            for key, value in res.items():
                if key in results:
                    raise KeyError(f"Two evaluators produced results with the same key {key!r}")
                results[key] = value
        return results


def build_evaluator(cfg, metadata, output_dir: str | None = None) -> DatasetEvaluator:
    """Build the evaluator whose ``evaluator_type`` equals ``metadata.evaluator_type``."""
    wanted = getattr(metadata, "evaluator_type", None)
    for _name, cls in SGG_EVALUATOR_REGISTRY:
        if getattr(cls, "evaluator_type", None) == wanted:
            return cls(**cls.from_config(cfg, metadata, output_dir=output_dir))
    known = sorted(getattr(c, "evaluator_type", "?") for _n, c in SGG_EVALUATOR_REGISTRY)
    raise KeyError(f"No evaluator registered for evaluator_type={wanted!r}; known: {known}")
