"""Speed of the torchvision detector presets on synthetic images (CPU): train s/iter, inference ms/img.

python benchmarks/bench_detector.py [--archs toy_resnet18_fpn ...] [--size 256] [--batch 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sgg.modeling.detector import TorchvisionDetector
from sgg.structures import ImageSample, SceneGraphRecord


def synthetic_batch(n: int, size: int, num_classes: int, rng: np.random.Generator) -> list:
    """``n`` images with 3-8 filled rectangles of 16-96 px (like the toy dataset's objects)."""
    out = []
    for i in range(n):
        img = torch.full((3, size, size), 0.5)
        k = int(rng.integers(3, 9))
        wh = rng.integers(16, 97, size=(k, 2))
        xy = rng.integers(0, size - wh)
        boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        labels = rng.integers(1, num_classes, size=k)
        for (x1, y1, x2, y2), lab in zip(boxes.astype(int), labels):
            img[:, y1:y2, x1:x2] = torch.tensor(
                [(lab * 37 % 255) / 255, (lab * 91 % 255) / 255, (lab * 53 % 255) / 255]
            )[:, None, None]
        rec = SceneGraphRecord(i, f"{i}.jpg", size, size, boxes, labels, np.zeros((0, 3)))
        out.append(
            ImageSample(
                img,
                rec,
                torch.from_numpy(boxes),
                torch.from_numpy(labels).long(),
                torch.zeros(0, 3, dtype=torch.long),
                (1.0, 1.0),
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["toy_resnet18_fpn"])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--num-classes", type=int, default=25)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    print(
        f"| arch | params (M) | train s/iter (batch {args.batch}, {args.size} px, {args.threads} thr) "
        "| inference ms/img |"
    )
    print("|---|---|---|---|")
    for arch in args.archs:
        model = TorchvisionDetector(num_classes=args.num_classes, arch=arch)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        times = []
        for it in range(args.iters + 2):
            batch = synthetic_batch(args.batch, args.size, args.num_classes, rng)
            t = time.perf_counter()
            loss = sum(model(batch).values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            if it >= 2:  # warm-up iterations excluded
                times.append(time.perf_counter() - t)
        model.eval()
        batch = synthetic_batch(args.batch, args.size, args.num_classes, rng)
        with torch.no_grad():
            model(batch)
            t = time.perf_counter()
            for _ in range(3):
                model(batch)
        infer = (time.perf_counter() - t) / (3 * args.batch) * 1000
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"| {arch} | {params:.1f} | {np.median(times):.2f} | {infer:.0f} |")


if __name__ == "__main__":
    main()
