"""Synthetic SGDet-like predictions for ground-truth records (viewer and drawing tests). Not a test module.

Every GT object is detected several times (jittered boxes, some with another label), and every
ordered pair of detections gets a few ranked relations, the GT predicate among them for some of
the GT pairs: the clutter of a real SGDet export, with known matches.
"""
from __future__ import annotations

import numpy as np

from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

OBJECTS = ["__background__", "person", "horse", "hat", "cup", "table"]
PREDICATES = ["__background__", "on", "near", "riding", "wearing", "has"]


def toy_record(index: int, rng: np.random.Generator, width: int = 320, height: int = 240) -> SceneGraphRecord:
    """A GT image with 3-5 objects and 2-4 relations."""
    n = int(rng.integers(3, 6))
    xy = rng.uniform([0, 0], [width * 0.6, height * 0.6], size=(n, 2))
    wh = rng.uniform([30, 30], [width * 0.4, height * 0.4], size=(n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + wh, [width - 1, height - 1])], 1).astype(np.float32)
    labels = rng.integers(1, len(OBJECTS), size=n)
    m = int(rng.integers(2, 5))
    rels = []
    for _ in range(m):
        s, o = rng.choice(n, size=2, replace=False)
        rels.append((s, o, int(rng.integers(1, len(PREDICATES)))))
    return SceneGraphRecord(index, f"images/{index}.jpg", width, height, boxes, labels, np.array(rels))


def cluttered_prediction(record: SceneGraphRecord, rng: np.random.Generator, copies: int = 3,
                         hit_rate: float = 0.6) -> SceneGraphPrediction:
    """Detections: ``copies`` jittered boxes per GT object (the first with the GT label), ranked relations."""
    boxes, labels, scores, source = [], [], [], []
    for i, (box, label) in enumerate(zip(record.boxes, record.labels)):
        for c in range(copies):
            jitter = rng.normal(0, 2.0 if c == 0 else 6.0, size=4)
            b = np.clip(box + jitter, 0, [record.width - 1, record.height - 1] * 2)
            b[2:] = np.maximum(b[2:], b[:2] + 4)
            boxes.append(b)
            labels.append(label if c == 0 else int(rng.integers(1, len(OBJECTS))))
            scores.append(float(rng.uniform(0.6, 0.95) if c == 0 else rng.uniform(0.05, 0.7)))
            source.append(i)
    n = len(boxes)
    gt = {(int(s), int(o)): int(p) for s, o, p in record.relations}
    rows, dists = [], []
    c1 = len(PREDICATES)
    for a in range(n):
        for b in range(n):
            if a == b or source[a] == source[b]:
                continue
            dist = rng.dirichlet(np.ones(c1 - 1) * 0.5)
            key = (source[a], source[b])
            if key in gt and labels[a] == record.labels[source[a]] and rng.random() < hit_rate:
                dist[gt[key] - 1] += 2.0 if rng.random() < 0.5 else 0.15  # weak boosts rank beyond the top 20
            dist = np.concatenate([[0.01], dist / dist.sum()])
            rows.append((a, b))
            dists.append(dist)
    pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
    rel_scores = np.array(dists, dtype=np.float32).reshape(-1, c1)
    scores = np.array(scores, dtype=np.float32)
    order = np.argsort(-(rel_scores[:, 1:].max(1) * scores[pairs[:, 0]] * scores[pairs[:, 1]]), kind="stable")
    pairs, rel_scores = pairs[order], rel_scores[order]
    return SceneGraphPrediction(
        boxes=np.array(boxes, dtype=np.float32), labels=np.array(labels), scores=scores, rel_pair_idxs=pairs,
        rel_scores=rel_scores, rel_labels=rel_scores[:, 1:].argmax(1) + 1,
        rel_label_scores=rel_scores[:, 1:].max(1),
    )
