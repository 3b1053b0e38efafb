"""What a drawing shows of one scene graph (the exported JSON keeps everything).

An SGDet prediction holds dozens of overlapping boxes and hundreds of ranked relations, most of
them the same few predicates between near-duplicate boxes. :func:`select_for_drawing` picks a
readable subset:

1. objects scoring at least ``min_object_score``;
2. class-agnostic non-maximum suppression of those boxes (IoU > ``nms_iou``): of boxes covering
   the same thing, only the best-scoring one is drawn, whatever its label;
3. relations whose subject and object both survived, in the file's rank order, with predicate
   score at least ``min_relation_score``; the first ``max_pairs`` distinct ordered pairs are kept,
   each with at most ``max_predicates_per_pair`` distinct predicates;
4. the drawn objects are those the kept relations connect (all surviving objects when no relation
   is kept), so the image and the graph show the same objects, one node each.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou, nms

__all__ = ["DrawnPair", "DrawSelection", "SelectionOptions", "select_for_drawing", "suppress_duplicates"]


@dataclass(frozen=True)
class SelectionOptions:
    """Limits of a drawing (see the module docstring)."""

    min_object_score: float = 0.2
    nms_iou: float = 0.5
    min_relation_score: float = 0.0
    max_pairs: int = 12
    max_predicates_per_pair: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou: expected a value in [0, 1], got {self.nms_iou}")
        if self.max_pairs < 0 or self.max_predicates_per_pair < 1:
            raise ValueError(
                f"max_pairs >= 0 and max_predicates_per_pair >= 1 expected, got {self.max_pairs} and "
                f"{self.max_predicates_per_pair}"
            )


@dataclass(frozen=True)
class DrawnPair:
    """One drawn (subject, object) pair with its predicates and their ranks in the file."""

    subject: int
    object: int
    predicates: tuple[str, ...]
    ranks: tuple[int, ...]
    scores: tuple[float, ...]


@dataclass
class DrawSelection:
    """Result of :func:`select_for_drawing`; object ids are those of the image entry."""

    objects: list[int]
    pairs: list[DrawnPair]
    candidates: int = 0  # objects passing the score threshold
    suppressed: dict[int, int] = field(default_factory=dict)  # duplicate id -> id of the box kept

    @property
    def num_relations(self) -> int:
        return sum(len(p.predicates) for p in self.pairs)


def suppress_duplicates(boxes: np.ndarray, scores: np.ndarray, iou: float) -> tuple[np.ndarray, dict[int, int]]:
    """Class-agnostic NMS: (indices kept, best score first; ``suppressed index -> index that suppressed it``)."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64), {}
    kept = nms(torch.from_numpy(boxes), torch.from_numpy(scores), float(iou)).numpy()
    if len(kept) == len(boxes):
        return kept, {}
    overlap = box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes[kept])).numpy()
    suppressed = {}
    for i in sorted(set(range(len(boxes))) - set(kept.tolist())):
        # the highest-scoring kept box overlapping it beyond the threshold (kept is score-ordered)
        over = np.flatnonzero(overlap[i] > iou)
        suppressed[i] = int(kept[over[0]]) if len(over) else int(kept[overlap[i].argmax()])
    return kept, suppressed


def select_for_drawing(entry: Mapping[str, Any], options: SelectionOptions | None = None) -> DrawSelection:
    """Pick the objects and relations of a scene-graph file entry to draw (module docstring)."""
    options = options or SelectionOptions()
    objects: Sequence[Mapping[str, Any]] = entry["objects"]
    scores = np.array([float(o["score"]) for o in objects], dtype=np.float32)
    candidates = np.flatnonzero(scores >= options.min_object_score)
    boxes = np.array([objects[i]["box"] for i in candidates], dtype=np.float32).reshape(-1, 4)
    kept_local, suppressed_local = suppress_duplicates(boxes, scores[candidates], options.nms_iou)
    alive = {int(candidates[i]) for i in kept_local}
    suppressed = {int(candidates[i]): int(candidates[j]) for i, j in suppressed_local.items()}

    pairs: dict[tuple[int, int], dict[str, list]] = {}
    for rank, rel in enumerate(entry["relations"]):
        s, o = int(rel["subject"]), int(rel["object"])
        if s not in alive or o not in alive or s == o or float(rel["score"]) < options.min_relation_score:
            continue
        key = (s, o)
        if key not in pairs:
            if len(pairs) >= options.max_pairs:
                continue
            pairs[key] = {"predicates": [], "ranks": [], "scores": []}
        slot = pairs[key]
        if rel["predicate"] in slot["predicates"] or len(slot["predicates"]) >= options.max_predicates_per_pair:
            continue
        slot["predicates"].append(str(rel["predicate"]))
        slot["ranks"].append(rank)
        slot["scores"].append(float(rel["score"]))
    drawn_pairs = [
        DrawnPair(s, o, tuple(v["predicates"]), tuple(v["ranks"]), tuple(v["scores"])) for (s, o), v in pairs.items()
    ]
    if drawn_pairs:
        used = {p.subject for p in drawn_pairs} | {p.object for p in drawn_pairs}
        shown = [i for i in sorted(alive, key=lambda i: (-scores[i], i)) if i in used]
    else:
        shown = sorted(alive, key=lambda i: (-scores[i], i))
    return DrawSelection(objects=shown, pairs=drawn_pairs, candidates=len(candidates), suppressed=suppressed)
