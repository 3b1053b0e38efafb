"""Auxiliary head ``hyp_retrieval``: MERU-style hyperbolic relation <-> text alignment (methods_spec 5).

Visual side: ``rel_embed`` of a relation (and, with ``random_region``, the RoI features of its
subject and object) projected, scaled by exp(alpha_v) and lifted with the Lorentz exp0 map.
Text side: predicate word vectors (prototype mode) or the mean word vector of
(subject, predicate, object) (triplet mode, with random text pruning), through an MLP, scaled
by exp(alpha_t) and lifted. Losses: contrastive CE on -exp(s) d_L (optionally with a GAHR-style
semantic margin) plus the entailment-cone loss (the text entails the visual point).
``geometry="euclidean"`` swaps the Lorentz distance for cosine similarity (Euclidean baseline;
the Poincare-cosine variant of hyperbolic BLIP-2 equals it, as the Poincare map is radial) and
drops the cone loss.

Random region (RQS mapping, decided here): every relation has Q = 3 visual tokens
(subject RoI feature, object RoI feature, ``rel_embed`` as the union/relation token), each with
its own projection. In training one token per relation is used (uniformly at random, or the
best-matching one with probability ``rqs_best_prob``); at inference the three similarities are
averaged. Radii and cone margins are always reported for the ``rel_embed`` token.

Graph level: :meth:`embed_images` pools relation points of each image with the Lorentzian
centroid (weights = triplet scores; a weighted mean for the Euclidean baseline) and
:meth:`graph_level_losses` aligns them with captions encoded by a small from-scratch
:class:`~sgg.modeling.text.CaptionEncoder`. With a ``tokenizer`` the head does this in training
whenever ``inputs.captions`` is given: one random caption per image, relation weights = the
relation head's (detached) best foreground probability, as the triplet scores at inference.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..geometry import lorentz
from ..heads.base import RelationHeadInputs, RelationHeadOutputs
from ..text import CaptionEncoder, WordTokenizer
from .base import AuxiliaryHead, AuxiliaryOutputs
from .common import class_word_vectors, pair_object_labels, relation_targets
from .registry import AUX_HEAD_REGISTRY

__all__ = ["HypRetrievalHead", "prune_triplet_words", "random_token_choice"]


def prune_triplet_words(n: int, drop_prob: float, generator: Optional[torch.Generator] = None,
                        device=None) -> Tensor:
    """Random text pruning: (n, 3) keep-mask of (subject, predicate, object); the predicate is always kept."""
    keep = torch.rand((n, 3), generator=generator, device=device) >= drop_prob
    keep[:, 1] = True
    return keep


def random_token_choice(token_scores: Tensor, best_prob: float = 0.0,
                        generator: Optional[torch.Generator] = None) -> Tensor:
    """RQS: per row, the best-scoring token with probability ``best_prob``, else a uniform random one."""
    n, q = token_scores.shape
    rand_idx = torch.randint(0, q, (n,), generator=generator, device=token_scores.device)
    if best_prob <= 0:
        return rand_idx
    use_best = torch.rand((n,), generator=generator, device=token_scores.device) < best_prob
    return torch.where(use_best, token_scores.argmax(1), rand_idx)


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


def _visual_proj(in_dim: int, out_dim: int) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim, bias=False)
    nn.init.normal_(layer.weight, std=in_dim**-0.5)
    return layer


class HypRetrievalHead(AuxiliaryHead):
    """Hyperbolic (Lorentz) retrieval head; see the module docstring.

    Args:
        rel_embed_dim: width of ``outputs.rel_embed``.
        predicate_word_vectors: (C_rel, D_w) word vectors of the predicate classes (row 0 = background, unused).
        object_word_vectors: (C_obj, D_w) object word vectors (needed by ``text_mode="triplet"``).
        embed_dim: hyperbolic embedding width d_h.
        text_hidden_dim: hidden width of the text MLP.
        curv_init: initial curvature c0; learnable within [c0/10, 10 c0] when ``learn_curv``.
        loss_weight: lambda_hr, multiplies every loss of the head.
        entail_weight: weight of the entailment-cone loss (Lorentz only).
        min_radius: K of the cone half-aperture.
        geometry: "lorentz" or "euclidean" (cosine similarity baseline).
        text_mode: "prototype" (CE over the predicate points) or "triplet" (instance InfoNCE).
        margin: GAHR-style semantic margin m (0 = off), prototype mode.
        random_region: use 3 visual tokens per relation (needs ``obj_feat_dim``).
        obj_feat_dim: width of ``inputs.obj_feats`` for the subject/object tokens.
        rqs_best_prob: probability of taking the best token instead of a random one in training.
        random_prune: probability of dropping the subject and (independently) the object word (triplet mode).
        detach_input: stop gradients into the relation head (probe only).
        caption_vocab_size: vocabulary size of the caption encoder (0 = no caption encoder);
            taken from ``tokenizer`` when that is given.
        caption_encoder: "bag" or "gru".
        graph_weight: weight of the graph-level losses relative to ``loss_weight``.
        tokenizer: caption vocabulary (built on the data side from the training captions); enables
            the graph-level losses in training when batches carry captions.
        caption_max_len: captions are cut to this many tokens.
    """

    def __init__(
        self,
        rel_embed_dim: int,
        predicate_word_vectors: Tensor,
        object_word_vectors: Optional[Tensor] = None,
        embed_dim: int = 256,
        text_hidden_dim: int = 512,
        curv_init: float = 1.0,
        learn_curv: bool = True,
        loss_weight: float = 0.1,
        entail_weight: float = 0.2,
        min_radius: float = 0.1,
        geometry: str = "lorentz",
        text_mode: str = "prototype",
        margin: float = 0.0,
        random_region: bool = False,
        obj_feat_dim: int = 0,
        rqs_best_prob: float = 0.0,
        random_prune: float = 0.0,
        detach_input: bool = False,
        caption_vocab_size: int = 0,
        caption_encoder: str = "bag",
        graph_weight: float = 1.0,
        tokenizer: Optional[WordTokenizer] = None,
        caption_max_len: int = 64,
    ):
        super().__init__()
        if geometry not in ("lorentz", "euclidean"):
            raise ValueError(f"hyp_retrieval: geometry must be 'lorentz' or 'euclidean', got {geometry!r}")
        if text_mode not in ("prototype", "triplet"):
            raise ValueError(f"hyp_retrieval: text_mode must be 'prototype' or 'triplet', got {text_mode!r}")
        if text_mode == "triplet" and object_word_vectors is None:
            raise ValueError("hyp_retrieval: text_mode='triplet' needs object_word_vectors")
        if random_region and obj_feat_dim <= 0:
            raise ValueError("hyp_retrieval: random_region=True needs obj_feat_dim > 0")
        if predicate_word_vectors.dim() != 2 or len(predicate_word_vectors) < 2:
            raise ValueError("hyp_retrieval: predicate_word_vectors must be (C_rel >= 2, D_w)")
        self.geometry, self.text_mode = geometry, text_mode
        self.loss_weight, self.entail_weight, self.min_radius = loss_weight, entail_weight, min_radius
        self.margin, self.random_region, self.rqs_best_prob = margin, random_region, rqs_best_prob
        self.random_prune, self.detach_input, self.graph_weight = random_prune, detach_input, graph_weight
        self.curv_init = float(curv_init)
        if tokenizer is not None:
            if caption_vocab_size not in (0, len(tokenizer)):
                raise ValueError(f"hyp_retrieval: caption_vocab_size={caption_vocab_size} but the tokenizer has "
                                 f"{len(tokenizer)} words")
            caption_vocab_size = len(tokenizer)
        self.tokenizer, self.caption_max_len = tokenizer, int(caption_max_len)
        self._spec = dict(
            rel_embed_dim=rel_embed_dim, embed_dim=embed_dim, text_hidden_dim=text_hidden_dim, curv_init=curv_init,
            learn_curv=learn_curv, loss_weight=loss_weight, entail_weight=entail_weight, min_radius=min_radius,
            geometry=geometry, text_mode=text_mode, margin=margin, random_region=random_region,
            obj_feat_dim=obj_feat_dim, rqs_best_prob=rqs_best_prob, random_prune=random_prune,
            detach_input=detach_input, caption_vocab_size=caption_vocab_size, caption_encoder=caption_encoder,
            graph_weight=graph_weight, caption_max_len=caption_max_len,
        )

        word_dim = predicate_word_vectors.shape[1]
        self.register_buffer("predicate_vectors", predicate_word_vectors.float().clone(), persistent=False)
        if object_word_vectors is not None:
            self.register_buffer("object_vectors", object_word_vectors.float().clone(), persistent=False)
        else:
            self.object_vectors = None
        fg = F.normalize(predicate_word_vectors[1:].float(), dim=-1)
        self.register_buffer("semantic_similarity", (fg @ fg.T).clamp_min(0.0), persistent=False)

        self.visual_proj = _visual_proj(rel_embed_dim, embed_dim)
        if random_region:
            self.subject_proj = _visual_proj(obj_feat_dim, embed_dim)
            self.object_proj = _visual_proj(obj_feat_dim, embed_dim)
        self.text_proj = _mlp(word_dim, text_hidden_dim, embed_dim)
        self.caption_encoder = (
            CaptionEncoder(caption_vocab_size, out_dim=embed_dim, kind=caption_encoder) if caption_vocab_size else None
        )
        init_alpha = math.log(embed_dim**-0.5)
        self.visual_alpha = nn.Parameter(torch.tensor(init_alpha))
        self.text_alpha = nn.Parameter(torch.tensor(init_alpha))
        self.log_curv = nn.Parameter(torch.tensor(math.log(curv_init)), requires_grad=learn_curv)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self._curv_bounds = (math.log(curv_init / 10), math.log(curv_init * 10))
        # 95th percentile of relation radii on validation data (0 = unknown): hyp_uncertainty
        self.register_buffer("radius_p95", torch.zeros(()))

    def spec(self) -> dict:
        """The plain-valued constructor arguments (without word vectors and tokenizer), to rebuild the head."""
        return dict(self._spec)

    @property
    def embed_dim(self) -> int:
        """Width d_h of the embeddings (Lorentz space components)."""
        return int(self._spec["embed_dim"])

    # ------------------------------------------------------------------ config
    @classmethod
    def from_config(cls, cfg, metadata, rel_embed_dim: int) -> dict:
        """Map ``MODEL.AUXILIARY.HYP_RETRIEVAL`` and the dataset's class names to constructor kwargs."""
        c = cfg.MODEL.AUXILIARY.HYP_RETRIEVAL
        tokenizer = None
        if c.CAPTION_VOCAB:
            tokenizer = WordTokenizer.load(c.CAPTION_VOCAB)
        elif c.GRAPH_LEVEL:
            from ...data.captions import build_caption_vocabulary
            from ...data.catalog import DatasetCatalog

            tokenizer = build_caption_vocabulary(DatasetCatalog.get(metadata.name), source=f"dataset {metadata.name}")
        if c.GRAPH_LEVEL and tokenizer is None:  # pragma: no cover - both branches above set it
            raise ValueError("MODEL.AUXILIARY.HYP_RETRIEVAL.GRAPH_LEVEL needs captions")
        return dict(
            rel_embed_dim=rel_embed_dim,
            predicate_word_vectors=class_word_vectors(cfg, metadata.predicate_classes),
            # object vectors also serve triplet queries / scene-graph-file indexing in prototype mode
            object_word_vectors=class_word_vectors(cfg, metadata.object_classes),
            embed_dim=c.EMBED_DIM,
            curv_init=c.CURV_INIT,
            learn_curv=c.LEARN_CURV,
            loss_weight=c.WEIGHT,
            entail_weight=c.ENTAIL_WEIGHT,
            geometry=c.GEOMETRY,
            text_mode=c.TEXT_MODE,
            margin=c.MARGIN,
            random_region=c.RANDOM_REGION,
            obj_feat_dim=cfg.MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM if c.RANDOM_REGION else 0,
            rqs_best_prob=c.RQS_BEST_PROB,
            random_prune=c.RANDOM_PRUNE,
            detach_input=c.DETACH_INPUT,
            caption_encoder=c.CAPTION_ENCODER,
            graph_weight=c.GRAPH_WEIGHT,
            tokenizer=tokenizer if c.GRAPH_LEVEL or c.CAPTION_VOCAB else None,
        )

    # ------------------------------------------------------------ scalars
    @torch.no_grad()
    def clamp_parameters_(self) -> None:
        """MERU clamps, applied in place: alphas <= 0, curvature in [c0/10, 10 c0], logit scale <= log 100."""
        self.visual_alpha.clamp_(max=0.0)
        self.text_alpha.clamp_(max=0.0)
        self.log_curv.clamp_(*self._curv_bounds)
        self.logit_scale.clamp_(max=math.log(100.0))

    def curvature(self) -> Tensor:
        """Current curvature c (clamped)."""
        return self.log_curv.clamp(*self._curv_bounds).exp()

    def temperature_scale(self) -> Tensor:
        """exp(s), at most 100."""
        return self.logit_scale.clamp(max=math.log(100.0)).exp()

    # ------------------------------------------------------------ lifting
    def _lift(self, feats: Tensor, alpha: Tensor) -> Tensor:
        feats = feats * alpha.clamp(max=0.0).exp()
        return lorentz.exp0(feats, self.curvature()) if self.geometry == "lorentz" else feats

    def lift_visual(self, rel_embed: Tensor) -> Tensor:
        """Relation points (n, d_h) (Lorentz space components, or Euclidean features)."""
        return self._lift(self.visual_proj(rel_embed.float()), self.visual_alpha)

    def lift_text(self, word_features: Tensor) -> Tensor:
        """Text points (n, d_h) from word-vector features (n, D_w)."""
        return self._lift(self.text_proj(word_features.float()), self.text_alpha)

    def predicate_points(self) -> Tensor:
        """Text points of the foreground predicates (C_rel - 1, d_h)."""
        return self.lift_text(self.predicate_vectors[1:])

    def triplet_text_features(self, subj: Tensor, pred: Tensor, obj: Tensor, keep: Optional[Tensor] = None) -> Tensor:
        """Mean word vector of the kept words of (subject, predicate, object) labels; keep: (n, 3) bool."""
        if self.object_vectors is None:
            raise RuntimeError("hyp_retrieval: triplet texts need object_word_vectors")
        words = torch.stack([self.object_vectors[subj], self.predicate_vectors[pred], self.object_vectors[obj]], 1)
        if keep is None:
            return words.mean(1)
        k = keep.to(words.dtype)[..., None]
        return (words * k).sum(1) / k.sum(1)

    def embed_triplet_texts(self, subj: Tensor, pred: Tensor, obj: Tensor) -> Tensor:
        """Text points (n, d_h) of (subject, predicate, object) label triplets (for the retrieval index)."""
        with torch.autocast(device_type=subj.device.type, enabled=False):
            return self.lift_text(self.triplet_text_features(subj, pred, obj))

    # ------------------------------------------------------------ similarity
    def similarity(self, x: Tensor, t: Tensor) -> Tensor:
        """(n, d) x (m, d) -> (n, m): -d_L (Lorentz) or cosine (Euclidean)."""
        if self.geometry == "lorentz":
            return -lorentz.pairwise_distance(x, t, self.curvature())
        return F.normalize(x, dim=-1) @ F.normalize(t, dim=-1).T

    def _paired_similarity(self, x: Tensor, t: Tensor) -> Tensor:
        if self.geometry == "lorentz":
            return -lorentz.distance(x, t, self.curvature())
        return (F.normalize(x, dim=-1) * F.normalize(t, dim=-1)).sum(-1)

    def prototype_logits(self, x: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """exp(s) * similarity to the predicate points; with ``labels`` (0-based fg) and a margin,
        negatives c get + exp(s) m (1 - sigma_{y,c})."""
        logits = self.temperature_scale() * self.similarity(x, self.predicate_points())
        if labels is not None and self.margin > 0:
            extra = self.margin * (1.0 - self.semantic_similarity[labels])
            extra = extra.scatter(1, labels[:, None], 0.0)
            logits = logits + self.temperature_scale() * extra
        return logits

    def entailment_loss(self, text_points: Tensor, visual_points: Tensor) -> Tensor:
        """mean max(0, phi(t, v) - omega(t)): the text's cone should contain the visual point."""
        c = self.curvature()
        angle = lorentz.exterior_angle(text_points, visual_points, c)
        aperture = lorentz.half_aperture(text_points, c, self.min_radius)
        return (angle - aperture).clamp_min(0).mean()

    # ------------------------------------------------------------ tokens
    def _visual_tokens(self, inputs: RelationHeadInputs, rel_embed: Tensor, select: Optional[Tensor]) -> Tensor:
        """(n, Q, d_h) visual tokens; Q = 3 (subject, object, relation) with random_region, else 1."""
        rel_points = self.lift_visual(rel_embed)
        if not self.random_region:
            return rel_points[:, None]
        pairs = inputs.global_pair_idx()
        if select is not None:
            pairs = pairs[select]
        obj = inputs.obj_feats.float()
        if self.detach_input:
            obj = obj.detach()
        subj_points = self._lift(self.subject_proj(obj[pairs[:, 0]]), self.visual_alpha)
        obj_points = self._lift(self.object_proj(obj[pairs[:, 1]]), self.visual_alpha)
        return torch.stack([subj_points, obj_points, rel_points], 1)

    # ------------------------------------------------------------ forward
    def forward(self, inputs: RelationHeadInputs, outputs: RelationHeadOutputs) -> AuxiliaryOutputs:
        if self.training:
            self.clamp_parameters_()
        rel_embed = outputs.rel_embed.detach() if self.detach_input else outputs.rel_embed
        targets = relation_targets(inputs)
        with torch.autocast(device_type=rel_embed.device.type, enabled=False):
            if targets is not None:
                losses = self._losses(inputs, outputs, rel_embed, targets)
                if inputs.captions is not None and self.tokenizer is not None:
                    losses.update(self._caption_losses(inputs, outputs, rel_embed))
                return AuxiliaryOutputs(losses=losses)
            return AuxiliaryOutputs(extras=self._extras(inputs, outputs, rel_embed))

    def _losses(self, inputs, outputs, rel_embed: Tensor, targets: Tensor) -> Dict[str, Tensor]:
        fg = targets > 0
        if not fg.any():
            zero = rel_embed.sum() * 0.0
            return {"loss_hyp_con": zero, "loss_hyp_ent": zero.clone()}
        tokens = self._visual_tokens(inputs, rel_embed[fg], fg)  # (n, Q, d)
        y = targets[fg] - 1
        n, q, d = tokens.shape
        if self.text_mode == "prototype":
            protos = self.predicate_points()
            if q > 1:
                with torch.no_grad():
                    pos = self.similarity(tokens.reshape(n * q, d), protos).reshape(n, q, -1)
                    pos = pos.gather(2, y[:, None, None].expand(n, q, 1)).squeeze(-1)
                choice = random_token_choice(pos, self.rqs_best_prob)
            else:
                choice = torch.zeros(n, dtype=torch.long, device=tokens.device)
            v = tokens[torch.arange(n, device=tokens.device), choice]
            loss_con = F.cross_entropy(self.prototype_logits(v, y), y)
            text = protos[y]
        else:
            subj, obj = pair_object_labels(inputs, outputs)
            subj, obj = subj[fg], obj[fg]
            keep = prune_triplet_words(n, self.random_prune if self.training else 0.0, device=tokens.device)
            text = self.lift_text(self.triplet_text_features(subj, y + 1, obj, keep))
            choice = torch.randint(0, q, (n,), device=tokens.device) if q > 1 else torch.zeros(n, dtype=torch.long,
                                                                                           device=tokens.device)
            v = tokens[torch.arange(n, device=tokens.device), choice]
            keys = torch.stack([torch.where(keep[:, 0], subj, -1), y, torch.where(keep[:, 2], obj, -1)], 1)
            loss_con = self._instance_contrastive(v, text, keys)
        losses = {"loss_hyp_con": self.loss_weight * loss_con}
        if self.geometry == "lorentz" and self.entail_weight > 0:
            losses["loss_hyp_ent"] = self.loss_weight * self.entail_weight * self.entailment_loss(text, v)
        return losses

    def _caption_losses(self, inputs: RelationHeadInputs, outputs: RelationHeadOutputs,
                        rel_embed: Tensor) -> Dict[str, Tensor]:
        """Graph-level losses on the images of the batch that have captions (one random caption each)."""
        captions: List[List[str]] = inputs.captions
        if len(captions) != len(inputs.pair_idx):
            raise ValueError(f"hyp_retrieval: {len(captions)} caption lists for {len(inputs.pair_idx)} images")
        num_rels = inputs.num_rels
        keep = [i for i, caps in enumerate(captions) if caps and num_rels[i] > 0]
        if len(keep) < 2:  # a contrastive loss needs at least two images
            return {}
        weights = torch.softmax(outputs.rel_logits.detach().float(), 1)[:, 1:].max(1).values
        starts = [0]
        for n in num_rels:
            starts.append(starts[-1] + n)
        rows = torch.cat([torch.arange(starts[i], starts[i + 1], device=rel_embed.device) for i in keep])
        picks = [captions[i][int(torch.randint(len(captions[i]), ()))] for i in keep]
        ids, lengths = self.tokenizer.encode_batch(picks, self.caption_max_len)
        return self.graph_level_losses(rel_embed[rows], weights[rows], [num_rels[i] for i in keep],
                                       ids.to(rel_embed.device), lengths.to(rel_embed.device), clamp=False)

    def _instance_contrastive(self, v: Tensor, t: Tensor, keys: Optional[Tensor] = None) -> Tensor:
        """Symmetric InfoNCE of paired rows; other rows with the same key are removed from the negatives."""
        logits = self.temperature_scale() * self.similarity(v, t)
        if keys is not None:
            same = (keys[:, None] == keys[None]).all(-1)
            same.fill_diagonal_(False)
            logits = logits.masked_fill(same, float("-inf"))
        target = torch.arange(len(v), device=v.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))

    @torch.no_grad()
    def _extras(self, inputs, outputs, rel_embed: Tensor) -> Dict[str, Tensor]:
        n = len(rel_embed)
        tokens = self._visual_tokens(inputs, rel_embed, None)
        rel_points = tokens[:, -1]
        c = self.curvature()
        if self.text_mode == "prototype":
            protos = self.predicate_points()
            sims = torch.stack([self.similarity(tokens[:, i], protos) for i in range(tokens.shape[1])]).mean(0)
            head_pred = outputs.rel_logits[:, 1:].argmax(1) if outputs.rel_logits.shape[0] == n else sims.argmax(1)
            text_pred = protos[head_pred]
        else:
            subj, obj = pair_object_labels(inputs, outputs)
            num_fg = self.predicate_vectors.shape[0] - 1
            preds = torch.arange(1, num_fg + 1, device=rel_embed.device)
            texts = self.lift_text(self.triplet_text_features(
                subj[:, None].expand(n, num_fg).reshape(-1), preds.repeat(n), obj[:, None].expand(n, num_fg).reshape(-1)
            )).reshape(n, num_fg, -1)
            sims = torch.stack([
                self._paired_similarity(tokens[:, i, None].expand_as(texts), texts) for i in range(tokens.shape[1])
            ]).mean(0)
            head_pred = outputs.rel_logits[:, 1:].argmax(1)
            text_pred = texts[torch.arange(n, device=texts.device), head_pred]
        extras = {"hyp_pred": sims.argmax(1) + 1}
        if self.geometry == "lorentz":
            radius = lorentz.radius(rel_points, c)
            extras["hyp_radius"] = radius
            extras["entail_margin"] = (
                lorentz.half_aperture(text_pred, c, self.min_radius) - lorentz.exterior_angle(text_pred, rel_points, c)
            )
            if float(self.radius_p95) > 0:
                extras["hyp_uncertainty"] = (1.0 - radius / self.radius_p95).clamp(0.0, 1.0)
        else:
            extras["hyp_radius"] = rel_points.norm(dim=-1)
        return extras

    @torch.no_grad()
    def calibrate_uncertainty(self, radii: Tensor) -> float:
        """Store the 95th percentile of validation relation radii (enables ``hyp_uncertainty``)."""
        value = float(torch.quantile(radii.float().flatten(), 0.95))
        self.radius_p95.fill_(value)
        return value

    # ------------------------------------------------------------ graph level
    def embed_images(self, rel_embed: Tensor, weights: Tensor, num_rels: Sequence[int]) -> Tensor:
        """(num_images, d_h) image points: weighted Lorentzian centroid of each image's relation points
        (Lorentz space components), or their weighted mean (Euclidean baseline).

        ``weights`` (sum R,) are the triplet scores; an image with no relation gets the origin.
        """
        with torch.autocast(device_type=rel_embed.device.type, enabled=False):
            return self.pool_points(self.lift_visual(rel_embed), weights, num_rels)

    def pool_points(self, points: Tensor, weights: Tensor, num_rels: Sequence[int]) -> Tensor:
        """Pool consecutive groups of ``num_rels`` points (sum R, d_h) into one point per group."""
        index = torch.repeat_interleave(
            torch.arange(len(num_rels), device=points.device), torch.as_tensor(list(num_rels), device=points.device)
        )
        weights = weights.float().clamp_min(0)
        if self.geometry == "lorentz":
            return lorentz.centroid(points.float(), self.curvature(), weights, index, len(num_rels))
        total = torch.zeros(len(num_rels), points.shape[1], device=points.device).index_add_(
            0, index, points.float() * weights[:, None])
        norm = torch.zeros(len(num_rels), device=points.device).index_add_(0, index, weights)
        return total / norm.clamp_min(1e-12)[:, None]

    def embed_captions(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """(B, d_h) Lorentz points of captions given padded token ids and lengths."""
        if self.caption_encoder is None:
            raise RuntimeError("hyp_retrieval: built without a caption vocabulary (caption_vocab_size=0)")
        with torch.autocast(device_type=ids.device.type, enabled=False):
            return self._lift(self.caption_encoder(ids, lengths), self.text_alpha)

    def graph_level_losses(self, rel_embed: Tensor, weights: Tensor, num_rels: Sequence[int], ids: Tensor,
                           lengths: Tensor, clamp: bool = True) -> Dict[str, Tensor]:
        """Image <-> caption contrastive + entailment losses (one caption per image), weighted.

        ``clamp=False`` skips the in-place parameter clamps (already applied by ``forward``).
        """
        if self.training and clamp:
            self.clamp_parameters_()
        images = self.embed_images(rel_embed, weights, num_rels)
        captions = self.embed_captions(ids, lengths)
        w = self.loss_weight * self.graph_weight
        with torch.autocast(device_type=ids.device.type, enabled=False):
            losses = {"loss_hyp_graph_con": w * self._instance_contrastive(images, captions)}
            if self.geometry == "lorentz" and self.entail_weight > 0:
                losses["loss_hyp_graph_ent"] = w * self.entail_weight * self.entailment_loss(captions, images)
        return losses


AUX_HEAD_REGISTRY._do_register("hyp_retrieval", HypRetrievalHead)
