"""Open Images V6 loader for PySGG's processed layout (eval_protocol.md 3.1).

Files under ``root``: ``annotations/vrd-{train,val,test}-anno.json`` (a list of
``{"img_fn", "img_size": [w, h], "bbox": [[x1, y1, x2, y2], ...] (absolute pixels),
"det_labels": [0-based], "rel": [[subject, object, 0-based predicate], ...]}``),
``annotations/categories_dict.json`` (``{"obj": [...], "rel": [...]}``) and ``images/<img_fn>.jpg``.

As PySGG: ids are shifted by +1 (0 = background); images without boxes, or without relations when
``filter_empty_rels`` (always for test), are dropped; duplicates are kept except with
``filter_duplicate_rels`` in train (seeded random choice per pair); boxes are clipped to
[0, W-1] x [0, H-1] and kept even when degenerate. ``image_id`` is the running index in the file.
When ``<root>/captions.json`` exists, ``record.captions`` holds the sentences keyed by ``img_fn``.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np

from ..structures.scene_graph import SceneGraphRecord
from .captions import captions_from_folder
from .errors import DatasetFormatError
from .io_utils import read_json
from .vg150 import filter_duplicate_relations

__all__ = ["load_oiv6", "load_oiv6_categories", "OI_CATEGORIES_FILE", "oi_annotation_file"]

OI_CATEGORIES_FILE = os.path.join("annotations", "categories_dict.json")


def oi_annotation_file(split: str) -> str:
    """Relative path of the annotation file of ``split``."""
    return os.path.join("annotations", f"vrd-{split}-anno.json")


def load_oiv6_categories(root: str) -> Dict[str, List[str]]:
    """``object_classes`` and ``predicate_classes`` with ``__background__`` prepended."""
    path = os.path.join(root, OI_CATEGORIES_FILE)
    d = read_json(path, "OI-V6 categories")
    for k in ("obj", "rel"):
        if not isinstance(d.get(k), list) or not d[k]:
            raise DatasetFormatError(path, k, "a non-empty list of class names", repr(d.get(k))[:80])
    return {"object_classes": ["__background__"] + list(d["obj"]),
            "predicate_classes": ["__background__"] + list(d["rel"])}


def load_oiv6(root: str, split: str, *, filter_empty_rels: bool = True, filter_duplicate_rels: bool = False,
              seed: int = 0, image_dir: Optional[str] = None, check_images: bool = True) -> List[SceneGraphRecord]:
    """Load one split ("train" | "val" | "test") of a PySGG OI-V6 folder."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    cats = load_oiv6_categories(root)
    n_cls, n_pred = len(cats["object_classes"]), len(cats["predicate_classes"])
    path = os.path.join(root, oi_annotation_file(split))
    entries = read_json(path, f"OI-V6 {split} annotation")
    if not isinstance(entries, list):
        raise DatasetFormatError(path, "(top level)", "a list of image dicts", type(entries).__name__)
    img_dir = os.path.join(root, image_dir or "images")
    rng = np.random.default_rng(seed)
    drop_empty = filter_empty_rels or split == "test"
    records: List[SceneGraphRecord] = []
    for k, e in enumerate(entries):
        where = f"[{k}]"
        try:
            fn, (w, h) = str(e["img_fn"]), e["img_size"]
            boxes = np.asarray(e["bbox"], dtype=np.float64).reshape(-1, 4)
            labels = np.asarray(e["det_labels"], dtype=np.int64).reshape(-1)
            rel = np.asarray(e["rel"], dtype=np.int64).reshape(-1, 3)
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetFormatError(path, where, "img_fn, img_size [w, h], bbox (n, 4), det_labels (n,), rel "
                                     "(m, 3)", f"{type(err).__name__}: {err}") from None
        w, h = int(w), int(h)
        if w <= 0 or h <= 0:
            raise DatasetFormatError(path, f"{where}.img_size", "positive [width, height]", f"[{w}, {h}]")
        if len(labels) != len(boxes):
            raise DatasetFormatError(path, f"{where}.det_labels", f"{len(boxes)} labels (one per bbox)",
                                     str(len(labels)))
        if len(boxes) == 0 or (drop_empty and len(rel) == 0):
            continue
        if labels.min() < 0 or labels.max() >= n_cls - 1:
            raise DatasetFormatError(path, f"{where}.det_labels", f"0-based ids in 0..{n_cls - 2} "
                                     f"({OI_CATEGORIES_FILE} 'obj')", f"{labels.min()}..{labels.max()}")
        bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]) | (boxes[:, 0] >= w) | (
            boxes[:, 1] >= h) | (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
        if bad.any():
            raise DatasetFormatError(path, f"{where}.bbox", f"x1 <= x2, y1 <= y2 overlapping the {w}x{h} image",
                                     str(boxes[bad][0].tolist()))
        if len(rel):
            if rel[:, :2].min() < 0 or rel[:, :2].max() >= len(boxes):
                raise DatasetFormatError(path, f"{where}.rel", f"subject/object indices in 0..{len(boxes) - 1}",
                                         f"{rel[:, :2].min()}..{rel[:, :2].max()}")
            if rel[:, 2].min() < 0 or rel[:, 2].max() >= n_pred - 1:
                raise DatasetFormatError(path, f"{where}.rel", f"0-based predicates in 0..{n_pred - 2} "
                                         f"({OI_CATEGORIES_FILE} 'rel')", f"{rel[:, 2].min()}..{rel[:, 2].max()}")
        rel = rel.copy()
        rel[:, 2] += 1
        if split == "train" and filter_duplicate_rels:
            rel = filter_duplicate_relations(rel, rng)
        box = boxes.astype(np.float32)
        np.clip(box[:, 0::2], 0, w - 1, out=box[:, 0::2])
        np.clip(box[:, 1::2], 0, h - 1, out=box[:, 1::2])
        img_path = os.path.join(img_dir, f"{fn}.jpg")
        if check_images and not os.path.isfile(img_path):
            raise DatasetFormatError(img_path, f"{oi_annotation_file(split)}{where}.img_fn",
                                     f"the image file of img_fn {fn!r}", "missing")
        records.append(SceneGraphRecord(image_id=k, file_name=os.path.relpath(img_path, root), width=w, height=h,
                                        boxes=box, labels=labels + 1, relations=rel, image_path=img_path))
    captions_from_folder(root, records, [os.path.splitext(os.path.basename(r.file_name))[0] for r in records])
    return records
