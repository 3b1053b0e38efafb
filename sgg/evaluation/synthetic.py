"""Synthetic ground truth and predictions shaped like real SGG runs (benchmarks and scale tests).

``predcls``/``sgcls``-sized: the GT boxes as objects (12 by default, 132 ordered pairs);
``sgdet``-sized: 80 jittered detections (6,320 ordered pairs). Every pair carries softmax
scores over ``num_predicates + 1`` columns (background at 0); the GT pair's predicate gets a
boost for a fraction of the GT relations so that every metric is non-trivial. Rows are in
rank order (descending triplet score), as a model's post-processor returns them.
Images are produced one at a time (:func:`synthetic_images` is a generator), so a
benchmark over tens of thousands of images never holds more than one.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

__all__ = ["synthetic_image", "synthetic_images"]


def synthetic_image(
    rng: np.random.Generator,
    image_id: int,
    mode: str,
    *,
    num_predicates: int = 50,
    num_object_classes: int = 150,
    num_gt_objects: int = 12,
    num_gt_relations: int = 7,
    num_detections: int = 80,
    boost_fraction: float = 0.7,
) -> tuple[SceneGraphRecord, SceneGraphPrediction]:
    """One (GT record, full prediction) pair; ``mode`` picks GT boxes (predcls/sgcls) or detections.

    In ``sgcls`` the labels are the GT labels with 30% replaced at random; object scores are 1
    in ``predcls`` and uniform in (0, 1) otherwise.
    """
    n_gt = num_gt_objects
    xy = rng.uniform(0, 500, (n_gt, 2))
    wh = rng.uniform(20, 200, (n_gt, 2))
    gt_boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    gt_labels = rng.integers(1, num_object_classes + 1, n_gt)
    m = num_gt_relations
    s = rng.integers(0, n_gt, m)
    o = (s + rng.integers(1, n_gt, m)) % n_gt
    rels = np.stack([s, o, rng.integers(1, num_predicates + 1, m)], 1)
    rec = SceneGraphRecord(image_id, f"images/{image_id:06d}.jpg", 800, 600, gt_boxes, gt_labels, rels)
    if mode == "predcls":
        boxes, labels, scores = gt_boxes, gt_labels, np.ones(n_gt, np.float32)
        src = np.arange(n_gt)
    elif mode == "sgcls":
        boxes = gt_boxes
        labels = np.where(rng.random(n_gt) < 0.7, gt_labels, rng.integers(1, num_object_classes + 1, n_gt))
        scores = rng.uniform(0.05, 1.0, n_gt).astype(np.float32)
        src = np.arange(n_gt)
    elif mode == "sgdet":
        n = num_detections
        src = np.concatenate([np.arange(n_gt), rng.integers(0, n_gt, n - n_gt)]) if n >= n_gt else np.arange(n)
        boxes = (gt_boxes[src] + rng.normal(0, 8, (n, 4))).astype(np.float32)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        labels = np.where(rng.random(n) < 0.6, gt_labels[src], rng.integers(1, num_object_classes + 1, n))
        scores = rng.uniform(0.05, 1.0, n).astype(np.float32)
    else:
        raise ValueError(f"mode must be predcls, sgcls or sgdet, got {mode!r}")
    n = len(boxes)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = ii != jj
    pairs = np.stack([ii[keep], jj[keep]], 1)
    logits = rng.normal(0, 2, (len(pairs), num_predicates + 1)).astype(np.float32)
    # boost the GT predicate on pairs whose objects come from a GT relation's objects
    boost = rng.random(m) < boost_fraction
    for (a, b, p) in rels[boost]:
        rows = np.flatnonzero((src[pairs[:, 0]] == a) & (src[pairs[:, 1]] == b))
        logits[rows, p] += rng.uniform(2.0, 5.0)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    rank = np.argsort(-(probs[:, 1:].max(1) * scores[pairs[:, 0]] * scores[pairs[:, 1]]), kind="stable")
    pred = SceneGraphPrediction(boxes, labels, scores, pairs[rank], rel_scores=probs[rank])
    return rec, pred


def synthetic_images(num_images: int, mode: str, seed: int = 0, **kwargs) -> Iterator[tuple[SceneGraphRecord,
                                                                                      SceneGraphPrediction]]:
    """Yield ``num_images`` synthetic (record, prediction) pairs lazily (see :func:`synthetic_image`)."""
    rng = np.random.default_rng(seed)
    for i in range(num_images):
        yield synthetic_image(rng, i, mode, **kwargs)
