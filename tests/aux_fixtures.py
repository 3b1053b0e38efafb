"""Random RelationHeadInputs / RelationHeadOutputs for auxiliary-head tests (no dataset needed)."""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch

from sgg.modeling.heads.base import RelationHeadInputs, RelationHeadOutputs

C_OBJ, C_REL, WORD_DIM, OBJ_DIM, REL_DIM = 7, 6, 12, 16, 20


def make_batch(num_objs: List[int] = (4, 5), rels_per_image: int = 8, training: bool = True,
               rel_embed: Optional[torch.Tensor] = None, fg_labels: Optional[torch.Tensor] = None,
               ) -> Tuple[RelationHeadInputs, RelationHeadOutputs]:
    """A packed batch with random features; relation labels when ``training``."""
    boxes, pairs, obj_labels, rel_labels = [], [], [], []
    for n in num_objs:
        xy = torch.rand(n, 2) * 50
        boxes.append(torch.cat([xy, xy + 10 + torch.rand(n, 2) * 20], 1))
        s = torch.randint(0, n, (rels_per_image,))
        o = (s + torch.randint(1, n, (rels_per_image,))) % n
        pairs.append(torch.stack([s, o], 1))
        obj_labels.append(torch.randint(1, C_OBJ, (n,)))
        rel_labels.append(torch.randint(0, C_REL, (rels_per_image,)))
    total_r = rels_per_image * len(num_objs)
    if fg_labels is not None:
        rel_labels = list(fg_labels.split([rels_per_image] * len(num_objs)))
    inputs = RelationHeadInputs(
        obj_feats=torch.randn(sum(num_objs), OBJ_DIM), union_feats=torch.randn(total_r, OBJ_DIM), boxes=boxes,
        image_sizes=[(100, 100)] * len(num_objs), pair_idx=pairs, mode="predcls", obj_labels=obj_labels,
        rel_labels=rel_labels if training else None,
    )
    outputs = RelationHeadOutputs(
        rel_logits=torch.randn(total_r, C_REL), obj_logits=torch.randn(sum(num_objs), C_OBJ),
        obj_preds=torch.cat(obj_labels), rel_embed=rel_embed if rel_embed is not None else torch.randn(total_r, REL_DIM),
    )
    return inputs, outputs


def word_vectors(n: int, dim: int = WORD_DIM) -> torch.Tensor:
    return torch.randn(n, dim)
