"""Write generated toy annotations in the VG-150 (SGB) and OI-V6 (PySGG) file layouts.

VG-150 (eval_protocol.md 1.1-1.3): ``VG-SGG-with-attri.h5``, ``VG-SGG-dicts-with-attri.json``,
``image_data.json``; OI-V6 (3.1): ``annotations/vrd-{train,val,test}-anno.json`` and
``annotations/categories_dict.json``. Both share ``images/<image_id>.jpg``. All writes are atomic
and byte-deterministic (h5 without timestamps, JSON in a fixed order).
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import h5py
import numpy as np

from ..io_utils import atomic_path, write_json_atomic
from ..vg150 import DICTS_FILE, H5_FILE, IMAGE_DATA_FILE, encode_vg_boxes

__all__ = ["ToyImage", "write_vg150", "write_oiv6"]


@dataclass
class ToyImage:
    """Annotation of one generated image (boxes xyxy in pixels, names not ids)."""

    image_id: int
    width: int
    height: int
    is_train: bool
    boxes: np.ndarray  # (N, 4) float32 xyxy
    labels: List[str]
    attributes: List[Tuple[str, ...]]
    relations: List[Tuple[int, int, str]]
    captions: List[str] = field(default_factory=list)
    num_true_pairs: int = 0

    @property
    def file_stem(self) -> str:
        return str(self.image_id)


def write_vg150(root: str, images: Sequence[ToyImage], object_classes: List[str], predicates: List[str],
                attributes: List[str]) -> None:
    """Write the three VG-150 files for ``images`` (h5 rows in the given order)."""
    obj_idx = {n: i + 1 for i, n in enumerate(object_classes)}
    pred_idx = {n: i + 1 for i, n in enumerate(predicates)}
    att_idx = {n: i + 1 for i, n in enumerate(attributes)}
    n_img = len(images)
    split = np.array([0 if im.is_train else 2 for im in images], dtype=np.int32)
    first_box = np.full(n_img, -1, np.int32)
    last_box = np.full(n_img, -1, np.int32)
    first_rel = np.full(n_img, -1, np.int32)
    last_rel = np.full(n_img, -1, np.int32)
    labels, b1024, b512, atts, rels, preds = [], [], [], [], [], []
    n_obj = n_rel = 0
    for k, im in enumerate(images):
        n = len(im.labels)
        if n:
            first_box[k], last_box[k] = n_obj, n_obj + n - 1
            labels.extend(obj_idx[c] for c in im.labels)
            b1024.append(encode_vg_boxes(im.boxes, im.width, im.height, 1024))
            b512.append(encode_vg_boxes(im.boxes, im.width, im.height, 512))
            for a in im.attributes:
                row = [att_idx[x] for x in a][:10]
                atts.append(row + [0] * (10 - len(row)))
        if im.relations:
            first_rel[k], last_rel[k] = n_rel, n_rel + len(im.relations) - 1
            for s, o, p in im.relations:
                rels.append((n_obj + s, n_obj + o))
                preds.append(pred_idx[p])
            n_rel += len(im.relations)
        n_obj += n
    data = {
        "active_object_mask": np.ones((n_obj, 1), dtype=bool),
        "attributes": np.asarray(atts, np.int64).reshape(n_obj, 10),
        "boxes_1024": np.concatenate(b1024).astype(np.int32) if b1024 else np.zeros((0, 4), np.int32),
        "boxes_512": np.concatenate(b512).astype(np.int32) if b512 else np.zeros((0, 4), np.int32),
        "img_to_first_box": first_box,
        "img_to_first_rel": first_rel,
        "img_to_last_box": last_box,
        "img_to_last_rel": last_rel,
        "labels": np.asarray(labels, np.int64).reshape(n_obj, 1),
        "predicates": np.asarray(preds, np.int64).reshape(n_rel, 1),
        "relationships": np.asarray(rels, np.int32).reshape(n_rel, 2),
        "split": split,
    }
    with atomic_path(os.path.join(root, H5_FILE)) as tmp:
        # libver earliest + track_times=False: no timestamps, identical bytes for identical data
        with h5py.File(tmp, "w", libver="earliest") as f:
            for key, arr in data.items():
                f.create_dataset(key, data=arr, track_times=False)

    obj_count = Counter(c for im in images for c in im.labels)
    pred_count = Counter(p for im in images for _, _, p in im.relations)
    att_count = Counter(a for im in images for al in im.attributes for a in al)
    dicts = {
        "label_to_idx": obj_idx,
        "idx_to_label": {str(i): n for n, i in obj_idx.items()},
        "predicate_to_idx": pred_idx,
        "idx_to_predicate": {str(i): n for n, i in pred_idx.items()},
        "attribute_to_idx": att_idx,
        "idx_to_attribute": {str(i): n for n, i in att_idx.items()},
        "object_count": {n: int(obj_count.get(n, 0)) for n in object_classes},
        "predicate_count": {n: int(pred_count.get(n, 0)) for n in predicates},
        "attribute_count": {n: int(att_count.get(n, 0)) for n in attributes},
    }
    write_json_atomic(os.path.join(root, DICTS_FILE), dicts)
    image_data = [
        {"image_id": im.image_id, "url": f"images/{im.file_stem}.jpg", "width": im.width,
         "height": im.height, "coco_id": None, "flickr_id": None}
        for im in images
    ]
    write_json_atomic(os.path.join(root, IMAGE_DATA_FILE), image_data)


def write_oiv6(root: str, images: Sequence[ToyImage], object_classes: List[str], predicates: List[str],
               num_val: int) -> None:
    """Write PySGG's OI-V6 layout; val = the VG carve-out (first ``num_val`` usable train images)."""
    obj0 = {n: i for i, n in enumerate(object_classes)}
    pred0 = {n: i for i, n in enumerate(predicates)}
    # the same carve-out as the VG loader: the first num_val train images that have boxes and relations
    train = [im for im in images if im.is_train]
    usable = [k for k, im in enumerate(train) if im.labels and im.relations]
    val_set = set(usable[:num_val])
    splits: Dict[str, List[ToyImage]] = {
        "train": [im for k, im in enumerate(train) if k not in val_set],
        "val": [im for k, im in enumerate(train) if k in val_set],
        "test": [im for im in images if not im.is_train],
    }
    ann_dir = os.path.join(root, "annotations")
    for name, ims in splits.items():
        entries = [
            {
                "img_fn": im.file_stem,
                "img_size": [im.width, im.height],
                "bbox": [[float(v) for v in b] for b in im.boxes],
                "det_labels": [obj0[c] for c in im.labels],
                "rel": [[s, o, pred0[p]] for s, o, p in im.relations],
            }
            for im in ims
        ]
        write_json_atomic(os.path.join(ann_dir, f"vrd-{name}-anno.json"), entries)
    write_json_atomic(os.path.join(ann_dir, "categories_dict.json"),
                      {"obj": list(object_classes), "rel": list(predicates)})

