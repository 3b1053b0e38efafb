#!/usr/bin/env python
"""Inference time of a converted SGB model here against SGB's own code, same checkpoint, images and CPU.

    TMPDIR=/work/ref python benchmarks/bench_sgb.py --harness ../shared/tools/sgb_reference \\
        --run RUN_DIR [--modes predcls sgcls sgdet] [--threads 2] [--memory]

``RUN_DIR`` is an output folder of SGB's reference harness (``ref_sgb_model.py``): SGB's config,
its checkpoint, the images and their ground truth. SGB's package is imported from its extracted
sources (``--sgb-root``, default ``$TMPDIR/refsrc/sgb``) with the harness's run-time stand-ins for
its compiled ops (``sgbstubs.py`` of ``--harness``); nothing of SGB is copied here. The toolkit
side converts the same checkpoint with ``tools/convert_checkpoint.py``'s converter.

For every mode both models run on every image (one image per batch, as SGB tests), after one
warm-up image; the table gives seconds per image, the speed-up, and the largest differences of the
outputs (boxes in original pixels, object scores, relation scores; labels and pairs must be equal).
``--memory`` adds the peak memory of SGDet inference with ``--memory-detections`` boxes (80: 6,320
pairs), each implementation measured alone in a fresh process (peak RSS minus RSS after loading).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from sgg.convert.sgb_parity import convert_harness_run  # noqa: E402

MODES = {"predcls": (True, True), "sgcls": (True, False), "sgdet": (False, False)}


# ----------------------------------------------------------------------------- SGB side
class SGBRunner:
    """SGB's model (its own code) for one mode, loaded from the run's checkpoint."""

    def __init__(self, run: str, harness: str, sgb_root: str, mode: str, detections: int = 0) -> None:
        sys.path.insert(0, os.path.abspath(harness))
        import sgbstubs

        sgbstubs.install(sgb_root)
        from maskrcnn_benchmark.config import cfg as base_cfg
        from maskrcnn_benchmark.data.collate_batch import BatchCollator
        from maskrcnn_benchmark.data.transforms import build_transforms
        from maskrcnn_benchmark.modeling.detector import build_detection_model
        from maskrcnn_benchmark.structures.bounding_box import BoxList

        cfg = base_cfg.clone()
        cfg.defrost()
        cfg.merge_from_file(os.path.join(run, "config.yaml"))
        gt_box, gt_label = MODES[mode]
        cfg.MODEL.ROI_RELATION_HEAD.USE_GT_BOX = gt_box
        cfg.MODEL.ROI_RELATION_HEAD.USE_GT_OBJECT_LABEL = gt_label
        if detections:
            cfg.MODEL.ROI_HEADS.DETECTIONS_PER_IMG = detections
        cfg.freeze()
        with sgbstubs.cpu_tensor_cuda_during_build():
            model = build_detection_model(cfg)
        state = torch.load(os.path.join(run, "sgb_model_final.pth"), map_location="cpu", weights_only=True)["model"]
        model.load_state_dict(state, strict=True)
        self.model = model.eval()
        self.transforms = build_transforms(cfg, is_train=False)
        self.collate = BatchCollator(cfg.DATALOADER.SIZE_DIVISIBILITY)
        self.BoxList = BoxList

    def inputs(self, run: str, image: dict):
        from PIL import Image

        img = Image.open(os.path.join(run, image["file_name"])).convert("RGB")
        boxes = torch.as_tensor(np.asarray(image["boxes_xyxy"], np.float64)).reshape(-1, 4)
        target = self.BoxList(boxes, (image["width"], image["height"]), "xyxy")
        target.add_field("labels", torch.as_tensor(image["labels"], dtype=torch.int64))
        target.add_field("attributes", torch.zeros((len(image["labels"]), 10), dtype=torch.int64))
        target.add_field("relation", torch.zeros((len(boxes), len(boxes)), dtype=torch.int64), is_triplet=True)
        target = target.clip_to_image(remove_empty=True)
        images, targets, _ = self.collate([(*self.transforms(img, target), 0)])
        return images, list(targets)

    def __call__(self, batch, image: dict) -> Dict[str, np.ndarray]:
        images, targets = batch
        with torch.no_grad():
            (out,) = self.model(images, targets)
        out = out.resize((image["width"], image["height"]))
        res = {"boxes": out.bbox, "labels": out.get_field("pred_labels"), "scores": out.get_field("pred_scores")}
        if out.has_field("rel_pair_idxs"):
            res.update(pairs=out.get_field("rel_pair_idxs"), rel_scores=out.get_field("pred_rel_scores"))
        return {k: v.detach().numpy() for k, v in res.items()}


# ----------------------------------------------------------------------------- toolkit side
class ToolkitRunner:
    """The converted model in this toolkit, for one mode."""

    def __init__(self, converted: str, dicts: str, mode: str, detections: int = 0) -> None:
        from sgg.convert.sgb import load_converted
        from sgg.data.mapper import DatasetMapper

        gt_box, gt_label = MODES[mode]
        overrides = ["MODEL.ROI_RELATION_HEAD.USE_GT_BOX", gt_box,
                     "MODEL.ROI_RELATION_HEAD.USE_GT_OBJECT_LABEL", gt_label]
        if detections:
            overrides += ["MODEL.ROI_HEADS.DETECTIONS_PER_IMG", detections, "TEST.DETECTIONS_PER_IMG", detections]
        cfg, self.model = load_converted(converted, dicts, overrides)
        self.mapper = DatasetMapper.from_config(cfg, is_train=False)

    def inputs(self, run: str, image: dict):
        from sgg.convert.sgb_parity import harness_record

        return self.mapper(harness_record(image, run))

    def __call__(self, sample, image: dict) -> Dict[str, np.ndarray]:
        with torch.no_grad():
            (pred,) = self.model([sample])
        res = {"boxes": pred.boxes, "labels": pred.labels, "scores": pred.scores}
        if pred.rel_pair_idxs is not None and len(pred.rel_pair_idxs):
            res.update(pairs=pred.rel_pair_idxs, rel_scores=pred.rel_scores)
        return {k: np.asarray(v) for k, v in res.items()}


# ----------------------------------------------------------------------------- helpers
def timed(runner, run: str, image: dict):
    """(outputs, seconds) of one image through ``runner``, input pipeline included."""
    t = time.perf_counter()
    out = runner(runner.inputs(run, image), image)
    return out, time.perf_counter() - t


def largest_differences(ours: Dict[str, np.ndarray], sgb: Dict[str, np.ndarray]) -> Dict[str, float]:
    for key in ("labels", "pairs"):
        if key in sgb and not np.array_equal(ours.get(key), sgb[key]):
            raise SystemExit(f"outputs differ: {key} are not equal")
    out = {}
    for key in ("boxes", "scores", "rel_scores"):
        if key in sgb:
            if ours[key].shape != sgb[key].shape:
                raise SystemExit(f"outputs differ: {key} shapes {ours[key].shape} vs {sgb[key].shape}")
            out[key] = float(np.abs(ours[key].astype(np.float64) - sgb[key]).max()) if sgb[key].size else 0.0
    return out


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_memory(args) -> None:
    """One implementation, one SGDet image, in this (fresh) process: print RSS figures as JSON."""
    torch.set_num_threads(args.threads)
    work = tempfile.mkdtemp(prefix="bench_sgb_")
    gt = json.load(open(os.path.join(args.run, "gt.json")))
    image = gt["images"][0]
    if args.child == "sgb":
        runner = SGBRunner(args.run, args.harness, args.sgb_root, "sgdet", args.memory_detections)
    else:
        converted, dicts, _ = convert_harness_run(args.run, work)
        runner = ToolkitRunner(converted, dicts, "sgdet", args.memory_detections)
    batch = runner.inputs(args.run, image)
    before = rss_mb()
    out = runner(batch, image)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before_mb": before, "peak_mb": peak, "boxes": int(len(out["boxes"])),
                      "pairs": int(len(out.get("pairs", [])))}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="output folder of SGB's reference harness (ref_sgb_model.py)")
    ap.add_argument("--harness", required=True, help="folder of the harness (sgbstubs.py)")
    ap.add_argument("--sgb-root", default=os.path.join(tempfile.gettempdir(), "refsrc", "sgb"),
                    help="SGB's extracted sources (the folder holding maskrcnn_benchmark/)")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--images", type=int, default=0, help="images of the run to use (0 = all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory", action="store_true", help="also measure SGDet peak memory (fresh processes)")
    ap.add_argument("--memory-detections", type=int, default=80)
    ap.add_argument("--child", choices=["sgb", "toolkit"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_memory(args)
    torch.set_num_threads(args.threads)
    work = tempfile.mkdtemp(prefix="bench_sgb_")
    converted, dicts, gt = convert_harness_run(args.run, work)
    images = gt["images"][: args.images or None]
    rows: List[tuple] = []
    for mode in args.modes:
        sgb = SGBRunner(args.run, args.harness, args.sgb_root, mode)
        ours = ToolkitRunner(converted, dicts, mode)
        t_sgb, t_ours, diffs = [], [], {}
        for k, image in enumerate([images[0]] + images):  # image 0 twice: the first run warms up
            a, ta = timed(sgb, args.run, image)
            b, tb = timed(ours, args.run, image)
            if k == 0:
                continue
            t_sgb.append(ta)
            t_ours.append(tb)
            for key, v in largest_differences(b, a).items():
                diffs[key] = max(diffs.get(key, 0.0), v)
        rows.append((mode, np.mean(t_sgb), np.mean(t_ours), diffs))
    print(f"\nSGB model {os.path.basename(os.path.normpath(args.run))}: {len(images)} images, "
          f"{args.threads} threads, torch {torch.__version__}")
    print("| mode | SGB s / image | toolkit s / image | speed-up | max |Δ box| px | max |Δ obj score| "
          "| max |Δ rel score| |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, a, b, d in rows:
        print(f"| {mode} | {a:.2f} | {b:.2f} | {a / b:.2f}x | {d.get('boxes', 0):.2g} | {d.get('scores', 0):.2g} "
              f"| {d.get('rel_scores', 0):.2g} |")
    if args.memory:
        print(f"\nSGDet peak memory, {args.memory_detections} detections, one image (fresh process each)")
        print("| implementation | boxes | pairs | RSS after loading MB | peak RSS MB | inference MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for who in ("sgb", "toolkit"):
            cmd = [sys.executable, os.path.abspath(__file__), "--child", who, "--run", args.run, "--harness",
                   args.harness, "--sgb-root", args.sgb_root, "--threads", str(args.threads),
                   "--memory-detections", str(args.memory_detections)]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
                             .splitlines()[-1])
            print(f"| {'SGB' if who == 'sgb' else 'toolkit'} | {res['boxes']} | {res['pairs']} | "
                  f"{res['before_mb']:.0f} | {res['peak_mb']:.0f} | {res['peak_mb'] - res['before_mb']:.0f} |")


if __name__ == "__main__":
    main()
