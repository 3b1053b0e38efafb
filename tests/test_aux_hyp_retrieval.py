"""Hyperbolic retrieval head (methods_spec 5), caption tokenizer/encoder and the registry contract."""
import json
import math

import pytest
import torch
from aux_fixtures import C_OBJ, C_REL, OBJ_DIM, REL_DIM, make_batch, word_vectors

from sgg.modeling.auxiliary import AUX_HEAD_REGISTRY, HypRetrievalHead
from sgg.modeling.auxiliary.hyp_retrieval import prune_triplet_words, random_token_choice
from sgg.modeling.geometry import lorentz
from sgg.modeling.text import CaptionEncoder, WordTokenizer


def _head(**kw):
    return HypRetrievalHead(REL_DIM, word_vectors(C_REL), word_vectors(C_OBJ), embed_dim=8, **kw)


def test_registered_names():
    for name in ("hyp_retrieval", "hyp_hierarchy", "xmodal_masln", "xmodal_cdpae"):
        assert name in AUX_HEAD_REGISTRY


def test_prototype_logits_are_scaled_negative_distances():
    head = _head()
    x = head.lift_visual(torch.randn(5, REL_DIM))
    d = lorentz.pairwise_distance(x, head.predicate_points(), head.curvature())
    assert torch.allclose(head.prototype_logits(x), -head.temperature_scale() * d)
    # semantic margin only raises negatives, by exp(s) m (1 - sigma_{y,c})
    head.margin = 0.2
    y = torch.tensor([0, 1, 2, 3, 4])
    diff = head.prototype_logits(x, y) - head.prototype_logits(x)
    expected = head.temperature_scale() * 0.2 * (1 - head.semantic_similarity[y])
    expected[torch.arange(5), y] = 0
    assert torch.allclose(diff, expected, atol=1e-6)


def test_scale_clamps_after_huge_gradient_step():
    head = _head(curv_init=1.0)
    opt = torch.optim.SGD(head.parameters(), lr=1.0)
    for p in (head.visual_alpha, head.text_alpha, head.log_curv, head.logit_scale):
        p.grad = torch.tensor(-1e6)
    opt.step()
    assert head.logit_scale.item() > math.log(100) and head.visual_alpha.item() > 0
    assert head.temperature_scale().item() <= 100 + 1e-3
    assert head.curvature().item() <= 10.0 + 1e-5
    inputs, outputs = make_batch()
    head.train()(inputs, outputs)
    assert head.visual_alpha.item() <= 0 and head.text_alpha.item() <= 0
    assert head.log_curv.item() <= math.log(10.0) + 1e-6
    assert head.logit_scale.exp().item() <= 100 + 1e-3
    for p in (head.log_curv,):
        p.grad = torch.tensor(1e6)
    opt.step()
    head(inputs, outputs)
    assert head.curvature().item() >= 0.1 - 1e-6


def test_entailment_zero_on_same_ray_positive_on_opposite():
    head = _head()
    c = head.curvature()
    t = lorentz.exp0(torch.randn(10, 8), c).detach()
    assert head.entailment_loss(t, 3.0 * t).item() == 0.0
    assert head.entailment_loss(t, -t).item() > 1.0


def test_random_query_selection_is_uniform():
    gen = torch.Generator().manual_seed(1)
    picks = random_token_choice(torch.randn(10_000, 3), 0.0, generator=gen)
    counts = torch.bincount(picks, minlength=3).double()
    chi2 = ((counts - 10_000 / 3) ** 2 / (10_000 / 3)).sum().item()
    assert chi2 < 13.8  # chi-square, 2 dof, p = 0.001
    best = random_token_choice(torch.tensor([[0.0, 5.0, 1.0]]).repeat(500, 1), 1.0)
    assert (best == 1).all()


def test_random_text_pruning_never_drops_predicate():
    keep = prune_triplet_words(5000, 0.3, generator=torch.Generator().manual_seed(0))
    assert keep[:, 1].all()
    rate = 1 - keep[:, [0, 2]].float().mean().item()
    assert abs(rate - 0.3) < 0.03
    assert prune_triplet_words(100, 1.0)[:, [0, 2]].sum() == 0


def test_triplet_text_features_mean_of_kept_words():
    head = _head(text_mode="triplet")
    s, p, o = torch.tensor([1]), torch.tensor([2]), torch.tensor([3])
    keep = torch.tensor([[False, True, True]])
    expected = (head.predicate_vectors[2] + head.object_vectors[3]) / 2
    assert torch.allclose(head.triplet_text_features(s, p, o, keep)[0], expected)


@pytest.mark.parametrize("kw", [
    {}, {"margin": 0.2}, {"geometry": "euclidean"},
    {"text_mode": "triplet", "random_prune": 0.3},
    {"random_region": True, "obj_feat_dim": OBJ_DIM},
])
def test_forward_losses_training_and_extras_inference(kw):
    head = _head(**kw)
    inputs, outputs = make_batch()
    outputs.rel_embed.requires_grad_(True)
    logits_before = outputs.rel_logits.clone()
    res = head.train()(inputs, outputs)
    assert res.extras == {} and "loss_hyp_con" in res.losses
    total = sum(res.losses.values())
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(outputs.rel_embed.grad).all()
    assert torch.equal(outputs.rel_logits, logits_before)
    inputs, outputs = make_batch(training=False)
    res = head.eval()(inputs, outputs)
    assert res.losses == {}
    n = outputs.rel_embed.shape[0]
    assert res.extras["hyp_pred"].shape == (n,) and res.extras["hyp_pred"].min() >= 1
    assert (res.extras["hyp_radius"] >= 0).all()
    if kw.get("geometry", "lorentz") == "lorentz":
        assert res.extras["entail_margin"].shape == (n,)


