"""Logic of ``tools/evaluate.py``: score an exported scene-graph file against a dataset split.

File loading stays at the edge (:func:`load_inputs`, :func:`open_predictions`);
:func:`run_evaluation` is the core and takes GT records and predictions keyed by file name
(a mapping, or a reader that loads one image per lookup), so it is testable without files.

Predictions files: the JSON export (``sgg.export.scene_graph_json``, read whole) or the HDF5
binary file (``sgg.export.hdf5_io``, recognised by its signature bytes whatever the
extension), which is read one image at a time: evaluation memory then stays bounded however
many images the file holds.
"""
from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

from ..data.catalog import load_zeroshot_triplets
from .oi_evaluator import OIRelationEvaluator
from .report import write_json_atomic
from .validation import EVAL_MODES, check_prediction, check_record
from .vg_evaluator import VGSceneGraphEvaluator

__all__ = [
    "build_parser",
    "is_hdf5_file",
    "load_inputs",
    "load_zeroshot_triplets",
    "main",
    "open_predictions",
    "run_evaluation",
]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

logger = logging.getLogger("sgg.evaluate")


def _empty_prediction(num_predicates: int) -> SceneGraphPrediction:
    return SceneGraphPrediction(
        np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32),
        np.zeros((0, 2), np.int64), rel_scores=np.zeros((0, num_predicates + 1), np.float32),
    )


def _names_preview(names: Sequence[str], n: int = 5) -> str:
    names = sorted(names)
    more = f" (+{len(names) - n} more)" if len(names) > n else ""
    return ", ".join(repr(x) for x in names[:n]) + more


class _Predictions:
    """Uniform, lazy view of a predictions container: names and one-image lookup."""

    def __init__(self, predictions: Any):
        if isinstance(predictions, Mapping):
            self.names = list(predictions)
            self._get = predictions.get
        elif hasattr(predictions, "file_names") and hasattr(predictions, "__getitem__"):
            self.names = list(predictions.file_names())
            known = set(self.names)
            self._get = lambda name: predictions[name][1] if name in known else None
        else:
            raise TypeError(
                f"predictions must be a mapping file_name -> SceneGraphPrediction or a reader with file_names() "
                f"and [file_name] -> (info, prediction); got {type(predictions).__name__}"
            )

    def get(self, name: str) -> SceneGraphPrediction | None:
        return self._get(name)


