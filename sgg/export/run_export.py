"""Run a trained model over a registered dataset split and stream its scene graphs to JSON or HDF5.

The logic behind ``tools/export.py``::

    cfg = export_config("configs/toy/sgcls_motifs.yaml", ["MODEL.WEIGHTS", "model_final.pth"], task="sgcls")
    export_dataset(cfg, "toy_test", "scene_graphs.json", options=ExportOptions(topk_relations=100))
    export_dataset(cfg, "toy_test", "predictions.h5", options=ExportOptions(full_scores=True), compact=True)

The model and the test loader come from :class:`sgg.engine.SGGTrainer` (``build_model``,
``build_test_loader``), the weights are loaded with :class:`sgg.engine.SGGCheckpointer`. Images are
written one batch at a time (:class:`SceneGraphWriter` / :class:`HDF5PredictionWriter`), so a split
never sits in memory; the output appears atomically when the last image is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from .atomic import check_target
from .compact import compact_prediction
from .hdf5_io import HDF5PredictionWriter
from .scene_graph_json import ExportOptions, SceneGraphWriter, filter_prediction

__all__ = [
    "HDF5_SUFFIXES",
    "JSON_SUFFIXES",
    "export_config",
    "export_dataset",
    "model_meta_from_config",
    "output_format",
]

logger = logging.getLogger(__name__)

JSON_SUFFIXES = (".json",)
HDF5_SUFFIXES = (".h5", ".hdf5")


def output_format(path: str | os.PathLike) -> str:
    """``"json"`` or ``"hdf5"`` from the file extension; anything else is an error."""
    suffix = Path(path).suffix.lower()
    if suffix in JSON_SUFFIXES:
        return "json"
    if suffix in HDF5_SUFFIXES:
        return "hdf5"
    raise ValueError(
        f"--out {path}: unknown extension {suffix or '(none)'!r}; use .json (readable scene graphs) "
        f"or .h5 / .hdf5 (binary predictions)"
    )


def export_config(config_file: str, opts: Sequence[str] = (), task: str | None = None):
    """Defaults <- ``config_file`` <- ``KEY VALUE`` overrides <- ``task``, frozen (``setup_cfg``)."""
    from argparse import Namespace

    from sgg.engine.defaults import setup_cfg

    return setup_cfg(Namespace(config_file=config_file, opts=list(opts), task=task))


def model_meta_from_config(cfg) -> dict[str, Any]:
    """The ``model`` block of an exported file: heads, detector, weights, config hash."""
    text = cfg.dump()
    return {
        "meta_architecture": str(cfg.MODEL.META_ARCHITECTURE),
        "relation_head": str(cfg.MODEL.ROI_RELATION_HEAD.PREDICTOR),
        "auxiliary_heads": [str(h) for h in cfg.MODEL.AUXILIARY.HEADS],
        "detector": str(cfg.MODEL.DETECTOR.ARCH),
        "weights": str(cfg.MODEL.WEIGHTS),
        "config_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


def _task_of(cfg) -> str:
    from sgg.modeling.meta_arch import mode_from_flags

    rh = cfg.MODEL.ROI_RELATION_HEAD
    return mode_from_flags(bool(rh.USE_GT_BOX), bool(rh.USE_GT_OBJECT_LABEL))


def _load_model(cfg) -> torch.nn.Module:
    """``SGGTrainer.build_model`` + ``MODEL.WEIGHTS`` loaded with ``SGGCheckpointer`` (required)."""
    from sgg.data.build import register_datasets_from_config
    from sgg.engine import SGGCheckpointer, SGGTrainer

    if not cfg.MODEL.WEIGHTS:
        raise ValueError("no trained weights: pass MODEL.WEIGHTS path/to/model_final.pth")
    if not os.path.isfile(cfg.MODEL.WEIGHTS):
        raise FileNotFoundError(f"MODEL.WEIGHTS {cfg.MODEL.WEIGHTS}: no such file")
    names = tuple(cfg.DATASETS.TRAIN) or tuple(cfg.DATASETS.TEST)
    if not names:
        raise ValueError(
            "DATASETS.TRAIN and DATASETS.TEST are empty: the model needs the class names of a dataset"
        )
    register_datasets_from_config(cfg, names[:1])
    model = SGGTrainer.build_model(cfg)
    SGGCheckpointer(model, save_to_disk=False).load(cfg.MODEL.WEIGHTS, checkpointables=[])
    return model


def export_dataset(
    cfg,
    dataset_name: str,
    out_path: str | os.PathLike,
    *,
    options: ExportOptions | None = None,
    compact: bool = False,
    overwrite: bool = False,
    score_dtype: str = "float32",
    model: torch.nn.Module | None = None,
    progress: bool = True,
) -> Path:
    """Predict every image of ``dataset_name`` and write them to ``out_path`` (``.json`` or ``.h5``).

    Args:
        cfg: the model's config; the task is its ``USE_GT_BOX`` / ``USE_GT_OBJECT_LABEL``.
        dataset_name: a registered split, or ``<prefix>_{train,val,test}`` under ``DATASETS.ROOT``.
        out_path: destination; the format follows the extension (:func:`output_format`).
        options: top-k / score thresholds / ``full_scores`` (:class:`ExportOptions`); the HDF5 file
            stores the same filtered prediction as the JSON file, with ``rel_scores`` only when
            ``full_scores``.
        compact: keep only the relation rows some metric can read
            (:func:`sgg.export.compact.compact_prediction`, exact; GT pairs in predcls/sgcls).
        overwrite: replace an existing ``out_path`` (otherwise ``FileExistsError`` before any work).
        score_dtype: HDF5 predicate score precision (``float32`` | ``float16``).
        model: an already loaded model (default: built from ``cfg`` with ``MODEL.WEIGHTS``).
        progress: show a tqdm bar.

    Returns:
        The path written.
    """
    from sgg.data.build import register_datasets_from_config
    from sgg.data.catalog import MetadataCatalog
    from sgg.engine import SGGTrainer, inference_context
    from sgg.engine.train_loop import move_to_device

    options = options or ExportOptions()
    fmt = output_format(out_path)
    check_target(out_path, overwrite)  # fail before building anything
    task = _task_of(cfg)
    register_datasets_from_config(cfg, [dataset_name])
    metadata = MetadataCatalog.get(dataset_name)
    if model is None:
        model = _load_model(cfg)
    loader = SGGTrainer.build_test_loader(cfg, dataset_name)
    header = dict(
        object_classes=metadata.object_classes,
        predicate_classes=metadata.predicate_classes,
        mode=task,
        dataset=dataset_name,
        model_meta=model_meta_from_config(cfg),
        overwrite=overwrite,
    )
    if fmt == "json":
        writer = SceneGraphWriter(out_path, options=options, meta={"compact": bool(compact)}, **header)
    else:
        writer = HDF5PredictionWriter(str(out_path), score_dtype=score_dtype, **header)
    device = next(model.parameters()).device
    # a model built for another task (e.g. passed in) runs in this one (SceneGraphRCNN.use_mode)
    mode_context = model.use_mode(task) if hasattr(model, "use_mode") else contextlib.nullcontext()
    try:
        with inference_context(model), torch.no_grad(), mode_context:
            for batch in tqdm(
                loader, desc=f"export {dataset_name}", unit="batch", disable=not progress, dynamic_ncols=True
            ):
                outputs = model(move_to_device(batch, device))
                if len(outputs) != len(batch):
                    raise RuntimeError(
                        f"the model returned {len(outputs)} predictions for {len(batch)} images"
                    )
                for sample, prediction in zip(batch, outputs):
                    record = getattr(sample, "record", sample)
                    if compact:
                        gt_pairs = record.relations[:, :2] if task != "sgdet" else None
                        prediction = compact_prediction(prediction, gt_pairs=gt_pairs)
                    if fmt == "hdf5":
                        prediction = filter_prediction(prediction, options)
                        if not options.full_scores:
                            prediction.rel_scores = None
                    writer.add(record, prediction)
    except BaseException:
        writer.abort()
        raise
    path = Path(writer.close())
    logger.info("Wrote %d %s scene graphs of %s to %s", len(writer), task, dataset_name, path)
    return path
