"""Box encoding, union boxes, spatial masks and the relation feature extractors."""
from collections import OrderedDict
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torchvision.ops import roi_align

from sgg.modeling.relation.features import (
    ObjectFeatureExtractor,
    SpatialMaskEncoder,
    UnionFeatureExtractor,
    encode_box_info,
    spatial_masks,
    union_boxes,
)


def test_encode_box_info_hand_computed():
    boxes = torch.tensor([[0.0, 0.0, 9.0, 19.0], [10.0, 20.0, 19.0, 39.0]])
    enc = encode_box_info(boxes, (40, 20))  # (H, W)
    # w = 10, h = 20, cx = 5, cy = 10
    expected0 = [10 / 20, 20 / 40, 5 / 20, 10 / 40, 0.0, 0.0, 9 / 20, 19 / 40, 200 / 800]
    # w = 10, h = 20, cx = 15, cy = 30
    expected1 = [0.5, 0.5, 15 / 20, 30 / 40, 10 / 20, 20 / 40, 19 / 20, 39 / 40, 0.25]
    assert torch.allclose(enc, torch.tensor([expected0, expected1]))


def test_union_boxes():
    boxes = torch.tensor([[0.0, 5.0, 10.0, 10.0], [3.0, 0.0, 20.0, 7.0], [1.0, 1.0, 2.0, 2.0]])
    pairs = torch.tensor([[0, 1], [2, 0], [1, 2]])
    expected = torch.tensor([[0.0, 0.0, 20.0, 10.0], [0.0, 1.0, 10.0, 10.0], [1.0, 0.0, 20.0, 7.0]])
    assert torch.equal(union_boxes(boxes, pairs), expected)


def test_spatial_mask_hand_checked():
    boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [5.0, 3.0, 9.0, 9.0]])
    masks = spatial_masks(boxes, torch.tensor([[0, 1]]), image_size=(10, 10), canvas_size=5)
    assert masks.shape == (1, 2, 5, 5)
    # subject scaled to (0, 0, 2, 2): rows/cols 0..2
    subj = torch.zeros(5, 5)
    subj[0:3, 0:3] = 1
    # object scaled to (2.5, 1.5, 4.5, 4.5): cols floor(2.5)=2..ceil(4.5)=5 -> 2..4, rows 1..4
    obj = torch.zeros(5, 5)
    obj[1:5, 2:5] = 1
    assert torch.equal(masks[0, 0], subj)
    assert torch.equal(masks[0, 1], obj)


def test_spatial_mask_non_square_image_scales_axes_separately():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 2.0]])
    masks = spatial_masks(boxes, torch.tensor([[0, 0]]), image_size=(4, 20), canvas_size=4)
    # x scale 4/20 -> (0, 0.. 2), y scale 4/4 -> rows 0..2
    expected = torch.zeros(4, 4)
    expected[0:3, 0:3] = 1
    assert torch.equal(masks[0, 0], expected)


def test_mask_encoder_shape_and_bn_momentum():
    enc = SpatialMaskEncoder(out_channels=16, canvas_size=27)
    out = enc(torch.rand(3, 2, 27, 27))
    assert out.shape == (3, 16, 7, 7)
    bns = [m for m in enc.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [bn.momentum for bn in bns] == [0.01, 0.01]
    assert SpatialMaskEncoder.output_size(27) == 7 and SpatialMaskEncoder.output_size(15) == 4


def _fake_detector(channels=8, resolution=7, dim=32):
    def pooler(features, boxes):
        return roi_align(features["p2"], [b.float() for b in boxes], resolution, spatial_scale=0.25,
                         sampling_ratio=2, aligned=True)

    box_head = nn.Sequential(nn.Flatten(), nn.Linear(channels * resolution ** 2, dim), nn.ReLU(),
                             nn.Linear(dim, dim), nn.ReLU())
    return SimpleNamespace(box_pooler=pooler, box_head=box_head, box_feature_dim=dim,
                           fpn_channels=channels, pooler_resolution=resolution)


def test_extractors_copy_box_head_and_train():
    det = _fake_detector()
    det.box_head.requires_grad_(False)  # a frozen detector head
    obj_ext = ObjectFeatureExtractor.from_detector(det)
    union_ext = UnionFeatureExtractor.from_detector(det, canvas_size=27)
    for ext in (obj_ext, union_ext):
        assert ext.box_head is not det.box_head
        for p, q in zip(ext.box_head.parameters(), det.box_head.parameters()):
            assert torch.equal(p, q) and p.requires_grad and p.data_ptr() != q.data_ptr()
    features = OrderedDict(p2=torch.rand(2, 8, 16, 16))
    boxes = [torch.tensor([[0.0, 0.0, 20.0, 20.0], [30.0, 30.0, 60.0, 60.0], [5.0, 40.0, 25.0, 60.0]]),
             torch.tensor([[10.0, 10.0, 40.0, 40.0], [0.0, 0.0, 63.0, 63.0]])]
    pairs = [torch.tensor([[0, 1], [2, 0]]), torch.tensor([[1, 0]])]
    obj = obj_ext(features, boxes)
    uni = union_ext(features, boxes, pairs, [(64, 64), (64, 64)])
    assert obj.shape == (5, 32) and uni.shape == (3, 32)
    # same head weights: object features of a box equal the plain detector head output
    ref = det.box_head(det.box_pooler(features, boxes))
    assert torch.allclose(obj, ref)
    (obj.sum() + uni.sum()).backward()
    assert all(p.grad is not None for p in obj_ext.box_head.parameters())
    assert union_ext.mask_encoder.layers[0].weight.grad is not None
    assert all(p.grad is None for p in det.box_head.parameters())


def test_union_extractor_empty_pairs_and_resolution_check():
    det = _fake_detector()
    union_ext = UnionFeatureExtractor.from_detector(det)
    features = OrderedDict(p2=torch.rand(1, 8, 16, 16))
    out = union_ext(features, [torch.tensor([[0.0, 0.0, 5.0, 5.0]])], [torch.zeros((0, 2), dtype=torch.long)],
                    [(64, 64)])
    assert out.shape == (0, 32)
    with pytest.raises(ValueError, match="canvas_size"):
        UnionFeatureExtractor.from_detector(det, canvas_size=33)


def test_union_features_in_chunks_equal_all_at_once():
    """In eval mode the union extractor works through the pairs in chunks: same rows, same order."""
    from sgg.modeling.detector.box_head import TwoFCBoxHead
    from sgg.modeling.detector.pooler import BoxPooler
    from sgg.modeling.relation.pairs import propose_pairs

    g = torch.Generator().manual_seed(0)
    ext = UnionFeatureExtractor(BoxPooler(7, [1 / 8, 1 / 16, 1 / 32], 2), TwoFCBoxHead(8, 7, 16), 16, 8, 7).eval()
    feats = [torch.randn(2, 8, s, s, generator=g) for s in (32, 16, 8)]
    boxes = []
    for n in (9, 6):
        xy = torch.rand(n, 2, generator=g) * 100
        boxes.append(torch.cat([xy, xy + 4 + torch.rand(n, 2, generator=g) * 150], 1))
    pairs = [propose_pairs(b) for b in boxes]
    with torch.no_grad():
        whole = ext(feats, boxes, pairs, [(256, 256)] * 2)
        ext.chunk_size = 7  # 72 + 30 pairs -> chunks within each image
        chunked = ext(feats, boxes, pairs, [(256, 256)] * 2)
    assert whole.shape == (9 * 8 + 6 * 5, 16)
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)
