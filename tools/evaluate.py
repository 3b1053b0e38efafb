#!/usr/bin/env python
"""Evaluate an exported scene-graph file: see ``python tools/evaluate.py --help``.

Example:
    python tools/evaluate.py --dataset-dir datasets/vg --dataset-format vg150 --split test \\
        --mode predcls --predictions output/inference/vg_test/scene_graphs.json --out metrics.json

``--predictions`` may also be an HDF5 file (``TEST.EXPORT_FORMAT hdf5`` or
``sgg.export.hdf5_io.HDF5PredictionWriter``), read one image at a time.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sgg.evaluation.cli import main

if __name__ == "__main__":
    main()
