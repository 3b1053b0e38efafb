#!/usr/bin/env python
"""Scene graphs of your own images with a trained model: one JSON file and one drawing per image.

    # sgdet: the model detects the objects
    python tools/demo.py --config-file configs/toy/sgdet_motifs.yaml --input photos/ --output demo_out \\
        MODEL.WEIGHTS output/toy_sgdet/model_final.pth
    # sgcls / predcls: your boxes (and labels) from boxes.json
    python tools/demo.py --config-file configs/toy/predcls_motifs.yaml --input "photos/*.jpg" \\
        --boxes boxes.json --output demo_out MODEL.WEIGHTS output/toy_predcls/model_final.pth

The logic lives in sgg.engine.predictor (SceneGraphPredictor) and sgg.engine.demo; see docs/demo.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a source checkout

from sgg.config import get_cfg  # noqa: E402
from sgg.engine import TASKS  # noqa: E402
from sgg.engine.demo import check_outputs, collect_images, load_user_boxes, plan_task, run_demo  # noqa: E402
from sgg.engine.predictor import SceneGraphPredictor  # noqa: E402
from sgg.export.scene_graph_json import ExportOptions  # noqa: E402
from sgg.visualization.select import SelectionOptions  # noqa: E402

CONFIG_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*)+$")  # MODEL.WEIGHTS, INPUT.MIN_SIZE_TEST, ...


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``tools/demo.py``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config-file", required=True, metavar="FILE", help="the trained model's YAML config")
    ap.add_argument("--input", required=True, nargs="+", help="image files, folders or glob patterns")
    ap.add_argument("--output", required=True, help="folder for scene_graphs.json and the drawings")
    ap.add_argument("--boxes", default=None, help="boxes.json: your boxes (and labels) per image file name")
    ap.add_argument(
        "--task",
        choices=sorted(TASKS),
        help="default: sgdet without --boxes; predcls when every box has a label, else sgcls",
    )
    ap.add_argument(
        "--topk-relations", type=int, default=-1, help="relations kept per image in the JSON (-1: all)"
    )
    ap.add_argument("--draw-topk", type=int, default=SelectionOptions.max_pairs,
                    help="object pairs drawn per image (the best-ranked distinct pairs)")
    ap.add_argument("--draw-min-score", type=float, default=SelectionOptions.min_object_score,
                    help="objects scoring below this are not drawn (the JSON keeps them)")
    ap.add_argument("--no-draw", action="store_true", help="write the JSON file only")
    ap.add_argument("--overwrite", action="store_true", help="replace existing outputs in --output")
    ap.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        metavar="KEY VALUE",
        help="config overrides, e.g. MODEL.WEIGHTS model_final.pth MODEL.DEVICE cpu",
    )
    return ap


def main(argv=None) -> str:
    """Parse, check inputs and outputs, build the predictor, run; returns the JSON path."""
    args = build_parser().parse_args(argv)
    # "--input a.jpg b/ MODEL.WEIGHTS w.pth": nargs="+" swallows the overrides; hand them back
    split = next((i for i, item in enumerate(args.input) if CONFIG_KEY.match(item)), len(args.input))
    args.input, args.opts = args.input[:split], args.input[split:] + list(args.opts or [])
    if not args.input:
        raise SystemExit("error: --input needs at least one image, folder or glob pattern")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts or [])
    cfg.freeze()
    try:
        if not cfg.MODEL.WEIGHTS:
            raise ValueError("no trained weights: pass MODEL.WEIGHTS path/to/model_final.pth")
        images = collect_images(args.input)
        user_boxes = load_user_boxes(args.boxes) if args.boxes else None
        plan_task(images, user_boxes, args.task, args.boxes or "")  # all checks before building the model
        check_outputs(images, args.output, draw=not args.no_draw, overwrite=args.overwrite)
        predictor = SceneGraphPredictor(cfg)
        path = run_demo(
            predictor,
            images,
            args.output,
            user_boxes=user_boxes,
            boxes_path=args.boxes or "",
            task=args.task,
            options=ExportOptions(topk_relations=args.topk_relations),
            draw_options=SelectionOptions(min_object_score=args.draw_min_score, max_pairs=args.draw_topk),
            draw=not args.no_draw,
            overwrite=args.overwrite,
        )
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        raise SystemExit(f"error: {e}") from None
    print(f"wrote {path}")
    return str(path)


if __name__ == "__main__":
    main()
