"""Relation classification losses shared by every head (methods_spec 2.4 and 4.7).

``ce``: plain cross-entropy with the background class included.
``reweighted_ce``: class weights w_c = (1 / f_c)^kappa over foreground predicates, f_c the
training frequency, normalised to mean 1 over the foreground classes.
``class_balanced_ce``: w_c = (1 - beta) / (1 - beta^{n_c}) (Cui et al.), same normalisation.
The background weight is 1 in both weighted variants (treated like an average class).
PyTorch's weighted mean divides by the sum of the weights of the batch's targets.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RELATION_LOSSES", "predicate_class_weights", "RelationLoss"]

RELATION_LOSSES = ("ce", "reweighted_ce", "class_balanced_ce")


def predicate_class_weights(
    pred_counts: Tensor, kind: str, power: float = 1.0, beta: float = 0.9999
) -> Optional[Tensor]:
    """Per-class weights (C_rel,) for ``kind`` from predicate counts (C_rel,), index 0 = background.

    Returns None for "ce". Zero counts are treated as one occurrence.
    """
    if kind not in RELATION_LOSSES:
        raise ValueError(f"relation loss must be one of {RELATION_LOSSES}, got '{kind}'")
    if kind == "ce":
        return None
    counts = torch.as_tensor(pred_counts, dtype=torch.float64).clamp_min(1.0)
    if counts.ndim != 1 or counts.numel() < 2:
        raise ValueError(f"pred_counts must be a (C_rel,) vector with C_rel >= 2, got {tuple(counts.shape)}")
    fg = counts[1:]
    if kind == "reweighted_ce":
        w_fg = (fg.sum() / fg).pow(power)
    else:
        w_fg = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), fg))
    w_fg = w_fg / w_fg.mean()
    return torch.cat([w_fg.new_ones(1), w_fg]).float()


class RelationLoss(nn.Module):
    """Cross-entropy on relation logits with optional predicate class weights.

    Args:
        num_predicates: C_rel including background.
        kind: "ce" | "reweighted_ce" | "class_balanced_ce".
        pred_counts: (C_rel,) training counts (needed for the weighted kinds).
        power: kappa of reweighted_ce.
        beta: beta of class_balanced_ce.
    """

    def __init__(
        self,
        num_predicates: int,
        kind: str = "ce",
        pred_counts: Optional[Tensor] = None,
        power: float = 1.0,
        beta: float = 0.9999,
    ) -> None:
        super().__init__()
        if kind not in RELATION_LOSSES:
            raise ValueError(f"relation loss must be one of {RELATION_LOSSES}, got '{kind}'")
        if kind != "ce" and pred_counts is None:
            raise ValueError(f"relation loss '{kind}' needs pred_counts (training predicate counts)")
        self.kind = kind
        weight = None
        if kind != "ce":
            weight = predicate_class_weights(pred_counts, kind, power, beta)
            if weight.numel() != num_predicates:
                raise ValueError(
                    f"pred_counts has {weight.numel()} entries, expected num_predicates={num_predicates}"
                )
        self.register_buffer("class_weight", weight, persistent=False)

    def forward(self, rel_logits: Tensor, rel_labels: Tensor) -> Tensor:
        """Mean (weighted) CE; 0 (with a graph to the logits) for an empty batch."""
        if rel_labels.numel() == 0:
            return rel_logits.sum() * 0.0
        return F.cross_entropy(rel_logits.float(), rel_labels.long(), weight=self.class_weight)
