"""Lorentz (hyperboloid) model of hyperbolic space with curvature ``-c`` (methods_spec 1.1).

MERU convention: a point is stored by its *space* components ``x`` (last dimension d); the
time component ``x_t = sqrt(1/c + |x|^2)`` is derived. All functions are pure, work on the
last dimension and take the curvature magnitude ``c > 0`` (float or 0-dim tensor, possibly
learnable). They compute in the dtype of their inputs: callers that run under AMP wrap them
in ``torch.autocast(..., enabled=False)`` and pass float32 (see :func:`float32_geometry`).

Numerics (methods_spec 0.6): no ``acosh`` with a ``1 + 1e-8`` clamp (a no-op in float32). The
distance uses the equivalent form d = (2/sqrt(c)) asinh(sqrt(c q)/2) with
q = |x_s - y_s|^2 - (x_t - y_t)^2 (the squared Lorentzian norm of x - y), floored at 1e-15 like
geoopt's arcosh: d(x, x) = 0 up to 1e-7 and gradients stay finite for identical points, and
close far-out points do not suffer the float32 cancellation of -c<x, y>_L. ``acosh(sqrt(1 + t^2))``
is written as ``asinh(t)``.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator, Optional, Union

import torch
from torch import Tensor

__all__ = [
    "float32_geometry",
    "time_component",
    "to_hyperboloid",
    "inner",
    "pairwise_inner",
    "distance",
    "pairwise_distance",
    "exp0",
    "log0",
    "radius",
    "half_aperture",
    "exterior_angle",
    "oxy_angle",
    "to_poincare",
    "from_poincare",
    "centroid",
]

Curvature = Union[float, Tensor]

#: divisor floor of norms (methods_spec 0.6: toolkit default 1e-8)
NORM_EPS = 1e-8
#: MERU caps the sinh argument of exp0 at asinh(2**15) so that float32 does not overflow
_SINH_MAX = math.asinh(2.0**15)


def _angle_eps(dtype: torch.dtype) -> float:
    """Clamp margin of asin/acos arguments: 1 - 1e-8 == 1 in float32, so use 1e-6 there."""
    return 1e-10 if dtype == torch.float64 else 1e-6


@contextlib.contextmanager
def float32_geometry(device_type: str = "cuda") -> Iterator[None]:
    """Context that disables autocast so hyperbolic blocks run in float32 (pair with ``.float()``)."""
    with torch.autocast(device_type=device_type, enabled=False):
        yield


def _c(c: Curvature, like: Tensor) -> Tensor:
    return torch.as_tensor(c, dtype=like.dtype, device=like.device)


def time_component(x: Tensor, c: Curvature) -> Tensor:
    """x_t = sqrt(1/c + |x|^2), shape (..., 1)."""
    c = _c(c, x)
    return torch.sqrt(1.0 / c + (x * x).sum(-1, keepdim=True))


def to_hyperboloid(x: Tensor, c: Curvature) -> Tensor:
    """Full hyperboloid vector (x_t, x_s), shape (..., d + 1), time coordinate first."""
    return torch.cat([time_component(x, c), x], dim=-1)


def inner(x: Tensor, y: Tensor, c: Curvature) -> Tensor:
    """Lorentzian inner product <x, y>_L = x_s.y_s - x_t y_t (broadcast over leading dims)."""
    return (x * y).sum(-1) - (time_component(x, c) * time_component(y, c)).squeeze(-1)


def pairwise_inner(x: Tensor, y: Tensor, c: Curvature) -> Tensor:
    """(B1, d) x (B2, d) -> (B1, B2) matrix of Lorentzian inner products."""
    return x @ y.transpose(-1, -2) - time_component(x, c) @ time_component(y, c).transpose(-1, -2)


def _dist_from_sq(space_sq: Tensor, dt: Tensor, c: Tensor) -> Tensor:
    # -c<x,y>_L = 1 + (c/2) q with q = |x_s - y_s|^2 - (x_t - y_t)^2 >= 0, and
    # acosh(1 + u) = 2 asinh(sqrt(u/2)): no cancellation for close points, exact 0 for x = y,
    # finite gradients (sqrt argument floored at 1e-15, as geoopt's arcosh).
    q = (space_sq - dt * dt).clamp_min(1e-15)
    return 2.0 * torch.asinh(0.5 * torch.sqrt(c) * torch.sqrt(q)) / torch.sqrt(c)


def _time_diff(x: Tensor, y: Tensor, x_t: Tensor, y_t: Tensor) -> Tensor:
    # x_t - y_t = (|x|^2 - |y|^2) / (x_t + y_t), stable when x_t ~ y_t
    return ((x * x).sum(-1) - (y * y).sum(-1)) / (x_t + y_t)


def distance(x: Tensor, y: Tensor, c: Curvature) -> Tensor:
    """Geodesic distance d_L(x, y) = acosh(-c <x, y>_L) / sqrt(c) (computed in a stable form)."""
    c = _c(c, x)
    x, y = torch.broadcast_tensors(x, y)
    x_t = time_component(x, c).squeeze(-1)
    y_t = time_component(y, c).squeeze(-1)
    diff = x - y
    return _dist_from_sq((diff * diff).sum(-1), _time_diff(x, y, x_t, y_t), c)


def pairwise_distance(x: Tensor, y: Tensor, c: Curvature) -> Tensor:
    """(B1, d) x (B2, d) -> (B1, B2) geodesic distances."""
    c = _c(c, x)
    space = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")
    x_sq, y_sq = (x * x).sum(-1), (y * y).sum(-1)
    x_t, y_t = torch.sqrt(1.0 / c + x_sq), torch.sqrt(1.0 / c + y_sq)
    dt = (x_sq[..., :, None] - y_sq[..., None, :]) / (x_t[..., :, None] + y_t[..., None, :])
    return _dist_from_sq(space * space, dt, c)


def exp0(v: Tensor, c: Curvature) -> Tensor:
    """Exponential map at the origin: sinh(sqrt(c)|v|) v / (sqrt(c)|v|) (space components)."""
    c = _c(c, v)
    rc_norm = torch.sqrt(c) * v.norm(dim=-1, keepdim=True)
    sinh_in = rc_norm.clamp(min=NORM_EPS, max=_SINH_MAX)
    return torch.sinh(sinh_in) * v / rc_norm.clamp_min(NORM_EPS)


def log0(x: Tensor, c: Curvature) -> Tensor:
    """Logarithmic map at the origin: asinh(sqrt(c)|x|) x / (sqrt(c)|x|)."""
    c = _c(c, x)
    rc_norm = torch.sqrt(c) * x.norm(dim=-1, keepdim=True)
    return torch.asinh(rc_norm) * x / rc_norm.clamp_min(NORM_EPS)


def radius(x: Tensor, c: Curvature) -> Tensor:
    """Distance to the origin, d_L(O, x) = asinh(sqrt(c)|x|) / sqrt(c) = |log0(x)|."""
    c = _c(c, x)
    return torch.asinh(torch.sqrt(c) * x.norm(dim=-1)) / torch.sqrt(c)


def half_aperture(x: Tensor, c: Curvature, min_radius: float = 0.1) -> Tensor:
    """Half-aperture of the entailment cone rooted at x (MERU): asin(2K / (sqrt(c)|x|)), in (0, pi/2)."""
    c = _c(c, x)
    eps = _angle_eps(x.dtype)
    arg = 2.0 * min_radius / (torch.sqrt(c) * x.norm(dim=-1) + NORM_EPS)
    return torch.asin(arg.clamp(-1.0 + eps, 1.0 - eps))


def exterior_angle(x: Tensor, y: Tensor, c: Curvature) -> Tensor:
    """Exterior angle at x of the triangle (O, x, y) (MERU ``oxy_angle``), in (0, pi).

    0 when y lies on the ray from O through x beyond x; pi when y is on the opposite ray.
    """
    c = _c(c, x)
    eps = _angle_eps(x.dtype)
    x_t = time_component(x, c).squeeze(-1)
    y_t = time_component(y, c).squeeze(-1)
    c_xyl = c * ((x * y).sum(-1) - x_t * y_t)
    numer = y_t + c_xyl * x_t
    denom = torch.sqrt((c_xyl * c_xyl - 1.0).clamp_min(eps))
    arg = numer / (x.norm(dim=-1) * denom + NORM_EPS)
    return torch.acos(arg.clamp(-1.0 + eps, 1.0 - eps))


oxy_angle = exterior_angle


def to_poincare(x: Tensor, c: Curvature) -> Tensor:
    """Isometry onto the Poincare ball of radius 1/sqrt(c): p = x_s / (1 + sqrt(c) x_t)."""
    c = _c(c, x)
    return x / (1.0 + torch.sqrt(c) * time_component(x, c))


def from_poincare(p: Tensor, c: Curvature) -> Tensor:
    """Inverse of :func:`to_poincare`: x_s = 2p / (1 - c|p|^2)."""
    c = _c(c, p)
    return 2.0 * p / (1.0 - c * (p * p).sum(-1, keepdim=True)).clamp_min(NORM_EPS)


def centroid(
    x: Tensor,
    c: Curvature,
    weights: Optional[Tensor] = None,
    index: Optional[Tensor] = None,
    num_groups: Optional[int] = None,
) -> Tensor:
    """Lorentzian centroid (methods_spec 5.2.9) of points ``x`` (n, d) -> (d,) or (num_groups, d).

    Each point is lifted to X_i = (x_t, x_s), s = sum_i w_i X_i and mu = s / (sqrt(c) sqrt(|<s,s>_L|)),
    which lies on the hyperboloid. With ``index`` (n,) int64 the centroid is taken per group
    (e.g. per image); empty groups give the origin. Weights must be >= 0 (default 1).
    """
    if x.dim() != 2:
        raise ValueError(f"lorentz.centroid expects points of shape (n, d), got {tuple(x.shape)}")
    c_t = _c(c, x)
    w = torch.ones(len(x), dtype=x.dtype, device=x.device) if weights is None else weights.to(x.dtype)
    if (w < 0).any():
        raise ValueError("lorentz.centroid: weights must be non-negative")
    lifted = to_hyperboloid(x, c_t) * w[:, None]
    if index is None:
        s = lifted.sum(0, keepdim=True)
    else:
        groups = int(num_groups if num_groups is not None else (int(index.max()) + 1 if len(index) else 0))
        s = lifted.new_zeros((groups, lifted.shape[-1])).index_add_(0, index, lifted)
    s_t, s_s = s[:, :1], s[:, 1:]
    norm_l = torch.sqrt(((s_t * s_t) - (s_s * s_s).sum(-1, keepdim=True)).abs().clamp_min(1e-15))
    mu = s_s / (torch.sqrt(c_t) * norm_l)
    empty = (s_t.squeeze(-1) <= 0)
    mu = torch.where(empty[:, None], torch.zeros_like(mu), mu)
    return mu[0] if index is None else mu
