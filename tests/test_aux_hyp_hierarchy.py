"""Hyperbolic hierarchy head (methods_spec 6) and the hierarchy loader."""
from types import SimpleNamespace

import networkx as nx
import pytest
import torch
import torch.nn.functional as F
from aux_fixtures import C_REL, REL_DIM, make_batch

from sgg.config import get_cfg
from sgg.modeling.auxiliary import HypHierarchyHead
from sgg.modeling.auxiliary.hierarchy import (
    ROOT,
    hierarchy_from_metadata,
    leaf_parents,
    load_hierarchy,
    validate_hierarchy,
    vg150_predicate_hierarchy,
)
from sgg.modeling.auxiliary.hyp_hierarchy import (
    hard_gumbel_softmax,
    hyperbolic_class_loss,
    local_hierarchy_loss,
    ordering_loss,
    sample_lhl_triplets,
)
from sgg.modeling.geometry import poincare


def _head(**kw):
    kw.setdefault("lhl_topk", 3)
    kw.setdefault("lhl_triplets", 5)
    return HypHierarchyHead(REL_DIM, [0, 0, 1, 1, 2], ["geo", "pos", "sem"], embed_dim=8, **kw)


def test_hcl_equals_cross_entropy_without_smoothing():
    logits, labels = torch.randn(10, 5), torch.randint(0, 5, (10,))
    assert torch.allclose(hyperbolic_class_loss(logits, labels, 0.0), F.cross_entropy(logits, labels))
    valid = torch.tensor([True, True, False, True, True])
    labels = torch.tensor([0, 1, 3, 4, 0, 1, 3, 4, 0, 1])
    masked = logits.masked_fill(~valid, float("-inf"))
    assert torch.allclose(hyperbolic_class_loss(logits, labels, 0.0, valid), F.cross_entropy(masked, labels))
    # smoothing: true class 0.9, the other valid classes 0.1 / (C_valid - 1)
    logp = F.log_softmax(masked, 1)
    target = torch.full((10, 5), 0.1 / 3) * valid
    target[torch.arange(10), labels] = 0.9
    expected = -(target * torch.where(valid, logp, torch.zeros_like(logp))).sum(1).mean()
    assert torch.allclose(hyperbolic_class_loss(logits, labels, 0.1, valid), expected)


def test_hard_gumbel_is_one_hot_and_argmax_without_noise():
    logits = torch.randn(20, 7, requires_grad=True)
    sample = hard_gumbel_softmax(logits, 0.1, noise=True)
    assert torch.allclose(sample.sum(1), torch.ones(20)) and set(sample.detach().unique().tolist()) <= {0.0, 1.0}
    plain = hard_gumbel_softmax(logits, 0.1, noise=False)
    assert torch.equal(plain.argmax(1), logits.argmax(1))
    (plain * torch.randn(20, 7)).sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def _four_point_distances():
    d = torch.zeros(4, 4, dtype=torch.float64)
    for (a, b), v in {(0, 1): 1.0, (0, 2): 4.0, (0, 3): 0.8, (1, 2): 3.0, (1, 3): 0.9, (2, 3): 5.0}.items():
        d[a, b] = d[b, a] = v
    return d


def test_lhl_hand_computed_four_points():
    d = _four_point_distances()
    # (0,1,2): lca_ij = argmin max(D0a, D1a) = 3, lca_ijk = 1 -> [0.8-1+.1]+ + [0.9-0+.1]+ + [3-5+.1]+ = 1.0
    # (0,3,2): lca_ij = 0 (tie 0/3, first), lca_ijk = 1 -> [0-1+.1]+ + [.8-.9+.1]+ + [3-4+.1]+ = 0
    # (1,0,3): lca_ij = lca_ijk = 0 -> not counted
    triplets = torch.tensor([[0, 1, 2], [0, 3, 2], [1, 0, 3]])
    loss = local_hierarchy_loss(d, triplets, margin=0.1, tau=0.1, noise=False)
    assert loss.item() == pytest.approx(0.5, abs=1e-9)
    assert local_hierarchy_loss(d, triplets[2:], 0.1, 0.1, noise=False).item() == 0.0
    rand_d = poincare.pairwise_distance(*(poincare.exp0(torch.randn(12, 3), 0.1),) * 2, 0.1)
    tri = sample_lhl_triplets(rand_d, torch.randint(0, 3, (12,)), topk=4, per_anchor=6)
    assert local_hierarchy_loss(rand_d, tri, 0.1, 0.1, noise=True).item() >= 0


def test_lhl_triplet_sampling_rules():
    z = poincare.exp0(torch.randn(16, 4), 0.1)
    d = poincare.pairwise_distance(z, z, 0.1)
    labels = torch.randint(0, 3, (16,))
    tri = sample_lhl_triplets(d, labels, topk=5, per_anchor=20)
    assert len(tri) > 0 and tri.shape[1] == 3
    assert (tri[:, 2] != tri[:, 0]).all() and (tri[:, 1] != tri[:, 0]).all()
    sim = torch.exp(-d) + (labels[:, None] == labels[None]).float()
    sim.fill_diagonal_(float("-inf"))
    top = torch.zeros(16, 16, dtype=torch.bool).scatter_(1, sim.topk(5, 1).indices, True)
    mutual = top & top.T
    assert mutual[tri[:, 0], tri[:, 1]].all() and not mutual[tri[:, 0], tri[:, 2]].any()


def test_ordering_loss():
    child = torch.tensor([1.0, 2.0, 1.5])
    assert ordering_loss(child - 0.1, child).item() == pytest.approx(0.0, abs=1e-6)
    assert ordering_loss(child - 0.5, child).item() == 0.0
    assert ordering_loss(child, child).item() == pytest.approx(0.1)


