#!/usr/bin/env python
"""Convert another framework's checkpoint into this toolkit's config.yaml + model_final.pth.

    python tools/convert_checkpoint.py --from sgb --config-file e2e_relation_X_101_32_8_FPN_1x.yaml \\
        --weights model_final.pth --dicts datasets/vg/VG-SGG-dicts-with-attri.json --out converted/

``--from sgb``: a Scene-Graph-Benchmark (maskrcnn-benchmark) checkpoint, detector-only or a whole
relation model; see docs/sgb_detector.md and README "Using SGB's released models". The converted
folder runs with ``MODEL.WEIGHTS converted/model_final.pth`` in every tool. Without ``--weights``
only the config is written (e.g. SGB's relation config for a new relation head that starts from
SGB's detector: ``MODEL.INIT_WEIGHTS sgb:pretrained_faster_rcnn/model_final.pth``).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a source checkout

from sgg.convert import SGBConfigError, SGBWeightsError, convert_sgb  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``tools/convert_checkpoint.py``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="source", required=True, choices=["sgb"], help="the checkpoint's framework")
    ap.add_argument("--config-file", required=True, metavar="FILE", help="the checkpoint's own YAML config")
    ap.add_argument("--weights", default=None, metavar="FILE",
                    help="the checkpoint (e.g. model_final.pth); without it only config.yaml is written")
    ap.add_argument("--dicts", required=True, metavar="FILE",
                    help="VG-SGG-dicts-with-attri.json: the class and predicate names of the checkpoint")
    ap.add_argument("--out", required=True, metavar="DIR", help="folder for config.yaml and model_final.pth")
    ap.add_argument("--dataset-root", default=None, metavar="DIR",
                    help="DATASETS.ROOT of the written config (default: the folder of --dicts)")
    ap.add_argument("--overwrite", action="store_true", help="replace config.yaml / model_final.pth in --out")
    return ap


def main(argv=None) -> str:
    """Convert; returns the written config path."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        cfg_path, _ = convert_sgb(
            args.config_file, args.weights, args.dicts, args.out,
            overwrite=args.overwrite, dataset_root=args.dataset_root,
        )
    except (SGBConfigError, SGBWeightsError, FileNotFoundError, FileExistsError) as e:
        raise SystemExit(f"error: {e}") from None
    return cfg_path


if __name__ == "__main__":
    main()
