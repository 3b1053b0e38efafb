"""Auxiliary head ``xmodal_masln``: modal-adversarial semantic learning (MASLN, methods_spec 7.1).

Visual modality x_v = ``rel_embed`` of foreground relations; semantic modality
x_t = [w(subject); w(predicate); w(object)] (word vectors). Encoders E_v, E_t map both to a common
space; losses (weighted by lambda_x): correlation |h_v - h_t|^2, conditional cross reconstruction
(G_t([h_v; e_y]) ~ x_t and G_v([h_t; e_y]) ~ x_v, targets standardised per dimension with batch
statistics), semantic compatibility against L2-normalised class embeddings (works for classes
unseen in training) and a modality discriminator behind a gradient-reversal layer whose
coefficient follows the DANN schedule over ``total_steps`` training forwards.
Inference extra: ``xmodal_embed`` (R, common_dim) visual common-space embeddings.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..heads.base import RelationHeadInputs, RelationHeadOutputs
from .base import AuxiliaryHead, AuxiliaryOutputs
from .common import class_word_vectors, dann_lambda, grad_reverse, pair_object_labels, relation_targets
from .registry import AUX_HEAD_REGISTRY

__all__ = ["MASLNHead"]


def _encoder(in_dim: int, hidden: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, out_dim))


def _standardise(x: Tensor) -> Tensor:
    return (x - x.mean(0, keepdim=True)) / x.std(0, keepdim=True, unbiased=False).clamp_min(1e-6)


class MASLNHead(AuxiliaryHead):
    """MASLN cross-modal losses on relations.

    Args:
        rel_embed_dim: width of ``outputs.rel_embed``.
        predicate_word_vectors: (C_rel, D_w) class embeddings (row 0 background, unused as a class).
        object_word_vectors: (C_obj, D_w).
        hidden_dim, common_dim, dropout: encoder sizes.
        loss_weight: lambda_x; adv_weight: weight of L_adv inside it; sem_temperature: 0.1.
        grl_gamma: DANN schedule steepness; total_steps: training forwards over which progress goes 0 -> 1.
    """

    def __init__(
        self,
        rel_embed_dim: int,
        predicate_word_vectors: Tensor,
        object_word_vectors: Tensor,
        hidden_dim: int = 1024,
        common_dim: int = 512,
        dropout: float = 0.2,
        loss_weight: float = 0.1,
        adv_weight: float = 0.1,
        sem_temperature: float = 0.1,
        grl_gamma: float = 10.0,
        total_steps: int = 10000,
    ):
        super().__init__()
        word_dim = predicate_word_vectors.shape[1]
        if object_word_vectors.shape[1] != word_dim:
            raise ValueError("xmodal_masln: object and predicate word vectors must have the same width")
        self.register_buffer("predicate_vectors", predicate_word_vectors.float().clone(), persistent=False)
        self.register_buffer("object_vectors", object_word_vectors.float().clone(), persistent=False)
        text_dim = 3 * word_dim
        self.visual_encoder = _encoder(rel_embed_dim, hidden_dim, common_dim, dropout)
        self.text_encoder = _encoder(text_dim, hidden_dim, common_dim, dropout)
        self.text_decoder = _encoder(common_dim + word_dim, hidden_dim, text_dim, dropout)
        self.visual_decoder = _encoder(common_dim + word_dim, hidden_dim, rel_embed_dim, dropout)
        self.semantic_proj = nn.Linear(common_dim, word_dim, bias=False)
        self.discriminator = nn.Sequential(nn.Linear(common_dim, 256), nn.ReLU(inplace=True), nn.Linear(256, 1))
        self.loss_weight, self.adv_weight, self.sem_temperature = loss_weight, adv_weight, sem_temperature
        self.grl_gamma, self.total_steps = grl_gamma, max(1, int(total_steps))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    @classmethod
    def from_config(cls, cfg, metadata, rel_embed_dim: int) -> dict:
        """Map ``MODEL.AUXILIARY.XMODAL`` and the class names' word vectors."""
        x = cfg.MODEL.AUXILIARY.XMODAL
        return dict(
            rel_embed_dim=rel_embed_dim,
            predicate_word_vectors=class_word_vectors(cfg, metadata.predicate_classes),
            object_word_vectors=class_word_vectors(cfg, metadata.object_classes),
            hidden_dim=x.HIDDEN_DIM, common_dim=x.COMMON_DIM, loss_weight=x.MASLN_WEIGHT,
            adv_weight=x.ADV_WEIGHT, sem_temperature=x.SEM_TEMPERATURE, grl_gamma=x.GRL_GAMMA,
            total_steps=cfg.SOLVER.MAX_ITER,
        )

    def grl_coefficient(self) -> float:
        """Current lambda_p of the DANN schedule."""
        return dann_lambda(float(self.step) / self.total_steps, self.grl_gamma)

    def text_features(self, subj: Tensor, pred: Tensor, obj: Tensor) -> Tensor:
        """x_t = [w(subject); w(predicate); w(object)] (n, 3 D_w)."""
        return torch.cat([self.object_vectors[subj], self.predicate_vectors[pred], self.object_vectors[obj]], 1)

    def semantic_logits(self, h: Tensor, class_vectors: Tensor) -> Tensor:
        """(h W_e) . normalised class embeddings / T; any class set, including classes unseen in training."""
        return self.semantic_proj(h) @ F.normalize(class_vectors, dim=-1).T / self.sem_temperature

    def forward(self, inputs: RelationHeadInputs, outputs: RelationHeadOutputs) -> AuxiliaryOutputs:
        targets = relation_targets(inputs)
        if targets is None:
            return AuxiliaryOutputs(extras={"xmodal_embed": self.visual_encoder(outputs.rel_embed.float()).detach()})
        fg = targets > 0
        if not fg.any():
            zero = outputs.rel_embed.sum() * 0.0
            return AuxiliaryOutputs(losses={k: zero.clone() for k in ("loss_masln_corr", "loss_masln_rec",
                                                                        "loss_masln_sem", "loss_masln_adv")})
        subj, obj = pair_object_labels(inputs, outputs)
        y = targets[fg]
        x_v = outputs.rel_embed[fg].float()
        x_t = self.text_features(subj[fg], y, obj[fg])
        e_y = self.predicate_vectors[y]
        h_v, h_t = self.visual_encoder(x_v), self.text_encoder(x_t)
        corr = (h_v - h_t).pow(2).sum(1).mean()
        rec = F.mse_loss(self.text_decoder(torch.cat([h_v, e_y], 1)), _standardise(x_t).detach()) + F.mse_loss(
            self.visual_decoder(torch.cat([h_t, e_y], 1)), _standardise(x_v).detach()
        )
        fg_classes = self.predicate_vectors[1:]
        sem = F.cross_entropy(self.semantic_logits(h_v, fg_classes), y - 1) + F.cross_entropy(
            self.semantic_logits(h_t, fg_classes), y - 1
        )
        coeff = self.grl_coefficient()
        h = torch.cat([h_v, h_t], 0)
        modality = torch.cat([torch.ones(len(h_v)), torch.zeros(len(h_t))]).to(h)
        adv = F.binary_cross_entropy_with_logits(self.discriminator(grad_reverse(h, coeff)).squeeze(1), modality)
        if self.training:
            self.step += 1
        w = self.loss_weight
        losses: Dict[str, Tensor] = {
            "loss_masln_corr": w * corr,
            "loss_masln_rec": w * rec,
            "loss_masln_sem": w * sem,
            "loss_masln_adv": w * self.adv_weight * adv,
        }
        return AuxiliaryOutputs(losses=losses)


AUX_HEAD_REGISTRY._do_register("xmodal_masln", MASLNHead)
