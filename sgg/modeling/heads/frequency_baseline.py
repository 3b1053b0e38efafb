"""Frequency-only baseline: Motifs' frequency bias alone, no visual input (Zellers et al. 2018, "FREQ").

The predicate distribution of a pair is the row ``log p(predicate | subject class, object class)``
of the training statistics table (:meth:`DatasetStatistics.freq_bias_table`). Object labels are
the GT labels (predcls) or the detector's foreground argmax (sgcls; sgdet with per-class label
suppression). Object and union features are ignored. Used as the reference point of the demo
table; it needs no training (the table is trainable, so training it with ``loss_rel`` is possible).
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..relation.label_nms import greedy_label_nms
from .base import RelationHead, RelationHeadInputs, RelationHeadOutputs
from .context import foreground_argmax, onehot_object_logits
from .freq_bias import FrequencyBias
from .registry import RELATION_HEAD_REGISTRY

__all__ = ["FrequencyBaseline"]

MODES = ("predcls", "sgcls", "sgdet")


@RELATION_HEAD_REGISTRY.register()
class FrequencyBaseline(RelationHead):
    """Relation logits = frequency-bias row of (subject label, object label).

    Args:
        num_obj_classes: C_obj including background.
        num_predicates: C_rel including background.
        freq_bias_table: (C_obj^2, C_rel) log-frequency table; None = all zeros (uniform scores).
        label_nms_threshold: sgdet test-time per-class label suppression IoU.
    """

    def __init__(
        self,
        num_obj_classes: int,
        num_predicates: int,
        freq_bias_table: Optional[Tensor] = None,
        label_nms_threshold: float = 0.3,
    ) -> None:
        super().__init__()
        self.num_obj_classes = int(num_obj_classes)
        self.num_predicates = int(num_predicates)
        self.freq_bias = FrequencyBias(num_obj_classes, num_predicates, freq_bias_table)
        self.label_nms_threshold = float(label_nms_threshold)
        self.rel_embed_dim = num_predicates

    @classmethod
    def from_config(cls, cfg, metadata, in_dims: Dict[str, int]) -> dict:
        """Class counts and the table from ``metadata`` (``in_dims`` is unused: no visual input)."""
        stats = getattr(metadata, "statistics", None)
        if stats is None:
            raise ValueError(
                f"FrequencyBaseline needs the training statistics of dataset {getattr(metadata, 'name', '?')!r} "
                "(metadata.statistics is None)"
            )
        return dict(
            num_obj_classes=len(metadata.object_classes),
            num_predicates=len(metadata.predicate_classes),
            freq_bias_table=torch.as_tensor(stats.freq_bias_table()),
            label_nms_threshold=cfg.TEST.RELATION.LATER_NMS_PREDICTION_THRES,
        )

    def forward(self, inputs: RelationHeadInputs) -> RelationHeadOutputs:
        """Look up the table; ``loss_rel`` (cross-entropy) when ``rel_labels`` is given."""
        if inputs.mode not in MODES:
            raise ValueError(f"RelationHeadInputs.mode must be one of {MODES}, got '{inputs.mode}'")
        if inputs.mode == "predcls":
            if inputs.obj_labels is None:
                raise ValueError("predcls needs RelationHeadInputs.obj_labels")
            obj_preds = torch.cat(list(inputs.obj_labels)).long()
            obj_logits = onehot_object_logits(obj_preds, self.num_obj_classes)
        else:
            if inputs.obj_logits is None:
                raise ValueError(f"{inputs.mode} needs RelationHeadInputs.obj_logits (detector logits)")
            obj_logits = torch.cat(list(inputs.obj_logits)).detach().float()
            if inputs.mode == "sgdet" and not self.training:
                per_image = []
                for i, chunk in enumerate(obj_logits.split(inputs.num_objs)):
                    boxes = inputs.boxes_per_cls[i] if inputs.boxes_per_cls is not None else inputs.boxes[i]
                    per_image.append(greedy_label_nms(boxes, chunk, self.label_nms_threshold)[0])
                obj_preds = torch.cat(per_image) if per_image else foreground_argmax(obj_logits)
            else:
                obj_preds = foreground_argmax(obj_logits)
        pairs = inputs.global_pair_idx()
        rel_logits = self.freq_bias(obj_preds[pairs[:, 0]], obj_preds[pairs[:, 1]])
        out = RelationHeadOutputs(
            rel_logits=rel_logits, obj_logits=obj_logits, obj_preds=obj_preds, rel_embed=rel_logits
        )
        if inputs.rel_labels is not None:
            out.losses["loss_rel"] = F.cross_entropy(rel_logits, torch.cat(list(inputs.rel_labels)).long())
        return out
