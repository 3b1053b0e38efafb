"""CReaL head (methods_spec 4.8): complex block invariants, gate, losses, autocast, gradcheck."""
import math

import pytest
import torch
from heads_fixtures import overfit_relation_loss

from sgg.modeling.geometry.complex_ops import crotate
from sgg.modeling.heads.creal import (
    ComplexRelationBlock,
    CReaL,
    complex_relation_embedding,
)
from sgg.modeling.heads.creal_losses import (
    hardest_negative_triplet,
    pair_negative_mask,
    prototype_separation_term,
    prototype_similarity_term,
)
from sgg.modeling.heads.synthetic import random_head_inputs

C_OBJ, C_REL, D_OBJ, D_UNION = 10, 8, 24, 20


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py
D64 = torch.float64


def make_creal(**kw):
    args = dict(num_obj_classes=C_OBJ, num_predicates=C_REL, obj_feat_dim=D_OBJ, union_feat_dim=D_UNION,
                word_dim=8, mlp_dim=16, complex_dim=8, proto_dim=12, obj_hidden_dim=16, pos_embed_dim=8)
    args.update(kw)
    return CReaL(**args)


def test_complex_fusion_matches_torch_complex_and_invariants():
    z = (torch.randn(6, 5, dtype=D64), torch.randn(6, 5, dtype=D64))
    u = (torch.randn(6, 5, dtype=D64), torch.randn(6, 5, dtype=D64))
    (re, im), amp, cos, sin = complex_relation_embedding(z, u)
    ref = torch.complex(*z) * torch.complex(*u)
    ref = ref / torch.linalg.vector_norm(ref, dim=1, keepdim=True)
    assert torch.allclose(re, ref.real, atol=1e-10) and torch.allclose(im, ref.imag, atol=1e-10)
    assert torch.allclose(amp.sum(1), torch.ones(6, dtype=D64), atol=1e-10)
    assert amp.min() >= 0 and amp.max() <= 1
    big = amp.sqrt() > 1e-3
    assert torch.allclose((sin ** 2 + cos ** 2)[big], torch.ones_like(sin[big]), atol=1e-5)
    # global phase rotation of u: amplitude unchanged, phase shifted by theta
    theta = 1.1
    _, amp2, cos2, sin2 = complex_relation_embedding(z, crotate(u, theta))
    assert torch.allclose(amp2, amp, atol=1e-12)
    assert torch.allclose(cos2, cos * math.cos(theta) - sin * math.sin(theta), atol=1e-8)
    assert torch.allclose(sin2, sin * math.cos(theta) + cos * math.sin(theta), atol=1e-8)


def test_block_unit_embeddings_and_gradcheck():
    block = ComplexRelationBlock(4, 3, 5).double()
    z, u = torch.randn(3, 4, dtype=D64, requires_grad=True), torch.randn(3, 4, dtype=D64, requires_grad=True)
    f = block(z, u)
    assert torch.allclose(f.v_amp.norm(dim=1), torch.ones(3, dtype=D64))
    assert torch.allclose(f.v_phase.norm(dim=1), torch.ones(3, dtype=D64))
    assert torch.allclose((f.re ** 2 + f.im ** 2).sum(1), torch.ones(3, dtype=D64), atol=1e-10)
    assert torch.autograd.gradcheck(lambda a, b: (block(a, b).v_amp, block(a, b).v_phase), (z, u))


def test_block_runs_in_float32_under_autocast():
    block = ComplexRelationBlock(6, 4, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        f = block(torch.randn(3, 6, dtype=torch.bfloat16), torch.randn(3, 6, dtype=torch.bfloat16))
    assert f.re.dtype == torch.float32 and f.v_phase.dtype == torch.float32
    head = make_creal().eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(random_head_inputs([4], D_OBJ, D_UNION, C_OBJ, C_REL, mode="sgcls"))
    assert out.rel_logits.dtype == torch.float32 and torch.isfinite(out.rel_logits).all()


def test_zero_inputs_finite_forward_backward():
    head = make_creal().train()
    inp = random_head_inputs([3, 2], D_OBJ, D_UNION, C_OBJ, C_REL, mode="predcls", training=True)
    inp.obj_feats = torch.zeros_like(inp.obj_feats).requires_grad_()
    inp.union_feats = torch.zeros_like(inp.union_feats).requires_grad_()
    out = head(inp)
    sum(out.losses.values()).backward()
    assert torch.isfinite(out.rel_logits).all()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)
    block = ComplexRelationBlock(4, 3, 5)
    z = torch.zeros(2, 4, requires_grad=True)
    f = block(z, torch.randn(2, 4))
    (f.v_amp.sum() + f.v_phase.sum() + f.cos.sum() + f.sin.sum()).backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("gate", ["global", "per_relation", "fixed"])
def test_gate_range_extras_and_temperatures(gate):
    head = make_creal(gate=gate).eval()
    out = head(random_head_inputs([5], D_OBJ, D_UNION, C_OBJ, C_REL, mode="predcls"))
    g = out.extras["creal_gate"]
    assert g.shape == (20,) and bool(((g >= 0) & (g <= 1)).all())
    assert torch.allclose(g, torch.full_like(g, 0.5))  # every gate starts at alpha = 0.5
    for key in ("amp_conf", "phase_conf"):
        v = out.extras[key]
        assert bool(((v > 0) & (v <= 1)).all())
    assert set(out.extras["branch_agree"].unique().tolist()) <= {0.0, 1.0}
    assert out.extras["phase"].abs().max() <= math.pi
    assert float(head.log_scale_amp.detach().exp()) == pytest.approx(1 / 0.07)
    assert out.rel_embed.shape == (20, 24)