def test_hcl_decreases_when_points_collapse_onto_centres():
    head = _head(hcl_smoothing=0.0)
    c = head.curvature
    centres = poincare.exp0(torch.randn(3, 8), c)
    labels = torch.tensor([0, 1, 2] * 4)
    spread = poincare.exp0(poincare.log0(centres[labels], c) + 0.8 * torch.randn(12, 8), c)
    tight = poincare.exp0(poincare.log0(centres[labels], c) + 0.01 * torch.randn(12, 8), c)

    def hcl(points):
        from sgg.modeling.geometry import klein
        mids = klein.einstein_midpoint(points, c, F.one_hot(labels, 3).T.float())
        return hyperbolic_class_loss(-poincare.pairwise_distance(points, mids, c), labels, 0.0)

    assert hcl(tight) < hcl(spread)


def test_head_training_ema_and_inference_extras():
    head = _head()
    labels = torch.tensor([1, 2, 0, 1, 2, 1, 0, 2] * 2)  # classes 3..5 never seen
    inputs, outputs = make_batch(fg_labels=labels)
    outputs.rel_embed.requires_grad_(True)
    logits_before = outputs.rel_logits.clone()
    res = head.train()(inputs, outputs)
    total = sum(res.losses.values())
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(outputs.rel_embed.grad).all()
    assert set(res.losses) == {"loss_hier_hcl", "loss_hier_lhl", "loss_hier_ord"}
    assert head.seen.tolist() == [True, True, False, False, False]
    assert (head.ema_centres.norm(dim=1) < 1 / head.curvature**0.5).all()
    # a batch without class 1: its EMA centre is used, unseen classes stay masked
    res2 = head(*make_batch(fg_labels=torch.tensor([2, 0] * 8)))
    assert torch.isfinite(sum(res2.losses.values()))
    assert torch.equal(outputs.rel_logits, logits_before)
    head.eval()
    inputs, outputs = make_batch(training=False)
    ex = head(inputs, outputs).extras
    n = outputs.rel_embed.shape[0]
    assert ex["hier_path"].shape == (n, 2) and ex["hier_conf"].shape == (n, 2)
    # only seen predicates (ids 1, 2) under super-category 0 can be chosen
    assert set(ex["hier_path"][:, 1].tolist()) <= {1, 2} and (ex["hier_path"][:, 0] == 0).all()
    assert ((ex["hier_conf"] > 0) & (ex["hier_conf"] <= 1)).all()
    z = head.embed(outputs.rel_embed)
    assert torch.allclose(ex["hier_radius"], poincare.radius(z, head.curvature))


def test_ema_centre_stays_in_ball_after_many_updates():
    head = _head()
    for _ in range(20):
        rel_embed = torch.randn(16, REL_DIM) * 50
        head(*make_batch(rel_embed=rel_embed, fg_labels=torch.randint(1, C_REL, (16,))))
    assert (head.ema_centres.norm(dim=1) < 1 / head.curvature**0.5).all()


def test_hierarchy_loader_and_validation():
    vg = vg150_predicate_hierarchy()
    assert sum(len(v) for v in vg.values()) == 50
    names = ["__background__"] + [p for ps in vg.values() for p in ps]
    graph = load_hierarchy(vg)
    assert isinstance(graph, nx.DiGraph) and nx.is_arborescence(graph)
    validate_hierarchy(graph, names)
    assert leaf_parents(graph, names)["riding"] == "semantic"
    deep = load_hierarchy({"shape": {"round": ["circle", "ring"], "square": ["box"]}, "other": ["x"]})
    assert deep.nodes["circle"]["depth"] == 3 and list(deep.predecessors("shape")) == [ROOT]
    with pytest.raises(ValueError, match="more than once"):
        load_hierarchy({"a": ["x"], "b": ["x"]})
    # flat adjacency map (the toy hierarchy.json) == the nested form
    flat = load_hierarchy({"shape": ["round", "square"], "round": ["circle", "ring"], "square": ["box"], "other": ["x"]})
    assert set(flat.edges) == set(deep.edges) and flat.nodes["circle"]["depth"] == 3
    with pytest.raises(ValueError, match="more than once"):
        load_hierarchy({"top": ["a"], "a": ["b"], "b": ["a"]})
    with pytest.raises(ValueError, match="'a'.*list of names"):
        load_hierarchy({"a": 3})
    with pytest.raises(ValueError, match="missing.*'zzz'"):
        validate_hierarchy(graph, names + ["zzz"])
    with pytest.raises(ValueError, match="not dataset classes"):
        validate_hierarchy(graph, names[:-1])
    meta = SimpleNamespace(name="vg", predicate_classes=names, hierarchy=None)
    assert hierarchy_from_metadata(meta) == vg
    meta2 = SimpleNamespace(name="toy", predicate_classes=["__background__", "x"], hierarchy={"predicates": {"g": ["x"]}})
    assert hierarchy_from_metadata(meta2) == {"g": ["x"]}
    with pytest.raises(ValueError, match="HIERARCHY_FILE"):
        hierarchy_from_metadata(SimpleNamespace(name="toy", predicate_classes=["__background__", "x"], hierarchy=None))


def test_from_config_with_vg150_predicates():
    names = ["__background__"] + [p for ps in vg150_predicate_hierarchy().values() for p in ps]
    meta = SimpleNamespace(name="vg", predicate_classes=names, hierarchy=None)
    cfg = get_cfg()
    kw = HypHierarchyHead.from_config(cfg, meta, 32)
    head = HypHierarchyHead(**kw)
    assert head.super_names == ["geometric", "misc", "possessive", "semantic"]
    assert head.super_names[int(head.predicate_parents[names.index("riding") - 1])] == "semantic"
    assert head.curvature == 0.1 and head.clip_r == 2.3
