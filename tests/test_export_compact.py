"""compact_prediction keeps exactly the rows any metric can read, in rank order."""
from __future__ import annotations

import numpy as np
import pytest

from sgg.export.compact import compact_prediction, metric_row_indices
from sgg.structures.scene_graph import SceneGraphPrediction, SceneGraphRecord


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _random_prediction(rng: np.random.Generator, n_obj: int, n_cls: int, unit_scores: bool = False,
                       shuffle: bool = True) -> SceneGraphPrediction:
    """All ordered pairs, continuous random scores (no ties), optionally in a random row order."""
    boxes = np.sort(rng.uniform(0, 200, size=(n_obj, 2, 2)), axis=1).transpose(0, 2, 1).reshape(n_obj, 4)
    boxes = boxes[:, [0, 2, 1, 3]]
    scores = np.ones(n_obj) if unit_scores else rng.uniform(0.05, 1.0, n_obj)
    ii, jj = np.meshgrid(np.arange(n_obj), np.arange(n_obj), indexing="ij")
    pairs = np.stack([ii.ravel(), jj.ravel()], 1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    rel = _softmax(rng.normal(0, 2.0, size=(len(pairs), n_cls)))
    order = rng.permutation(len(pairs)) if shuffle else np.arange(len(pairs))
    pairs, rel = pairs[order], rel[order]
    return SceneGraphPrediction(
        boxes=boxes, labels=rng.integers(1, 10, n_obj), scores=scores, rel_pair_idxs=pairs, rel_scores=rel,
        extras={"gate": rng.uniform(size=len(pairs)), "embed": rng.normal(size=(len(pairs), 3))},
        obj_extras={"radius": rng.uniform(size=n_obj)},
    )


def _reference_rows(pred: SceneGraphPrediction, gt_pairs=None, k: int = 100) -> list:
    """Brute force: full sorts of every metric's candidate list, rows of their top k."""
    r = pred.num_relations
    rows = set(range(min(k, r)))
    fg = pred.rel_scores[:, 1:].astype(np.float64)
    c = fg.shape[1]
    obj_variants = [pred.scores.astype(np.float64), np.ones(pred.num_objects)]
    for obj in obj_variants:
        pair_score = obj[pred.rel_pair_idxs[:, 0]] * obj[pred.rel_pair_idxs[:, 1]]
        # ngR: every (pair, foreground predicate), fully sorted
        combos = (pair_score[:, None] * fg).ravel()
        rows.update((np.argsort(-combos, kind="stable")[:k] // c).tolist())
        # OI: the two best foreground predicates of each pair, fully sorted
        trip = (pair_score[:, None] * np.sort(fg, axis=1)[:, -2:]).ravel()
        rows.update((np.argsort(-trip, kind="stable")[:k] // 2).tolist())
    if gt_pairs is not None:
        gt = {tuple(p) for p in np.asarray(gt_pairs).tolist()}
        rows.update([i for i in range(r) if tuple(pred.rel_pair_idxs[i].tolist()) in gt][:k])
    return sorted(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compact_keeps_exactly_the_metric_rows(seed):
    rng = np.random.default_rng(seed)
    for n_obj, n_cls in [(1, 6), (2, 6), (5, 11), (12, 11), (25, 51)]:
        pred = _random_prediction(rng, n_obj, n_cls)
        ref = _reference_rows(pred)
        assert metric_row_indices(pred).tolist() == ref
        out = compact_prediction(pred)
        # rank order preserved, full rows kept, extras sliced consistently
        np.testing.assert_array_equal(out.rel_pair_idxs, pred.rel_pair_idxs[ref])
        np.testing.assert_array_equal(out.rel_scores, pred.rel_scores[ref])
        np.testing.assert_array_equal(out.rel_labels, pred.rel_labels[ref])
        np.testing.assert_array_equal(out.rel_label_scores, pred.rel_label_scores[ref])
        np.testing.assert_array_equal(out.extras["gate"], pred.extras["gate"][ref])
        np.testing.assert_array_equal(out.extras["embed"], pred.extras["embed"][ref])
        # all objects kept by default
        np.testing.assert_array_equal(out.boxes, pred.boxes)
        np.testing.assert_array_equal(out.obj_extras["radius"], pred.obj_extras["radius"])


def test_compact_is_small_at_sgdet_scale():
    rng = np.random.default_rng(3)
    pred = _random_prediction(rng, 80, 51, unit_scores=False)  # 6,320 pairs
    out = compact_prediction(pred)
    assert pred.num_relations == 6320
    # 100 first rows + at most 100 ngR + 100 OI pairs, twice (given and unit object scores)
    assert 100 < out.num_relations <= 500
    np.testing.assert_array_equal(out.rel_pair_idxs, pred.rel_pair_idxs[_reference_rows(pred)])
    unit = _random_prediction(rng, 80, 51, unit_scores=True)
    assert compact_prediction(unit).num_relations <= 300


def test_unit_scores_need_no_second_selection():
    rng = np.random.default_rng(4)
    pred = _random_prediction(rng, 20, 11, unit_scores=True)
    # with scores already 1 both variants coincide; the reference (which always takes both) agrees
    assert metric_row_indices(pred).tolist() == _reference_rows(pred)


def test_gt_pairs_keep_first_rows_on_gt_pairs_even_deep_in_the_ranking():
    rng = np.random.default_rng(5)
    pred = _random_prediction(rng, 40, 11)  # 1,560 rows
    deep = pred.rel_pair_idxs[np.arange(1000, 1560, 4)]  # 140 GT pairs ranked after row 1000
    gt_pairs = np.concatenate([deep, deep[:5]])  # duplicated GT pairs (two predicates) are fine
    rows = metric_row_indices(pred, gt_pairs)
    assert rows.tolist() == _reference_rows(pred, gt_pairs)
    gt_rows = np.arange(1000, 1560, 4)
    assert set(gt_rows[:100]) <= set(rows.tolist())
    assert not set(gt_rows[100:]) & set(rows.tolist()) - set(_reference_rows(pred))
    out = compact_prediction(pred, gt_pairs)
    np.testing.assert_array_equal(out.rel_pair_idxs, pred.rel_pair_idxs[rows])


def test_ties_at_the_boundary_are_all_kept():
    # 300 pairs, identical score rows and object scores: every combination ties with the 100th
    n = 300
    rel = np.tile(np.array([[0.5, 0.3, 0.2]]), (n, 1))
    pairs = np.stack([np.arange(n), (np.arange(n) + 1) % n], 1)
    pred = SceneGraphPrediction(boxes=np.tile([[0, 0, 10, 10]], (n, 1)), labels=np.ones(n), scores=np.ones(n),
                                rel_pair_idxs=pairs, rel_scores=rel)
    assert compact_prediction(pred).num_relations == n
    # a strictly better row among ties: the tie set is still kept whole
    rel2 = rel.copy()
    rel2[150] = [0.1, 0.6, 0.3]
    pred2 = SceneGraphPrediction(boxes=pred.boxes, labels=pred.labels, scores=pred.scores,
                                 rel_pair_idxs=pairs, rel_scores=rel2)
    assert compact_prediction(pred2).num_relations == n
    assert compact_prediction(pred2, tie_rtol=0.0).num_relations == n  # exact ties kept too


def test_drop_unused_objects_remaps_indices():
    rng = np.random.default_rng(6)
    pred = _random_prediction(rng, 60, 11)
    # make objects 0..9 appear only in low-ranked, low-scored rows
    low = np.isin(pred.rel_pair_idxs, np.arange(10)).any(1)
    order = np.concatenate([np.flatnonzero(~low), np.flatnonzero(low)])
    rel = pred.rel_scores[order].copy()
    rel[-low.sum():, 1:] *= 1e-3
    pred = SceneGraphPrediction(boxes=pred.boxes, labels=pred.labels, scores=pred.scores,
                                rel_pair_idxs=pred.rel_pair_idxs[order], rel_scores=rel,
                                obj_extras=pred.obj_extras)
    full = compact_prediction(pred)
    small = compact_prediction(pred, drop_unused_objects=True)
    assert small.num_objects < pred.num_objects
    assert small.num_relations == full.num_relations
    np.testing.assert_array_equal(small.boxes[small.rel_pair_idxs], full.boxes[full.rel_pair_idxs])
    np.testing.assert_array_equal(small.labels[small.rel_pair_idxs], full.labels[full.rel_pair_idxs])
    used = np.unique(full.rel_pair_idxs)
    np.testing.assert_array_equal(small.obj_extras["radius"], pred.obj_extras["radius"][used])
    with pytest.raises(ValueError, match="gt_pairs"):
        compact_prediction(pred, np.array([[0, 1]]), drop_unused_objects=True)


def test_bad_extras_and_top_predicate_only_predictions():
    rng = np.random.default_rng(7)
    pred = _random_prediction(rng, 20, 11)
    bad = SceneGraphPrediction(boxes=pred.boxes, labels=pred.labels, scores=pred.scores,
                               rel_pair_idxs=pred.rel_pair_idxs, rel_scores=pred.rel_scores,
                               extras={"gate": np.zeros(3)})
    with pytest.raises(ValueError, match=r"extras\['gate'\].*380"):
        compact_prediction(bad)
    # without predicate scores only the rank-based rows remain
    top_only = SceneGraphPrediction(boxes=pred.boxes, labels=pred.labels, scores=pred.scores,
                                    rel_pair_idxs=pred.rel_pair_idxs, rel_labels=pred.rel_labels,
                                    rel_label_scores=pred.rel_label_scores)
    out = compact_prediction(top_only, max_rank=50)
    assert out.rel_scores is None
    np.testing.assert_array_equal(out.rel_pair_idxs, pred.rel_pair_idxs[:50])


# ---------------------------------------------------------------- evaluator equivalence
def _toy_image(rng: np.random.Generator, idx: int, n_obj: int, n_pred: int, sgdet: bool):
    """A GT image and a full prediction in rank order with some hits among many candidates."""
    xy = rng.uniform(0, 300, size=(n_obj, 2))
    wh = rng.uniform(20, 120, size=(n_obj, 2))
    gt_boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    gt_labels = rng.integers(1, 8, n_obj)
    m = int(rng.integers(3, 9))
    s = rng.integers(0, n_obj, m)
    o = (s + rng.integers(1, n_obj, m)) % n_obj
    rels = np.stack([s, o, rng.integers(1, n_pred + 1, m)], 1)
    rec = SceneGraphRecord(image_id=idx, file_name=f"img/{idx}.jpg", width=420, height=420,
                           boxes=gt_boxes, labels=gt_labels, relations=rels)
    if sgdet:  # jittered detections plus a few spurious ones
        boxes = np.concatenate([gt_boxes + rng.normal(0, 6, gt_boxes.shape),
                                gt_boxes[: n_obj // 3] + 40]).astype(np.float32)
        labels = np.concatenate([np.where(rng.uniform(size=n_obj) < 0.8, gt_labels, 1), gt_labels[: n_obj // 3]])
        scores = rng.uniform(0.2, 1.0, len(boxes))
    else:
        boxes, labels, scores = gt_boxes, gt_labels, np.ones(n_obj)
    n = len(boxes)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pairs = np.stack([ii.ravel(), jj.ravel()], 1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    logits = rng.normal(0, 1.5, size=(len(pairs), n_pred + 1))
    key = {(a, b): p for a, b, p in rels.tolist()}
    for r_i, (a, b) in enumerate(pairs.tolist()):
        if (a, b) in key and rng.uniform() < 0.7:
            logits[r_i, key[(a, b)]] += rng.uniform(1.0, 4.0)
    rel = _softmax(logits)
    # rank by a noisy triplet score: the evaluators never re-sort, and a ranking that differs
    # from the score order puts ngR / OI / GT-pair candidates far behind the first 100 rows
    rank = rel[:, 1:].max(1) * scores[pairs[:, 0]] * scores[pairs[:, 1]] * rng.uniform(0.05, 1.0, len(pairs))
    order = np.argsort(-rank, kind="stable")
    pred = SceneGraphPrediction(boxes=boxes, labels=labels, scores=scores, rel_pair_idxs=pairs[order],
                                rel_scores=rel[order])
    return rec, pred


def _evaluate(evaluator, records, preds):
    evaluator.reset()
    evaluator.process(records, preds)
    return evaluator.evaluate()


def _toy_split(mode: str, n_pred: int, seed: int = 11):
    rng = np.random.default_rng(seed)
    pairs = [_toy_image(rng, idx, int(rng.integers(15, 25)), n_pred, sgdet=(mode == "sgdet")) for idx in range(8)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@pytest.mark.parametrize("mode", ["predcls", "sgdet"])
def test_compact_and_full_predictions_give_identical_metrics(mode):
    from sgg.evaluation import oi_evaluator as oi
    from sgg.evaluation import vg_evaluator as vg
    n_pred = 12
    classes = ["__background__"] + [f"p{i}" for i in range(1, n_pred + 1)]
    records, full = _toy_split(mode, n_pred)
    gt_pairs = [rec.relations[:, :2] if mode == "predcls" else None for rec in records]
    compact = [compact_prediction(p, g) for p, g in zip(full, gt_pairs)]
    assert all(c.num_relations < p.num_relations for c, p in zip(compact, full))
    # each metric family is also exact with only its own rows (each rule is sufficient)
    vg_only = [compact_prediction(p, g, oi_topk=0) for p, g in zip(full, gt_pairs)]
    oi_only = [compact_prediction(p, max_rank=0, ng_topk=0) for p in full]
    zeroshot = np.unique(np.stack([records[0].labels[records[0].relations[:, 0]],
                                   records[0].labels[records[0].relations[:, 1]],
                                   records[0].relations[:, 2]], 1), axis=0)
    vg_eval = vg.VGSceneGraphEvaluator(classes, mode, zeroshot_triplets=zeroshot)
    res_full = _evaluate(vg_eval, records, full)
    assert res_full[mode]["R@100"] > 0 and res_full[mode]["ngR@100"] > 0
    np.testing.assert_equal(_evaluate(vg_eval, records, compact), res_full)  # exact, NaN == NaN
    np.testing.assert_equal(_evaluate(vg_eval, records, vg_only), res_full)
    oi_eval = oi.OIRelationEvaluator(classes, mode)
    oi_full = _evaluate(oi_eval, records, full)
    assert oi_full[mode]["R@50"] > 0
    np.testing.assert_equal(_evaluate(oi_eval, records, compact), oi_full)
    # the OI protocol's own metrics need only the OI rows; its classic/ (SGB-code) family needs the VG rows
    oi_own = {k: v for k, v in oi_full[mode].items() if not k.startswith("classic/")}
    oi_res = _evaluate(oi_eval, records, oi_only)[mode]
    np.testing.assert_equal({k: v for k, v in oi_res.items() if not k.startswith("classic/")}, oi_own)
    assert len(oi_own) < len(oi_full[mode])
