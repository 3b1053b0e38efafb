"""Compare the toolkit's evaluators with reference numbers of the original SGB / PySGG code.

Usage: python benchmarks/check_golden.py [GOLDEN_DIR]   (default: ../shared/golden next to the repo)

Reads every ``*.npz`` case with its ``*.ref_vg.json`` / ``*.ref_oi.json`` (format in the
golden folder's README), runs our evaluators on it and prints one comparison table.
Exit status 1 when any value differs by more than 1e-9.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgg.evaluation import OIRelationEvaluator, VGSceneGraphEvaluator
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

TOL = 1e-9


def load_case(path: str):
    """npz case -> (mode, C, records, predictions, zeroshot triplets or None)."""
    d = np.load(path, allow_pickle=False)
    mode = str(d["mode"])
    c = int(d["num_predicates"])

    def split(key, count_key):
        counts = d[count_key]
        return np.split(d[key], np.cumsum(counts)[:-1])

    gt_boxes, gt_labels = split("gt_boxes", "gt_box_count"), split("gt_labels", "gt_box_count")
    gt_rels = split("gt_rels", "gt_rel_count")
    pb, pl, ps = (split(k, "pred_box_count") for k in ("pred_boxes", "pred_labels", "pred_scores"))
    pairs, scores = split("rel_pair_idxs", "rel_count"), split("rel_scores", "rel_count")
    records, preds = [], []
    for i, (w, h) in enumerate(d["image_wh"]):
        records.append(SceneGraphRecord(i, f"{i}.jpg", int(w), int(h), gt_boxes[i], gt_labels[i], gt_rels[i]))
        preds.append(SceneGraphPrediction(pb[i], pl[i], ps[i], pairs[i], rel_scores=scores[i]))
    zs = d["zeroshot_triplets"] if "zeroshot_triplets" in d else None
    return mode, c, records, preds, zs


def flatten(prefix: str, obj, out: dict[str, object]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            flatten(f"{prefix}[{i}]", v, out)
    else:
        out[prefix] = obj


def ours_vg(mode, c, records, preds, zs, phrase_detection: bool = True, res: dict | None = None) -> dict[str, object]:
    """Our VG-150 metrics flattened to the reference JSON's keys (``res``: results computed already)."""
    names = ["__background__"] + [f"p{i}" for i in range(1, c + 1)]
    ev = VGSceneGraphEvaluator(names, mode, zeroshot_triplets=zs, phrase_detection=phrase_detection)
    if res is None:
        ev.process(records, preds)
        res = ev.evaluate()
    main, per, imgs = res[mode], res["per_predicate"], res["images_in_average"]
    out: dict[str, object] = {}
    for key, v in main.items():
        out[key + "(derived)" if key.startswith("F@") else key] = v
    for k in ev.recall_ks:
        out[f"per_predicate_recall.mR@{k}"] = per[f"mR@{k}"]
        out[f"per_predicate_ng_recall.ng-mR@{k}"] = per[f"ng-mR@{k}"]
    out["images_in_average.recall"] = imgs["recall"]
    out["images_in_average.zeroshot_recall"] = imgs["zeroshot_recall"]
    out["images_in_average.per_predicate_images"] = per["images"]
    out["driver_return_value"] = main["R@100"]
    flat: dict[str, object] = {}
    flatten("", out, flat)
    return flat


def ours_oi(mode, c, records, preds, res: dict | None = None) -> dict[str, object]:
    """Our OI-V6 metrics flattened to the reference JSON's keys (``res``: results computed already)."""
    if res is None:
        names = ["__background__"] + [f"p{i}" for i in range(1, c + 1)]
        ev = OIRelationEvaluator(names, mode)
        ev.process(records, preds)
        res = ev.evaluate()
    main, per = res[mode], res["oi_per_predicate"]
    out: dict[str, object] = dict(main)
    out["per_predicate"] = {k: per[k] for k in ("npos", "ndets", "AP_rel", "AP_phr", "weight")}
    flat: dict[str, object] = {}
    flatten("", out, flat)
    return flat


def flatten_reference(ref: dict[str, object]) -> dict[str, object]:
    """A reference JSON's metric values by flattened key (metadata left out)."""
    flat_ref: dict[str, object] = {}
    flatten("", {k: v for k, v in ref.items() if not k.startswith("_") and k not in ("mode", "printed_recalls_percent")},
            flat_ref)
    return flat_ref


def compare(ref: dict[str, object], ours: dict[str, object]) -> tuple[int, int, list[str]]:
    flat_ref = flatten_reference(ref)
    n_ok, n_bad, bad = 0, 0, []
    for key, rv in flat_ref.items():
        if key not in ours:
            n_bad += 1
            bad.append(f"{key}: missing (ref {rv})")
            continue
        ov = ours[key]
        if rv is None:
            ok = ov is None or (isinstance(ov, float) and math.isnan(ov))
        else:
            ok = ov is not None and not (isinstance(ov, float) and math.isnan(ov)) and abs(float(ov) - float(rv)) <= TOL
        if ok:
            n_ok += 1
        else:
            n_bad += 1
            bad.append(f"{key}: ours {ov} ref {rv}")
    return n_ok, n_bad, bad


def main() -> int:
    default = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "golden")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("golden_dir", nargs="?", default=default)
    ap.add_argument("-v", "--verbose", action="store_true", help="list every mismatching value")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cases = sorted(glob.glob(os.path.join(args.golden_dir, "*.npz")) + glob.glob(os.path.join(args.golden_dir, "edge", "*.npz")))
    if not cases:
        print(f"no *.npz cases under {args.golden_dir}")
        return 1
    rows, total_bad, details = [], 0, []
    for path in cases:
        mode, c, records, preds, zs = load_case(path)
        stem = path[: -len(".npz")]
        for kind in ("vg", "oi"):
            ref_path = f"{stem}.ref_{kind}.json"
            if not os.path.exists(ref_path):
                continue
            with open(ref_path) as f:
                ref = json.load(f)
            ours = ours_vg(mode, c, records, preds, zs) if kind == "vg" else ours_oi(mode, c, records, preds)
            n_ok, n_bad, bad = compare(ref, ours)
            total_bad += n_bad
            rows.append((os.path.relpath(path, args.golden_dir), kind, mode, len(records), n_ok, n_bad))
            details += [f"{os.path.basename(stem)}[{kind}] {b}" for b in bad]
    print(f"{'case':34s} {'eval':4s} {'mode':8s} {'images':>6s} {'match':>6s} {'differ':>6s}")
    for r in rows:
        print(f"{r[0]:34s} {r[1]:4s} {r[2]:8s} {r[3]:6d} {r[4]:6d} {r[5]:6d}")
    print(f"total values differing by more than {TOL}: {total_bad}")
    for line in details if args.verbose or total_bad <= 40 else details[:40]:
        print("  " + line)
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
