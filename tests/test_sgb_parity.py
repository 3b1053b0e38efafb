"""Converted SGB models give SGB's outputs, stage by stage (fixtures made by SGB's own code).

Each case converts the SGB checkpoint of a tiny model with ``tools/convert_checkpoint.py``, runs the
converted model through the toolkit (data mapper with ``INPUT.RESIZE_RULE sgb``, the ``sgb``
detector backend, the relation stage) on the three images SGB ran, and compares: the network
input, the RPN proposals, the detections, the relation head's own box and union features, the
predictor's logits and the final scene graphs in original-image pixels (boxes within 0.01 px,
labels and pairs equal, scores within 1e-4).
"""
from __future__ import annotations

import torch
from sgb_model_fixtures import (
    BOX_ATOL,
    SCORE_ATOL,
    assert_close,
    assert_equal,
    convert,
    expected,
    load_converted,
    record_stages,
    samples,
)


def _check_input_and_rpn(model, sample, exp, k, rec, i):
    images, sizes = model.detector.preprocess([sample])
    assert list(sizes[0]) == exp[f"img{k}_input_hw"].tolist()
    assert_close(f"img{k} input sum", images.double().sum().reshape(1), exp[f"img{k}_input_sum"], 1e-2)
    if rec["proposals"]:
        boxes, scores = rec["proposals"][i]
        assert_close(f"img{k} rpn boxes", boxes[0], exp[f"img{k}_rpn_boxes"], BOX_ATOL)
        assert_close(f"img{k} rpn objectness", scores[0], exp[f"img{k}_rpn_objectness"], SCORE_ATOL)


def test_detector_only_parity(tmp_path, one_thread):
    out = convert("r50", "detector", tmp_path)
    cfg, model = load_converted(out, "r50")
    assert not cfg.MODEL.RELATION_ON and not cfg.MODEL.DETECTOR.SGB.NMS_FILTER_DUPLICATES
    exp = expected("r50", "detector")
    for k, sample in enumerate(samples(cfg, "r50")):
        with torch.no_grad(), record_stages(model) as rec:
            (pred,) = model([sample])
        _check_input_and_rpn(model, sample, exp, k, rec, 0)
        assert len(pred.boxes) > 80  # the detector config keeps up to 256, several per proposal
        assert_close(f"img{k} boxes", pred.boxes, exp[f"img{k}_boxes"], BOX_ATOL)
        assert_equal(f"img{k} labels", pred.labels, exp[f"img{k}_labels"])
        assert_close(f"img{k} scores", pred.scores, exp[f"img{k}_scores"], SCORE_ATOL)
