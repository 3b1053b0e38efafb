"""Pair proposal, overlap filtering and training-time pair sampling."""
import pytest
import torch

from sgg.modeling.relation.pairs import (
    RelationPairSampler,
    assign_labels_by_iou,
    overlap_matrix,
    propose_pairs,
)


def _boxes():
    # 0 and 1 overlap, 2 is far away, 3 touches nothing but contains nothing
    return torch.tensor(
        [[0, 0, 10, 10], [5, 5, 15, 15], [50, 50, 60, 60], [100, 0, 110, 5]], dtype=torch.float32
    )


@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_all_ordered_pairs(n):
    boxes = torch.rand(n, 4) * 10
    boxes[:, 2:] += boxes[:, :2] + 1
    pairs = propose_pairs(boxes)
    assert pairs.shape == (n * (n - 1), 2) and pairs.dtype == torch.long
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert len({tuple(p) for p in pairs.tolist()}) == n * (n - 1)


def test_overlap_filter():
    pairs = propose_pairs(_boxes(), require_overlap=True)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 0)]


def test_overlap_uses_plus_one_convention():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [10.0, 0.0, 20.0, 10.0], [10.5, 0.0, 20.0, 10.0],
                          [12.0, 0.0, 20.0, 10.0]])
    m = overlap_matrix(boxes)
    # a shared edge pixel (x2 == x1') and a half-pixel gap overlap; a 2-pixel gap does not
    assert m[0, 1] and m[1, 0] and m[0, 2] and not m[0, 3] and m.diagonal().all()


def _gt_relations():
    # pair (0, 1) annotated twice with different predicates, (2, 3) once
    return torch.tensor([[0, 1, 5], [0, 1, 7], [2, 3, 2]])


def test_gt_box_sampling_labels_and_budget():
    sampler = RelationPairSampler(batch_size_per_image=8, positive_fraction=0.5)
    out = sampler.sample_gt_boxes(_boxes(), _gt_relations(), torch.Generator().manual_seed(0))
    pairs = [tuple(p) for p in out.pair_idx.tolist()]
    labels = dict(zip(pairs, out.rel_labels.tolist()))
    assert len(pairs) == 8 and len(set(pairs)) == 8  # budget filled, no duplicate pair
    assert out.num_foreground == 2
    assert labels[(0, 1)] in (5, 7) and labels[(2, 3)] == 2
    assert all(lbl == 0 for p, lbl in labels.items() if p not in {(0, 1), (2, 3)})
    assert all(i != j for i, j in pairs)
    # foreground rows come first
    assert out.rel_labels[:2].gt(0).all() and out.rel_labels[2:].eq(0).all()


def test_one_predicate_per_pair_is_random_and_seeded():
    sampler = RelationPairSampler(batch_size_per_image=16, positive_fraction=0.5)
    rels = _gt_relations()
    chosen = set()
    for seed in range(20):
        out = sampler.sample_gt_boxes(_boxes(), rels, torch.Generator().manual_seed(seed))
        labels = dict(zip(map(tuple, out.pair_idx.tolist()), out.rel_labels.tolist()))
        chosen.add(labels[(0, 1)])
    assert chosen == {5, 7}
    a = sampler.sample_gt_boxes(_boxes(), rels, torch.Generator().manual_seed(3))
    b = sampler.sample_gt_boxes(_boxes(), rels, torch.Generator().manual_seed(3))
    assert torch.equal(a.pair_idx, b.pair_idx) and torch.equal(a.rel_labels, b.rel_labels)


def test_foreground_cap_and_budget_many_relations():
    n = 12
    boxes = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 4) * 3
    boxes[:, 2:] += 2
    rels = propose_pairs(boxes)[:40]
    rels = torch.cat([rels, torch.randint(1, 6, (40, 1))], 1)
    sampler = RelationPairSampler(batch_size_per_image=32, positive_fraction=0.25)
    out = sampler.sample_gt_boxes(boxes, rels, torch.Generator().manual_seed(1))
    assert len(out.pair_idx) == 32
    assert out.num_foreground == 8  # int(32 * 0.25)
    fg_pairs = {tuple(p) for p in rels[:, :2].tolist()}
    for (i, j), lbl in zip(out.pair_idx.tolist(), out.rel_labels.tolist()):
        assert (lbl > 0) == ((i, j) in fg_pairs)


def test_gt_sampling_overlap_only_background():
    sampler = RelationPairSampler(batch_size_per_image=64, require_box_overlap=True)
    out = sampler.sample_gt_boxes(_boxes(), torch.tensor([[2, 3, 4]]))
    pairs = sorted(map(tuple, out.pair_idx.tolist()))
    # positives are kept even without overlap; background only among overlapping boxes
    assert pairs == [(0, 1), (1, 0), (2, 3)]


def test_gt_sampling_rejects_bad_index():
    with pytest.raises(ValueError, match="outside"):
        RelationPairSampler().sample_gt_boxes(_boxes(), torch.tensor([[0, 9, 1]]))


def test_assign_labels_by_iou():
    gt = torch.tensor([[0, 0, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
    props = torch.tensor([[0, 0, 10, 9], [0, 0, 4, 4], [21, 21, 30, 30]], dtype=torch.float32)
    assert assign_labels_by_iou(props, gt, torch.tensor([3, 8])).tolist() == [3, 0, 8]


def test_detection_sampling_matches_iou_and_label():
    gt_boxes = torch.tensor([[0, 0, 10, 10], [20, 0, 30, 10]], dtype=torch.float32)
    gt_labels = torch.tensor([1, 2])
    gt_rels = torch.tensor([[0, 1, 3]])
    # proposals: 3 good copies of gt0, 2 good copies of gt1, one gt0 copy with the wrong label,
    # one far-away background proposal
    props = torch.tensor(
        [[0, 0, 10, 10], [0, 0, 10, 9], [1, 0, 10, 10], [20, 0, 30, 10], [20, 0, 29, 10],
         [0, 0, 9, 10], [60, 60, 70, 70]], dtype=torch.float32,
    )
    labels = torch.tensor([1, 1, 1, 2, 2, 2, 0])
    sampler = RelationPairSampler(batch_size_per_image=20, positive_fraction=0.5, num_sample_per_gt_rel=4)
    out = sampler.sample_detections(props, labels, gt_boxes, gt_labels, gt_rels, torch.Generator().manual_seed(0))
    fg = [tuple(p) for p, lbl in zip(out.pair_idx.tolist(), out.rel_labels.tolist()) if lbl > 0]
    assert len(fg) == 4  # 3 x 2 = 6 candidate pairs, capped at 4
    assert all(i in (0, 1, 2) and j in (3, 4) for i, j in fg)
    assert set(out.rel_labels[out.rel_labels > 0].tolist()) == {3}
    bg = [tuple(p) for p, lbl in zip(out.pair_idx.tolist(), out.rel_labels.tolist()) if lbl == 0]
    # background pairs only among proposals with a foreground label, never a fg candidate pair
    assert all(6 not in p for p in bg)
    assert not set(bg) & {(i, j) for i in (0, 1, 2) for j in (3, 4)}
    # 6 fg-labelled proposals -> 30 ordered pairs - 6 fg candidates = 24 bg; budget 20 - 4 fg = 16
    assert len(bg) == 16 and len(out.pair_idx) == 20
