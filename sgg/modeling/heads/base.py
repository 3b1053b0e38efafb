"""The contract between the relation stage and the relation heads.

The relation stage (pair proposal, sampling, feature extraction) packs a batch into a
:class:`RelationHeadInputs`; a relation head maps it to :class:`RelationHeadOutputs`;
auxiliary heads read both and add losses and per-relation extras.

Packing follows methods_spec section 0.1: object tensors are concatenated over images
(sum N, ...) with per-image counts ``num_objs``; relation tensors likewise (sum R, ...) with
``num_rels``; ``pair_idx`` stays image-local.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

__all__ = ["RelationHeadInputs", "RelationHeadOutputs", "RelationHead"]


@dataclass
class RelationHeadInputs:
    """A packed batch for a relation head.

    Attributes:
        obj_feats: (sum N, D) RoI features of the objects.
        union_feats: (sum R, D_u) union-box features of the candidate pairs.
        boxes: per image (N_i, 4) xyxy boxes in the network-input pixel frame.
        image_sizes: per image (height, width) of the network input.
        pair_idx: per image (R_i, 2) int64 (subject, object) indices local to the image.
        mode: "predcls", "sgcls" or "sgdet".
        obj_labels: per image (N_i,) int64 GT labels (predcls; training in every mode;
            0 marks a detection that matched no GT in sgdet training).
        obj_logits: per image (N_i, C_obj) detector class logits, detached (sgcls/sgdet).
        obj_scores: per image (N_i,) detector confidences (used by "confidence" ordering).
        boxes_per_cls: per image (N_i, C_obj, 4) class-specific boxes (sgdet only).
        rel_labels: per image (R_i,) int64 predicate targets, 0 = background (training only).
        captions: per image the sentences describing it (training only, when the dataset has
            captions; graph-level auxiliary losses read them).
    """

    obj_feats: Tensor
    union_feats: Tensor
    boxes: List[Tensor]
    image_sizes: List[Tuple[int, int]]
    pair_idx: List[Tensor]
    mode: str
    obj_labels: Optional[List[Tensor]] = None
    obj_logits: Optional[List[Tensor]] = None
    obj_scores: Optional[List[Tensor]] = None
    boxes_per_cls: Optional[List[Tensor]] = None
    rel_labels: Optional[List[Tensor]] = None
    captions: Optional[List[List[str]]] = None

    @property
    def num_objs(self) -> List[int]:
        return [len(b) for b in self.boxes]

    @property
    def num_rels(self) -> List[int]:
        return [len(p) for p in self.pair_idx]

    def global_pair_idx(self) -> Tensor:
        """(sum R, 2) pair indices into the packed object tensors."""
        out, start = [], 0
        for n, p in zip(self.num_objs, self.pair_idx):
            out.append(p + start)
            start += n
        if not out:
            return torch.zeros((0, 2), dtype=torch.long, device=self.obj_feats.device)
        return torch.cat(out, 0)


@dataclass
class RelationHeadOutputs:
    """What every relation head returns.

    Attributes:
        rel_logits: (sum R, C_rel) predicate logits, column 0 = background.
        obj_logits: (sum N, C_obj) refined object logits (predcls: +-1000 one-hot of the GT).
        obj_preds: (sum N,) int64 object labels used to build the triplets (1..C_obj-1).
        rel_embed: (sum R, d_e) penultimate relation representation for auxiliary heads.
        losses: named scalar losses (empty at inference).
        extras: per-relation (sum R, ...) tensors to export (e.g. CReaL gate).
        pair_reps: optional per-pair subject/object representations ``{"subj": (sum R, d),
            "obj": (sum R, d)}`` that residual plug-ins (CoRE) may read.
    """

    rel_logits: Tensor
    obj_logits: Tensor
    obj_preds: Tensor
    rel_embed: Tensor
    losses: Dict[str, Tensor] = field(default_factory=dict)
    extras: Dict[str, Tensor] = field(default_factory=dict)
    pair_reps: Dict[str, Tensor] = field(default_factory=dict)


class RelationHead(nn.Module):
    """Base class of relation heads (see :data:`RELATION_HEAD_REGISTRY` for the contract).

    Subclasses implement ``forward(inputs: RelationHeadInputs) -> RelationHeadOutputs`` and
    compute their losses only when ``inputs.rel_labels`` is given (training).
    """

    num_obj_classes: int
    num_predicates: int

    def forward(self, inputs: RelationHeadInputs) -> RelationHeadOutputs:  # pragma: no cover
        raise NotImplementedError
