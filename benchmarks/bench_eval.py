"""Per-image time and peak memory of the VG-150 and OI-V6 evaluators, export sizes, evaluation at scale.

Three tables: (1) evaluator process/evaluate time and peak memory per input size;
(2) export size per image: full vs compact predictions, JSON vs HDF5, float32 vs float16
scores; (3) ``tools/evaluate.py``'s core (``run_evaluation``) over a compact HDF5 file of
``--stream-images`` sgdet-sized images (default 10,000) read image by image: wall time and
peak traced memory (the file is built from 50 distinct images under distinct names).

Inputs are synthetic but shaped like real runs: predcls-sized (12 GT objects, 132 pairs,
~7 GT relations, 51 predicate columns) and sgdet-sized (80 detected boxes, 6,320 pairs,
51 columns). Time = process() per image (best of 5 passes, robust to a busy machine) plus evaluate() amortised;
peak memory measured with tracemalloc in a separate pass (tracemalloc slows code down).
Usage: python benchmarks/bench_eval.py [--images N] [--stream-images N] [--only speed|size|stream]

Side by side with the original code (``--reference DIR``, DIR = a folder with the reference
harness ``make_case.py``, ``ref_vg.py`` and ``ref_oi.py``, whose README says how to set up SGB's
and PySGG's sources): three cases are generated with DIR/make_case.py (VG predcls; VG sgdet and
OI-V6 sgdet with up to 80 boxes and 6,320 pairs per image), then the original evaluator (a child
process running DIR/ref_vg.py or DIR/ref_oi.py on the case, which reports its own evaluation time)
and ours (in this process, ``process`` + ``evaluate``) run alternately ``--repeats`` times; the
table gives the best time per image of each, the ratio and the largest difference between the
numbers of the two (every value the reference reports)::

    TMPDIR=/path/with/refsrc python benchmarks/bench_eval.py --reference ../shared/tools/sgb_reference
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgg.evaluation import OIRelationEvaluator, VGSceneGraphEvaluator
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

C = 50
NAMES = ["__background__"] + [f"p{i}" for i in range(1, C + 1)]
OBJECTS = ["__background__"] + [f"o{i}" for i in range(1, 151)]
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
    names = NAMES
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


def _write(path: str, fmt: str, images, mode: str, score_dtype: str) -> None:
    if fmt == "hdf5":
        from sgg.export.hdf5_io import HDF5PredictionWriter

        with HDF5PredictionWriter(path, object_classes=OBJECTS, predicate_classes=NAMES, mode=mode, dataset="bench",
                                  score_dtype=score_dtype, overwrite=True) as w:
            for rec, pred in images:
                w.add(rec, pred)
    else:
        from sgg.export.scene_graph_json import SceneGraphWriter

        with SceneGraphWriter(path, object_classes=OBJECTS, predicate_classes=NAMES, mode=mode, dataset="bench",
                              full_scores=True, overwrite=True) as w:
            for rec, pred in images:
                w.add(rec, pred)


def size_table(sets: dict, tmp: str) -> None:
    """Export size per image: full vs compact, JSON vs HDF5 (gzip), float32 vs float16 scores."""
    from sgg.export.compact import compact_for_evaluation

    print(f"\n{'input':8s} {'rows':>6s} {'format':7s} {'scores':8s} {'full KiB/img':>13s} {'compact KiB/img':>16s} "
          f"{'compact rows':>13s}")
    for mode, images in sets.items():
        images = images[:20]
        compact = [(rec, compact_for_evaluation(pred, mode, rec)) for rec, pred in images]
        rows = int(np.mean([p.num_relations for _, p in images]))
        crows = int(np.mean([p.num_relations for _, p in compact]))
        for fmt, dtype in (("json", "float32"), ("hdf5", "float32"), ("hdf5", "float16")):
            sizes = []
            for variant in (images, compact):
                path = os.path.join(tmp, f"size.{fmt}")
                _write(path, fmt, variant, mode, dtype)
                sizes.append(os.path.getsize(path) / len(variant) / 1024)
            print(f"{mode:8s} {rows:6d} {fmt:7s} {dtype:8s} {sizes[0]:13.1f} {sizes[1]:16.1f} {crows:13d}")


def stream_table(num_images: int, tmp: str) -> None:
    """Evaluate a compact HDF5 file of ``num_images`` sgdet-sized images, read image by image."""
    import logging

    from sgg.evaluation.cli import open_predictions, run_evaluation
    from sgg.export.compact import compact_for_evaluation
    from sgg.export.hdf5_io import HDF5PredictionWriter

    rng = np.random.default_rng(1)
    pool = [make_image(rng, i, "sgdet") for i in range(50)]
    pool = [(rec, compact_for_evaluation(pred, "sgdet", rec)) for rec, pred in pool]
    path = os.path.join(tmp, "stream.h5")
    records = []
    t0 = time.perf_counter()
    with HDF5PredictionWriter(path, object_classes=OBJECTS, predicate_classes=NAMES, mode="sgdet", dataset="bench",
                              overwrite=True) as w:
        for i in range(num_images):
            g, pred = pool[i % len(pool)]
            rec = SceneGraphRecord(i, f"images/{i:07d}.jpg", g.width, g.height, g.boxes, g.labels, g.relations)
            w.add(rec, pred)
            records.append(rec)
    t_write = time.perf_counter() - t0
    size = os.path.getsize(path) / 2**20
    logging.disable(logging.WARNING)
    print(f"\n{'evaluator':9s} {'input':14s} {'images':>7s} {'file MiB':>9s} {'write s':>8s} {'evaluate s':>11s} "
          f"{'ms/img':>7s} {'peak MiB':>9s}")
    for fmt in ("vg150", "oiv6"):
        def once(fmt=fmt):
            meta, reader = open_predictions(path)
            try:
                return run_evaluation(records, reader, mode="sgdet", dataset_format=fmt,
                                      predicate_classes=meta["predicate_classes"], source=path)
            finally:
                reader.close()

        t0 = time.perf_counter()
        once()
        t_eval = time.perf_counter() - t0
        tracemalloc.start()
        once()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{fmt[:2]:9s} {'sgdet compact':14s} {num_images:7d} {size:9.1f} {t_write:8.1f} {t_eval:11.1f} "
              f"{t_eval * 1e3 / num_images:7.2f} {peak / 2**20:9.1f}")
    logging.disable(logging.NOTSET)


REFERENCE_CASES = (  # (kind, mode, make_case.py options)
    ("vg", "predcls", ["--mode", "predcls"]),
    ("vg", "sgdet", ["--mode", "sgdet", "--max-dets", "80", "--max-pairs", "6320", "--fp-mean", "68"]),
    ("oi", "sgdet", ["--mode", "sgdet", "--dataset", "oi", "--max-dets", "80", "--max-pairs", "6320",
                     "--fp-mean", "72"]),
)


def _ours_on_case(kind: str, mode: str, c: int, records, preds, zs):
    """(seconds, results) of our evaluator's process + evaluate on a loaded case."""
    import logging

    names = ["__background__"] + [f"p{i}" for i in range(1, c + 1)]
    ev = VGSceneGraphEvaluator(names, mode, zeroshot_triplets=zs) if kind == "vg" else OIRelationEvaluator(names, mode)
    logging.disable(logging.WARNING)
    try:
        t0 = time.perf_counter()
        ev.process(records, preds)
        res = ev.evaluate()
        return time.perf_counter() - t0, res
    finally:
        logging.disable(logging.NOTSET)


