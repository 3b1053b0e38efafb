"""Helpers shared by the auxiliary heads: relation labels, pair classes, word vectors, GRL."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..heads.base import RelationHeadInputs, RelationHeadOutputs

__all__ = [
    "relation_targets",
    "pair_object_labels",
    "class_word_vectors",
    "GradientReversal",
    "grad_reverse",
    "dann_lambda",
]


def relation_targets(inputs: RelationHeadInputs) -> Optional[Tensor]:
    """(sum R,) int64 predicate targets (0 = background), or None at inference."""
    if inputs.rel_labels is None:
        return None
    if not inputs.rel_labels:
        return torch.zeros(0, dtype=torch.long, device=inputs.obj_feats.device)
    return torch.cat(list(inputs.rel_labels), 0).long()


def pair_object_labels(inputs: RelationHeadInputs, outputs: RelationHeadOutputs) -> Tuple[Tensor, Tensor]:
    """Subject and object class of every relation (sum R,): GT labels when given, else predictions.

    GT object labels of value 0 (unmatched detections in sgdet training) fall back to the prediction.
    """
    pairs = inputs.global_pair_idx()
    labels = outputs.obj_preds.long()
    if inputs.obj_labels is not None and len(inputs.obj_labels):
        gt = torch.cat(list(inputs.obj_labels), 0).long().to(labels.device)
        labels = torch.where(gt > 0, gt, labels)
    return labels[pairs[:, 0]], labels[pairs[:, 1]]


def class_word_vectors(cfg, names: Sequence[str]) -> Tensor:
    """Word vectors (len(names), EMBED_DIM) of class names from the relation head's word-vector source."""
    from sgg.data.word_vectors import load_word_vectors  # data side; imported lazily

    head = cfg.MODEL.ROI_RELATION_HEAD
    vectors, _ = load_word_vectors(list(names), int(head.EMBED_DIM), source=head.WORD_VECTORS)
    return torch.as_tensor(vectors, dtype=torch.float32)


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, coeff: float) -> Tensor:  # type: ignore[override]
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return -ctx.coeff * grad, None


def grad_reverse(x: Tensor, coeff: float = 1.0) -> Tensor:
    """Identity in the forward pass; multiplies the gradient by ``-coeff`` in the backward pass."""
    return _GradReverse.apply(x, float(coeff))


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse` with a settable coefficient."""

    def __init__(self, coeff: float = 1.0):
        super().__init__()
        self.coeff = float(coeff)

    def forward(self, x: Tensor) -> Tensor:
        return grad_reverse(x, self.coeff)


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """DANN schedule lambda_p = 2 / (1 + exp(-gamma p)) - 1 for training progress p in [0, 1]."""
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + float(torch.exp(torch.tensor(-gamma * p)))) - 1.0
