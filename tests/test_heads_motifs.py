"""Motifs head (methods_spec 2.5), frequency bias, shared losses, label suppression."""
import pytest
import torch
import torch.nn.functional as F
from heads_fixtures import overfit_relation_loss

from sgg.modeling.heads.base import RelationHeadInputs
from sgg.modeling.heads.context import OBJECT_ORDERS, encode_box_info, object_order
from sgg.modeling.heads.freq_bias import FrequencyBias
from sgg.modeling.heads.losses import RelationLoss, predicate_class_weights
from sgg.modeling.heads.motifs import MotifsHead
from sgg.modeling.heads.synthetic import random_head_inputs
from sgg.modeling.relation.label_nms import greedy_label_nms

C_OBJ, C_REL, D_OBJ, D_UNION = 151, 51, 24, 20


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def small_motifs(**kw):
    args = dict(num_obj_classes=C_OBJ, num_predicates=C_REL, obj_feat_dim=D_OBJ, union_feat_dim=D_UNION,
                hidden_dim=16, pooling_dim=32, embed_dim=8, pos_embed_dim=8)
    args.update(kw)
    return MotifsHead(**args)


@pytest.mark.parametrize("mode", ["predcls", "sgcls", "sgdet"])
@pytest.mark.parametrize("n", [1, 2, 7])
def test_shapes(mode, n):
    head = small_motifs()
    for training in (True, False):
        head.train(training)
        out = head(random_head_inputs([n], D_OBJ, D_UNION, C_OBJ, C_REL, mode=mode, training=training))
        r = n * (n - 1)
        assert out.rel_logits.shape == (r, C_REL) and out.obj_logits.shape == (n, C_OBJ)
        assert out.obj_preds.shape == (n,) and out.rel_embed.shape == (r, 32)
        assert out.pair_reps["subj"].shape == (r, 16) and out.pair_reps["obj"].shape == (r, 16)
        assert bool(((out.obj_preds >= 1) & (out.obj_preds < C_OBJ)).all())
        assert set(out.losses) == (({"loss_rel"} if mode == "predcls" else {"loss_rel", "loss_obj"})
                                   if training else set())


def test_box_encoding_hand_values():
    info = encode_box_info(torch.tensor([[9.0, 19.0, 18.0, 38.0]]), (100, 200))
    # w = 10, h = 20, cx = 14, cy = 29 on a 200 x 100 image
    assert torch.allclose(info[0], torch.tensor([0.05, 0.2, 0.07, 0.29, 0.045, 0.19, 0.09, 0.38, 0.01]))


def test_orderings_are_permutations():
    boxes = torch.tensor([[50.0, 0, 60, 10], [0, 0, 10, 10], [100, 0, 140, 40], [20, 0, 22, 2]])
    scores = torch.tensor([0.1, 0.9, 0.5, 0.7])
    x = torch.randn(4, 3)
    for kind in OBJECT_ORDERS:
        perm, inv = object_order(boxes, kind, scores)
        assert sorted(perm.tolist()) == [0, 1, 2, 3]
        assert torch.equal(x[perm][inv], x)
    assert object_order(boxes, "leftright")[0].tolist() == [2, 0, 3, 1]  # cx descending
    assert object_order(boxes, "confidence", scores)[0].tolist() == [1, 3, 2, 0]
    assert object_order(boxes, "size")[0].tolist() == [2, 0, 1, 3]
    with pytest.raises(ValueError, match="obj_scores"):
        object_order(boxes, "confidence", None)


@pytest.mark.parametrize("mode", ["predcls", "sgcls"])
def test_permutation_equivariance_eval(mode):
    head = small_motifs().eval()
    inp = random_head_inputs([6], D_OBJ, D_UNION, C_OBJ, C_REL, mode=mode, seed=3)
    out = head(inp)
    n = 6
    shuffle = torch.randperm(n)
    new_of_old = torch.empty_like(shuffle)
    new_of_old[shuffle] = torch.arange(n)
    pairs = inp.pair_idx[0]
    inp2 = RelationHeadInputs(
        obj_feats=inp.obj_feats[shuffle], union_feats=inp.union_feats, boxes=[inp.boxes[0][shuffle]],
        image_sizes=inp.image_sizes, pair_idx=[new_of_old[pairs]], mode=mode,
        obj_labels=[inp.obj_labels[0][shuffle]],
        obj_logits=None if inp.obj_logits is None else [inp.obj_logits[0][shuffle]],
        obj_scores=[inp.obj_scores[0][shuffle]])
    out2 = head(inp2)
    assert torch.allclose(out.rel_logits, out2.rel_logits, atol=1e-5)
    assert torch.equal(out.obj_preds[shuffle], out2.obj_preds)


def test_predcls_uses_gt_labels():
    head = small_motifs().train()
    inp = random_head_inputs([5], D_OBJ, D_UNION, C_OBJ, C_REL, mode="predcls", training=True)
    out = head(inp)
    assert torch.equal(out.obj_preds, inp.obj_labels[0])
    assert float(F.cross_entropy(out.obj_logits, inp.obj_labels[0])) < 1e-6


