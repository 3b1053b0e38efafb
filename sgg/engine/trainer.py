"""``SGGTrainer``: the default training set-up built from a config (detectron2 ``DefaultTrainer`` style).

Every component comes from an overridable classmethod, so a project (or a test) can subclass the
trainer and swap the model, the loaders, the evaluator or the exporter::

    class MyTrainer(SGGTrainer):
        @classmethod
        def build_model(cls, cfg): return MyModel().to(resolve_device(cfg))

The default builders import the toolkit's modules lazily: ``sgg.modeling.build.build_model``,
``sgg.data.build.build_train_loader/build_test_loader``, ``sgg.data.catalog.MetadataCatalog``,
``sgg.evaluation.base.build_evaluator`` and the streaming writers of ``sgg.export``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..solver import build_lr_scheduler, build_optimizer
from ..utils import comm
from ..utils.events import CommonMetricPrinter, EventWriter, JSONWriter, TensorboardWriter
from ..utils.io import atomic_write_text, jsonable
from . import hooks
from .checkpoint import SGGCheckpointer, unwrap_model
from .inference import SceneGraphExporter, inference_on_dataset
from .train_loop import HookBase, SimpleTrainer

__all__ = ["SGGTrainer", "resolve_device", "create_ddp_model"]

logger = logging.getLogger(__name__)


def resolve_device(cfg) -> torch.device:
    """The device of this process: ``MODEL.DEVICE`` ("cpu", "cuda", "auto"); CUDA uses the local rank's GPU."""
    name = str(cfg.MODEL.DEVICE)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                "MODEL.DEVICE is 'cuda' but CUDA is not available; use MODEL.DEVICE cpu or auto"
            )
        if name == "cuda":
            return torch.device("cuda", torch.cuda.current_device())
    return torch.device(name)