def test_inference_extras_values():
    head = _head().eval()
    inputs, outputs = make_batch(training=False)
    ex = head(inputs, outputs).extras
    points = head.lift_visual(outputs.rel_embed)
    c = head.curvature()
    assert torch.allclose(ex["hyp_radius"], lorentz.radius(points, c))
    d = lorentz.pairwise_distance(points, head.predicate_points(), c)
    assert torch.equal(ex["hyp_pred"], d.argmin(1) + 1)
    t = head.predicate_points()[outputs.rel_logits[:, 1:].argmax(1)]
    margin = lorentz.half_aperture(t, c) - lorentz.exterior_angle(t, points, c)
    assert torch.allclose(ex["entail_margin"], margin, atol=1e-5)
    assert "hyp_uncertainty" not in ex
    p95 = head.calibrate_uncertainty(ex["hyp_radius"])
    ex2 = head(inputs, outputs).extras
    assert torch.allclose(ex2["hyp_uncertainty"], (1 - ex["hyp_radius"] / p95).clamp(0, 1))


def test_detach_input_blocks_gradient():
    head = _head(detach_input=True)
    inputs, outputs = make_batch()
    outputs.rel_embed.requires_grad_(True)
    sum(head(inputs, outputs).losses.values()).backward()
    assert outputs.rel_embed.grad is None


def test_loss_decreases_on_separable_data():
    torch.manual_seed(0)
    centres = torch.randn(C_REL - 1, REL_DIM) * 3
    labels = torch.arange(1, C_REL).repeat(6)
    rel_embed = centres[labels - 1] + 0.3 * torch.randn(len(labels), REL_DIM)
    head = _head()
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    inputs, outputs = make_batch(num_objs=[6], rels_per_image=len(labels), rel_embed=rel_embed, fg_labels=labels)
    losses = []
    for _ in range(50):
        loss = sum(head(inputs, outputs).losses.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    head.eval()
    inputs.rel_labels = None
    acc = (head(inputs, outputs).extras["hyp_pred"] == labels).float().mean()
    assert acc > 0.9


def test_graph_level_centroid_and_losses():
    tok = WordTokenizer.build(["a red circle above a blue square", "the cat on the mat", "a cat"])
    head = _head(caption_vocab_size=len(tok))
    rel_embed = torch.randn(7, REL_DIM)
    weights = torch.rand(7)
    images = head.embed_images(rel_embed, weights, [3, 0, 4])
    c = head.curvature()
    assert images.shape == (3, 8)
    assert torch.allclose(lorentz.inner(images[[0, 2]], images[[0, 2]], c), -1 / c, atol=1e-4)
    assert torch.equal(images[1], torch.zeros(8))
    single = head.embed_images(rel_embed[:1], weights[:1], [1])
    assert torch.allclose(single[0], head.lift_visual(rel_embed[:1])[0], atol=1e-5)
    ids, lengths = tok.encode_batch(["a red circle", "cat on mat", "a blue square above"])
    caps = head.embed_captions(ids, lengths)
    assert caps.shape == (3, 8)
    losses = head.graph_level_losses(rel_embed, weights, [3, 2, 2], ids, lengths)
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total) and set(losses) == {"loss_hyp_graph_con", "loss_hyp_graph_ent"}
    texts = head.embed_triplet_texts(torch.tensor([1, 2]), torch.tensor([3, 1]), torch.tensor([4, 5]))
    assert texts.shape == (2, 8)


def test_tokenizer_round_trip_and_errors(tmp_path):
    tok = WordTokenizer.build(["Red circle ABOVE blue_square.", "red square"], min_count=1)
    assert tok.words[:2] == ["<pad>", "<unk>"] and tok.words[2] == "red"
    assert tok.encode("red zebra") == [tok.index["red"], 1]
    ids, lengths = tok.encode_batch(["red circle above", "", "square"])
    assert ids.shape == (3, 3) and lengths.tolist() == [3, 1, 1] and ids[1, 0] == 1 and ids[2, 1] == 0
    path = tmp_path / "vocab.json"
    tok.save(str(path))
    assert WordTokenizer.load(str(path)).words == tok.words
    with pytest.raises(FileExistsError):
        tok.save(str(path))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "sgg-word-vocab", "version": 1, "words": ["a"]}))
    with pytest.raises(ValueError, match="bad.json.*words"):
        WordTokenizer.load(str(bad))


@pytest.mark.parametrize("kind", ["bag", "gru"])
def test_caption_encoder_ignores_padding(kind):
    enc = CaptionEncoder(10, embed_dim=6, out_dim=4, kind=kind)
    ids = torch.tensor([[3, 4, 0, 0], [3, 4, 5, 6]])
    out = enc(ids, torch.tensor([2, 4]))
    alone = enc(torch.tensor([[3, 4]]), torch.tensor([2]))
    assert out.shape == (2, 4) and torch.allclose(out[0], alone[0], atol=1e-6)
