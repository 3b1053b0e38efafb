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

from sgg.config import get_cfg
from sgg.convert.sgb import conversion_metadata
from sgg.data.mapper import DatasetMapper
from sgg.data.vg150 import load_vg150_dicts
from sgg.engine.checkpoint import SGGCheckpointer
from sgg.modeling.build import build_model
from sgg.structures.scene_graph import SceneGraphRecord

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
    """(cfg, model in eval mode with ``MODEL.WEIGHTS`` loaded through the checkpointer)."""
    cfg = get_cfg()
    cfg.merge_from_file(str(out / "config.yaml"))
    cfg.freeze()
    names = load_vg150_dicts(str(ROOT / arch / "dicts.json"))
    metadata = conversion_metadata(names["object_classes"], names["predicate_classes"], str(ROOT / arch))
    model = build_model(cfg, metadata).eval()
    SGGCheckpointer(model, save_to_disk=False).load(cfg.MODEL.WEIGHTS, checkpointables=[])
    return cfg, model


def samples(cfg, arch: str) -> List:
    """The case's images as test-time samples (GT boxes for predcls/sgcls), through the data mapper."""
    gt = json.load(open(ROOT / arch / "gt.json"))
    mapper = DatasetMapper.from_config(cfg, is_train=False)
    out = []
    for k, im in enumerate(gt["images"]):
        record = SceneGraphRecord(
            image_id=k, file_name=im["file_name"], width=im["width"], height=im["height"],
            boxes=np.asarray(im["boxes_xyxy"], np.float32), labels=np.asarray(im["labels"]),
            relations=np.zeros((0, 3), np.int64), image_path=str(ROOT / arch / "images" / im["file_name"]),
        )
        out.append(mapper(record))
    return out


def assert_close(name: str, got, want, atol: float) -> float:
    """Same shape and ``|got - want| <= atol`` everywhere; returns the largest difference."""
    got = np.asarray(got.detach().cpu() if isinstance(got, torch.Tensor) else got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} vs SGB {want.shape}"
    diff = float(np.abs(got - want).max()) if got.size else 0.0
    assert diff <= atol, f"{name}: largest difference {diff} > {atol}"
    return diff


def assert_equal(name: str, got, want) -> None:
    got = np.asarray(got.detach().cpu() if isinstance(got, torch.Tensor) else got)
    assert got.shape == np.asarray(want).shape and (got == want).all(), f"{name}: differs from SGB"


__all__ = [
    "ROOT", "BOX_ATOL", "SCORE_ATOL", "case_dir", "expected", "write_sgb_checkpoint", "convert",
    "load_converted", "samples", "assert_close", "assert_equal",
]
