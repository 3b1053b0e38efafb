"""Invariants of the Lorentz, Poincare and Klein geometry (methods_spec 1.1-1.3), float64 unless stated."""
import math

import pytest
import torch

from sgg.modeling.geometry import klein, lorentz, poincare

CURVATURES = [0.1, 0.7, 1.0, 5.0]


def _tangent(n, d=8, max_norm=3.0, dtype=torch.float64):
    v = torch.randn(n, d, dtype=dtype)
    return v / v.norm(dim=-1, keepdim=True) * torch.rand(n, 1, dtype=dtype) * max_norm


def _ball(n, c, d=6, dtype=torch.float64):
    return poincare.exp0(_tangent(n, d, 2.0, dtype), c)


# ----------------------------------------------------------------------------- Lorentz
@pytest.mark.parametrize("c", CURVATURES)
def test_lorentz_constraint_and_exp_log_inverse(c):
    v = _tangent(200)
    x = lorentz.exp0(v, c)
    full = lorentz.to_hyperboloid(x, c)
    constraint = -full[:, 0] ** 2 + (full[:, 1:] ** 2).sum(-1)
    assert torch.allclose(constraint, torch.full_like(constraint, -1.0 / c), atol=1e-10, rtol=0)
    assert torch.allclose(lorentz.inner(x, x, c), torch.full((200,), -1.0 / c, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(lorentz.log0(x, c), v, atol=1e-10)
    assert torch.allclose(lorentz.exp0(lorentz.log0(x, c), c), x, atol=1e-10)


@pytest.mark.parametrize("c", CURVATURES)
def test_lorentz_distance_to_origin_is_tangent_norm(c):
    v = _tangent(100)
    x = lorentz.exp0(v, c)
    origin = torch.zeros_like(x)
    assert torch.allclose(lorentz.distance(origin, x, c), v.norm(dim=-1), atol=1e-9)
    assert torch.allclose(lorentz.radius(x, c), v.norm(dim=-1), atol=1e-10)
    assert torch.allclose(lorentz.log0(x, c).norm(dim=-1), lorentz.radius(x, c), atol=1e-10)


@pytest.mark.parametrize("c", [0.1, 1.0, 5.0])
def test_lorentz_distance_symmetric_triangle_pairwise(c):
    x, y, z = (lorentz.exp0(_tangent(10_000), c) for _ in range(3))
    dxy, dyx = lorentz.distance(x, y, c), lorentz.distance(y, x, c)
    assert torch.allclose(dxy, dyx, atol=1e-10)
    assert (lorentz.distance(x, x, c) < 1e-6).all()
    dxz, dzy = lorentz.distance(x, z, c), lorentz.distance(z, y, c)
    assert (dxy <= dxz + dzy + 1e-9).all()
    pw = lorentz.pairwise_distance(x[:5], y[:7], c)
    ref = lorentz.distance(x[:5, None], y[None, :7], c)
    assert pw.shape == (5, 7) and torch.allclose(pw, ref, atol=1e-10)
    assert torch.allclose(lorentz.pairwise_inner(x[:5], y[:7], c), lorentz.inner(x[:5, None], y[None, :7], c))


def test_lorentz_float32_identical_points_and_large_norms():
    c = 1.0
    v = _tangent(64, max_norm=10.0, dtype=torch.float32).requires_grad_(True)
    x = lorentz.exp0(v, c)
    d_self = lorentz.distance(x, x, c)
    assert torch.isfinite(d_self).all()
    assert (d_self <= math.sqrt(2 * 1e-6) + 1e-4).all()
    y = lorentz.exp0(_tangent(64, max_norm=10.0, dtype=torch.float32), c)
    loss = d_self.sum() + lorentz.distance(x, y, c).sum() + lorentz.pairwise_distance(x, x, c).sum()
    loss.backward()
    assert torch.isfinite(v.grad).all()


def test_lorentz_exterior_angle_and_half_aperture():
    c = 1.0
    x = lorentz.exp0(_tangent(50, max_norm=2.0) + 0.3, c)
    same_ray = lorentz.exterior_angle(x, 2.5 * x, c)
    opposite = lorentz.exterior_angle(x, -x, c)
    assert (same_ray < 1e-3).all()  # MERU's +1e-8 in the denominator leaves acos(1 - 1e-8)
    assert torch.allclose(opposite, torch.full_like(opposite, math.pi), atol=1e-4)
    direction = torch.randn(8, dtype=torch.float64)
    norms = torch.linspace(0.05, 5.0, 40, dtype=torch.float64)
    omega = lorentz.half_aperture(norms[:, None] * direction / direction.norm(), c)
    assert (omega > 0).all() and (omega < math.pi / 2).all()
    assert (omega[1:] <= omega[:-1]).all() and (omega[-1] < omega[0])
    assert lorentz.oxy_angle is lorentz.exterior_angle


@pytest.mark.parametrize("c", CURVATURES)
def test_lorentz_to_poincare_is_isometry(c):
    x, y = lorentz.exp0(_tangent(300), c), lorentz.exp0(_tangent(300), c)
    px, py = lorentz.to_poincare(x, c), lorentz.to_poincare(y, c)
    assert (px.norm(dim=-1) < 1 / math.sqrt(c)).all()
    assert torch.allclose(lorentz.distance(x, y, c), poincare.distance(px, py, c), atol=1e-8)
    assert torch.allclose(lorentz.from_poincare(px, c), x, atol=1e-9)
    v = _tangent(20)
    assert torch.allclose(lorentz.to_poincare(lorentz.exp0(v, c), c), poincare.exp0(v / 2, c), atol=1e-10)


@pytest.mark.parametrize("c", [0.3, 1.0])
def test_lorentz_centroid(c):
    x = lorentz.exp0(_tangent(1), c)
    assert torch.allclose(lorentz.centroid(x, c), x[0], atol=1e-10)
    pts = lorentz.exp0(_tangent(12), c)
    w = torch.rand(12, dtype=torch.float64)
    mu = lorentz.centroid(pts, c, weights=w)
    assert torch.allclose(lorentz.inner(mu, mu, c), torch.tensor(-1.0 / c, dtype=torch.float64), atol=1e-9)
    # per-group version matches the single-group one; an empty group gives the origin
    index = torch.tensor([0] * 5 + [2] * 7)
    grouped = lorentz.centroid(pts, c, weights=w, index=index, num_groups=3)
    assert torch.allclose(grouped[0], lorentz.centroid(pts[:5], c, weights=w[:5]), atol=1e-10)
    assert torch.allclose(grouped[2], lorentz.centroid(pts[5:], c, weights=w[5:]), atol=1e-10)
    assert torch.equal(grouped[1], torch.zeros(8, dtype=torch.float64))
    # two symmetric points: centroid on the bisector, equidistant
    a = lorentz.exp0(torch.tensor([[1.0, 0.5]], dtype=torch.float64), c)
    b = a * torch.tensor([1.0, -1.0], dtype=torch.float64)
    m = lorentz.centroid(torch.cat([a, b]), c)
    assert abs(m[1]) < 1e-12
    assert torch.allclose(lorentz.distance(m, a[0], c), lorentz.distance(m, b[0], c))


# ----------------------------------------------------------------------------- Poincare
@pytest.mark.parametrize("c", CURVATURES)
def test_poincare_mobius_identities(c):
    x, y = _ball(200, c), _ball(200, c)
    zero = torch.zeros_like(x)
    assert torch.allclose(poincare.mobius_add(zero, x, c), x, atol=1e-12)
    assert torch.allclose(poincare.mobius_add(x, zero, c), x, atol=1e-12)
    assert torch.allclose(poincare.mobius_add(-x, poincare.mobius_add(x, y, c), c), y, atol=1e-10)
    assert (poincare.mobius_add(x, y, c).norm(dim=-1) < 1 / math.sqrt(c)).all()


@pytest.mark.parametrize("c", CURVATURES)
def test_poincare_maps_radius_distance(c):
    u = _tangent(200, max_norm=1.5)
    y = poincare.exp0(u, c)
    assert torch.allclose(poincare.log0(y, c), u, atol=1e-9)
    assert torch.allclose(poincare.radius(y, c), 2 * u.norm(dim=-1), atol=1e-9)
    x, z = _ball(3000, c), _ball(3000, c)
    dxy, dyx = poincare.distance(x, z, c), poincare.distance(z, x, c)
    assert torch.allclose(dxy, dyx, atol=1e-9)
    w = _ball(3000, c)
    assert (dxy <= poincare.distance(x, w, c) + poincare.distance(w, z, c) + 1e-9).all()
    pw = poincare.pairwise_distance(x[:4], z[:6], c)
    assert pw.shape == (4, 6) and torch.allclose(pw, poincare.distance(x[:4, None], z[None, :6], c))
    assert torch.allclose(poincare.conformal_factor(x, c), 2 / (1 - c * (x * x).sum(-1)))


def test_poincare_projection_and_clip():
    c = 0.5
    far = torch.randn(50, 4, dtype=torch.float64) * 10
    assert (poincare.projx(far, c).norm(dim=-1) <= (1 - 1e-5) / math.sqrt(c) + 1e-12).all()
    far32 = far.float()
    assert (poincare.projx(far32, c).norm(dim=-1) <= (1 - 4e-3) / math.sqrt(c) + 1e-6).all()
    u = torch.randn(30, 5, dtype=torch.float64) * 3
    clipped = poincare.clip_features(u, 2.3)
    norms = u.norm(dim=-1)
    assert torch.allclose(clipped.norm(dim=-1), torch.clamp(norms, max=2.3))
    assert torch.allclose(clipped[norms < 2.3], u[norms < 2.3])


def test_poincare_float32_gradients_identical_and_boundary():
    c = 0.1
    u = (torch.randn(32, 6) * 20).requires_grad_(True)  # far beyond clip radius: near the boundary
    z = poincare.exp0(poincare.clip_features(u, 2.3), c)
    loss = poincare.distance(z, z, c).sum() + poincare.pairwise_distance(z, z, c).sum()
    loss = loss + poincare.radius(z, c).sum()
    loss.backward()
    assert torch.isfinite(u.grad).all()
    edge = poincare.projx(torch.randn(8, 6) * 100, c).requires_grad_(True)
    poincare.distance(edge, torch.zeros(8, 6), c).sum().backward()
    assert torch.isfinite(edge.grad).all()


# ----------------------------------------------------------------------------- Klein
@pytest.mark.parametrize("c", [0.1, 1.0, 2.0])
def test_klein_round_trip_and_midpoints(c):
    p = _ball(50, c)
    assert torch.allclose(klein.klein_to_poincare(klein.poincare_to_klein(p, c), c), p, atol=1e-10)
    assert torch.allclose(klein.einstein_midpoint(p[:1], c), p[0], atol=1e-10)
    pair = torch.stack([p[0], -p[0]])
    assert klein.einstein_midpoint(pair, c).norm() < 1e-12
    for i in range(10):
        a, b = p[2 * i], p[2 * i + 1]
        m = klein.einstein_midpoint(torch.stack([a, b]), c)
        dab = poincare.distance(a, b, c)
        assert torch.allclose(poincare.distance(a, m, c), dab / 2, atol=1e-8)
        assert torch.allclose(poincare.distance(m, b, c), dab / 2, atol=1e-8)
    m_all = klein.einstein_midpoint(p, c, weights=torch.rand(50, dtype=torch.float64))
    assert m_all.norm() < 1 / math.sqrt(c)
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    assert torch.allclose(klein.einstein_midpoint(p @ q.T, c), klein.einstein_midpoint(p, c) @ q.T, atol=1e-10)


def test_klein_midpoint_per_row_weights():
    c = 0.1
    p = _ball(9, c)
    onehot = torch.zeros(3, 9, dtype=torch.float64)
    onehot[0, :4] = 1
    onehot[2, 4:] = 1
    mids = klein.einstein_midpoint(p, c, weights=onehot)
    assert torch.allclose(mids[0], klein.einstein_midpoint(p[:4], c), atol=1e-12)
    assert torch.allclose(mids[2], klein.einstein_midpoint(p[4:], c), atol=1e-12)
    assert torch.equal(mids[1], torch.zeros(6, dtype=torch.float64))


def test_lorentz_float32_distance_matches_float64():
    c = 1.0
    v = _tangent(500, max_norm=6.0)
    w = v + 1e-3 * torch.randn_like(v)  # close pairs far from the origin: the cancellation-prone case
    ref = lorentz.distance(lorentz.exp0(v, c), lorentz.exp0(w, c), c)
    got = lorentz.distance(lorentz.exp0(v.float(), c), lorentz.exp0(w.float(), c), c).double()
    assert torch.allclose(got, ref, rtol=2e-2, atol=1e-3)
    got_pw = lorentz.pairwise_distance(lorentz.exp0(v.float()[:20], c), lorentz.exp0(w.float()[:20], c), c)
    assert torch.allclose(got_pw.diagonal().double(), ref[:20], rtol=2e-2, atol=1e-3)