def run_evaluation(
    gt_records: Sequence[SceneGraphRecord],
    predictions: Mapping[str, SceneGraphPrediction] | Any,
    *,
    mode: str,
    dataset_format: str,
    predicate_classes: Sequence[str],
    zeroshot_triplets: np.ndarray | None = None,
    missing_as_empty: bool = False,
    output_dir: str | None = None,
    source: str = "predictions",
    dataset_name: str = "",
) -> dict[str, Any]:
    """Evaluate ``predictions`` (file name -> prediction) against ``gt_records``.

    ``predictions`` is a mapping or a reader such as
    :class:`sgg.export.hdf5_io.HDF5PredictionReader` (``file_names()``, ``reader[name] ->
    (info, prediction)``); images are then loaded and reduced one at a time.
    Images are matched by ``file_name``. Errors (``ValueError``, naming ``source``): a
    prediction for an unknown file name; a GT image without prediction (unless
    ``missing_as_empty``: then it gets an empty prediction, which VG-150 skips and OI-V6
    counts as recall 0, as the reference code does); a malformed prediction (box, NaN
    score, number of predicate scores). Without ``predicate_scores`` the VG-150 evaluator
    reports only graph-constrained metrics; the OI-V6 protocol needs them.
    """
    if mode not in EVAL_MODES:
        raise ValueError(f"mode must be one of {EVAL_MODES}, got {mode!r}")
    num_predicates = len(predicate_classes) - 1
    by_name: dict[str, SceneGraphRecord] = {}
    for rec in gt_records:
        if rec.file_name in by_name:
            raise ValueError(f"ground truth: file_name {rec.file_name!r} appears twice")
        by_name[rec.file_name] = rec
    preds = _Predictions(predictions)
    unknown = [n for n in preds.names if n not in by_name]
    if unknown:
        raise ValueError(
            f"{source}: {len(unknown)} image(s) are not in the ground-truth split: {_names_preview(unknown)} "
            "(images are matched by images[].file_name)"
        )
    have = set(preds.names)
    missing = [n for n in by_name if n not in have]
    del have
    if missing and not missing_as_empty:
        raise ValueError(
            f"{source}: {len(missing)} ground-truth image(s) have no prediction: {_names_preview(missing)}; "
            "pass --missing-as-empty to count them as images without predictions"
        )
    if missing:
        logger.warning("%d GT images have no prediction; evaluated as empty predictions", len(missing))
    if dataset_format == "vg150":
        evaluator = VGSceneGraphEvaluator(predicate_classes, mode, zeroshot_triplets=zeroshot_triplets,
                                          output_dir=output_dir, dataset_name=dataset_name, validate=False)
    elif dataset_format == "oiv6":
        evaluator = OIRelationEvaluator(predicate_classes, mode, output_dir=output_dir,
                                        dataset_name=dataset_name, validate=False)
    else:
        raise ValueError(f"dataset_format must be 'vg150' or 'oiv6', got {dataset_format!r}")
    empty = _empty_prediction(num_predicates)
    no_scores: list[str] = []
    for rec in tqdm(gt_records, desc="evaluate", unit="img", disable=len(gt_records) < 1000, dynamic_ncols=True):
        pred = preds.get(rec.file_name)
        if pred is None:
            pred = empty
        where = f"{source}: images[file_name={rec.file_name!r}]"
        if pred.rel_scores is None and len(pred.rel_pair_idxs):
            if dataset_format == "oiv6":
                raise ValueError(
                    f"{where} has relations without predicate_scores; the OI-V6 protocol needs all predicate "
                    "scores (export with --full-scores)"
                )
            no_scores.append(rec.file_name)
        check_record(rec, num_predicates)
        check_prediction(pred, num_predicates, where)
        if pred.num_relations and pred.num_objects == 0:
            raise ValueError(f"{where} has relations but no objects")
        evaluator.process_one(rec, pred)
    if no_scores:
        logger.warning(
            "%s: %d image(s) lack predicate_scores (e.g. %r): only graph-constrained metrics (R@K, mR@K, zR@K, "
            "A@K, F@K) are computed; re-export with --full-scores for ngR / ng-mR / ng-zR.",
            source, len(no_scores), no_scores[0])
    return evaluator.evaluate()


def _unpack_scenes(scenes: Any) -> tuple[dict[str, Any], dict[str, SceneGraphPrediction]]:
    """(meta, predictions by file name) from what ``read_scene_graphs`` returns."""
    if isinstance(scenes, tuple) and len(scenes) == 2:
        return dict(scenes[0] or {}), dict(scenes[1])
    meta = dict(getattr(scenes, "meta", None) or {})
    for attr in ("mode", "dataset", "model", "object_classes", "predicate_classes"):  # ScenesFile header
        if getattr(scenes, attr, None) is not None:
            meta[attr] = getattr(scenes, attr)
    for attr in ("predictions", "scenes", "graphs", "images"):
        preds = getattr(scenes, attr, None)
        if isinstance(preds, Mapping):
            return dict(meta), dict(preds)
    if isinstance(scenes, Mapping):
        return {}, dict(scenes)
    raise TypeError(f"cannot read predictions from a {type(scenes).__name__}")


def is_hdf5_file(path: str) -> bool:
    """True when ``path`` starts with the HDF5 signature (binary predictions file)."""
    with open(path, "rb") as f:
        return f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE


