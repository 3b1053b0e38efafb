"""Cost of the HTML viewer on a VG-150-sized run: build time, folder size, first-page load; prints one table.

Data: synthetic VG-shaped images (``sgg.evaluation.synthetic``: 150 object classes, 50 predicates,
12 GT objects and 7 GT relations per image), the predictions cut to their best 100 relations as
``tools/export.py --topk-relations 100`` writes them. The build is ``tools/visualize.py``'s path
with ground truth: the evaluator's decisions per image, the evaluator's metrics, the page files.
With Chromium installed, the viewer is opened headless: "first render" is the page's own time
from navigation start to the first page drawn, "page flip" the time to load and draw another page.
Usage: python benchmarks/bench_viewer.py [--images 26000] [--mode sgcls] [--page-size 24]
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgg.evaluation.synthetic import synthetic_images  # noqa: E402
from sgg.export.scene_graph_json import ExportOptions, image_to_json  # noqa: E402
from sgg.visualization.chromium import ChromiumSession, find_chromium  # noqa: E402
from sgg.visualization.run import GroundTruth, ScenesInput, build_viewer  # noqa: E402
from sgg.visualization.viewer import ViewerOptions  # noqa: E402

OBJECTS = ["__background__"] + [f"object_{i}" for i in range(1, 151)]
PREDICATES = ["__background__"] + [f"predicate_{i}" for i in range(1, 51)]


class LazyImages:
    """The (entry, prediction) pairs of a scenes file, regenerated on every pass (never all in memory)."""

    def __init__(self, n: int, mode: str, seed: int = 0) -> None:
        self.n, self.mode, self.seed = n, mode, seed
        self.options = ExportOptions(topk_relations=100)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for rec, pred in synthetic_images(self.n, self.mode, seed=self.seed):
            entry = image_to_json(rec, pred, OBJECTS, PREDICATES, self.options)
            top = pred.rel_pair_idxs[:100]
            yield entry, type(pred)(pred.boxes, pred.labels, pred.scores, top, rel_scores=pred.rel_scores[:100])


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=26_000)
    ap.add_argument("--mode", default="sgcls", choices=["predcls", "sgcls", "sgdet"])
    ap.add_argument("--page-size", type=int, default=24)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    records = [rec for rec, _ in synthetic_images(args.images, args.mode)]
    scenes = ScenesInput("synthetic.json", args.mode, "synthetic", {"head": "synthetic"}, OBJECTS, PREDICATES,
                         LazyImages(args.images, args.mode), [rec.file_name for rec in records])
    work = tempfile.mkdtemp(prefix="bench_viewer_")
    try:
        out = os.path.join(work, "viewer")
        start = time.perf_counter()
        build_viewer(scenes, out, GroundTruth(records, "synthetic", OBJECTS, PREDICATES),
                     options=ViewerOptions(page_size=args.page_size), progress=False)
        build_s = time.perf_counter() - start
        # the cost of generating the synthetic images themselves, to subtract
        start = time.perf_counter()
        for _ in LazyImages(args.images, args.mode):
            pass
        gen_s = time.perf_counter() - start
        pages = len(os.listdir(os.path.join(out, "data"))) - 1
        first = ["index.html", "viewer.js", "viewer.css", "data/meta.js", "data/page_000000.js"]
        first_kb = sum(os.path.getsize(os.path.join(out, f)) for f in first) / 1024
        render_ms = flip_ms = "n/a (no Chromium)"
        if find_chromium():
            with ChromiumSession() as browser:
                page = browser.open("file://" + os.path.join(out, "index.html"), width=1400, height=1000)
                page.wait_for("document.body.dataset.ready === '1'")
                render_ms = f"{page.evaluate('SGV.timing.ready'):.0f}"
                target = pages // 2
                t0 = page.evaluate(f"(function () {{ window._t0 = performance.now(); location.hash = 'page={target + 1}';"
                                   " return window._t0; })()")
                page.wait_for(f"document.body.dataset.page === '{target}'")
                flip_ms = f"{page.evaluate('performance.now()') - t0:.0f} (upper bound)"
        build_only = build_s - gen_s
        print(f"| images | mode | viewer build s (excl. data generation) | ms / image | folder MB | pages | "
              f"first page KB | first render ms | page flip ms |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {args.images} | {args.mode} | {build_only:.1f} | {1000 * build_only / args.images:.2f} | "
              f"{folder_bytes(out) / 2**20:.1f} | {pages} | {first_kb:.0f} | {render_ms} | {flip_ms} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
