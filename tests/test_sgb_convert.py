"""``tools/convert_checkpoint.py --from sgb``: what it writes, what it refuses, SGB's load_mapping."""
from __future__ import annotations

import argparse
import json
import pickle

import pytest
import torch
import yaml
from sgb_model_fixtures import ROOT, case_dir, convert, load_converted, write_sgb_checkpoint

from sgg.convert import SGBConfigError, SGBWeightsError, convert_sgb, read_sgb_checkpoint, sgb_init_state
from sgg.convert.sgb_config import read_sgb_config, toolkit_config

DET_CFG = str(case_dir("r50", "detector") / "sgb_config.yaml")
DICTS = str(ROOT / "r50" / "dicts.json")


def _convert(tmp_path, state=None, cfg_file=DET_CFG, dicts=DICTS, **kw):
    weights = tmp_path / "w.pth"
    if state is None:
        write_sgb_checkpoint("r50", "detector", weights)
    else:
        torch.save({"model": state}, weights)
    return convert_sgb(cfg_file, str(weights), dicts, str(tmp_path / "out"), log=lambda _: None, **kw)


def _detector_state():
    return torch.load(ROOT / "r50" / "detector.pt", weights_only=True)


def test_writes_toolkit_config_and_strictly_loadable_weights(tmp_path, capsys):
    out = convert("r50", "detector", tmp_path, module_prefix=True)  # DataParallel prefix is stripped
    printed = capsys.readouterr().out
    assert "roi_heads.box.predictor.*" in printed and "detector.box_predictor.*" in printed
    cfg, model = load_converted(out, "r50")
    assert cfg.MODEL.DETECTOR.BACKEND == "sgb" and cfg.INPUT.RESIZE_RULE == "sgb" and cfg.INPUT.TO_BGR255
    assert (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) == (240, 400)
    assert cfg.MODEL.ROI_HEADS.DETECTIONS_PER_IMG == 256 and cfg.MODEL.DETECTOR.SGB.FPN_POST_NMS_TOP_N_TEST == 1000
    saved = torch.load(out / "model_final.pth", weights_only=True)["model"]
    assert set(saved) == set(model.state_dict())
    sgb = _detector_state()
    assert torch.equal(saved["detector.box_predictor.cls_score.weight"], sgb["roi_heads.box.predictor.cls_score.weight"])
    assert torch.equal(saved["detector.backbone.body.layer4.2.bn3.running_var"],
                       sgb["backbone.body.layer4.2.bn3.running_var"])


def test_published_style_config_uses_sgb_defaults(tmp_path):
    # a published SGB config sets only what differs from SGB's defaults.py
    path = tmp_path / "sgb.yaml"
    path.write_text(yaml.safe_dump({
        "MODEL": {"META_ARCHITECTURE": "GeneralizedRCNN", "BACKBONE": {"CONV_BODY": "R-101-FPN"},
                  "RESNETS": {"STRIDE_IN_1X1": False, "NUM_GROUPS": 32, "WIDTH_PER_GROUP": 8,
                              "BACKBONE_OUT_CHANNELS": 256},
                  "RPN": {"USE_FPN": True, "ANCHOR_STRIDE": "(4, 8, 16, 32, 64)", "RPN_MID_CHANNEL": 256},
                  "ROI_HEADS": {"USE_FPN": True},
                  "ROI_BOX_HEAD": {"POOLER_SCALES": "(0.25, 0.125, 0.0625, 0.03125)", "POOLER_RESOLUTION": 7,
                                   "POOLER_SAMPLING_RATIO": 2, "FEATURE_EXTRACTOR": "FPN2MLPFeatureExtractor",
                                   "PREDICTOR": "FPNPredictor", "NUM_CLASSES": 21, "MLP_HEAD_DIM": 4096}},
        "INPUT": {"MIN_SIZE_TEST": 600, "MAX_SIZE_TEST": 1000},
    }))
    sgb = read_sgb_config(str(path))
    names = json.load(open(DICTS))
    cfg = toolkit_config(sgb, ["__background__"] + list(names["label_to_idx"]), ["__background__"], str(tmp_path))
    assert cfg.MODEL.DETECTOR.ANCHOR_SIZES == ((32.0,), (64.0,), (128.0,), (256.0,), (512.0,))
    assert cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.01 and cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST == 0.3
    assert cfg.MODEL.DETECTOR.SGB.POST_NMS_PER_CLS_TOPN == 300 and cfg.MODEL.ROI_HEADS.DETECTIONS_PER_IMG == 256
    assert cfg.MODEL.DETECTOR.RPN_PRE_NMS_TOP_N_TEST == 6000 and cfg.MODEL.DETECTOR.SGB.FPN_POST_NMS_TOP_N_TEST == 2000
    assert cfg.INPUT.PIXEL_MEAN == (102.9801, 115.9465, 122.7717) and cfg.MODEL.DETECTOR.SGB.NUM_GROUPS == 32