def open_predictions(path: str) -> tuple[dict[str, Any], Any]:
    """``(meta, predictions)`` of a predictions file; HDF5 gives an open lazy reader (close it).

    JSON (``read_scene_graphs``) is parsed whole and gives a dict file_name -> prediction;
    HDF5 gives a :class:`sgg.export.hdf5_io.HDF5PredictionReader` that reads one image per lookup.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such predictions file")
    if is_hdf5_file(path):
        from sgg.export.hdf5_io import HDF5PredictionReader

        reader = HDF5PredictionReader(path)
        return reader.meta, reader
    from sgg.export.scene_graph_json import read_scene_graphs

    return _unpack_scenes(read_scene_graphs(path))


def load_inputs(dataset_dir: str, dataset_format: str, split: str, predictions_path: str):
    """GT records (``sgg.data.load_dataset_split``) and the predictions (:func:`open_predictions`)."""
    from sgg.data import load_dataset_split

    records = load_dataset_split(dataset_dir, dataset_format, split)
    meta, preds = open_predictions(predictions_path)
    return records, meta, preds


def _predicate_classes(meta: Mapping[str, Any], records, preds, source: str) -> list:
    names = meta.get("predicate_classes") if isinstance(meta, Mapping) else None
    if names:
        return list(names)
    if not isinstance(preds, Mapping):
        raise ValueError(f"{source}: the file does not name its predicate_classes")
    widths = {p.rel_scores.shape[1] for p in preds.values() if p.rel_scores is not None}
    if len(widths) > 1:
        raise ValueError(f"{source}: predicate_scores have different lengths {sorted(widths)}")
    if widths:
        n = widths.pop() - 1
    else:
        ids = [r.relations[:, 2].max() for r in records if len(r.relations)]
        ids += [p.rel_labels.max() for p in preds.values() if len(p.rel_labels)]
        n = int(max(ids)) if ids else 1
    logger.warning("%s has no predicate_classes; using %d unnamed predicates", source, n)
    return ["__background__"] + [f"predicate_{i}" for i in range(1, n + 1)]


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``tools/evaluate.py``."""
    ap = argparse.ArgumentParser(description="Evaluate exported scene graphs (VG-150 SGB / OI-V6 PySGG protocols).")
    ap.add_argument("--dataset-dir", required=True, help="dataset root (VG-150 or OI-V6 layout)")
    ap.add_argument("--dataset-format", required=True, choices=["vg150", "oiv6"])
    ap.add_argument("--split", default="test", choices=["train", "val", "test"])
    ap.add_argument("--mode", required=True, choices=list(EVAL_MODES))
    ap.add_argument("--predictions", required=True,
                    help="predictions file: scene_graphs.json (JSON export) or an HDF5 file "
                    "(sgg.export.hdf5_io, read image by image)")
    ap.add_argument("--zeroshot-triplets", default=None,
                    help="file of (subject label, object label, predicate) rows for zR (.npy/.json/.txt/.csv/.pt); "
                    "default: <dataset-dir>/zeroshot_triplets.npy when it exists")
    ap.add_argument("--out", default=None, help="write the metrics here as JSON (atomic)")
    ap.add_argument("--overwrite", action="store_true", help="allow replacing an existing --out file")
    ap.add_argument("--output-dir", default=None, help="also write metrics.json + per-predicate chart here")
    ap.add_argument("--missing-as-empty", action="store_true",
                    help="GT images absent from the predictions count as images without predictions")
    return ap


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Entry point: parse, load, evaluate, log SGB-style lines, optionally write JSON."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if args.out and os.path.exists(args.out) and not args.overwrite:
        raise SystemExit(f"error: {args.out} exists; pass --overwrite to replace it")
    records, meta, preds = load_inputs(args.dataset_dir, args.dataset_format, args.split, args.predictions)
    try:
        file_mode = meta.get("mode") if isinstance(meta, Mapping) else None
        if file_mode and file_mode != args.mode:
            logger.warning("%s was exported in mode %r but is evaluated as %r", args.predictions, file_mode, args.mode)
        zs_path = args.zeroshot_triplets
        default_zs = os.path.join(args.dataset_dir, "zeroshot_triplets.npy")
        if zs_path is None and os.path.isfile(default_zs):
            zs_path = default_zs
            logger.info("zero-shot triplets: %s (the dataset's own file)", zs_path)
        zs = load_zeroshot_triplets(zs_path) if zs_path else None
        results = run_evaluation(
            records, preds, mode=args.mode, dataset_format=args.dataset_format,
            predicate_classes=_predicate_classes(meta, records, preds, args.predictions),
            zeroshot_triplets=zs, missing_as_empty=args.missing_as_empty, output_dir=args.output_dir,
            source=args.predictions, dataset_name=str(meta.get("dataset", "")) if isinstance(meta, Mapping) else "",
        )
    finally:
        if hasattr(preds, "close"):
            preds.close()
    if args.out:
        write_json_atomic(args.out, results, overwrite=True)
        logger.info("Wrote %s", args.out)
    return results
