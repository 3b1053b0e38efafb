"""Klein model and the (weighted) Einstein midpoint (methods_spec 1.3).

Points enter and leave in Poincare-ball coordinates of curvature ``-c``; the midpoint is taken
in the Klein model with Lorentz factors gamma(k) = 1/sqrt(1 - c|k|^2) (clamped >= 1e-7 under
the root). Equivalent to geoopt's ``weighted_midpoint`` and hyptorch's ``poincare_mean``.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor

__all__ = ["poincare_to_klein", "klein_to_poincare", "lorentz_factor", "einstein_midpoint"]

Curvature = Union[float, Tensor]


def _c(c: Curvature, like: Tensor) -> Tensor:
    return torch.as_tensor(c, dtype=like.dtype, device=like.device)


def poincare_to_klein(p: Tensor, c: Curvature) -> Tensor:
    """k = 2p / (1 + c|p|^2)."""
    return 2.0 * p / (1.0 + _c(c, p) * (p * p).sum(-1, keepdim=True))


def klein_to_poincare(k: Tensor, c: Curvature) -> Tensor:
    """p = k / (1 + sqrt(1 - c|k|^2))."""
    inside = (1.0 - _c(c, k) * (k * k).sum(-1, keepdim=True)).clamp_min(1e-7)
    return k / (1.0 + torch.sqrt(inside))


def lorentz_factor(k: Tensor, c: Curvature, keepdim: bool = False) -> Tensor:
    """gamma(k) = 1 / sqrt(1 - c|k|^2) of Klein points."""
    inside = (1.0 - _c(c, k) * (k * k).sum(-1, keepdim=keepdim)).clamp_min(1e-7)
    return torch.rsqrt(inside)


def einstein_midpoint(p: Tensor, c: Curvature, weights: Optional[Tensor] = None) -> Tensor:
    """Weighted Einstein midpoint of Poincare points ``p`` (n, d).

    ``weights``: None (uniform) -> (d,); (n,) -> (d,); (m, n) -> (m, d), one midpoint per row
    (e.g. a one-hot class-assignment matrix gives per-class centres). Weights are >= 0; a row
    of zeros gives the origin.
    """
    if p.dim() != 2:
        raise ValueError(f"einstein_midpoint expects points of shape (n, d), got {tuple(p.shape)}")
    k = poincare_to_klein(p, c)
    gamma = lorentz_factor(k, c)  # (n,)
    single = weights is None or weights.dim() == 1
    w = torch.ones(1, len(p), dtype=p.dtype, device=p.device) if weights is None else weights.to(p.dtype)
    if w.dim() == 1:
        w = w[None]
    wg = w * gamma[None]  # (m, n)
    num = wg @ k
    den = wg.sum(-1, keepdim=True)
    mid_k = num / den.clamp_min(1e-15)
    mid = klein_to_poincare(mid_k, c)
    return mid[0] if single else mid