def create_ddp_model(model: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
    """Wrap ``model`` in ``DistributedDataParallel`` when more than one process runs; else return it."""
    if comm.get_world_size() == 1:
        return model
    device = next(model.parameters()).device
    kw = {"device_ids": [device.index]} if device.type == "cuda" else {}
    return DistributedDataParallel(
        model, broadcast_buffers=False, find_unused_parameters=find_unused_parameters, **kw
    )


class SGGTrainer(SimpleTrainer):
    """Build model, optimizer, schedule, loader, checkpointer and hooks from ``cfg``; train; test.

    Usage::

        trainer = SGGTrainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        results = trainer.train()
    """

    def __init__(self, cfg) -> None:
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        ddp_model = create_ddp_model(model, bool(cfg.FIND_UNUSED_PARAMETERS))
        clip = cfg.SOLVER.CLIP_GRADIENTS
        super().__init__(
            ddp_model,
            data_loader,
            optimizer,
            grad_clip_norm=float(clip.MAX_NORM) if clip.ENABLED else None,
            amp=bool(cfg.SOLVER.AMP.ENABLED),
        )
        self.cfg = cfg
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        extra: Dict[str, Any] = {"optimizer": optimizer, "scheduler": self.scheduler}
        if self.grad_scaler is not None:
            extra["grad_scaler"] = self.grad_scaler
        self.checkpointer = SGGCheckpointer(model, cfg.OUTPUT_DIR, **extra)
        self.start_iter = 0
        self.max_iter = int(cfg.SOLVER.MAX_ITER)
        self._eval_hook: Optional[hooks.EvalHook] = None
        self.register_hooks(self.build_hooks())

    # ---------------------------------------------------------------- resuming
    def resume_or_load(self, resume: bool = False) -> None:
        """Resume from ``OUTPUT_DIR/last_checkpoint`` when ``resume`` and it exists; else load ``MODEL.WEIGHTS``.

        With ``resume`` the checkpoint's model, optimizer, schedule, iteration, data position and
        RNG states win over ``MODEL.WEIGHTS`` (logged). Without it only the model weights of
        ``MODEL.WEIGHTS`` are loaded and training starts at iteration 0.
        """
        weights = self.cfg.MODEL.WEIGHTS
        if resume and self.checkpointer.has_checkpoint():
            path = self.checkpointer.get_checkpoint_file()
            if weights and os.path.abspath(weights) != os.path.abspath(path):
                logger.warning("--resume: continuing from %s; MODEL.WEIGHTS=%s is not used", path, weights)
            extra = self.checkpointer.load(path)
            self.start_iter = int(extra.get("iteration", -1)) + 1
            state = extra.get("trainer", {})
            self.batches_consumed = int(state.get("batches_consumed", self.start_iter))
            rng = state.get("rng_states")
            if rng:
                if len(rng) != comm.get_world_size():
                    logger.warning(
                        "Checkpoint was written by %d processes, now %d: the continued run will not repeat the "
                        "original one exactly",
                        len(rng),
                        comm.get_world_size(),
                    )
                self._resume_rng_states = rng
            logger.info("Resumed from %s at iteration %d", path, self.start_iter)
        else:
            if resume:
                logger.info("--resume: no checkpoint in %s; starting from MODEL.WEIGHTS", self.cfg.OUTPUT_DIR)
            self.checkpointer.load(weights, checkpointables=[])
            self.start_iter = 0

    # ---------------------------------------------------------------- training
    def train(self) -> Optional[Dict[str, Any]]:
        """Train from ``start_iter`` to ``SOLVER.MAX_ITER``; returns the final evaluation results (main process)."""
        super().train(self.start_iter, self.max_iter)
        return self._eval_hook.latest_results if self._eval_hook is not None else None

    def build_hooks(self) -> List[Optional[HookBase]]:
        """Timer, LR schedule, checkpoints, evaluation, writers (main process) and progress bar, in this order."""
        cfg = self.cfg

        def eval_on_val() -> Dict[str, Any]:
            return self.test(cfg, unwrap_model(self.model), dataset_names=cfg.DATASETS.VAL, export=False)

        self._eval_hook = hooks.EvalHook(cfg.TEST.EVAL_PERIOD, eval_on_val) if cfg.DATASETS.VAL else None
        return [
            hooks.IterationTimer(),
            hooks.LRScheduler(self.optimizer, self.scheduler),
            hooks.PeriodicCheckpointer(self.checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD, cfg.SOLVER.MAX_KEEP),
            self._eval_hook,
            hooks.PeriodicWriter(self.build_writers(), period=cfg.LOG_PERIOD)
            if comm.is_main_process()
            else None,
            hooks.ProgressBar(),
        ]

    def build_writers(self) -> List[EventWriter]:
        """Console printer, ``metrics.json`` and tensorboard in ``OUTPUT_DIR``."""
        out = self.cfg.OUTPUT_DIR
        return [
            CommonMetricPrinter(self.max_iter),
            JSONWriter(os.path.join(out, "metrics.json")),
            TensorboardWriter(out),
        ]

    # ---------------------------------------------------------------- builders
    @classmethod
    def build_model(cls, cfg) -> nn.Module:
        """``sgg.modeling.build.build_model(cfg, metadata of DATASETS.TRAIN[0])`` on ``resolve_device(cfg)``."""
        from ..data.build import register_datasets_from_config
        from ..data.catalog import MetadataCatalog
        from ..modeling.build import build_model

        names = tuple(cfg.DATASETS.TRAIN) or tuple(cfg.DATASETS.TEST)
        register_datasets_from_config(cfg, names[:1])
        model = build_model(cfg, MetadataCatalog.get(names[0]))
        model.to(resolve_device(cfg))
        logger.info("Model:\n%s", model)
        return model

    @classmethod
    def build_optimizer(cls, cfg, model: nn.Module) -> torch.optim.Optimizer:
        """:func:`sgg.solver.build_optimizer`."""
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer: torch.optim.Optimizer):
        """:func:`sgg.solver.build_lr_scheduler`."""
        return build_lr_scheduler(cfg, optimizer)

    @classmethod
    def build_train_loader(cls, cfg):
        """``sgg.data.build.build_train_loader(cfg)``."""
        from ..data.build import build_train_loader

        return build_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name: str):
        """``sgg.data.build.build_test_loader(cfg, dataset_name)``."""
        from ..data.build import build_test_loader

        return build_test_loader(cfg, dataset_name)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name: str, output_dir: str):
        """The evaluator matching the dataset's ``evaluator_type`` (``sgg.evaluation``).

        ``TEST.UNCERTAINTY_SCORES`` adds :class:`~sgg.evaluation.uncertainty.RelationUncertaintyEvaluator`
        (results under ``"uncertainty"``). A detector-only model (``MODEL.RELATION_ON False``) gets the COCO box evaluator
        (``{"bbox": {"mAP@0.5", "mAP@0.75", "mAP@[.5:.95]"}}``) instead.
        """
        from ..data.catalog import MetadataCatalog
        from ..evaluation.base import build_evaluator

        meta = MetadataCatalog.get(dataset_name)
        if not cfg.MODEL.RELATION_ON:
            from ..evaluation.coco_detection import COCODetectionEvaluator

            return COCODetectionEvaluator(meta.object_classes)
        evaluator = build_evaluator(cfg, meta, output_dir=output_dir)
        if cfg.TEST.UNCERTAINTY_SCORES:
            from ..evaluation.base import DatasetEvaluators
            from ..evaluation.uncertainty import RelationUncertaintyEvaluator

            kwargs = RelationUncertaintyEvaluator.from_config(cfg, meta, output_dir=output_dir)
            evaluator = DatasetEvaluators([evaluator, RelationUncertaintyEvaluator(**kwargs)])
        return evaluator

    @classmethod
    def build_exporter(cls, cfg, dataset_name: str, path: str) -> SceneGraphExporter:
        """Streaming exporter of ``path``: JSON (``sgg.export.scene_graph_json``) or HDF5 (``sgg.export.hdf5_io``).

        The format follows the extension of ``path`` (``.h5``/``.hdf5``: binary, else JSON).
        ``TEST.EXPORT_COMPACT`` keeps per image only the relation rows any metric can read
        (:func:`sgg.export.compact.compact_for_evaluation`; evaluating the file gives exactly the
        numbers of the full predictions); the JSON top-k filters are then not applied, since they
        would cut rows the metrics read.
        """
        import hashlib

        from ..data.catalog import MetadataCatalog
        from ..evaluation.base import eval_mode_from_config
        from ..export.compact import compact_for_evaluation

        meta = MetadataCatalog.get(dataset_name)
        rh = cfg.MODEL.ROI_RELATION_HEAD
        mode = eval_mode_from_config(cfg)
        compact = bool(cfg.TEST.EXPORT_COMPACT)
        model_meta = {
            "head": rh.PREDICTOR if cfg.MODEL.RELATION_ON else "none (detector only)",
            "auxiliary_heads": list(cfg.MODEL.AUXILIARY.HEADS),
            "meta_architecture": cfg.MODEL.META_ARCHITECTURE,
            "config_sha256": hashlib.sha256(cfg.dump().encode("utf-8")).hexdigest(),
        }
        common = dict(object_classes=meta.object_classes, predicate_classes=meta.predicate_classes, mode=mode,
                      dataset=dataset_name, model_meta=model_meta, overwrite=False)
        if os.path.splitext(path)[1].lower() in (".h5", ".hdf5"):
            from ..export.hdf5_io import HDF5PredictionReader, HDF5PredictionWriter

            def open_writer(p: str):
                return HDF5PredictionWriter(p, **common)

            def read_shard(p: str):
                with HDF5PredictionReader(p) as reader:
                    yield from reader
        else:
            from ..export.scene_graph_json import SceneGraphWriter, read_scene_graphs

            topk_rel = -1 if compact else int(cfg.TEST.EXPORT_TOPK_RELATIONS)
            topk_obj = -1 if compact else int(cfg.TEST.EXPORT_TOPK_OBJECTS)

            def open_writer(p: str):
                return SceneGraphWriter(p, **common, full_scores=bool(cfg.TEST.EXPORT_FULL_SCORES),
                                        topk_relations=topk_rel, topk_objects=topk_obj)

            def read_shard(p: str):
                yield from read_scene_graphs(p).images.values()

        def transform(record, prediction):
            return compact_for_evaluation(prediction, mode, record, where=f"{path}: {record.file_name}")

        return SceneGraphExporter(path, open_writer, transform=transform if compact else None, read_shard=read_shard)

    @classmethod
    def test(
        cls,
        cfg,
        model: nn.Module,
        dataset_names: Optional[Sequence[str]] = None,
        export: Optional[bool] = None,
    ) -> Dict[str, Any]:
        """Evaluate ``model`` on each dataset (default ``DATASETS.TEST``).

        Writes ``OUTPUT_DIR/inference/<dataset>/metrics.json`` and, when ``export`` (default
        ``TEST.EXPORT``), ``scene_graphs.json`` (``TEST.EXPORT_FORMAT hdf5``: ``scene_graphs.h5``) next
        to it. Returns ``{dataset: results}`` on the
        main process (results are ``{}`` on other ranks).
        """
        names = tuple(cfg.DATASETS.TEST if dataset_names is None else dataset_names)
        export = bool(cfg.TEST.EXPORT) if export is None else export
        results: Dict[str, Any] = OrderedDict()
        for name in names:
            out_dir = os.path.join(cfg.OUTPUT_DIR, "inference", name)
            if comm.is_main_process():
                os.makedirs(out_dir, exist_ok=True)
            loader = cls.build_test_loader(cfg, name)
            evaluator = cls.build_evaluator(cfg, name, out_dir)
            fmt = str(cfg.TEST.EXPORT_FORMAT)
            if export and fmt not in ("json", "hdf5"):
                raise ValueError(f"TEST.EXPORT_FORMAT must be 'json' or 'hdf5', got {fmt!r}")
            ext = ".h5" if fmt == "hdf5" else ".json"
            exporter = (
                cls.build_exporter(cfg, name, os.path.join(out_dir, "scene_graphs" + ext)) if export else None
            )
            res = inference_on_dataset(model, loader, evaluator, exporter, desc=f"eval {name}")
            results[name] = res
            if comm.is_main_process() and res and not getattr(evaluator, "output_dir", None):
                # evaluators given an output_dir write their own (richer) metrics.json
                atomic_write_text(
                    os.path.join(out_dir, "metrics.json"), json.dumps(jsonable(res), indent=2, sort_keys=True)
                )
                logger.info("Results on %s:\n%s", name, json.dumps(jsonable(res), indent=2, sort_keys=True))
        return results
