"""Auxiliary head ``hyp_hierarchy``: HypGCD-style hyperbolic hierarchy losses on relations (methods_spec 6).

Foreground ``rel_embed`` -> Linear -> feature clipping (r = 2.3) -> Poincare exp0 (c = 0.1).
Losses (weighted by lambda_hier): the hyperbolic class loss (HCL: label-smoothed CE over minus
distances to per-class Einstein-midpoint centres of the batch, EMA centres for absent classes,
never-seen classes masked), the local hierarchy loss (LHL: mutual top-k neighbours, sampled
triplets, lowest common ancestors chosen by hard Gumbel-softmax) and an ordering loss that puts
super-category centres closer to the origin than their predicates' centres.

Inference extras per relation: ``hier_path`` (R, 2) int64 = [super-category index into
:attr:`HypHierarchyHead.super_names`, predicate id (1-based, background = 0)], ``hier_conf``
(R, 2) = softmax confidence of each choice over minus distances, ``hier_radius`` (R,) Poincare radius.
"""
from __future__ import annotations

import json
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..geometry import klein, poincare
from ..heads.base import RelationHeadInputs, RelationHeadOutputs
from .base import AuxiliaryHead, AuxiliaryOutputs
from .common import relation_targets
from .hierarchy import hierarchy_from_metadata, leaf_parents, load_hierarchy, validate_hierarchy
from .registry import AUX_HEAD_REGISTRY

__all__ = [
    "HypHierarchyHead",
    "hyperbolic_class_loss",
    "hard_gumbel_softmax",
    "sample_lhl_triplets",
    "local_hierarchy_loss",
    "ordering_loss",
]


def hyperbolic_class_loss(logits: Tensor, labels: Tensor, smoothing: float = 0.1,
                          valid: Optional[Tensor] = None) -> Tensor:
    """Label-smoothed CE: the true class gets 1 - eps, the other valid classes eps / (C_valid - 1).

    ``valid`` (C,) bool masks classes (their logits become -inf and get no target mass).
    """
    if valid is not None:
        logits = logits.masked_fill(~valid[None], float("-inf"))
        num_valid = int(valid.sum())
    else:
        num_valid = logits.shape[1]
    logp = F.log_softmax(logits, dim=1)
    target = torch.zeros_like(logp)
    if num_valid > 1 and smoothing > 0:
        off = smoothing / (num_valid - 1)
        target = target + off * (valid[None].to(logp.dtype) if valid is not None else 1.0)
        target.scatter_(1, labels[:, None], 1.0 - smoothing)
    else:
        target.scatter_(1, labels[:, None], 1.0)
    logp = torch.where(target > 0, logp, torch.zeros_like(logp))
    return -(target * logp).sum(1).mean()


def hard_gumbel_softmax(logits: Tensor, tau: float = 0.1, noise: bool = True,
                        generator: Optional[torch.Generator] = None) -> Tensor:
    """Straight-through one-hot sample of softmax((logits + g)/tau); ``noise=False`` gives the argmax."""
    if noise:
        u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
        logits = logits - torch.log(-torch.log(u.clamp(1e-10, 1 - 1e-10)))
    soft = F.softmax(logits / tau, dim=-1)
    hard = F.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


def sample_lhl_triplets(dist: Tensor, labels: Tensor, topk: int = 30, per_anchor: int = 50,
                        generator: Optional[torch.Generator] = None) -> Tensor:
    """(T, 3) triplets (anchor i, mutual neighbour j, non-neighbour k != i) as in HypGCD's LHL.

    Similarity = exp(-D) (detached) + 1 for same-label pairs; mutual top-k neighbours are positives;
    anchors need >= 2 mutual neighbours and at least one negative.
    """
    n = len(dist)
    if n < 3:
        return torch.zeros((0, 3), dtype=torch.long, device=dist.device)
    sim = torch.exp(-dist.detach()) + (labels[:, None] == labels[None]).to(dist.dtype)
    eye = torch.eye(n, dtype=torch.bool, device=dist.device)
    sim = sim.masked_fill(eye, float("-inf"))
    k = min(topk, n - 1)
    nb = torch.zeros((n, n), dtype=torch.bool, device=dist.device)
    nb.scatter_(1, sim.topk(k, dim=1).indices, True)
    mutual = nb & nb.T
    negatives = ~mutual & ~eye
    anchors = torch.nonzero((mutual.sum(1) >= 2) & negatives.any(1)).flatten()
    if len(anchors) == 0:
        return torch.zeros((0, 3), dtype=torch.long, device=dist.device)
    j = torch.multinomial(mutual[anchors].float(), per_anchor, replacement=True, generator=generator)
    kk = torch.multinomial(negatives[anchors].float(), per_anchor, replacement=True, generator=generator)
    i = anchors[:, None].expand_as(j)
    return torch.stack([i.reshape(-1), j.reshape(-1), kk.reshape(-1)], 1)


