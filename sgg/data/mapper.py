"""Turn a :class:`SceneGraphRecord` into an :class:`ImageSample`: decode, resize, optionally flip.

Resize: the shorter side goes to ``min_size`` (one drawn per image from ``min_sizes`` at training),
the longer side is capped at ``max_size`` (detectron2's ``ResizeShortestEdge`` rule). A horizontal
flip keeps relations true by swapping direction-dependent predicates through the dataset's flip map
(``left of`` <-> ``right of``); a dataset without a flip map (e.g. VG-150, whose predicates cannot be
flipped reliably) refuses a flip probability > 0. At training, SGB's duplicate filter (one random
predicate per subject-object pair) is drawn anew at every call.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from ..structures.image_sample import ImageSample
from ..structures.scene_graph import SceneGraphRecord
from .errors import DatasetFormatError
from .vg150 import filter_duplicate_relations

__all__ = ["DatasetMapper", "resized_shape", "RESIZE_RULES", "filter_duplicate_relations"]


RESIZE_RULES = ("round", "sgb")


def resized_shape(height: int, width: int, min_size: int, max_size: int, rule: str = "round") -> Tuple[int, int]:
    """(new_h, new_w): shorter side to ``min_size``, longer side at most ``max_size``.

    ``rule="round"`` (detectron2): one scale factor, both sides rounded. ``rule="sgb"``
    (maskrcnn-benchmark's ``Resize.get_size``, ``INPUT.RESIZE_RULE sgb``): when the long side would
    pass ``max_size`` the target short side becomes ``int(round(max_size * short / long))``; an image
    whose short side already has the target size is kept; otherwise the short side gets the target
    and the long side ``int(target * long / short)`` (truncated), e.g. 1470x1329 -> 663x600.
    """
    if rule == "sgb":
        size = min_size
        short, long = float(min(width, height)), float(max(width, height))
        if long / short * size > max_size:
            size = int(round(max_size * short / long))
        if (width <= height and width == size) or (height <= width and height == size):
            return height, width
        if width < height:
            return int(size * height / width), size
        return size, int(size * width / height)
    if rule != "round":
        raise ValueError(f"INPUT.RESIZE_RULE: expected one of {RESIZE_RULES}, got {rule!r}")
    scale = min_size / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return int(round(height * scale)), int(round(width * scale))


class DatasetMapper:
    """Callable record -> ImageSample.

    Args:
        is_train: training mode (random size, flip, duplicate filter).
        min_sizes: candidate shorter-side sizes (one is drawn per image at training; the first at test).
        max_size: cap on the longer side.
        flip_prob: horizontal flip probability (training only).
        flip_map: predicate id -> id after a horizontal flip (all ids), or None if not flippable.
        filter_duplicate_rels: apply SGB's per-pair random predicate choice at training.
        seed: seed of the mapper's random generator (re-seeded per data-loader worker).
        resize_rule: "round" or "sgb" (see :func:`resized_shape`).
    """

    def __init__(self, is_train: bool, min_sizes: Sequence[int], max_size: int, flip_prob: float = 0.0,
                 flip_map: Optional[Dict[int, int]] = None, filter_duplicate_rels: bool = True,
                 seed: int = 0, dataset_name: str = "", resize_rule: str = "round") -> None:
        if is_train and flip_prob > 0 and flip_map is None:
            raise ValueError(
                f"horizontal flip requested (INPUT.FLIP_PROB={flip_prob}) but dataset '{dataset_name or '?'}' "
                "has no predicate flip map (predicate_flip_map.json): flipping would make direction-dependent "
                "predicates wrong. Set INPUT.FLIP_PROB 0.0 for this dataset.")
        self.is_train = is_train
        self.min_sizes = tuple(int(s) for s in (min_sizes if isinstance(min_sizes, (list, tuple)) else [min_sizes]))
        self.max_size = int(max_size)
        self.flip_prob = float(flip_prob) if is_train else 0.0
        self.flip_lut = None
        if flip_map is not None:
            n = max(flip_map) + 1
            self.flip_lut = np.arange(n, dtype=np.int64)
            for a, b in flip_map.items():
                self.flip_lut[a] = b
        self.filter_duplicate_rels = filter_duplicate_rels and is_train
        self.seed = seed
        if resize_rule not in RESIZE_RULES:
            raise ValueError(f"INPUT.RESIZE_RULE: expected one of {RESIZE_RULES}, got {resize_rule!r}")
        self.resize_rule = resize_rule
        self.rng = np.random.default_rng(seed)

    @classmethod
    def from_config(cls, cfg, is_train: bool, metadata=None) -> DatasetMapper:
        """Build from ``INPUT.*`` / ``DATASETS.*`` keys and the dataset's metadata (for the flip map)."""
        return cls(
            is_train=is_train,
            min_sizes=cfg.INPUT.MIN_SIZE_TRAIN if is_train else (cfg.INPUT.MIN_SIZE_TEST,),
            max_size=cfg.INPUT.MAX_SIZE_TRAIN if is_train else cfg.INPUT.MAX_SIZE_TEST,
            flip_prob=cfg.INPUT.FLIP_PROB if is_train else 0.0,
            flip_map=None if metadata is None else metadata.predicate_flip_map,
            filter_duplicate_rels=cfg.DATASETS.FILTER_DUPLICATE_RELS,
            seed=max(cfg.SEED, 0),
            dataset_name="" if metadata is None else metadata.name,
            resize_rule=cfg.INPUT.RESIZE_RULE,
        )

    def reseed(self, seed: int) -> None:
        """Reset the random generator (called in each data-loader worker)."""
        self.rng = np.random.default_rng(seed)

    def _read_image(self, record: SceneGraphRecord) -> Image.Image:
        path = record.image_path or record.file_name
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except (OSError, ValueError) as e:
            raise DatasetFormatError(path, "image", f"a readable image for image_id {record.image_id}", str(e)) from None

    def __call__(self, record: SceneGraphRecord) -> ImageSample:
        image = self._read_image(record)
        w0, h0 = image.size
        size = self.min_sizes[int(self.rng.integers(len(self.min_sizes)))] if self.is_train else self.min_sizes[0]
        new_h, new_w = resized_shape(h0, w0, size, self.max_size, self.resize_rule)
        if (new_w, new_h) != (w0, h0):
            image = image.resize((new_w, new_h), Image.BILINEAR)
        # scale relative to the record's (annotated) size: boxes are in record pixels
        sx, sy = new_w / float(record.width), new_h / float(record.height)
        boxes = record.boxes.astype(np.float32) * np.array([sx, sy, sx, sy], dtype=np.float32)
        relations = record.relations
        if self.filter_duplicate_rels and len(relations):
            relations = filter_duplicate_relations(relations, self.rng)
        flipped = bool(self.flip_prob > 0 and self.rng.random() < self.flip_prob)
        arr = np.asarray(image, dtype=np.float32) / 255.0
        if flipped:
            arr = arr[:, ::-1]
            boxes = np.stack([new_w - boxes[:, 2], boxes[:, 1], new_w - boxes[:, 0], boxes[:, 3]], axis=1)
            relations = relations.copy()
            relations[:, 2] = self.flip_lut[relations[:, 2]]
        tensor = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        return ImageSample(
            image=tensor, record=record, gt_boxes=torch.from_numpy(boxes.astype(np.float32)).reshape(-1, 4),
            gt_labels=torch.as_tensor(record.labels, dtype=torch.int64),
            gt_relations=torch.as_tensor(np.asarray(relations), dtype=torch.int64).reshape(-1, 3),
            scale=(sx, sy), flipped=flipped,
        )