def test_refuses_unknown_missing_and_misshapen_keys(tmp_path):
    state = _detector_state()
    state["roi_heads.attribute.feature_extractor.fc6.weight"] = torch.zeros(2, 2)
    del state["rpn.head.conv.weight"]
    state["roi_heads.box.predictor.bbox_pred.bias"] = torch.zeros(5)
    with pytest.raises(SGBWeightsError) as err:
        _convert(tmp_path, state)
    msg = str(err.value)
    assert "roi_heads.attribute.feature_extractor.fc6.weight" in msg  # unknown
    assert "detector.rpn.head.conv.weight" in msg  # missing
    assert "detector.box_predictor.bbox_pred.bias: checkpoint (5,) vs model (84,)" in msg  # shape
    assert not (tmp_path / "out" / "model_final.pth").exists()


def test_refuses_class_count_mismatch_with_dicts(tmp_path):
    names = json.load(open(DICTS))
    names["label_to_idx"].pop(next(iter(names["label_to_idx"])))
    names["label_to_idx"] = {n: i + 1 for i, n in enumerate(names["label_to_idx"])}
    names.pop("idx_to_label")
    bad = tmp_path / "dicts.json"
    bad.write_text(json.dumps(names))
    with pytest.raises(SGBConfigError, match="class count mismatch.*dicts file has 20 object classes.*NUM_CLASSES = 21"):
        _convert(tmp_path, dicts=str(bad))


@pytest.mark.parametrize("key, value, match", [
    ("ATTRIBUTE_ON", True, "MODEL.ATTRIBUTE_ON"),
    ("RELATION_ON", True, "MODEL.RELATION_ON = True but .* has no relation head"),
])
def test_refuses_unsupported_or_inconsistent_config(tmp_path, key, value, match):
    cfg = yaml.safe_load(open(DET_CFG))
    cfg["MODEL"][key] = value
    cfg["MODEL"]["ROI_RELATION_HEAD"]["NUM_CLASSES"] = 11  # the fixture's predicates
    path = tmp_path / "sgb.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(SGBConfigError, match=match):
        _convert(tmp_path, cfg_file=str(path))


def test_config_only_conversion(tmp_path):
    cfg_path, weights_path = convert_sgb(str(case_dir("r50", "sgdet") / "sgb_config.yaml"), None, DICTS,
                                         str(tmp_path / "out"), log=lambda _: None)
    assert weights_path is None and not (tmp_path / "out" / "model_final.pth").exists()
    cfg = yaml.safe_load(open(cfg_path))
    assert cfg["MODEL"]["RELATION_ON"] and cfg["MODEL"]["WEIGHTS"] == ""
    assert cfg["MODEL"]["ROI_RELATION_HEAD"]["PREDICTOR"] == "MotifPredictor"
    assert cfg["MODEL"]["ROI_RELATION_HEAD"]["POOLING_ALL_LEVELS"] is True


def test_refuses_existing_outputs_and_pickled_objects(tmp_path):
    _convert(tmp_path)
    with pytest.raises(FileExistsError, match="config.yaml"):
        _convert(tmp_path)
    _convert(tmp_path, overwrite=True)
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"model": {"x": argparse.Namespace(a=1)}}, f)  # an arbitrary object: refused
    with pytest.raises(SGBWeightsError, match="weights_only"):
        read_sgb_checkpoint(str(evil))


def test_load_mapping_starts_relation_features_from_detector_box_head():
    model_state = {
        "detector.box_head.fc6.weight": torch.zeros(16, 784),
        "obj_feature_extractor.box_head.fc6.weight": torch.zeros(16, 784),
        "union_feature_extractor.box_head.fc6.weight": torch.zeros(16, 784),
        "union_feature_extractor.pooler.reduce_channel.0.weight": torch.zeros(16, 64, 3, 3),
        "relation_head.rel_compress.weight": torch.zeros(11, 16),
    }
    sgb = {"roi_heads.box.feature_extractor.fc6.weight": torch.randn(16, 784)}
    state, source, report = sgb_init_state(sgb, model_state, "MotifPredictor")
    for key in ("detector.box_head.fc6.weight", "obj_feature_extractor.box_head.fc6.weight",
                "union_feature_extractor.box_head.fc6.weight"):
        assert torch.equal(state[key], sgb["roi_heads.box.feature_extractor.fc6.weight"])
    assert "load_mapping" in source["obj_feature_extractor.box_head.fc6.weight"]
    assert report.left_random == ["relation_head.rel_compress.weight",
                                  "union_feature_extractor.pooler.reduce_channel.0.weight"]
    with pytest.raises(SGBWeightsError, match="shape"):
        sgb_init_state({"roi_heads.box.feature_extractor.fc6.weight": torch.zeros(8, 784)}, model_state,
                       "MotifPredictor")
