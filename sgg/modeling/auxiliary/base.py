"""The contract of auxiliary heads (hyperbolic retrieval, hyperbolic hierarchy, cross-modal losses)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict

from torch import Tensor, nn

from ..heads.base import RelationHeadInputs, RelationHeadOutputs

__all__ = ["AuxiliaryOutputs", "AuxiliaryHead"]


@dataclass
class AuxiliaryOutputs:
    """Losses (already multiplied by the head's weight) and per-relation extras (sum R, ...)."""

    losses: Dict[str, Tensor] = field(default_factory=dict)
    extras: Dict[str, Tensor] = field(default_factory=dict)


class AuxiliaryHead(nn.Module):
    """Base class of auxiliary heads: read ``outputs.rel_embed``; never change ``outputs.rel_logits``."""

    def forward(  # pragma: no cover
        self, inputs: RelationHeadInputs, outputs: RelationHeadOutputs
    ) -> AuxiliaryOutputs:
        raise NotImplementedError
