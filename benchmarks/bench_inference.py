#!/usr/bin/env python
"""Inference ms / image of a whole model at VG-150 widths, per mode, and its peak memory.

    python benchmarks/bench_inference.py [--head motifs] [--modes predcls,sgcls,sgdet] [--images 3] [--threads 2]

The model is built from ``configs/VG150/<mode>_<head>.yaml`` as configured there (ResNet-50 FPN,
4096-d box head and pooling, 151 object and 51 predicate classes) with random weights and
synthetic class names and statistics (no dataset is read). Images are 800 x 600 (resized to the
config's 600 / 1000 test sizes) with 12 GT boxes. In sgdet the detector keeps exactly ``--boxes``
detections per image (score threshold 0, ``TEST.DETECTIONS_PER_IMG``), so the relation stage sees
``boxes * (boxes - 1)`` pairs (80 boxes: 6,320). Each mode runs in its own child process, so its
peak resident memory (``ru_maxrss``) is that mode's own. Prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if "--root" in sys.argv:  # measure another checkout (its sgg/ and configs/), e.g. a reference revision
    ROOT = os.path.abspath(sys.argv[sys.argv.index("--root") + 1])
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402


def synthetic_metadata(num_obj: int, num_rel: int, seed: int = 0):
    """A ``DatasetMetadata`` with made-up class names and long-tailed statistics (no files)."""
    from sgg.data.catalog import DatasetMetadata
    from sgg.data.statistics import DatasetStatistics

    rng = np.random.default_rng(seed)
    fg = rng.poisson(0.3, (num_obj, num_obj, num_rel)).astype(np.int64)
    fg[:, :, 0] = rng.integers(1, 50, (num_obj, num_obj))
    stats = DatasetStatistics(fg_matrix=fg, pred_counts=np.r_[0, fg[:, :, 1:].sum((0, 1))].astype(np.int64),
                              bg_matrix=fg[:, :, 0] - 1, obj_counts=rng.integers(1, 1000, num_obj).astype(np.int64))
    return DatasetMetadata(
        name="bench_vg150", object_classes=["__background__"] + [f"object{i}" for i in range(1, num_obj)],
        predicate_classes=["__background__"] + [f"predicate{i}" for i in range(1, num_rel)],
        evaluator_type="vg150", root="", split="train", statistics=stats,
    )


def synthetic_samples(n: int, cfg, seed: int = 0):
    """``n`` ImageSamples of 800 x 600 random images with 12 GT boxes and 8 relations, test-resized."""
    from sgg.data.mapper import resized_shape
    from sgg.structures.image_sample import ImageSample
    from sgg.structures.scene_graph import SceneGraphRecord

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w, h = 800, 600
        xy = rng.uniform(0, 600, (12, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(30, 200, (12, 2))], 1).clip(0, [w - 1, h - 1, w - 1, h - 1])
        labels = rng.integers(1, cfg.MODEL.ROI_HEADS.NUM_CLASSES, 12)
        rels = np.stack([np.arange(8), (np.arange(8) + 1) % 12, rng.integers(1, 51, 8)], 1)
        rec = SceneGraphRecord(i, f"{i}.jpg", w, h, boxes.astype(np.float32), labels, rels)
        nh, nw = resized_shape(h, w, int(cfg.INPUT.MIN_SIZE_TEST), int(cfg.INPUT.MAX_SIZE_TEST))
        sx, sy = nw / w, nh / h
        image = torch.rand(3, nh, nw)
        gt = torch.from_numpy(boxes.astype(np.float32) * np.array([sx, sy, sx, sy], np.float32))
        out.append(ImageSample(image=image, record=rec, gt_boxes=gt, gt_labels=torch.as_tensor(labels),
                               gt_relations=torch.as_tensor(rels), scale=(sx, sy)))
    return out


def run_mode(mode: str, head: str, images: int, boxes: int, opts: List[str]) -> dict:
    """Build the model of ``configs/VG150/<mode>_<head>.yaml`` and time inference (this process)."""
    from sgg.config import get_cfg
    from sgg.modeling.build import build_model

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(ROOT, "configs", "VG150", f"{mode}_{head}.yaml"))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "TEST.DETECTIONS_PER_IMG", boxes,
                         "MODEL.ROI_HEADS.DETECTIONS_PER_IMG", max(boxes, 100),
                         "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0] + list(opts))
    cfg.freeze()
    torch.manual_seed(0)
    model = build_model(cfg, synthetic_metadata(cfg.MODEL.ROI_HEADS.NUM_CLASSES,
                                                cfg.MODEL.ROI_RELATION_HEAD.NUM_CLASSES)).eval()
    samples = synthetic_samples(images + 1, cfg)
    times, n_obj, n_rel = [], [], []
    with torch.no_grad():
        for i, s in enumerate(samples):
            t0 = time.perf_counter()
            (pred,) = model([s])
            if i:  # the first image warms up
                times.append(time.perf_counter() - t0)
                n_obj.append(pred.num_objects)
                n_rel.append(pred.num_relations)
    return {
        "mode": mode, "ms_per_image": 1e3 * float(np.mean(times)), "objects": float(np.mean(n_obj)),
        "pairs": float(np.mean(n_rel)), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "threads": torch.get_num_threads(),
        "input": f"{samples[0].image.shape[2]}x{samples[0].image.shape[1]}",
    }


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--head", default="motifs", help="configs/VG150/<mode>_<head>.yaml (motifs, core, creal)")
    p.add_argument("--modes", default="predcls,sgcls,sgdet")
    p.add_argument("--images", type=int, default=3, help="timed images per mode (after one warm-up image)")
    p.add_argument("--boxes", type=int, default=80, help="sgdet: detections per image")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--root", default=ROOT, help="checkout whose sgg/ and configs/ are measured (default: this one)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("opts", nargs=argparse.REMAINDER, metavar="KEY VALUE", help="config overrides")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        print("@@" + json.dumps(run_mode(args.child, args.head, args.images, args.boxes, args.opts)))
        return ""
    rows = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--head", args.head,
               "--images", str(args.images), "--boxes", str(args.boxes), "--threads", str(args.threads),
               "--root", ROOT]
        out = subprocess.run(cmd + list(args.opts), check=True, stdout=subprocess.PIPE, text=True).stdout
        rows.append(json.loads([ln for ln in out.splitlines() if ln.startswith("@@")][-1][2:]))
    lines = ["| mode | input | objects | pairs | ms / image | peak RSS (MB) | params (M) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['input']} | {r['objects']:.0f} | {r['pairs']:,.0f} | "
                     f"{r['ms_per_image']:.0f} | {r['peak_rss_mb']:.0f} | {r['params_m']:.1f} |")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from profile_train import machine_line  # noqa: E402  (same folder)

    text = "\n".join(lines) + (f"\n\n{ROOT}: configs/VG150/<mode>_{args.head}.yaml, random weights, "
                               f"{args.images} images per mode; {machine_line(rows[0]['threads'] if rows else None)}.")
    print(text)
    return text


if __name__ == "__main__":
    main()
