"""Poincare ball of curvature ``-c`` and radius ``1/sqrt(c)`` (methods_spec 1.2), thin over geoopt.

Pure functions on the last dimension; ``c > 0`` is the curvature magnitude (float or tensor).
The conformal factor convention is lambda_x = 2 / (1 - c|x|^2), so r(exp0(u)) = 2|u|
(unlike the Lorentz model where the factor is 1). geoopt's stereographic math is called with
``k = -c`` and its clamps apply (artanh argument within 1 - 1e-7, tanh input within +-15,
projection margin 4e-3 in float32 / 1e-5 in float64).
"""
from __future__ import annotations

from typing import Union

import torch
from geoopt.manifolds.stereographic import math as smath
from torch import Tensor

__all__ = [
    "mobius_add",
    "distance",
    "pairwise_distance",
    "exp0",
    "log0",
    "radius",
    "projx",
    "clip_features",
    "conformal_factor",
]

Curvature = Union[float, Tensor]


def _k(c: Curvature, like: Tensor) -> Tensor:
    return -torch.as_tensor(c, dtype=like.dtype, device=like.device)


def conformal_factor(x: Tensor, c: Curvature) -> Tensor:
    """lambda_x = 2 / (1 - c|x|^2), shape (...,)."""
    return smath.lambda_x(x, k=_k(c, x))


def mobius_add(x: Tensor, y: Tensor, c: Curvature) -> Tensor:
    """Mobius addition x (+) y (broadcast over leading dims)."""
    return smath.mobius_add(x, y, k=_k(c, x))


def distance(x: Tensor, y: Tensor, c: Curvature) -> Tensor:
    """d_P(x, y) = (2/sqrt(c)) artanh(sqrt(c) |(-x) (+) y|)."""
    return smath.dist(x, y, k=_k(c, x))


def pairwise_distance(x: Tensor, y: Tensor, c: Curvature) -> Tensor:
    """(B1, d) x (B2, d) -> (B1, B2) distances via the batched Mobius addition."""
    return smath.dist(x.unsqueeze(-2), y.unsqueeze(-3), k=_k(c, x))


def exp0(u: Tensor, c: Curvature) -> Tensor:
    """exp0(u) = tanh(sqrt(c)|u|) u / (sqrt(c)|u|)."""
    return smath.expmap0(u, k=_k(c, u))


def log0(y: Tensor, c: Curvature) -> Tensor:
    """log0(y) = artanh(sqrt(c)|y|) y / (sqrt(c)|y|)."""
    return smath.logmap0(y, k=_k(c, y))


def radius(x: Tensor, c: Curvature) -> Tensor:
    """Distance to the origin (2/sqrt(c)) artanh(sqrt(c)|x|)."""
    return smath.dist0(x, k=_k(c, x))


def projx(x: Tensor, c: Curvature, eps: float = -1.0) -> Tensor:
    """Project into the ball: norm at most (1 - eps)/sqrt(c) (eps < 0: geoopt's dtype default)."""
    return smath.project(x, k=_k(c, x), eps=eps)


def clip_features(u: Tensor, clip_r: float = 2.3) -> Tensor:
    """Euclidean feature clipping before exp0 (HypCD/HypGCD): u <- min(1, r/|u|) u."""
    norm = u.norm(dim=-1, keepdim=True).clamp_min(1e-15)
    return u * torch.clamp(clip_r / norm, max=1.0)
