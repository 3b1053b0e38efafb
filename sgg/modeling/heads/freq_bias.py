"""Frequency bias: a trainable (C_obj^2, C_rel) table of log predicate frequencies (methods_spec 2.2)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

__all__ = ["FrequencyBias"]


class FrequencyBias(nn.Module):
    """``nn.Embedding(C_obj^2, C_rel)`` looked up at s * C_obj + o.

    Args:
        num_obj_classes: C_obj including background.
        num_predicates: C_rel including background.
        table: (C_obj^2, C_rel) initial values, e.g. ``DatasetStatistics.freq_bias_table()``
            (log(p + 1e-3)); None starts from zeros (no prior; still trainable).
    """

    def __init__(self, num_obj_classes: int, num_predicates: int, table: Optional[Tensor] = None) -> None:
        super().__init__()
        self.num_obj_classes = num_obj_classes
        self.bias = nn.Embedding(num_obj_classes * num_obj_classes, num_predicates)
        with torch.no_grad():
            if table is None:
                self.bias.weight.zero_()
            else:
                table = torch.as_tensor(table, dtype=torch.float32)
                if table.shape != self.bias.weight.shape:
                    raise ValueError(
                        f"freq_bias_table has shape {tuple(table.shape)}, expected "
                        f"({num_obj_classes}*{num_obj_classes}, {num_predicates})"
                    )
                self.bias.weight.copy_(table)

    def forward(self, subj_labels: Tensor, obj_labels: Tensor) -> Tensor:
        """(R, C_rel) bias for hard labels (R,) each."""
        return self.bias(subj_labels.long() * self.num_obj_classes + obj_labels.long())

    def soft(self, subj_probs: Tensor, obj_probs: Tensor) -> Tensor:
        """(R, C_rel) bias for label distributions (R, C_obj): (p_s outer p_o) flattened @ table."""
        joint = subj_probs.unsqueeze(2) * obj_probs.unsqueeze(1)
        return joint.flatten(1) @ self.bias.weight
