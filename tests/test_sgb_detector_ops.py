"""maskrcnn-benchmark conventions of the ``sgb`` detector backend, checked against hand-derived values."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import nms as tv_nms

from sgg.data.mapper import resized_shape
from sgg.modeling.detector.sgb_backbone import FrozenBatchNorm2dNoEps, SGBResNetFPN
from sgg.modeling.detector.sgb_box_ops import (
    LegacyBoxCoder,
    clip_boxes_legacy,
    legacy_batched_nms,
    legacy_nms,
    remove_small_boxes_legacy,
)
from sgg.modeling.detector.sgb_pooler import SGBPooler, legacy_box_levels
from sgg.modeling.detector.sgb_rpn import LegacyAnchorGenerator, legacy_cell_anchors


def scalar_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list:
    """The C++ loop of maskrcnn-benchmark's CPU NMS, written out in float32 scalars."""
    f = np.float32
    order = np.argsort(-scores, kind="stable")
    supp = np.zeros(len(boxes), bool)
    areas = [(f(b[2]) - f(b[0]) + f(1)) * (f(b[3]) - f(b[1]) + f(1)) for b in boxes]
    for a, i in enumerate(order):
        if supp[i]:
            continue
        for j in order[a + 1:]:
            if supp[j]:
                continue
            w = max(f(0), min(f(boxes[i, 2]), f(boxes[j, 2])) - max(f(boxes[i, 0]), f(boxes[j, 0])) + f(1))
            h = max(f(0), min(f(boxes[i, 3]), f(boxes[j, 3])) - max(f(boxes[i, 1]), f(boxes[j, 1])) + f(1))
            inter = f(w * h)
            if f(inter / f(f(areas[i] + areas[j]) - inter)) >= f(thr):
                supp[j] = True
    return [int(i) for i in np.nonzero(~supp)[0]]


def test_nms_iou_exactly_at_threshold_is_suppressed_and_plus_one_areas():
    # widths with +1: 10 and 10, overlap 5 -> IoU = 50 / (100 + 100 - 50) = 1/3 exactly
    boxes = torch.tensor([[0, 0, 9, 4], [5, 0, 14, 4]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8])
    assert legacy_nms(boxes, scores, 1 / 3).tolist() == [0]
    # torchvision: no +1 (IoU 4.5/... < 1/3) and ">" -> both kept
    assert tv_nms(boxes, scores, 1 / 3).tolist() == [0, 1]


def test_nms_returns_index_order_and_caps_in_index_order():
    boxes = torch.tensor([[0, 0, 10, 10], [50, 50, 60, 60], [100, 0, 110, 10]], dtype=torch.float32)
    scores = torch.tensor([0.1, 0.9, 0.5])
    assert legacy_nms(boxes, scores, 0.5).tolist() == [0, 1, 2]  # ascending index, not score order
    assert legacy_nms(boxes, scores, 0.5, max_keep=2).tolist() == [0, 1]  # the first two in index order


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_equals_scalar_loop(seed):
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 40, size=(120, 2)).astype(np.float32)
    wh = rng.integers(0, 25, size=(120, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], 1)
    boxes[::7] += rng.random((len(boxes[::7]), 4)).astype(np.float32)  # some fractional boxes
    scores = np.round(rng.random(120), 2).astype(np.float32)  # many ties
    for thr in (0.3, 0.5, 0.7):
        got = legacy_nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr, block=16).tolist()
        assert got == scalar_nms(boxes, scores, thr)


def test_batched_nms_groups_independent_and_capped():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [30, 30, 40, 40]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    groups = torch.tensor([1, 1, 2, 2])
    assert legacy_batched_nms(boxes, scores, groups, 0.5).tolist() == [0, 2, 3]
    assert legacy_batched_nms(boxes, scores, groups, 0.5, max_keep_per_group=1).tolist() == [0, 2]


def test_box_coder_plus_one_convention():
    coder = LegacyBoxCoder((10.0, 10.0, 5.0, 5.0))
    boxes = torch.tensor([[10.0, 20.0, 29.0, 59.0]])  # w = 20, h = 40 with +1
    assert torch.equal(coder.decode(torch.zeros(1, 4), boxes), boxes)  # zero deltas give the box back
    # dw = 5 log 2 doubles the +1 width (20 -> 40) around the centre x1 + w/2 = 20: x1 = 0, x2 = 20 + 20 - 1
    out = coder.decode(torch.tensor([[0.0, 0.0, 5 * float(np.log(2.0)), 0.0]]), boxes)
    assert torch.allclose(out, torch.tensor([[0.0, 20.0, 39.0, 59.0]]), atol=1e-5)
    target = torch.tensor([[12.0, 18.0, 40.0, 70.0]])
    assert torch.allclose(coder.decode(coder.encode(target, boxes), boxes), target, atol=1e-4)
    huge = coder.decode(torch.tensor([[0.0, 0.0, 100.0, 0.0]]), boxes)  # dw clamped at log(1000/16)
    assert torch.allclose(huge[0, 2] - huge[0, 0] + 1, torch.tensor(20.0 * 1000 / 16), rtol=1e-5)


