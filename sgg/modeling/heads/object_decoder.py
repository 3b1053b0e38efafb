"""Object-label decoding for SGCls/SGDet: the Motifs highway-LSTM decoder (methods_spec 2.1 step 6).

The SGDet test-time greedy per-class label suppression is
:func:`sgg.modeling.relation.label_nms.greedy_label_nms`, shared with the post-processor.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .context import foreground_argmax

__all__ = ["HighwayLSTMDecoder"]


class HighwayLSTMDecoder(nn.Module):
    """Unidirectional highway LSTM that decodes one object label per step.

    Step input = [x_t; E_prev[label_{t-1}]], gates from an input projection of width 6H (input,
    forget, cell, output, highway gate, highway carry) and a state projection of width 5H. A
    recurrent dropout mask (B, H) is sampled once per sequence and applied to the state at every
    step (training only). The previous-label table has C_obj + 1 rows: row 0 = start token,
    label y at row y + 1.

    Args:
        input_dim: width of x_t.
        hidden_dim: H.
        num_classes: C_obj including background.
        embed_dim: width of the previous-label embedding.
        dropout: recurrent dropout probability.
        label_vectors: optional (C_obj + 1, embed_dim) initial previous-label table.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        num_classes: int,
        embed_dim: int,
        dropout: float = 0.2,
        label_vectors: Optional[Tensor] = None,
    ) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.num_classes = num_classes
        self.dropout = dropout
        self.prev_label_embed = nn.Embedding(num_classes + 1, embed_dim)
        if label_vectors is not None:
            if label_vectors.shape != self.prev_label_embed.weight.shape:
                raise ValueError(
                    f"decoder label_vectors has shape {tuple(label_vectors.shape)}, expected "
                    f"({num_classes + 1}, {embed_dim}) (start token + classes)"
                )
            with torch.no_grad():
                self.prev_label_embed.weight.copy_(label_vectors)
        self.input_linearity = nn.Linear(input_dim + embed_dim, 6 * hidden_dim)
        self.state_linearity = nn.Linear(hidden_dim, 5 * hidden_dim)
        self.out = nn.Linear(hidden_dim, num_classes)
        with torch.no_grad():
            for lin in (self.input_linearity, self.state_linearity):
                for block in lin.weight.split(hidden_dim, dim=0):
                    nn.init.orthogonal_(block)
                lin.bias.zero_()
            self.state_linearity.bias[hidden_dim: 2 * hidden_dim].fill_(1.0)  # forget-gate bias

    def recurrent_dropout_mask(self, batch: int, like: Tensor) -> Optional[Tensor]:
        """(batch, H) inverted-dropout mask shared by all steps of a sequence; None in eval."""
        if not self.training or self.dropout <= 0:
            return None
        keep = 1.0 - self.dropout
        return torch.bernoulli(like.new_full((batch, self.hidden_dim), keep)) / keep

    def forward(
        self, sequences: Sequence[Tensor], gt_labels: Optional[Sequence[Tensor]] = None
    ) -> Tuple[List[Tensor], List[Tensor]]:
        """Decode sequences (L_i, input_dim); returns per sequence (L_i, C) logits and (L_i,) labels.

        ``gt_labels`` (training) are fed as previous labels (a background GT feeds the argmax
        over the foreground classes); otherwise the foreground argmax of the step is fed.
        """
        lengths = [len(s) for s in sequences]
        batch, steps = len(sequences), max(lengths, default=0)
        first = sequences[0] if sequences else None
        if steps == 0:
            empty = [s.new_zeros((0, self.num_classes)) for s in sequences]
            return empty, [s.new_zeros((0,), dtype=torch.long) for s in sequences]
        x = nn.utils.rnn.pad_sequence(list(sequences), batch_first=True)  # (B, T, D)
        gt = None
        if gt_labels is not None:
            gt = nn.utils.rnn.pad_sequence([g.long() for g in gt_labels], batch_first=True)
        mask = self.recurrent_dropout_mask(batch, first)
        h = x.new_zeros((batch, self.hidden_dim))
        c = x.new_zeros((batch, self.hidden_dim))
        prev = torch.zeros(batch, dtype=torch.long, device=x.device)  # start token
        H = self.hidden_dim
        logits_t, labels_t = [], []
        for t in range(steps):
            inp = torch.cat([x[:, t], self.prev_label_embed(prev)], dim=1)
            proj_in = self.input_linearity(inp)
            proj_st = self.state_linearity(h)
            i_g = torch.sigmoid(proj_in[:, 0:H] + proj_st[:, 0:H])
            f_g = torch.sigmoid(proj_in[:, H:2 * H] + proj_st[:, H:2 * H])
            g_c = torch.tanh(proj_in[:, 2 * H:3 * H] + proj_st[:, 2 * H:3 * H])
            o_g = torch.sigmoid(proj_in[:, 3 * H:4 * H] + proj_st[:, 3 * H:4 * H])
            r_g = torch.sigmoid(proj_in[:, 4 * H:5 * H] + proj_st[:, 4 * H:5 * H])
            carry = proj_in[:, 5 * H:6 * H]
            c = i_g * g_c + f_g * c
            h = r_g * (o_g * torch.tanh(c)) + (1.0 - r_g) * carry
            if mask is not None:
                h = h * mask
            step_logits = self.out(h)
            pred = foreground_argmax(step_logits.detach())
            if gt is not None:
                pred = torch.where(gt[:, t] > 0, gt[:, t], pred)
            logits_t.append(step_logits)
            labels_t.append(pred)
            prev = pred + 1
        logits = torch.stack(logits_t, 1)
        fed = torch.stack(labels_t, 1)
        out_logits = [logits[b, :n] for b, n in enumerate(lengths)]
        out_labels = [foreground_argmax(logits[b, :n].detach()) if n else fed[b, :0]
                      for b, n in enumerate(lengths)]
        return out_logits, out_labels

