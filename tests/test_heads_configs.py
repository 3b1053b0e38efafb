"""Relation-head YAML configs: all load with get_cfg(); toy ones build a working head via the registry."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sgg.config import get_cfg
from sgg.modeling.heads import RELATION_HEAD_REGISTRY, build_relation_head
from sgg.modeling.heads.synthetic import random_head_inputs

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
HEAD_YAMLS = sorted(p for d in ("toy", "VG150", "OIV6") for p in (CONFIGS / d).glob("*_*.yaml")
                    if p.stem.split("_")[0] in ("predcls", "sgcls", "sgdet"))
ABLATIONS = sorted((CONFIGS / "toy" / "ablation").glob("*.yaml"))
MODES = {"predcls": (True, True), "sgcls": (True, False), "sgdet": (False, False)}
PREDICTORS = {"motifs": "MotifPredictor", "core": "CoRE", "creal": "CReaL"}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _load(path):
    cfg = get_cfg()
    cfg.merge_from_file(str(path))
    return cfg


def _toy_metadata(c_obj=7, c_rel=6, seed=0):
    rng = np.random.default_rng(seed)
    fg = rng.integers(0, 5, size=(c_obj, c_obj, c_rel)).astype(np.int64)

    class Stats:
        fg_matrix = fg
        pred_counts = fg.sum((0, 1))

        @staticmethod
        def freq_bias_table():
            p = fg / np.maximum(fg.sum(-1, keepdims=True), 1)
            return np.log(p + 1e-3).reshape(c_obj * c_obj, c_rel).astype(np.float32)

    objects = ["__background__", "red_circle", "blue_square", "green_triangle", "small_star", "box", "ball"]
    predicates = ["__background__", "left of", "above", "inside", "touching", "same colour as"]
    return SimpleNamespace(object_classes=objects[:c_obj], predicate_classes=predicates[:c_rel], statistics=Stats)


def test_all_nine_combinations_exist_per_dataset():
    assert len(HEAD_YAMLS) == 27 and len(ABLATIONS) >= 8


@pytest.mark.parametrize("path", HEAD_YAMLS + ABLATIONS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_loads_and_matches_its_name(path):
    cfg = _load(path)
    rh = cfg.MODEL.ROI_RELATION_HEAD
    mode, head = (path.stem.split("_") if path.parent.name != "ablation" else ("predcls", "creal"))
    assert (rh.USE_GT_BOX, rh.USE_GT_OBJECT_LABEL) == MODES[mode]
    assert rh.PREDICTOR == PREDICTORS[head] and rh.PREDICTOR in RELATION_HEAD_REGISTRY
    counts = {"VG150": (151, 51), "OIV6": (602, 31)}.get(path.parent.name)
    if counts:
        assert (cfg.MODEL.ROI_HEADS.NUM_CLASSES, rh.NUM_CLASSES) == counts


@pytest.mark.parametrize("path", [p for p in HEAD_YAMLS if p.parent.name == "toy"], ids=lambda p: p.stem)
def test_toy_config_builds_a_working_head(path):
    cfg = _load(path)
    mode = path.stem.split("_")[0]
    meta = _toy_metadata()
    dim = cfg.MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM
    head = build_relation_head(cfg, meta, {"obj_feat_dim": dim, "union_feat_dim": dim}).train()
    out = head(random_head_inputs([3, 2], dim, dim, 7, 6, mode=mode, training=True))
    assert out.rel_logits.shape == (8, 6) and torch.isfinite(out.rel_logits).all()
    assert "loss_rel" in out.losses


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.stem)
def test_ablation_switches_reach_the_head(path):
    cfg = _load(path)
    cr = cfg.MODEL.ROI_RELATION_HEAD.CREAL
    dim = cfg.MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM
    head = build_relation_head(cfg, _toy_metadata(), {"obj_feat_dim": dim, "union_feat_dim": dim}).train()
    assert (head.use_amplitude, head.use_phase, head.gate_kind) == (cr.USE_AMPLITUDE, cr.USE_PHASE, cr.GATE)
    out = head(random_head_inputs([3], dim, dim, 7, 6, mode="predcls", training=True))
    expected = {"loss_rel"}
    expected |= {"loss_proto_reg"} if cr.REG_LOSS else set()
    expected |= {"loss_amp_triplet"} if cr.AMP_TRIPLET_LOSS and cr.USE_AMPLITUDE else set()
    expected |= {"loss_phase_triplet"} if cr.PHASE_TRIPLET_LOSS and cr.USE_PHASE else set()
    assert set(out.losses) == expected
    assert head.rel_loss.kind == cfg.MODEL.ROI_RELATION_HEAD.LOSS


def test_unknown_key_in_a_head_config_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f'_BASE_: "{CONFIGS / "toy" / "predcls_creal.yaml"}"\nMODEL:\n  ROI_RELATION_HEAD:\n'
                   "    CREAL:\n      USE_AMPLTUDE: False\n")
    with pytest.raises(KeyError, match="USE_AMPLITUDE"):
        _load(bad)
