#!/usr/bin/env python
"""See what a model predicts: a static HTML viewer of a scene-graph file, and drawings.

    # viewer of an export, compared with the ground truth of the split it was evaluated on
    python tools/visualize.py --predictions output/x/inference/toy_test/scene_graphs.json \\
        --dataset-dir datasets/toy --dataset-format vg150 --split test --out viewer_x
    # the demo's output (no ground truth; images looked up next to the JSON or in --image-dir)
    python tools/visualize.py --predictions demo_out/scene_graphs.json --image-dir photos/ --out viewer_demo
    # drawings of two images (with ground truth also matched / missed / false positives at K)
    python tools/visualize.py --predictions P.json --dataset-dir D --dataset-format vg150 \\
        --out pictures --no-viewer --draw 1.jpg 100.jpg --k 20

Open <out>/index.html in a browser: it works from disk, without a server or internet.
The logic lives in sgg.visualization (run.py, viewer.py, draw.py); see docs/visualization.md.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a source checkout

from sgg.visualization.layout import LAYOUT_METHODS  # noqa: E402
from sgg.visualization.select import SelectionOptions  # noqa: E402
from sgg.visualization.viewer import ORDERS, ViewerOptions  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``tools/visualize.py``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictions", required=True, help="scene_graphs.json (or an HDF5 export)")
    ap.add_argument("--out", required=True, help="folder of the viewer (index.html) and of --draw's pictures")
    gt = ap.add_argument_group("ground truth (optional)")
    gt.add_argument("--dataset-dir", help="dataset root: compare with its ground truth")
    gt.add_argument("--dataset-format", default="vg150", choices=["vg150", "oiv6"])
    gt.add_argument("--split", default="test", choices=["train", "val", "test"])
    gt.add_argument("--num-val-im", type=int, default=5000,
                    help="VG-150: the first N train-split images form val (DATASETS.NUM_VAL_IM; 0: train = all)")
    gt.add_argument("--iou-threshold", type=float, default=0.5, help="box IoU for a match (evaluator's default)")
    gt.add_argument("--zeroshot-triplets", help="file of zero-shot triplets for zR@K (default: "
                    "<dataset-dir>/zeroshot_triplets.npy when it exists)")
    view = ap.add_argument_group("viewer")
    view.add_argument("--image-dir", help="where the images are (default: the dataset's, or beside the JSON)")
    view.add_argument("--copy-images", action="store_true", help="copy the images into the viewer folder")
    view.add_argument("--page-size", type=int, default=24, help="images per page")
    view.add_argument("--max-relations", type=int, default=100, help="relations kept per image (rank order)")
    view.add_argument("--ks", type=int, nargs="+", default=[20, 50, 100], help="K values offered")
    view.add_argument("--order", choices=ORDERS, default="file", help="image order (recall at the largest K)")
    view.add_argument("--title", help="page title (default: head, mode, dataset)")
    view.add_argument("--no-viewer", action="store_true", help="only write the --draw pictures")
    view.add_argument("--screenshot", metavar="PNG", help="also save a screenshot of the viewer (needs Chromium)")
    view.add_argument("--screenshot-view", default="", metavar="STATE",
                      help="what the screenshot shows, as in the viewer's URL, e.g. 'page=2&image=3&k=50'")
    draw = ap.add_argument_group("drawings")
    draw.add_argument("--draw", nargs="+", default=[], metavar="IMAGE", help="file names (or base names) to draw")
    draw.add_argument("--k", type=int, default=20, help="K of the ground-truth comparison drawing")
    draw.add_argument("--min-object-score", type=float, default=SelectionOptions.min_object_score)
    draw.add_argument("--nms-iou", type=float, default=SelectionOptions.nms_iou,
                      help="boxes overlapping a better one by more than this are drawn once (any class)")
    draw.add_argument("--max-pairs", type=int, default=SelectionOptions.max_pairs)
    draw.add_argument("--max-predicates-per-pair", type=int, default=SelectionOptions.max_predicates_per_pair)
    draw.add_argument("--layout", choices=LAYOUT_METHODS, default="auto",
                      help="graph layout: graphviz dot when installed (auto), or networkx")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing viewer / drawings")
    return ap


def main(argv=None) -> str:
    """Parse, load, write the viewer and the drawings; returns the output folder."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    from sgg.visualization.run import GroundTruth, build_viewer, draw_images, load_scene_graphs

    try:
        if args.no_viewer and not args.draw:
            raise ValueError("--no-viewer without --draw writes nothing")
        selection = SelectionOptions(args.min_object_score, args.nms_iou, 0.0, args.max_pairs,
                                     args.max_predicates_per_pair)
        options = ViewerOptions(page_size=args.page_size, max_relations=args.max_relations, ks=tuple(args.ks),
                                order=args.order, copy_images=args.copy_images)
        scenes = load_scene_graphs(args.predictions)
        gt = None
        if args.dataset_dir:
            from sgg.data.catalog import load_class_names, load_dataset_split, load_zeroshot_triplets

            classes = load_class_names(args.dataset_dir, args.dataset_format)
            records = load_dataset_split(args.dataset_dir, args.dataset_format, args.split,
                                         num_val_im=args.num_val_im)
            zs_path = args.zeroshot_triplets or os.path.join(args.dataset_dir, "zeroshot_triplets.npy")
            zeroshot = load_zeroshot_triplets(zs_path) if args.zeroshot_triplets or os.path.isfile(zs_path) else None
            gt = GroundTruth(records, f"{os.path.basename(os.path.abspath(args.dataset_dir))} "
                             f"({args.dataset_format}) {args.split}", classes["object_classes"],
                             classes["predicate_classes"], args.iou_threshold, zeroshot)
        if not args.no_viewer:
            out = build_viewer(scenes, args.out, gt, image_dir=args.image_dir, options=options, title=args.title,
                               overwrite=args.overwrite)
            print(f"wrote {out / 'index.html'} ({len(scenes.images)} images)")
            if args.screenshot:
                from sgg.visualization.chromium import ChromiumSession

                with ChromiumSession() as browser:
                    url = (out / "index.html").resolve().as_uri()
                    page = browser.open(url + ("#" + args.screenshot_view if args.screenshot_view else ""),
                                        width=1500, height=1000)
                    page.wait_for("document.body.dataset.ready === '1'")
                    page.screenshot(args.screenshot, overwrite=args.overwrite)
                print(f"wrote {args.screenshot}")
        for path in draw_images(scenes, args.draw, args.out if args.no_viewer else os.path.join(args.out, "drawings"),
                                gt, image_dir=args.image_dir, k=args.k, selection=selection, layout=args.layout,
                                overwrite=args.overwrite):
            print(f"wrote {path}")
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as e:
        raise SystemExit(f"error: {e}") from None
    return args.out


if __name__ == "__main__":
    main()
