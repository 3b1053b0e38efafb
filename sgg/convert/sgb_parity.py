"""Compare a converted SGB model, stage by stage, with the outputs SGB's own code recorded.

SGB's reference harness writes, per image ``k``, arrays named ``img{k}_<stage>`` (network input,
RPN proposals, detections, the relation head's box and union features, the predictor's logits,
the final scene graph). :func:`run_stages` runs the toolkit model on one sample and collects the
same stages; :func:`compare_stages` returns the largest absolute difference of every stage both
have, and the names of the stages whose integers (labels, pairs) differ. Used by
``tests/test_sgb_parity.py`` and ``benchmarks/sgb_parity.py``.
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Dict, Iterator, List, Mapping, Tuple

import numpy as np
import torch
from torch import Tensor

from ..structures.scene_graph import SceneGraphRecord

__all__ = [
    "record_stages", "run_stages", "compare_stages", "EXACT_STAGES", "harness_dicts", "harness_record",
    "convert_harness_run",
]

# stages compared for equality (integers); every other stage by its largest absolute difference
EXACT_STAGES = ("input_hw", "det_labels_before_relation", "rel_pair_idxs_unsorted", "labels", "rel_pair_idxs")


@contextlib.contextmanager
def record_stages(model) -> Iterator[Dict[str, list]]:
    """Record, per forward call, the detector's proposals/detections and the relation stage's tensors."""
    rec: Dict[str, list] = {k: [] for k in ("proposals", "detections", "obj_feats", "union_feats", "head")}
    det = model.detector
    proposals, detect = det.proposals, det.detect

    def proposals_hook(*a, **k):
        out = proposals(*a, **k)
        rec["proposals"].append(out)
        return out

    def detect_hook(*a, **k):
        out = detect(*a, **k)
        rec["detections"].append(out)
        return out

    handles = []
    det.proposals, det.detect = proposals_hook, detect_hook
    if getattr(model, "relation_on", False):
        handles.append(model.obj_feature_extractor.register_forward_hook(lambda m, i, o: rec["obj_feats"].append(o)))
        handles.append(model.union_feature_extractor.register_forward_hook(
            lambda m, i, o: rec["union_feats"].append(o)))
        handles.append(model.relation_head.register_forward_hook(lambda m, i, o: rec["head"].append((i[0], o))))
    try:
        yield rec
    finally:
        del det.proposals, det.detect
        for h in handles:
            h.remove()


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


@torch.no_grad()
def run_stages(model, sample) -> Dict[str, np.ndarray]:
    """Run ``model`` (a ``SceneGraphRCNN`` on the ``sgb`` backend) on one sample; stages in SGB's names."""
    images, sizes = model.detector.preprocess([sample])
    out: Dict[str, np.ndarray] = {
        "input_hw": np.asarray(sizes[0]),
        "input_sum": np.asarray([images.double().sum().item()]),
    }
    with record_stages(model) as rec:
        (pred,) = model([sample])
    if rec["proposals"]:
        boxes, scores = rec["proposals"][0]
        out.update(rpn_boxes=_np(boxes[0]), rpn_objectness=_np(scores[0]))
    if rec["head"]:
        inputs, outputs = rec["head"][0]
        if inputs.mode == "sgdet":
            det = rec["detections"][0][0]
            out.update(det_boxes_before_relation=_np(det.boxes), det_labels_before_relation=_np(det.labels),
                       det_scores_before_relation=_np(det.scores), det_boxes_per_cls=_np(inputs.boxes_per_cls[0]),
                       det_predict_logits=_np(inputs.obj_logits[0]))
        elif inputs.mode == "sgcls":
            out["box_head_logits_gt"] = _np(inputs.obj_logits[0])
        union = rec["union_feats"][0]
        if isinstance(union, tuple):
            out["union_spatial_features"] = _np(union[1])
            union = union[0]
        out.update(rel_pair_idxs_unsorted=_np(inputs.pair_idx[0]), rel_roi_features=_np(rec["obj_feats"][0]),
                   union_features=_np(union), obj_refine_logits=_np(outputs.obj_logits),
                   rel_logits_unsorted=_np(outputs.rel_logits))
    out.update(boxes=np.asarray(pred.boxes), labels=np.asarray(pred.labels), scores=np.asarray(pred.scores))
    if pred.rel_pair_idxs is not None and len(pred.rel_pair_idxs):
        out.update(rel_pair_idxs=np.asarray(pred.rel_pair_idxs), rel_scores=np.asarray(pred.rel_scores))
    return out


def compare_stages(
    ours: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], image: int
) -> Tuple[Dict[str, float], List[str]]:
    """``(largest |difference| per stage, stages that differ in shape or integer values)``.

    ``expected`` holds the harness's ``img{image}_<stage>`` arrays (``input_sum``: the sum of the
    padded network input).
    """
    diffs: Dict[str, float] = {}
    mismatched: List[str] = []
    for stage, value in ours.items():
        key = f"img{image}_{stage}"
        if key not in expected:
            continue
        want = np.asarray(expected[key])
        got = np.asarray(value)
        if got.shape != want.shape:
            mismatched.append(f"{stage}: shape {got.shape} vs SGB {want.shape}")
        elif stage in EXACT_STAGES:
            if not np.array_equal(got, want):
                mismatched.append(f"{stage}: values differ")
        else:
            diffs[stage] = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) if got.size else 0.0
    return diffs, mismatched


def harness_dicts(gt: Mapping) -> dict:
    """The VG-SGG-dicts content (names -> ids) of the classes a harness run's ``gt.json`` lists."""
    objs, preds = list(gt["obj_classes"][1:]), list(gt["rel_classes"][1:])
    return {
        "label_to_idx": {n: i + 1 for i, n in enumerate(objs)},
        "idx_to_label": {str(i + 1): n for i, n in enumerate(objs)},
        "predicate_to_idx": {n: i + 1 for i, n in enumerate(preds)},
        "idx_to_predicate": {str(i + 1): n for i, n in enumerate(preds)},
    }


def harness_record(image: Mapping, folder: str, image_id: int = 0) -> SceneGraphRecord:
    """The ground truth of one ``gt.json`` image entry (boxes in original pixels), its file in ``folder``."""
    return SceneGraphRecord(
        image_id=image_id, file_name=image["file_name"], width=image["width"], height=image["height"],
        boxes=np.asarray(image["boxes_xyxy"], np.float32), labels=np.asarray(image["labels"]),
        relations=np.zeros((0, 3), np.int64), image_path=os.path.join(folder, image["file_name"]),
    )


def convert_harness_run(run: str, work: str) -> Tuple[str, str, dict]:
    """Convert a harness run's checkpoint into ``work/converted``: ``(folder, dicts file, gt.json content)``."""
    from .sgb import convert_sgb

    with open(os.path.join(run, "gt.json")) as f:
        gt = json.load(f)
    dicts = os.path.join(work, "dicts.json")
    with open(dicts, "w") as f:
        json.dump(harness_dicts(gt), f)
    out = os.path.join(work, "converted")
    convert_sgb(os.path.join(run, "config.yaml"), os.path.join(run, "sgb_model_final.pth"), dicts, out,
                log=lambda _: None)
    return out, dicts, gt
