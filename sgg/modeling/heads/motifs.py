"""Neural Motifs relation head as in SGB's ``MotifPredictor`` (methods_spec 2)."""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..relation.label_nms import greedy_label_nms
from .base import RelationHead, RelationHeadInputs, RelationHeadOutputs
from .context import (
    OBJECT_ORDERS,
    PositionEmbedding,
    encode_box_info,
    foreground_argmax,
    object_order,
    onehot_object_logits,
    run_lstm_per_image,
    word_embedding,
)
from .freq_bias import FrequencyBias
from .losses import RelationLoss
from .object_decoder import HighwayLSTMDecoder
from .registry import RELATION_HEAD_REGISTRY

__all__ = ["MotifsHead"]

MODES = ("predcls", "sgcls", "sgdet")



@RELATION_HEAD_REGISTRY.register()
class MotifPredictor(RelationHead):
    """Motifs: object-context BiLSTM, object decoder, edge-context BiLSTM, pair fusion, frequency bias.

    Args:
        num_obj_classes: C_obj including background.
        num_predicates: C_rel including background.
        obj_feat_dim: width of ``obj_feats``.
        union_feat_dim: width of ``union_feats``.
        hidden_dim: context LSTM hidden size (per direction) and width of head/tail reps.
        pooling_dim: width of the fused pair representation (``rel_embed``).
        embed_dim: width of the label embedding tables.
        pos_embed_dim: width of the box-position embedding.
        obj_layers, rel_layers: layers of the object / edge context BiLSTMs.
        dropout: dropout between LSTM layers and recurrent dropout of the decoder.
        obj_order: leftright | confidence | size | random.
        use_bias: add the frequency bias.
        use_vision: multiply the pair representation with the union features.
        soft_freq_bias: outside PredCls, look the bias up with the (detached) predicted label
            distributions, (p_s outer p_o) @ table, instead of the hard labels.
        freq_bias_table: (C_obj^2, C_rel) initial frequency bias (see :class:`FrequencyBias`).
        obj_word_vectors: (C_obj, embed_dim) initial label tables E1, E2 (random N(0,1) if None).
        decoder_word_vectors: (C_obj + 1, embed_dim) decoder table ("start" + classes).
        freeze_word_vectors: keep the label tables fixed.
        rel_loss, pred_counts, reweight_power, class_balanced_beta: see :class:`RelationLoss`.
        label_nms_threshold: IoU of the SGDet test-time label suppression.
    """

    def __init__(
        self,
        *,
        num_obj_classes: int,
        num_predicates: int,
        obj_feat_dim: int,
        union_feat_dim: int,
        hidden_dim: int = 512,
        pooling_dim: int = 1024,
        embed_dim: int = 200,
        pos_embed_dim: int = 128,
        obj_layers: int = 1,
        rel_layers: int = 1,
        dropout: float = 0.2,
        obj_order: str = "leftright",
        use_bias: bool = True,
        use_vision: bool = True,
        soft_freq_bias: bool = False,
        freq_bias_table: Optional[Tensor] = None,
        obj_word_vectors: Optional[Tensor] = None,
        decoder_word_vectors: Optional[Tensor] = None,
        freeze_word_vectors: bool = False,
        rel_loss: str = "ce",
        pred_counts: Optional[Tensor] = None,
        reweight_power: float = 1.0,
        class_balanced_beta: float = 0.9999,
        label_nms_threshold: float = 0.5,
    ) -> None:
        super().__init__()
        if obj_order not in OBJECT_ORDERS:
            raise ValueError(f"obj_order must be one of {OBJECT_ORDERS}, got '{obj_order}'")
        self.num_obj_classes = num_obj_classes
        self.num_predicates = num_predicates
        self.hidden_dim = hidden_dim
        self.union_feat_dim = union_feat_dim
        self.pooling_dim = pooling_dim
        self.rel_embed_dim = pooling_dim  # width of outputs.rel_embed (auxiliary heads)
        self.obj_order = obj_order
        self.use_vision = use_vision
        self.soft_freq_bias = soft_freq_bias
        self.label_nms_threshold = label_nms_threshold

        self.obj_embed1 = word_embedding(num_obj_classes, embed_dim, obj_word_vectors, freeze_word_vectors,
                                     "obj_word_vectors")
        self.obj_embed2 = word_embedding(num_obj_classes, embed_dim, obj_word_vectors, freeze_word_vectors,
                                     "obj_word_vectors")
        self.pos_embed = PositionEmbedding(pos_embed_dim)
        obj_in = obj_feat_dim + embed_dim + pos_embed_dim
        lstm_drop = dropout if obj_layers > 1 else 0.0
        self.obj_ctx_rnn = nn.LSTM(obj_in, hidden_dim, num_layers=obj_layers, batch_first=True,
                                   bidirectional=True, dropout=lstm_drop)
        self.lin_obj_h = nn.Linear(2 * hidden_dim, hidden_dim)
        self.decoder = HighwayLSTMDecoder(obj_in + hidden_dim, hidden_dim, num_obj_classes, embed_dim,
                                          dropout, decoder_word_vectors)
        self.edge_ctx_rnn = nn.LSTM(embed_dim + obj_feat_dim + hidden_dim, hidden_dim, num_layers=rel_layers,
                                    batch_first=True, bidirectional=True,
                                    dropout=dropout if rel_layers > 1 else 0.0)
        self.lin_edge_h = nn.Linear(2 * hidden_dim, hidden_dim)

        self.post_emb = nn.Linear(hidden_dim, 2 * hidden_dim)
        self.post_cat = nn.Linear(2 * hidden_dim, pooling_dim)
        self.rel_compress = nn.Linear(pooling_dim, num_predicates)
        with torch.no_grad():
            self.post_emb.weight.normal_(0.0, 10.0 * (1.0 / hidden_dim) ** 0.5)
            self.post_emb.bias.zero_()
            for lin in (self.post_cat, self.rel_compress):
                nn.init.xavier_normal_(lin.weight)
                lin.bias.zero_()
        self.up_dim = None
        if use_vision and union_feat_dim != pooling_dim:
            self.up_dim = nn.Linear(union_feat_dim, pooling_dim)
            with torch.no_grad():
                nn.init.xavier_normal_(self.up_dim.weight)
                self.up_dim.bias.zero_()
        self.freq_bias = FrequencyBias(num_obj_classes, num_predicates, freq_bias_table) if use_bias else None
        self.rel_loss = RelationLoss(num_predicates, rel_loss, pred_counts, reweight_power, class_balanced_beta)

    # ------------------------------------------------------------------ config
    @classmethod
    def from_config(cls, cfg, metadata, in_dims: Dict[str, int]) -> dict:
        """Constructor kwargs from ``cfg.MODEL.ROI_RELATION_HEAD``; class counts from ``metadata``.

        Word vectors are loaded here (data side) with :func:`sgg.data.word_vectors.load_word_vectors`;
        the frequency table and predicate counts come from ``metadata.statistics``.
        """
        from sgg.data.word_vectors import load_word_vectors

        rh = cfg.MODEL.ROI_RELATION_HEAD
        obj_classes = list(metadata.object_classes)
        stats = getattr(metadata, "statistics", None)
        obj_vecs, _ = load_word_vectors(obj_classes, rh.EMBED_DIM, rh.WORD_VECTORS, seed=0)
        dec_vecs, _ = load_word_vectors(["start"] + obj_classes, rh.EMBED_DIM, rh.WORD_VECTORS, seed=1)
        table = torch.as_tensor(stats.freq_bias_table()) if stats is not None else None
        counts = torch.as_tensor(stats.pred_counts) if stats is not None else None
        return dict(
            num_obj_classes=len(obj_classes),
            num_predicates=len(metadata.predicate_classes),
            obj_feat_dim=in_dims["obj_feat_dim"],
            union_feat_dim=in_dims["union_feat_dim"],
            hidden_dim=rh.CONTEXT_HIDDEN_DIM,
            pooling_dim=rh.CONTEXT_POOLING_DIM,
            embed_dim=rh.EMBED_DIM,
            pos_embed_dim=rh.MOTIFS.POS_EMBED_DIM,
            obj_layers=rh.CONTEXT_OBJ_LAYER,
            rel_layers=rh.CONTEXT_REL_LAYER,
            dropout=rh.CONTEXT_DROPOUT_RATE,
            obj_order=rh.MOTIFS.OBJ_ORDER,
            use_bias=rh.PREDICT_USE_BIAS,
            use_vision=rh.PREDICT_USE_VISION,
            soft_freq_bias=rh.MOTIFS.SOFT_FREQ_BIAS,
            freq_bias_table=table,
            obj_word_vectors=obj_vecs,
            decoder_word_vectors=dec_vecs,
            freeze_word_vectors=rh.FREEZE_WORD_VECTORS,
            rel_loss=rh.LOSS,
            pred_counts=counts,
            reweight_power=rh.REWEIGHT_POWER,
            class_balanced_beta=rh.CLASS_BALANCED_BETA,
            label_nms_threshold=cfg.TEST.RELATION.LATER_NMS_PREDICTION_THRES,
        )

    # ----------------------------------------------------------------- forward
    def forward(self, inputs: RelationHeadInputs) -> RelationHeadOutputs:
        """Predict; add ``loss_rel`` (and ``loss_obj`` outside PredCls) when ``rel_labels`` is given."""
        out = self.predict(inputs)
        if inputs.rel_labels is not None:
            out.losses.update(self.losses(out.rel_logits, out.obj_logits, inputs))
        return out

    def losses(self, rel_logits: Tensor, obj_logits: Tensor, inputs: RelationHeadInputs) -> Dict[str, Tensor]:
        """Relation loss on ``rel_logits``; object CE on ``obj_logits`` in SGCls/SGDet (methods_spec 2.4)."""
        losses = {"loss_rel": self.rel_loss(rel_logits, torch.cat(list(inputs.rel_labels)))}
        if inputs.mode != "predcls" and inputs.obj_labels is not None:
            losses["loss_obj"] = F.cross_entropy(obj_logits, torch.cat(list(inputs.obj_labels)).long())
        return losses

    def predict(self, inputs: RelationHeadInputs) -> RelationHeadOutputs:
        """Everything but the losses; ``pair_reps`` holds the head/tail reps used by CoRE."""
        if inputs.mode not in MODES:
            raise ValueError(f"RelationHeadInputs.mode must be one of {MODES}, got '{inputs.mode}'")
        num_objs = inputs.num_objs
        feats = inputs.obj_feats
        device = feats.device
        if inputs.mode == "predcls":
            if inputs.obj_labels is None:
                raise ValueError("predcls needs RelationHeadInputs.obj_labels")
            labels = torch.cat(list(inputs.obj_labels)).long()
            obj_embed = self.obj_embed1(labels)
        else:
            if inputs.obj_logits is None:
                raise ValueError(f"{inputs.mode} needs RelationHeadInputs.obj_logits (detector logits)")
            det_logits = torch.cat(list(inputs.obj_logits)).detach()
            obj_embed = F.softmax(det_logits, dim=1) @ self.obj_embed1.weight
        box_info = torch.cat([encode_box_info(b, s) for b, s in zip(inputs.boxes, inputs.image_sizes)])
        pos = self.pos_embed(box_info.to(feats.dtype))
        obj_rep = torch.cat([feats, obj_embed, pos], dim=1)

        # sequence order per image, as global indices into the packed objects
        perms: List[Tensor] = []
        start = 0
        for i, (boxes, n) in enumerate(zip(inputs.boxes, num_objs)):
            scores = inputs.obj_scores[i] if inputs.obj_scores is not None else None
            if self.obj_order == "confidence" and scores is None and inputs.obj_logits is not None:
                scores = F.softmax(inputs.obj_logits[i].detach(), 1)[:, 1:].max(1).values
            perm, _ = object_order(boxes, self.obj_order, scores)
            perms.append(perm + start)
            start += n
        order = torch.cat(perms) if perms else torch.zeros(0, dtype=torch.long, device=device)
        inv_order = torch.empty_like(order)
        inv_order[order] = torch.arange(order.numel(), device=device)

        def per_image(x_sorted: Tensor) -> List[Tensor]:
            return list(x_sorted.split(num_objs))

        obj_ctx = torch.cat(run_lstm_per_image(self.obj_ctx_rnn, per_image(obj_rep[order])))
        obj_ctx = self.lin_obj_h(obj_ctx)[inv_order]  # (sum N, H), original order

        # object decoding
        if inputs.mode == "predcls":
            obj_preds = labels
            obj_logits = onehot_object_logits(labels, self.num_obj_classes).to(feats.dtype)
        else:
            dec_in = torch.cat([obj_rep, obj_ctx], dim=1)[order]
            gt = None
            if self.training and inputs.obj_labels is not None:
                gt = per_image(torch.cat(list(inputs.obj_labels)).long()[order])
            dec_logits, dec_labels = self.decoder(per_image(dec_in), gt)
            obj_logits = torch.cat(dec_logits)[inv_order]
            obj_preds = torch.cat(dec_labels)[inv_order]
            if inputs.mode == "sgdet" and not self.training:
                obj_preds = self._suppress_labels(obj_logits, inputs)

        # edge context
        edge_in = torch.cat([self.obj_embed2(obj_preds), feats, obj_ctx], dim=1)[order]
        edge_ctx = torch.cat(run_lstm_per_image(self.edge_ctx_rnn, per_image(edge_in)))
        edge_ctx = self.lin_edge_h(edge_ctx)[inv_order]

        # pair representation
        head_tail = self.post_emb(edge_ctx)
        head, tail = head_tail[:, : self.hidden_dim], head_tail[:, self.hidden_dim:]
        pairs = inputs.global_pair_idx()
        subj_rep, obj_rep_pair = head[pairs[:, 0]], tail[pairs[:, 1]]
        rel_rep = self.post_cat(torch.cat([subj_rep, obj_rep_pair], dim=1))
        if self.use_vision:
            union = inputs.union_feats
            rel_rep = rel_rep * (self.up_dim(union) if self.up_dim is not None else union)
        rel_logits = self.rel_compress(rel_rep)
        if self.freq_bias is not None and self.soft_freq_bias and inputs.mode != "predcls":
            probs = F.softmax(obj_logits.detach(), dim=1)
            rel_logits = rel_logits + self.freq_bias.soft(probs[pairs[:, 0]], probs[pairs[:, 1]])
        elif self.freq_bias is not None:
            rel_logits = rel_logits + self.freq_bias(obj_preds[pairs[:, 0]], obj_preds[pairs[:, 1]])
        return RelationHeadOutputs(
            rel_logits=rel_logits,
            obj_logits=obj_logits,
            obj_preds=obj_preds,
            rel_embed=rel_rep,
            pair_reps={"subj": subj_rep, "obj": obj_rep_pair},
        )

    def _suppress_labels(self, obj_logits: Tensor, inputs: RelationHeadInputs) -> Tensor:
        out = []
        for i, chunk in enumerate(obj_logits.detach().split(inputs.num_objs)):
            boxes = inputs.boxes_per_cls[i] if inputs.boxes_per_cls is not None else inputs.boxes[i]
            out.append(greedy_label_nms(boxes, chunk, self.label_nms_threshold)[0])
        return torch.cat(out) if out else foreground_argmax(obj_logits)


MotifsHead = MotifPredictor
