"""Post-processing (ranking, placeholder pair, original pixels) and sgdet label NMS."""
import numpy as np
import pytest
import torch

from sgg.modeling.heads.base import RelationHeadInputs, RelationHeadOutputs
from sgg.modeling.relation.label_nms import greedy_label_nms
from sgg.modeling.relation.pairs import propose_pairs
from sgg.modeling.relation.postprocess import RelationPostProcessor
from sgg.structures.image_sample import ImageSample
from sgg.structures.scene_graph import SceneGraphRecord

C_OBJ, C_REL = 4, 5


def _sample(boxes, labels, h=40, w=60, scale=(1.0, 1.0), flipped=False):
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    record = SceneGraphRecord(
        image_id=0, file_name="x.jpg", width=int(round(w / scale[0])), height=int(round(h / scale[1])),
        boxes=np.zeros((len(boxes), 4)), labels=np.ones(len(boxes)), relations=np.zeros((0, 3)),
    )
    return ImageSample(torch.zeros(3, h, w), record, boxes, torch.as_tensor(labels).long(),
                       torch.zeros((0, 3), dtype=torch.long), scale, flipped)


def _batch(mode, boxes_list, labels_list, boxes_per_cls=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    boxes = [torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4) for b in boxes_list]
    pairs = [propose_pairs(b) for b in boxes]
    n, r = sum(len(b) for b in boxes), sum(len(p) for p in pairs)
    inputs = RelationHeadInputs(
        obj_feats=torch.zeros(n, 1), union_feats=torch.zeros(r, 1), boxes=boxes,
        image_sizes=[(40, 60)] * len(boxes), pair_idx=pairs, mode=mode,
        obj_labels=[torch.as_tensor(lbl).long() for lbl in labels_list], boxes_per_cls=boxes_per_cls,
    )
    outputs = RelationHeadOutputs(
        rel_logits=torch.randn(r, C_REL, generator=g) * 2, obj_logits=torch.randn(n, C_OBJ, generator=g) * 2,
        obj_preds=torch.ones(n, dtype=torch.long), rel_embed=torch.zeros(r, 3),
        extras={"pair_id": torch.arange(r, dtype=torch.float32)},
    )
    return inputs, outputs


BOXES3 = [[0, 0, 10, 10], [5, 5, 30, 20], [40, 10, 55, 35]]


def test_sgcls_ranking_is_product_rule():
    inputs, outputs = _batch("sgcls", [BOXES3, BOXES3[:2]], [[1, 2, 3], [1, 1]])
    samples = [_sample(BOXES3, [1, 2, 3]), _sample(BOXES3[:2], [1, 1])]
    preds = RelationPostProcessor()(inputs, outputs, samples)
    obj_probs = torch.softmax(outputs.obj_logits, 1)
    rel_probs = torch.softmax(outputs.rel_logits, 1)
    offsets_obj, offsets_rel = [0, 3], [0, 6]
    for img, pred in enumerate(preds):
        probs = obj_probs[offsets_obj[img]: offsets_obj[img] + len(inputs.boxes[img])]
        assert np.allclose(pred.scores, probs[:, 1:].max(1).values.numpy(), atol=1e-6)
        assert np.array_equal(pred.labels, probs[:, 1:].argmax(1).numpy() + 1)
        # every row keeps its own pair's full distribution (extras follow the ranking)
        ids = pred.extras["pair_id"].astype(int)
        pairs = inputs.pair_idx[img].numpy()
        assert np.array_equal(pred.rel_pair_idxs, pairs[ids - offsets_rel[img]])
        assert np.allclose(pred.rel_scores, rel_probs[ids].numpy(), atol=1e-6)
        assert np.allclose(pred.rel_scores.sum(1), 1.0, atol=1e-5)
        expected = rel_probs[ids][:, 1:].max(1).values.numpy() * pred.scores[pred.rel_pair_idxs].prod(1)
        assert np.allclose(pred.triplet_scores(), expected, atol=1e-6)
        assert np.all(np.diff(pred.triplet_scores()) <= 1e-7)  # descending
        assert np.array_equal(pred.rel_labels, pred.rel_scores[:, 1:].argmax(1) + 1)


