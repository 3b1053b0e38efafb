"""CoRE: a zero-initialised quaternion residual on a Motifs head (methods_spec 3, a reconstruction).

Subject/object reps of the base head and the union feature are mapped to quaternion vectors;
the union context rotates the subject (Q_u (x) Q_s) and the conjugated context the object
(Q_o (x) conj(Q_u)), which makes the interaction directional. The interaction features
[S; O; <S, O>; S (x) O] go through LayerNorm -> Linear -> ReLU -> Linear (zero-initialised) to a
logit residual, so at initialisation the logits equal the base head's exactly.
"""
from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor, nn

from ..geometry.quaternion import hamilton, qcat, qconj, qinner, qsplit
from .base import RelationHead, RelationHeadInputs, RelationHeadOutputs
from .motifs import MotifsHead
from .registry import RELATION_HEAD_REGISTRY

__all__ = ["CoRE", "QuaternionInteraction"]


def _quaternion_linear(in_dim: int, quat_dim: int) -> nn.Linear:
    lin = nn.Linear(in_dim, 4 * quat_dim)
    with torch.no_grad():
        nn.init.xavier_uniform_(lin.weight)
        lin.weight.mul_(0.5)  # Glorot scaled by 1/2 (quaternion-layer practice)
        lin.bias.zero_()
    return lin


class QuaternionInteraction(nn.Module):
    """Real subject/object/union features -> (R, 13 * quat_dim) quaternion interaction features.

    Runs in float32 under autocast (methods_spec 0.6).
    """

    def __init__(self, subj_dim: int, obj_dim: int, union_dim: int, quat_dim: int) -> None:
        super().__init__()
        self.quat_dim = quat_dim
        self.to_quat_subj = _quaternion_linear(subj_dim, quat_dim)
        self.to_quat_obj = _quaternion_linear(obj_dim, quat_dim)
        self.to_quat_union = _quaternion_linear(union_dim, quat_dim)

    @property
    def out_dim(self) -> int:
        return 13 * self.quat_dim

    def forward(self, subj: Tensor, obj: Tensor, union: Tensor) -> Tensor:
        dtype = self.to_quat_subj.weight.dtype
        with torch.autocast(device_type=subj.device.type, enabled=False):
            q_s = qsplit(self.to_quat_subj(subj.to(dtype)))
            q_o = qsplit(self.to_quat_obj(obj.to(dtype)))
            q_u = qsplit(self.to_quat_union(union.to(dtype)))
            s = hamilton(q_u, q_s)
            o = hamilton(q_o, qconj(q_u))
            inter = qinner(s, o)
            prod = hamilton(s, o)
            return torch.cat([qcat(s), qcat(o), inter, qcat(prod)], dim=-1)


@RELATION_HEAD_REGISTRY.register()
class CoRE(RelationHead):
    """Motifs + quaternion residual: logits = Motifs logits + MLP(LayerNorm(quaternion features)).

    Args:
        base: the wrapped :class:`MotifsHead` (its losses are applied to the final logits).
        quat_dim: d_q, width of each quaternion component.
        hidden_dim: hidden width of the quaternion-to-real MLP.
    """

    def __init__(self, *, base: MotifsHead, quat_dim: int = 64, hidden_dim: int = 256) -> None:
        super().__init__()
        self.base = base
        self.num_obj_classes = base.num_obj_classes
        self.num_predicates = base.num_predicates
        self.interaction = QuaternionInteraction(base.hidden_dim, base.hidden_dim, base.union_feat_dim, quat_dim)
        self.norm = nn.LayerNorm(self.interaction.out_dim)
        self.rel_embed_dim = self.interaction.out_dim  # width of outputs.rel_embed (auxiliary heads)
        self.hidden = nn.Linear(self.interaction.out_dim, hidden_dim)
        self.residual = nn.Linear(hidden_dim, base.num_predicates)
        with torch.no_grad():
            self.residual.weight.zero_()
            self.residual.bias.zero_()

    @classmethod
    def from_config(cls, cfg, metadata, in_dims: Dict[str, int]) -> dict:
        """Builds the inner Motifs from the same config; widths from ``MODEL.ROI_RELATION_HEAD.CORE``."""
        base = MotifsHead(**MotifsHead.from_config(cfg, metadata, in_dims))
        core = cfg.MODEL.ROI_RELATION_HEAD.CORE
        return dict(base=base, quat_dim=core.QUAT_DIM, hidden_dim=core.HIDDEN_DIM)

    def residual_logits(self, subj: Tensor, obj: Tensor, union: Tensor) -> tuple:
        """(delta logits (R, C_rel), interaction features x (R, 13 d_q))."""
        x = self.norm(self.interaction(subj, obj, union))
        delta = self.residual(torch.relu(self.hidden(x)))
        return delta, x

    def forward(self, inputs: RelationHeadInputs) -> RelationHeadOutputs:
        """Base prediction + residual; the base head's losses on the summed logits in training."""
        out = self.base.predict(inputs)
        delta, x = self.residual_logits(out.pair_reps["subj"], out.pair_reps["obj"], inputs.union_feats)
        out.rel_logits = out.rel_logits + delta.to(out.rel_logits.dtype)
        out.rel_embed = x
        if inputs.rel_labels is not None:
            out.losses.update(self.base.losses(out.rel_logits, out.obj_logits, inputs))
        return out
