"""SceneGraphRCNN with a fake detector and a fake relation head, in all three modes."""
import sys
import types
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import roi_align

from sgg.config import get_cfg
from sgg.modeling.auxiliary.base import AuxiliaryHead, AuxiliaryOutputs
from sgg.modeling.auxiliary.registry import AUX_HEAD_REGISTRY
from sgg.modeling.build import build_model
from sgg.modeling.heads.base import RelationHead, RelationHeadInputs, RelationHeadOutputs
from sgg.modeling.heads.registry import RELATION_HEAD_REGISTRY
from sgg.modeling.meta_arch import SceneGraphRCNN, mode_from_flags
from sgg.modeling.relation import (
    ObjectFeatureExtractor,
    RelationPairSampler,
    RelationPostProcessor,
    UnionFeatureExtractor,
)
from sgg.structures.image_sample import ImageSample
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord

C_OBJ, C_REL, DIM, CH, RES = 5, 4, 16, 8, 7
MODES = {"predcls": (True, True), "sgcls": (True, False), "sgdet": (False, False)}


# ----------------------------------------------------------------------------- fakes
@dataclass
class FakeDetections:
    boxes: Tensor
    labels: Tensor
    scores: Tensor
    class_logits: Tensor
    boxes_per_cls: Optional[Tensor] = None


class FakePooler(nn.Module):
    """Pools every box from p2 (stride 4), the shape contract of the detector's BoxPooler."""

    def forward(self, features, boxes):
        return roi_align(features["p2"], [b.float() for b in boxes], RES, spatial_scale=0.25,
                         sampling_ratio=2, aligned=True)


class FakePredictor(nn.Module):
    def __init__(self):
        super().__init__()
        self.cls_score = nn.Linear(DIM, C_OBJ)
        self.bbox_pred = nn.Linear(DIM, 4 * C_OBJ)

    def forward(self, x):
        return self.cls_score(x), self.bbox_pred(x)


