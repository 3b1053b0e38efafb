"""CReaL: complex-valued relation embedding with amplitude/phase decomposition (methods_spec 4).

PE-Net style entity/pair encoding -> complex projections of the pair feature z and the union
feature u -> complex product r = z * u -> l2 normalisation -> amplitude branch
v_a = W_a[Re; Im; |r|^2] and phase branch v_p = W_p[v_a; sin; cos] -> cosine matching against
amplitude / phase prototypes derived from predicate word vectors, mixed by a gate alpha:

    logits = alpha * cos(v_a, P_a) / tau_a + (1 - alpha) * cos(v_p, P_p) / tau_p

Every component has a switch so the paper's ablation (amplitude only, phase only, gated, +L_reg,
+triplet losses, full) is a set of configs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..geometry.complex_ops import ComplexPair, abs2, cmul, cnormalize, phase_cos_sin
from ..relation.label_nms import greedy_label_nms
from .base import RelationHead, RelationHeadInputs, RelationHeadOutputs
from .context import (
    PositionEmbedding,
    encode_box_info,
    foreground_argmax,
    onehot_object_logits,
    word_embedding,
)
from .creal_losses import (
    hardest_negative_triplet,
    pair_negative_mask,
    prototype_separation_term,
    prototype_similarity_term,
)
from .freq_bias import FrequencyBias
from .losses import RelationLoss
from .registry import RELATION_HEAD_REGISTRY

__all__ = ["CReaL", "ComplexRelationBlock", "ComplexRelationFeatures", "complex_relation_embedding"]

GATES = ("global", "per_relation", "fixed")
SEP_SPACES = ("normalized", "raw")
MAX_LOG_SCALE = math.log(100.0)  # temperature >= 0.01


def complex_relation_embedding(z: ComplexPair, u: ComplexPair) -> Tuple[ComplexPair, Tensor, Tensor, Tensor]:
    """r_hat = (z * u) / ||z * u||, amplitude |r_hat|^2, cos and sin of its phase (no atan2)."""
    r_hat = cnormalize(cmul(z, u))
    cos, sin = phase_cos_sin(r_hat)
    return r_hat, abs2(r_hat), cos, sin


@dataclass
class ComplexRelationFeatures:
    """Output of :class:`ComplexRelationBlock` (all (R, .) float32 or the weights' dtype)."""

    re: Tensor  # Re(r_hat) (R, d_c)
    im: Tensor  # Im(r_hat) (R, d_c)
    amplitude: Tensor  # |r_hat|^2 (R, d_c), rows sum to 1
    cos: Tensor  # cos(phase) (R, d_c)
    sin: Tensor  # sin(phase) (R, d_c)
    v_amp: Tensor  # normalised amplitude embedding (R, d_p)
    v_phase: Tensor  # normalised phase embedding (R, d_p)


class ComplexRelationBlock(nn.Module):
    """Complex projections, product fusion, normalisation and the amplitude / phase branches.

    Runs in the dtype of its weights (float32) even under autocast (methods_spec 0.6).

    Args:
        in_dim: width d of the real pair and union features.
        complex_dim: d_c.
        proto_dim: d_p.
    """

    def __init__(self, in_dim: int, complex_dim: int, proto_dim: int) -> None:
        super().__init__()
        self.complex_dim = complex_dim
        self.pair_to_complex = nn.Linear(in_dim, 2 * complex_dim)
        self.union_to_complex = nn.Linear(in_dim, 2 * complex_dim)
        self.amp_proj = nn.Linear(3 * complex_dim, proto_dim)
        self.phase_proj = nn.Linear(proto_dim + 2 * complex_dim, proto_dim)

    def forward(self, z_real: Tensor, u_real: Tensor) -> ComplexRelationFeatures:
        dtype = self.amp_proj.weight.dtype
        with torch.autocast(device_type=z_real.device.type, enabled=False):
            z = self.pair_to_complex(z_real.to(dtype)).chunk(2, dim=-1)
            u = self.union_to_complex(u_real.to(dtype)).chunk(2, dim=-1)
            (re, im), amp, cos, sin = complex_relation_embedding((z[0], z[1]), (u[0], u[1]))
            v_a = self.amp_proj(torch.cat([re, im, amp], dim=-1))
            v_p = self.phase_proj(torch.cat([v_a, sin, cos], dim=-1))
            return ComplexRelationFeatures(
                re, im, amp, cos, sin, F.normalize(v_a, dim=-1, eps=1e-8), F.normalize(v_p, dim=-1, eps=1e-8)
            )


def _mlp(in_dim: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))



