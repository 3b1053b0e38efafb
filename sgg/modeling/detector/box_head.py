"""Box head (2 FC + ReLU) and box predictor (class logits + class-specific box deltas)."""

from __future__ import annotations

from typing import Tuple

from torch import Tensor, nn

__all__ = ["TwoFCBoxHead", "BoxPredictor"]


class TwoFCBoxHead(nn.Module):
    """(N, C, R, R) pooled features -> (N, hidden_dim) via flatten, fc6 + ReLU, fc7 + ReLU.

    The relation stage deep-copies this module into its object- and union-feature extractors.

    Args:
        in_channels: channels C of the pooled maps.
        resolution: pooler output side R.
        hidden_dim: width of both FC layers (``MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM``).
    """

    def __init__(self, in_channels: int, resolution: int, hidden_dim: int) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.out_dim = int(in_channels), int(resolution), int(hidden_dim)
        self.fc6 = nn.Linear(self.in_channels * self.resolution**2, self.out_dim)
        self.fc7 = nn.Linear(self.out_dim, self.out_dim)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, R, R) -> (N, hidden_dim)."""
        return self.relu(self.fc7(self.relu(self.fc6(x.flatten(1)))))


class BoxPredictor(nn.Module):
    """(N, D) box features -> (class_logits (N, C), box_deltas (N, 4 * C)); column 0 is background.

    Initialised as in detectron2's ``FastRCNNOutputLayers`` (normal std 0.01 / 0.001, zero bias),
    which matters when training from scratch.
    """

    def __init__(self, in_dim: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.cls_score = nn.Linear(in_dim, self.num_classes)
        self.bbox_pred = nn.Linear(in_dim, 4 * self.num_classes)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """(N, D) -> ((N, C) logits, (N, 4C) deltas)."""
        return self.cls_score(x), self.bbox_pred(x)
