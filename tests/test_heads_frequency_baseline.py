"""FrequencyBaseline: relation logits are the statistics table's rows, no visual input."""
import types

import pytest
import torch

from sgg.modeling.heads import RELATION_HEAD_REGISTRY, FrequencyBaseline, RelationHeadInputs

C_OBJ, C_REL = 4, 3


def _inputs(mode, labels=None, logits=None, rel_labels=None):
    boxes = [torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [40, 0, 50, 10]])]
    pairs = [torch.tensor([[0, 1], [1, 2], [2, 0]])]
    return RelationHeadInputs(
        obj_feats=torch.randn(3, 5), union_feats=torch.randn(3, 7), boxes=boxes, image_sizes=[(64, 64)],
        pair_idx=pairs, mode=mode, obj_labels=labels, obj_logits=logits, rel_labels=rel_labels,
    )


def test_predcls_rows_are_the_table_rows_of_gt_labels():
    table = torch.arange(C_OBJ * C_OBJ * C_REL, dtype=torch.float32).reshape(C_OBJ * C_OBJ, C_REL)
    head = FrequencyBaseline(C_OBJ, C_REL, table)
    out = head(_inputs("predcls", labels=[torch.tensor([1, 3, 2])]))
    # pairs (0,1),(1,2),(2,0) with labels 1,3,2 -> table rows 1*4+3, 3*4+2, 2*4+1
    assert torch.equal(out.rel_logits, table[[7, 14, 9]])
    assert out.obj_preds.tolist() == [1, 3, 2] and out.losses == {}


def test_sgcls_uses_foreground_argmax_of_detector_logits_and_trains_with_rel_labels():
    table = torch.randn(C_OBJ * C_OBJ, C_REL)
    head = FrequencyBaseline(C_OBJ, C_REL, table)
    logits = torch.tensor([[9.0, 1, 5, 0], [9.0, 0, 0, 2], [0.0, 3, 0, 0]])  # background column ignored
    out = head(_inputs("sgcls", logits=[logits], labels=[torch.tensor([2, 3, 1])],
                       rel_labels=[torch.tensor([1, 0, 2])]))
    assert out.obj_preds.tolist() == [2, 3, 1]
    assert torch.equal(out.rel_logits, table[[2 * 4 + 3, 3 * 4 + 1, 1 * 4 + 2]])
    expected = torch.nn.functional.cross_entropy(out.rel_logits, torch.tensor([1, 0, 2]))
    assert out.losses["loss_rel"].item() == pytest.approx(expected.item())


def test_registered_and_needs_statistics():
    assert RELATION_HEAD_REGISTRY.get("FrequencyBaseline") is FrequencyBaseline
    meta = types.SimpleNamespace(name="toy_train", object_classes=["bg"] * C_OBJ,
                                 predicate_classes=["bg"] * C_REL, statistics=None)
    with pytest.raises(ValueError, match="statistics"):
        FrequencyBaseline.from_config(None, meta, {})
