"""Typed, framework-neutral containers for one image's scene graph.

``SceneGraphRecord`` is what every dataset loader returns (ground truth), and
``SceneGraphPrediction`` is what the model's post-processor, the JSON importer and
the evaluators exchange. Both hold numpy arrays in *original image pixels*, so they
can be built in a test from plain values and cross process boundaries cheaply.

Conventions (binding for the whole toolkit):

* boxes are ``x1, y1, x2, y2`` float32 in pixels of the original image;
* object labels are 1-indexed (0 = ``__background__``), predicates are 1-indexed
  (0 = background / "no relation");
* ``relations`` rows are ``(subject index, object index, predicate)``, indices local
  to the image; duplicates are kept (the evaluation ground truth keeps them);
* prediction rows ``rel_pair_idxs`` are in **rank order** (the graph-constrained
  metrics take the first K rows as given).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np

__all__ = ["SceneGraphRecord", "SceneGraphPrediction"]


def _as(arr, dtype, shape_tail: tuple, name: str, owner: str) -> np.ndarray:
    out = np.asarray(arr, dtype=dtype)
    if out.size == 0:
        out = out.reshape((0,) + shape_tail)
    if out.ndim != 1 + len(shape_tail) or tuple(out.shape[1:]) != shape_tail:
        raise ValueError(
            f"{owner}.{name}: expected shape (n, {', '.join(map(str, shape_tail))}) "
            f"but got {tuple(out.shape)}".replace(", )", ")")
        )
    return out


@dataclass
class SceneGraphRecord:
    """Ground truth of one image, as returned by every loader.

    Attributes:
        image_id: dataset image id (VG ``image_id``; OI: running index).
        file_name: path of the image relative to the dataset's image folder root
            (the key used to match exported predictions).
        width, height: original image size in pixels.
        boxes: (N, 4) float32 xyxy pixels.
        labels: (N,) int64 object classes in 1..C_obj-1.
        relations: (M, 3) int64 rows (subject, object, predicate), predicate in 1..C_rel-1.
        attributes: optional (N, A) int64 attribute ids (0 = empty slot).
        image_path: absolute path of the image file, when known.
        captions: sentences describing the image (from the dataset's ``captions.json``;
            empty when the dataset has none).
    """

    image_id: int
    file_name: str
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    relations: np.ndarray
    attributes: Optional[np.ndarray] = None
    image_path: Optional[str] = None
    captions: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        owner = f"SceneGraphRecord[{self.file_name}]"
        if isinstance(self.captions, str) or not all(isinstance(c, str) for c in self.captions):
            raise ValueError(f"{owner}.captions: expected a sequence of strings, got {self.captions!r:.80}")
        self.captions = tuple(self.captions)
        self.boxes = _as(self.boxes, np.float32, (4,), "boxes", owner)
        self.labels = _as(self.labels, np.int64, (), "labels", owner)
        self.relations = _as(self.relations, np.int64, (3,), "relations", owner)
        if len(self.labels) != len(self.boxes):
            raise ValueError(f"{owner}: {len(self.boxes)} boxes but {len(self.labels)} labels")
        if len(self.relations) and (
            self.relations[:, :2].min() < 0 or self.relations[:, :2].max() >= len(self.boxes)
        ):
            raise ValueError(
                f"{owner}.relations: subject/object index outside 0..{len(self.boxes) - 1}"
            )

    @property
    def num_objects(self) -> int:
        return int(len(self.boxes))

    @property
    def num_relations(self) -> int:
        return int(len(self.relations))


@dataclass
class SceneGraphPrediction:
    """A model's scene graph for one image (post-processed, original pixels).

    Attributes:
        boxes: (N, 4) float32 xyxy pixels (GT boxes in predcls/sgcls).
        labels: (N,) int64 predicted object classes (GT labels in predcls).
        scores: (N,) float32 object confidences (1.0 in predcls).
        rel_pair_idxs: (R, 2) int64 (subject, object) indices in **rank order**.
        rel_scores: (R, C_rel) float32 predicate distribution, column 0 = background.
            May be ``None`` when only the top predicate is known (e.g. an exported
            file without ``predicate_scores``); then ``rel_labels``/``rel_label_scores``
            must be given and only graph-constrained metrics can be computed.
        rel_labels: (R,) int64 chosen predicate per pair (argmax over 1..C_rel-1).
        rel_label_scores: (R,) float32 probability of the chosen predicate.
        extras: per-relation arrays (leading dimension R) from heads, e.g. CReaL gate.
        obj_extras: per-object arrays (leading dimension N).
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    rel_pair_idxs: np.ndarray
    rel_scores: Optional[np.ndarray] = None
    rel_labels: Optional[np.ndarray] = None
    rel_label_scores: Optional[np.ndarray] = None
    extras: Dict[str, np.ndarray] = field(default_factory=dict)
    obj_extras: Dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = "SceneGraphPrediction"
        self.boxes = _as(self.boxes, np.float32, (4,), "boxes", owner)
        self.labels = _as(self.labels, np.int64, (), "labels", owner)
        self.scores = _as(self.scores, np.float32, (), "scores", owner)
        self.rel_pair_idxs = _as(self.rel_pair_idxs, np.int64, (2,), "rel_pair_idxs", owner)
        n, r = len(self.boxes), len(self.rel_pair_idxs)
        if len(self.labels) != n or len(self.scores) != n:
            raise ValueError(f"{owner}: {n} boxes, {len(self.labels)} labels, {len(self.scores)} scores")
        if r and (self.rel_pair_idxs.min() < 0 or self.rel_pair_idxs.max() >= n):
            raise ValueError(f"{owner}.rel_pair_idxs: index outside 0..{n - 1}")
        if self.rel_scores is not None:
            self.rel_scores = np.asarray(self.rel_scores, dtype=np.float32)
            if self.rel_scores.ndim != 2 or len(self.rel_scores) != r:
                raise ValueError(
                    f"{owner}.rel_scores: expected shape ({r}, C_rel), got {self.rel_scores.shape}"
                )
            if self.rel_labels is None:
                # 1 + argmax over foreground columns; ties resolve to the lowest id.
                fg = self.rel_scores[:, 1:]
                self.rel_labels = (fg.argmax(1) + 1).astype(np.int64) if r else np.zeros(0, np.int64)
                self.rel_label_scores = (
                    fg.max(1).astype(np.float32) if r else np.zeros(0, np.float32)
                )
        if self.rel_labels is None or self.rel_label_scores is None:
            raise ValueError(f"{owner}: give rel_scores or both rel_labels and rel_label_scores")
        self.rel_labels = _as(self.rel_labels, np.int64, (), "rel_labels", owner)
        self.rel_label_scores = _as(self.rel_label_scores, np.float32, (), "rel_label_scores", owner)
        if len(self.rel_labels) != r or len(self.rel_label_scores) != r:
            raise ValueError(f"{owner}: rel_labels/rel_label_scores must have {r} rows")

    @property
    def num_objects(self) -> int:
        return int(len(self.boxes))

    @property
    def num_relations(self) -> int:
        return int(len(self.rel_pair_idxs))

    def triplet_scores(self) -> np.ndarray:
        """(R,) relation x subject x object score used for ranking."""
        s = self.scores
        return self.rel_label_scores * s[self.rel_pair_idxs[:, 0]] * s[self.rel_pair_idxs[:, 1]]