def test_clip_and_small_boxes_use_inclusive_pixels():
    clipped = clip_boxes_legacy(torch.tensor([[-5.0, -1.0, 120.0, 50.0]]), (40, 100))
    assert clipped.tolist() == [[0.0, 0.0, 99.0, 39.0]]  # [0, W-1] x [0, H-1]
    boxes = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.5, 3.0]])
    assert remove_small_boxes_legacy(boxes, 0).tolist() == [0]  # a 1-px box has +1 width 1


def test_legacy_anchors_of_sgb_level0():
    # SGB's published aspect ratios on the stride-4 level with size 32 (the values in SGB checkpoints)
    cell = legacy_cell_anchors(4, (32,), (0.23232838, 0.63365731, 1.28478321, 3.15089189))
    assert cell.tolist() == [[-30, -6, 33, 9], [-18, -10, 21, 13], [-14, -18, 17, 21], [-6, -22, 9, 25]]
    gen = LegacyAnchorGenerator(((32,), (64,)), (4, 8), (0.5, 1.0, 2.0))
    level0 = gen([(2, 3), (1, 2)])[0]
    assert level0.shape == (2 * 3 * 3, 4)
    # (y, x, anchor) order: the second cell is x + 4
    assert torch.equal(level0[3:6], level0[0:3] + torch.tensor([4.0, 0.0, 4.0, 0.0]))
    assert torch.equal(level0[9:12], level0[0:3] + torch.tensor([0.0, 4.0, 0.0, 4.0]))


def test_frozen_bn_has_no_eps():
    bn = FrozenBatchNorm2dNoEps(1)
    bn.running_var.fill_(4.0)
    bn.running_mean.fill_(1.0)
    x = torch.full((1, 1, 1, 1), 3.0)
    assert bn(x).item() == 1.0  # (3 - 1) / sqrt(4), exactly


def test_resnext_layout_and_keys():
    net = SGBResNetFPN("R-101-FPN", out_channels=8, num_groups=4, width_per_group=1, stride_in_1x1=False,
                       stem_out_channels=4, res2_out_channels=8)
    keys = net.state_dict()
    assert "body.layer3.22.conv2.weight" in keys and "body.layer3.23.conv2.weight" not in keys
    assert keys["body.layer2.0.conv2.weight"].shape == (8, 2, 3, 3)  # groups=4
    assert net.body.layer2[0].conv2.stride == (2, 2) and net.body.layer2[0].conv1.stride == (1, 1)
    assert "body.layer1.0.downsample.0.weight" in keys and "body.layer1.1.downsample.0.weight" not in keys
    out = net(torch.zeros(1, 3, 64, 96))
    assert [tuple(v.shape[-2:]) for v in out.values()] == [(16, 24), (8, 12), (4, 6), (2, 3), (1, 2)]


def test_pooler_level_mapping_plus_one_area():
    # sqrt(area) = 224 -> level 4; 223 x 223 (+1) sits at 224 -> 4; 111+1 = 112 -> level 3
    boxes = torch.tensor([[0.0, 0.0, 223.0, 223.0], [0.0, 0.0, 111.0, 111.0], [0, 0, 5, 5], [0, 0, 2000, 2000]])
    assert legacy_box_levels(boxes, 2, 5).tolist() == [2, 1, 0, 3]
    pooler = SGBPooler(2, (0.25, 0.125), 2)
    feats = {"p2": torch.arange(64.0).view(1, 1, 8, 8), "p3": torch.zeros(1, 1, 4, 4)}
    out = pooler(feats, [torch.tensor([[0.0, 0.0, 3.0, 3.0]])])
    # aligned=False: box [0, 3] at scale 1/4 is [0, 0.75], widened to 1 pixel: samples at 0.125 and
    # 0.375 on both axes of the map 8y + x -> 8 * 0.25 + 0.25 (aligned=True would sample at < 0: 0)
    assert out.shape == (1, 1, 2, 2) and out[0, 0, 0, 0].item() == 2.25


@pytest.mark.parametrize(
    "wh, expected",
    [((1470, 1329), (600, 663)), ((400, 300), (600, 800)), ((480, 240), (500, 1000)), ((800, 600), (600, 800))],
)
def test_sgb_resize_rule_truncates(wh, expected):
    w, h = wh
    assert resized_shape(h, w, 600, 1000, "sgb") == expected
    if wh == (1470, 1329):
        assert resized_shape(h, w, 600, 1000, "round") == (600, 664)  # the rule it replaces
