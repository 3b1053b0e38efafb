"""Complex-valued features as pairs of real tensors (methods_spec 1.4).

A complex vector is a tuple ``(re, im)`` of real tensors of equal shape ``(..., d)``; no
``torch.complex`` dtype is used, so the ops work under AMP and export cleanly. Phase features
are returned as (cos, sin) computed without ``atan2``, whose gradient is unbounded at 0.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

__all__ = ["ComplexPair", "cmul", "cnorm", "abs2", "cnormalize", "phase_cos_sin", "crotate"]

ComplexPair = Tuple[Tensor, Tensor]
EPS = 1e-12


def cmul(a: ComplexPair, b: ComplexPair) -> ComplexPair:
    """Element-wise complex product (a_r b_r - a_i b_i, a_r b_i + a_i b_r)."""
    ar, ai = a
    br, bi = b
    return ar * br - ai * bi, ar * bi + ai * br


def abs2(a: ComplexPair) -> Tensor:
    """Element-wise squared modulus a_r^2 + a_i^2."""
    return a[0] * a[0] + a[1] * a[1]


def cnorm(a: ComplexPair, eps: float = EPS) -> Tensor:
    """Row norm over the last dim, sqrt(||a_r||^2 + ||a_i||^2 + eps), keepdim."""
    return torch.sqrt(abs2(a).sum(dim=-1, keepdim=True) + eps)


def cnormalize(a: ComplexPair, eps: float = EPS) -> ComplexPair:
    """``a / cnorm(a)``: rows of unit complex 2-norm (sum_k |a_k|^2 = 1 up to eps)."""
    n = cnorm(a, eps)
    return a[0] / n, a[1] / n


def phase_cos_sin(a: ComplexPair, eps: float = EPS) -> ComplexPair:
    """(cos phi, sin phi) of each entry, as a_r / |a|_eps and a_i / |a|_eps (no atan2)."""
    m = torch.sqrt(abs2(a) + eps)
    return a[0] / m, a[1] / m


def crotate(a: ComplexPair, theta: float | Tensor) -> ComplexPair:
    """Multiply every entry by the unit phase e^{i theta}."""
    theta = torch.as_tensor(theta, dtype=a[0].dtype, device=a[0].device)
    return cmul(a, (torch.cos(theta).expand_as(a[0]), torch.sin(theta).expand_as(a[0])))
