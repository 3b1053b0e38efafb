"""Converted SGB models give SGB's outputs, stage by stage (fixtures made by SGB's own code).

Each case converts the SGB checkpoint of a tiny model with ``tools/convert_checkpoint.py``, runs the
converted model through the toolkit (data mapper with ``INPUT.RESIZE_RULE sgb``, the ``sgb``
detector backend, the relation stage) on the three images SGB ran, and compares: the network
input, the RPN proposals, the detections, the relation head's own box and union features, the
predictor's logits and the final scene graphs in original-image pixels (boxes within 0.01 px,
labels and pairs equal, scores and features within 1e-4).
"""
from __future__ import annotations

from sgb_model_fixtures import BOX_ATOL, SCORE_ATOL, convert, expected, load_converted, samples

from sgg.convert.sgb_parity import compare_stages, run_stages

BOX_STAGES = ("rpn_boxes", "det_boxes_before_relation", "det_boxes_per_cls", "boxes")


def check_case(tmp_path, arch: str, case: str, module_prefix: bool = False, must_have=()) -> None:
    out = convert(arch, case, tmp_path, module_prefix=module_prefix)
    cfg, model = load_converted(out, arch)
    exp = expected(arch, case)
    for k, sample in enumerate(samples(cfg, arch)):
        diffs, mismatched = compare_stages(run_stages(model, sample), exp, k)
        assert not mismatched, f"{arch}/{case} image {k}: {mismatched}"
        assert set(must_have) <= set(diffs), f"stages not compared: {set(must_have) - set(diffs)}"
        for stage, diff in diffs.items():
            tol = 1e-2 if stage == "input_sum" else BOX_ATOL if stage in BOX_STAGES else SCORE_ATOL
            assert diff <= tol, f"{arch}/{case} image {k} {stage}: largest difference {diff} > {tol}"


def test_detector_only_parity(tmp_path, one_thread):
    check_case(tmp_path, "r50", "detector", must_have=("input_sum", "rpn_boxes", "rpn_objectness", "boxes",
                                                        "scores"))