def local_hierarchy_loss(dist: Tensor, triplets: Tensor, margin: float = 0.1, tau: float = 0.1,
                         noise: bool = True) -> Tensor:
    """LHL on given triplets: LCAs among the batch points by hard Gumbel-softmax over -max distances.

    For each (i, j, k): l_ij = argmin_a max(D_ia, D_ja), l_ijk = argmin_a max(D_ia, D_ja, D_ka); hinge
    [D(i,l_ij) - D(i,l_ijk) + m]+ + [D(j,l_ij) - D(j,l_ijk) + m]+ + [D(k,l_ijk) - D(k,l_ij) + m]+,
    averaged over triplets with l_ij != l_ijk (0 when there is none).
    """
    if len(triplets) == 0:
        return dist.sum() * 0.0
    di, dj, dk = dist[triplets[:, 0]], dist[triplets[:, 1]], dist[triplets[:, 2]]
    m_ij = torch.maximum(di, dj)
    m_ijk = torch.maximum(m_ij, dk)
    l_ij = hard_gumbel_softmax(-m_ij, tau, noise)
    l_ijk = hard_gumbel_softmax(-m_ijk, tau, noise)
    counted = l_ij.argmax(1) != l_ijk.argmax(1)
    if not counted.any():
        return dist.sum() * 0.0

    def at(d: Tensor, sel: Tensor) -> Tensor:
        return (d * sel).sum(1)

    loss = (
        (at(di, l_ij) - at(di, l_ijk) + margin).clamp_min(0)
        + (at(dj, l_ij) - at(dj, l_ijk) + margin).clamp_min(0)
        + (at(dk, l_ijk) - at(dk, l_ij) + margin).clamp_min(0)
    )
    return loss[counted].mean()


def ordering_loss(parent_radius: Tensor, child_radius: Tensor, margin: float = 0.1) -> Tensor:
    """mean max(0, r(parent) - r(child) + margin) over (parent, child) pairs given elementwise."""
    if len(child_radius) == 0:
        return child_radius.sum() * 0.0
    return (parent_radius - child_radius + margin).clamp_min(0).mean()


