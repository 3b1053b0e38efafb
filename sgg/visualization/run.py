"""Logic of ``tools/visualize.py``: a predictions file (+ optional ground truth) -> viewer folder and drawings.

:func:`load_scene_graphs` reads a JSON export (``sgg-scene-graphs``) or an HDF5 export;
:func:`collect_images` pairs each predicted image with its GT record, its image file and, with
GT, the evaluator's decisions; :func:`build_viewer` writes the HTML viewer; :func:`draw_images`
writes drawings (with GT: the matched / missed / false-positive comparison at K).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tqdm import tqdm

from sgg.evaluation.decisions import TripletDecisions, vg_triplet_decisions
from sgg.evaluation.vg_evaluator import VGSceneGraphEvaluator
from sgg.export.graph import as_image_entry
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

from .select import SelectionOptions
from .viewer import ViewerOptions, image_url, order_images, safe_relative, serialise, write_viewer
from .viewer_data import image_payload, match_records

__all__ = ["GroundTruth", "LoadedImage", "ScenesInput", "build_viewer", "collect_images", "draw_images",
           "load_scene_graphs"]

logger = logging.getLogger(__name__)

PROTOCOL = (
    "Verdicts and recalls from the toolkit's VG-150 evaluator (SGB protocol, graph constraint): a GT triplet is "
    "matched at K when one of the top-K predicted relations has its subject and object labels, IoU >= {iou:g} on "
    "both boxes and its predicate; images without a GT relation or without a prediction are not counted (n/a)."
)


@dataclass
class ScenesInput:
    """A predictions file: its header and ``(entry, prediction)`` per image (entries as in the JSON format)."""

    path: str
    mode: str
    dataset: str
    model: dict
    object_classes: list[str]
    predicate_classes: list[str]
    images: Sequence[tuple[dict, SceneGraphPrediction]]
    file_names: list[str] | None = None  # the images' file names, in order (default: read from ``images``)

    def names(self) -> list[str]:
        """File names of the images, in file order."""
        if self.file_names is None:
            self.file_names = [entry["file_name"] for entry, _ in self.images]
        return self.file_names


@dataclass
class GroundTruth:
    """Ground truth of a dataset split, for the comparison."""

    records: Sequence[SceneGraphRecord]
    label: str  # e.g. "toy (vg150) test"
    object_classes: Sequence[str] | None = None
    predicate_classes: Sequence[str] | None = None
    iou_threshold: float = 0.5
    zeroshot_triplets: Any = None  # (Z, 3) rows (subject label, object label, predicate) for zR@K


@dataclass
class LoadedImage:
    """One predicted image with everything the viewer and the drawings need."""

    entry: dict
    prediction: SceneGraphPrediction
    image_path: str | None
    record: SceneGraphRecord | None = None
    decisions: TripletDecisions | None = None


def load_scene_graphs(path: str | os.PathLike) -> ScenesInput:
    """Read a JSON (validated) or HDF5 scene-graph export."""
    from sgg.evaluation.cli import is_hdf5_file

    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such predictions file")
    if is_hdf5_file(path):
        from sgg.export.hdf5_io import HDF5PredictionReader

        reader = HDF5PredictionReader(path)
        try:
            objs, preds = list(reader.object_classes), list(reader.predicate_classes)
            images = [(as_image_entry((info, pred), objs, preds), pred) for info, pred in reader]
            return ScenesInput(path, reader.mode, reader.dataset, dict(reader.model_meta), objs, preds, images)
        finally:
            reader.close()
    from sgg.export.scene_graph_json import read_scene_graphs

    scenes = read_scene_graphs(path)
    images = [(scenes.raw_images[name], scenes.images[name].prediction) for name in scenes.images]
    return ScenesInput(path, scenes.mode, scenes.dataset, dict(scenes.model), list(scenes.object_classes),
                       list(scenes.predicate_classes), images)


def _check_classes(scenes: ScenesInput, gt: GroundTruth) -> None:
    for kind, mine, theirs in (("object_classes", scenes.object_classes, gt.object_classes),
                               ("predicate_classes", scenes.predicate_classes, gt.predicate_classes)):
        if theirs is None or list(mine) == list(theirs):
            continue
        diff = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
        raise ValueError(
            f"{scenes.path}: field '{kind}' does not match the dataset {gt.label} ({len(mine)} vs {len(theirs)} "
            f"names; first difference at index {diff}: {mine[diff] if diff < len(mine) else None!r} vs "
            f"{theirs[diff] if diff < len(theirs) else None!r}); these predictions belong to another dataset"
        )


def _locate(name: str, record: SceneGraphRecord | None, image_dir: str | None, json_dir: str) -> str | None:
    candidates = []
    if record is not None and record.image_path:
        candidates.append(record.image_path)
    for folder in (image_dir, json_dir):
        if folder:
            candidates += [os.path.join(folder, name), os.path.join(folder, os.path.basename(name))]
    return next((c for c in candidates if os.path.isfile(c)), None)


def collect_images(scenes: ScenesInput, gt: GroundTruth | None = None, *, image_dir: str | None = None,
                   max_rank: int = 100) -> Iterator[LoadedImage]:
    """Each predicted image with its image file, and with ``gt`` its record and the evaluator's decisions."""
    records = {}
    if gt is not None:
        _check_classes(scenes, gt)
        records = match_records(scenes.names(), gt.records, scenes.path)
    json_dir = os.path.dirname(os.path.abspath(scenes.path))
    for entry, prediction in scenes.images:
        record = records.get(entry["file_name"])
        decisions = None
        if record is not None:
            decisions = vg_triplet_decisions(record, prediction, mode=scenes.mode, iou_threshold=gt.iou_threshold,
                                             max_rank=max_rank)
        yield LoadedImage(entry, prediction, _locate(entry["file_name"], record, image_dir, json_dir), record, decisions)


