"""Frequency statistics of a training split (SGB ``get_VG_statistics``; eval_protocol 1.6, methods_spec 2.2).

* ``fg[s, o, p]`` counts GT relations whose two boxes overlap (+1 pixel convention, boxes taken at
  the 1024 scale of the VG h5: ``box * 1024 / max(W, H)``); images left without such a relation are
  skipped entirely (SGB always builds its statistics dataset with ``filter_non_overlap=True``);
  duplicates are counted.
* ``bg[s, o]`` counts ordered pairs of distinct boxes of those images that overlap WITHOUT the +1
  (touching boxes do not count); an image with no such pair contributes all its ordered pairs.
* ``fg[:, :, 0] = bg + 1``; the frequency-bias table is ``log(fg / fg.sum(-1) + 1e-3)``.

Statistics are computed from records; :func:`compute_statistics_cached` stores them as ``.npz``
keyed by a content hash of the dataset files, only when a cache folder is given.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

from ..structures.scene_graph import SceneGraphRecord
from .io_utils import atomic_path, files_sha256
from .vg150 import boxes_overlap_plus_one

__all__ = ["DatasetStatistics", "compute_statistics", "compute_statistics_cached"]

_STAT_SCALE = 1024.0


@dataclass
class DatasetStatistics:
    """Counts of a training split.

    Attributes:
        fg_matrix: (C_obj, C_obj, C_rel) int64 relation counts; ``fg[:, :, 0]`` = background pair count + 1.
        pred_counts: (C_rel,) int64 number of training relations per predicate (all relations,
            duplicates included, no overlap filter); ``pred_counts[0] = 0``.
        bg_matrix: (C_obj, C_obj) int64 raw background pair counts (before the +1).
        obj_counts: (C_obj,) int64 number of training objects per class.
    """

    fg_matrix: np.ndarray
    pred_counts: np.ndarray
    bg_matrix: np.ndarray
    obj_counts: np.ndarray

    def freq_bias_table(self) -> np.ndarray:
        """(C_obj * C_obj, C_rel) float32 ``log(fg / sum_p fg + 1e-3)``, row ``s * C_obj + o``."""
        fg = self.fg_matrix.astype(np.float64)
        table = np.log(fg / fg.sum(-1, keepdims=True) + 1e-3)
        c_obj = fg.shape[0]
        return table.reshape(c_obj * c_obj, -1).astype(np.float32)

    def predicate_proportions(self) -> np.ndarray:
        """(C_rel - 1,) float64 share of each foreground predicate among training relations (SGB REL_PROP)."""
        fg = self.pred_counts[1:].astype(np.float64)
        return fg / max(fg.sum(), 1.0)

    def save(self, path: str) -> None:
        """Write an ``.npz`` atomically."""
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, fg_matrix=self.fg_matrix, pred_counts=self.pred_counts, bg_matrix=self.bg_matrix,
                         obj_counts=self.obj_counts)

    @classmethod
    def load(cls, path: str) -> DatasetStatistics:
        """Read an ``.npz`` written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(*(z[k].astype(np.int64) for k in ("fg_matrix", "pred_counts", "bg_matrix", "obj_counts")))


def _overlap_no_plus_one(b: np.ndarray) -> np.ndarray:
    iw = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
    ih = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    return (iw > 0) & (ih > 0)


def compute_statistics(records: Iterable[SceneGraphRecord], num_object_classes: int,
                       num_predicate_classes: int) -> DatasetStatistics:
    """SGB statistics over ``records`` (the training split; see module doc)."""
    c_obj, c_rel = num_object_classes, num_predicate_classes
    fg = np.zeros((c_obj, c_obj, c_rel), np.int64)
    bg = np.zeros((c_obj, c_obj), np.int64)
    pred_counts = np.zeros(c_rel, np.int64)
    obj_counts = np.zeros(c_obj, np.int64)
    for r in records:
        labels, rel = r.labels, r.relations
        np.add.at(obj_counts, labels, 1)
        np.add.at(pred_counts, rel[:, 2], 1)
        boxes = r.boxes.astype(np.float64) * (_STAT_SCALE / max(r.width, r.height))
        if len(rel) == 0:
            continue
        keep = boxes_overlap_plus_one(boxes[rel[:, 0]], boxes[rel[:, 1]])
        if not keep.any():
            continue
        kr = rel[keep]
        np.add.at(fg, (labels[kr[:, 0]], labels[kr[:, 1]], kr[:, 2]), 1)
        ov = _overlap_no_plus_one(boxes)
        np.fill_diagonal(ov, False)
        if not ov.any():
            ov = ~np.eye(len(boxes), dtype=bool)
        i, j = np.nonzero(ov)
        np.add.at(bg, (labels[i], labels[j]), 1)
    fg[:, :, 0] = bg + 1
    return DatasetStatistics(fg, pred_counts, bg, obj_counts)


def compute_statistics_cached(records_fn, num_object_classes: int, num_predicate_classes: int,
                              dataset_files: Sequence[str], cache_dir: Optional[str] = None,
                              key_extra: str = "") -> DatasetStatistics:
    """Statistics of ``records_fn()``; with ``cache_dir``, reuse/write ``statistics_<hash>.npz``.

    The cache key hashes the contents of ``dataset_files`` (annotation files, not images) plus
    ``key_extra`` (e.g. the val carve-out size), so edited data never reuses stale statistics.
    """
    if not cache_dir:
        return compute_statistics(records_fn(), num_object_classes, num_predicate_classes)
    key = hashlib.sha256(f"{files_sha256(dataset_files)}|{key_extra}|{num_object_classes}|{num_predicate_classes}".encode()).hexdigest()
    path = os.path.join(cache_dir, f"statistics_{key[:16]}.npz")
    if os.path.isfile(path):
        return DatasetStatistics.load(path)
    stats = compute_statistics(records_fn(), num_object_classes, num_predicate_classes)
    stats.save(path)
    return stats
