"""Auxiliary head ``xmodal_cdpae``: comprehensive distance-preserving auto-encoders (CDPAE, methods_spec 7.2).

One "object" = one foreground relation: visual side x_v = ``rel_embed`` (standardised with running
statistics fitted in training), text side x_t = [w(subject); w(predicate); w(object)]. Each batch
is split into two disjoint halves (I, T) and (I', T'); inputs are denoised with one random
dimension mask per batch (50 % visual, 70 % text zeroed). Losses: pairwise, heterogeneous and
homogeneous distance preservation against D = sqrt(delta(I, I') delta(T, T') + 1e-5) and
reconstruction; total L_pair + 0.3 (L_het + L_hom) + 0.001 L_rec, times lambda_cd.
:func:`cdpae_knn_similarity` is the kNN-based unsupervised cross-modal similarity used for
retrieval evaluation. Inference extra: ``xmodal_embed`` (R, common_dim) visual codes.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..heads.base import RelationHeadInputs, RelationHeadOutputs
from .base import AuxiliaryHead, AuxiliaryOutputs
from .common import class_word_vectors, pair_object_labels, relation_targets
from .registry import AUX_HEAD_REGISTRY

__all__ = [
    "CDPAEHead",
    "cosine_distance",
    "cdpae_dimension_mask",
    "cdpae_target_distance",
    "cdpae_distance_losses",
    "cdpae_knn_similarity",
]


def cosine_distance(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise 1 - cos(a, b), in [0, 2]."""
    return 1.0 - F.cosine_similarity(a, b, dim=-1, eps=1e-8)


def cdpae_dimension_mask(dim: int, drop_ratio: float, generator: Optional[torch.Generator] = None,
                         device=None) -> Tensor:
    """(dim,) float keep-mask with exactly round(drop_ratio * dim) zeros, shared by a whole batch."""
    mask = torch.ones(dim, device=device)
    drop = int(round(drop_ratio * dim))
    mask[torch.randperm(dim, generator=generator)[:drop].to(mask.device)] = 0.0
    return mask


def cdpae_target_distance(img: Tensor, txt: Tensor, img2: Tensor, txt2: Tensor) -> Tensor:
    """D = sqrt(delta(I, I') delta(T, T') + 1e-5) between the objects of two halves, (n,)."""
    return torch.sqrt(cosine_distance(img, img2) * cosine_distance(txt, txt2) + 1e-5)


def cdpae_distance_losses(i: Tensor, t: Tensor, i2: Tensor, t2: Tensor, target: Tensor) -> Dict[str, Tensor]:
    """Pairwise, heterogeneous and homogeneous distance-preserving losses on common-space codes."""
    return {
        "pair": cosine_distance(i, t).mean() + cosine_distance(i2, t2).mean(),
        "het": ((cosine_distance(i, t2) - target).abs() + (cosine_distance(t, i2) - target).abs()).mean(),
        "hom": ((cosine_distance(i, i2) - target).abs() + (cosine_distance(t, t2) - target).abs()).mean(),
    }


def _affinity(a: Tensor, b: Tensor) -> Tensor:
    return (1.0 + F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T) / 2.0


def cdpae_knn_similarity(train_img: Tensor, train_txt: Tensor, test_img: Tensor, test_txt: Tensor, k: int,
                         return_parts: bool = False):
    """kNN-based unsupervised cross-modal similarity S = W_I H W_T^T (n_test_img, n_test_txt).

    Affinity Z = (1 + cos)/2. Each test query keeps its k largest affinities to the 2 n_train
    training items ([train images; train texts]), row-normalised (W_I, W_T). H is the affinity
    block of the training items with every same-object entry (image j / text j, and the diagonal) set
    to 1. ``train_img[j]`` and ``train_txt[j]`` are the same object. With ``return_parts`` also
    returns (W_I, W_T, H).
    """
    if len(train_img) != len(train_txt):
        raise ValueError("cdpae_knn_similarity: train_img and train_txt must pair up (same length)")
    n = len(train_img)
    if not 1 <= k <= 2 * n:
        raise ValueError(f"cdpae_knn_similarity: k must be in [1, {2 * n}], got {k}")
    train = torch.cat([train_img, train_txt], 0)

    def weights(queries: Tensor) -> Tensor:
        z = _affinity(queries, train)
        top = z.topk(k, dim=1)
        w = torch.zeros_like(z).scatter_(1, top.indices, top.values)
        return w / w.sum(1, keepdim=True).clamp_min(1e-12)

    w_img, w_txt = weights(test_img), weights(test_txt)
    h = _affinity(train, train)
    idx = torch.arange(n, device=train.device)
    h[idx, idx + n] = 1.0
    h[idx + n, idx] = 1.0
    h.fill_diagonal_(1.0)
    s = w_img @ h @ w_txt.T
    return (s, w_img, w_txt, h) if return_parts else s


