#!/usr/bin/env python
"""Export the scene graphs a trained model predicts on a dataset split (JSON or HDF5).

    python tools/export.py --config-file configs/toy/sgcls_motifs.yaml --task sgcls --dataset toy_test \\
        --out output/toy_sgcls/scene_graphs.json --topk-relations 100 \\
        MODEL.WEIGHTS output/toy_sgcls/model_final.pth
    python tools/export.py --config-file cfg.yaml --dataset vg150_test --out preds.h5 \\
        --full-scores --compact MODEL.WEIGHTS model_final.pth

The logic lives in :mod:`sgg.export.run_export`; the formats are described in docs/export_format.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a source checkout

from sgg.engine import TASKS  # noqa: E402
from sgg.export.run_export import export_config, export_dataset, output_format  # noqa: E402
from sgg.export.scene_graph_json import ExportOptions  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``tools/export.py``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config-file", required=True, metavar="FILE", help="the model's YAML config")
    ap.add_argument("--task", choices=sorted(TASKS), help="predcls | sgcls | sgdet (default: the config's)")
    ap.add_argument("--dataset", required=True, help="registered split, e.g. toy_test or vg150_test")
    ap.add_argument("--out", required=True, help="output file: .json (scene graphs) or .h5/.hdf5 (binary)")
    ap.add_argument(
        "--topk-objects", type=int, default=-1, help="keep the k best objects per image (-1: all)"
    )
    ap.add_argument(
        "--topk-relations", type=int, default=-1, help="keep the first k relations in rank order (-1: all)"
    )
    ap.add_argument("--min-object-score", type=float, default=0.0, help="drop objects scoring below this")
    ap.add_argument(
        "--min-relation-score",
        type=float,
        default=0.0,
        help="drop relations whose predicate probability is below this",
    )
    ap.add_argument(
        "--full-scores",
        action="store_true",
        help="store every predicate's score per relation (needed for no-graph-constraint and OI metrics)",
    )
    ap.add_argument(
        "--compact",
        action="store_true",
        help="keep only the relation rows an evaluation metric can read (exact: same metrics)",
    )
    ap.add_argument(
        "--score-dtype",
        choices=["float32", "float16"],
        default="float32",
        help="HDF5 only: precision of the stored predicate scores",
    )
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        metavar="KEY VALUE",
        help="config overrides, e.g. MODEL.WEIGHTS output/model_final.pth MODEL.DEVICE cpu",
    )
    return ap


def main(argv=None) -> str:
    """Parse, check the destination, build + load the model, export; returns the path written."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        output_format(args.out)
        if os.path.exists(args.out) and not args.overwrite:
            raise FileExistsError(f"{args.out} already exists; pass --overwrite to replace it")
    except (ValueError, FileExistsError) as e:
        raise SystemExit(f"error: {e}") from None
    cfg = export_config(args.config_file, args.opts, args.task)
    options = ExportOptions(
        topk_objects=args.topk_objects,
        topk_relations=args.topk_relations,
        score_threshold_objects=args.min_object_score,
        score_threshold_relations=args.min_relation_score,
        full_scores=args.full_scores,
    )
    path = export_dataset(
        cfg,
        args.dataset,
        args.out,
        options=options,
        compact=args.compact,
        overwrite=args.overwrite,
        score_dtype=args.score_dtype,
        progress=not args.quiet,
    )
    print(f"wrote {path}")
    return str(path)


if __name__ == "__main__":
    main()