def test_frequency_bias_only_equals_statistics():
    c_obj, c_rel = 6, 5
    fg = torch.randint(0, 20, (c_obj, c_obj, c_rel)).double()
    p = fg / fg.sum(-1, keepdim=True).clamp_min(1)
    table = torch.log(p + 1e-3).reshape(c_obj * c_obj, c_rel).float()
    head = MotifsHead(num_obj_classes=c_obj, num_predicates=c_rel, obj_feat_dim=D_OBJ, union_feat_dim=D_UNION,
                      hidden_dim=8, pooling_dim=8, embed_dim=4, pos_embed_dim=4, freq_bias_table=table).eval()
    with torch.no_grad():
        head.rel_compress.weight.zero_()
        head.rel_compress.bias.zero_()
    inp = random_head_inputs([4], D_OBJ, D_UNION, c_obj, c_rel, mode="predcls")
    out = head(inp)
    labels, pairs = inp.obj_labels[0], inp.pair_idx[0]
    row = p[labels[pairs[:, 0]], labels[pairs[:, 1]]] + 1e-3
    expected = row / row.sum(-1, keepdim=True)
    assert torch.allclose(F.softmax(out.rel_logits, -1).double(), expected, atol=1e-6)


def test_soft_frequency_bias_matches_hard_on_one_hot():
    fb = FrequencyBias(4, 3, torch.randn(16, 3))
    s, o = torch.tensor([1, 3, 2]), torch.tensor([0, 2, 2])
    assert torch.allclose(fb.soft(F.one_hot(s, 4).float(), F.one_hot(o, 4).float()), fb(s, o), atol=1e-6)
    with pytest.raises(ValueError, match="freq_bias_table"):
        FrequencyBias(4, 3, torch.randn(15, 3))


def test_decoder_dropout_mask_constant_over_time(monkeypatch):
    head = small_motifs(dropout=0.5).train()
    dec = head.decoder
    masks = []
    original = dec.recurrent_dropout_mask

    def recording(batch, like):
        m = original(batch, like)
        masks.append(m)
        return m

    monkeypatch.setattr(dec, "recurrent_dropout_mask", recording)
    seqs = [torch.randn(7, dec.input_linearity.in_features - dec.prev_label_embed.embedding_dim)]
    torch.manual_seed(5)
    logits_a, _ = dec(seqs)
    assert len(masks) == 1 and masks[0].shape == (1, dec.hidden_dim)
    dropped = (masks[0][0] == 0).nonzero().flatten()
    assert dropped.numel() > 0
    with torch.no_grad():  # a dropped unit must not influence any time step
        dec.out.weight[:, dropped] += 100.0
    torch.manual_seed(5)
    logits_b, _ = dec(seqs)
    assert torch.allclose(logits_a[0], logits_b[0], atol=1e-5)
    dec.eval()
    assert original(1, seqs[0]) is None


def test_label_nms_with_shared_boxes_hand_case():
    # the heads pass (N, 4) boxes when the detector gives no class-specific boxes
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]])
    probs = torch.tensor([[0.0, 0.9, 0.1], [0.0, 0.8, 0.2], [0.0, 0.7, 0.3]])
    # box 0 takes class 1; box 1 overlaps it (IoU 100/121 with +1 widths) so class 1 is zeroed there -> class 2
    assert greedy_label_nms(boxes, probs.log(), 0.5)[0].tolist() == [1, 2, 1]
    assert greedy_label_nms(boxes, probs.log(), 0.9)[0].tolist() == [1, 1, 1]


def test_relation_loss_weights_hand_computed():
    counts = torch.tensor([1000, 90, 9, 1])
    w = predicate_class_weights(counts, "reweighted_ce")
    inv = torch.tensor([100 / 90, 100 / 9, 100 / 1])
    assert torch.allclose(w, torch.cat([torch.ones(1), inv / inv.mean()]).float())
    cb = predicate_class_weights(counts, "class_balanced_ce", beta=0.9)
    raw = torch.tensor([(0.1) / (1 - 0.9 ** n) for n in (90, 9, 1)])
    assert torch.allclose(cb[1:], (raw / raw.mean()).float(), atol=1e-6)
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 3, 1])
    loss = RelationLoss(4, "reweighted_ce", counts)(logits, labels)
    per = F.cross_entropy(logits, labels, reduction="none")
    assert torch.allclose(loss, (per * w[labels]).sum() / w[labels].sum())
    with pytest.raises(ValueError, match="pred_counts"):
        RelationLoss(4, "reweighted_ce")


def test_tiny_overfit_relation_loss_halves():
    torch.manual_seed(0)
    head = small_motifs(dropout=0.0).train()
    inp = random_head_inputs([4, 5], D_OBJ, D_UNION, C_OBJ, C_REL, mode="sgcls", training=True, seed=1)
    first, last = overfit_relation_loss(head, inp, lr=1e-2)
    assert last < 0.5 * first


def test_soft_frequency_bias_path_and_empty_images():
    table = torch.randn(C_OBJ * C_OBJ, C_REL)
    head = small_motifs(soft_freq_bias=True, freq_bias_table=table).eval()
    inp = random_head_inputs([0, 4], D_OBJ, D_UNION, C_OBJ, C_REL, mode="sgcls")
    out = head(inp)
    assert out.rel_logits.shape == (12, C_REL) and out.obj_preds.shape == (4,)
    with torch.no_grad():
        head.freq_bias.bias.weight.zero_()
    without_bias = head(inp).rel_logits
    probs = F.softmax(out.obj_logits, 1)
    pairs = inp.global_pair_idx()
    joint = (probs[pairs[:, 0]].unsqueeze(2) * probs[pairs[:, 1]].unsqueeze(1)).flatten(1)
    assert torch.allclose(out.rel_logits - without_bias, joint @ table, atol=1e-4)
