"""Quaternion vectors as 4-tuples of real tensors (methods_spec 1.5).

A quaternion vector q = (a, b, c, d) holds four real tensors of equal shape ``(..., d_q)``:
element k is the quaternion a_k + b_k i + c_k j + d_k k. Products are element-wise over d_q.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

__all__ = [
    "Quaternion",
    "hamilton",
    "qconj",
    "qnorm",
    "qinner",
    "left_matrix",
    "qsplit",
    "qcat",
]

Quaternion = Tuple[Tensor, Tensor, Tensor, Tensor]


def hamilton(p: Quaternion, q: Quaternion) -> Quaternion:
    """Hamilton product p (x) q, element-wise over the last dim."""
    a1, b1, c1, d1 = p
    a2, b2, c2, d2 = q
    return (
        a1 * a2 - b1 * b2 - c1 * c2 - d1 * d2,
        a1 * b2 + b1 * a2 + c1 * d2 - d1 * c2,
        a1 * c2 - b1 * d2 + c1 * a2 + d1 * b2,
        a1 * d2 + b1 * c2 - c1 * b2 + d1 * a2,
    )


def qconj(q: Quaternion) -> Quaternion:
    """Conjugate (a, -b, -c, -d)."""
    return q[0], -q[1], -q[2], -q[3]


def qnorm(q: Quaternion) -> Tensor:
    """Element-wise modulus sqrt(a^2 + b^2 + c^2 + d^2)."""
    return torch.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2 + q[3] ** 2)


def qinner(p: Quaternion, q: Quaternion) -> Tensor:
    """Component-wise inner product a1 a2 + b1 b2 + c1 c2 + d1 d2 (shape of one component)."""
    return p[0] * q[0] + p[1] * q[1] + p[2] * q[2] + p[3] * q[3]


def left_matrix(p: Quaternion) -> Tensor:
    """(..., 4, 4) real matrix L(p) with L(p) @ [a, b, c, d]^T = p (x) q for every q."""
    a, b, c, d = p
    rows = [
        torch.stack([a, -b, -c, -d], dim=-1),
        torch.stack([b, a, -d, c], dim=-1),
        torch.stack([c, d, a, -b], dim=-1),
        torch.stack([d, -c, b, a], dim=-1),
    ]
    return torch.stack(rows, dim=-2)


def qsplit(x: Tensor) -> Quaternion:
    """Split (..., 4*d_q) into four (..., d_q) components."""
    if x.shape[-1] % 4:
        raise ValueError(f"qsplit: last dim must be divisible by 4, got {x.shape[-1]}")
    a, b, c, d = x.chunk(4, dim=-1)
    return a, b, c, d


def qcat(q: Quaternion) -> Tensor:
    """Concatenate the four components into (..., 4*d_q)."""
    return torch.cat(list(q), dim=-1)