class HypHierarchyHead(AuxiliaryHead):
    """Hyperbolic hierarchy head (see the module docstring).

    Args:
        rel_embed_dim: width of ``outputs.rel_embed``.
        predicate_parents: (C_rel - 1,) super-category index of each foreground predicate.
        super_names: names of the super-categories (index order of ``predicate_parents``).
        embed_dim, curvature, clip_r: projection width, ball curvature c and clipping radius.
        loss_weight: lambda_hier; hcl_weight, lhl_weight, ord_weight: weights inside it.
        hcl_smoothing, ema_momentum, lhl_topk, lhl_triplets, lhl_margin, gumbel_tau, ord_margin: see methods_spec 6.

    Attribute ``gumbel_noise`` (default True) is a test hook: False makes the LCA choice an argmax.
    """

    def __init__(
        self,
        rel_embed_dim: int,
        predicate_parents: Sequence[int],
        super_names: Sequence[str],
        embed_dim: int = 256,
        curvature: float = 0.1,
        clip_r: float = 2.3,
        loss_weight: float = 0.1,
        hcl_weight: float = 0.1,
        lhl_weight: float = 1.0,
        ord_weight: float = 0.1,
        hcl_smoothing: float = 0.1,
        ema_momentum: float = 0.9,
        lhl_topk: int = 30,
        lhl_triplets: int = 50,
        lhl_margin: float = 0.1,
        gumbel_tau: float = 0.1,
        ord_margin: float = 0.1,
    ):
        super().__init__()
        parents = torch.as_tensor(list(predicate_parents), dtype=torch.long)
        if len(parents) == 0 or parents.min() < 0 or parents.max() >= len(super_names):
            raise ValueError(f"hyp_hierarchy: predicate_parents must index into the {len(super_names)} super_names")
        self.super_names: List[str] = list(super_names)
        self.register_buffer("predicate_parents", parents, persistent=False)
        self.proj = nn.Linear(rel_embed_dim, embed_dim)
        self.curvature, self.clip_r = curvature, clip_r
        self.loss_weight, self.hcl_weight, self.lhl_weight, self.ord_weight = loss_weight, hcl_weight, lhl_weight, ord_weight
        self.hcl_smoothing, self.ema_momentum = hcl_smoothing, ema_momentum
        self.lhl_topk, self.lhl_triplets, self.lhl_margin = lhl_topk, lhl_triplets, lhl_margin
        self.gumbel_tau, self.ord_margin = gumbel_tau, ord_margin
        self.gumbel_noise = True
        num_fg = len(parents)
        self.register_buffer("ema_centres", torch.zeros(num_fg, embed_dim))
        self.register_buffer("seen", torch.zeros(num_fg, dtype=torch.bool))

    @classmethod
    def from_config(cls, cfg, metadata, rel_embed_dim: int) -> dict:
        """Resolve the predicate hierarchy (HIERARCHY_FILE or the dataset's) and map the config."""
        c = cfg.MODEL.AUXILIARY.HYP_HIERARCHY
        source = c.HIERARCHY_FILE or f"metadata.hierarchy of {getattr(metadata, 'name', '?')}"
        if c.HIERARCHY_FILE:
            with open(c.HIERARCHY_FILE, encoding="utf-8") as f:
                spec = json.load(f)
            spec = spec.get("predicate", spec.get("predicates", spec)) if isinstance(spec, dict) else spec
        else:
            spec = hierarchy_from_metadata(metadata, "predicate")
        graph = load_hierarchy(spec, source)
        validate_hierarchy(graph, metadata.predicate_classes, source)
        parents = leaf_parents(graph, metadata.predicate_classes)
        super_names = sorted(set(parents.values()))
        index = {s: i for i, s in enumerate(super_names)}
        return dict(
            rel_embed_dim=rel_embed_dim,
            predicate_parents=[index[parents[p]] for p in metadata.predicate_classes[1:]],
            super_names=super_names,
            embed_dim=c.EMBED_DIM, curvature=c.CURVATURE, clip_r=c.CLIP_R, loss_weight=c.WEIGHT,
            hcl_weight=c.HCL_WEIGHT, lhl_weight=c.LHL_WEIGHT, ord_weight=c.ORD_WEIGHT,
            hcl_smoothing=c.HCL_SMOOTHING, ema_momentum=c.EMA_MOMENTUM, lhl_topk=c.LHL_TOPK,
            lhl_triplets=c.LHL_TRIPLETS, lhl_margin=c.LHL_MARGIN, gumbel_tau=c.GUMBEL_TAU, ord_margin=c.ORD_MARGIN,
        )

    def embed(self, rel_embed: Tensor) -> Tensor:
        """Poincare points (n, embed_dim) of relation embeddings."""
        return poincare.exp0(poincare.clip_features(self.proj(rel_embed.float()), self.clip_r), self.curvature)

    def _super_onehot(self, valid: Tensor) -> Tensor:
        onehot = F.one_hot(self.predicate_parents, len(self.super_names)).T.to(self.ema_centres.dtype)
        return onehot * valid[None].to(onehot.dtype)  # (S, C_fg)

    def forward(self, inputs: RelationHeadInputs, outputs: RelationHeadOutputs) -> AuxiliaryOutputs:
        targets = relation_targets(inputs)
        with torch.autocast(device_type=outputs.rel_embed.device.type, enabled=False):
            if targets is None:
                return AuxiliaryOutputs(extras=self._extras(outputs.rel_embed))
            return AuxiliaryOutputs(losses=self._losses(outputs.rel_embed, targets))

    def _losses(self, rel_embed: Tensor, targets: Tensor) -> Dict[str, Tensor]:
        fg = targets > 0
        if not fg.any():
            zero = rel_embed.sum() * 0.0
            return {"loss_hier_hcl": zero, "loss_hier_lhl": zero.clone(), "loss_hier_ord": zero.clone()}
        z = self.embed(rel_embed[fg])
        y = targets[fg] - 1
        c = self.curvature
        num_fg = len(self.predicate_parents)
        assign = F.one_hot(y, num_fg).T.to(z.dtype)  # (C, n)
        present = assign.sum(1) > 0
        batch_centres = klein.einstein_midpoint(z, c, assign)
        centres = torch.where(present[:, None], batch_centres, self.ema_centres.to(z.dtype))
        valid = present | self.seen
        logits = -poincare.pairwise_distance(z, centres, c)
        hcl = hyperbolic_class_loss(logits, y, self.hcl_smoothing, valid)

        dist = poincare.pairwise_distance(z, z, c)
        triplets = sample_lhl_triplets(dist, y, self.lhl_topk, self.lhl_triplets)
        lhl = local_hierarchy_loss(dist, triplets, self.lhl_margin, self.gumbel_tau, self.gumbel_noise)

        supers = self._super_onehot(valid)
        has_child = supers.sum(1) > 0
        super_centres = klein.einstein_midpoint(centres, c, supers)
        child = torch.nonzero(valid).flatten()
        parent_r = poincare.radius(super_centres, c)[self.predicate_parents[child]]
        ordl = ordering_loss(parent_r, poincare.radius(centres[child], c), self.ord_margin) if has_child.any() else hcl * 0

        if self.training:
            self._update_ema(batch_centres.detach(), present)
        w = self.loss_weight
        return {
            "loss_hier_hcl": w * self.hcl_weight * hcl,
            "loss_hier_lhl": w * self.lhl_weight * lhl,
            "loss_hier_ord": w * self.ord_weight * ordl,
        }

    @torch.no_grad()
    def _update_ema(self, batch_centres: Tensor, present: Tensor) -> None:
        """EMA of class centres in the Klein model (gamma-weighted midpoint of old and new centre)."""
        m = self.ema_momentum
        for cls in torch.nonzero(present).flatten().tolist():
            new = batch_centres[cls]
            if bool(self.seen[cls]):
                pair = torch.stack([self.ema_centres[cls].to(new.dtype), new])
                new = klein.einstein_midpoint(pair, self.curvature, torch.tensor([m, 1 - m], dtype=new.dtype,
                                                                                   device=new.device))
            self.ema_centres[cls] = poincare.projx(new, self.curvature).to(self.ema_centres.dtype)
        self.seen |= present

    @torch.no_grad()
    def _extras(self, rel_embed: Tensor) -> Dict[str, Tensor]:
        z = self.embed(rel_embed)
        c = self.curvature
        valid = self.seen if bool(self.seen.any()) else torch.ones_like(self.seen)
        centres = self.ema_centres.to(z.dtype)
        supers = self._super_onehot(valid)
        super_valid = supers.sum(1) > 0
        super_centres = klein.einstein_midpoint(centres, c, supers)
        d_super = -poincare.pairwise_distance(z, super_centres, c)
        d_super = d_super.masked_fill(~super_valid[None], float("-inf"))
        p_super = F.softmax(d_super, 1)
        conf_super, best_super = p_super.max(1)
        under = (self.predicate_parents[None] == best_super[:, None]) & valid[None]  # (n, C)
        d_pred = (-poincare.pairwise_distance(z, centres, c)).masked_fill(~under, float("-inf"))
        conf_pred, best_pred = F.softmax(d_pred, 1).max(1)
        return {
            "hier_path": torch.stack([best_super, best_pred + 1], 1),
            "hier_conf": torch.stack([conf_super, conf_pred], 1),
            "hier_radius": poincare.radius(z, c),
        }


AUX_HEAD_REGISTRY._do_register("hyp_hierarchy", HypHierarchyHead)
