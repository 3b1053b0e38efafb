"""Relation post-processing: head outputs -> one ranked :class:`SceneGraphPrediction` per image.

Semantics (SGB ``relation_head/inference.py``, eval_protocol 2.1):

* relation scores: softmax over all predicate classes (column 0 = background), kept whole;
  the chosen predicate is ``1 + argmax`` over the foreground columns;
* object scores: predcls: GT labels with score 1; sgcls: max foreground class probability of
  the head's object logits; sgdet: the probability of the class chosen by the greedy per-class
  label suppression (:func:`greedy_label_nms`), and the box becomes that class's box;
* rows are sorted (stable, descending) by ``max fg predicate prob * subject score * object score``;
* an image with at least one object but no candidate pair gets one placeholder pair ``[0, 0]``
  whose distribution is pure background (triplet score 0);
* boxes are mapped back to original-image pixels with :meth:`ImageSample.to_original`;
* per-relation extras of the head and the auxiliary heads are split per image and reordered
  with the ranking.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor

from ...structures.image_sample import ImageSample
from ...structures.scene_graph import SceneGraphPrediction
from ..heads.base import RelationHeadInputs, RelationHeadOutputs
from .label_nms import greedy_label_nms

__all__ = ["RelationPostProcessor", "MODES"]

MODES = ("predcls", "sgcls", "sgdet")


def _numpy(t: Tensor):
    t = t.detach().cpu()
    if t.is_floating_point() and t.dtype != torch.float64:
        t = t.float()
    return t.numpy()


class RelationPostProcessor:
    """Turns packed head outputs into ranked per-image scene graphs in original pixels.

    Args:
        later_nms_threshold: IoU of the sgdet per-class label suppression.
    """

    def __init__(self, later_nms_threshold: float = 0.5) -> None:
        self.later_nms_threshold = float(later_nms_threshold)

    @classmethod
    def from_config(cls, cfg) -> RelationPostProcessor:
        return cls(later_nms_threshold=cfg.TEST.RELATION.LATER_NMS_PREDICTION_THRES)

    def _objects(self, inputs: RelationHeadInputs, obj_logits: Tensor, image: int):
        """(boxes in input pixels, labels, scores) of one image."""
        boxes = inputs.boxes[image].float()
        n = len(boxes)
        if inputs.mode == "predcls":
            if inputs.obj_labels is None:
                raise ValueError("RelationPostProcessor: predcls needs inputs.obj_labels (GT labels)")
            labels = inputs.obj_labels[image].long()
            return boxes, labels, torch.ones(n, device=boxes.device)
        if n == 0:
            return boxes, torch.zeros(0, dtype=torch.long, device=boxes.device), boxes.new_zeros(0)
        if inputs.mode == "sgcls":
            scores, labels = torch.softmax(obj_logits.float(), 1)[:, 1:].max(1)
            return boxes, labels + 1, scores
        per_cls = None if inputs.boxes_per_cls is None else inputs.boxes_per_cls[image]
        if per_cls is None:
            per_cls = boxes[:, None, :].expand(-1, obj_logits.shape[1], -1)
        labels, scores = greedy_label_nms(per_cls, obj_logits, self.later_nms_threshold)
        return per_cls[torch.arange(n, device=boxes.device), labels].float(), labels, scores

    def __call__(
        self,
        inputs: RelationHeadInputs,
        outputs: RelationHeadOutputs,
        samples: Sequence[ImageSample],
        extras: Optional[Dict[str, Tensor]] = None,
    ) -> List[SceneGraphPrediction]:
        """Post-process a batch.

        Args:
            inputs, outputs: the relation head's packed inputs and outputs.
            samples: the batch's images (for mapping boxes back to original pixels).
            extras: per-relation (sum R, ...) tensors, e.g. head and auxiliary-head extras.
        """
        if inputs.mode not in MODES:
            raise ValueError(f"RelationPostProcessor: mode must be one of {MODES}, got {inputs.mode!r}")
        extras = dict(outputs.extras) if extras is None else extras
        num_objs, num_rels = inputs.num_objs, inputs.num_rels
        obj_logits = outputs.obj_logits.split(num_objs, 0)
        rel_logits = outputs.rel_logits.split(num_rels, 0)
        split_extras = {k: v.split(num_rels, 0) for k, v in extras.items()}
        predictions = []
        for i, sample in enumerate(samples):
            boxes, labels, obj_scores = self._objects(inputs, obj_logits[i], i)
            pairs = inputs.pair_idx[i].long()
            rel_probs = torch.softmax(rel_logits[i].float(), 1)
            image_extras = {k: v[i] for k, v in split_extras.items()}
            if len(pairs) == 0 and len(boxes) > 0:
                pairs = pairs.new_zeros((1, 2))
                rel_probs = rel_probs.new_zeros((1, rel_probs.shape[1]))
                rel_probs[:, 0] = 1.0
                image_extras = {k: v.new_zeros((1,) + tuple(v.shape[1:])) for k, v in image_extras.items()}
            fg_scores = rel_probs[:, 1:].max(1).values if len(pairs) else rel_probs.new_zeros(0)
            triplet = fg_scores * obj_scores[pairs[:, 0]] * obj_scores[pairs[:, 1]]
            order = torch.sort(triplet, descending=True, stable=True).indices
            predictions.append(
                SceneGraphPrediction(
                    boxes=_numpy(sample.to_original(boxes.detach().cpu())),
                    labels=_numpy(labels),
                    scores=_numpy(obj_scores),
                    rel_pair_idxs=_numpy(pairs[order]),
                    rel_scores=_numpy(rel_probs[order]),
                    extras={k: _numpy(v[order]) for k, v in image_extras.items()},
                )
            )
        return predictions
