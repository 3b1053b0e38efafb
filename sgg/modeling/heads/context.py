"""Building blocks shared by the relation heads: box encoding, object orderings, position
embedding, packed LSTMs over per-image sequences, and the PredCls one-hot object logits.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

from ..relation.features import encode_box_info  # re-exported: the 9-d box encoding of the heads

__all__ = [
    "OBJECT_ORDERS",
    "encode_box_info",
    "object_order",
    "PositionEmbedding",
    "run_lstm_per_image",
    "onehot_object_logits",
    "foreground_argmax",
    "word_embedding",
]

OBJECT_ORDERS = ("leftright", "confidence", "size", "random")


def object_order(
    boxes: Tensor, kind: str, scores: Optional[Tensor] = None, generator: Optional[torch.Generator] = None
) -> Tuple[Tensor, Tensor]:
    """Sequence order of one image's objects: ``(perm, inv_perm)``.

    Objects are sorted by a score in descending order (stable): ``leftright`` cx / (max cx + 1)
    (SGB; the descending sort runs right to left), ``confidence`` the detector score, ``size``
    area / (max area + 1), ``random`` a random permutation. ``x[perm]`` is the sequence and
    ``x[perm][inv_perm] == x``.
    """
    n = boxes.shape[0]
    if kind == "leftright":
        cx = 0.5 * (boxes[:, 0] + boxes[:, 2])
        key = cx / (cx.max() + 1.0) if n else cx
    elif kind == "confidence":
        if scores is None:
            raise ValueError("object order 'confidence' needs obj_scores in RelationHeadInputs")
        key = scores
    elif kind == "size":
        area = (boxes[:, 2] - boxes[:, 0] + 1.0) * (boxes[:, 3] - boxes[:, 1] + 1.0)
        key = area / (area.max() + 1.0) if n else area
    elif kind == "random":
        key = torch.rand(n, generator=generator).to(boxes.device)
    else:
        raise ValueError(f"object order must be one of {OBJECT_ORDERS}, got '{kind}'")
    perm = torch.sort(key.detach(), descending=True, stable=True).indices
    inv_perm = torch.empty_like(perm)
    inv_perm[perm] = torch.arange(n, device=perm.device)
    return perm, inv_perm


class PositionEmbedding(nn.Sequential):
    """p_i = ReLU(Linear(32 -> out)(BN_32(Linear(9 -> 32)(b_i)))), BN momentum 0.001 (SGB)."""

    def __init__(self, out_dim: int = 128) -> None:
        super().__init__(
            nn.Linear(9, 32),
            nn.BatchNorm1d(32, momentum=0.001),
            nn.Linear(32, out_dim),
            nn.ReLU(inplace=True),
        )
        self.out_dim = out_dim

    def forward(self, box_info: Tensor) -> Tensor:
        if box_info.shape[0] == 1 and self.training:
            # BatchNorm cannot estimate a batch statistic from one row; use the running one
            bn = self[1]
            x = self[0](box_info)
            x = nn.functional.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False)
            return self[3](self[2](x))
        return super().forward(box_info)


def run_lstm_per_image(lstm: nn.LSTM, sequences: Sequence[Tensor]) -> List[Tensor]:
    """Run a batch-first ``lstm`` over variable-length sequences (L_i, D); returns (L_i, H_out) each."""
    lengths = [len(s) for s in sequences]
    nonempty = [i for i, n in enumerate(lengths) if n > 0]
    out: List[Tensor] = [sequences[i].new_zeros((0, lstm.hidden_size * (2 if lstm.bidirectional else 1)))
                         for i in range(len(sequences))]
    if not nonempty:
        return out
    packed = pack_sequence([sequences[i] for i in nonempty], enforce_sorted=False)
    result, _ = lstm(packed)
    padded, _ = pad_packed_sequence(result, batch_first=True)
    for row, i in enumerate(nonempty):
        out[i] = padded[row, : lengths[i]]
    return out


def onehot_object_logits(labels: Tensor, num_classes: int, value: float = 1000.0) -> Tensor:
    """(N, C) logits with +value at the label and -value elsewhere (PredCls object logits)."""
    logits = labels.new_full((labels.shape[0], num_classes), -value, dtype=torch.float32)
    logits[torch.arange(labels.shape[0], device=labels.device), labels.long()] = value
    return logits


def foreground_argmax(logits: Tensor) -> Tensor:
    """argmax over the non-background columns (1..C-1) of (N, C) logits, as labels 1..C-1."""
    return logits[:, 1:].argmax(dim=1) + 1


def word_embedding(num: int, dim: int, init: Optional[Tensor], freeze: bool, what: str) -> nn.Embedding:
    """``nn.Embedding(num, dim)`` initialised from ``init`` (shape-checked; ``what`` names it in errors)."""
    emb = nn.Embedding(num, dim)
    if init is not None:
        if tuple(init.shape) != (num, dim):
            raise ValueError(f"{what} has shape {tuple(init.shape)}, expected ({num}, {dim})")
        with torch.no_grad():
            emb.weight.copy_(init)
    emb.weight.requires_grad_(not freeze)
    return emb
