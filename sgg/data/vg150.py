"""VG-150 loader with Scene-Graph-Benchmark's exact semantics (eval_protocol.md 1.1-1.7).

Files under ``root``: ``VG-SGG-with-attri.h5``, ``VG-SGG-dicts-with-attri.json``,
``image_data.json`` and the JPEGs ``<image_dir>/<image_id>.jpg`` (``image_dir`` defaults to
``images`` or, when absent, SGB's ``VG_100K``).

Semantics reproduced from SGB:

* candidates: ``split == 0`` (train/val) or ``split == 2`` (test), with a box, and with a relation
  when ``filter_empty_rels``;
* val = the first ``num_val_im`` train-split candidates in h5 order, train = the rest
  (SGB hard-codes 5000; here it is configurable. Unlike SGB, ``num_val_im <= 0`` gives an empty val
  instead of a copy of train, and a carve-out that leaves no train image is an error);
* boxes: ``boxes_<scale>`` read as int32 cx, cy, w, h; x1 = cx - w/2 truncated toward zero in int32,
  x2 = x1 + w; rescaled by max(W, H) / scale with W, H from ``image_data.json``; clipped to
  [0, W-1] x [0, H-1], degenerate boxes KEPT (SGB's training path drops them, which would shift pair
  indices; we never drop boxes);
* relations: global object rows minus ``img_to_first_box``; duplicates and self-loops kept;
* ``filter_duplicate_rels`` (train only): one random predicate per (subject, object) pair, seeded;
  SGB redraws at every ``__getitem__`` - the training mapper does that, see
  :func:`sgg.data.mapper.filter_duplicate_relations`;
* ``filter_non_overlap`` (train only, off by default): keep relations whose boxes overlap at the
  h5 scale with the +1 convention, drop images left without one.

Captions: when ``<root>/captions.json`` exists, ``record.captions`` holds the sentences of the
image's ``image_id`` (:mod:`sgg.data.captions`).

Deviations on purpose: images are matched to ``image_data.json`` entries by position after dropping
SGB's 4 known-corrupted ids only when that makes the counts agree, and a missing image file is an
error naming the image id (SGB silently shifts the pairing).
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import h5py
import numpy as np

from ..structures.scene_graph import SceneGraphRecord
from .captions import captions_from_folder
from .errors import DatasetFormatError
from .io_utils import read_json

__all__ = [
    "H5_FILE", "DICTS_FILE", "IMAGE_DATA_FILE", "CORRUPTED_VG_IMAGE_IDS",
    "encode_vg_boxes", "decode_vg_boxes", "load_vg150_dicts", "load_vg150", "filter_duplicate_relations",
    "boxes_overlap_plus_one",
]

H5_FILE = "VG-SGG-with-attri.h5"
DICTS_FILE = "VG-SGG-dicts-with-attri.json"
IMAGE_DATA_FILE = "image_data.json"
CORRUPTED_VG_IMAGE_IDS = (1592, 1722, 4616, 4617)  # dropped by SGB from image_data.json
_H5_KEYS = ("split", "img_to_first_box", "img_to_last_box", "img_to_first_rel", "img_to_last_rel",
            "labels", "relationships", "predicates")


def encode_vg_boxes(boxes_xyxy: np.ndarray, width: int, height: int, scale: int = 1024) -> np.ndarray:
    """Encode xyxy pixel boxes as the VG h5 does (``encode_box`` of scene-graph-TF-release).

    With s = scale / max(W, H): x = floor(s*x1), w = ceil(s*(x2-x1)) (same for y), clamped to the
    scale frame, stored as int32 (x + w//2, y + h//2, w, h). Pixel x1 plays the role of VG's X - 1.
    """
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    s = scale / float(max(width, height))
    fw, fh = int(round(s * width)), int(round(s * height))
    x = np.clip(np.floor(s * b[:, 0]), 0, fw - 1)
    y = np.clip(np.floor(s * b[:, 1]), 0, fh - 1)
    w = np.clip(np.ceil(s * (b[:, 2] - b[:, 0])), 1, fw - x)
    h = np.clip(np.ceil(s * (b[:, 3] - b[:, 1])), 1, fh - y)
    x, y, w, h = (v.astype(np.int64) for v in (x, y, w, h))
    return np.stack([x + w // 2, y + h // 2, w, h], axis=1).astype(np.int32)


def decode_vg_boxes(boxes_cxcywh: np.ndarray) -> np.ndarray:
    """SGB's in-place int32 decoding: x1 = cx - w/2 (truncated toward zero), x2 = x1 + w."""
    b = np.array(boxes_cxcywh, dtype=np.int32).reshape(-1, 4)
    b[:, :2] = b[:, :2] - b[:, 2:] / 2  # float result stored into int32: truncation toward zero
    b[:, 2:] = b[:, :2] + b[:, 2:]
    return b


def boxes_overlap_plus_one(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise: do xyxy boxes ``a`` and ``b`` overlap with the +1 pixel convention (IoU > 0)."""
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + 1
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + 1
    return (iw > 0) & (ih > 0)


def _names_from_maps(path: str, to_idx: dict, idx_to: dict, key: str) -> List[str]:
    if not isinstance(to_idx, dict) or not to_idx:
        raise DatasetFormatError(path, f"{key}_to_idx", "a non-empty name -> id mapping")
    ids = sorted(to_idx.values())
    if ids != list(range(1, len(ids) + 1)):
        raise DatasetFormatError(path, f"{key}_to_idx", f"ids 1..{len(ids)} without gaps", f"ids {ids[:5]}...")
    names = ["__background__"] + [n for n, _ in sorted(to_idx.items(), key=lambda kv: kv[1])]
    if idx_to is not None:
        for n, i in to_idx.items():
            if idx_to.get(str(i)) != n:
                raise DatasetFormatError(path, f"idx_to_{key}", f"'{i}' -> '{n}' (agreeing with {key}_to_idx)",
                                         repr(idx_to.get(str(i))))
    return names


def load_vg150_dicts(path: str) -> Dict[str, List[str]]:
    """Class names with ``__background__`` at 0: keys ``object_classes``, ``predicate_classes``,
    ``attribute_classes`` (the last may be just the background when the file has no attributes)."""
    d = read_json(path, "VG-150 dicts")
    for k in ("label_to_idx", "predicate_to_idx"):
        if k not in d:
            raise DatasetFormatError(path, k, "present (VG-SGG-dicts format)", "missing")
    out = {
        "object_classes": _names_from_maps(path, d["label_to_idx"], d.get("idx_to_label"), "label"),
        "predicate_classes": _names_from_maps(path, d["predicate_to_idx"], d.get("idx_to_predicate"), "predicate"),
        "attribute_classes": ["__background__"],
    }
    if d.get("attribute_to_idx"):
        out["attribute_classes"] = _names_from_maps(path, d["attribute_to_idx"], d.get("idx_to_attribute"),
                                                    "attribute")
    return out


def filter_duplicate_relations(relations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One randomly chosen predicate per (subject, object) pair (SGB ``filter_duplicate_rels``).

    Rows keep the order of the first occurrence of each pair.
    """
    rel = np.asarray(relations, dtype=np.int64).reshape(-1, 3)
    groups: Dict[Tuple[int, int], List[int]] = {}
    for k, (s, o, _) in enumerate(rel):
        groups.setdefault((int(s), int(o)), []).append(k)
    keep = [rows[int(rng.integers(len(rows)))] if len(rows) > 1 else rows[0] for rows in groups.values()]
    return rel[keep]


def _image_dir(root: str, image_dir: Optional[str]) -> str:
    if image_dir is not None:
        return image_dir if os.path.isabs(image_dir) else os.path.join(root, image_dir)
    for cand in ("images", "VG_100K"):
        if os.path.isdir(os.path.join(root, cand)):
            return os.path.join(root, cand)
    return os.path.join(root, "images")


def _open_h5(path: str) -> h5py.File:
    if not os.path.isfile(path):
        raise DatasetFormatError(path, "(file)", "an existing VG-150 h5 file", "missing")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DatasetFormatError(path, "(file)", "a readable HDF5 file", f"unreadable ({e})") from None
    for k in _H5_KEYS:
        if k not in f:
            f.close()
            raise DatasetFormatError(path, k, "a dataset of the VG-150 h5", "missing")
    return f


def _read_index_arrays(f: h5py.File, path: str, box_key: str) -> Dict[str, np.ndarray]:
    try:
        arr = {k: np.asarray(f[k][()]) for k in _H5_KEYS[:5]}
        n_obj = f["labels"].shape[0]
        n_rel = f["relationships"].shape[0]
        shapes = {"labels": f["labels"].shape, box_key: f[box_key].shape,
                  "relationships": f["relationships"].shape, "predicates": f["predicates"].shape}
    except (OSError, KeyError) as e:
        raise DatasetFormatError(path, "(file)", "a readable HDF5 file", f"corrupt ({e})") from None
    n_img = len(arr["split"])
    for k in _H5_KEYS[1:5]:
        if arr[k].shape != (n_img,):
            raise DatasetFormatError(path, k, f"shape ({n_img},) like 'split'", str(arr[k].shape))
    expect = {"labels": (n_obj, 1), box_key: (n_obj, 4), "relationships": (n_rel, 2), "predicates": (n_rel, 1)}
    for k, shp in expect.items():
        if tuple(shapes[k]) != shp:
            raise DatasetFormatError(path, k, f"shape {shp}", str(tuple(shapes[k])))
    for a, b, n, what in (("img_to_first_box", "img_to_last_box", n_obj, "object"),
                          ("img_to_first_rel", "img_to_last_rel", n_rel, "relation")):
        first, last = arr[a], arr[b]
        bad = (first < -1) | (first >= n) | (last < -1) | (last >= n) | ((first >= 0) & (last < first)) | (
            (first < 0) != (last < 0))
        if bad.any():
            k = int(np.nonzero(bad)[0][0])
            raise DatasetFormatError(path, f"{a}/{b}", f"-1 or an inclusive row range inside 0..{n - 1} "
                                     f"({n} {what} rows)", f"[{first[k]}, {last[k]}] at image row {k}")
    arr["n_obj"], arr["n_rel"] = np.int64(n_obj), np.int64(n_rel)
    return arr


def _align_image_data(path: str, image_data, n_img: int) -> list:
    if not isinstance(image_data, list):
        raise DatasetFormatError(path, "(top level)", "a list of image dicts")
    if len(image_data) != n_img:
        kept = [d for d in image_data if d.get("image_id") not in CORRUPTED_VG_IMAGE_IDS]
        if len(kept) != n_img:
            raise DatasetFormatError(path, "(top level)", f"{n_img} image entries (one per h5 row; SGB's "
                                     f"corrupted ids {CORRUPTED_VG_IMAGE_IDS} may be extra)",
                                     f"{len(image_data)} entries")
        image_data = kept
    return image_data


def _image_info(path: str, entry, row: int) -> Tuple[int, int, int]:
    try:
        iid, w, h = int(entry["image_id"]), int(entry["width"]), int(entry["height"])
    except (KeyError, TypeError, ValueError):
        raise DatasetFormatError(path, f"[{row}]", "a dict with integer image_id, width, height",
                                 repr(entry)[:120]) from None
    if w <= 0 or h <= 0:
        raise DatasetFormatError(path, f"[{row}].width/height", "positive sizes", f"{w}x{h}")
    return iid, w, h


def load_vg150(root: str, split: str, *, num_val_im: int = 5000, filter_empty_rels: bool = True,
               filter_duplicate_rels: bool = False, filter_non_overlap: bool = False, seed: int = 0,
               image_dir: Optional[str] = None, check_images: bool = True, box_scale: int = 1024,
               chunk_images: int = 2048) -> List[SceneGraphRecord]:
    """Load one split ("train" | "val" | "test") of a VG-150 folder as SGB does (see module doc).

    The h5 is read in chunks of ``chunk_images`` images (h5py slices), never whole.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    h5_path = os.path.join(root, H5_FILE)
    dicts_path = os.path.join(root, DICTS_FILE)
    image_data_path = os.path.join(root, IMAGE_DATA_FILE)
    names = load_vg150_dicts(dicts_path)
    n_cls, n_pred = len(names["object_classes"]), len(names["predicate_classes"])
    image_data = read_json(image_data_path, "VG image_data")
    img_dir = _image_dir(root, image_dir)
    box_key = f"boxes_{box_scale}"
    rng = np.random.default_rng(seed)

    with _open_h5(h5_path) as f:
        if box_key not in f:
            raise DatasetFormatError(h5_path, box_key, "a dataset of the VG-150 h5", "missing")
        idx = _read_index_arrays(f, h5_path, box_key)
        n_img = len(idx["split"])
        image_data = _align_image_data(image_data_path, image_data, n_img)
        wanted = 2 if split == "test" else 0
        cand = (idx["split"] == wanted) & (idx["img_to_first_box"] >= 0)
        if filter_empty_rels:
            cand &= idx["img_to_first_rel"] >= 0
        rows = np.nonzero(cand)[0]
        if split == "val":
            rows = rows[: max(0, num_val_im)]
        elif split == "train":
            if num_val_im > 0 and len(rows) and num_val_im >= len(rows):
                raise ValueError(f"{h5_path}: num_val_im={num_val_im} leaves no training image "
                                 f"(only {len(rows)} train-split images); lower DATASETS.NUM_VAL_IM")
            rows = rows[max(0, num_val_im):]
        records: List[SceneGraphRecord] = []
        for start in range(0, len(rows), chunk_images):
            records.extend(_read_chunk(f, h5_path, idx, rows[start:start + chunk_images], image_data,
                                       image_data_path, img_dir, root, box_key, box_scale, n_cls, n_pred,
                                       check_images, split == "train" and filter_non_overlap))
    if split == "train" and filter_duplicate_rels:
        for r in records:
            r.relations = filter_duplicate_relations(r.relations, rng)
    captions_from_folder(root, records, [str(r.image_id) for r in records])  # keyed by image_id
    return records


def _read_chunk(f, h5_path, idx, rows, image_data, image_data_path, img_dir, root, box_key, box_scale,
                n_cls, n_pred, check_images, non_overlap) -> List[SceneGraphRecord]:
    if len(rows) == 0:
        return []
    fb, lb = idx["img_to_first_box"][rows], idx["img_to_last_box"][rows]
    o_lo, o_hi = int(fb.min()), int(lb.max()) + 1
    labels = f["labels"][o_lo:o_hi, 0].astype(np.int64)
    boxes = f[box_key][o_lo:o_hi].astype(np.int32)
    attrs = f["attributes"][o_lo:o_hi].astype(np.int64) if "attributes" in f else None
    fr, lr = idx["img_to_first_rel"][rows], idx["img_to_last_rel"][rows]
    has_rel = fr >= 0
    if has_rel.any():
        r_lo, r_hi = int(fr[has_rel].min()), int(lr[has_rel].max()) + 1
        rel_rows = f["relationships"][r_lo:r_hi].astype(np.int64)
        preds = f["predicates"][r_lo:r_hi, 0].astype(np.int64)
    else:
        r_lo, rel_rows, preds = 0, np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    out = []
    for k, row in enumerate(rows):
        iid, width, height = _image_info(image_data_path, image_data[row], int(row))
        a, b = int(fb[k]) - o_lo, int(lb[k]) - o_lo + 1
        lab = labels[a:b]
        if lab.min() < 1 or lab.max() >= n_cls:
            raise DatasetFormatError(h5_path, "labels", f"object ids in 1..{n_cls - 1} (the classes of "
                                     f"{DICTS_FILE})", f"{int(lab.min())}..{int(lab.max())} at image_id {iid}")
        raw = boxes[a:b]
        outside = (raw[:, 2] < 0) | (raw[:, 3] < 0) | (raw[:, 0] < 0) | (raw[:, 1] < 0) | (
            raw[:, 0] > box_scale) | (raw[:, 1] > box_scale)
        if outside.any():
            raise DatasetFormatError(h5_path, box_key, f"cx, cy in 0..{box_scale} and w, h >= 0",
                                     f"{raw[outside][0].tolist()} at image_id {iid}")
        xyxy = decode_vg_boxes(raw).astype(np.float64) / box_scale * max(width, height)
        box = xyxy.astype(np.float32)
        np.clip(box[:, 0::2], 0, width - 1, out=box[:, 0::2])
        np.clip(box[:, 1::2], 0, height - 1, out=box[:, 1::2])
        if fr[k] >= 0:
            ra, rb = int(fr[k]) - r_lo, int(lr[k]) - r_lo + 1
            pairs, pr = rel_rows[ra:rb], preds[ra:rb]
            if pairs.min() < fb[k] or pairs.max() > lb[k]:
                raise DatasetFormatError(h5_path, "relationships", f"object rows inside {int(fb[k])}..{int(lb[k])} "
                                         f"(img_to_first/last_box of image row {int(row)})",
                                         f"rows {int(pairs.min())}..{int(pairs.max())} at image_id {iid}")
            if pr.min() < 1 or pr.max() >= n_pred:
                raise DatasetFormatError(h5_path, "predicates", f"predicate ids in 1..{n_pred - 1} (the "
                                         f"predicates of {DICTS_FILE})", f"{int(pr.min())}..{int(pr.max())} "
                                         f"at image_id {iid}")
            rel = np.concatenate([pairs - int(fb[k]), pr[:, None]], axis=1)
        else:
            rel = np.zeros((0, 3), np.int64)
        if non_overlap:  # SGB tests overlap on the h5-scale boxes with the +1 convention
            at_scale = decode_vg_boxes(raw)
            rel = rel[boxes_overlap_plus_one(at_scale[rel[:, 0]], at_scale[rel[:, 1]])]
            if len(rel) == 0:
                continue
        path = os.path.join(img_dir, f"{iid}.jpg")
        if check_images and not os.path.isfile(path):
            raise DatasetFormatError(path, "image_id", f"the image file of image_id {iid} (h5 row {int(row)}, "
                                     f"{IMAGE_DATA_FILE} entry)", "missing")
        rec = SceneGraphRecord(
            image_id=iid, file_name=os.path.relpath(path, root), width=width, height=height, boxes=box,
            labels=lab, relations=rel, attributes=None if attrs is None else attrs[a:b], image_path=path,
        )
        out.append(rec)
    return out

