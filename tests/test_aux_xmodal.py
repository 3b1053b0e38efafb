"""Cross-modal heads MASLN and CDPAE (methods_spec 7)."""
import math

import pytest
import torch
import torch.nn.functional as F
from aux_fixtures import C_OBJ, C_REL, REL_DIM, WORD_DIM, make_batch, word_vectors

from sgg.modeling.auxiliary import CDPAEHead, MASLNHead, cdpae_knn_similarity
from sgg.modeling.auxiliary.common import dann_lambda, grad_reverse
from sgg.modeling.auxiliary.xmodal_cdpae import (
    cdpae_dimension_mask,
    cdpae_distance_losses,
    cdpae_target_distance,
)


def test_grl_forward_identity_backward_negated():
    x = torch.randn(5, 3, requires_grad=True)
    y = grad_reverse(x, 0.7)
    assert torch.equal(y, x)
    g = torch.randn(5, 3)
    y.backward(g)
    assert torch.allclose(x.grad, -0.7 * g)
    assert dann_lambda(0.0) == 0.0 and dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_lambda(0.2) < dann_lambda(0.5) < 1.0


def _masln(**kw):
    return MASLNHead(REL_DIM, word_vectors(C_REL), word_vectors(C_OBJ), hidden_dim=16, common_dim=8, **kw)


def test_masln_losses_training_and_extras():
    head = _masln(total_steps=4)
    inputs, outputs = make_batch()
    outputs.rel_embed.requires_grad_(True)
    before = outputs.rel_logits.clone()
    res = head.train()(inputs, outputs)
    total = sum(res.losses.values())
    total.backward()
    assert set(res.losses) == {"loss_masln_corr", "loss_masln_rec", "loss_masln_sem", "loss_masln_adv"}
    assert torch.isfinite(total) and torch.isfinite(outputs.rel_embed.grad).all()
    assert all(v.item() >= 0 for v in res.losses.values())
    assert torch.equal(outputs.rel_logits, before)
    assert int(head.step) == 1 and head.grl_coefficient() == pytest.approx(dann_lambda(0.25))
    ex = head.eval()(*make_batch(training=False)).extras
    assert ex["xmodal_embed"].shape == (16, 8)


def test_masln_correlation_zero_for_identical_encoders_and_inputs():
    from sgg.modeling.auxiliary.common import pair_object_labels, relation_targets

    head = MASLNHead(3 * WORD_DIM, word_vectors(C_REL), word_vectors(C_OBJ), hidden_dim=16, common_dim=8).eval()
    head.text_encoder.load_state_dict(head.visual_encoder.state_dict())
    inputs, outputs = make_batch()
    subj, obj = pair_object_labels(inputs, outputs)
    outputs.rel_embed = head.text_features(subj, relation_targets(inputs), obj)
    assert head(inputs, outputs).losses["loss_masln_corr"].item() == pytest.approx(0.0, abs=1e-10)


def test_masln_semantic_logits_for_unseen_classes():
    head = _masln()
    unseen = torch.randn(4, WORD_DIM)
    logits = head.semantic_logits(torch.randn(3, 8), unseen)
    assert logits.shape == (3, 4) and torch.isfinite(logits).all()


def test_masln_discriminator_separates_modalities_with_frozen_encoders():
    torch.manual_seed(0)
    head = _masln()
    h_v = torch.randn(64, 8) + 2.0
    h_t = torch.randn(64, 8) - 2.0
    opt = torch.optim.Adam(head.discriminator.parameters(), lr=1e-2)
    h = torch.cat([h_v, h_t])
    y = torch.cat([torch.ones(64), torch.zeros(64)])
    for _ in range(100):
        loss = F.binary_cross_entropy_with_logits(head.discriminator(h).squeeze(1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = ((head.discriminator(h).squeeze(1) > 0).float() == y).float().mean()
    assert acc > 0.95


def test_cdpae_mask_counts_and_target_distance():
    mask_v = cdpae_dimension_mask(20, 0.5)
    mask_t = cdpae_dimension_mask(36, 0.7)
    assert int((mask_v == 0).sum()) == 10 and int((mask_t == 0).sum()) == round(0.7 * 36)
    a, b, c, d = (torch.randn(30, 6) for _ in range(4))
    dist = cdpae_target_distance(a, b, c, d)
    assert torch.allclose(dist, cdpae_target_distance(c, d, a, b))
    assert torch.isfinite(dist).all() and (dist >= math.sqrt(1e-5) - 1e-7).all() and (dist <= 2.0).all()


def test_cdpae_losses_properties():
    i, t, i2, t2 = (torch.tanh(torch.randn(10, 8)) for _ in range(4))
    target = torch.rand(10)
    parts = cdpae_distance_losses(i, t, i2, t2, target)
    assert all(v.item() >= 0 for v in parts.values())
    same = cdpae_distance_losses(i, i, i2, i2, target)
    assert same["pair"].item() == pytest.approx(0.0, abs=1e-6)


def test_cdpae_head_training_and_extras():
    head = CDPAEHead(REL_DIM, word_vectors(C_REL), word_vectors(C_OBJ), common_dim=8)
    inputs, outputs = make_batch()
    outputs.rel_embed.requires_grad_(True)
    res = head.train()(inputs, outputs)
    res.losses["loss_cdpae"].backward()
    assert res.losses["loss_cdpae"].item() >= 0 and torch.isfinite(outputs.rel_embed.grad).all()
    ex = head.eval()(*make_batch(training=False)).extras
    assert ex["xmodal_embed"].shape == (16, 8) and (ex["xmodal_embed"].abs() <= 1).all()


def _average_precision(scores, relevant):
    order = scores.argsort(descending=True)
    rel = relevant[order].float()
    hits = rel.cumsum(0)
    return float((hits / torch.arange(1, len(rel) + 1) * rel).sum() / rel.sum())


def test_cdpae_knn_similarity_two_clusters_map_one():
    torch.manual_seed(0)
    centres = torch.tensor([[5.0, 0, 0, 0], [0, 5.0, 0, 0]])

    def sample(n, cls):
        return centres[cls] + 0.3 * torch.randn(n, 4)

    train_cls = torch.tensor([0] * 6 + [1] * 6)
    test_img_cls, test_txt_cls = torch.tensor([0, 1, 0, 1]), torch.tensor([1, 0, 1, 0, 0])
    s, w_img, w_txt, h = cdpae_knn_similarity(
        sample(12, train_cls), sample(12, train_cls), sample(4, test_img_cls), sample(5, test_txt_cls),
        k=12, return_parts=True,
    )
    assert s.shape == (4, 5)
    assert torch.allclose(w_img.sum(1), torch.ones(4)) and torch.allclose(w_txt.sum(1), torch.ones(5))
    assert ((h >= 0) & (h <= 1 + 1e-6)).all() and torch.allclose(h.diagonal(), torch.ones(24))
    assert torch.allclose(h[torch.arange(12), torch.arange(12) + 12], torch.ones(12))
    relevant = test_img_cls[:, None] == test_txt_cls[None]
    m_ap = sum(_average_precision(s[q], relevant[q]) for q in range(4)) / 4
    assert m_ap == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k must be"):
        cdpae_knn_similarity(sample(3, train_cls[:3]), sample(3, train_cls[:3]), sample(1, test_img_cls[:1]),
                             sample(1, test_img_cls[:1]), k=7)