def test_gate_limits_reproduce_single_branch_logits():
    torch.manual_seed(1)
    full = make_creal().eval()
    inp = random_head_inputs([4], D_OBJ, D_UNION, C_OBJ, C_REL, mode="predcls")
    for limit, branch in ((50.0, dict(use_phase=False)), (-50.0, dict(use_amplitude=False))):
        single = make_creal(**branch).eval()
        single.load_state_dict(full.state_dict(), strict=False)
        with torch.no_grad():
            full.gate_logit.fill_(limit)
        assert torch.allclose(full(inp).rel_logits, single(inp).rel_logits, atol=1e-5)
    with pytest.raises(ValueError, match="at least one"):
        make_creal(use_amplitude=False, use_phase=False)


def test_regulariser_orthonormal_and_collapsed():
    c = 6
    ortho = torch.eye(c, 10, dtype=D64)
    assert float(prototype_similarity_term(ortho)) == pytest.approx(1 / c)
    assert float(prototype_separation_term(ortho, 1.0)) == 0.0  # distances 2 >= gamma
    same = torch.ones(c, 10, dtype=D64) / math.sqrt(10)
    assert float(prototype_separation_term(same, 1.0)) == pytest.approx(1.0)
    assert float(prototype_separation_term(same, 0.3)) == pytest.approx(0.3)


def test_triplet_satisfied_violated_and_hardest_negative():
    protos = torch.eye(5, 7, dtype=D64)
    labels = torch.tensor([0, 3, 4])
    loss, _ = hardest_negative_triplet(protos[labels], protos, labels, 0.5)
    assert float(loss) == 0.0
    wrong = protos[torch.tensor([1, 0, 2])]  # each embedding sits on a negative prototype
    loss, idx = hardest_negative_triplet(wrong, protos, labels, 0.5)
    assert float(loss) == pytest.approx(2.5) and idx.tolist() == [1, 0, 2]
    emb, lab = torch.randn(200, 7, dtype=D64), torch.randint(0, 5, (200,))
    emb[:50] = protos[lab[:50]]  # the positive is the closest prototype for these rows
    _, idx = hardest_negative_triplet(emb, protos, lab, 0.5)
    assert bool((idx != lab).all())


def test_pair_restricted_negatives_and_fallback():
    present = torch.zeros(3, 3, 5, dtype=torch.bool)
    present[1, 2, [0, 2, 4]] = True  # predicates seen for (1, 2)
    present[2, 1, 3] = True  # only the positive is seen for (2, 1)
    mask = pair_negative_mask(present, torch.tensor([1, 2, 0]), torch.tensor([2, 1, 0]))
    protos = torch.eye(5, 5, dtype=D64)
    labels = torch.tensor([4, 3, 0])
    emb = torch.stack([protos[1] * 0.9 + protos[2] * 0.1, protos[0], protos[1]])
    _, idx = hardest_negative_triplet(emb, protos, labels, 0.5, mask)
    assert idx[0] == 2  # 1 is closer but not seen for (1, 2); 4 is the positive
    assert idx[1] == 0  # row with only the positive -> falls back to all negatives
    assert idx[2] == 1  # unseen class pair -> all negatives


@pytest.mark.parametrize("mode", ["predcls", "sgcls", "sgdet"])
def test_losses_switches_and_shapes(mode):
    present = torch.rand(C_OBJ, C_OBJ, C_REL) > 0.5
    head = make_creal(predicate_present=present).train()
    out = head(random_head_inputs([3, 4], D_OBJ, D_UNION, C_OBJ, C_REL, mode=mode, training=True))
    expected = {"loss_rel", "loss_proto_reg", "loss_amp_triplet", "loss_phase_triplet"}
    assert set(out.losses) == (expected if mode == "predcls" else expected | {"loss_obj"})
    assert out.rel_logits.shape == (18, C_REL) and out.obj_logits.shape == (7, C_OBJ)
    assert all(float(v.detach()) >= 0 for v in out.losses.values())
    off = make_creal(reg_loss=False, amp_triplet_loss=False, phase_triplet_loss=False, use_phase=False).train()
    out = off(random_head_inputs([3], D_OBJ, D_UNION, C_OBJ, C_REL, mode="predcls", training=True))
    assert set(out.losses) == {"loss_rel"}


def test_tiny_overfit_and_parameter_count(capsys):
    torch.manual_seed(0)
    head = make_creal(dropout=0.0).train()
    inp = random_head_inputs([4, 5], D_OBJ, D_UNION, C_OBJ, C_REL, mode="predcls", training=True, seed=4)
    first, last = overfit_relation_loss(head, inp, lr=5e-3)
    assert last < 0.5 * first
    vg = CReaL(num_obj_classes=151, num_predicates=51, obj_feat_dim=1024, union_feat_dim=1024)
    block = sum(p.numel() for p in vg.complex_block.parameters())
    protos = sum(p.numel() for m in (vg.proto_amp, vg.proto_phase) for p in m.parameters())
    with capsys.disabled():
        total = sum(p.numel() for p in vg.parameters())
        print(f"\nCReaL (constructor defaults, C_obj 151, C_rel 51, 1024-d features): {total / 1e6:.2f} M params, "
              f"complex block + prototype heads {(block + protos) / 1e6:.2f} M")