class FakeDetector(nn.Module):
    """Tiny conv backbone with two FPN-like maps, pooler, 2-FC box head, linear predictor."""

    num_classes, box_feature_dim, pooler_resolution, fpn_channels = C_OBJ, DIM, RES, CH

    def __init__(self, num_detections=6):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, CH, 3, stride=4, padding=1), nn.BatchNorm2d(CH), nn.ReLU())
        self.down = nn.Conv2d(CH, CH, 3, stride=2, padding=1)
        self.box_pooler = FakePooler()
        self.box_head = nn.Sequential(nn.Flatten(), nn.Linear(CH * RES * RES, DIM), nn.ReLU(),
                                      nn.Linear(DIM, DIM), nn.ReLU())
        self.box_predictor = FakePredictor()
        self.num_detections = num_detections

    def preprocess(self, samples):
        device = self.down.weight.device
        sizes = [s.image_size for s in samples]
        h = max(32, -(-max(s[0] for s in sizes) // 32) * 32)
        w = max(32, -(-max(s[1] for s in sizes) // 32) * 32)
        images = torch.zeros(len(samples), 3, h, w, device=device)
        for i, s in enumerate(samples):
            images[i, :, : s.image_size[0], : s.image_size[1]] = (s.image.to(device) - 0.5) / 0.25
        return images, sizes

    def extract_features(self, images):
        p2 = self.stem(images)
        return OrderedDict(p2=p2, p3=self.down(p2))

    def classify_boxes(self, features, boxes):
        logits, _ = self.box_predictor(self.box_head(self.box_pooler(features, boxes)))
        return list(logits.split([len(b) for b in boxes]))

    def detect(self, features, image_sizes):
        g = torch.Generator().manual_seed(7)
        out = []
        for h, w in image_sizes:
            xy = torch.rand(self.num_detections, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
            wh = 6 + torch.rand(self.num_detections, 2, generator=g) * torch.tensor([w * 0.4, h * 0.4])
            boxes = torch.cat([xy, (xy + wh).minimum(torch.tensor([w - 1.0, h - 1.0]))], 1)
            out.append(boxes.to(features["p2"].device))
        logits = self.classify_boxes(features, out)
        dets = []
        for boxes, lg in zip(out, logits):
            scores, labels = torch.softmax(lg, 1)[:, 1:].max(1)
            per_cls = boxes[:, None, :].repeat(1, C_OBJ, 1) + torch.arange(C_OBJ)[None, :, None] * 0.5
            dets.append(FakeDetections(boxes, labels + 1, scores, lg, per_cls))
        return dets

    def forward(self, samples):
        images, sizes = self.preprocess(samples)
        features = self.extract_features(images)
        if not self.training:
            return self.detect(features, sizes)
        boxes = [s.gt_boxes for s in samples]
        logits, deltas = self.box_predictor(self.box_head(self.box_pooler(features, boxes)))
        labels = torch.cat([s.gt_labels for s in samples])
        return {"loss_cls": F.cross_entropy(logits, labels), "loss_box_reg": deltas.pow(2).mean()}


class FakeRelationHead(RelationHead):
    """Linear layers on union features + both objects' logits and features (test-only)."""

    def __init__(self, obj_feat_dim, union_feat_dim, num_obj_classes=C_OBJ, num_predicates=C_REL):
        super().__init__()
        self.num_obj_classes, self.num_predicates, self.rel_embed_dim = num_obj_classes, num_predicates, 12
        self.obj_cls = nn.Linear(obj_feat_dim, num_obj_classes)
        self.embed = nn.Linear(union_feat_dim + 2 * (num_obj_classes + obj_feat_dim), self.rel_embed_dim)
        self.rel_cls = nn.Linear(self.rel_embed_dim, num_predicates)

    @classmethod
    def from_config(cls, cfg, metadata, in_dims):
        return dict(obj_feat_dim=in_dims["obj_feat_dim"], union_feat_dim=in_dims["union_feat_dim"],
                    num_obj_classes=cfg.MODEL.ROI_HEADS.NUM_CLASSES,
                    num_predicates=cfg.MODEL.ROI_RELATION_HEAD.NUM_CLASSES)

    def forward(self, inputs: RelationHeadInputs) -> RelationHeadOutputs:
        obj_logits = self.obj_cls(inputs.obj_feats)
        if inputs.obj_logits is not None:
            obj_logits = obj_logits + torch.cat(inputs.obj_logits)
        if inputs.mode == "predcls":
            obj_logits = F.one_hot(torch.cat(inputs.obj_labels), self.num_obj_classes).float() * 2000 - 1000
        pairs = inputs.global_pair_idx()
        obj_rep = torch.cat([torch.softmax(obj_logits, 1), inputs.obj_feats], 1)
        x = torch.cat([inputs.union_feats, obj_rep[pairs[:, 0]], obj_rep[pairs[:, 1]]], 1)
        rel_embed = torch.relu(self.embed(x))
        rel_logits = self.rel_cls(rel_embed)
        losses = {}
        if inputs.rel_labels is not None:
            losses["loss_rel"] = F.cross_entropy(rel_logits, torch.cat(inputs.rel_labels))
            losses["loss_refine_obj"] = F.cross_entropy(obj_logits, torch.cat(inputs.obj_labels))
        return RelationHeadOutputs(
            rel_logits=rel_logits, obj_logits=obj_logits, obj_preds=obj_logits[:, 1:].argmax(1) + 1,
            rel_embed=rel_embed, losses=losses, extras={"embed_norm": rel_embed.norm(dim=1)},
        )


class FakeAuxHead(AuxiliaryHead):
    def __init__(self, rel_embed_dim, weight=0.1):
        super().__init__()
        self.proj = nn.Linear(rel_embed_dim, 2)
        self.weight = weight

    @classmethod
    def from_config(cls, cfg, metadata, rel_embed_dim):
        return dict(rel_embed_dim=rel_embed_dim)

    def forward(self, inputs, outputs):
        z = self.proj(outputs.rel_embed)
        return AuxiliaryOutputs(losses={"loss_fake_aux": self.weight * z.pow(2).mean()},
                                extras={"aux_radius": z.norm(dim=1)})


if "_TestFakeRelationHead" not in RELATION_HEAD_REGISTRY:
    RELATION_HEAD_REGISTRY._do_register("_TestFakeRelationHead", FakeRelationHead)
if "_test_fake_aux" not in AUX_HEAD_REGISTRY:
    AUX_HEAD_REGISTRY._do_register("_test_fake_aux", FakeAuxHead)


# ----------------------------------------------------------------------------- helpers
def _sample(seed, n, scale=(0.5, 0.5), flipped=False, h=48, w=64):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
    boxes = torch.cat([xy, xy + 8 + torch.rand(n, 2, generator=g) * 12], 1)
    labels = torch.randint(1, C_OBJ, (n,), generator=g)
    rels = torch.tensor([[0, 1, 1], [1, 2, 3], [2, 0, 2]])[: max(0, min(3, n - 1))]
    sample = ImageSample(torch.rand(3, h, w, generator=g), None, boxes, labels, rels, scale, flipped)
    sample.record = SceneGraphRecord(
        image_id=seed, file_name=f"{seed}.jpg", width=int(w / scale[0]), height=int(h / scale[1]),
        boxes=sample.to_original(boxes).numpy(), labels=labels.numpy(), relations=rels.numpy(),
    )
    return sample


def _batch():
    return [_sample(1, 4), _sample(2, 3, flipped=True)]


def _model(mode, aux=True, detections_per_img=80, detector=None):
    detector = detector or FakeDetector()
    obj_ext = ObjectFeatureExtractor.from_detector(detector)
    union_ext = UnionFeatureExtractor.from_detector(detector)
    head = FakeRelationHead(DIM, DIM)
    return SceneGraphRCNN(
        detector=detector, relation_head=head, obj_feature_extractor=obj_ext,
        union_feature_extractor=union_ext,
        pair_sampler=RelationPairSampler(batch_size_per_image=16, positive_fraction=0.25),
        aux_heads={"fake": FakeAuxHead(head.rel_embed_dim)} if aux else None,
        use_gt_box=MODES[mode][0], use_gt_object_label=MODES[mode][1],
        postprocessor=RelationPostProcessor(0.5), detections_per_img=detections_per_img,
    )


# ----------------------------------------------------------------------------- tests
def test_mode_from_flags():
    assert [mode_from_flags(*MODES[m]) for m in MODES] == list(MODES)
    with pytest.raises(ValueError, match="USE_GT_BOX"):
        mode_from_flags(False, True)


@pytest.mark.parametrize("mode", list(MODES))
def test_train_step_trains_relation_not_detector(mode):
    model = _model(mode)
    model.train()
    assert model.training and not model.detector.training
    bn = model.detector.stem[1]
    running_mean = bn.running_mean.clone()
    losses = model(_batch())
    assert set(losses) == {"loss_rel", "loss_refine_obj", "loss_fake_aux"}
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    sum(losses.values()).backward()
    assert all(not p.requires_grad and p.grad is None for p in model.detector.parameters())
    assert torch.equal(bn.running_mean, running_mean)  # frozen BN statistics
    head_modules = [model.relation_head.embed, model.relation_head.rel_cls]
    if mode != "predcls":  # predcls object logits are the fixed GT one-hot
        head_modules.append(model.relation_head.obj_cls)
    for module in (*head_modules, model.obj_feature_extractor.box_head,
                   model.union_feature_extractor.box_head, model.union_feature_extractor.mask_encoder,
                   model.aux_heads["fake"]):
        grads = [p.grad for p in module.parameters()]
        assert grads and all(g is not None for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


def test_sgdet_training_adds_gt_boxes_and_assigns_labels():
    model = _model("sgdet", aux=False, detections_per_img=3)
    model.train()
    seen = {}
    original = model.relation_head.forward

    def spy(inputs):
        seen["inputs"] = inputs
        return original(inputs)

    model.relation_head.forward = spy
    batch = _batch()
    model(batch)
    inputs = seen["inputs"]
    for i, sample in enumerate(batch):
        n_gt = len(sample.gt_boxes)
        assert inputs.num_objs[i] == 3 + n_gt  # capped detections + appended GT boxes
        assert torch.equal(inputs.boxes[i][3:], sample.gt_boxes)
        assert torch.equal(inputs.obj_labels[i][3:], sample.gt_labels)
        assert inputs.boxes_per_cls[i].shape == (3 + n_gt, C_OBJ, 4)
        assert inputs.rel_labels[i].gt(0).sum() >= len(sample.gt_relations)  # each GT rel matched by GT boxes
        assert inputs.pair_idx[i].max() < inputs.num_objs[i]


@pytest.mark.parametrize("mode", list(MODES))
def test_eval_returns_ranked_scene_graphs(mode):
    model = _model(mode, detections_per_img=4)
    model.eval()
    batch = _batch()
    with torch.no_grad():
        preds = model(batch)
    assert len(preds) == 2 and all(isinstance(p, SceneGraphPrediction) for p in preds)
    for sample, pred in zip(batch, preds):
        n = pred.num_objects
        if mode == "sgdet":
            assert n == 4
        else:
            assert n == len(sample.gt_boxes)
            # GT boxes come back in original pixels (scale 0.5, flip undone)
            assert np.allclose(pred.boxes, sample.record.boxes, atol=1e-4)
        assert pred.rel_pair_idxs.shape == (n * (n - 1), 2)
        assert (pred.rel_pair_idxs[:, 0] != pred.rel_pair_idxs[:, 1]).all()
        assert pred.rel_pair_idxs.max() < n and pred.rel_scores.shape[1] == C_REL
        assert np.all(np.diff(pred.triplet_scores()) <= 1e-7)
        assert set(pred.extras) == {"embed_norm", "aux_radius"}
        assert all(len(v) == pred.num_relations for v in pred.extras.values())
        if mode == "predcls":
            assert np.array_equal(pred.labels, sample.gt_labels.numpy()) and np.all(pred.scores == 1)
        else:
            assert pred.labels.min() >= 1 and pred.labels.max() < C_OBJ
            assert np.all((pred.scores > 0) & (pred.scores <= 1))


def test_detector_only_mode():
    detector = FakeDetector()
    model = SceneGraphRCNN(detector=detector, relation_on=False)
    model.train()
    assert model.detector.training
    losses = model(_batch())
    assert set(losses) == {"loss_cls", "loss_box_reg"}
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.detector.box_predictor.parameters())
    model.eval()
    batch = _batch()
    with torch.no_grad():
        preds = model(batch)
    dets = detector.detect(
        detector.extract_features(detector.preprocess(batch)[0]), [s.image_size for s in batch]
    )
    for sample, pred, det in zip(batch, preds, dets):
        assert pred.num_objects == 6 and pred.num_relations == 0
        assert np.allclose(pred.boxes, sample.to_original(det.boxes).detach().numpy(), atol=1e-5)


def test_relation_on_requires_components():
    with pytest.raises(ValueError, match="relation_head"):
        SceneGraphRCNN(detector=FakeDetector())


def test_load_detector_weights_recopies_box_head(tmp_path):
    model = _model("predcls", aux=False)
    trained = FakeDetector()
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)
    path = tmp_path / "model_final.pth"
    torch.save({"model": {f"detector.{k}": v for k, v in trained.state_dict().items()}, "iteration": 5}, path)
    model.load_detector_weights(str(path))
    for key, value in trained.state_dict().items():
        assert torch.equal(model.detector.state_dict()[key], value)
    for ext in (model.obj_feature_extractor, model.union_feature_extractor):
        for key, value in trained.box_head.state_dict().items():
            assert torch.equal(ext.box_head.state_dict()[key], value)
    assert all(not p.requires_grad for p in model.detector.parameters())
    bare = tmp_path / "bare.pth"
    torch.save(trained.state_dict(), bare)
    model.load_detector_weights(str(bare))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        model.load_detector_weights(str(tmp_path / "missing.pth"))
    torch.save({"model": {"something.else": torch.zeros(1)}}, tmp_path / "wrong.pth")
    with pytest.raises(RuntimeError, match="wrong.pth"):
        model.load_detector_weights(str(tmp_path / "wrong.pth"))


def _fake_detector_build_module():
    module = types.ModuleType("sgg.modeling.detector.build")
    module.build_detector = lambda cfg: FakeDetector()
    return module


@pytest.mark.parametrize("relation_on", [True, False])
def test_build_model_from_config(monkeypatch, relation_on):
    monkeypatch.setitem(sys.modules, "sgg.modeling.detector.build", _fake_detector_build_module())
    cfg = get_cfg()
    cfg.MODEL.RELATION_ON = relation_on
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = C_OBJ
    cfg.MODEL.ROI_RELATION_HEAD.NUM_CLASSES = C_REL
    cfg.MODEL.ROI_RELATION_HEAD.PREDICTOR = "_TestFakeRelationHead"
    cfg.MODEL.ROI_RELATION_HEAD.USE_GT_OBJECT_LABEL = False
    cfg.MODEL.ROI_RELATION_HEAD.BATCH_SIZE_PER_IMAGE = 8
    cfg.MODEL.AUXILIARY.HEADS = ("_test_fake_aux",)
    model = build_model(cfg, metadata=None)
    assert isinstance(model, SceneGraphRCNN) and model.mode == "sgcls"
    if not relation_on:
        assert model.relation_head is None and any(p.requires_grad for p in model.parameters())
        return
    assert model.pair_sampler.batch_size_per_image == 8
    assert list(model.aux_heads) == ["_test_fake_aux"]
    model.train()
    losses = model(_batch())
    assert "loss_fake_aux" in losses and all(torch.isfinite(v) for v in losses.values())


def test_sgdet_require_overlap_at_test():
    counts = {}
    for require in (False, True):
        model = _model("sgdet", aux=False, detections_per_img=6)
        model.require_overlap_test = require
        model.eval()
        seen = {}
        original = model.relation_head.forward
        model.relation_head.forward = lambda inputs, seen=seen, original=original: (
            seen.setdefault("inputs", inputs), original(inputs))[1]
        with torch.no_grad():
            preds = model(_batch())
        inputs = seen["inputs"]
        counts[require] = [p.num_relations for p in preds]
        for boxes, pairs in zip(inputs.boxes, inputs.pair_idx):
            subj, obj = boxes[pairs[:, 0]], boxes[pairs[:, 1]]
            inter_w = torch.minimum(subj[:, 2], obj[:, 2]) - torch.maximum(subj[:, 0], obj[:, 0])
            inter_h = torch.minimum(subj[:, 3], obj[:, 3]) - torch.maximum(subj[:, 1], obj[:, 1])
            assert require is False or ((inter_w > -1).all() and (inter_h > -1).all())
    assert counts[False] == [30, 30]
    assert all(0 < c < 30 for c in counts[True])


def test_relation_loss_decreases_with_frozen_detector():
    model = _model("predcls", aux=False)
    model.train()
    detector_state = {k: v.clone() for k, v in model.detector.state_dict().items()}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-2)
    batch = _batch()
    history = []
    for _ in range(20):
        loss = model(batch)["loss_rel"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < 0.5 * history[0]
    for key, value in model.detector.state_dict().items():
        assert torch.equal(value, detector_state[key])