def reference_table(ref_dir: str, images: int, repeats: int, seed: int = 3) -> str:
    """Ours vs the original evaluators on cases made by ``ref_dir/make_case.py``; returns the table."""
    import json
    import math
    import subprocess

    from check_golden import flatten_reference, load_case, ours_oi, ours_vg

    ref_dir = os.path.abspath(ref_dir)
    for tool in ("make_case.py", "ref_vg.py", "ref_oi.py"):
        if not os.path.isfile(os.path.join(ref_dir, tool)):
            raise SystemExit(f"--reference {ref_dir}: {tool} not found (expected the reference harness folder)")
    rows = ["| evaluator | input | images | pairs / image | original ms / image | ours ms / image | ratio | "
            "largest difference | values compared |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory(prefix="bench_eval_ref_") as tmp:
        for kind, mode, opts in REFERENCE_CASES:
            case = os.path.join(tmp, f"{kind}_{mode}.npz")
            subprocess.run([sys.executable, os.path.join(ref_dir, "make_case.py"), "--seed", str(seed),
                            "--images", str(images), "--out", case] + opts, check=True, stdout=subprocess.DEVNULL)
            m, c, records, preds, zs = load_case(case)
            pairs = float(np.mean([len(p.rel_pair_idxs) for p in preds]))
            ref_times, our_times, ref_json, res = [], [], None, None
            for _ in range(repeats):  # alternate, so both see the same machine load
                out = subprocess.run([sys.executable, os.path.join(ref_dir, f"ref_{kind}.py"), case], check=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
                ref_json = json.loads(out)
                ref_times.append(float(ref_json["_meta"]["eval_seconds"]))
                t, res = _ours_on_case(kind, m, c, records, preds, zs)
                our_times.append(t)
            ours = (ours_vg(m, c, records, preds, zs, phrase_detection=False, res=res) if kind == "vg"
                    else ours_oi(m, c, records, preds, res=res))
            diff, n, missing = 0.0, 0, 0
            for key, rv in flatten_reference(ref_json).items():
                ov = ours.get(key)
                if rv is None or ov is None or (isinstance(ov, float) and math.isnan(ov)):
                    both_undefined = rv is None and (ov is None or (isinstance(ov, float) and math.isnan(ov)))
                    missing += 0 if both_undefined else 1
                    n += 1
                    continue
                diff = max(diff, abs(float(ov) - float(rv)))
                n += 1
            ref_ms, our_ms = 1e3 * min(ref_times) / len(records), 1e3 * min(our_times) / len(records)
            diff_text = f"{diff:.1e}" + (f" ({missing} undefined on one side only)" if missing else "")
            rows.append(f"| {'VG-150 (SGB)' if kind == 'vg' else 'OI-V6 (PySGG)'} | {mode} | {len(records)} | "
                        f"{pairs:,.0f} | {ref_ms:.2f} | {our_ms:.3f} | {ref_ms / our_ms:.0f}x | {diff_text} | {n} |")
    return "\n".join(rows) + (f"\n\nBest of {repeats} alternating runs each; original = its own evaluation time "
                              "(do_vg_evaluation / adapt_results + eval_rel_results), ours = process + evaluate.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--stream-images", type=int, default=10000)
    ap.add_argument("--only", choices=["speed", "size", "stream"], default=None)
    ap.add_argument("--reference", metavar="DIR", help="run the original evaluators from DIR side by side (only that)")
    ap.add_argument("--repeats", type=int, default=3, help="--reference: alternating runs of each evaluator")
    ap.add_argument("--case-images", type=int, default=50, help="--reference: images per generated case")
    args = ap.parse_args()
    if args.reference:
        print(reference_table(args.reference, args.case_images, args.repeats))
        return
    rng = np.random.default_rng(0)
    if args.only in ("size", "stream"):
        with tempfile.TemporaryDirectory() as tmp:
            if args.only == "size":
                size_table({m: [make_image(rng, i, m) for i in range(20)] for m in ("predcls", "sgdet")}, tmp)
            else:
                stream_table(args.stream_images, tmp)
        return
    sets = {mode: [make_image(rng, i, mode) for i in range(args.images)] for mode in ("predcls", "sgdet")}
    print(f"{'evaluator':9s} {'input':8s} {'pairs':>6s} {'process ms/img':>15s} {'evaluate ms/img':>16s} "
          f"{'peak MiB':>9s} {'target ms':>10s}")
    for kind, mode in (("vg", "predcls"), ("vg", "sgdet"), ("oi", "predcls"), ("oi", "sgdet")):
        t_img, t_eval, peak = run(kind, mode, sets[mode])
        target = TARGETS_MS.get((kind, mode))
        tgt = f"<= {target}" if target else "-"
        pairs = int(np.mean([len(p.rel_pair_idxs) for _, p in sets[mode]]))
        print(f"{kind:9s} {mode:8s} {pairs:6d} {t_img:15.3f} {t_eval:16.4f} {peak:9.2f} {tgt:>10s}")
    if args.only is None:
        with tempfile.TemporaryDirectory() as tmp:
            size_table(sets, tmp)
            stream_table(args.stream_images, tmp)


if __name__ == "__main__":
    main()
