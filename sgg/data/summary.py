"""Human-readable statistics of a dataset folder (image/object/relation counts, long tail, zero-shot)."""
from __future__ import annotations

import os
from collections import Counter
from typing import Dict, List

import numpy as np

from .catalog import ZEROSHOT_FILE, load_class_names, load_dataset_split, load_zeroshot_triplets

__all__ = ["summarize_dataset", "format_summary"]


def summarize_dataset(root: str, fmt: str = "vg150", num_val_im: int = 5000, check_images: bool = False) -> Dict:
    """Counts per split, predicate frequencies (all splits), head/tail ratio and zero-shot figures."""
    names = load_class_names(root, fmt)
    preds: List[str] = names["predicate_classes"]
    out: Dict = {"root": root, "format": fmt, "splits": {}}
    pred_counter: Counter = Counter()
    triplets = {}
    for split in ("train", "val", "test"):
        recs = load_dataset_split(root, fmt, split, num_val_im=num_val_im, check_images=check_images)
        out["splits"][split] = {
            "images": len(recs),
            "objects": int(sum(r.num_objects for r in recs)),
            "relations": int(sum(r.num_relations for r in recs)),
        }
        trip = set()
        for r in recs:
            pred_counter.update(r.relations[:, 2].tolist())
            trip.update(zip(r.labels[r.relations[:, 0]].tolist(), r.labels[r.relations[:, 1]].tolist(),
                            r.relations[:, 2].tolist()))
        triplets[split] = trip
    counts = {preds[i]: int(pred_counter.get(i, 0)) for i in range(1, len(preds))}
    out["predicate_counts"] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    vals = np.array(list(counts.values()), dtype=np.float64)
    out["head_tail_ratio"] = float(vals.max() / vals.min()) if vals.min() > 0 else float("inf")
    zs_path = os.path.join(root, ZEROSHOT_FILE)
    if os.path.isfile(zs_path):
        zs = {tuple(t) for t in load_zeroshot_triplets(zs_path).tolist()}
        seen = triplets["train"] | triplets["val"]
        out["zeroshot"] = {
            "triplets_in_file": len(zs),
            "test_triplets_unseen_in_train": len(triplets["test"] - seen),
            "file_triplets_seen_in_train": len(zs & seen),
        }
    return out


def format_summary(s: Dict) -> str:
    """Multi-line text of :func:`summarize_dataset`'s result."""
    lines = [f"dataset {s['root']} ({s['format']})"]
    for split, c in s["splits"].items():
        lines.append(f"  {split:5s}: {c['images']:6d} images {c['objects']:7d} objects {c['relations']:7d} relations")
    lines.append("  predicate counts (all splits): " + ", ".join(f"{k}={v}" for k, v in s["predicate_counts"].items()))
    lines.append(f"  head/tail predicate frequency ratio: {s['head_tail_ratio']:.1f}")
    if "zeroshot" in s:
        z = s["zeroshot"]
        lines.append(f"  zero-shot triplets: {z['triplets_in_file']} in file, {z['test_triplets_unseen_in_train']} test "
                     f"triplets unseen in train, {z['file_triplets_seen_in_train']} listed triplets seen in train")
    return "\n".join(lines)
