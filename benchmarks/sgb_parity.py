#!/usr/bin/env python
"""Largest differences between SGB's own outputs and the converted model here, stage by stage.

    python benchmarks/sgb_parity.py RUN_DIR [RUN_DIR ...] [--threads 2] [--json out.json]

Each ``RUN_DIR`` is an output folder of SGB's reference harness (``ref_sgb_model.py``): SGB's
config and checkpoint, the images and ``outputs.npz`` (what SGB's code computed). The checkpoint is
converted with the toolkit's converter, the converted model runs on the same images through the
toolkit's data mapper, and every stage both record is compared: network input, RPN proposals,
detections, the relation head's box and union features, the predictor's logits, the final scene
graph in original-image pixels. Integer stages (labels, pairs) must be equal. One table row per
run with the largest difference of each group; run with the harness's ``--threads`` for
bit-identical results.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgg.convert.sgb import load_converted  # noqa: E402
from sgg.convert.sgb_parity import compare_stages, convert_harness_run, harness_record, run_stages  # noqa: E402
from sgg.data.mapper import DatasetMapper  # noqa: E402

GROUPS = {
    "input": ("input_sum",),
    "rpn boxes px": ("rpn_boxes",),
    "rpn score": ("rpn_objectness",),
    "det boxes px": ("det_boxes_before_relation", "det_boxes_per_cls"),
    "det score/logit": ("det_scores_before_relation", "det_predict_logits", "box_head_logits_gt"),
    "rel box/union feat": ("rel_roi_features", "union_features", "union_spatial_features"),
    "predictor logits": ("obj_refine_logits", "rel_logits_unsorted"),
    "boxes px": ("boxes",),
    "obj score": ("scores",),
    "rel score": ("rel_scores",),
}


def check_run(run: str, work: str) -> dict:
    """Convert the run's checkpoint, run it here, compare; returns the per-group largest differences."""
    out, dicts, gt = convert_harness_run(run, work)
    cfg, model = load_converted(out, dicts)
    mapper = DatasetMapper.from_config(cfg, is_train=False)
    with np.load(os.path.join(run, "outputs.npz")) as data:
        expected = {k: data[k] for k in data.files}
    groups = {g: None for g in GROUPS}
    mismatched = []
    for k, im in enumerate(gt["images"]):
        expected[f"img{k}_input_sum"] = np.asarray([expected[f"img{k}_input_tensor"].astype(np.float64).sum()])
        diffs, bad = compare_stages(run_stages(model, mapper(harness_record(im, run, k))), expected, k)
        mismatched += [f"image {k} {b}" for b in bad]
        for group, stages in GROUPS.items():
            for stage in stages:
                if stage in diffs:
                    groups[group] = max(groups[group] or 0.0, diffs[stage])
    mode = "detector" if not cfg.MODEL.RELATION_ON else model.mode
    return {"run": os.path.basename(os.path.normpath(run)), "mode": mode, "arch": cfg.MODEL.DETECTOR.ARCH,
            "groups": groups, "mismatched": mismatched, "images": len(gt["images"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="output folders of SGB's reference harness")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the harness's --threads)")
    ap.add_argument("--json", default="", help="also write the results to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for run in args.runs:
        with tempfile.TemporaryDirectory(prefix="sgb_parity_") as work:
            results.append(check_run(run, work))
    print("| run | arch | mode | images | " + " | ".join(GROUPS) + " | integers |")
    print("|---|---|---|---:|" + "---:|" * len(GROUPS) + "---|")
    for r in results:
        cells = " | ".join("-" if r["groups"][g] is None else f"{r['groups'][g]:.2g}" for g in GROUPS)
        print(f"| {r['run']} | {r['arch']} | {r['mode']} | {r['images']} | {cells} | "
              f"{'equal' if not r['mismatched'] else '; '.join(r['mismatched'])} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
