"""CoRE quaternion residual on Motifs (methods_spec 3)."""
import pytest
import torch

from sgg.modeling.heads.core import CoRE, QuaternionInteraction
from sgg.modeling.heads.motifs import MotifsHead
from sgg.modeling.heads.synthetic import random_head_inputs

C_OBJ, C_REL, D_OBJ, D_UNION = 12, 9, 24, 20


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def make_core(quat_dim=4):
    base = MotifsHead(num_obj_classes=C_OBJ, num_predicates=C_REL, obj_feat_dim=D_OBJ, union_feat_dim=D_UNION,
                      hidden_dim=16, pooling_dim=32, embed_dim=8, pos_embed_dim=8, dropout=0.0)
    return CoRE(base=base, quat_dim=quat_dim, hidden_dim=12)


def test_init_logits_equal_motifs_exactly():
    core = make_core().eval()
    for mode in ("predcls", "sgcls", "sgdet"):
        inp = random_head_inputs([3, 5], D_OBJ, D_UNION, C_OBJ, C_REL, mode=mode)
        out = core(inp)
        base = core.base.predict(inp)
        assert torch.equal(out.rel_logits, base.rel_logits)
        assert out.rel_embed.shape == (26, 13 * 4)


def test_residual_is_directional_once_trained():
    core = make_core().eval()
    with torch.no_grad():
        core.residual.weight.normal_()
    n = 6
    subj, obj, union = torch.randn(n, 16), torch.randn(n, 16), torch.randn(n, D_UNION)
    d_so, _ = core.residual_logits(subj, obj, union)
    d_os, _ = core.residual_logits(obj, subj, union)
    assert not torch.allclose(d_so, d_os, atol=1e-4)


def test_zero_inputs_finite_and_fp32_under_autocast():
    core = make_core().train()
    inp = random_head_inputs([4], D_OBJ, D_UNION, C_OBJ, C_REL, mode="predcls", training=True)
    inp.obj_feats = torch.zeros_like(inp.obj_feats).requires_grad_()
    inp.union_feats = torch.zeros_like(inp.union_feats).requires_grad_()
    out = core(inp)
    sum(out.losses.values()).backward()
    assert torch.isfinite(out.rel_logits).all()
    assert torch.isfinite(inp.obj_feats.grad).all() and torch.isfinite(inp.union_feats.grad).all()
    block = QuaternionInteraction(8, 8, 10, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = block(torch.randn(5, 8, dtype=torch.bfloat16), torch.randn(5, 8), torch.randn(5, 10))
    assert x.dtype == torch.float32 and x.shape == (5, 39)


def test_losses_use_final_logits_and_overfit():
    torch.manual_seed(0)
    core = make_core().train()
    inp = random_head_inputs([4, 5], D_OBJ, D_UNION, C_OBJ, C_REL, mode="predcls", training=True, seed=2)
    opt = torch.optim.Adam(core.parameters(), lr=1e-2)
    first = None
    for _ in range(20):
        losses = core(inp).losses
        assert set(losses) == {"loss_rel"}
        opt.zero_grad()
        losses["loss_rel"].backward()
        opt.step()
        first = float(losses["loss_rel"].detach()) if first is None else first
    assert core.residual.weight.abs().sum() > 0  # the residual path is trained
    assert float(core(inp).losses["loss_rel"].detach()) < 0.5 * first
