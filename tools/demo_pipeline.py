#!/usr/bin/env python
"""The end-to-end demo: toy data -> detector -> Motifs -> predcls/sgcls/sgdet evaluation -> JSON export.

    python tools/demo_pipeline.py --out output/demo          # (make demo); steps with outputs are skipped
    python tools/demo_pipeline.py --out output/demo --force  # redo everything (or FORCE=1 make demo)

The steps live in :mod:`sgg.engine.demo_pipeline`; ``--help`` lists the sizes and budgets.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a source checkout

from sgg.engine.demo_pipeline import DemoPipeline, add_demo_arguments, settings_from_args  # noqa: E402


def main(argv=None) -> dict:
    """Parse the options and run every step; returns the summary dict."""
    parser = add_demo_arguments(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    )
    return DemoPipeline(settings_from_args(parser.parse_args(argv))).run()


if __name__ == "__main__":
    main()