def build_viewer(
    scenes: ScenesInput,
    out_dir: str | os.PathLike,
    gt: GroundTruth | None = None,
    *,
    image_dir: str | None = None,
    options: ViewerOptions | None = None,
    title: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write the HTML viewer of ``scenes`` (compared with ``gt`` when given) to ``out_dir``."""
    options = options or ViewerOptions()
    ks = tuple(sorted(int(k) for k in options.ks))
    max_rel = min(options.max_relations, max(ks)) if gt is not None else options.max_relations
    evaluator = None
    if gt is not None:
        evaluator = VGSceneGraphEvaluator(scenes.predicate_classes, scenes.mode, iou_threshold=gt.iou_threshold,
                                          recall_ks=ks, dataset_name=gt.label,
                                          zeroshot_triplets=gt.zeroshot_triplets)
    payloads, copies, missing = [], [], 0
    items = collect_images(scenes, gt, image_dir=image_dir, max_rank=max(ks))
    for item in tqdm(items, total=len(scenes.images), desc="viewer", unit="img",
                     disable=not progress or len(scenes.images) < 1000):
        name = item.entry["file_name"]
        src = None
        if item.image_path is None:
            missing += 1
        elif options.copy_images:
            target = name if not os.path.isabs(name) else os.path.basename(name)
            copies.append((item.image_path, target))
            src = "images/" + quote(safe_relative(target))
        else:
            src = image_url(item.image_path, out_dir)
        if evaluator is not None:
            evaluator.process_one(item.record, item.prediction)
        payload = image_payload(item.entry, src=src, ks=ks, max_relations=max_rel, record=item.record,
                                decisions=item.decisions)
        payloads.append((payload["recall"], serialise(payload)))
    if missing:
        logger.warning("%d of %d images not found (looked at the dataset's image paths, --image-dir and the "
                       "predictions file's folder); the viewer shows their boxes without the picture",
                       missing, len(payloads))
    meta: dict[str, Any] = {
        "title": title or f"{scenes.model.get('head', 'model')} \u00b7 {scenes.mode} \u00b7 {scenes.dataset}",
        "mode": scenes.mode, "dataset": scenes.dataset, "model": scenes.model,
        "source": os.path.basename(scenes.path),
        "object_classes": scenes.object_classes, "predicate_classes": scenes.predicate_classes,
        "ks": list(ks), "has_gt": gt is not None, "order": options.order,
    }
    if evaluator is not None:
        results = evaluator.evaluate()
        per = results["per_predicate"]
        meta.update(
            ground_truth=gt.label,
            protocol=PROTOCOL.format(iou=gt.iou_threshold)
            + f" Metrics over the {results['images_in_average']['recall']} counted of {len(payloads)} images.",
            metrics={k: (None if v != v else v) for k, v in results[scenes.mode].items()},
            per_predicate={"images": per["images"], **{f"mR@{k}": per[f"mR@{k}"] for k in ks}},
        )
    big_k = str(max(ks))
    ordered = order_images(payloads, options.order, lambda rec: None if rec is None else rec[big_k])
    return write_viewer(out_dir, meta, ordered, num_images=len(ordered), page_size=options.page_size,
                        copy_images=copies, overwrite=overwrite)


def draw_images(
    scenes: ScenesInput,
    names: Sequence[str],
    out_dir: str | os.PathLike,
    gt: GroundTruth | None = None,
    *,
    image_dir: str | None = None,
    k: int = 20,
    selection: SelectionOptions | None = None,
    layout: str = "auto",
    overwrite: bool = False,
) -> list[Path]:
    """Drawings of the images ``names`` (file names or base names) into ``out_dir``.

    Each image gets ``<stem>.png`` (the prediction) and, with ``gt``, ``<stem>_gt_k<K>.png``
    (matched / missed / false-positive triplets at ``k``).
    """
    from PIL import Image

    from .draw import draw_gt_comparison, draw_scene_graph

    known = set(scenes.names())
    base = {}
    for name in known:
        base.setdefault(os.path.basename(name), []).append(name)
    wanted = []
    for name in names:
        if name in known:
            wanted.append(name)
        elif len(base.get(os.path.basename(name), [])) == 1:
            wanted.append(base[os.path.basename(name)][0])
        else:
            raise ValueError(f"--draw {name}: not an image of {scenes.path} (e.g. {sorted(known)[:3]})")
    wanted_set = set(wanted)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for item in collect_images(scenes, gt, image_dir=image_dir, max_rank=max(k, 100)):
        name = item.entry["file_name"]
        if name not in wanted_set:
            continue
        if item.image_path is None:
            raise FileNotFoundError(f"{name}: image file not found; pass --image-dir or --dataset-dir")
        with Image.open(item.image_path) as im:
            pixels = im.convert("RGB")
        stem = Path(name).stem
        written.append(draw_scene_graph(pixels, item.entry, out_path=out / f"{stem}.png", options=selection,
                                        layout=layout, overwrite=overwrite))
        if item.record is not None:
            written.append(draw_gt_comparison(
                pixels, item.record, item.prediction, item.decisions, k, scenes.object_classes,
                scenes.predicate_classes, mode=scenes.mode, out_path=out / f"{stem}_gt_k{k}.png", layout=layout,
                overwrite=overwrite))
    return written
