"""Torchvision Faster R-CNN backend: build, losses, detections contract, overfit, weights I/O."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sgg.config import get_cfg
from sgg.modeling.detector import (
    ARCH_PRESETS,
    Detections,
    DetectorWeightsError,
    TorchvisionDetector,
    build_detector,
    load_detector_weights,
)
from sgg.structures import ImageSample, SceneGraphRecord

LOSS_KEYS = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg"}
# tiny but complete settings: few proposals / RoIs, narrow FPN and box head
TINY = dict(
    fpn_channels=32,
    mlp_head_dim=64,
    rpn_pre_nms_top_n=(100, 100),
    rpn_post_nms_top_n=(50, 50),
    box_batch_size_per_image=32,
    rpn_batch_size_per_image=64,
    score_thresh=0.0,
    detections_per_img=20,
)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _sample(boxes, labels, size=(64, 64), colors=None, name="img.jpg"):
    """An image with filled rectangles (one colour per class) and its GT."""
    h, w = size
    img = torch.full((3, h, w), 0.5)
    palette = {1: (1.0, 0.0, 0.0), 2: (0.0, 0.0, 1.0), 3: (0.0, 1.0, 0.0)}
    for (x1, y1, x2, y2), lab in zip(boxes, labels):
        img[:, int(y1) : int(y2), int(x1) : int(x2)] = torch.tensor(palette[lab])[:, None, None]
    rec = SceneGraphRecord(0, name, w, h, np.array(boxes, np.float32), np.array(labels), np.zeros((0, 3)))
    return ImageSample(
        img,
        rec,
        torch.tensor(boxes, dtype=torch.float32),
        torch.tensor(labels),
        torch.zeros(0, 3, dtype=torch.long),
        (1.0, 1.0),
    )


def _batch():
    return [
        _sample([[8, 8, 30, 40], [36, 20, 60, 50]], [1, 2], name="a.jpg"),
        _sample([[10, 30, 50, 60]], [3], size=(64, 48), name="b.jpg"),
    ]


@pytest.mark.parametrize("arch", sorted(ARCH_PRESETS))
def test_every_arch_trains_and_detects(arch):
    model = TorchvisionDetector(num_classes=4, arch=arch, **TINY)
    assert model.box_feature_dim == 64 and model.fpn_channels == 32 and model.num_classes == 4
    assert not any("FrozenBatchNorm" in type(m).__name__ for m in model.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    losses = model(_batch())
    assert set(losses) == LOSS_KEYS
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values())
    sum(losses.values()).backward()
    assert model.box_head.fc6.weight.grad.abs().sum() > 0
    assert model.rpn.head.conv[0][0].weight.grad.abs().sum() > 0
    stem = next(p for n, p in model.backbone.named_parameters() if p.requires_grad)
    assert stem.grad is not None and stem.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        dets = model(_batch())
    assert len(dets) == 2 and all(isinstance(d, Detections) for d in dets)


def test_detections_contract_and_frozen_use_in_train_mode():
    model = TorchvisionDetector(num_classes=4, arch="toy_resnet18_fpn", **TINY).eval()
    batch = _batch()
    with torch.no_grad():
        images, sizes = model.preprocess(batch)
        feats = model.extract_features(images)
        assert list(feats) == ["p3", "p4", "p5", "p6"]
        dets = model.detect(feats, sizes)
        model.train()  # the relation stage keeps the frozen detector in train mode: detect must still infer
        dets_train_mode = model.detect(feats, sizes)
    for d, d2, (h, w) in zip(dets, dets_train_mode, sizes):
        n = len(d)
        assert 0 < n <= 20
        assert d.class_logits.shape == (n, 4) and d.boxes_per_cls.shape == (n, 4, 4)
        assert d.labels.min() >= 1 and d.labels.max() <= 3
        idx = torch.arange(n)
        torch.testing.assert_close(d.scores, F.softmax(d.class_logits, -1)[idx, d.labels])
        torch.testing.assert_close(d.boxes, d.boxes_per_cls[idx, d.labels])
        assert torch.all(d.scores[:-1] >= d.scores[1:])
        assert d.boxes[:, [0, 2]].max() <= w and d.boxes[:, [1, 3]].max() <= h and d.boxes.min() >= 0
        torch.testing.assert_close(d.boxes, d2.boxes)
        torch.testing.assert_close(d.class_logits, d2.class_logits)


def test_classify_boxes_is_batch_consistent():
    model = TorchvisionDetector(num_classes=4, arch="toy_resnet18_fpn", **TINY).eval()
    batch = _batch()
    with torch.no_grad():
        images, _ = model.preprocess(batch)
        feats = model.extract_features(images)
        boxes = [b.gt_boxes for b in batch]
        logits = model.classify_boxes(feats, boxes)
        assert [tuple(lg.shape) for lg in logits] == [(2, 4), (1, 4)]
        single = model.classify_boxes({k: v[1:] for k, v in feats.items()}, boxes[1:])[0]
    torch.testing.assert_close(logits[1], single)


def test_preprocess_normalises_and_pads_to_32():
    model = TorchvisionDetector(num_classes=4, arch="toy_resnet18_fpn", **TINY)
    a, b = _sample([[1, 1, 9, 9]], [1], size=(50, 70)), _sample([[1, 1, 9, 9]], [2], size=(64, 40))
    images, sizes = model.preprocess([a, b])
    assert images.shape == (2, 3, 64, 96) and sizes == [(50, 70), (64, 40)]
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(images[0, :, :50, :70], (a.image - mean[:, None, None]) / std[:, None, None])
    assert images[0, :, 50:].abs().sum() == 0 and images[1, :, :, 40:].abs().sum() == 0
    with pytest.raises(ValueError, match=r"c.jpg.*gt_boxes\[0\]"):
        bad = _sample([[1, 1, 9, 9]], [1], name="c.jpg")
        bad.gt_boxes = torch.tensor([[5.0, 5.0, 5.0, 9.0]])
        model([bad])
    with pytest.raises(ValueError, match="gt_labels"):
        bad = _sample([[1, 1, 9, 9]], [1])
        bad.gt_labels = torch.tensor([4])
        model([bad])


def test_few_iterations_on_two_images_lower_the_loss():
    model = TorchvisionDetector(num_classes=4, arch="toy_resnet18_fpn", **TINY)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    batch = _batch()
    history = []
    for _ in range(12):
        losses = model(batch)
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(total.item())
    assert np.mean(history[-3:]) < 0.6 * np.mean(history[:3]), history


def test_weights_round_trip_and_mismatch_errors(tmp_path):
    model = TorchvisionDetector(num_classes=4, arch="toy_resnet18_fpn", **TINY).eval()
    path = tmp_path / "det.pth"
    torch.save(model.state_dict(), path)
    other = TorchvisionDetector(num_classes=4, arch="toy_resnet18_fpn", **TINY).eval()
    assert not torch.equal(other.box_head.fc6.weight, model.box_head.fc6.weight)
    load_detector_weights(other, str(path))
    with torch.no_grad():
        a, b = model(_batch()), other(_batch())
    torch.testing.assert_close(a[0].boxes, b[0].boxes)
    torch.testing.assert_close(a[1].class_logits, b[1].class_logits)
    # a checkpoint {"model": state_dict} with "detector." prefixes (full toolkit model) loads too
    torch.save({"model": {f"detector.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "full.pth")
    load_detector_weights(other, str(tmp_path / "full.pth"))

    five = TorchvisionDetector(num_classes=5, arch="toy_resnet18_fpn", **TINY)
    with pytest.raises(
        DetectorWeightsError, match=r"box_predictor.cls_score.weight.*\(4, 64\).*\(5, 64\)"
    ) as e:
        load_detector_weights(five, str(path))
    assert "class count differs" in str(e.value) and "NUM_CLASSES = 5" in str(e.value)
    wide = TorchvisionDetector(num_classes=4, arch="toy_resnet18_fpn", **{**TINY, "mlp_head_dim": 32})
    with pytest.raises(DetectorWeightsError, match="box_head.fc6.weight"):
        load_detector_weights(wide, str(path))
    r50 = TorchvisionDetector(num_classes=4, arch="resnet18_fpn", **TINY)
    with pytest.raises(DetectorWeightsError, match="missing in file"):
        load_detector_weights(r50, str(path))
    with pytest.raises(FileNotFoundError, match="MODEL.DETECTOR.WEIGHTS"):
        load_detector_weights(model, str(tmp_path / "nope.pth"))


def test_build_from_config_with_preset_and_weights(tmp_path):
    cfg = get_cfg()
    cfg.merge_from_list(
        [
            "MODEL.DETECTOR.ARCH",
            "toy_resnet18_fpn",
            "MODEL.ROI_HEADS.NUM_CLASSES",
            4,
            "MODEL.ROI_BOX_HEAD.MLP_HEAD_DIM",
            64,
            "MODEL.DETECTOR.FPN_CHANNELS",
            32,
        ]
    )
    model = build_detector(cfg)
    assert isinstance(model, TorchvisionDetector)
    assert model.box_feature_dim == 64 and model.fpn_channels == 32
    assert model.rpn._post_nms_top_n == {"training": 300, "testing": 300}  # toy preset
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 128
    assert [a[0] for a in model.rpn.anchor_generator.sizes] == [16, 32, 64, 128]
    path = tmp_path / "w.pth"
    torch.save(model.state_dict(), path)
    cfg.merge_from_list(["MODEL.DETECTOR.WEIGHTS", str(path)])
    loaded = build_detector(cfg)
    torch.testing.assert_close(loaded.box_predictor.cls_score.weight, model.box_predictor.cls_score.weight)
    cfg.merge_from_list(["MODEL.ROI_HEADS.NUM_CLASSES", 6])
    with pytest.raises(DetectorWeightsError, match="class count"):
        build_detector(cfg)
    cfg = get_cfg()
    cfg.merge_from_list(
        ["MODEL.DETECTOR.ARCH", "toy_resnet18_fpn", "MODEL.DETECTOR.ANCHOR_SIZES", "((32,), (64,))"]
    )
    with pytest.raises(ValueError, match="ANCHOR_SIZES: 2 tuples but.*4 levels"):
        build_detector(cfg)
    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.DETECTOR.BACKEND", "mmdet"])
    with pytest.raises(KeyError, match="torchvision"):
        build_detector(cfg)


def test_toy_config_file_builds_the_toy_preset():
    import os

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(os.path.dirname(__file__), "..", "configs", "toy", "detector.yaml"))
    model = build_detector(cfg)
    assert model.arch == "toy_resnet18_fpn" and model.num_classes == 25
    assert model.box_feature_dim == 512 and model.fpn_channels == 128
    assert model.backbone.box_in_features == ["p3", "p4", "p5"]
    assert model.box_pooler.scales == (1 / 8, 1 / 16, 1 / 32)
    assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - 15.4) < 0.1  # design.md section 7
