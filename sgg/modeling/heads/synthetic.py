"""Random :class:`RelationHeadInputs` for tests and benchmarks (no dataset needed)."""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from .base import RelationHeadInputs

__all__ = ["random_head_inputs"]


def random_head_inputs(
    num_objs: Sequence[int],
    obj_feat_dim: int,
    union_feat_dim: int,
    num_obj_classes: int,
    num_predicates: int,
    mode: str = "predcls",
    training: bool = False,
    image_size: tuple = (240, 320),
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    fg_fraction: float = 0.5,
    generator: Optional[torch.Generator] = None,
) -> RelationHeadInputs:
    """A batch of images with ``num_objs[i]`` random boxes each and all ordered pairs i != j.

    Features are N(0, 1); labels uniform in 1..C_obj-1; with ``training`` the relation labels are
    foreground with probability ``fg_fraction`` and the object/relation targets are filled.
    """
    gen = generator or torch.Generator().manual_seed(seed)
    h, w = image_size
    boxes, pairs, labels, logits, scores, per_cls, rel_labels = [], [], [], [], [], [], []
    for n in num_objs:
        xy = torch.rand(n, 2, generator=gen, dtype=dtype) * torch.tensor([w * 0.7, h * 0.7], dtype=dtype)
        wh = 8 + torch.rand(n, 2, generator=gen, dtype=dtype) * torch.tensor([w * 0.3, h * 0.3], dtype=dtype)
        b = torch.cat([xy, xy + wh], 1)
        boxes.append(b)
        idx = torch.arange(n)
        s, o = torch.meshgrid(idx, idx, indexing="ij")
        keep = s != o
        pairs.append(torch.stack([s[keep], o[keep]], 1))
        labels.append(torch.randint(1, num_obj_classes, (n,), generator=gen))
        logits.append(torch.randn(n, num_obj_classes, generator=gen, dtype=dtype))
        scores.append(torch.rand(n, generator=gen, dtype=dtype))
        per_cls.append(b.unsqueeze(1).expand(n, num_obj_classes, 4).clone())
        r = int(keep.sum())
        fg = torch.rand(r, generator=gen) < fg_fraction
        rel_labels.append(torch.where(fg, torch.randint(1, num_predicates, (r,), generator=gen), 0))
    total_n, total_r = sum(num_objs), sum(len(p) for p in pairs)
    return RelationHeadInputs(
        obj_feats=torch.randn(total_n, obj_feat_dim, generator=gen, dtype=dtype),
        union_feats=torch.randn(total_r, union_feat_dim, generator=gen, dtype=dtype),
        boxes=boxes,
        image_sizes=[tuple(image_size)] * len(num_objs),
        pair_idx=pairs,
        mode=mode,
        obj_labels=labels,
        obj_logits=None if mode == "predcls" else logits,
        obj_scores=scores,
        boxes_per_cls=per_cls if mode == "sgdet" else None,
        rel_labels=rel_labels if training else None,
    )