class CDPAEHead(AuxiliaryHead):
    """CDPAE losses on relations (see the module docstring).

    Args:
        rel_embed_dim: width of ``outputs.rel_embed``.
        predicate_word_vectors: (C_rel, D_w); object_word_vectors: (C_obj, D_w).
        common_dim: code width (CDPAE: 1024).
        loss_weight: lambda_cd; mask_visual / mask_text: fraction of input dims zeroed per batch.
    """

    def __init__(
        self,
        rel_embed_dim: int,
        predicate_word_vectors: Tensor,
        object_word_vectors: Tensor,
        common_dim: int = 1024,
        loss_weight: float = 0.1,
        mask_visual: float = 0.5,
        mask_text: float = 0.7,
    ):
        super().__init__()
        self.register_buffer("predicate_vectors", predicate_word_vectors.float().clone(), persistent=False)
        self.register_buffer("object_vectors", object_word_vectors.float().clone(), persistent=False)
        text_dim = 3 * predicate_word_vectors.shape[1]
        self.visual_norm = nn.BatchNorm1d(rel_embed_dim, affine=False)
        self.visual_encoder = nn.Linear(rel_embed_dim, common_dim)
        self.text_encoder = nn.Linear(text_dim, common_dim)
        self.visual_decoder = nn.Linear(common_dim, rel_embed_dim)
        self.text_decoder = nn.Linear(common_dim, text_dim)
        self.loss_weight, self.mask_visual, self.mask_text = loss_weight, mask_visual, mask_text

    @classmethod
    def from_config(cls, cfg, metadata, rel_embed_dim: int) -> dict:
        """Map ``MODEL.AUXILIARY.XMODAL`` and the class names' word vectors."""
        x = cfg.MODEL.AUXILIARY.XMODAL
        return dict(
            rel_embed_dim=rel_embed_dim,
            predicate_word_vectors=class_word_vectors(cfg, metadata.predicate_classes),
            object_word_vectors=class_word_vectors(cfg, metadata.object_classes),
            common_dim=x.COMMON_DIM, loss_weight=x.CDPAE_WEIGHT,
            mask_visual=x.CDPAE_MASK_VISUAL, mask_text=x.CDPAE_MASK_TEXT,
        )

    def encode(self, x_v: Tensor, x_t: Tensor) -> Tuple[Tensor, Tensor]:
        """Common-space codes tanh(E(x)) of (already standardised / masked) inputs."""
        return torch.tanh(self.visual_encoder(x_v)), torch.tanh(self.text_encoder(x_t))

    def forward(self, inputs: RelationHeadInputs, outputs: RelationHeadOutputs) -> AuxiliaryOutputs:
        targets = relation_targets(inputs)
        if targets is None:
            x_v = self.visual_norm(outputs.rel_embed.float())
            return AuxiliaryOutputs(extras={"xmodal_embed": torch.tanh(self.visual_encoder(x_v)).detach()})
        fg = targets > 0
        n = int(fg.sum()) // 2
        if n == 0:
            zero = outputs.rel_embed.sum() * 0.0
            return AuxiliaryOutputs(losses={"loss_cdpae": zero})
        subj, obj = pair_object_labels(inputs, outputs)
        x_v = self.visual_norm(outputs.rel_embed[fg].float())
        y = targets[fg]
        x_t = torch.cat([self.object_vectors[subj[fg]], self.predicate_vectors[y], self.object_vectors[obj[fg]]], 1)
        order = torch.randperm(len(x_v), device=x_v.device)
        first, second = order[:n], order[n: 2 * n]
        mask_v = cdpae_dimension_mask(x_v.shape[1], self.mask_visual, device=x_v.device)
        mask_t = cdpae_dimension_mask(x_t.shape[1], self.mask_text, device=x_v.device)
        i, t = self.encode(x_v[first] * mask_v, x_t[first] * mask_t)
        i2, t2 = self.encode(x_v[second] * mask_v, x_t[second] * mask_t)
        target = cdpae_target_distance(x_v[first], x_t[first], x_v[second], x_t[second]).detach()
        parts = cdpae_distance_losses(i, t, i2, t2, target)
        rec = sum(
            (dec(code) - clean).norm(dim=1).mean()
            for dec, code, clean in (
                (self.visual_decoder, i, x_v[first]), (self.text_decoder, t, x_t[first]),
                (self.visual_decoder, i2, x_v[second]), (self.text_decoder, t2, x_t[second]),
            )
        )
        total = parts["pair"] + 0.3 * (parts["het"] + parts["hom"]) + 0.001 * rec
        return AuxiliaryOutputs(losses={"loss_cdpae": self.loss_weight * total})


AUX_HEAD_REGISTRY._do_register("xmodal_cdpae", CDPAEHead)
