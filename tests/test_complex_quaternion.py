"""Complex-pair ops (methods_spec 1.4) and quaternion algebra (methods_spec 1.5), float64."""
import math

import torch

from sgg.modeling.geometry.complex_ops import (
    abs2,
    cmul,
    cnorm,
    cnormalize,
    crotate,
    phase_cos_sin,
)
from sgg.modeling.geometry.quaternion import hamilton, left_matrix, qconj, qinner, qnorm

D = torch.float64


def _rand_c(*shape):
    return torch.randn(*shape, dtype=D), torch.randn(*shape, dtype=D)


def test_cmul_matches_torch_complex():
    a, b = _rand_c(5, 7), _rand_c(5, 7)
    ref = torch.complex(*a) * torch.complex(*b)
    re, im = cmul(a, b)
    assert torch.allclose(re, ref.real, atol=1e-12) and torch.allclose(im, ref.imag, atol=1e-12)


def test_norm_abs2_and_normalisation():
    a = _rand_c(4, 9)
    ref = torch.linalg.vector_norm(torch.complex(*a), dim=-1, keepdim=True)
    assert torch.allclose(cnorm(a, eps=0.0), ref, atol=1e-12)
    assert torch.allclose(abs2(a), torch.complex(*a).abs() ** 2, atol=1e-12)
    r = cnormalize(a)
    assert torch.allclose(abs2(r).sum(-1), torch.ones(4, dtype=D), atol=1e-10)


def test_phase_cos_sin_without_atan2():
    a = _rand_c(3, 50)
    cos, sin = phase_cos_sin(a)
    ang = torch.angle(torch.complex(*a))
    big = abs2(a).sqrt() > 1e-3
    assert torch.allclose(cos[big], torch.cos(ang)[big], atol=1e-5)
    assert torch.allclose(sin[big], torch.sin(ang)[big], atol=1e-5)
    assert torch.allclose((cos ** 2 + sin ** 2)[big], torch.ones_like(cos[big]), atol=1e-5)
    assert cos.abs().max() <= 1 and sin.abs().max() <= 1


def test_global_phase_rotation_keeps_amplitude_and_shifts_phase():
    z, u = _rand_c(2, 6), _rand_c(2, 6)
    theta = 0.83
    r0 = cnormalize(cmul(z, u))
    r1 = cnormalize(cmul(z, crotate(u, theta)))
    assert torch.allclose(abs2(r0), abs2(r1), atol=1e-12)
    c0, s0 = phase_cos_sin(r0)
    c1, s1 = phase_cos_sin(r1)
    assert torch.allclose(c1, c0 * math.cos(theta) - s0 * math.sin(theta), atol=1e-9)
    assert torch.allclose(s1, s0 * math.cos(theta) + c0 * math.sin(theta), atol=1e-9)


def test_phase_gradients_finite_at_zero():
    a = (torch.zeros(2, 3, dtype=D, requires_grad=True), torch.zeros(2, 3, dtype=D, requires_grad=True))
    cos, sin = phase_cos_sin(cnormalize(a))
    (cos.sum() + sin.sum()).backward()
    assert torch.isfinite(a[0].grad).all() and torch.isfinite(a[1].grad).all()


def _unit(k, n=1):
    comps = [torch.zeros(n, dtype=D) for _ in range(4)]
    comps[k] = torch.ones(n, dtype=D)
    return tuple(comps)


def test_hamilton_basis():
    i, j, k = (_unit(t) for t in range(1, 4))
    assert all(torch.equal(x, y) for x, y in zip(hamilton(i, j), k))
    assert all(torch.equal(x, -y) for x, y in zip(hamilton(j, i), k))
    assert all(torch.equal(x, y) for x, y in zip(hamilton(j, k), i))
    minus_one = hamilton(i, i)
    assert torch.equal(minus_one[0], -torch.ones(1, dtype=D))


def test_hamilton_norm_conj_noncommutative_matrix():
    p = tuple(torch.randn(10, dtype=D) for _ in range(4))
    q = tuple(torch.randn(10, dtype=D) for _ in range(4))
    assert torch.allclose(qnorm(hamilton(p, q)), qnorm(p) * qnorm(q), atol=1e-12)
    pq, qp = hamilton(p, q), hamilton(q, p)
    assert not all(torch.allclose(x, y) for x, y in zip(pq, qp))
    one = _unit(0, 10)
    assert all(torch.allclose(x, y) for x, y in zip(hamilton(p, one), p))
    ppc = hamilton(p, qconj(p))
    assert torch.allclose(ppc[0], qnorm(p) ** 2, atol=1e-12)
    assert all(torch.allclose(c, torch.zeros_like(c), atol=1e-12) for c in ppc[1:])
    assert torch.allclose(qinner(p, p), qnorm(p) ** 2)
    mat = left_matrix(p)  # (10, 4, 4)
    ref = torch.stack(pq, -1)
    assert torch.allclose((mat @ torch.stack(q, -1).unsqueeze(-1)).squeeze(-1), ref, atol=1e-12)
