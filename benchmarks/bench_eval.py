"""Per-image time and peak memory of the VG-150 and OI-V6 evaluators; prints one table.

Inputs are synthetic but shaped like real runs: predcls-sized (12 GT objects, 132 pairs,
~7 GT relations, 51 predicate columns) and sgdet-sized (80 detected boxes, 6,320 pairs,
51 columns). Time = process() per image (best of 5 passes, robust to a busy machine) plus evaluate() amortised;
peak memory measured with tracemalloc in a separate pass (tracemalloc slows code down).
Usage: python benchmarks/bench_eval.py [--images N]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgg.evaluation import OIRelationEvaluator, VGSceneGraphEvaluator
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

C = 50
TARGETS_MS = {("vg", "predcls"): 0.4, ("vg", "sgdet"): 1.5, ("oi", "sgdet"): 4.0}


def make_image(rng: np.random.Generator, i: int, mode: str):
    """One synthetic (record, prediction) pair of the requested size."""
    n_gt = 12
    xy = rng.uniform(0, 500, (n_gt, 2))
    wh = rng.uniform(20, 200, (n_gt, 2))
    gt_boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    gt_labels = rng.integers(1, 151, n_gt)
    m = 7
    s = rng.integers(0, n_gt, m)
    o = (s + rng.integers(1, n_gt, m)) % n_gt
    rels = np.stack([s, o, rng.integers(1, C + 1, m)], 1)
    rec = SceneGraphRecord(i, f"{i}.jpg", 800, 600, gt_boxes, gt_labels, rels)
    if mode == "predcls":
        boxes, labels, scores = gt_boxes, gt_labels, np.ones(n_gt, np.float32)
    else:
        n = 80
        src = rng.integers(0, n_gt, n)
        boxes = (gt_boxes[src] + rng.normal(0, 8, (n, 4))).astype(np.float32)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        labels = np.where(rng.random(n) < 0.6, gt_labels[src], rng.integers(1, 151, n))
        scores = rng.random(n).astype(np.float32)
    n = len(boxes)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pairs = np.stack([ii.ravel(), jj.ravel()], 1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    logits = rng.normal(0, 2, (len(pairs), C + 1)).astype(np.float32)
    probs = np.exp(logits)
    probs /= probs.sum(1, keepdims=True)
    rank = np.argsort(-(probs[:, 1:].max(1) * scores[pairs[:, 0]] * scores[pairs[:, 1]]), kind="stable")
    pred = SceneGraphPrediction(boxes, labels, scores, pairs[rank], rel_scores=probs[rank])
    return rec, pred


def build(kind: str, mode: str):
    names = ["__background__"] + [f"p{i}" for i in range(1, C + 1)]
    if kind == "vg":
        return VGSceneGraphEvaluator(names, mode, zeroshot_triplets=np.array([[1, 2, 3], [4, 5, 6]]))
    return OIRelationEvaluator(names, mode)


def run(kind: str, mode: str, images) -> tuple:
    ev = build(kind, mode)
    times = []
    for _ in range(5):
        ev.reset()
        t0 = time.perf_counter()
        for rec, pred in images:
            ev.process_one(rec, pred)
        t1 = time.perf_counter()
        times.append((t1 - t0) / len(images))
    import logging

    logging.disable(logging.INFO)
    t0 = time.perf_counter()
    ev.evaluate()
    t_eval = time.perf_counter() - t0
    logging.disable(logging.NOTSET)
    ev = build(kind, mode)
    tracemalloc.start()
    for rec, pred in images:
        ev.process_one(rec, pred)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return float(np.min(times)) * 1e3, t_eval * 1e3 / len(images), peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    sets = {mode: [make_image(rng, i, mode) for i in range(args.images)] for mode in ("predcls", "sgdet")}
    print(f"{'evaluator':9s} {'input':8s} {'pairs':>6s} {'process ms/img':>15s} {'evaluate ms/img':>16s} "
          f"{'peak MiB':>9s} {'target ms':>10s}")
    for kind, mode in (("vg", "predcls"), ("vg", "sgdet"), ("oi", "predcls"), ("oi", "sgdet")):
        t_img, t_eval, peak = run(kind, mode, sets[mode])
        target = TARGETS_MS.get((kind, mode))
        tgt = f"<= {target}" if target else "-"
        pairs = int(np.mean([len(p.rel_pair_idxs) for _, p in sets[mode]]))
        print(f"{kind:9s} {mode:8s} {pairs:6d} {t_img:15.3f} {t_eval:16.4f} {peak:9.2f} {tgt:>10s}")


if __name__ == "__main__":
    main()
