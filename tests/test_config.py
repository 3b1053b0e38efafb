import pytest

from sgg.config import all_keys, get_cfg


def test_defaults_have_sgb_keys():
    cfg = get_cfg()
    keys = set(all_keys(cfg))
    for k in [
        "MODEL.ROI_RELATION_HEAD.PREDICTOR",
        "MODEL.ROI_RELATION_HEAD.USE_GT_BOX",
        "MODEL.ROI_RELATION_HEAD.USE_GT_OBJECT_LABEL",
        "MODEL.ROI_RELATION_HEAD.NUM_CLASSES",
        "MODEL.ROI_RELATION_HEAD.BATCH_SIZE_PER_IMAGE",
        "MODEL.ROI_RELATION_HEAD.POSITIVE_FRACTION",
        "MODEL.ROI_RELATION_HEAD.PREDICT_USE_BIAS",
        "MODEL.ROI_RELATION_HEAD.REQUIRE_BOX_OVERLAP",
        "TEST.RELATION.IOU_THRESHOLD",
        "DATASETS.TRAIN",
        "SOLVER.BASE_LR",
        "OUTPUT_DIR",
    ]:
        assert k in keys


def test_every_default_key_has_a_comment():
    import inspect

    from sgg.config import auxiliary, defaults, detector, relation

    for mod in (defaults, detector, relation, auxiliary):
        for line in inspect.getsource(mod).splitlines():
            s = line.strip()
            if s.startswith(("_C.", "cfg.")) and " = " in s and "CN()" not in s:
                assert "#" in s, f"{mod.__name__}: key without a comment: {s}"


def test_override_and_unknown_key_suggestion():
    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.ROI_RELATION_HEAD.USE_GT_BOX", "False", "SOLVER.BASE_LR", "0.5"])
    assert cfg.MODEL.ROI_RELATION_HEAD.USE_GT_BOX is False
    assert cfg.SOLVER.BASE_LR == 0.5
    with pytest.raises(KeyError, match="USE_GT_OBJECT_LABEL"):
        cfg.merge_from_list(["MODEL.ROI_RELATION_HEAD.USE_GT_OBJ_LABEL", "True"])
    with pytest.raises(ValueError, match="pairs"):
        cfg.merge_from_list(["SOLVER.BASE_LR"])


def test_yaml_base_and_unknown_key(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("SOLVER:\n  BASE_LR: 0.123\n  MAX_ITER: 7\n")
    child = tmp_path / "child.yaml"
    child.write_text("_BASE_: base.yaml\nSOLVER:\n  MAX_ITER: 9\n")
    cfg = get_cfg()
    cfg.merge_from_file(str(child))
    assert cfg.SOLVER.BASE_LR == pytest.approx(0.123)
    assert cfg.SOLVER.MAX_ITER == 9
    bad = tmp_path / "bad.yaml"
    bad.write_text("SOLVER:\n  BASE_LRR: 0.1\n")
    with pytest.raises(KeyError, match=r"SOLVER.BASE_LR.*bad.yaml"):
        get_cfg().merge_from_file(str(bad))
