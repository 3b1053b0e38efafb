"""detectron2 adapter: runs only where detectron2 is installed; otherwise the clear-error path is tested."""

import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sgg.config import get_cfg
from sgg.modeling.detector import Detections, build_detector
from sgg.structures import ImageSample, SceneGraphRecord

HAS_D2 = importlib.util.find_spec("detectron2") is not None


def _cfg(num_classes=4):
    cfg = get_cfg()
    cfg.merge_from_list(
        [
            "MODEL.DETECTOR.BACKEND",
            "detectron2",
            "MODEL.ROI_HEADS.NUM_CLASSES",
            num_classes,
            "MODEL.DETECTOR.D2_CONFIG_FILE",
            "model_zoo:COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml",
            "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
            0.0,
        ]
    )
    return cfg


@pytest.mark.skipif(HAS_D2, reason="detectron2 is installed: the missing-package error cannot occur")
def test_missing_detectron2_gives_install_instructions():
    with pytest.raises(ImportError, match="not on PyPI.*github.com/facebookresearch/detectron2"):
        build_detector(_cfg())


def _sample(name="a.jpg"):
    boxes = [[8.0, 8.0, 40.0, 50.0], [30.0, 20.0, 60.0, 60.0]]
    rec = SceneGraphRecord(0, name, 64, 64, np.array(boxes, np.float32), np.array([1, 3]), np.zeros((0, 3)))
    return ImageSample(
        torch.rand(3, 64, 64),
        rec,
        torch.tensor(boxes),
        torch.tensor([1, 3]),
        torch.zeros(0, 3, dtype=torch.long),
        (1.0, 1.0),
    )


def test_detectron2_adapter_contract():
    pytest.importorskip("detectron2")
    model = build_detector(_cfg())
    assert model.num_classes == 4
    losses = model([_sample(), _sample("b.jpg")])
    assert {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        images, sizes = model.preprocess([_sample()])
        feats = model.extract_features(images)
        dets = model.detect(feats, sizes)
        logits = model.classify_boxes(feats, [_sample().gt_boxes])
        pooled = model.box_pooler(feats, [_sample().gt_boxes])
        cls_logits, deltas = model.box_predictor(model.box_head(pooled))
    assert pooled.shape == (2, model.fpn_channels, model.pooler_resolution, model.pooler_resolution)
    assert cls_logits.shape == (2, 4) and deltas.shape == (2, 16)
    assert logits[0].shape == (2, 4)
    d = dets[0]
    assert isinstance(d, Detections) and d.class_logits.shape[1] == 4 and d.boxes_per_cls.shape[1:] == (4, 4)
    idx = torch.arange(len(d))
    torch.testing.assert_close(d.scores, F.softmax(d.class_logits, -1)[idx, d.labels])
    torch.testing.assert_close(d.boxes, d.boxes_per_cls[idx, d.labels])
    assert len(d) == 0 or d.labels.min() >= 1
