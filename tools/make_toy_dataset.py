#!/usr/bin/env python
"""Generate the toy scene-graph dataset (VG-150 and/or OI-V6 layout) and optionally print its statistics.

Example (the demo size):
    python tools/make_toy_dataset.py --out datasets/toy --seed 0 --train 3000 --test 500 --stats
Print the statistics of an existing folder without generating:
    python tools/make_toy_dataset.py --out datasets/toy --stats-only --num-val 300
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgg.data.summary import format_summary, summarize_dataset  # noqa: E402
from sgg.data.toy import ToyDatasetSpec, generate_toy_dataset  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed => byte-identical files)")
    p.add_argument("--train", type=int, default=3000, help="number of training images (h5 split 0)")
    p.add_argument("--test", type=int, default=500, help="number of test images (h5 split 2)")
    p.add_argument("--num-val", type=int, default=None,
                   help="first usable train images forming val (set DATASETS.NUM_VAL_IM to it); default 10%% of --train")
    p.add_argument("--image-size", type=int, default=256, help="longer image side in pixels")
    p.add_argument("--format", choices=["vg150", "oiv6", "both"], default="vg150", help="file layout(s) to write")
    p.add_argument("--workers", type=int, default=0, help="processes (0 = min(2, CPUs)); files do not depend on it")
    p.add_argument("--overwrite", action="store_true", help="replace dataset files already in --out")
    p.add_argument("--stats", action="store_true", help="print dataset statistics after generating")
    p.add_argument("--stats-only", action="store_true", help="only print the statistics of --out")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    a = p.parse_args(argv)
    num_val = a.num_val
    if not a.stats_only:
        formats = ("vg150", "oiv6") if a.format == "both" else (a.format,)
        spec = ToyDatasetSpec(seed=a.seed, num_train=a.train, num_test=a.test, num_val=a.num_val,
                              image_size=a.image_size, formats=formats)
        t0 = time.time()
        info = generate_toy_dataset(a.out, spec, workers=a.workers, overwrite=a.overwrite)
        num_val = info["num_val_im"]
        print(f"wrote {a.train + a.test} images to {a.out} in {time.time() - t0:.1f} s "
              f"(set DATASETS.NUM_VAL_IM {num_val})")
    if a.stats or a.stats_only:
        if num_val is None:
            info_path = os.path.join(a.out, "toy_info.json")
            num_val = json.load(open(info_path))["num_val_im"] if os.path.isfile(info_path) else 5000
        fmt = "vg150" if os.path.isfile(os.path.join(a.out, "VG-SGG-with-attri.h5")) else "oiv6"
        s = summarize_dataset(a.out, fmt, num_val_im=num_val)
        print(json.dumps(s, indent=1) if a.json else format_summary(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
