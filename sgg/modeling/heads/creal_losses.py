"""Losses of CReaL (methods_spec 4.5): prototype regulariser and hardest-negative triplet losses."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = [
    "squared_distances",
    "prototype_similarity_term",
    "prototype_separation_term",
    "hardest_negative_triplet",
    "pair_negative_mask",
]


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """(N, M) squared Euclidean distances ||a_i - b_j||^2 (expanded form, clamped at 0)."""
    d = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1).unsqueeze(0) - 2.0 * (a @ b.T)
    return d.clamp_min(0.0)


def prototype_similarity_term(protos: Tensor) -> Tensor:
    """(1/C^2) ||P_hat stopgrad(P_hat)^T||_{2,1} for normalised prototypes (C, d) (PE-Net "PR" form).

    ||S||_{2,1} = sum_i ||S[i, :]||_2; with orthonormal prototypes it equals C, so the term is 1/C.
    """
    c = protos.shape[0]
    sim = protos @ protos.detach().T
    return sim.norm(dim=1).sum() / (c * c)


def prototype_separation_term(protos: Tensor, margin: float) -> Tensor:
    """(1/C) sum_i max(0, margin - min_{j != i} ||p_i - stopgrad(p_j)||^2)."""
    c = protos.shape[0]
    if c < 2:
        return protos.sum() * 0.0
    dist = squared_distances(protos, protos.detach())
    dist = dist + torch.diag(torch.full((c,), float("inf"), device=protos.device, dtype=protos.dtype))
    return torch.relu(margin - dist.min(dim=1).values).mean()


def hardest_negative_triplet(
    emb: Tensor, protos: Tensor, labels: Tensor, margin: float, negative_mask: Optional[Tensor] = None
) -> Tuple[Tensor, Tensor]:
    """mean_r max(0, ||e_r - p_{y_r}||^2 - min_{c in N_r} ||e_r - p_c||^2 + margin).

    Args:
        emb: (R, d) relation embeddings.
        protos: (C, d) prototypes.
        labels: (R,) targets y_r.
        margin: gamma.
        negative_mask: optional (R, C) bool, True = candidate negative; the positive is always
            excluded, and a row without any candidate falls back to all c != y_r.

    Returns:
        (loss, hardest negative index (R,)).
    """
    r, c = emb.shape[0], protos.shape[0]
    if r == 0:
        return emb.sum() * 0.0, labels.new_zeros((0,))
    dist = squared_distances(emb, protos)  # (R, C)
    labels = labels.long()
    positive = torch.zeros(r, c, dtype=torch.bool, device=emb.device)
    positive[torch.arange(r, device=emb.device), labels] = True
    allowed = ~positive
    if negative_mask is not None:
        restricted = negative_mask.bool() & ~positive
        has_any = restricted.any(dim=1, keepdim=True)
        allowed = torch.where(has_any, restricted, allowed)
    neg_dist = dist.masked_fill(~allowed, float("inf"))
    hardest = neg_dist.min(dim=1)
    d_pos = dist.gather(1, labels[:, None]).squeeze(1)
    loss = torch.relu(d_pos - hardest.values + margin).mean()
    return loss, hardest.indices


def pair_negative_mask(
    predicate_present: Tensor, subj_labels: Tensor, obj_labels: Tensor
) -> Tensor:
    """(R, C_rel) bool: predicates observed in training for each pair's (subject, object) classes.

    ``predicate_present`` is (C_obj, C_obj, C_rel) bool (fg_matrix > 0). Rows may be all False
    (unseen class pair); :func:`hardest_negative_triplet` then falls back to all negatives.
    """
    return predicate_present[subj_labels.long(), obj_labels.long()]