class _EntityEncoder(nn.Module):
    """PE-Net gated fusion of a role's semantic (word) and visual reps, with residual refinement."""

    def __init__(self, word_dim: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.semantic = _mlp(word_dim, dim // 2, dim)
        self.gate = nn.Linear(2 * dim, dim)
        self.refine = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, words: Tensor, visual: Tensor) -> Tensor:
        sem = self.semantic(words)
        x = sem + torch.sigmoid(self.gate(torch.cat([sem, visual], dim=-1))) * visual
        return self.norm(x + self.dropout(torch.relu(self.refine(x))))


@RELATION_HEAD_REGISTRY.register()
class CReaL(RelationHead):
    """CReaL relation head.

    Args:
        num_obj_classes, num_predicates: C_obj, C_rel including background.
        obj_feat_dim, union_feat_dim: widths of ``obj_feats`` / ``union_feats``.
        obj_word_vectors: (C_obj, w) initial entity word table (N(0,1) if None).
        pred_word_vectors: (C_rel, w) predicate word vectors the prototypes derive from.
        word_dim: w when no word vectors are given.
        mlp_dim: d, width of the entity/pair features.
        complex_dim: d_c.  proto_dim: d_p.
        dropout: dropout of the visual-to-semantic map and the refinements.
        obj_hidden_dim, pos_embed_dim: object refinement widths (SGCls/SGDet).
        use_amplitude, use_phase: which branches enter the logits (at least one).
        gate: "global" (scalar, init alpha = 0.5) | "per_relation" (zero-init linear on [v_a; v_p]) |
            "fixed" (alpha = 0.5); ignored when only one branch is used (alpha = 1 or 0).
        tau_init: initial temperatures (stored as log(1/tau), clamped to tau >= 0.01).
        reg_loss, amp_triplet_loss, phase_triplet_loss: loss switches (methods_spec 4.5).
        margin_amp, margin_phase, margin_sep: gamma_a, gamma_p, gamma_dp.
        proto_sep_space: "normalized" (unit prototypes; gamma_dp < 4) or "raw" (PE-Net, gamma 7).
        predicate_present: (C_obj, C_obj, C_rel) bool, predicates seen per (subject, object) class
            pair in training (fg_matrix > 0); None = all negatives for L_phs.
        use_freq_bias, freq_bias_table: optional frequency bias (off in CReaL/PE-Net).
        freeze_word_vectors: keep the word tables fixed.
        rel_loss, pred_counts, reweight_power, class_balanced_beta: L_cls, see :class:`RelationLoss`.
        label_nms_threshold: IoU of the SGDet test-time label suppression.

    Outputs: ``rel_embed`` = [v_a; v_p] (R, 2 d_p); ``pair_reps`` = fused subject / object entity
    reps; per-relation ``extras`` (R,): ``creal_gate`` alpha, ``amp_conf`` / ``phase_conf`` the max
    softmax of the amplitude-only / phase-only logits, ``phase`` the amplitude-weighted circular mean
    phase angle(sum_k r_hat_k) in (-pi, pi], ``branch_agree`` 1.0 when both branches have the same
    foreground argmax. Losses: ``loss_rel`` (L_cls), ``loss_obj`` (SGCls/SGDet), ``loss_proto_reg``,
    ``loss_amp_triplet``, ``loss_phase_triplet`` (each only when switched on).
    """

    def __init__(
        self,
        *,
        num_obj_classes: int,
        num_predicates: int,
        obj_feat_dim: int,
        union_feat_dim: int,
        obj_word_vectors: Optional[Tensor] = None,
        pred_word_vectors: Optional[Tensor] = None,
        word_dim: int = 300,
        mlp_dim: int = 1024,
        complex_dim: int = 512,
        proto_dim: int = 512,
        dropout: float = 0.2,
        obj_hidden_dim: int = 512,
        pos_embed_dim: int = 128,
        use_amplitude: bool = True,
        use_phase: bool = True,
        gate: str = "global",
        tau_init: float = 0.07,
        reg_loss: bool = True,
        amp_triplet_loss: bool = True,
        phase_triplet_loss: bool = True,
        margin_amp: float = 0.5,
        margin_phase: float = 0.5,
        margin_sep: float = 1.0,
        proto_sep_space: str = "normalized",
        predicate_present: Optional[Tensor] = None,
        use_freq_bias: bool = False,
        freq_bias_table: Optional[Tensor] = None,
        freeze_word_vectors: bool = False,
        rel_loss: str = "ce",
        pred_counts: Optional[Tensor] = None,
        reweight_power: float = 1.0,
        class_balanced_beta: float = 0.9999,
        label_nms_threshold: float = 0.5,
    ) -> None:
        super().__init__()
        if not (use_amplitude or use_phase):
            raise ValueError("CReaL needs at least one of use_amplitude / use_phase")
        if gate not in GATES:
            raise ValueError(f"CReaL gate must be one of {GATES}, got '{gate}'")
        if proto_sep_space not in SEP_SPACES:
            raise ValueError(f"proto_sep_space must be one of {SEP_SPACES}, got '{proto_sep_space}'")
        if proto_sep_space == "normalized" and margin_sep >= 4.0:
            raise ValueError(f"margin_sep={margin_sep}: squared distances of unit prototypes are <= 4; "
                             "use margin_sep < 4 or proto_sep_space='raw'")
        if obj_word_vectors is not None:
            word_dim = obj_word_vectors.shape[1]
        self.num_obj_classes = num_obj_classes
        self.num_predicates = num_predicates
        self.use_amplitude, self.use_phase, self.gate_kind = use_amplitude, use_phase, gate
        self.reg_loss = reg_loss
        self.amp_triplet_loss, self.phase_triplet_loss = amp_triplet_loss, phase_triplet_loss
        self.margin_amp, self.margin_phase, self.margin_sep = margin_amp, margin_phase, margin_sep
        self.proto_sep_space = proto_sep_space
        self.label_nms_threshold = label_nms_threshold
        d = mlp_dim

        self.obj_embed = word_embedding(num_obj_classes, word_dim, obj_word_vectors, freeze_word_vectors,
                                    "obj_word_vectors")
        self.pred_embed = word_embedding(num_predicates, word_dim, pred_word_vectors, freeze_word_vectors,
                                     "pred_word_vectors")
        # entity / pair encoding (PE-Net front end)
        self.post_emb = nn.Linear(obj_feat_dim, 2 * d)
        self.vis2sem = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                     nn.Linear(2 * d, d))
        self.subj_encoder = _EntityEncoder(word_dim, d, dropout)
        self.obj_encoder = _EntityEncoder(word_dim, d, dropout)
        self.union_mlp = _mlp(union_feat_dim, d, d)
        # complex block and prototypes
        self.complex_block = ComplexRelationBlock(d, complex_dim, proto_dim)
        self.rel_embed_dim = 2 * proto_dim  # width of outputs.rel_embed = [v_a; v_p] (auxiliary heads)
        self.proto_trunk = _mlp(word_dim, d // 2, d)
        self.proto_amp = nn.Linear(d, proto_dim)
        self.proto_phase = nn.Linear(d, proto_dim)
        init_scale = math.log(1.0 / tau_init)
        self.log_scale_amp = nn.Parameter(torch.tensor(init_scale))
        self.log_scale_phase = nn.Parameter(torch.tensor(init_scale))
        self.gate_logit = nn.Parameter(torch.zeros(())) if gate == "global" else None
        self.gate_proj = nn.Linear(2 * proto_dim, 1) if gate == "per_relation" else None
        if self.gate_proj is not None:
            with torch.no_grad():
                self.gate_proj.weight.zero_()
                self.gate_proj.bias.zero_()
        # object refinement (SGCls / SGDet)
        self.pos_embed = PositionEmbedding(pos_embed_dim)
        self.obj_refine = nn.Sequential(nn.Linear(obj_feat_dim + word_dim + pos_embed_dim, obj_hidden_dim),
                                        nn.Linear(obj_hidden_dim, num_obj_classes))
        self.freq_bias = FrequencyBias(num_obj_classes, num_predicates, freq_bias_table) if use_freq_bias else None
        self.rel_loss = RelationLoss(num_predicates, rel_loss, pred_counts, reweight_power, class_balanced_beta)
        if predicate_present is not None:
            predicate_present = torch.as_tensor(predicate_present).bool()
            if predicate_present.shape != (num_obj_classes, num_obj_classes, num_predicates):
                raise ValueError(f"predicate_present has shape {tuple(predicate_present.shape)}, expected "
                                 f"({num_obj_classes}, {num_obj_classes}, {num_predicates})")
        self.register_buffer("predicate_present", predicate_present, persistent=False)

    # ------------------------------------------------------------------ config
    @classmethod
    def from_config(cls, cfg, metadata, in_dims: Dict[str, int]) -> dict:
        """Constructor kwargs from ``MODEL.ROI_RELATION_HEAD`` (+ ``.CREAL``) and ``metadata``."""
        from sgg.data.word_vectors import load_word_vectors

        rh, cr = cfg.MODEL.ROI_RELATION_HEAD, cfg.MODEL.ROI_RELATION_HEAD.CREAL
        stats = getattr(metadata, "statistics", None)
        obj_vecs, _ = load_word_vectors(list(metadata.object_classes), cr.WORD_DIM, rh.WORD_VECTORS, seed=0)
        pred_vecs, _ = load_word_vectors(list(metadata.predicate_classes), cr.WORD_DIM, rh.WORD_VECTORS, seed=2)
        present = torch.as_tensor(stats.fg_matrix > 0) if stats is not None else None
        return dict(
            num_obj_classes=len(metadata.object_classes),
            num_predicates=len(metadata.predicate_classes),
            obj_feat_dim=in_dims["obj_feat_dim"],
            union_feat_dim=in_dims["union_feat_dim"],
            obj_word_vectors=obj_vecs,
            pred_word_vectors=pred_vecs,
            mlp_dim=cr.MLP_DIM,
            complex_dim=cr.COMPLEX_DIM,
            proto_dim=cr.PROTO_DIM,
            dropout=rh.CONTEXT_DROPOUT_RATE,
            obj_hidden_dim=rh.CONTEXT_HIDDEN_DIM,
            pos_embed_dim=rh.MOTIFS.POS_EMBED_DIM,
            use_amplitude=cr.USE_AMPLITUDE,
            use_phase=cr.USE_PHASE,
            gate=cr.GATE,
            tau_init=cr.TAU_INIT,
            reg_loss=cr.REG_LOSS,
            amp_triplet_loss=cr.AMP_TRIPLET_LOSS,
            phase_triplet_loss=cr.PHASE_TRIPLET_LOSS,
            margin_amp=cr.MARGIN_AMP,
            margin_phase=cr.MARGIN_PHASE,
            margin_sep=cr.MARGIN_SEP,
            proto_sep_space=cr.PROTO_SEP_SPACE,
            predicate_present=present,
            use_freq_bias=cr.USE_FREQ_BIAS,
            freq_bias_table=torch.as_tensor(stats.freq_bias_table()) if stats is not None else None,
            freeze_word_vectors=rh.FREEZE_WORD_VECTORS,
            rel_loss=rh.LOSS,
            pred_counts=torch.as_tensor(stats.pred_counts) if stats is not None else None,
            reweight_power=rh.REWEIGHT_POWER,
            class_balanced_beta=rh.CLASS_BALANCED_BETA,
            label_nms_threshold=cfg.TEST.RELATION.LATER_NMS_PREDICTION_THRES,
        )

    # ----------------------------------------------------------------- pieces
    def prototypes(self) -> Tuple[Tensor, Tensor]:
        """Raw amplitude and phase prototypes (C_rel, d_p) from the predicate word table."""
        trunk = self.proto_trunk(self.pred_embed.weight)
        return self.proto_amp(trunk), self.proto_phase(trunk)

    def gate(self, v_amp: Tensor, v_phase: Tensor) -> Tensor:
        """alpha (R, 1) in [0, 1]."""
        r = v_amp.shape[0]
        if not self.use_phase:
            return v_amp.new_ones((r, 1))
        if not self.use_amplitude:
            return v_amp.new_zeros((r, 1))
        if self.gate_kind == "global":
            return torch.sigmoid(self.gate_logit.to(v_amp.dtype)).expand(r, 1)
        if self.gate_kind == "per_relation":
            return torch.sigmoid(self.gate_proj(torch.cat([v_amp, v_phase], dim=-1)))
        return v_amp.new_full((r, 1), 0.5)

    def _objects(self, inputs: RelationHeadInputs) -> Tuple[Tensor, Tensor]:
        """(obj_logits, obj_preds): GT in PredCls, else the PE-Net object refinement."""
        if inputs.mode == "predcls":
            if inputs.obj_labels is None:
                raise ValueError("predcls needs RelationHeadInputs.obj_labels")
            labels = torch.cat(list(inputs.obj_labels)).long()
            return onehot_object_logits(labels, self.num_obj_classes).to(inputs.obj_feats.dtype), labels
        if inputs.obj_logits is None:
            raise ValueError(f"{inputs.mode} needs RelationHeadInputs.obj_logits (detector logits)")
        det = torch.cat(list(inputs.obj_logits)).detach()
        mix = F.softmax(det, dim=1) @ self.obj_embed.weight
        box_info = torch.cat([encode_box_info(b, s) for b, s in zip(inputs.boxes, inputs.image_sizes)])
        pos = self.pos_embed(box_info.to(inputs.obj_feats.dtype))
        logits = self.obj_refine(torch.cat([inputs.obj_feats, mix, pos], dim=1))
        preds = foreground_argmax(logits.detach())
        if inputs.mode == "sgdet" and not self.training:
            chunks = logits.detach().split(inputs.num_objs)
            per_cls = inputs.boxes_per_cls if inputs.boxes_per_cls is not None else inputs.boxes
            preds = torch.cat([greedy_label_nms(b, c, self.label_nms_threshold)[0]
                               for c, b in zip(chunks, per_cls)]) if chunks else preds
        return logits, preds

    # ----------------------------------------------------------------- forward
    def forward(self, inputs: RelationHeadInputs) -> RelationHeadOutputs:
        """Logits, extras (creal_gate, amp_conf, phase_conf, phase, branch_agree) and, with labels, losses."""
        obj_logits, obj_preds = self._objects(inputs)
        words = self.obj_embed(obj_preds)
        x_subj, x_obj = self.post_emb(inputs.obj_feats).chunk(2, dim=1)
        subj = self.subj_encoder(words, self.vis2sem(x_subj))
        obj = self.obj_encoder(words, self.vis2sem(x_obj))
        pairs = inputs.global_pair_idx()
        s, o = subj[pairs[:, 0]], obj[pairs[:, 1]]
        z_real = torch.relu(s + o) - (s - o) ** 2
        u_real = self.vis2sem(self.union_mlp(inputs.union_feats))
        feats = self.complex_block(z_real, u_real)

        dtype = feats.v_amp.dtype
        with torch.autocast(device_type=z_real.device.type, enabled=False):
            p_amp_raw, p_phase_raw = (p.to(dtype) for p in self.prototypes())
            p_amp, p_phase = F.normalize(p_amp_raw, dim=-1, eps=1e-8), F.normalize(p_phase_raw, dim=-1, eps=1e-8)
            scale_a = self.log_scale_amp.clamp(max=MAX_LOG_SCALE).exp().to(dtype)
            scale_p = self.log_scale_phase.clamp(max=MAX_LOG_SCALE).exp().to(dtype)
            amp_logits = (feats.v_amp @ p_amp.T) * scale_a
            phase_logits = (feats.v_phase @ p_phase.T) * scale_p
            alpha = self.gate(feats.v_amp, feats.v_phase).to(dtype)
            rel_logits = alpha * amp_logits + (1.0 - alpha) * phase_logits
        if self.freq_bias is not None:
            rel_logits = rel_logits + self.freq_bias(obj_preds[pairs[:, 0]], obj_preds[pairs[:, 1]])

        with torch.no_grad():
            extras = {
                "creal_gate": alpha.squeeze(1).detach(),
                "amp_conf": F.softmax(amp_logits, 1).max(1).values,
                "phase_conf": F.softmax(phase_logits, 1).max(1).values,
                # amplitude-weighted circular mean of the phases: angle(sum_k r_hat_k), in (-pi, pi]
                "phase": torch.atan2(feats.im.sum(1), feats.re.sum(1)),
                "branch_agree": (foreground_argmax(amp_logits) == foreground_argmax(phase_logits)).to(dtype),
            }
        out = RelationHeadOutputs(
            rel_logits=rel_logits,
            obj_logits=obj_logits,
            obj_preds=obj_preds,
            rel_embed=torch.cat([feats.v_amp, feats.v_phase], dim=1),
            extras=extras,
            pair_reps={"subj": s, "obj": o},
        )
        if inputs.rel_labels is not None:
            out.losses.update(self.losses(inputs, out, feats, (p_amp, p_phase), (p_amp_raw, p_phase_raw), pairs))
        return out

    def losses(self, inputs: RelationHeadInputs, out: RelationHeadOutputs, feats: ComplexRelationFeatures,
               protos: Tuple[Tensor, Tensor], raw_protos: Tuple[Tensor, Tensor],
               pairs: Tensor) -> Dict[str, Tensor]:
        """L_cls (+ object CE outside PredCls), L_reg, L_amp, L_phs as switched on."""
        rel_labels = torch.cat(list(inputs.rel_labels)).long()
        losses = {"loss_rel": self.rel_loss(out.rel_logits, rel_labels)}
        if inputs.mode != "predcls" and inputs.obj_labels is not None:
            losses["loss_obj"] = F.cross_entropy(out.obj_logits, torch.cat(list(inputs.obj_labels)).long())
        p_amp, p_phase = protos
        with torch.autocast(device_type=p_amp.device.type, enabled=False):
            if self.reg_loss:
                sim = [prototype_similarity_term(p) for p, on in ((p_amp, self.use_amplitude),
                                                                  (p_phase, self.use_phase)) if on]
                sep_idx = 1 if self.use_phase else 0
                sep_protos = (raw_protos if self.proto_sep_space == "raw" else protos)[sep_idx]
                losses["loss_proto_reg"] = sum(sim) + prototype_separation_term(sep_protos, self.margin_sep)
            if self.amp_triplet_loss and self.use_amplitude:
                losses["loss_amp_triplet"], _ = hardest_negative_triplet(
                    feats.v_amp, p_amp, rel_labels, self.margin_amp)
            if self.phase_triplet_loss and self.use_phase:
                mask = None
                if self.predicate_present is not None:
                    labels = (torch.cat(list(inputs.obj_labels)).long() if inputs.obj_labels is not None
                              else out.obj_preds)
                    mask = pair_negative_mask(self.predicate_present, labels[pairs[:, 0]], labels[pairs[:, 1]])
                losses["loss_phase_triplet"], _ = hardest_negative_triplet(
                    feats.v_phase, p_phase, rel_labels, self.margin_phase, mask)
        return losses
