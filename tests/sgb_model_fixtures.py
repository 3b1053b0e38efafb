"""Helpers of the SGB whole-model parity tests (fixtures in ``tests/fixtures/sgb_model``).

A case is SGB's own run of a tiny model on three images (see ``make_fixtures.py`` there). The
helpers write the case's checkpoint in SGB's format, convert it with ``tools/convert_checkpoint.py``
and build the converted model; :mod:`sgg.convert.sgb_parity` runs it stage by stage.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from sgg.convert.sgb import load_converted as load_converted_folder
from sgg.convert.sgb_parity import harness_record
from sgg.data.mapper import DatasetMapper

ROOT = Path(__file__).resolve().parent / "fixtures" / "sgb_model"
REPO = Path(__file__).resolve().parents[1]

BOX_ATOL = 0.01  # pixels
SCORE_ATOL = 1e-4


def case_dir(arch: str, case: str) -> Path:
    return ROOT / arch / case


def expected(arch: str, case: str) -> Dict[str, np.ndarray]:
    with np.load(case_dir(arch, case) / "expected.npz") as data:
        return {k: data[k] for k in data.files}


def write_sgb_checkpoint(arch: str, case: str, path: Path, module_prefix: bool = False) -> Path:
    """The case's weights as SGB saves them: ``{"model": state_dict, "iteration": 0}``."""
    state = torch.load(ROOT / arch / "detector.pt", weights_only=True)
    relation = case_dir(arch, case) / "relation.pt"
    if relation.exists():
        state.update(torch.load(relation, weights_only=True))
    if module_prefix:
        state = {f"module.{k}": v for k, v in state.items()}
    torch.save({"model": state, "iteration": 0}, path)
    return path


def convert(arch: str, case: str, tmp: Path, module_prefix: bool = False) -> Path:
    """Run ``tools/convert_checkpoint.py --from sgb`` on the case; returns the output folder."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import convert_checkpoint
    finally:
        sys.path.pop(0)
    weights = write_sgb_checkpoint(arch, case, tmp / "sgb_model_final.pth", module_prefix)
    out = tmp / "converted"
    convert_checkpoint.main([
        "--from", "sgb", "--config-file", str(case_dir(arch, case) / "sgb_config.yaml"), "--weights", str(weights),
        "--dicts", str(ROOT / arch / "dicts.json"), "--out", str(out),
    ])
    return out


def load_converted(out: Path, arch: str):
    """(cfg, model in eval mode with ``MODEL.WEIGHTS`` loaded)."""
    return load_converted_folder(str(out), str(ROOT / arch / "dicts.json"))


def samples(cfg, arch: str) -> List:
    """The case's images as test-time samples (GT boxes for predcls/sgcls), through the data mapper."""
    gt = json.load(open(ROOT / arch / "gt.json"))
    mapper = DatasetMapper.from_config(cfg, is_train=False)
    return [mapper(harness_record(im, str(ROOT / arch / "images"), k)) for k, im in enumerate(gt["images"])]


__all__ = [
    "ROOT", "BOX_ATOL", "SCORE_ATOL", "case_dir", "expected", "write_sgb_checkpoint", "convert",
    "load_converted", "samples",
]
