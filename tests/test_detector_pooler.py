"""BoxPooler: detectron2 FPN level assignment and equality with direct roi_align calls."""

import math
from collections import OrderedDict

import pytest
import torch
from torchvision.ops import roi_align

from sgg.modeling.detector.pooler import BoxPooler, assign_boxes_to_levels


def _square(side: float, x0: float = 0.0) -> list:
    return [x0, 0.0, x0 + side, side]


def test_level_assignment_hand_computed():
    # sqrt(area): 224 -> 4, 112 -> 3, 448 -> 5, 56 -> 2, 20 -> floor(4 - 3.49) = 0 -> clamp 2,
    # 1000 -> floor(4 + 2.16) = 6 -> clamp 5, 223.9 -> floor(3.9997) = 3, 111 -> floor(2.987) = 2
    sides = [224, 112, 448, 56, 20, 1000, 223.9, 111]
    boxes = torch.tensor([_square(s) for s in sides])
    lv = assign_boxes_to_levels(boxes, min_level=2, max_level=5)
    assert lv.tolist() == [2, 1, 3, 0, 0, 3, 1, 0]
    # a non-square box uses sqrt(w * h): 448 x 112 -> sqrt = 224 -> level 4
    assert assign_boxes_to_levels(torch.tensor([[0.0, 0.0, 448.0, 112.0]]), 2, 5).tolist() == [2]
    # other canonical constants: level = floor(3 + log2(64 / 32)) = 4 -> index 4 - 3 = 1
    lv = assign_boxes_to_levels(torch.tensor([_square(64)]), 3, 5, canonical_box_size=32, canonical_level=3)
    assert lv.tolist() == [1]


def _pyramid(batch: int = 2, channels: int = 3, size: int = 256):
    scales = [1 / 4, 1 / 8, 1 / 16, 1 / 32]
    maps = [torch.randn(batch, channels, int(size * s), int(size * s)) for s in scales]
    return scales, maps


def test_pooled_values_equal_direct_roi_align_on_assigned_level():
    scales, maps = _pyramid()
    pooler = BoxPooler(output_size=5, scales=scales, sampling_ratio=2)
    boxes = [
        torch.tensor([[10.0, 12.0, 40.0, 50.0], [0.0, 0.0, 250.0, 240.0], [30.0, 30.0, 150.0, 140.0]]),
        torch.tensor([[5.0, 5.0, 100.0, 90.0], [60.0, 70.0, 64.0, 75.0]]),
    ]
    out = pooler(maps, boxes)
    assert out.shape == (5, 3, 5, 5)
    row = 0
    for img, bxs in enumerate(boxes):
        for box in bxs:
            side = math.sqrt(float((box[2] - box[0]) * (box[3] - box[1])))
            level = min(max(math.floor(4 + math.log2(side / 224 + 1e-8)), 2), 5)
            roi = torch.cat([torch.tensor([float(img)]), box])[None]
            ref = roi_align(
                maps[level - 2], roi, 5, spatial_scale=2.0**-level, sampling_ratio=2, aligned=True
            )
            torch.testing.assert_close(out[row : row + 1], ref)
            row += 1
    # boxes of several levels were exercised
    lv = assign_boxes_to_levels(torch.cat(boxes), 2, 5)
    assert len(set(lv.tolist())) >= 3


def test_dict_input_selects_in_features_and_ignores_extra_level():
    scales, maps = _pyramid(batch=1)
    feats = OrderedDict((f"p{i + 2}", m) for i, m in enumerate(maps))
    feats["p6"] = torch.randn(1, 3, 4, 4)
    pooler = BoxPooler(7, scales, in_features=["p2", "p3", "p4", "p5"])
    boxes = [torch.tensor([[3.0, 4.0, 90.0, 120.0]])]
    torch.testing.assert_close(pooler(feats, boxes), pooler(maps, boxes))
    with pytest.raises(ValueError, match="4 scales"):
        BoxPooler(7, scales)(feats, boxes)  # 5 maps, no in_features to select from
    with pytest.raises(KeyError, match="p2"):
        pooler(OrderedDict(list(feats.items())[1:]), boxes)


def test_pool_all_levels_concatenates_every_level_then_reduces():
    scales, maps = _pyramid(batch=1, channels=2)
    pooler = BoxPooler(3, scales, pool_all_levels=True, in_channels=2)
    boxes = [torch.tensor([[10.0, 10.0, 80.0, 60.0], [0.0, 0.0, 200.0, 200.0]])]
    out = pooler(maps, boxes)
    rois = torch.cat([torch.zeros(2, 1), boxes[0]], dim=1)
    cat = torch.cat([roi_align(m, rois, 3, s, 2, True) for m, s in zip(maps, scales)], dim=1)
    assert cat.shape == (2, 8, 3, 3)
    torch.testing.assert_close(out, pooler.reduce_channel(cat))
    assert out.shape == (2, 2, 3, 3)
    with pytest.raises(ValueError, match="in_channels"):
        BoxPooler(3, scales, pool_all_levels=True)


def test_gradient_reaches_features_and_bad_scales_rejected():
    scales, maps = _pyramid(batch=1)
    maps = [m.requires_grad_() for m in maps]
    out = BoxPooler(4, scales)(maps, [torch.tensor([[0.0, 0.0, 30.0, 30.0], [0.0, 0.0, 460.0, 460.0]])])
    out.sum().backward()
    assert maps[0].grad.abs().sum() > 0 and maps[3].grad.abs().sum() > 0
    assert maps[1].grad is None or maps[1].grad.abs().sum() == 0  # no box was assigned to P3
    with pytest.raises(ValueError, match="power of 1/2"):
        BoxPooler(7, [1 / 3])
    with pytest.raises(ValueError, match="consecutive"):
        BoxPooler(7, [1 / 4, 1 / 16])


def test_fast_cpu_backward_equals_torchvision():
    """sgg's RoIAlign: torchvision's forward values and its gradient (up to float addition order),
    for boxes inside, across the border and wholly outside the map, NCHW and channels-last."""
    from sgg.modeling.detector.roi_align import roi_align as fast_roi_align

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 13, 17, generator=g)
    xy = torch.rand(40, 2, generator=g) * 90 - 10
    rois = torch.cat([torch.randint(0, 2, (40, 1), generator=g).float(), xy, xy + torch.rand(40, 2, generator=g) * 60], 1)
    rois[:3, 1:] = torch.tensor([[0.0, 0.0, 67.0, 51.0], [-30.0, -30.0, -10.0, -5.0], [60.0, 45.0, 80.0, 60.0]])
    grad_out = torch.randn(40, 6, 7, 7, generator=g)
    ref_in = x.clone().requires_grad_()
    ref = roi_align(ref_in, rois, 7, 0.25, 2, aligned=True)
    (ref_grad,) = torch.autograd.grad(ref, ref_in, grad_out)
    assert ref_grad[1].abs().sum() > 0  # the second image received gradient
    for layout in (torch.contiguous_format, torch.channels_last):
        inp = x.clone().to(memory_format=layout).requires_grad_()
        out = fast_roi_align(inp, rois, 7, 0.25, 2)
        assert torch.equal(out, ref)
        (grad,) = torch.autograd.grad(out, inp, grad_out)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-5)
    # bfloat16 input (autocast): computed in float32 like torchvision's autocast wrapper, gradient in bfloat16
    inp = x.clone().bfloat16().requires_grad_()
    out = fast_roi_align(inp, rois, 7, 0.25, 2)
    assert out.dtype == torch.bfloat16
    (grad,) = torch.autograd.grad(out, inp, grad_out.bfloat16())
    assert grad.dtype == torch.bfloat16