def test_predcls_uses_gt_labels_with_score_one():
    inputs, outputs = _batch("predcls", [BOXES3], [[3, 1, 2]])
    pred = RelationPostProcessor()(inputs, outputs, [_sample(BOXES3, [3, 1, 2])])[0]
    assert pred.labels.tolist() == [3, 1, 2]
    assert pred.scores.tolist() == [1.0, 1.0, 1.0]
    fg = pred.rel_scores[:, 1:].max(1)
    assert np.all(np.diff(fg) <= 0)  # with unit object scores the rank is the predicate score


def test_placeholder_pair_and_empty_image():
    inputs, outputs = _batch("sgcls", [BOXES3[:1], np.zeros((0, 4))], [[1], []])
    samples = [_sample(BOXES3[:1], [1]), _sample(np.zeros((0, 4)), [])]
    one, empty = RelationPostProcessor()(inputs, outputs, samples)
    assert one.rel_pair_idxs.tolist() == [[0, 0]]
    assert one.rel_scores.tolist() == [[1.0, 0.0, 0.0, 0.0, 0.0]]
    assert one.triplet_scores().tolist() == [0.0]
    assert one.extras["pair_id"].shape == (1,)
    assert empty.num_objects == 0 and empty.rel_pair_idxs.shape == (0, 2)
    assert empty.rel_scores.shape == (0, C_REL)


def test_boxes_mapped_to_original_pixels_with_scale_and_flip():
    boxes = [[6, 4, 20, 10], [30, 2, 50, 12]]
    inputs, outputs = _batch("predcls", [boxes], [[1, 2]])
    sample = _sample(boxes, [1, 2], h=40, w=60, scale=(2.0, 0.5), flipped=True)
    pred = RelationPostProcessor()(inputs, outputs, [sample])[0]
    # unflip in the 60-px wide input: x -> 60 - x (swapped), then divide x by 2 and y by 0.5
    expected = [[(60 - 20) / 2, 4 / 0.5, (60 - 6) / 2, 10 / 0.5], [(60 - 50) / 2, 2 / 0.5, (60 - 30) / 2, 12 / 0.5]]
    assert np.allclose(pred.boxes, expected)


def test_sgdet_uses_label_nms_and_class_boxes():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 9.0]])
    per_cls = boxes[:, None, :].repeat(1, C_OBJ, 1)
    per_cls[:, 2] += 1.0  # the class-2 boxes are shifted by one pixel
    inputs, outputs = _batch("sgdet", [boxes], [[0, 0]], boxes_per_cls=[per_cls])
    probs = torch.tensor([[0.05, 0.05, 0.85, 0.05], [0.05, 0.05, 0.6, 0.3]])
    outputs.obj_logits = probs.log()
    pred = RelationPostProcessor(later_nms_threshold=0.5)(inputs, outputs, [_sample(boxes, [0, 0])])[0]
    assert pred.labels.tolist() == [2, 3]
    assert np.allclose(pred.scores, [0.85, 0.3])
    assert np.allclose(pred.boxes[0], [1.0, 1.0, 11.0, 11.0])
    assert np.allclose(pred.boxes[1], [0.0, 0.0, 10.0, 9.0])


def test_label_nms_hand_case():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    per_cls = boxes[:, None, :].repeat(1, 3, 1)
    probs = torch.tensor([[0.05, 0.9, 0.05], [0.05, 0.8, 0.15], [0.1, 0.6, 0.3]])
    labels, scores = greedy_label_nms(per_cls, probs.log(), 0.5)
    # A takes class 1 and suppresses it on B (IoU 0.83), C keeps class 1, B falls to class 2
    assert labels.tolist() == [1, 2, 1]
    assert torch.allclose(scores, torch.tensor([0.9, 0.15, 0.6]))
    labels, _ = greedy_label_nms(per_cls, probs.log(), 0.9)  # IoU 0.83 < 0.9: no suppression
    assert labels.tolist() == [1, 1, 1]


def test_label_nms_all_classes_suppressed_falls_back_to_argmax():
    per_cls = torch.tensor([[0.0, 0.0, 10.0, 10.0]]).repeat(2, 2, 1)
    probs = torch.tensor([[0.1, 0.9], [0.2, 0.8]])
    labels, scores = greedy_label_nms(per_cls, probs.log(), 0.5)
    assert labels.tolist() == [1, 1] and torch.allclose(scores, torch.tensor([0.9, 0.8]))
    with pytest.raises(ValueError, match="boxes_per_cls"):
        greedy_label_nms(per_cls[:, :1], probs.log(), 0.5)
